//! Real, unmodified Postfix doing STARTTLS through mtatls, by way of
//! compat/postfix (a drop-in libpostfix-tls.so, and an LD_PRELOAD shim),
//! compared byte for byte with the same cases on that release's own
//! libpostfix-tls.so.
//!
//! The release: Debian 12's package (3.7.11) by default, or the Postfix
//! tree named by MTATLS_PF_ROOT (e.g. /opt/postfix-VERSION, built from
//! source); the shim is built for it with `make -C compat/postfix
//! PF_ROOT=...` (its ABI series is a build option).
//!
//! Every case runs twice, once with the release's own library and once
//! with ours (loaded with `import_environment = ... LD_LIBRARY_PATH=DIR`
//! or `LD_PRELOAD=...`), on private Postfix instances made by the tests'
//! harness (tests/common/postfix.rs), on 127.0.0.1. Compared after
//! normalising queue ids, ports, pids, times and delays: the smtp client's
//! lines, the smtpd's lines of the session, and the Received: header;
//! every message must be delivered (status=sent and in the Maildir) unless
//! the case expects a deferral, which must then happen with both
//! libraries.
//!
//! Texts that mtatls writes the way of a release only once it has the
//! release selector (`mtatls_postfix_release`) are compared after a
//! normalisation of exactly those differences while the library lacks
//! the parameter (see `Pending`); with the selector, exactly.
//!
//! Skipped (with the reason printed) when the release is missing; a
//! failure when MTATLS_REQUIRE_PEERS=1.

mod common;

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const TLS12: &str = ">=TLSv1.2,<=TLSv1.2";

use common::peers::wait_for;
use common::postfix::{self, Release, Role};
use common::root;
use common::tlsrpt::{collectd, collectd_log, dns_server, namespaced_daemons, tlsrpt_rows, tool};

fn required() -> bool {
    common::required("MTATLS_REQUIRE_PEERS")
}

/// The selected Postfix release (MTATLS_PF_ROOT, else Debian's package),
/// or None (printed) when this test must skip.
fn peers() -> Option<Release> {
    let found = Release::selected().and_then(|r| {
        if !r.daemon_dir.join("smtpd").exists() {
            return Err(format!("no {}/smtpd", r.daemon_dir.display()));
        }
        let lib = own_library(&r);
        if !lib.exists() {
            return Err(format!("{} is missing", lib.display()));
        }
        if let Some(why) = postfix::cannot_run() {
            return Err(why);
        }
        if !common::have("openssl") {
            return Err("the openssl CLI is not installed".into());
        }
        Ok(r)
    });
    match found {
        Ok(r) => Some(r),
        Err(why) => {
            assert!(
                !required(),
                "peers required (MTATLS_REQUIRE_PEERS=1) but unavailable: {why}"
            );
            eprintln!("SKIPPED (real peers): {why}");
            None
        }
    }
}

/// The release's own libpostfix-tls.so.
fn own_library(r: &Release) -> PathBuf {
    r.shlib_dir.join("libpostfix-tls.so")
}

/// `common::run_bounded` with no standard input (Postfix's tools must not
/// wait for a terminal).
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    common::run_bounded(cmd.stdin(Stdio::null()), limit)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Build the shim for the selected release once (`make -C compat/postfix
/// [PF_ROOT=...]`), serialized across test processes with a lock file;
/// returns the directory of its two files (compat/postfix/out, or
/// out/postfix-VERSION for a tree).
fn shim() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let release = Release::selected().expect("release");
        let dir = root().join("compat/postfix");
        fs::create_dir_all(dir.join("out")).expect("out dir");
        let lock = fs::File::create(dir.join("out/.build.lock")).expect("lock");
        // SAFETY: flock on our own descriptor.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        let mut make = Command::new("make");
        make.arg("-s")
            .arg("-C")
            .arg(&dir)
            .env("CARGO", env!("CARGO"));
        if let Some(r) = &release.root {
            make.arg(format!("PF_ROOT={}", r.display()));
        }
        let o = run_bounded(&mut make, Duration::from_secs(1200));
        assert!(
            o.status.success(),
            "make -C compat/postfix failed:\n{}",
            text(&o)
        );
        match &release.root {
            Some(_) => dir.join(format!("out/postfix-{}", release.version)),
            None => dir.join("out"),
        }
    })
}

