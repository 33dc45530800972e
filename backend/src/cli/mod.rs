//! `fleetcompat compare | baseline | masks | graph`: the engine on the command line.
//!
//! Inputs are host profile JSON files (from `fleetcompat-collector`), fleet files (JSON Lines, one
//! profile a line, from `GET /api/v1/fleet.jsonl`), or CPUID dumps (whose guest view is then
//! estimated from the raw CPUID, and said so). Files are read and parsed on every core.
//! Output is human-readable, or JSON with `--json` (a stable contract for scripts).
//! Exit codes: 0 compatible (or success), 1 incompatible, 2 error.

use std::process::ExitCode;

/// `println!` for results: a closed stdout (`fleetcompat graph ... | head`) ends the process
/// quietly, as a reader that has what it wanted is no error; other write errors exit 2.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::cli::stdout_failed(&e)
        }
    }};
}

/// `print!` for results, as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            $crate::cli::stdout_failed(&e)
        }
    }};
}

mod baseline;
mod compare;
mod db;
mod export;
mod fleet_file;
mod graph;
mod guest;
mod input;
mod masks;
mod render;
mod targets;
#[cfg(test)]
mod tests;

pub use baseline::{BaselineArgs, baseline_cmd};
pub use compare::{CompareArgs, compare};
pub use db::with_db;
pub use export::{ExportArgs, export};
pub use graph::{GraphArgs, graph_cmd};
pub use masks::{MasksArgs, masks};
pub use targets::{TargetsArgs, targets_cmd};

/// Stdout failed: quiet success when the reader went away, else say so and exit 2.
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to stdout: {e}");
    std::process::exit(i32::from(EXIT_ERROR));
}

/// Exit code: compatible, or the command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: incompatible (a blocker remains).
pub const EXIT_INCOMPATIBLE: u8 = 1;
/// Exit code: the inputs could not be read or judged.
pub const EXIT_ERROR: u8 = 2;

pub(super) fn finish(result: Result<u8, String>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
