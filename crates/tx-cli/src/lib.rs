//! tx-cli: the `tx` command. Argument parsing (clap), reading files,
//! rendering diagnostics, printing results and choosing exit codes.
//!
//! **Architecture invariant:** this is the only crate that touches the
//! terminal, the file system or the process exit code. Exit codes: 0 success,
//! 1 an error in the user's program or data, 2 wrong usage. A panic (101) is
//! always a bug.

mod args;
pub mod bench;
mod commands;
mod compare;
mod format;
mod opt;
mod plot;
mod rules;
mod train;

use std::process::ExitCode;

use clap::Parser;

/// An error that ends the command: what to print, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// An error in the user's program or data (exit 1).
    pub fn user(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: 1 }
    }

    /// Wrong usage of the command line (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: 2 }
    }
}

/// Writes to stderr, ignoring a reader that went away: a closed pipe must
/// not turn an ordinary error into a panic.
pub(crate) fn write_stderr(text: &str) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes()).and_then(|()| stderr.flush());
}

/// Runs the `tx` command with the process arguments.
pub fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout with exit 0, and usage
            // errors to stderr with exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                let newline = if failure.message.ends_with('\n') { "" } else { "\n" };
                write_stderr(&format!("{}{newline}", failure.message));
            }
            ExitCode::from(failure.code)
        }
    }
}