fn unique(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "mtatls-shim-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A test's certificate directory, removed on drop.
struct Certs(PathBuf);

impl std::ops::Deref for Certs {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One set of keys and certificates for every instance of a test, in
/// DIR/tls: the harness's (`postfix::make_certs`), and a private CA with
/// a server certificate it issued.
fn certs(peers: &Release) -> Certs {
    let _ = peers;
    let d = unique("certs");
    let t = d.join("tls");
    postfix::make_certs(&t);
    // A private CA and a server certificate it issued (CN and SAN
    // localhost), as DIR/tls/server-ca-issued.pem (key, leaf, CA).
    let script = format!(
        "set -e; cd '{}'
        openssl req -x509 -nodes -newkey rsa:2048 -sha256 -days 3650 -subj /CN=peers-test-CA/O=peers-test \
            -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign \
            -keyout ca.key -out ca.crt
        openssl req -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=localhost/O=peers-test \
            -keyout server-ca-issued.key -out server-ca-issued.csr
        printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:false\\n' > ext.cnf
        openssl x509 -req -in server-ca-issued.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
            -sha256 -extfile ext.cnf -out server-ca-issued.crt
        cat server-ca-issued.key server-ca-issued.crt ca.crt > server-ca-issued.pem
        chmod 600 ca.key server-ca-issued.key server-ca-issued.pem
        # smtp reads trust-anchor files per delivery, as user postfix.
        cp server-cas.pem server-ta.pem; chmod 644 server-ta.pem ca.crt",
        t.display()
    );
    let o = run_bounded(
        Command::new("bash").arg("-c").arg(script),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "making the CA failed: {}", text(&o));
    Certs(d)
}

/// Which libpostfix-tls a Postfix instance runs with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lib {
    /// The release's own libpostfix-tls.so.
    Own,
    /// Ours, replacing the release's: LD_LIBRARY_PATH.
    Ours,
    /// Ours in front of the release's: LD_PRELOAD.
    Preload,
}

const IMPORT: &str = "import_environment=MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME";

/// A private Postfix instance (the harness's) and the library it runs
/// on; stopped and removed on drop.
struct Instance {
    dir: PathBuf,
    port: u16,
    lib: Lib,
    inst: postfix::Instance,
}

impl Instance {
    /// Start an instance of the release's Postfix in `role` with `params`, on
    /// `lib`, with the test's certificates.
    fn start(peers: &Release, role: Role, lib: Lib, certs: &Path, params: &[String]) -> Instance {
        Instance::start_with(peers, role, lib, certs, params, |_| {})
    }

    /// As `start`, calling `prepare` with the instance directory before
    /// Postfix starts.
    fn start_with(
        peers: &Release,
        role: Role,
        lib: Lib,
        certs: &Path,
        params: &[String],
        prepare: impl FnOnce(&Path),
    ) -> Instance {
        let mut all: Vec<String> = params.to_vec();
        // The daemons run as postfix/nobody: give them a copy they can
        // read, in DIR/lib.
        let copy = match lib {
            Lib::Own => None,
            Lib::Ours => {
                all.push(format!(
                    "{IMPORT} MTATLS_POSTFIX_TRACE=1 LD_LIBRARY_PATH=DIR/lib"
                ));
                Some("libpostfix-tls.so")
            }
            Lib::Preload => {
                all.push(format!(
                    "{IMPORT} MTATLS_POSTFIX_TRACE=1 LD_PRELOAD=DIR/lib/mtatls-postfix-preload.so"
                ));
                Some("mtatls-postfix-preload.so")
            }
        };
        let inst =
            postfix::Instance::start_prepared(peers, role, &certs.join("tls"), &all, |dir| {
                if let Some(name) = copy {
                    fs::create_dir_all(dir.join("lib")).expect("mkdir lib");
                    fs::copy(shim().join(name), dir.join("lib").join(name)).expect("copy shim");
                }
                prepare(dir);
            });
        Instance {
            dir: inst.dir.clone(),
            port: inst.port(),
            lib,
            inst,
        }
    }

    fn log(&self) -> String {
        self.inst.log()
    }

    fn log_len(&self) -> usize {
        self.inst.log_len()
    }

    /// This instance's lines of `daemon` (`smtp`, `smtpd`) after line
    /// `from`, as "TEXT" after "postfix/DAEMON[PID]: ".
    fn lines(&self, daemon: &str, from: usize) -> Vec<String> {
        self.inst.program_lines(daemon, from)
    }

    /// Add tlsproxy(8) to master.cf (the harness leaves it out) and
    /// reload.
    fn add_tlsproxy(&self) {
        self.inst.edit_master_cf(|cf| {
            cf + &postfix::master_line("tlsproxy", "unix", "-", "-", "-", "0", "tlsproxy") + "\n"
        });
        self.inst.reload();
        assert!(
            wait_for(WAIT, || self
                .dir
                .join("queue/private/tlsproxy")
                .exists()
                .then_some(()))
            .is_some(),
            "no private/tlsproxy socket after reload"
        );
    }

    /// Run smtpd (server) or smtp (client) chrooted in the queue directory
    /// (master.cf column 5 = y), and reload.
    fn chroot(&self, service: &str) {
        self.inst.edit_master_cf(|cf| {
            let out: Vec<String> = cf
                .lines()
                .map(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    if w.len() >= 8 && w[7] == service && (w[1] == "inet" || w[0] == service) {
                        let mut w: Vec<String> = w.iter().map(|x| x.to_string()).collect();
                        w[4] = "y".into();
                        w.join(" ")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            assert!(
                out.iter().any(|l| l.split(' ').nth(4) == Some("y")),
                "no {service} line in master.cf"
            );
            out.join("\n") + "\n"
        });
        self.inst.reload();
        std::thread::sleep(Duration::from_secs(2));
    }

    /// Connect to `private/SERVICE` (master starts the daemon), then hang up.
    fn poke(&self, service: &str) {
        let path = self.dir.join("queue/private").join(service);
        let s = std::os::unix::net::UnixStream::connect(&path)
            .unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        std::thread::sleep(Duration::from_millis(1500));
        drop(s);
    }
}

/// A real smtpd instance (the harness's server: RSA+ECDSA chain files,
/// level may, loglevel 1, Received header on) with extra `params`.
fn server(peers: &Release, lib: Lib, certs: &Path, params: &[&str]) -> Instance {
    let params: Vec<String> = params.iter().map(|s| s.to_string()).collect();
    let role = Role::Server { port: free_port() };
    Instance::start(peers, role, lib, certs, &params)
}

/// A real smtp client instance (the harness's client: level may, CAfile
/// with the server certificates, loglevel 1) with extra `params`; mail
/// from `s<PORT>@client.peers.test` goes to the server on PORT.
fn client(
    peers: &Release,
    lib: Lib,
    certs: &Path,
    servers: &[&Instance],
    params: &[&str],
) -> Instance {
    let routes: Vec<String> = servers
        .iter()
        .map(|s| format!("s{}@client.peers.test=[127.0.0.1]:{}", s.port, s.port))
        .collect();
    let mut all: Vec<String> = params.iter().map(|s| s.to_string()).collect();
    all.push(format!(
        "sender_dependent_relayhost_maps=inline:{{{}}}",
        routes.join(", ")
    ));
    let role = Role::Client {
        relay_port: servers[0].port,
    };
    Instance::start(peers, role, lib, certs, &all)
}

/// What one delivery attempt showed.
#[derive(Debug)]
struct Delivery {
    sent: bool,
    client: Vec<String>,
    server: Vec<String>,
    received: Vec<String>,
}

static TAGS: AtomicUsize = AtomicUsize::new(0);

/// Send one message from `client` to `server` and collect both sides'
/// normalised lines and (if delivered) the Received: header.
fn deliver(client: &Instance, server: &Instance) -> Delivery {
    let tag = format!(
        "shim-{}-{}",
        std::process::id(),
        TAGS.fetch_add(1, Ordering::Relaxed)
    );
    let (c0, s0) = (client.log_len(), server.log_len());
    client.inst.sendmail(
        &format!("s{}@client.peers.test", server.port),
        "test@peers.test",
        &tag,
    );
    let qid = client
        .inst
        .queue_id(&tag, WAIT)
        .unwrap_or_else(|| panic!("message {tag} not picked up; client log:\n{}", client.log()));
    let outcome = wait_for(WAIT, || {
        client.log().lines().find_map(|l| {
            (l.contains(&format!(" {qid}: to=<")) && l.contains("status="))
                .then(|| l.contains("status=sent"))
        })
    })
    .unwrap_or_else(|| {
        panic!(
            "no delivery attempt for {tag} within {WAIT:?}; client log:\n{}",
            client.log()
        )
    });
    // The server logs "disconnect from" after the client's QUIT (when the
    // client connected at all: "relay=none" means it did not).
    let connected = !client
        .log()
        .lines()
        .any(|l| l.contains(&format!(" {qid}: to=<")) && l.contains("relay=none"));
    if connected {
        let _ = wait_for(Duration::from_secs(10), || {
            server
                .lines("smtpd", s0)
                .iter()
                .any(|l| l.starts_with("disconnect from"))
                .then_some(())
        });
    }
    let received = if outcome {
        wait_for(WAIT, || {
            first_received(&server.dir.join("mail/Maildir/new"), &tag)
        })
        .unwrap_or_else(|| panic!("{tag} status=sent but not in the Maildir"))
    } else {
        vec![]
    };
    // Per process, not per session: the first delivery of a new smtp or
    // smtpd process logs its "initializing the ... TLS engine" line.
    let keep =
        |l: &String| !l.starts_with("mtatls-postfix: ") && !l.starts_with("initializing the ");
    // Up to this message's first outcome (a deferred one is retried).
    let mut client_lines = client.lines("smtp", c0);
    if let Some(i) = client_lines
        .iter()
        .position(|l| l.contains(&format!("{qid}: to=<")) && l.contains("status="))
    {
        client_lines.truncate(i + 1);
    }
    Delivery {
        sent: outcome,
        client: client_lines
            .iter()
            .filter(|l| keep(l))
            .map(|l| normalize(l))
            .collect(),
        server: server
            .lines("smtpd", s0)
            .iter()
            .filter(|l| keep(l))
            .map(|l| normalize(l))
            .collect(),
        received: received.iter().map(|l| normalize(l)).collect(),
    }
}

/// The first Received: header (with its continuation lines) of the
/// message with Subject `tag`.
fn first_received(maildir: &Path, tag: &str) -> Option<Vec<String>> {
    for e in fs::read_dir(maildir).ok()? {
        let text = fs::read_to_string(e.ok()?.path()).ok()?;
        if !text.contains(&format!("\nSubject: {tag}\n")) {
            continue;
        }
        let mut out = vec![];
        for l in text.lines() {
            if out.is_empty() {
                if l.starts_with("Received:") {
                    out.push(l.to_string());
                }
            } else if l.starts_with('\t') || l.starts_with(' ') {
                out.push(l.to_string());
            } else {
                break;
            }
        }
        return Some(out);
    }
    None
}

/// Replace what differs between runs by nature: queue ids, ports, delays,
/// the Received: date.
fn normalize(line: &str) -> String {
    let mut words = vec![];
    for w in line.split(' ') {
        if w.starts_with("delay=") || w.starts_with("delays=") {
            continue;
        }
        let core = w.trim_end_matches([':', ',', ')', ';']);
        let is_qid = (8..=12).contains(&core.len())
            && core
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
            && core.bytes().any(|b| b.is_ascii_alphabetic());
        if is_qid {
            words.push(format!("QID{}", &w[core.len()..]));
        } else {
            words.push(w.to_string());
        }
    }
    let mut s = words.join(" ");
    // 127.0.0.1]:PORT
    while let Some(i) = s
        .find("]:")
        .filter(|&i| s[i + 2..].starts_with(|c: char| c.is_ascii_digit()))
    {
        let end = s[i + 2..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(s.len(), |e| i + 2 + e);
        s = format!("{}]#PORT{}", &s[..i], &s[end..]);
    }
    s = s.replace("]#PORT", "]:PORT");
    // Session cache keys "SERVERID&HEX": the digest of the TLS settings
    // is computed differently (see compat/postfix/README.md).
    if let Some(i) = s.find('&') {
        let hex = s[i + 1..]
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if hex == 64 {
            s = format!("{}&DIGEST{}", &s[..i], &s[i + 65..]);
        }
    }
    // Server ticket key lifetimes (loglevel 2).
    if let Some(i) = s.find("key expiration: ") {
        s.truncate(i + "key expiration: ".len());
        s.push('T');
    }
    if let Some(i) = s.find("for <test@peers.test>;") {
        s.truncate(i + "for <test@peers.test>;".len());
    }
    pending_selector(&s)
}

/// Texts mtatls writes as Debian's 3.7.11 until the library has the
/// release selector `mtatls_postfix_release` (set by compat/postfix from
/// the running `mail_version` once the library knows it), and which the
/// selected release writes otherwise: (first release, what, the forms
/// that are mapped to one). While the library lacks the parameter, lines
/// are compared after this mapping (and each rule that made a difference
/// is listed as PENDING); with it, exactly.
const PENDING: &[(&str, &str, &[&str])] = &[
    (
        "3.10.0",
        "key-exchange: the TLS group's name (x25519), not the peer key's (X25519)",
        &["key-exchange X25519", "key-exchange x25519"],
    ),
    (
        "3.9.0",
        "peer certificate line: \"issuer=\", \"cert fingerprint=\", \"pkey fingerprint=\"",
        &[", issuer_CN=", ", issuer="],
    ),
    (
        "3.9.0",
        "peer certificate line: \"issuer=\", \"cert fingerprint=\", \"pkey fingerprint=\"",
        &[", fingerprint=", ", cert fingerprint="],
    ),
    (
        "3.9.0",
        "peer certificate line: \"issuer=\", \"cert fingerprint=\", \"pkey fingerprint=\"",
        &[", pkey_fingerprint=", ", pkey fingerprint="],
    ),
    (
        "3.9.0",
        "resumed untrusted session: \"re-using session with untrusted peer credential\"",
        &[
            "re-using session with untrusted certificate,",
            "re-using session with untrusted peer credential,",
        ],
    ),
];

/// Whether exact comparison waits for the release selector: the library
/// lacks it, and the selected release is not the one it imitates.
fn selector_pending() -> bool {
    static P: OnceLock<bool> = OnceLock::new();
    *P.get_or_init(|| {
        let r = Release::selected().expect("release");
        r.version != postfix::DEBIAN_RELEASE && !postfix::library_knows_release_param()
    })
}

thread_local! {
    /// No PENDING mapping in this test (the demo prints the real lines).
    static PENDING_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The PENDING rules that mapped a line in this test (its thread), and
    /// how many of them `same` printed.
    static PENDING_USED: std::cell::RefCell<(Vec<&'static str>, usize)> =
        const { std::cell::RefCell::new((Vec::new(), 0)) };
}

/// `line` with the PENDING differences of the selected release mapped
/// to one form (unchanged when nothing is pending).
fn pending_selector(line: &str) -> String {
    if !selector_pending() || PENDING_OFF.with(|o| o.get()) {
        return line.to_string();
    }
    let release = Release::selected().expect("release").numbers();
    let mut s = line.to_string();
    for (i, (since, what, forms)) in PENDING.iter().enumerate() {
        let mut n = since.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
        let since = (
            n.next().unwrap_or(0),
            n.next().unwrap_or(0),
            n.next().unwrap_or(0),
        );
        if release < since {
            continue;
        }
        let canonical = format!("<PENDING#{i}>");
        let mut hit = false;
        for f in *forms {
            if s.contains(f) {
                s = s.replace(f, &canonical);
                hit = true;
            }
        }
        if hit {
            PENDING_USED.with(|u| {
                let used = &mut u.borrow_mut().0;
                if !used.contains(what) {
                    used.push(what);
                }
            });
        }
    }
    s
}

#[track_caller]
fn same(what: &str, ours: &[String], theirs: &[String]) {
    // Each rule once per test, when it first made a difference.
    let new: Vec<&str> = PENDING_USED.with(|u| {
        let mut u = u.borrow_mut();
        let fresh = u.0[u.1..].to_vec();
        u.1 = u.0.len();
        fresh
    });
    for rule in new {
        eprintln!(
            "PENDING ({} until the library has {}) in {}: compared modulo {rule}",
            Release::selected().map(|r| r.version).unwrap_or_default(),
            postfix::RELEASE_PARAM,
            std::thread::current().name().unwrap_or("?")
        );
    }
    assert!(
        ours == theirs,
        "{what}: differs from Postfix's own library\n--- ours:\n{}\n--- Postfix's own:\n{}",
        ours.join("\n"),
        theirs.join("\n")
    );
}

/// Deliver over `ours` and over `theirs` and require the same outcome and
/// the same lines on both sides.
#[track_caller]
fn compare(
    case: &str,
    ours: (&Instance, &Instance),
    theirs: (&Instance, &Instance),
    expect_sent: bool,
) -> Delivery {
    let o = deliver(ours.0, ours.1);
    let t = deliver(theirs.0, theirs.1);
    let who = format!(
        "{case} [client {:?}, server {:?} vs client {:?}, server {:?}]",
        ours.0.lib, ours.1.lib, theirs.0.lib, theirs.1.lib
    );
    assert_eq!(
        t.sent, expect_sent,
        "{who}: the outcome on Postfix's own library: {t:#?}"
    );
    assert_eq!(o.sent, expect_sent, "{who}: our outcome: {o:#?}");
    same(&format!("{who}: smtp client lines"), &o.client, &t.client);
    same(&format!("{who}: smtpd lines"), &o.server, &t.server);
    same(
        &format!("{who}: Received: header"),
        &o.received,
        &t.received,
    );
    assert!(
        !expect_sent
            || o.client
                .iter()
                .chain(&o.server)
                .any(|l| l.contains(" TLS connection established ")),
        "{who}: no TLS summary line: {o:#?}"
    );
    eprintln!("ok: {who}:");
    for l in o
        .client
        .iter()
        .map(|l| ("smtp", l))
        .chain(o.server.iter().map(|l| ("smtpd", l)))
    {
        eprintln!("    {}: {}", l.0, l.1);
    }
    o
}

/// Both traces must show our library at work (MTATLS_POSTFIX_TRACE).
#[track_caller]
fn assert_ran_ours(inst: &Instance, daemon: &str, what: &str) {
    let lines = inst.lines(daemon, 0);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("mtatls-postfix: {what}"))),
        "{daemon} ({:?}) did not run our {what}; log:\n{}",
        inst.lib,
        inst.log()
    );
}

fn tls_text(certs: &Path, name: &str) -> String {
    fs::read_to_string(certs.join("tls").join(name))
        .expect("cert file")
        .trim()
        .to_string()
}

// ---------------------------------------------------------------------

/// The library exports exactly the symbols of the release's own
/// libpostfix-tls.so (140 for Debian's 3.7.11, 141 for 3.8.5, 157 for
/// 3.11.6 with TLSRPT; same data sizes; and mtatls's own `mtatls_*`),
/// the SONAME is libpostfix-tls.so, and every BIND_NOW binary resolves
/// against it; the preload shim references no Postfix symbol.
#[test]
fn shim_exports_every_symbol_and_loads_into_every_binary() {
    let Some(peers) = peers() else { return };
    let out = shim();
    let lib = out.join("libpostfix-tls.so");
    let nm = |args: &[&str], f: &Path| {
        let o = run_bounded(
            Command::new("nm").args(args).arg(f),
            Duration::from_secs(30),
        );
        assert!(o.status.success(), "nm failed: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let defined = |f: &Path| -> Vec<(String, String)> {
        nm(&["-D", "-S", "--defined-only"], f)
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.len() == 4).then(|| (w[3].to_string(), format!("{} {}", w[2], w[1])))
            })
            .collect()
    };
    let theirs = defined(&own_library(&peers));
    let ours = defined(&lib);
    assert!(
        theirs.len() >= 140,
        "{}: {} symbols?",
        own_library(&peers).display(),
        theirs.len()
    );
    for (name, _) in &ours {
        assert!(
            name.starts_with("mtatls_") || theirs.iter().any(|(n, _)| n == name),
            "{name} is exported, but not by Postfix {}'s library",
            peers.version
        );
    }
    eprintln!(
        "ok: {} symbols as Postfix {}'s library",
        theirs.len(),
        peers.version
    );
    for (name, kind) in &theirs {
        let mine = ours.iter().find(|(n, _)| n == name);
        let mine = mine.unwrap_or_else(|| panic!("{name} is not exported"));
        // Data objects: same size (copy relocations in postconf).
        if !kind.starts_with('T') {
            let size = |k: &str| {
                k.split(' ')
                    .nth(1)
                    .map(|s| u64::from_str_radix(s, 16).unwrap())
                    .unwrap()
            };
            assert_eq!(size(&mine.1), size(kind), "size of {name}");
        }
    }
    let o = run_bounded(
        Command::new("readelf").arg("-d").arg(&lib),
        Duration::from_secs(30),
    );
    let dynamic = text(&o);
    assert!(
        dynamic.contains("Library soname: [libpostfix-tls.so]"),
        "{dynamic}"
    );
    assert!(
        dynamic.contains("BIND_NOW") || dynamic.contains("NOW"),
        "{dynamic}"
    );
    let bins = [
        peers.daemon_dir.join("smtpd"),
        peers.daemon_dir.join("smtp"),
        peers.daemon_dir.join("tlsmgr"),
        peers.daemon_dir.join("tlsproxy"),
        peers.daemon_dir.join("postscreen"),
        peers.posttls_finger(),
        peers.postconf(),
    ];
    for path in &bins {
        let bin = path.display();
        let o = run_bounded(
            Command::new("ldd")
                .arg("-r")
                .arg(path)
                .env("LD_LIBRARY_PATH", out),
            Duration::from_secs(30),
        );
        let t = text(&o);
        assert!(o.status.success(), "ldd -r {bin}: {t}");
        assert!(!t.contains("undefined symbol"), "ldd -r {bin}: {t}");
        assert!(
            t.contains(&format!("libpostfix-tls.so => {}", lib.display())),
            "{bin} does not load ours: {t}"
        );
    }
    // postconf, which imports the var_tls_* data, runs the same.
    let pc = |env: bool| {
        let mut c = Command::new(peers.postconf());
        c.arg("-d").arg("-x");
        if env {
            c.env("LD_LIBRARY_PATH", out);
        }
        let o = run_bounded(&mut c, Duration::from_secs(30));
        assert!(o.status.success(), "postconf -d: {}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("process_id ="))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    same("postconf -d", &pc(true), &pc(false));
    // The preload shim: only the session calls of smtpd/smtp, and no
    // Postfix symbol needed at load time (it loads into every daemon).
    let pre = out.join("mtatls-postfix-preload.so");
    let names: Vec<String> = defined(&pre)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("tls_"))
        .collect();
    let mut want = vec![
        "tls_client_init",
        "tls_client_start",
        "tls_free_app_context",
        "tls_server_init",
        "tls_server_start",
        "tls_session_stop",
        "tls_update_app_logmask",
    ];
    want.sort();
    let mut got = names.clone();
    got.sort();
    assert_eq!(got, want, "preload exports");
    for f in [&lib, &pre] {
        let undefined = nm(&["-D", "--undefined-only"], f);
        for l in undefined.lines() {
            let name = l.split_whitespace().last().unwrap_or("");
            // libtlsrpt (3.10+ with TLSRPT) is not versioned.
            let tlsrpt = name.starts_with("tlsrpt_") && f == &lib;
            assert!(
                name.contains('@') || l.trim_start().starts_with('w') || tlsrpt,
                "{} needs {name} at load time",
                f.display()
            );
        }
    }
}

/// (a) A real smtpd on our library receives from the real smtp client (on
/// its own library) and from posttls-finger, exactly as a real smtpd on
/// its own library does: RSA, ECDSA, both, TLS 1.3 and 1.2, client
/// certificates (trusted, absent).
#[test]
fn smtpd_on_our_library_receives_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let tls12 = format!("smtpd_tls_protocols={TLS12}");
    let tls12m = format!("smtpd_tls_mandatory_protocols={TLS12}");
    let configs: Vec<(&str, Vec<&str>)> = vec![
        ("both", vec![]),
        ("rsa", vec!["smtpd_tls_chain_files=DIR/tls/server-rsa.pem"]),
        (
            "ecdsa",
            vec!["smtpd_tls_chain_files=DIR/tls/server-ecdsa.pem"],
        ),
        (
            "rsa-tls12",
            vec![
                "smtpd_tls_chain_files=DIR/tls/server-rsa.pem",
                &tls12,
                &tls12m,
            ],
        ),
        ("ccert", vec!["smtpd_tls_ask_ccert=yes"]),
    ];
    let mut pairs = vec![];
    for (name, params) in &configs {
        let ours = server(&peers, Lib::Ours, &certs, params);
        let theirs = server(&peers, Lib::Own, &certs, params);
        pairs.push((*name, ours, theirs));
    }
    let all: Vec<&Instance> = pairs.iter().flat_map(|(_, o, t)| [o, t]).collect();
    let plain = client(&peers, Lib::Own, &certs, &all, &[]);
    let with_cert = client(
        &peers,
        Lib::Own,
        &certs,
        &all,
        &["smtp_tls_chain_files=DIR/tls/client-rsa.pem"],
    );
    let tls12_client = client(
        &peers,
        Lib::Own,
        &certs,
        &all,
        &[
            &format!("smtp_tls_protocols={TLS12}"),
            "smtp_tls_ciphers=high",
            "smtp_tls_exclude_ciphers=aNULL",
        ],
    );
    for (name, ours, theirs) in &pairs {
        compare(
            &format!("smtpd {name}"),
            (&plain, ours),
            (&plain, theirs),
            true,
        );
    }
    let (_, ours_cc, theirs_cc) = &pairs[4];
    compare(
        "smtpd ccert, client certificate",
        (&with_cert, ours_cc),
        (&with_cert, theirs_cc),
        true,
    );
    let (_, ours_both, theirs_both) = &pairs[0];
    compare(
        "smtpd both, client forces TLS 1.2",
        (&tls12_client, ours_both),
        (&tls12_client, theirs_both),
        true,
    );
    assert_ran_ours(ours_both, "smtpd", "tls_server_start");

    // posttls-finger (its own library) at both servers.
    let finger = |port: u16, args: &[&str]| posttls_finger(&peers, port, args);
    let client_pem = certs.join("tls/client-rsa.pem").display().to_string();
    let fp_rsa = tls_text(&certs, "server-rsa.sha256");
    let finger_cases: Vec<(usize, Vec<&str>)> = vec![
        (0, vec!["-c", "-l", "may", "-L", "summary,peercert"]),
        (3, vec!["-c", "-l", "may", "-L", "summary"]),
        (
            1,
            vec![
                "-c",
                "-l",
                "fingerprint",
                "-L",
                "summary,certmatch",
                "--",
                &fp_rsa,
            ],
        ),
        (
            4,
            vec!["-c", "-l", "may", "-L", "summary", "-H", &client_pem],
        ),
    ];
    for (i, args) in &finger_cases {
        let (name, ours, theirs) = &pairs[*i];
        let (s_o, s_t) = (ours.log_len(), theirs.log_len());
        let fo = finger(ours.port, args);
        let ft = finger(theirs.port, args);
        let case = format!("posttls-finger {} at smtpd {name}", args.join(" "));
        same(&format!("{case}: posttls-finger output"), &fo, &ft);
        assert!(
            fo.iter()
                .any(|l| l.contains(" TLS connection established ")),
            "{case}: {fo:?}"
        );
        let server_tls = |inst: &Instance, from: usize| -> Vec<String> {
            wait_for(Duration::from_secs(10), || {
                let l = inst.lines("smtpd", from);
                l.iter()
                    .any(|l| l.starts_with("disconnect from"))
                    .then_some(l)
            })
            .unwrap_or_default()
            .iter()
            .filter(|l| !l.starts_with("mtatls-postfix: "))
            .map(|l| normalize(l))
            .collect()
        };
        same(
            &format!("{case}: smtpd lines"),
            &server_tls(ours, s_o),
            &server_tls(theirs, s_t),
        );
        eprintln!("ok: {case}");
    }
}

