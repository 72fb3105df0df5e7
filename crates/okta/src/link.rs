//! The `Link` response header: Okta's pagination. Only `rel="next"` is followed,
//! and its URL is used exactly as given (the `after` cursor is opaque).

/// The `rel="next"` URL among `Link` header values (one header may list several
/// links separated by commas; several headers may be sent).
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    for value in values {
        for part in split_links(value) {
            let part = part.trim();
            let Some(rest) = part.strip_prefix('<') else {
                continue;
            };
            let Some(end) = rest.find('>') else {
                continue;
            };
            let (target, params) = (&rest[..end], &rest[end + 1..]);
            let is_next = params.split(';').any(|p| {
                let p = p.trim();
                p.strip_prefix("rel=")
                    .map(|v| v.trim_matches('"').split_whitespace().any(|r| r == "next"))
                    .unwrap_or(false)
            });
            if is_next {
                return Some(target.to_owned());
            }
        }
    }
    None
}

/// Splits on commas that are outside `<…>` (URLs may contain commas).
fn split_links(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth <= 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_among_self_and_next() {
        let v = r#"<https://acme.okta.com/api/v1/logs?limit=2>; rel="self", <https://acme.okta.com/api/v1/logs?limit=2&after=1,2%3D>; rel="next""#;
        assert_eq!(
            next_link([v]).as_deref(),
            Some("https://acme.okta.com/api/v1/logs?limit=2&after=1,2%3D")
        );
        assert_eq!(
            next_link([
                r#"<https://a/x>; rel="self""#,
                r#"<https://a/y>; rel="next""#
            ])
            .as_deref(),
            Some("https://a/y")
        );
        assert_eq!(next_link([r#"<https://a/x>; rel="self""#]), None);
        assert_eq!(next_link(Vec::<&str>::new()), None);
    }
}
