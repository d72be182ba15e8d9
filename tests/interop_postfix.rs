//! mtatls-finger against a REAL Postfix smtpd must print the same summary
//! line as Postfix's own posttls-finger against the same server, and the
//! smtpd must log our connection with the status and cipher we expect.
//! Skipped without the peers; required under CI (MTATLS_REQUIRE_PEERS=1).

mod common;

use std::process::Command;
use std::time::Duration;

use common::peers::{self, PostfixSmtpd};
use common::{c_binaries, run_bounded};

fn mtatls_finger(port: u16, extra: &[&str]) -> (bool, Vec<String>) {
    let mut cmd = Command::new(c_binaries().join("mtatls-finger"));
    cmd.args(extra).arg(format!("127.0.0.1:{port}"));
    let out = run_bounded(&mut cmd, Duration::from_secs(60));
    let lines = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect();
    (out.status.success(), lines)
}

/// One server configuration: our summary must equal posttls-finger's, and
/// the smtpd's line for our connection must be `server_line`.
fn compare(server_params: &[&str], finger_args: &[&str], our_args: &[&str], server_line: &str) {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, server_params);
    let theirs = peers::posttls_finger(&peers, smtpd.port, finger_args);
    let their_summary = peers::summary_after(&theirs, "posttls-finger: ")
        .unwrap_or_else(|| panic!("posttls-finger printed no summary: {theirs:#?}"));
    let count = |smtpd: &PostfixSmtpd| {
        smtpd
            .log()
            .lines()
            .filter(|l| l.ends_with(server_line))
            .count()
    };
    // posttls-finger's connection is logged first; then ours must add one.
    assert!(
        smtpd
            .wait_log_line(server_line, Duration::from_secs(20))
            .is_some(),
        "smtpd never logged \"{server_line}\" for posttls-finger:\n{}",
        smtpd.log()
    );
    let before = count(&smtpd);
    let (ok, ours) = mtatls_finger(smtpd.port, our_args);
    let our_summary = peers::summary_after(&ours, "mtatls-finger: ")
        .unwrap_or_else(|| panic!("mtatls-finger printed no summary: {ours:#?}"));
    assert!(ok, "mtatls-finger failed: {ours:#?}");
    assert_eq!(
        our_summary, their_summary,
        "our summary differs from posttls-finger's"
    );
    let start = std::time::Instant::now();
    while count(&smtpd) <= before {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "smtpd never logged \"{server_line}\" for our connection:\n{}",
            smtpd.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const T13: &str = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519";

#[test]
fn finger_vs_posttls_finger_rsa_and_ecdsa() {
    compare(
        &[],
        &["-c", "-l", "may", "-L", "summary"],
        &[],
        &format!("Anonymous TLS connection established from localhost[127.0.0.1]: {T13} server-signature ECDSA (prime256v1) server-digest SHA256"),
    );
}

#[test]
fn finger_vs_posttls_finger_rsa_only() {
    compare(
        &["smtpd_tls_chain_files=DIR/tls/server-rsa.pem"],
        &["-c", "-l", "may", "-L", "summary"],
        &[],
        &format!("Anonymous TLS connection established from localhost[127.0.0.1]: {T13} server-signature RSA-PSS (2048 bits) server-digest SHA256"),
    );
}

#[test]
fn finger_vs_posttls_finger_tls12_server() {
    compare(
        &["smtpd_tls_protocols=>=TLSv1.2,<=TLSv1.2"],
        &["-c", "-l", "may", "-L", "summary"],
        &[],
        "Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits)",
    );
}
