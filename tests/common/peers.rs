//! Real peers for the interop tests: private REAL Postfix instances (smtpd
//! and smtp client, from the project's own harness in `postfix.rs`),
//! posttls-finger, openssl s_server, swaks; and our own example programs
//! (mtatls-smtpd, mtatls-finger) as processes of a test.
//!
//! The real Postfix is Debian's package (`apt-get install postfix`) or,
//! when `MTATLS_PF_ROOT` names one, a Postfix tree built from source (see
//! `postfix::Release`). Every mtatls program started here gets the
//! selected release's `-o mtatls_postfix_release=VERSION` (see
//! `Release::mtatls_options`), so that both sides of a comparison mean
//! the same release.
//!
//! Interop tests skip with a message when the peers are not installed, and
//! fail instead when MTATLS_REQUIRE_PEERS=1 (CI). Every process a helper
//! starts is stopped by pid when its guard drops (also when the test
//! panics), and every wait is bounded.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::postfix::{self, Instance, Release, Role};
use super::{c_binaries, have, required, wait_bounded};

pub use super::postfix::{copy_files, first_received, wait_for};

/// How long a test waits for a peer's log line, a delivery, a listener.
pub const WAIT: Duration = Duration::from_secs(20);

/// The real Postfix a test runs against (see `available`).
#[derive(Clone, Debug)]
pub struct Peers {
    pub release: Release,
}

impl Peers {
    /// The Postfix release of every real Postfix program of this test.
    pub fn release(&self) -> &Release {
        &self.release
    }

    /// `-o mtatls_postfix_release=VERSION` for an mtatls program compared
    /// with this release (empty while the library lacks the parameter).
    pub fn mtatls_options(&self) -> Vec<String> {
        self.release.mtatls_options()
    }

    /// What this release writes where releases differ.
    pub fn forms(&self) -> super::forms::Forms {
        super::forms::Forms::of(&self.release)
    }
}

/// The real peers if they can run here (the selected Postfix release is
/// installed, we are root, the openssl CLI is there); `None` (after
/// printing why) when the test should be skipped; panics when peers are
/// required (MTATLS_REQUIRE_PEERS=1) but missing.
pub fn available() -> Option<Peers> {
    let found = Release::selected().and_then(|release| {
        if let Some(why) = postfix::cannot_run() {
            return Err(why);
        }
        if !have("openssl") {
            return Err("the openssl CLI is not installed (apt-get install openssl)".into());
        }
        Ok(release)
    });
    match found {
        Ok(release) => {
            note(&format!("real peers: {}", release.describe()));
            Some(Peers { release })
        }
        Err(why) => {
            assert!(
                !required("MTATLS_REQUIRE_PEERS"),
                "peers required but unavailable: {why}"
            );
            eprintln!("SKIPPED (real peers): {why}");
            None
        }
    }
}

/// `available()`, and also the given programs on PATH (swaks, openssl).
pub fn available_with(programs: &[&str]) -> Option<Peers> {
    let peers = available()?;
    for p in programs {
        if !have(p) {
            assert!(
                !required("MTATLS_REQUIRE_PEERS"),
                "peers required but {p} is not installed (apt-get install {p})"
            );
            eprintln!("SKIPPED (real peers): {p} is not installed");
            return None;
        }
    }
    Some(peers)
}

/// Print a line once per process.
fn note(text: &str) {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.iter().any(|s| s == text) {
        eprintln!("{text}");
        seen.push(text.to_string());
    }
}

