//! Builds the C harnesses against the built library and runs them: client
//! and server over a socketpair through the C API, exact Postfix lines.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const VALGRIND: &[&str] = &[
    "valgrind",
    "-q",
    "--error-exitcode=99",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite,indirect",
    "--show-leak-kinds=definite,indirect",
];

/// Run C program `name` (with the key directory as argument when
/// `with_keys`), optionally under a wrapper such as valgrind; it must exit
/// 0 and report no failed check.
fn run_harness(name: &str, with_keys: bool, wrapper: &[&str]) {
    let bin = c_binaries().join(name);
    let mut cmd = if wrapper.is_empty() {
        Command::new(&bin)
    } else {
        let mut c = Command::new(wrapper[0]);
        c.args(&wrapper[1..]).arg(&bin);
        c
    };
    if with_keys {
        cmd.arg(keys());
    }
    let out = run_bounded(&mut cmd, Duration::from_secs(600));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} failed ({:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.contains(" 0 failed checks"), "{stdout}");
}

fn valgrind_available() -> bool {
    if have("valgrind") {
        return true;
    }
    assert!(
        !required("MTATLS_REQUIRE_VALGRIND"),
        "valgrind is required but missing"
    );
    eprintln!("SKIPPED: valgrind not installed");
    false
}

#[test]
fn c_handshake_cases() {
    run_harness("handshake_cases", true, &[]);
}

#[test]
fn c_api_misuse() {
    run_harness("api_misuse", false, &[]);
}

/// The same harnesses under valgrind memcheck: no invalid access, no
/// definite or indirect leak. Required when MTATLS_REQUIRE_VALGRIND=1 (CI).
#[test]
fn c_handshake_cases_under_valgrind() {
    if valgrind_available() {
        run_harness("handshake_cases", true, VALGRIND);
    }
}

#[test]
fn c_api_misuse_under_valgrind() {
    if valgrind_available() {
        run_harness("api_misuse", false, VALGRIND);
    }
}

/// The fail-closed checks (sticky outcomes, logging that cannot fail,
/// time limits, self-signed file safety, the expansion cap, no SIGPIPE,
/// re-entry, one session per socket, poisoned sessions), SIGPIPE at its
/// default disposition.
#[test]
fn c_failclosed() {
    run_harness("failclosed", true, &[]);
}

#[test]
fn c_failclosed_under_valgrind() {
    if valgrind_available() {
        run_harness("failclosed", true, VALGRIND);
    }
}

/// Per-session policies (protocols, grade, exclusions, digest, CA file,
/// trust anchors, halfdane) from threads sharing one context, and the
/// peer's certificates exported.
#[test]
fn c_policies_per_session_from_threads() {
    run_harness("policies", true, &[]);
}

/// The same under valgrind's race detectors: a session's own settings
/// touch nothing the other threads share.
#[test]
fn c_policies_under_helgrind_and_drd() {
    if !valgrind_available() {
        return;
    }
    for tool in ["--tool=helgrind", "--tool=drd"] {
        let bin = c_binaries().join("policies");
        let out = run_bounded(
            Command::new("valgrind")
                .args(["-q", "--error-exitcode=99", tool])
                .arg(&bin)
                .arg(keys())
                .arg("1"),
            Duration::from_secs(900),
        );
        assert!(
            out.status.success(),
            "{tool} found problems:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn c_sessions_event_loop_and_resumption() {
    run_harness("sessions", true, &[]);
}

#[test]
fn c_sessions_under_valgrind() {
    if valgrind_available() {
        run_harness("sessions", true, VALGRIND);
    }
}

#[test]
fn c_threads_sharing_contexts() {
    let bin = c_binaries().join("threads");
    let out = run_bounded(
        Command::new(&bin).arg(keys()).args(["4", "50"]),
        Duration::from_secs(300),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The threaded harness under valgrind's race detectors (helgrind, drd):
/// no data race in the library with contexts shared by threads.
#[test]
fn c_threads_under_helgrind_and_drd() {
    if !valgrind_available() {
        return;
    }
    for tool in ["--tool=helgrind", "--tool=drd"] {
        let bin = c_binaries().join("threads");
        let out = run_bounded(
            Command::new("valgrind")
                .args(["-q", "--error-exitcode=99", tool])
                .arg(&bin)
                .arg(keys())
                .args(["2", "3"]),
            Duration::from_secs(600),
        );
        assert!(
            out.status.success(),
            "{tool} found problems:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
