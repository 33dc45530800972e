//! The help a user reads: `fleetcompat --help` and each command's `--help`, from the real
//! binary. Doc comments become help text (clap's derive), so notes meant for the next engineer
//! (lint names, source paths, "Boxed: ...") must stay plain comments.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetcompat"))
        .args(args)
        .output()
        .expect("run fleetcompat");
    assert!(out.status.success(), "fleetcompat {args:?} failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// Words that only make sense to someone reading the source.
const INTERNAL: &[&str] = &["clippy", "Boxed", "src/", ".rs:", "crate::"];

#[test]
fn every_commands_help_speaks_to_users() {
    let top = help(&["--help"]);
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(
        commands.iter().any(|c| c == "serve") && commands.len() >= 8,
        "the command list was not read from the help: {commands:?}"
    );
    for (name, text) in std::iter::once(("fleetcompat".to_owned(), top.clone())).chain(
        commands
            .iter()
            .map(|c| (format!("fleetcompat {c}"), help(&[c, "--help"]))),
    ) {
        for word in INTERNAL {
            assert!(
                !text.contains(word),
                "the help of `{name}` shows {word:?}, a note for engineers:\n{text}"
            );
        }
    }
}