/// `-o mtatls_postfix_release=...` of the release selected for this test
/// process, for the mtatls programs started here (nothing when no
/// release can be found: then no real Postfix takes part either).
pub fn release_options() -> Vec<String> {
    Release::selected()
        .map(|r| r.mtatls_options())
        .unwrap_or_default()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A name no other helper of this process uses (for directories).
fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "mtatls-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Fail loudly, with both lines, when ours differs from the real peer's.
#[track_caller]
pub fn assert_same(what: &str, ours: &str, theirs: &str) {
    assert!(
        ours == theirs,
        "{what}: mtatls differs from the real peer\n  ours:   {ours}\n  theirs: {theirs}"
    );
}

/// As `assert_same`, for lists of lines (compared in order).
#[track_caller]
pub fn assert_same_lines(what: &str, ours: &[String], theirs: &[String]) {
    assert!(
        ours == theirs,
        "{what}: mtatls differs from the real peer\n  ours:\n{}\n  theirs:\n{}",
        indent(ours),
        indent(theirs)
    );
}

/// Fail loudly, with both lines, when `got` is not `want`.
#[track_caller]
pub fn assert_line(what: &str, got: &str, want: &str) {
    assert!(
        got == want,
        "{what}: unexpected line\n  got:      {got}\n  expected: {want}"
    );
}

/// Fail loudly, with both lists, when `got` is not `want` (an expected
/// literal rather than a real peer's output).
#[track_caller]
pub fn assert_lines(what: &str, got: &[String], want: &[String]) {
    assert!(
        got == want,
        "{what}: unexpected lines\n  got:\n{}\n  expected:\n{}",
        indent(got),
        indent(want)
    );
}

/// Lines indented for a failure message.
pub fn indent(lines: &[String]) -> String {
    if lines.is_empty() {
        return "    (none)".to_string();
    }
    lines
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A directory removed when the guard drops.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir, mode 755 (Postfix
    /// daemons and `nobody` must traverse what is below it).
    pub fn new(what: &str) -> TempDir {
        let d = std::env::temp_dir().join(unique(what));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        TempDir(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The peers' certificates, made once per test process (see
/// `postfix::make_certs`): `server-rsa`, `server-ecdsa`, `client-rsa` as
/// `.key .crt .pem .sha256 .spki-sha256`, `server-cas.pem`,
/// `client-ca.pem`. Returns their directory. Every Postfix instance
/// started here gets a copy unless given other certificates.
pub fn peer_certs(peers: &Peers) -> &'static Path {
    let _ = peers;
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tls = super::scratch_dir("peer-certs").join("tls");
        postfix::make_certs(&tls);
        tls
    })
}

/// Contents of a file, trimmed (fingerprint files).
pub fn read_text(path: &Path) -> String {
    super::read_trimmed(path)
}

/// Path as a string.
pub fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The TLS comment lines of a Received: header: the continuation lines
/// between the first line and the `\tby ...` line.
pub fn tls_comment(received: &[String]) -> Vec<String> {
    received
        .iter()
        .skip(1)
        .take_while(|l| !l.starts_with("\tby "))
        .cloned()
        .collect()
}

/// A server's log split into client sessions: the lines between "connect
/// from" and "disconnect from" (both left out), without the sessions of
/// bare port probes ("lost connection after CONNECT").
pub fn sessions(lines: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![];
    let mut current: Option<Vec<String>> = None;
    for l in lines {
        if l.starts_with("connect from ") {
            current = Some(vec![]);
        } else if l.starts_with("disconnect from ") {
            if let Some(s) = current.take() {
                if !s
                    .iter()
                    .all(|l| l.starts_with("lost connection after CONNECT"))
                {
                    out.push(s);
                }
            }
        } else if let Some(s) = current.as_mut() {
            s.push(l.clone());
        }
    }
    out
}

/// The TLS lines of a session (see `sessions`): summaries, certificate
/// verification, `SSL_accept` errors, TLS library problems, TLS aborts.
pub fn tls_session_lines(session: &[String]) -> Vec<String> {
    session
        .iter()
        .filter(|l| l.contains("TLS") || l.contains("certificate") || l.starts_with("SSL_"))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------
// Postfix smtpd

/// A running private Postfix smtpd instance (STARTTLS on 127.0.0.1:port,
/// RSA and ECDSA certificates, level may, loglevel 1, Received: header
/// with TLS details, mail for `*@peers.test` into its Maildir); stopped
/// (and its directory removed) on drop, also when the test fails.
pub struct PostfixSmtpd {
    pub dir: PathBuf,
    pub port: u16,
    inst: Instance,
}

impl PostfixSmtpd {
    /// Start one on a free port with the peers' certificates and
    /// `params` ("name=value"; "DIR" = the instance directory).
    #[track_caller]
    pub fn start(peers: &Peers, params: &[&str]) -> PostfixSmtpd {
        PostfixSmtpd::start_with_certs(peers, None, params)
    }

    /// As `start`, with the instance's `tls/` copied from `certs` (default:
    /// `peer_certs`).
    #[track_caller]
    pub fn start_with_certs(peers: &Peers, certs: Option<&Path>, params: &[&str]) -> PostfixSmtpd {
        let certs = certs.unwrap_or_else(|| peer_certs(peers));
        let params: Vec<String> = params.iter().map(|s| s.to_string()).collect();
        let port = free_port();
        let inst = Instance::start(&peers.release, Role::Server { port }, certs, &params);
        PostfixSmtpd {
            dir: inst.dir.clone(),
            port,
            inst,
        }
    }

    /// The Postfix release it runs.
    pub fn release(&self) -> &Release {
        &self.inst.release
    }

    /// The harness's instance.
    pub fn instance(&self) -> &Instance {
        &self.inst
    }

    /// The instance's `tls/NAME`.
    pub fn tls(&self, name: &str) -> String {
        p(&self.dir.join("tls").join(name))
    }

    /// The instance's `tls/` directory.
    pub fn tls_dir(&self) -> PathBuf {
        self.dir.join("tls")
    }

    /// Contents of `tls/NAME` (fingerprint files), trimmed.
    pub fn tls_text(&self, name: &str) -> String {
        read_text(&self.dir.join("tls").join(name))
    }

    /// The instance's maillog so far.
    pub fn log(&self) -> String {
        self.inst.log()
    }

    /// Wait (bounded) until the maillog has a line containing `needle`;
    /// return that line.
    pub fn wait_log_line(&self, needle: &str, limit: Duration) -> Option<String> {
        wait_for(limit, || {
            self.log()
                .lines()
                .find(|l| l.contains(needle))
                .map(str::to_string)
        })
    }

    /// What smtpd logged (the text after `postfix/smtpd[PID]: `).
    pub fn smtpd_lines(&self) -> Vec<String> {
        self.inst.program_lines("smtpd", 0)
    }

    /// smtpd's per-connection TLS outcome lines: summaries and
    /// `SSL_accept error from` lines, in order.
    pub fn tls_lines(&self) -> Vec<String> {
        self.smtpd_lines()
            .into_iter()
            .filter(|l| is_server_outcome(l))
            .collect()
    }

    /// Wait (bounded) until smtpd logged at least `n` TLS outcome lines.
    #[track_caller]
    pub fn wait_tls_lines(&self, n: usize) -> Vec<String> {
        wait_for(WAIT, || Some(self.tls_lines()).filter(|l| l.len() >= n)).unwrap_or_else(|| {
            panic!(
                "real smtpd logged fewer than {n} TLS lines within {WAIT:?}; its log:\n{}",
                self.log()
            )
        })
    }

    /// The smtpd lines (all of them) after the `n`th TLS outcome line
    /// until the next "disconnect from".
    pub fn lines_after_tls(&self, n: usize) -> Vec<String> {
        let mut seen = 0;
        let mut out = vec![];
        for l in self.smtpd_lines() {
            if seen == n {
                if l.starts_with("disconnect from") {
                    break;
                }
                out.push(l.clone());
            }
            if is_server_outcome(&l) {
                seen += 1;
            }
        }
        out
    }

    /// The first Received: header of the delivered message whose
    /// Subject is `subject`, waiting (bounded) for the delivery.
    #[track_caller]
    pub fn wait_received(&self, subject: &str) -> Vec<String> {
        wait_for(WAIT, || self.inst.received(subject)).unwrap_or_else(|| {
            panic!(
                "real smtpd delivered no message \"{subject}\" within {WAIT:?}; its log:\n{}",
                self.log()
            )
        })
    }
}

// ---------------------------------------------------------------------
// Postfix smtp client

/// A running private Postfix smtp client instance (relayhost
/// `[127.0.0.1]:SERVER_PORT`, level may, loglevel 1, CAfile with the
/// servers' certificates); stopped and removed on drop.
pub struct PostfixClient {
    pub dir: PathBuf,
    inst: Instance,
}

impl PostfixClient {
    /// Start one relaying to 127.0.0.1:`server_port`, with the instance's
    /// `tls/` copied from `certs` (so that its CAfile holds the servers'
    /// certificates and its client certificate is the one the servers'
    /// CAfile trusts) and `params` ("DIR" = the instance directory).
    #[track_caller]
    pub fn start(
        peers: &Peers,
        server_port: u16,
        certs: &Path,
        params: &[String],
    ) -> PostfixClient {
        let inst = Instance::start(
            &peers.release,
            Role::Client {
                relay_port: server_port,
            },
            certs,
            params,
        );
        PostfixClient {
            dir: inst.dir.clone(),
            inst,
        }
    }

    /// The harness's instance.
    pub fn instance(&self) -> &Instance {
        &self.inst
    }

    /// Send one message with Subject `tag` to `rcpt` (sendmail, then a
    /// bounded wait for the delivery attempt); whether it was delivered
    /// (status=sent), and the instance's log lines written meanwhile, the
    /// smtp client's as the text after `postfix/smtp[PID]: `.
    pub fn send(&self, rcpt: &str, tag: &str) -> (bool, Vec<String>) {
        let (sent, lines) = self.inst.send(
            "sender@client.peers.test",
            rcpt,
            tag,
            Duration::from_secs(30),
        );
        let lines = lines
            .into_iter()
            .map(|l| match postfix::program_text(&l, "smtp") {
                Some(t) => t.to_string(),
                None => l,
            })
            .collect();
        (sent, lines)
    }
}

// ---------------------------------------------------------------------
// posttls-finger and mtatls-finger

/// Postfix's posttls-finger (of the peers' release) against
/// 127.0.0.1:PORT: `-a ipv4 -t 10 -T 10 ARGS [127.0.0.1]:PORT MATCH...`
/// ("--" in `args` separates the match arguments; no ARGS means `-c -l
/// may -L summary,peercert`); its output lines as printed.
pub fn posttls_finger(peers: &Peers, port: u16, args: &[&str]) -> Vec<String> {
    let mut cmd = postfix::posttls_finger_command(&peers.release, port, args);
    postfix::run_posttls_finger(&mut cmd)
}

/// `posttls_finger` with the "posttls-finger: " prefix removed from its
/// lines.
pub fn posttls_finger_lines(peers: &Peers, port: u16, args: &[&str]) -> Vec<String> {
    posttls_finger(peers, port, args)
        .into_iter()
        .map(|l| match l.strip_prefix("posttls-finger: ") {
            Some(t) => t.to_string(),
            None => l,
        })
        .collect()
}

/// Run our `mtatls-finger args...` (after the release's `-o
/// mtatls_postfix_release=...`, see `release_options`): whether it exited
/// 0, and its stderr lines with the "mtatls-finger: " prefix removed.
pub fn mtatls_finger(args: &[String]) -> (bool, Vec<String>) {
    let mut cmd = Command::new(c_binaries().join("mtatls-finger"));
    cmd.args(release_options()).args(args).stdin(Stdio::null());
    let out = super::run_bounded(&mut cmd, Duration::from_secs(60));
    let lines = lines_of(&out.stderr)
        .into_iter()
        .map(|l| match l.strip_prefix("mtatls-finger: ") {
            Some(t) => t.to_string(),
            None => l,
        })
        .collect();
    (out.status.success(), lines)
}

/// The text after `prefix` of the first line that has it and contains
/// "TLS connection established".
pub fn summary_after(lines: &[String], prefix: &str) -> Option<String> {
    lines
        .iter()
        .filter(|l| l.contains("TLS connection established"))
        .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
}

/// Whether a line looks like a summary: "... TLS connection established
/// ...", or (so that a damaged summary is still compared, and shown,
/// rather than reported missing) any line naming a cipher.
pub fn is_summary(line: &str) -> bool {
    line.contains("TLS connection established") || line.contains(" with cipher ")
}

/// Whether a server line is a per-connection TLS outcome: a summary
/// ("... from ...") or an `SSL_accept error`.
pub fn is_server_outcome(line: &str) -> bool {
    (is_summary(line) && line.contains(" from ")) || line.starts_with("SSL_accept error")
}

/// The first summary line (see `is_summary`).
pub fn summary(lines: &[String]) -> Option<String> {
    lines.iter().find(|l| is_summary(l)).cloned()
}

/// The lines the Postfix TLS library logs on a client for the
/// connection to `label` (prefixes already removed): the summary, the
/// `LABEL: ...` lines (matched peername, Matched fingerprint, subject_CN),
/// verification failures and `SSL_connect error`, in order. These are
/// what posttls-finger and mtatls-finger must print alike (mtatls-finger's
/// own "Server certificate not verified: ..." line is not one of them).
pub fn client_tls_lines(lines: &[String], label: &str) -> Vec<String> {
    let own = format!("{label}: ");
    let summary = format!(" {label}: ");
    let failed = format!("verification failed for {label}: ");
    let error = format!("SSL_connect error to {label}: ");
    lines
        .iter()
        .filter(|l| {
            l.starts_with(&own)
                || (l.contains(&summary) && is_summary(l))
                || (l.contains(&failed) && !l.starts_with("Server certificate not verified: "))
                || l.starts_with(&error)
        })
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------
// posttls-finger and mtatls-finger against one server

/// How smtpd and mtatls-smtpd name a client on 127.0.0.1.
pub const SMTPD_LABEL: &str = "localhost[127.0.0.1]";

/// A server whose per-connection TLS outcome lines a test can read.
pub trait TlsLog {
    /// For messages: "real smtpd", "mtatls-smtpd".
    fn who(&self) -> &'static str;
    /// Summary and `SSL_accept error` lines so far, in order.
    fn tls_lines(&self) -> Vec<String>;
    /// Wait (bounded) until there are at least `n`; panic otherwise.
    fn wait_tls_lines(&self, n: usize) -> Vec<String>;
}

impl TlsLog for PostfixSmtpd {
    fn who(&self) -> &'static str {
        "real smtpd"
    }
    fn tls_lines(&self) -> Vec<String> {
        PostfixSmtpd::tls_lines(self)
    }
    fn wait_tls_lines(&self, n: usize) -> Vec<String> {
        PostfixSmtpd::wait_tls_lines(self, n)
    }
}

impl TlsLog for MtatlsSmtpd {
    fn who(&self) -> &'static str {
        "mtatls-smtpd"
    }
    fn tls_lines(&self) -> Vec<String> {
        MtatlsSmtpd::tls_lines(self)
    }
    fn wait_tls_lines(&self, n: usize) -> Vec<String> {
        MtatlsSmtpd::wait_tls_lines(self, n)
    }
}

/// One probe of a server by posttls-finger and then by mtatls-finger,
/// with the same level, options and match arguments.
pub struct FingerCase {
    pub name: &'static str,
    pub level: &'static str,
    /// Options given to both fingers (letters they share: -w -p -F -H -o).
    pub opts: Vec<String>,
    /// Options only for posttls-finger / only for mtatls-finger.
    pub theirs: Vec<String>,
    pub ours: Vec<String>,
    /// Match arguments (fingerprints or names).
    pub matches: Vec<String>,
    /// Expected client summary, "LABEL" standing for 127.0.0.1[127.0.0.1]:PORT.
    pub client: String,
    /// Expected server summary line for each connection.
    pub server: String,
    /// Certificate-match lines both must print, "LABEL: " left out
    /// (e.g. "matched peername: localhost").
    pub shows: Vec<String>,
    /// Expected mtatls-finger exit status 0.
    pub ok: bool,
}

impl FingerCase {
    pub fn new(name: &'static str, level: &'static str) -> FingerCase {
        FingerCase {
            name,
            level,
            opts: vec![],
            theirs: vec![],
            ours: vec![],
            matches: vec![],
            client: String::new(),
            server: String::new(),
            shows: vec![],
            ok: true,
        }
    }

    pub fn opts(mut self, o: &[&str]) -> FingerCase {
        self.opts.extend(o.iter().map(|s| s.to_string()));
        self
    }

    pub fn theirs(mut self, o: &[&str]) -> FingerCase {
        self.theirs.extend(o.iter().map(|s| s.to_string()));
        self
    }

    pub fn ours(mut self, o: &[&str]) -> FingerCase {
        self.ours.extend(o.iter().map(|s| s.to_string()));
        self
    }

    pub fn matches(mut self, m: &[&str]) -> FingerCase {
        self.matches.extend(m.iter().map(|s| s.to_string()));
        self
    }

    /// Client status and the summary's tail (after "LABEL: ").
    pub fn client(mut self, status: &str, tail: &str) -> FingerCase {
        self.client = format!("{status} TLS connection established to LABEL: {tail}");
        self
    }

    /// Server status and the summary's tail (after "localhost[127.0.0.1]: ").
    pub fn server(mut self, status: &str, tail: &str) -> FingerCase {
        self.server = format!("{status} TLS connection established from {SMTPD_LABEL}: {tail}");
        self
    }

    /// Client and server see the same tail (no client certificate), the
    /// server an anonymous client.
    pub fn both(self, client_status: &str, tail: &str) -> FingerCase {
        self.client(client_status, tail).server("Anonymous", tail)
    }

    /// A line both fingers must print after "LABEL: ".
    pub fn shows(mut self, line: &str) -> FingerCase {
        self.shows.push(line.to_string());
        self
    }

    /// Fingerprint level: "Matched fingerprint: HEX" (colons removed).
    pub fn matched_fingerprint(self, fp: &str) -> FingerCase {
        let hex = fp.replace(':', "");
        self.shows(&format!("Matched fingerprint: {hex}"))
    }

    pub fn fails(mut self) -> FingerCase {
        self.ok = false;
        self
    }
}

/// Probe 127.0.0.1:`port` (served by `server`) with posttls-finger, then
/// with mtatls-finger (see `FingerCase`), and require:
/// - the TLS lines both print (summary, `matched peername`, `Matched
///   fingerprint`, peer certificate, verification failures) to be EQUAL;
/// - posttls-finger's summary, and the certificate-match lines the case
///   names, to be the expected ones (so that a wrong setup cannot pass by
///   making both fail alike);
/// - the server's line for our connection to be the expected one and the
///   same as for posttls-finger's connection;
/// - mtatls-finger's exit status to be the expected one.
#[track_caller]
pub fn compare_fingers(peers: &Peers, port: u16, server: &dyn TlsLog, case: &FingerCase) {
    let name = case.name;
    let who = server.who();
    let label = format!("127.0.0.1[127.0.0.1]:{port}");
    let n = server.tls_lines().len();

    let mut targs: Vec<&str> = vec!["-c", "-l", case.level];
    targs.extend(case.opts.iter().chain(&case.theirs).map(String::as_str));
    targs.push("--");
    targs.extend(case.matches.iter().map(String::as_str));
    let theirs = posttls_finger_lines(peers, port, &targs);
    let their_server_line = server.wait_tls_lines(n + 1)[n].clone();

    let mut oargs: Vec<String> = vec!["-l".into(), case.level.into()];
    oargs.extend(case.opts.iter().chain(&case.ours).cloned());
    oargs.push(format!("127.0.0.1:{port}"));
    oargs.extend(case.matches.iter().cloned());
    let (ok, ours) = mtatls_finger(&oargs);
    let our_server_line = server.wait_tls_lines(n + 2)[n + 1].clone();

    let their_summary = summary(&theirs).unwrap_or_else(|| {
        panic!(
            "{name}: posttls-finger {targs:?} printed no summary:\n{}",
            indent(&theirs)
        )
    });
    let our_summary = summary(&ours).unwrap_or_else(|| {
        panic!(
            "{name}: mtatls-finger {oargs:?} printed no summary:\n{}",
            indent(&ours)
        )
    });
    assert_same(
        &format!("{name}: summary line"),
        &our_summary,
        &their_summary,
    );
    assert_same_lines(
        &format!("{name}: TLS lines (summary, certificate match, peer certificate)"),
        &client_tls_lines(&ours, &label),
        &client_tls_lines(&theirs, &label),
    );
    for line in &case.shows {
        let want = format!("{label}: {line}");
        assert!(
            theirs.contains(&want) && ours.contains(&want),
            "{name}: \"{want}\" missing\n  ours:\n{}\n  theirs:\n{}",
            indent(&ours),
            indent(&theirs)
        );
    }
    assert_line(
        &format!("{name}: posttls-finger's summary"),
        &their_summary,
        &case.client.replace("LABEL", &label),
    );
    assert_line(
        &format!("{name}: {who}'s line for mtatls-finger's connection"),
        &our_server_line,
        &case.server,
    );
    assert_same(
        &format!("{name}: {who}'s line for mtatls-finger's connection vs for posttls-finger's"),
        &our_server_line,
        &their_server_line,
    );
    assert!(
        ok == case.ok,
        "{name}: mtatls-finger exit status {} (expected {}):\n{}",
        if ok { "0" } else { "non-zero" },
        if case.ok { "0" } else { "non-zero" },
        indent(&ours)
    );
}

// ---------------------------------------------------------------------
// mtatls-smtpd

/// Our example server `mtatls-smtpd` on 127.0.0.1 (a free port chosen by
/// the kernel, read from its "listening on" line); its stdout (received
/// messages) and stderr are collected as they come. Stopped (SIGTERM,
/// then SIGKILL, by pid) on drop.
pub struct MtatlsSmtpd {
    pub port: u16,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl MtatlsSmtpd {
    /// `mtatls-smtpd RELEASE-OPTIONS OPTIONS... 127.0.0.1:0` (see
    /// `release_options`).
    #[track_caller]
    pub fn start(options: &[String]) -> MtatlsSmtpd {
        let mut cmd = Command::new(c_binaries().join("mtatls-smtpd"));
        cmd.args(release_options())
            .args(options)
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn mtatls-smtpd");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = vec![];
        {
            let mut pipe = child.stdout.take().expect("stdout");
            let sink = Arc::clone(&stdout);
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
        }
        {
            let pipe = child.stderr.take().expect("stderr");
            let sink = Arc::clone(&stderr);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let line = match line.strip_prefix("mtatls-smtpd: ") {
                        Some(t) => t.to_string(),
                        None => line,
                    };
                    sink.lock().unwrap().push(line);
                }
            }));
        }
        let mut server = MtatlsSmtpd {
            port: 0,
            child,
            stdout,
            stderr,
            readers,
        };
        let port = wait_for(WAIT, || {
            server
                .stderr()
                .iter()
                .find_map(|l| l.strip_prefix("listening on 127.0.0.1:")?.parse().ok())
        });
        match port {
            Some(port) => server.port = port,
            None => panic!(
                "mtatls-smtpd {options:?} did not start listening:\n{}",
                indent(&server.stderr())
            ),
        }
        server
    }

    /// Its stderr lines so far ("mtatls-smtpd: " removed).
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Its per-connection TLS outcome lines (summaries and
    /// `SSL_accept error from` lines), in order.
    pub fn tls_lines(&self) -> Vec<String> {
        self.stderr()
            .into_iter()
            .filter(|l| is_server_outcome(l))
            .collect()
    }

    /// Wait (bounded) until it logged at least `n` TLS outcome lines.
    #[track_caller]
    pub fn wait_tls_lines(&self, n: usize) -> Vec<String> {
        wait_for(WAIT, || Some(self.tls_lines()).filter(|l| l.len() >= n)).unwrap_or_else(|| {
            panic!(
                "mtatls-smtpd logged fewer than {n} TLS lines within {WAIT:?}:\n{}",
                indent(&self.stderr())
            )
        })
    }

    /// Its lines after the `n`th TLS outcome line until "disconnect from".
    pub fn lines_after_tls(&self, n: usize) -> Vec<String> {
        let mut seen = 0;
        let mut out = vec![];
        for l in self.stderr() {
            if seen == n {
                if l.starts_with("disconnect from") {
                    break;
                }
                out.push(l.clone());
            }
            if is_server_outcome(&l) {
                seen += 1;
            }
        }
        out
    }

    /// The messages written to stdout, each starting with our Received:
    /// line.
    pub fn messages(&self) -> Vec<String> {
        let out = self.stdout();
        let mut msgs: Vec<String> = vec![];
        let lines: Vec<&str> = out.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let ours = l.starts_with("Received: from ")
                && lines[i + 1..]
                    .iter()
                    .take_while(|c| c.starts_with('\t') || c.starts_with(' '))
                    .any(|c| c.starts_with("\tby ") && c.contains("(mtatls-smtpd)"));
            if ours {
                msgs.push(String::new());
            }
            if let Some(m) = msgs.last_mut() {
                m.push_str(l);
                m.push('\n');
            }
        }
        msgs
    }

    /// Our Received: header of the message whose Subject is `subject`,
    /// waiting (bounded) for it.
    #[track_caller]
    pub fn wait_received(&self, subject: &str) -> Vec<String> {
        let want = format!("\nSubject: {subject}\n");
        wait_for(WAIT, || {
            self.messages()
                .iter()
                .find(|m| m.contains(&want))
                .and_then(|m| first_received(m))
        })
        .unwrap_or_else(|| {
            panic!(
                "mtatls-smtpd wrote no message \"{subject}\" within {WAIT:?}; stdout:\n{}\nstderr:\n{}",
                self.stdout(),
                indent(&self.stderr())
            )
        })
    }
}

