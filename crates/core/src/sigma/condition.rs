//! Sigma conditions: selection names, `and`, `or`, `not`, parentheses,
//! `1 of pattern*`, `all of pattern*` and `them`. `not` binds tightest, then
//! `and`, then `or`.

#[derive(Debug, Clone)]
pub enum Condition {
    Selection(String),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

/// Nesting a condition may have.
const MAX_DEPTH: usize = 32;

impl Condition {
    pub fn parse(text: &str, names: &[&str]) -> Result<Condition, String> {
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            names,
        };
        let c = p.or(0)?;
        if p.pos != p.tokens.len() {
            return Err(format!("unexpected {:?}", p.tokens[p.pos]));
        }
        Ok(c)
    }

    /// Selections that must match for the condition to hold.
    pub fn required(&self) -> Vec<&str> {
        match self {
            Condition::Selection(name) => vec![name.as_str()],
            Condition::And(cs) => cs.iter().flat_map(Condition::required).collect(),
            Condition::Or(_) | Condition::Not(_) => Vec::new(),
        }
    }

    pub fn eval(&self, selection: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Condition::Selection(name) => selection(name),
            Condition::Not(c) => !c.eval(selection),
            Condition::And(cs) => cs.iter().all(|c| c.eval(selection)),
            Condition::Or(cs) => cs.iter().any(|c| c.eval(selection)),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    if text.contains('|') {
        return Err("aggregations (`| count() …`) are not supported".into());
    }
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
                tokens.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    if tokens.is_empty() {
        return Err("empty".into());
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<String>,
    pos: usize,
    names: &'a [&'a str],
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn keyword(&self, k: &str) -> bool {
        self.peek().is_some_and(|t| t.eq_ignore_ascii_case(k))
    }

    fn or(&mut self, depth: usize) -> Result<Condition, String> {
        let mut parts = vec![self.and(depth)?];
        while self.keyword("or") {
            self.pos += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Condition, String> {
        let mut parts = vec![self.not(depth)?];
        while self.keyword("and") {
            self.pos += 1;
            parts.push(self.not(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::And(parts)
        })
    }

    fn not(&mut self, depth: usize) -> Result<Condition, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.not(depth + 1)?)));
        }
        self.atom(depth)
    }

    fn atom(&mut self, depth: usize) -> Result<Condition, String> {
        let Some(token) = self.peek().map(str::to_owned) else {
            return Err("ends too early".into());
        };
        self.pos += 1;
        if token == "(" {
            let c = self.or(depth + 1)?;
            if self.peek() != Some(")") {
                return Err("a parenthesis is not closed".into());
            }
            self.pos += 1;
            return Ok(c);
        }
        let quantifier = token.eq_ignore_ascii_case("all") || token == "1";
        if quantifier && self.keyword("of") {
            self.pos += 1;
            let pattern = self
                .peek()
                .map(str::to_owned)
                .ok_or("`of` needs a pattern")?;
            self.pos += 1;
            let picked: Vec<Condition> = self
                .names
                .iter()
                .filter(|n| {
                    if pattern.eq_ignore_ascii_case("them") {
                        !n.starts_with('_')
                    } else {
                        glob(&pattern, n)
                    }
                })
                .map(|n| Condition::Selection((*n).to_owned()))
                .collect();
            if picked.is_empty() {
                return Err(format!("no selection matches {pattern:?}"));
            }
            return Ok(if token == "1" {
                Condition::Or(picked)
            } else {
                Condition::And(picked)
            });
        }
        if ["and", "or", "of", ")"]
            .iter()
            .any(|k| token.eq_ignore_ascii_case(k))
        {
            return Err(format!("unexpected {token:?}"));
        }
        if !self.names.contains(&token.as_str()) {
            return Err(format!("no selection named {token:?}"));
        }
        Ok(Condition::Selection(token))
    }
}

/// `selection_*` style patterns: `*` is any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, rest)) => {
            name.starts_with(prefix)
                && (0..=name.len() - prefix.len()).any(|i| {
                    name.is_char_boundary(prefix.len() + i) && glob(rest, &name[prefix.len() + i..])
                })
        }
    }
}
