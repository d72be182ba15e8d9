//! mtatls-finger against posttls-finger, option by option (issue 17): the
//! same command line, the same main.cf (`MAIL_CONFIG`), against a REAL
//! Postfix smtpd. Every TLS option of mtatls-finger is one per-session
//! call of the library, so each case checks one per-session setting
//! against what Postfix's own client code does with it.
//!
//! Compared: every stderr line (prefix removed; mtatls-finger's own
//! "Server certificate not verified: ..." line left out), the whole stdout
//! (the chain of `-C`), the server's line for each connection; and the
//! lines each case requires are there, so that both failing alike cannot
//! pass.
//!
//! Skipped without the peers; required under CI (MTATLS_REQUIRE_PEERS=1).

mod common;

use std::process::Command;
use std::time::Duration;

use common::peers::{self, assert_same_lines, indent, PostfixSmtpd};
use common::postfix;

/// What one finger printed.
struct Run {
    ok: bool,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

fn lines(bytes: &[u8], prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| l.strip_prefix(prefix).unwrap_or(l).to_string())
        .collect()
}

/// Common options of both: IPv4, 10-second timeouts, a fixed EHLO name.
const BASE: &[&str] = &[
    "-a",
    "ipv4",
    "-t",
    "10",
    "-T",
    "10",
    "-o",
    "myhostname=finger.test",
];

fn run(mut cmd: Command, prefix: &str) -> Run {
    let out = common::run_bounded(&mut cmd, Duration::from_secs(90));
    Run {
        ok: out.status.success(),
        stdout: lines(&out.stdout, ""),
        stderr: lines(&out.stderr, prefix),
    }
}

/// posttls-finger writes its log lines to stdout, with the chain of `-C`:
/// its lines that carry its name are the log (as mtatls-finger's stderr),
/// the others what `-C` printed (as mtatls-finger's stdout).
fn split_log(run: Run, prefix: &str) -> Run {
    let (log, rest): (Vec<String>, Vec<String>) =
        run.stdout.into_iter().partition(|l| l.starts_with(prefix));
    let mut stderr: Vec<String> = log
        .into_iter()
        .map(|l| l[prefix.len()..].to_string())
        .collect();
    stderr.extend(run.stderr);
    Run {
        ok: run.ok,
        stdout: rest,
        stderr,
    }
}

fn theirs(peers: &peers::Peers, port: u16, args: &[&str], matches: &[&str]) -> Run {
    let mut cmd = Command::new(peers.release.posttls_finger());
    cmd.env("MAIL_CONFIG", postfix::finger_config(&peers.release))
        .args(BASE)
        .args(args)
        .arg(format!("[127.0.0.1]:{port}"))
        .args(matches);
    split_log(run(cmd, "posttls-finger: "), "posttls-finger: ")
}

fn ours(peers: &peers::Peers, port: u16, args: &[&str], matches: &[&str]) -> Run {
    let mut cmd = Command::new(common::c_binaries().join("mtatls-finger"));
    cmd.env("MAIL_CONFIG", postfix::finger_config(&peers.release))
        .args(peers::release_options())
        .args(BASE)
        .args(args)
        .arg(format!("[127.0.0.1]:{port}"))
        .args(matches);
    run(cmd, "mtatls-finger: ")
}

/// One option (or a few that only make sense together).
struct Case<'a> {
    name: &'a str,
    args: Vec<&'a str>,
    matches: Vec<&'a str>,
    /// Lines (stderr) both must print, "LABEL" for 127.0.0.1[127.0.0.1]:PORT.
    shows: Vec<String>,
    /// Text posttls-finger's stdout must hold (`-C`).
    stdout_has: Vec<&'a str>,
    /// mtatls-finger's exit status 0.
    ok: bool,
    /// Connections the case makes (`-r`: more than one).
    connections: usize,
}