/// posttls-finger (on its own library) at 127.0.0.1:`port` with `args`:
/// its lines, normalised.
fn posttls_finger(peers: &Release, port: u16, args: &[&str]) -> Vec<String> {
    let mut cmd = postfix::posttls_finger_command(peers, port, args);
    postfix::run_posttls_finger(&mut cmd)
        .iter()
        .filter(|l| l.starts_with("posttls-finger: "))
        .map(|l| normalize(l))
        .collect()
}

/// The smtpd instances (on their own library) the client cases of one
/// test deliver to.
struct Targets(Vec<(&'static str, Instance)>);

impl Targets {
    fn get(&self, name: &str) -> &Instance {
        &self.0.iter().find(|(n, _)| *n == name).expect("target").1
    }
}

/// Start the named smtpd configurations (on their own library): both (RSA + ECDSA), rsa,
/// rsa12 (TLS 1.2 only), ccert (asks for client certificates), issued (a
/// certificate from the private CA).
fn targets(peers: &Release, certs: &Path, names: &[&'static str]) -> Targets {
    let tls12 = format!("smtpd_tls_protocols={TLS12}");
    let tls12m = format!("smtpd_tls_mandatory_protocols={TLS12}");
    let rsa = "smtpd_tls_chain_files=DIR/tls/server-rsa.pem";
    Targets(
        names
            .iter()
            .map(|n| {
                let params: Vec<&str> = match *n {
                    "both" => vec![],
                    "rsa" => vec![rsa],
                    "rsa12" => vec![rsa, &tls12, &tls12m],
                    "ccert" => vec!["smtpd_tls_ask_ccert=yes"],
                    "issued" => vec!["smtpd_tls_chain_files=DIR/tls/server-ca-issued.pem"],
                    other => panic!("unknown target {other}"),
                };
                (*n, server(peers, Lib::Own, certs, &params))
            })
            .collect(),
    )
}

/// (b) Run client `cases` (name, client params, target, delivered?) with
/// the smtp client on our library and on its own, to the same smtpd on
/// its own library
/// smtpd.
fn client_cases(
    peers: &Release,
    certs: &Path,
    t: &Targets,
    cases: &[(&str, Vec<&str>, &Instance, bool)],
) {
    let servers: Vec<&Instance> = t.0.iter().map(|(_, i)| i).collect();
    for (name, params, target, sent) in cases {
        let ours = client(peers, Lib::Ours, certs, &servers, params);
        let theirs = client(peers, Lib::Own, certs, &servers, params);
        compare(
            &format!("smtp {name}"),
            (&ours, target),
            (&theirs, target),
            *sent,
        );
        assert_ran_ours(
            &ours,
            "smtp",
            if *sent {
                "tls_client_start"
            } else {
                "tls_client_init"
            },
        );
    }
}

/// (b) smtp on our library, levels may and encrypt, RSA and ECDSA
/// servers, TLS 1.3 and TLS 1.2 (forced by either side).
#[test]
fn smtp_on_our_library_may_encrypt_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let t = targets(&peers, &certs, &["both", "rsa", "rsa12"]);
    let client_tls12 = format!("smtp_tls_protocols={TLS12}");
    let client_tls12m = format!("smtp_tls_mandatory_protocols={TLS12}");
    client_cases(
        &peers,
        &certs,
        &t,
        &[
            ("may, CAfile", vec![], t.get("both"), true),
            (
                "may, no CAfile",
                vec!["smtp_tls_CAfile="],
                t.get("both"),
                true,
            ),
            ("may, RSA server", vec![], t.get("rsa"), true),
            ("may, TLS 1.2 server", vec![], t.get("rsa12"), true),
            (
                "encrypt",
                vec!["smtp_tls_security_level=encrypt"],
                t.get("both"),
                true,
            ),
            (
                "encrypt, client forces TLS 1.2",
                vec!["smtp_tls_security_level=encrypt", &client_tls12m],
                t.get("both"),
                true,
            ),
            (
                "may, client forces TLS 1.2, high ciphers",
                vec![
                    &client_tls12,
                    "smtp_tls_ciphers=high",
                    "smtp_tls_exclude_ciphers=aNULL",
                ],
                t.get("rsa"),
                true,
            ),
            (
                "may, client forces TLS 1.2 (anonymous cipher)",
                vec![&client_tls12],
                t.get("rsa"),
                true,
            ),
            (
                "dane, IP-literal next hop",
                vec!["smtp_tls_security_level=dane"],
                t.get("both"),
                true,
            ),
            (
                "dane-only, IP-literal next hop",
                vec!["smtp_tls_security_level=dane-only"],
                t.get("both"),
                false,
            ),
        ],
    );
}

/// (b) smtp on our library at level fingerprint: certificate and public
/// key digests, a mismatch, a TLS 1.2 server.
#[test]
fn smtp_on_our_library_fingerprint_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let t = targets(&peers, &certs, &["both", "rsa12"]);
    let fp_rsa = format!(
        "smtp_tls_fingerprint_cert_match={}",
        tls_text(&certs, "server-rsa.sha256")
    );
    let fp_both = format!(
        "smtp_tls_fingerprint_cert_match={} {}",
        tls_text(&certs, "server-rsa.sha256"),
        tls_text(&certs, "server-ecdsa.sha256")
    );
    let spki_ec = format!(
        "smtp_tls_fingerprint_cert_match={}",
        tls_text(&certs, "server-ecdsa.spki-sha256")
    );
    let spki_rsa = format!(
        "smtp_tls_fingerprint_cert_match={}",
        tls_text(&certs, "server-rsa.spki-sha256")
    );
    client_cases(
        &peers,
        &certs,
        &t,
        &[
            (
                "fingerprint, certificates",
                vec!["smtp_tls_security_level=fingerprint", &fp_both],
                t.get("both"),
                true,
            ),
            (
                "fingerprint, public key",
                vec!["smtp_tls_security_level=fingerprint", &spki_ec],
                t.get("both"),
                true,
            ),
            (
                "fingerprint, mismatch",
                vec!["smtp_tls_security_level=fingerprint", &fp_rsa],
                t.get("both"),
                false,
            ),
            (
                "fingerprint, TLS 1.2 server",
                vec!["smtp_tls_security_level=fingerprint", &fp_rsa],
                t.get("rsa12"),
                true,
            ),
            (
                "fingerprint, public key, TLS 1.2 server",
                vec!["smtp_tls_security_level=fingerprint", &spki_rsa],
                t.get("rsa12"),
                true,
            ),
        ],
    );
}

/// (b) smtp on our library at levels secure and verify: CA file, trust
/// anchor file, name mismatches.
#[test]
fn smtp_on_our_library_secure_verify_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let t = targets(&peers, &certs, &["both", "rsa12", "issued"]);
    client_cases(
        &peers,
        &certs,
        &t,
        &[
            (
                "secure, CAfile",
                vec![
                    "smtp_tls_security_level=secure",
                    "smtp_tls_secure_cert_match=localhost",
                ],
                t.get("both"),
                true,
            ),
            (
                "secure, name mismatch",
                vec![
                    "smtp_tls_security_level=secure",
                    "smtp_tls_secure_cert_match=mismatch.example",
                ],
                t.get("both"),
                false,
            ),
            (
                "secure, trust-anchor file with the issuing CA",
                vec![
                    "smtp_tls_security_level=secure",
                    "smtp_tls_secure_cert_match=localhost",
                    "smtp_tls_CAfile=",
                    "smtp_tls_trust_anchor_file=DIR/tls/ca.crt",
                ],
                t.get("issued"),
                true,
            ),
            (
                "secure, trust-anchor file, name mismatch",
                vec![
                    "smtp_tls_security_level=secure",
                    "smtp_tls_secure_cert_match=mismatch.example",
                    "smtp_tls_CAfile=",
                    "smtp_tls_trust_anchor_file=DIR/tls/ca.crt",
                ],
                t.get("issued"),
                false,
            ),
            (
                "verify, CAfile with the issuing CA, host name is an IP address",
                vec![
                    "smtp_tls_security_level=verify",
                    "smtp_tls_CAfile=DIR/tls/ca.crt",
                ],
                t.get("issued"),
                false,
            ),
            (
                "verify, CAfile with the issuing CA, match localhost",
                vec![
                    "smtp_tls_security_level=verify",
                    "smtp_tls_CAfile=DIR/tls/ca.crt",
                    "smtp_tls_verify_cert_match=localhost",
                ],
                t.get("issued"),
                true,
            ),
            (
                "secure, TLS 1.2 server",
                vec![
                    "smtp_tls_security_level=secure",
                    "smtp_tls_secure_cert_match=localhost",
                ],
                t.get("rsa12"),
                true,
            ),
        ],
    );
}

