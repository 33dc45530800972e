//! The soak program (`backend/examples/soak/`, run at full size by `cargo xtask soak`) at small
//! size: the real `fleetcompat serve` binary, 40 clients for 6 s, kill -9 at 3 s, restart; the
//! program must exit 0 and report 0 errors and 0 lost uploads. `cargo test` builds the example
//! before running tests; run alone, build it first: `cargo build -p backend --example soak`.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn soak_at_small_size_survives_a_kill_9_with_no_error_and_no_lost_upload() {
    let server = PathBuf::from(env!("CARGO_BIN_EXE_fleetcompat"));
    let soak = server
        .parent()
        .expect("the binary's directory")
        .join("examples/soak");
    assert!(
        soak.exists(),
        "{} is missing: build it with `cargo build -p backend --example soak` (cargo test does)",
        soak.display()
    );
    let out = Command::new(&soak)
        .arg("--bin")
        .arg(&server)
        .args(["--clients", "40", "--seconds", "6", "--kill-at", "3"])
        .args(["--down-ms", "300", "--think-ms", "20"])
        // Every kind, whole-fleet reads rarer than in the full soak: this checks the soak's
        // machinery and the server's durability, not its capacity on a debug build.
        .args(["--mix", "hosts=1,graph=1,pools=1,fleet=1"])
        .output()
        .expect("run the soak program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "soak failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("soak passed: 0 errors, 0 lost"), "{stdout}");
    // The kill happened and uploads were acknowledged on both sides of it.
    assert!(stdout.contains("kill -9 at 3."), "{stdout}");
    let acked = stdout
        .lines()
        .find_map(|l| l.strip_prefix("durability: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("the durability line");
    assert!(acked > 0, "no upload was acknowledged:\n{stdout}");
    assert!(stdout.contains("PRAGMA integrity_check: ok"), "{stdout}");
}