impl<'a> Case<'a> {
    fn new(name: &'a str, args: &[&'a str]) -> Case<'a> {
        Case {
            name,
            args: args.to_vec(),
            matches: vec![],
            shows: vec![],
            stdout_has: vec![],
            ok: true,
            connections: 1,
        }
    }
    fn matches(mut self, m: &[&'a str]) -> Self {
        self.matches = m.to_vec();
        self
    }
    fn shows(mut self, line: &str) -> Self {
        self.shows.push(line.to_string());
        self
    }
    fn stdout_has(mut self, text: &'a str) -> Self {
        self.stdout_has.push(text);
        self
    }
    fn fails(mut self) -> Self {
        self.ok = false;
        self
    }
    fn connections(mut self, n: usize) -> Self {
        self.connections = n;
        self
    }
}

/// Lines both must print alike: without mtatls-finger's own "Server
/// certificate not verified" line, and with the digest of a cache key
/// (`[host]:port&HEX`, a hash of each library's own settings) as "&HEX".
fn comparable(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.starts_with("Server certificate not verified: "))
        .map(|l| {
            l.split(' ')
                .map(|w| match w.split_once("]:") {
                    Some((host, rest)) if host.starts_with('[') && rest.contains('&') => {
                        let port = rest.split('&').next().unwrap_or_default();
                        format!("{host}]:{port}&HEX")
                    }
                    _ => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[track_caller]
fn check(peers: &peers::Peers, smtpd: &PostfixSmtpd, case: &Case) {
    let name = case.name;
    let port = smtpd.port;
    let label = format!("127.0.0.1[127.0.0.1]:{port}");
    let n = smtpd.tls_lines().len();
    let t = theirs(peers, port, &case.args, &case.matches);
    let their_server = smtpd.wait_tls_lines(n + case.connections)[n..].to_vec();
    let o = ours(peers, port, &case.args, &case.matches);
    let our_server =
        smtpd.wait_tls_lines(n + 2 * case.connections)[n + case.connections..].to_vec();

    assert_same_lines(
        &format!("{name}: stderr of {:?}", case.args),
        &comparable(&o.stderr),
        &comparable(&t.stderr),
    );
    assert_same_lines(
        &format!("{name}: stdout of {:?}", case.args),
        &o.stdout,
        &t.stdout,
    );
    assert_same_lines(
        &format!("{name}: smtpd's lines for the connections"),
        &our_server,
        &their_server,
    );
    for want in &case.shows {
        let want = want.replace("LABEL", &label);
        assert!(
            // At a word's start: "Trusted ..." is not in "Untrusted ...".
            t.stderr
                .iter()
                .any(|l| l.starts_with(&want) || l.contains(&format!(" {want}"))),
            "{name}: posttls-finger did not print \"{want}\":\n{}",
            indent(&t.stderr)
        );
    }
    for want in &case.stdout_has {
        assert!(
            t.stdout.iter().any(|l| l.contains(want)),
            "{name}: posttls-finger's stdout lacks \"{want}\":\n{}",
            indent(&t.stdout)
        );
    }
    assert!(
        o.ok == case.ok,
        "{name}: mtatls-finger exit status {} (expected {}):\n{}",
        if o.ok { "0" } else { "non-zero" },
        if case.ok { "0" } else { "non-zero" },
        indent(&o.stderr)
    );
}

/// `openssl x509 -fingerprint -DIGEST` of `cert`, colon hex.
fn fingerprint(cert: &str, digest: &str) -> String {
    let out = common::run_bounded(
        Command::new("openssl")
            .args([
                "x509",
                "-noout",
                "-fingerprint",
                &format!("-{digest}"),
                "-in",
            ])
            .arg(cert),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "openssl x509 -fingerprint failed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A CA directory (`openssl rehash`) holding `certs`.
fn ca_dir(dir: &std::path::Path, certs: &[String]) -> String {
    let d = dir.join("CApath");
    std::fs::create_dir_all(&d).expect("CApath dir");
    for (i, c) in certs.iter().enumerate() {
        std::fs::copy(c, d.join(format!("ca{i}.pem"))).expect("copy CA cert");
    }
    let out = common::run_bounded(
        Command::new("openssl").arg("rehash").arg(&d),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "openssl rehash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    peers::p(&d)
}

#[test]
fn finger_options_one_by_one_against_postfix_smtpd() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, &[]);
    let tmp = peers::TempDir::new("finger-options");
    let cas = smtpd.tls("server-cas.pem");
    let ec_crt = smtpd.tls("server-ecdsa.crt");
    let rsa_crt = smtpd.tls("server-rsa.crt");
    let capath = ca_dir(tmp.path(), &[ec_crt.clone(), rsa_crt.clone()]);
    let sha1 = fingerprint(&ec_crt, "sha1");
    let sha512 = fingerprint(&ec_crt, "sha512");
    let summary = "TLS connection established to LABEL: ";
    let mismatch = format!(
        "{} TLS connection established",
        peers.forms().mismatch_status()
    );
    let cases = [
        Case::new("SMTP chat shown", &["-l", "may", "-L", "summary"])
            .shows("Connected to LABEL")
            .shows("> EHLO finger.test")
            .shows("> STARTTLS")
            .shows("> QUIT")
            .shows(summary),
        Case::new("-c", &["-c", "-l", "may", "-L", "summary"]).shows(summary),
        Case::new("-L default (routine,certmatch)", &["-c", "-l", "encrypt"]).shows(summary),
        Case::new(
            "-L peercert",
            &["-c", "-l", "may", "-L", "summary,peercert"],
        )
        .shows("LABEL: subject_CN=localhost"),
        Case::new("-L 0", &["-c", "-l", "may", "-L", "0"]),
        Case::new(
            "-p",
            &["-c", "-l", "may", "-L", "summary", "-p", "<=TLSv1.2"],
        )
        .shows("TLSv1.2 with cipher"),
        Case::new(
            "-p, exclusions",
            &["-c", "-l", "encrypt", "-L", "summary", "-p", "!TLSv1.3"],
        )
        .shows("Anonymous TLS connection established")
        .shows("TLSv1.2 with cipher ADH-AES256-GCM-SHA384")
        .shows("Server is anonymous"),
        Case::new(
            "-g high",
            &[
                "-c",
                "-l",
                "encrypt",
                "-L",
                "summary",
                "-g",
                "high",
                "-p",
                "<=TLSv1.2",
            ],
        )
        .shows("TLSv1.2 with cipher ADH-AES256-GCM-SHA384"),
        // No cipher of grade null is one the server offers: both fail alike.
        Case::new(
            "-g null",
            &[
                "-c",
                "-l",
                "encrypt",
                "-L",
                "summary",
                "-g",
                "null",
                "-p",
                "<=TLSv1.2",
            ],
        )
        .shows("warning: LABEL: error setting cipher grade: \"null\"")
        .shows("warning: TLS library problem: ")
        .fails(),
        Case::new(
            "-g, an unknown grade",
            &["-c", "-l", "may", "-L", "summary", "-g", "bogus"],
        )
        .shows("warning: LABEL: invalid cipher grade: \"bogus\"")
        .fails(),
        Case::new(
            "-d sha1",
            &[
                "-c",
                "-l",
                "fingerprint",
                "-L",
                "routine,certmatch",
                "-d",
                "sha1",
            ],
        )
        .matches(&[&sha1])
        .shows(&format!(
            "LABEL: Matched fingerprint: {}",
            sha1.replace(':', "")
        ))
        .shows("Verified TLS connection established"),
        Case::new(
            "-d sha512, wrong digest",
            &[
                "-c",
                "-l",
                "fingerprint",
                "-L",
                "routine,certmatch",
                "-d",
                "sha512",
            ],
        )
        .matches(&[&sha1])
        .shows("Untrusted TLS connection established")
        .fails(),
        Case::new(
            "-d sha512",
            &["-c", "-l", "fingerprint", "-L", "summary", "-d", "sha512"],
        )
        .matches(&[&sha512])
        .shows("Verified TLS connection established"),
        Case::new("-F", &["-c", "-l", "secure", "-F", &cas])
            .matches(&["localhost"])
            .shows("LABEL: matched peername: localhost")
            .shows("Verified TLS connection established"),
        // A PKI-valid chain with the wrong name: "Trusted" from 3.10.4 and
        // 3.11.0 on, "Untrusted" before.
        Case::new("-F, wrong name", &["-c", "-l", "verify", "-F", &cas])
            .matches(&["mx.example.com"])
            .shows(&mismatch)
            .fails(),
        Case::new("-P", &["-c", "-l", "secure", "-P", &capath])
            .matches(&["localhost"])
            .shows("LABEL: matched peername: localhost")
            .shows("Verified TLS connection established"),
        Case::new("-A", &["-c", "-l", "secure", "-A", &ec_crt])
            .matches(&["localhost"])
            .shows("Verified TLS connection established"),
        // An anchor that is the server's own certificate still needs the name.
        Case::new("-A, wrong name", &["-c", "-l", "secure", "-A", &ec_crt])
            .matches(&["mx.example.com"])
            .shows(&mismatch)
            .fails(),
        Case::new("-A, verify", &["-c", "-l", "verify", "-A", &ec_crt])
            .matches(&["localhost"])
            .shows("LABEL: matched peername: localhost")
            .shows("Verified TLS connection established"),
        Case::new("-A, the other key", &["-c", "-l", "secure", "-A", &rsa_crt])
            .matches(&["localhost"])
            .shows("Untrusted TLS connection established")
            .fails(),
        Case::new("-C", &["-c", "-C", "-l", "may", "-L", "summary"])
            .stdout_has("Certificate chain")
            .stdout_has(" 0 subject: ")
            .stdout_has("   pkey digest=")
            .stdout_has("-----BEGIN CERTIFICATE-----"),
        Case::new(
            "-C -d sha1",
            &["-c", "-C", "-d", "sha1", "-l", "may", "-L", "summary"],
        )
        .stdout_has("   cert digest="),
        Case::new(
            "-s",
            &["-c", "-l", "may", "-L", "summary", "-s", "mx.example.com"],
        )
        .shows(summary),
        Case::new(
            "-S (LMTP at an SMTP server)",
            &["-l", "may", "-L", "summary", "-S"],
        )
        .shows("> LHLO finger.test")
        .fails()
        .connections(0),
        Case::new("-l none", &["-l", "none"]).fails().connections(0),
        Case::new("-r", &["-c", "-l", "may", "-L", "summary", "-r", "1"])
            .shows("Reconnecting after 1 seconds")
            .shows("Found a previously used server.  Done reconnecting.")
            .connections(2),
    ];
    for case in &cases {
        check(&peers, &smtpd, case);
    }
}

/// `-H` and `-k`: a client certificate, each given to one session.
#[test]
fn finger_client_certificate_options_against_postfix_smtpd() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, &["smtpd_tls_ask_ccert=yes"]);
    let chain = smtpd.tls("client-rsa.pem");
    let cases = [
        Case::new("-H", &["-c", "-l", "may", "-L", "summary", "-H", &chain])
            .shows("client-signature RSA-PSS"),
        Case::new("-k", &["-c", "-l", "may", "-L", "summary", "-k", &chain])
            .shows("client-signature RSA-PSS"),
        Case::new(
            "no client certificate",
            &["-c", "-l", "may", "-L", "summary"],
        ),
    ];
    for case in &cases {
        check(&peers, &smtpd, case);
    }
}

/// `-w`: TLS on connect, at an smtpd in wrapper mode.
#[test]
fn finger_wrapper_mode_against_postfix_smtpd() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, &["smtpd_tls_wrappermode=yes"]);
    let cases = [
        Case::new("-w", &["-w", "-l", "may", "-L", "summary"])
            .shows("< 220 ")
            .shows("TLS connection established to LABEL"),
        Case::new("-w -c", &["-c", "-w", "-l", "encrypt", "-L", "summary"])
            .shows("TLS connection established to LABEL"),
    ];
    for case in &cases {
        check(&peers, &smtpd, case);
    }
}