impl Drop for MtatlsSmtpd {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

// ---------------------------------------------------------------------
// openssl s_server in wrapper mode

/// The canned SMTP dialogue of `OpensslSmtps` (sent by s_server once a
/// client is connected; `-crlf` makes the line ends CRLF).
const S_SERVER_REPLIES: &str =
    "220 s_server.peers.test ESMTP openssl-wrapper\n250 s_server.peers.test\n221 2.0.0 Bye\n";

/// A one-shot `openssl s_server` on 127.0.0.1 in TLS wrapper mode (SMTPS;
/// s_server has no STARTTLS server mode) that plays a canned SMTP
/// dialogue: 220 banner, 250 to EHLO, 221 to QUIT. It serves one
/// connection (`-naccept 1`) and exits; its output is DIR/s_server.log.
/// Stopped by pid on drop (and by the kernel if this test process dies).
pub struct OpensslSmtps {
    pub port: u16,
    pub dir: PathBuf,
    child: Mutex<Child>,
    stdin: Option<ChildStdin>,
}

impl OpensslSmtps {
    /// Start it on a free port with the certificates of `certs` copied to
    /// DIR/tls (default `-cert DIR/tls/server-rsa.crt -key
    /// DIR/tls/server-rsa.key`; "DIR" in `options` is `dir`).
    #[track_caller]
    pub fn start(peers: &Peers, dir: &Path, certs: &Path, options: &[&str]) -> OpensslSmtps {
        OpensslSmtps::start_on(peers, free_port(), dir, certs, options)
    }