/// (b) smtp on our library with a client certificate (RSA), to a server
/// that asks for one, and without one.
#[test]
fn smtp_on_our_library_client_certificates_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let t = targets(&peers, &certs, &["both", "ccert"]);
    client_cases(
        &peers,
        &certs,
        &t,
        &[
            (
                "client certificate",
                vec!["smtp_tls_chain_files=DIR/tls/client-rsa.pem"],
                t.get("ccert"),
                true,
            ),
            (
                "client certificate (cert/key files)",
                vec![
                    "smtp_tls_cert_file=DIR/tls/client-rsa.crt",
                    "smtp_tls_key_file=DIR/tls/client-rsa.key",
                ],
                t.get("ccert"),
                true,
            ),
            ("no client certificate, asked", vec![], t.get("ccert"), true),
            (
                "client certificate, not asked",
                vec!["smtp_tls_chain_files=DIR/tls/client-rsa.pem"],
                t.get("both"),
                true,
            ),
        ],
    );
}

/// (c) Both ends on our library, compared with both ends on their own.
#[test]
fn both_ends_on_our_library_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let ours_both = server(&peers, Lib::Ours, &certs, &[]);
    let theirs_both = server(&peers, Lib::Own, &certs, &[]);
    let ours_cc = server(&peers, Lib::Ours, &certs, &["smtpd_tls_ask_ccert=yes"]);
    let theirs_cc = server(&peers, Lib::Own, &certs, &["smtpd_tls_ask_ccert=yes"]);
    let servers = [&ours_both, &theirs_both, &ours_cc, &theirs_cc];
    let fp = format!(
        "smtp_tls_fingerprint_cert_match={}",
        tls_text(&certs, "server-ecdsa.spki-sha256")
    );
    let cases: Vec<(&str, Vec<&str>, usize)> = vec![
        ("may", vec![], 0),
        (
            "fingerprint, public key",
            vec!["smtp_tls_security_level=fingerprint", &fp],
            0,
        ),
        (
            "secure",
            vec![
                "smtp_tls_security_level=secure",
                "smtp_tls_secure_cert_match=localhost",
            ],
            0,
        ),
        (
            "client certificate",
            vec!["smtp_tls_chain_files=DIR/tls/client-rsa.pem"],
            2,
        ),
    ];
    for (name, params, i) in &cases {
        let ours = client(&peers, Lib::Ours, &certs, &servers, params);
        let theirs = client(&peers, Lib::Own, &certs, &servers, params);
        compare(
            &format!("both ends {name}"),
            (&ours, servers[*i]),
            (&theirs, servers[*i + 1]),
            true,
        );
    }
    assert_ran_ours(&ours_both, "smtpd", "tls_server_start");
    assert_ran_ours(&ours_cc, "smtpd", "tls_server_start");
}

