//! `okta-itdr dlq list|redrive`: the deployed final dead-letter queue, through
//! the [`DeadLetters`] port (SQS in the deployment).

use std::io::Write;

use okta_itdr_aws::dead_letters::SqsDeadLetters;
use okta_itdr_aws::sdk::Function;
use okta_itdr_core::ports::{DeadLetter, DeadLetters};

use crate::args::{DlqCommand, Format};
use crate::error::CliError;
use crate::replay_cmd::Io;

pub fn run(command: &DlqCommand, io: Io<'_>) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sdk = Function::Cli.sdk_config().await;
        let client = aws_sdk_sqs::Client::new(&sdk);
        match command {
            DlqCommand::List(args) => {
                let queue = SqsDeadLetters::new(client, &args.queue_url, None);
                list(
                    &queue,
                    args.max,
                    Format::resolve(args.format, io.stdout_terminal),
                    io,
                )
                .await
            }
            DlqCommand::Redrive(args) => {
                let queue = SqsDeadLetters::new(client, &args.queue_url, Some(args.to.clone()));
                redrive(&queue, args.max, io).await
            }
        }
    })
}

/// Prints up to `max` dead letters.
pub async fn list(
    queue: &impl DeadLetters,
    max: usize,
    format: Format,
    io: Io<'_>,
) -> Result<(), CliError> {
    let letters = queue.list(max).await?;
    match format {
        Format::Json => {
            for l in &letters {
                serde_json::to_writer(&mut *io.out, l).map_err(std::io::Error::from)?;
                writeln!(io.out)?;
            }
        }
        Format::Table => table(&letters, io.out)?,
    }
    writeln!(
        io.err,
        "{} event(s) in the final dead-letter queue",
        letters.len()
    )?;
    io.out.flush()?;
    Ok(())
}

fn table(letters: &[DeadLetter], out: &mut dyn Write) -> std::io::Result<()> {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    writeln!(
        out,
        "{:<24}  {:<36}  {:<32}  {:<20}  REASON",
        "FAILED AT", "UUID", "EVENT TYPE", "CODE"
    )?;
    for l in letters {
        writeln!(
            out,
            "{:<24}  {:<36}  {:<32}  {:<20}  {}",
            show(&l.failed_at),
            show(&l.uuid),
            show(&l.event_type),
            show(&l.reason_code),
            show(&l.reason)
        )?;
    }
    Ok(())
}

/// Moves up to `max` dead letters back to recovery.
pub async fn redrive(queue: &impl DeadLetters, max: usize, io: Io<'_>) -> Result<(), CliError> {
    let moved = queue.redrive(max).await?;
    writeln!(io.out, "{moved} event(s) sent back to the recovery queue")?;
    io.out.flush()?;
    Ok(())
}
