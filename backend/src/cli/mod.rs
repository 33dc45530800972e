//! `fleetcompat compare | baseline | masks | graph | export | targets | token | drain`: the engine
//! on the command line, one file per command; a command is a type implementing [`Run`] and a line of
//! [`commands!`].
//!
//! Inputs are host profile JSON files (from `fleetcompat-collector`), fleet files (JSON Lines, one
//! profile a line, from `GET /api/v1/fleet.jsonl`), or CPUID dumps (whose guest view is then
//! estimated from the raw CPUID, and said so). Files are read and parsed on every core.
//! Output is human-readable, or JSON with `--json` (a stable contract for scripts).
//! Host arguments that are no file are host ids, looked up with `--db` (a fleetcompat database)
//! or `--fleet` (a fleet file).
//! Exit codes: 0 compatible (or success), 1 incompatible, 2 error ([`CliError`]).

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
mod drain;
mod error;
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
mod token;

pub use error::CliError;

/// An engine subcommand: its clap arguments, run.
pub trait Run {
    /// For a command that reads hosts: where host arguments that are not files are looked up by
    /// id (`--db`, `--fleet`), and its host arguments.
    fn ids(&self) -> Option<(&db::DbArgs, Vec<&std::path::Path>)> {
        None
    }
    /// Run the command: an exit code ([`EXIT_OK`] or [`EXIT_INCOMPATIBLE`]), or why not.
    fn run(&self) -> Result<u8, CliError>;
}

/// The engine subcommands: each `Variant(Args)` line makes one (its doc is its `--help`).
macro_rules! commands {
    ($($(#[doc = $doc:literal])* $name:ident($args:ty),)*) => {
        /// The engine subcommands, flattened into `fleetcompat`'s.
        #[derive(clap::Subcommand, Debug)]
        pub enum Command {
            $($(#[doc = $doc])* $name($args),)*
        }

        impl Command {
            /// Run the command (after opening its `--db` and `--fleet`) and print its error.
            pub fn run(&self) -> ExitCode {
                match self {
                    $(Self::$name(args) => run_command(args),)*
                }
            }
        }
    };
}

commands! {
    /// Can a guest move from SRC to DST? Exit 0 compatible, 1 incompatible, 2 error.
    Compare(compare::CompareArgs),
    /// The baseline CPU of hosts (one host: its host model), with QEMU/libvirt/Nova/KubeVirt exports.
    Baseline(baseline::BaselineArgs),
    /// Features to mask on each side so that SRC and DST (or a pool) become compatible.
    Masks(masks::MasksArgs),
    /// Host classes and migration pools of a set of hosts.
    Graph(graph::GraphArgs),
    /// Export a baseline (QEMU, libvirt, Nova, KubeVirt, JSON) or the class graph (JSON, DOT).
    Export(export::ExportArgs),
    /// Every host a guest (--guest FILE) on --from HOST can go to, and why not the others.
    Targets(targets::TargetsArgs),
    /// Can HOST be drained? Every VM of it, where it can go, stuck VMs first with their
    /// blockers and a fix. Exit 0 when every VM has a place, 1 otherwise, 2 error.
    Drain(drain::DrainArgs),
    /// Scoped write tokens on the server's database (--db): create for hosts or labels, list,
    /// revoke.
    Token(token::TokenArgs),
}

fn run_command(command: &impl Run) -> ExitCode {
    let opened = command
        .ids()
        .map_or(Ok(()), |(ids, args)| db::open(ids, &args));
    finish(opened.and_then(|()| command.run()))
}

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

/// The exit code of a result, its error printed.
fn finish(result: Result<u8, CliError>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