/// (d) The LD_PRELOAD shim in every daemon of both instances (cleanup,
/// qmgr, tlsmgr, ... keep working), smtpd and smtp running our code next
/// to the release's library; compared with its own library at both ends.
#[test]
fn preload_shim_at_both_ends_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let ours = server(&peers, Lib::Preload, &certs, &["smtpd_tls_ask_ccert=yes"]);
    let theirs = server(&peers, Lib::Own, &certs, &["smtpd_tls_ask_ccert=yes"]);
    let servers = [&ours, &theirs];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("may", vec![]),
        (
            "secure, client certificate",
            vec![
                "smtp_tls_security_level=secure",
                "smtp_tls_secure_cert_match=localhost",
                "smtp_tls_chain_files=DIR/tls/client-rsa.pem",
            ],
        ),
    ];
    for (name, params) in &cases {
        let c_ours = client(&peers, Lib::Preload, &certs, &servers, params);
        let c_theirs = client(&peers, Lib::Own, &certs, &servers, params);
        compare(
            &format!("preload {name}"),
            (&c_ours, &ours),
            (&c_theirs, &theirs),
            true,
        );
        assert_ran_ours(&c_ours, "smtp", "tls_client_start");
    }
    assert_ran_ours(&ours, "smtpd", "tls_server_start");
    // Connection reuse: smtp hands TLS to tlsproxy(8), where the preload
    // shim passes every call on to the release's library.
    let c_ours = client(
        &peers,
        Lib::Preload,
        &certs,
        &servers,
        &["smtp_tls_connection_reuse=yes"],
    );
    let c_theirs = client(
        &peers,
        Lib::Own,
        &certs,
        &servers,
        &["smtp_tls_connection_reuse=yes"],
    );
    c_ours.add_tlsproxy();
    c_theirs.add_tlsproxy();
    compare(
        "preload, connection reuse via tlsproxy",
        (&c_ours, &ours),
        (&c_theirs, &theirs),
        true,
    );
    let log = ours.log();
    assert!(!log.contains("fatal:") && !log.contains("panic:"), "{log}");
}

/// posttls-finger on our library prints what it prints on its own
/// (summary, peer certificate, certificate chain from `con`, a reconnect
/// that resumes through posttls-finger's own tls_mgr cache, secure and
/// fingerprint levels); what needs OpenSSL's `SSL *` driven by Postfix
/// itself (tlsproxy, connection reuse) fails with a warning saying why,
/// and tlsmgr runs on our library; nothing crashes.
#[test]
fn posttls_finger_tlsmgr_tlsproxy_on_our_library() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let target = server(&peers, Lib::Own, &certs, &[]);
    let finger = |ours: bool, args: &[&str]| -> Vec<String> {
        let mut cmd = postfix::posttls_finger_command(&peers, target.port, args);
        if ours {
            cmd.env("LD_LIBRARY_PATH", shim());
        }
        postfix::run_posttls_finger(&mut cmd)
            .iter()
            .map(|l| normalize(l))
            .collect()
    };
    let ca = certs.join("tls/server-cas.pem").display().to_string();
    let fp = tls_text(&certs, "server-ecdsa.spki-sha256");
    for args in [
        vec!["-c", "-l", "may", "-L", "summary,peercert"],
        vec!["-c", "-C", "-l", "may", "-L", "summary"],
        vec!["-c", "-r", "1", "-l", "may", "-L", "summary"],
        vec![
            "-c",
            "-l",
            "secure",
            "-L",
            "summary,certmatch",
            "-F",
            &ca,
            "--",
            "localhost",
        ],
        vec![
            "-c",
            "-l",
            "fingerprint",
            "-L",
            "summary,certmatch",
            "--",
            &fp,
        ],
        vec!["-l", "may", "-L", "summary"],
    ] {
        let (o, t) = (finger(true, &args), finger(false, &args));
        same(
            &format!("posttls-finger {} on our library", args.join(" ")),
            &o,
            &t,
        );
        assert!(
            o.iter().any(|l| l.contains(" TLS connection established ")),
            "{o:?}"
        );
        eprintln!("ok: posttls-finger {}", args.join(" "));
    }

    // smtp_tls_connection_reuse = yes needs tlsproxy: a warning, deferred.
    let reuse = client(
        &peers,
        Lib::Ours,
        &certs,
        &[&target],
        &["smtp_tls_connection_reuse=yes"],
    );
    let d = deliver(&reuse, &target);
    assert!(
        !d.sent,
        "connection reuse cannot work without tlsproxy: {d:#?}"
    );
    let log = reuse.log();
    assert!(
        log.contains("warning: tls_proxy_open: ") && log.contains("smtp_tls_connection_reuse = no"),
        "no warning saying why:\n{log}"
    );

    // tlsmgr and tlsproxy started by master on our library.
    let ours = server(
        &peers,
        Lib::Ours,
        &certs,
        &["smtpd_tls_session_cache_database=btree:DIR/data/smtpd_scache"],
    );
    ours.add_tlsproxy();
    ours.poke("tlsmgr");
    ours.poke("tlsproxy");
    let log = wait_for(WAIT, || {
        let l = ours.log();
        (l.contains("postfix/tlsproxy[") && l.contains("postfix/tlsmgr[")).then_some(l)
    })
    .unwrap_or_else(|| panic!("tlsmgr/tlsproxy did not run:\n{}", ours.log()));
    assert!(
        log.contains("tlsproxy(8) drives OpenSSL's SSL object directly"),
        "{log}"
    );
    assert!(log.contains("session cache btree:"), "{log}");
    for inst in [&reuse, &ours] {
        let log = inst.log();
        for bad in ["panic:", "fatal:", "signal ", "status 1"] {
            assert!(!log.contains(bad), "{bad} in {:?} log:\n{log}", inst.lib);
        }
    }
    // The smtpd on our library still works next to them.
    let c = client(&peers, Lib::Own, &certs, &[&ours], &[]);
    assert!(deliver(&c, &ours).sent);
}

