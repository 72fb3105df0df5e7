use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use okta_itdr::args::Cli;
use okta_itdr::replay_cmd::Io;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let (stdout_terminal, stderr_terminal) = (stdout.is_terminal(), stderr.is_terminal());
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut err = stderr.lock();
    let io = Io {
        out: &mut out,
        err: &mut err,
        stdout_terminal,
        stderr_terminal,
    };
    match okta_itdr::run(cli, io) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            let _ = writeln!(err, "okta-itdr: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
