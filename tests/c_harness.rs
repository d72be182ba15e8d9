//! Builds the C harnesses against the built library and runs them: client
//! and server over a socketpair through the C API, exact Postfix lines.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn run_harness(wrapper: &[&str]) {
    let bin = c_binaries().join("handshake_cases");
    let mut cmd = if wrapper.is_empty() {
        Command::new(&bin)
    } else {
        let mut c = Command::new(wrapper[0]);
        c.args(&wrapper[1..]).arg(&bin);
        c
    };
    cmd.arg(keys());
    let out = run_bounded(&mut cmd, Duration::from_secs(600));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "handshake_cases failed ({:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.contains(" 0 failed checks"), "{stdout}");
}

#[test]
fn c_handshake_cases() {
    run_harness(&[]);
}

/// The same harness under valgrind memcheck: no invalid access, no definite
/// or indirect leak. Required when MTATLS_REQUIRE_VALGRIND=1 (CI).
#[test]
fn c_handshake_cases_under_valgrind() {
    if !have("valgrind") {
        assert!(
            !required("MTATLS_REQUIRE_VALGRIND"),
            "valgrind is required but missing"
        );
        eprintln!("SKIPPED: valgrind not installed");
        return;
    }
    run_harness(&[
        "valgrind",
        "-q",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        "--show-leak-kinds=definite,indirect",
    ]);
}