/// A TLS client (Python's ssl over a plain socket) that completes
/// STARTTLS, then sends one TLS record ("EHLO drip.test") one byte every
/// DELAY seconds, and prints the first reply line or EOF.
const DRIP_PY: &str = r#"import socket, ssl, sys, time
port, delay = int(sys.argv[1]), float(sys.argv[2])
s = socket.create_connection(('127.0.0.1', port)); s.settimeout(30)
f = s.makefile('rb')
def reply():
    while True:
        l = f.readline()
        if not l or l[3:4] == b' ': return l
reply(); s.sendall(b'EHLO drip.test\r\n'); reply()
s.sendall(b'STARTTLS\r\n'); reply()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
t = ctx.wrap_bio(inc, out)
while True:
    try:
        t.do_handshake(); break
    except ssl.SSLWantReadError:
        d = out.read()
        if d: s.sendall(d)
        inc.write(s.recv(65536))
d = out.read()
if d: s.sendall(d)
t.write(b'EHLO drip.test\r\n')
rec = out.read()
start = time.time()
for i, b in enumerate(rec):
    try:
        s.sendall(bytes([b]))
    except OSError:
        break
    time.sleep(delay)
# the answer, or EOF
try:
    data = s.recv(65536)
    while data:
        inc.write(data)
        try:
            print(t.read().decode(errors='replace').splitlines()[0]); break
        except ssl.SSLWantReadError:
            data = s.recv(65536)
    else:
        print('EOF')
except (OSError, ssl.SSLError) as e:
    print('error', e)
print('elapsed %.1f' % (time.time() - start))
s.close()
"#;

/// What smtpd logs for one raw client connection (normalised).
fn raw_session(server: &Instance, client: impl FnOnce(u16)) -> Vec<String> {
    let from = server.log_len();
    client(server.port);
    wait_for(Duration::from_secs(20), || {
        let l = server.lines("smtpd", from);
        l.iter()
            .any(|l| l.starts_with("disconnect from"))
            .then_some(l)
    })
    .unwrap_or_else(|| panic!("no disconnect logged; log:\n{}", server.log()))
    .iter()
    .filter(|l| !l.starts_with("mtatls-postfix: "))
    .map(|l| normalize(l))
    .collect()
}

/// Plain SMTP up to "220 Ready to start TLS"; returns the socket.
fn starttls(port: u16) -> std::net::TcpStream {
    use std::io::{BufRead, BufReader};
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut reply = || loop {
        let mut l = String::new();
        r.read_line(&mut l).expect("read");
        if l.len() < 4 || &l[3..4] == " " {
            break;
        }
    };
    reply();
    (&s).write_all(b"EHLO raw.test\r\n").expect("write");
    reply();
    (&s).write_all(b"STARTTLS\r\n").expect("write");
    reply();
    s
}

/// The VSTREAM contract of POSTFIX-ABI §6 seen from outside, compared with
/// the release's own library: handshake timeout, garbage, a client that hangs up,
/// the read timeout after the handshake (ETIMEDOUT: "timeout after", not
/// "lost connection"), and a client dripping one TLS record byte by byte:
/// with `smtpd_per_record_deadline = yes` the timeout is a budget for the
/// whole read (timeout), without it a limit per wait (served).
#[test]
fn smtpd_timeouts_and_errors_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let base = ["smtpd_starttls_timeout=2s", "smtpd_timeout=3s"];
    let deadline = [
        "smtpd_starttls_timeout=2s",
        "smtpd_timeout=3s",
        "smtpd_per_record_deadline=yes",
    ];
    let pairs = [
        (
            "per-wait timeouts",
            server(&peers, Lib::Ours, &certs, &base),
            server(&peers, Lib::Own, &certs, &base),
        ),
        (
            "deadlines",
            server(&peers, Lib::Ours, &certs, &deadline),
            server(&peers, Lib::Own, &certs, &deadline),
        ),
    ];
    let py = unique("drip.py");
    fs::write(&py, DRIP_PY).expect("write drip.py");
    let drip = |port: u16| {
        let o = run_bounded(
            Command::new("python3")
                .arg(&py)
                .arg(port.to_string())
                .arg("0.25"),
            Duration::from_secs(60),
        );
        text(&o)
    };
    type Case<'a> = (&'a str, Box<dyn Fn(u16) + 'a>);
    let cases: Vec<Case> = vec![
        (
            "silence after STARTTLS",
            Box::new(|p| {
                let s = starttls(p);
                std::thread::sleep(Duration::from_secs(4));
                drop(s);
            }),
        ),
        (
            "garbage after STARTTLS",
            Box::new(|p| {
                let s = starttls(p);
                let _ = (&s).write_all(b"GARBAGE GARBAGE\r\n");
                std::thread::sleep(Duration::from_secs(1));
            }),
        ),
        ("hang-up after STARTTLS", Box::new(|p| drop(starttls(p)))),
        (
            "silence after the handshake",
            Box::new(|p| {
                let o = run_bounded(
                Command::new("bash").arg("-c").arg(format!(
                    "sleep 6 | timeout 10 openssl s_client -starttls smtp -connect 127.0.0.1:{p} -quiet"
                )),
                Duration::from_secs(20),
            );
                let _ = o;
            }),
        ),
    ];
    for (what, ours, theirs) in &pairs {
        for (name, case) in &cases {
            let o = raw_session(ours, case);
            let t = raw_session(theirs, case);
            same(&format!("{what}: {name}: smtpd lines"), &o, &t);
            eprintln!(
                "ok: {what}: {name}: {}",
                o.iter()
                    .find(|l| l.contains("TLS") || l.contains("timeout"))
                    .map_or("", String::as_str)
            );
        }
        let python = Command::new("python3")
            .args(["-c", "import ssl"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        if !python {
            assert!(
                !required(),
                "python3 with ssl is needed for the dripping client"
            );
            eprintln!("SKIPPED (dripping client): python3 with ssl is not installed");
            continue;
        }
        let mut outs = vec![];
        let o = raw_session(ours, |p| outs.push(drip(p)));
        let t = raw_session(theirs, |p| outs.push(drip(p)));
        same(&format!("{what}: dripping client: smtpd lines"), &o, &t);
        let first = |x: &str| x.lines().next().unwrap_or("").to_string();
        assert_eq!(
            first(&outs[0]),
            first(&outs[1]),
            "{what}: dripping client saw: {outs:?}"
        );
        // 3.10+ smtpd writes "NOQUEUE: timeout after STARTTLS ..."
        let timed_out = o.iter().any(|l| l.contains("timeout after STARTTLS"));
        assert_eq!(timed_out, *what == "deadlines", "{what}: {o:?}");
        eprintln!("ok: {what}: dripping client: {}", first(&outs[0]));
    }
    let _ = fs::remove_file(&py);
}

/// Loglevel 2 (verbose library lines, OpenSSL state lines, certificate
/// lines, session tickets) on both sides, with client certificates.
#[test]
fn loglevel_2_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let sp = ["smtpd_tls_loglevel=2", "smtpd_tls_ask_ccert=yes"];
    let ours = server(&peers, Lib::Ours, &certs, &sp);
    let theirs = server(&peers, Lib::Own, &certs, &sp);
    let servers = [&ours, &theirs];
    let cp = [
        "smtp_tls_loglevel=2",
        "smtp_tls_chain_files=DIR/tls/client-rsa.pem",
        "smtp_tls_security_level=secure",
        "smtp_tls_secure_cert_match=localhost",
    ];
    let c_theirs = client(&peers, Lib::Own, &certs, &servers, &cp);
    let c_ours = client(&peers, Lib::Ours, &certs, &servers, &cp);
    compare(
        "loglevel 2, smtpd on ours",
        (&c_theirs, &ours),
        (&c_theirs, &theirs),
        true,
    );
    compare(
        "loglevel 2, smtp on ours",
        (&c_ours, &theirs),
        (&c_theirs, &theirs),
        true,
    );
    compare(
        "loglevel 2, both ends on ours",
        (&c_ours, &ours),
        (&c_theirs, &theirs),
        true,
    );
    for (inst, daemon, line) in [
        (&ours, "smtpd", "initializing the server-side TLS engine"),
        (&c_ours, "smtp", "initializing the client-side TLS engine"),
    ] {
        assert!(
            inst.lines(daemon, 0).iter().any(|l| l == line),
            "{daemon}: no \"{line}\""
        );
    }
}

