//! `okta-itdr rules check DIR [EVENTS…]`: validates custom rules and shows
//! which fire on which events, before they are deployed.

use std::sync::Arc;

use crate::args::RulesCheckArgs;
use crate::error::CliError;
use crate::input::{discover, open, use_rules, RecordReader};
use crate::replay_cmd::{load_rules, Io};

pub fn check(args: &RulesCheckArgs, io: Io<'_>) -> Result<(), CliError> {
    let rules = Arc::new(load_rules(&args.dir)?);
    let correlations = rules.correlations().len();
    if correlations == 0 {
        writeln!(
            io.out,
            "{}: {} rule(s) valid",
            args.dir.display(),
            rules.len()
        )?;
    } else {
        writeln!(
            io.out,
            "{}: {} rule(s) and {correlations} correlation(s) valid",
            args.dir.display(),
            rules.len()
        )?;
    }
    if args.events.is_empty() {
        return Ok(());
    }
    use_rules(rules);
    let found = discover(&args.events)?;
    let (mut events, mut matches) = (0u64, 0u64);
    for file in &found.files {
        let src = open(file, None).map_err(|e| {
            CliError::Input(crate::input::InputError::Io {
                path: file.clone(),
                source: e,
            })
        })?;
        for record in RecordReader::new(src) {
            let Ok(event) = record.result else { continue };
            events += 1;
            for m in &event.rule_matches {
                matches += 1;
                writeln!(
                    io.out,
                    "{}:{}: {} {} ({}) on {} {}",
                    file.display(),
                    record.line,
                    m.id,
                    m.title,
                    m.level,
                    event.event_type,
                    event.uuid
                )?;
            }
        }
    }
    writeln!(io.out, "{events} event(s), {matches} match(es)")?;
    io.out.flush()?;
    Ok(())
}