    /// As `start`, on a given port.
    #[track_caller]
    pub fn start_on(
        peers: &Peers,
        port: u16,
        dir: &Path,
        certs: &Path,
        options: &[&str],
    ) -> OpensslSmtps {
        let _ = peers;
        copy_files(certs, &dir.join("tls"));
        let d = p(dir);
        let extra: Vec<String> = options.iter().map(|o| o.replace("DIR", &d)).collect();
        let mut cmd = Command::new("openssl");
        cmd.arg("s_server")
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .args(["-naccept", "1", "-crlf"]);
        if !extra.iter().any(|o| o == "-cert") {
            cmd.args(["-cert", &format!("{d}/tls/server-rsa.crt")])
                .args(["-key", &format!("{d}/tls/server-rsa.key")]);
        }
        let log_path = dir.join("s_server.log");
        let log = std::fs::File::create(&log_path).expect("s_server.log");
        cmd.args(&extra)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn openssl s_server");
        // The replies wait in the pipe until a client is connected; stdin
        // stays open until the server is done.
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(S_SERVER_REPLIES.as_bytes())
            .expect("write to s_server");
        let mut server = OpensslSmtps {
            port,
            dir: dir.to_path_buf(),
            child: Mutex::new(child),
            stdin: Some(stdin),
        };
        let up = wait_for(Duration::from_secs(10), || {
            if postfix::listening(port) {
                Some(true)
            } else if server.exited() {
                Some(false)
            } else {
                None
            }
        });
        if up != Some(true) {
            server.stop();
            panic!(
                "openssl s_server not listening on 127.0.0.1:{port}:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        server
    }

    fn exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        !matches!(child.try_wait(), Ok(None))
    }

    /// Wait (bounded) until the one-shot server has served its connection
    /// and exited; its log.
    #[track_caller]
    pub fn wait_done(&self) -> String {
        let done = wait_for(WAIT, || self.exited().then_some(()));
        let log = std::fs::read_to_string(self.dir.join("s_server.log")).unwrap_or_default();
        assert!(
            done.is_some(),
            "openssl s_server did not finish within {WAIT:?}; its log:\n{log}"
        );
        log
    }

    fn stop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(child.try_wait(), Ok(None)) {
            let pid = child.id() as libc::pid_t;
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let start = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
        }
        let _ = child.wait();
        drop(child);
        self.stdin = None;
    }
}

impl Drop for OpensslSmtps {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------
// Other real clients

/// Run a program with `input` written to its stdin in steps (text, then
/// a pause), killing it after `limit`: a scripted SMTP dialogue for
/// `openssl s_client`. Returns (exit ok, stdout+stderr lines).
pub fn run_scripted(
    cmd: &mut Command,
    steps: &[(&str, u64)],
    limit: Duration,
) -> (bool, Vec<String>) {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let steps: Vec<(String, u64)> = steps.iter().map(|(t, ms)| (t.to_string(), *ms)).collect();
    let writer = std::thread::spawn(move || {
        for (text, ms) in steps {
            if stdin.write_all(text.as_bytes()).is_err() {
                break;
            }
            let _ = stdin.flush();
            std::thread::sleep(Duration::from_millis(ms));
        }
        // stdin closes here
    });
    let out = wait_bounded(child, limit);
    let _ = writer.join();
    let lines = lines_of(&out.stdout)
        .into_iter()
        .chain(lines_of(&out.stderr))
        .collect();
    (out.status.success(), lines)
}