/// Keys and CAs are read in the init calls (as root, before chroot):
/// smtpd and smtp chrooted into the queue directory work on our library
/// as on their own.
#[test]
fn chrooted_daemons_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let sp = ["smtpd_tls_ask_ccert=yes"];
    let ours = server(&peers, Lib::Ours, &certs, &sp);
    let theirs = server(&peers, Lib::Own, &certs, &sp);
    ours.chroot("smtpd");
    theirs.chroot("smtpd");
    let servers = [&ours, &theirs];
    let cp = [
        "smtp_tls_chain_files=DIR/tls/client-rsa.pem",
        "smtp_tls_security_level=secure",
        "smtp_tls_secure_cert_match=localhost",
    ];
    let c_ours = client(&peers, Lib::Ours, &certs, &servers, &cp);
    let c_theirs = client(&peers, Lib::Own, &certs, &servers, &cp);
    c_ours.chroot("smtp");
    c_theirs.chroot("smtp");
    let d = compare(
        "chrooted smtp and smtpd",
        (&c_ours, &ours),
        (&c_theirs, &theirs),
        true,
    );
    // Chrooted without /etc/hosts, smtpd cannot name 127.0.0.1.
    assert!(
        d.server
            .iter()
            .any(|l| l == "connect from unknown[127.0.0.1]"),
        "{d:#?}"
    );
    assert_ran_ours(&ours, "smtpd", "tls_server_start");
    assert_ran_ours(&c_ours, "smtp", "tls_client_start");
}

/// smtpd with `smtpd_tls_req_ccert = yes` at level encrypt: a trusted
/// client certificate is accepted; none, or one the CA file does not
/// trust, is refused, as with Postfix's own library.
#[test]
fn smtpd_requires_client_certificates_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let sp = [
        "smtpd_tls_security_level=encrypt",
        "smtpd_tls_req_ccert=yes",
    ];
    let ours = server(&peers, Lib::Ours, &certs, &sp);
    let theirs = server(&peers, Lib::Own, &certs, &sp);
    let servers = [&ours, &theirs];
    for (name, params, sent) in [
        (
            "trusted client certificate",
            vec!["smtp_tls_chain_files=DIR/tls/client-rsa.pem"],
            true,
        ),
        ("no client certificate", vec![], false),
        (
            "untrusted client certificate",
            vec!["smtp_tls_chain_files=DIR/tls/server-rsa.pem"],
            false,
        ),
    ] {
        let c = client(&peers, Lib::Own, &certs, &servers, &params);
        compare(
            &format!("smtpd requires client certificates, {name}"),
            (&c, &ours),
            (&c, &theirs),
            sent,
        );
    }
}

/// A self-signed server certificate listed in `smtp_tls_trust_anchor_file`:
/// Postfix's own library matches it as DANE-EE(3) as well as DANE-TA(2) and
/// delivers; so does mtatls (trust anchors are added as both).
#[test]
fn smtp_secure_with_self_signed_trust_anchor() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let both = server(&peers, Lib::Own, &certs, &[]);
    let params = [
        "smtp_tls_security_level=secure",
        "smtp_tls_secure_cert_match=localhost",
        "smtp_tls_CAfile=",
        "smtp_tls_trust_anchor_file=DIR/tls/server-ta.pem",
    ];
    let ours = client(&peers, Lib::Ours, &certs, &[&both], &params);
    let theirs = client(&peers, Lib::Own, &certs, &[&both], &params);
    compare(
        "smtp secure, self-signed trust anchors",
        (&ours, &both),
        (&theirs, &both),
        true,
    );
}

/// Session tickets across smtpd processes: with `max_use = 1` each
/// connection gets a new smtpd process, so posttls-finger's reconnection
/// (`-r 1`, its own session cache) resumes only when the processes share
/// tlsmgr(8)'s ticket key. Postfix's own library and the LD_PRELOAD shim
/// (whose smtpd gets the key from Postfix's `tls_mgr_key` and installs it with
/// mtatls's ticket-key API) resume, with the same lines; the full
/// replacement, whose tlsmgr client is a stub, keeps per-process keys and
/// does not (a documented difference).
#[test]
fn smtpd_ticket_keys_from_tlsmgr_like_postfix() {
    let Some(peers) = peers() else { return };
    shim();
    let certs = certs(&peers);
    let sp = ["max_use=1", "smtpd_tls_loglevel=2"];
    let finger = |port: u16| {
        posttls_finger(
            &peers,
            port,
            &["-c", "-r", "1", "-l", "may", "-L", "summary,cache"],
        )
    };
    let reused = |lines: &[String]| lines.iter().any(|l| l.ends_with(": Reusing old session"));
    let mut outputs = vec![];
    for lib in [Lib::Own, Lib::Preload, Lib::Ours] {
        let inst = server(&peers, lib, &certs, &sp);
        let out = finger(inst.port);
        let smtpd = wait_for(Duration::from_secs(10), || {
            let l = inst.lines("smtpd", 0);
            (l.iter()
                .filter(|l| l.starts_with("disconnect from"))
                .count()
                >= 2)
                .then_some(l)
        })
        .unwrap_or_else(|| inst.lines("smtpd", 0));
        let ticketed = smtpd
            .iter()
            .any(|l| l.ends_with("Reusing old session (RFC 5077 session ticket)"));
        eprintln!(
            "{lib:?}: client reused: {}, smtpd: {ticketed}",
            reused(&out)
        );
        assert_eq!(
            (reused(&out), ticketed),
            (lib != Lib::Ours, lib != Lib::Ours),
            "{lib:?}: resumption across smtpd processes\n  posttls-finger:\n    {}\n  smtpd:\n    {}",
            out.join("\n    "),
            smtpd.join("\n    ")
        );
        if lib == Lib::Preload {
            assert!(
                inst.log()
                    .contains("mtatls-postfix: session ticket key from tlsmgr installed"),
                "the preload shim did not take tlsmgr's key"
            );
        }
        outputs.push((lib, out));
    }
    same(
        "posttls-finger -r at smtpd, preload shim vs Postfix's own library",
        &outputs[1].1,
        &outputs[0].1,
    );
}

/// `make -C compat/postfix demo`: one message from the release's real smtp(8)
/// to its real smtpd(8), both daemons loading our libpostfix-tls.so,
/// printing both daemons' TLS lines and the delivered Received: header.
#[test]
fn demo_message_between_real_daemons_on_our_library() {
    let Some(peers) = peers() else { return };
    PENDING_OFF.with(|o| o.set(true));
    shim();
    let certs = certs(&peers);
    let server = server(&peers, Lib::Ours, &certs, &[]);
    let client = client(&peers, Lib::Ours, &certs, &[&server], &[]);
    let d = deliver(&client, &server);
    println!(
        "== smtp(8) (client), Postfix {}, on our library",
        peers.version
    );
    for l in &d.client {
        println!("smtp: {l}");
    }
    println!("== smtpd(8) (server), on our library");
    for l in &d.server {
        println!("smtpd: {l}");
    }
    println!("== the delivered message's Received: header");
    for l in &d.received {
        println!("{l}");
    }
    assert!(d.sent, "the message was not delivered: {d:?}");
    for lines in [&d.client, &d.server] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains("TLS connection established")),
            "{d:?}"
        );
    }
    assert!(
        d.received.iter().any(|l| l.contains("(using TLSv1.")),
        "{d:?}"
    );
    assert_ran_ours(&server, "smtpd", "tls_server_start");
    assert_ran_ours(&client, "smtp", "tls_client_start");
}

// ---------------------------------------------------------------------
// TLSRPT (Postfix 3.10 and later, built with libtlsrpt)

/// Whether the release's own library reports TLSRPT (links libtlsrpt).
fn release_has_tlsrpt(peers: &Release) -> bool {
    let o = run_bounded(
        Command::new("readelf").arg("-d").arg(own_library(peers)),
        Duration::from_secs(30),
    );
    text(&o).contains("[libtlsrpt.so")
}

/// TLSRPT through our library (3.10+ with libtlsrpt), full replacement
/// and LD_PRELOAD shim (whose engine reports through the release's own
/// `trw_*`): Postfix's smtp(8)
/// with `smtp_tlsrpt_enable = yes` reports to a real tlsrpt-collectd, for
/// a delivery that succeeds (level may) and three that fail verification
/// (level secure: a self-signed server certificate, the engine's TLSRPT
/// validation-failure "self-signed_certificate"; and a chain to a trust
/// anchor with the wrong name, smtp's certificate-host-mismatch; and an
/// STS policy in the policy table that signals a failure, forcing the
/// verification failure that is reported as sts-policy-invalid), exactly
/// what it reports on its own library: the same smtp lines (with the "TLSRPT: status=..."
/// ones) and the same rows in tlsrpt-collectd's database.
///
/// Postfix looks up the next hop's `_smtp._tls` TXT policy (and reports
/// only for a domain next hop): dnsmasq on a loopback address answers the
/// domains' MX, A (127.0.0.1) and TXT records, and the client instance's
/// master(8) runs in a mount namespace whose /etc/resolv.conf names it
/// (the machine's resolver is untouched); the port is in the next hop
/// (`smtp:DOMAIN:PORT`).
#[test]
fn tlsrpt_reports_like_postfix() {
    let Some(peers) = peers() else { return };
    if !release_has_tlsrpt(&peers) {
        eprintln!(
            "SKIPPED (TLSRPT): {} is not linked with libtlsrpt",
            own_library(&peers).display()
        );
        return;
    }
    let missing: Vec<&str> = [
        (
            "MTATLS_DNSMASQ",
            "dnsmasq",
            "dnsmasq (apt-get install dnsmasq-base)",
        ),
        (
            "MTATLS_TLSRPT_COLLECTD",
            "tlsrpt-collectd",
            "tlsrpt-collectd (pip install tlsrpt-reporter)",
        ),
        ("", "unshare", "unshare (util-linux)"),
        ("", "python3", "python3"),
    ]
    .iter()
    .filter(|(var, name, _)| tool(var, name).is_none())
    .map(|(_, _, why)| *why)
    .collect();
    if !missing.is_empty() {
        let why = format!("TLSRPT peers missing: {}", missing.join(", "));
        assert!(
            !required() && !common::required("MTATLS_REQUIRE_TLSRPT"),
            "{why}"
        );
        eprintln!("SKIPPED (TLSRPT): {why}");
        return;
    }
    shim();
    let certs = certs(&peers);
    // Removed when the test ends, also on failure (after the daemons
    // that write into it, declared later, are stopped).
    let dir = Certs(unique("tlsrpt"));
    fs::create_dir_all(&*dir).expect("mkdir");
    let mode = |p: &Path, m: u32| {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(p, fs::Permissions::from_mode(m)).expect("chmod");
    };
    // smtp (user postfix) sends to the collector's socket in here.
    mode(&dir, 0o755);
    let (ok, bad, mismatch, sts) = (
        "ok.tlsrpt.test",
        "bad.tlsrpt.test",
        "mismatch.tlsrpt.test",
        "sts.tlsrpt.test",
    );
    let (_dns, dns_addr) = dns_server(&dir, &[ok, bad, mismatch, sts]);
    let resolv = dir.join("resolv.conf");
    fs::write(
        &resolv,
        format!("nameserver {dns_addr}\noptions attempts:2 timeout:2\n"),
    )
    .expect("resolv.conf");
    mode(&resolv, 0o644);

    let server = server(
        &peers,
        Lib::Own,
        &certs,
        &[&format!("virtual_mailbox_domains=peers.test {ok} {bad}")],
    );
    let port = server.port;
    // A certificate from the private CA (CN localhost), for the host name
    // mismatch.
    let issued = self::server(
        &peers,
        Lib::Own,
        &certs,
        &["smtpd_tls_chain_files=DIR/tls/server-ca-issued.pem"],
    );
    let mut outcomes = vec![];
    for (lib, name) in [
        (Lib::Own, "own"),
        (Lib::Ours, "ours"),
        (Lib::Preload, "preload"),
    ] {
        let (collector, sock, db) = collectd(&dir, name);
        let params: Vec<String> = vec![
            "relayhost=".into(),
            format!(
                "transport_maps=inline:{{{ok}=smtp:{ok}:{port}, {bad}=smtp:{bad}:{port}, {mismatch}=smtp:{mismatch}:{}, {sts}=smtp:{sts}:{port}}}",
                issued.port
            ),
            "smtp_tls_security_level=may".into(),
            "smtp_tls_CAfile=".into(),
            // Keyed by the next hop, port included. The mismatch: a chain
            // to the trust anchor, but not the next hop's name. The STS
            // policy (as an MTA-STS plugin would return it) signals a
            // failure: verification must fail, reported as that type.
            format!(
                "smtp_tls_policy_maps=inline:{{{{{bad}:{port}=secure}}, {{{mismatch}:{}=secure tafile=DIR/tls/ca.crt}}, {{{sts}:{port}=secure policy_type=sts policy_domain={sts} policy_string=version:STSv1 policy_string=mode:enforce mx_host_pattern=mx.{sts} policy_failure=sts-policy-invalid}}}}",
                issued.port
            ),
            "smtp_tlsrpt_enable=yes".into(),
            format!("smtp_tlsrpt_socket_name={}", sock.display()),
            "smtp_tlsrpt_skip_reused_handshakes=no".into(),
            "daemon_directory=DIR/libexec".into(),
            // One delivery attempt each within the test.
            "queue_run_delay=300s".into(),
            "minimal_backoff_time=300s".into(),
            "maximal_backoff_time=600s".into(),
        ];
        let real_dir = peers.daemon_dir.clone();
        let resolv = resolv.clone();
        let client = Instance::start_with(
            &peers,
            Role::Client { relay_port: port },
            lib,
            &certs,
            &params,
            // DIR/libexec: the release's daemons, master(8) wrapped.
            move |d| namespaced_daemons(&d.join("libexec"), &real_dir, &resolv),
        );
        let mut lines = vec![];
        for (rcpt, want_sent) in [(ok, true), (bad, false), (mismatch, false), (sts, false)] {
            let tag = format!(
                "tlsrpt-{}-{}",
                std::process::id(),
                TAGS.fetch_add(1, Ordering::Relaxed)
            );
            let from = client.log_len();
            client
                .inst
                .sendmail("sender@client.peers.test", &format!("user@{rcpt}"), &tag);
            let qid = client
                .inst
                .queue_id(&tag, WAIT)
                .unwrap_or_else(|| panic!("{tag} not picked up:\n{}", client.log()));
            let sent = client.inst.outcome(&qid, Duration::from_secs(60));
            assert_eq!(
                sent,
                Some(want_sent),
                "{name}: delivery to {rcpt}:\n{}",
                client.log()
            );
            let mut l: Vec<String> = client
                .lines("smtp", from)
                .iter()
                .filter(|l| !l.starts_with("mtatls-postfix: "))
                .map(|l| normalize(l))
                .collect();
            if let Some(i) = l.iter().position(|l| l.contains(" to=<")) {
                l.truncate(i + 1);
            }
            assert!(
                l.iter().any(|l| l.starts_with("TLSRPT: status=")),
                "{name}: no TLSRPT line for {rcpt}:\n{}",
                client.log()
            );
            lines.push(l);
        }
        if lib != Lib::Own {
            assert_ran_ours(&client, "smtp", "tls_client_start");
        }
        // Both reports stored (one datagram each).
        let total = |rows: &[String]| -> usize {
            rows.iter()
                .filter(|r| r.starts_with("finalresults"))
                .filter_map(|r| {
                    let w: Vec<&str> = r.trim_end_matches(')').rsplit(", ").collect();
                    w.get(1)?.parse::<usize>().ok()
                })
                .sum()
        };
        let rows = wait_for(WAIT, || {
            let rows = tlsrpt_rows(&db);
            (total(&rows) >= 4).then_some(rows)
        })
        .unwrap_or_else(|| {
            panic!(
                "{name}: tlsrpt-collectd did not store 4 reports: {:?}\n{}\nclient log:\n{}",
                tlsrpt_rows(&db),
                collectd_log(&dir, name),
                client.log()
            )
        });
        drop(client);
        drop(collector);
        outcomes.push((name, lines, rows));
    }
    let own = &outcomes[0];
    for ours in &outcomes[1..] {
        for (i, what) in [
            "success (may)",
            "failure (secure, self-signed)",
            "failure (secure, trust anchor, name mismatch)",
            "failure (secure, STS policy failure)",
        ]
        .iter()
        .enumerate()
        {
            same(
                &format!("TLSRPT {what} ({}): smtp lines", ours.0),
                &ours.1[i],
                &own.1[i],
            );
        }
        same(
            &format!("TLSRPT ({}): tlsrpt-collectd rows", ours.0),
            &ours.2,
            &own.2,
        );
    }
    let ours = &outcomes[1];
    let rows = &ours.2;
    let want = [
        format!("finalresults ('{ok}', 'v=TLSRPTv1; rua=mailto:tlsrpt@{ok}', '{{\"policy-type\": 9, \"policy-domain\": \"{ok}\"}}', 1, 0)"),
        format!("finalresults ('{bad}', 'v=TLSRPTv1; rua=mailto:tlsrpt@{bad}', '{{\"policy-type\": 9, \"policy-domain\": \"{bad}\"}}', 1, 1)"),
        format!("finalresults ('{mismatch}', 'v=TLSRPTv1; rua=mailto:tlsrpt@{mismatch}', '{{\"policy-type\": 9, \"policy-domain\": \"{mismatch}\"}}', 1, 1)"),
    ];
    for w in &want {
        assert!(rows.contains(w), "no {w} in {rows:#?}");
    }
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("failures ('{bad}'"))
                && r.contains("\"c\": 205")
                && r.contains("\"f\": \"self-signed_certificate\"")
                && r.contains(&format!("\"n\": \"mx.{bad}\""))),
        "no validation-failure detail: {rows:#?}"
    );
    // From 3.10.4/3.11.0 a trusted chain with a host name mismatch is a
    // host mismatch (smtp's report); before, an untrusted certificate.
    let code = if peers.numbers() >= (3, 10, 4) {
        202
    } else {
        203
    };
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("failures ('{mismatch}'"))
                && r.contains(&format!("\"c\": {code}"))
                && !r.contains("\"f\":")),
        "no failure {code} for {mismatch}: {rows:#?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("failures ('{sts}'"))
                && r.contains("\"policy-type\": 2")
                && r.contains("\"c\": 302")),
        "no sts-policy-invalid failure for {sts}: {rows:#?}"
    );
    eprintln!("ok: TLSRPT, tlsrpt-collectd rows on both libraries:");
    for r in rows {
        eprintln!("    {r}");
    }
    for (i, l) in ours.1.iter().enumerate() {
        eprintln!("ok: TLSRPT delivery {i}, smtp on ours:");
        for l in l {
            eprintln!("    {l}");
        }
    }
}
