//! The project's own harness for REAL Postfix peers: private Postfix
//! instances (an smtpd with STARTTLS on 127.0.0.1, or an smtp client that
//! relays to 127.0.0.1), sendmail into them, their logs and Maildir, and
//! posttls-finger, all started and stopped by the tests themselves.
//!
//! Which Postfix: Debian's `postfix` package by default (`apt-get install
//! postfix`: /usr/sbin/postfix, /usr/sbin/posttls-finger, the daemons in
//! /usr/lib/postfix/sbin), or the tree named by `MTATLS_PF_ROOT` (a
//! Postfix built from source under one prefix: `PREFIX/sbin`,
//! `PREFIX/libexec`, `PREFIX/lib`, `PREFIX/etc`). The tree's `postconf -d`
//! says where its programs are and which `mail_version` it is (see
//! `Release`).
//!
//! An instance lives in one directory (mode 755: the daemons run as
//! `postfix` and `nobody` and must traverse it):
//!   DIR/etc/{main.cf,master.cf}   written here (`postfix -c DIR/etc ...`)
//!   DIR/queue                     queue_directory (pid/master.pid)
//!   DIR/data                      data_directory (owned by postfix)
//!   DIR/tls                       keys and certificates (`make_certs`)
//!   DIR/mail/Maildir/new          mail for `*@peers.test` (server)
//!   DIR/maillog                   maillog_file, through postlogd
//! Postfix must run as root. Master(8) scrubs the environment: variables
//! reach the daemons only through `import_environment`. Every wait is
//! bounded; an `Instance` stops its Postfix (`postfix stop`, then checks
//! that no process with its MAIL_CONFIG remains, killing leftovers by
//! pid) and removes its directory when dropped, also when a test panics.

#![allow(dead_code)]

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The environment variable naming a Postfix tree to run instead of
/// Debian's package.
pub const PF_ROOT_VAR: &str = "MTATLS_PF_ROOT";

/// The release Debian 12 ships, which the tests' expected lines describe
/// when no other release is selected.
pub const DEBIAN_RELEASE: &str = "3.7.11";

/// The mtatls parameter that selects which Postfix release's behaviour
/// the library reproduces.
pub const RELEASE_PARAM: &str = "mtatls_postfix_release";

/// Poll `f` every 50 ms until it gives `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `cmd` (no stdin) with stdout and stderr into one file, as `2>&1`
/// would interleave them, killing it by pid after `limit`. Returns
/// (exited with status 0, the output).
pub fn run_merged(cmd: &mut Command, limit: Duration) -> (bool, String) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "mtatls-out-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let out = File::create(&path).expect("output file");
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out);
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let status = super::wait_bounded(child, limit).status;
    let text = fs::read_to_string(&path).unwrap_or_default();
    let _ = fs::remove_file(&path);
    (status.success(), text)
}

// ---------------------------------------------------------------------
// Releases

/// One Postfix installation: Debian's package or a tree under a prefix.
#[derive(Clone, Debug)]
pub struct Release {
    /// `mail_version`, e.g. "3.7.11".
    pub version: String,
    /// The tree's prefix; `None` for Debian's package.
    pub root: Option<PathBuf>,
    pub command_dir: PathBuf,
    pub daemon_dir: PathBuf,
    pub meta_dir: PathBuf,
    pub shlib_dir: PathBuf,
    /// What main.cf must say for this installation (its directories,
    /// and for a tree the paths of its sendmail, mailq, newaliases).
    main_cf: Vec<(String, String)>,
}

impl Release {
    /// Debian's package (`/usr/sbin/postconf` and what it names).
    pub fn debian() -> Result<Release, String> {
        let postconf = Path::new("/usr/sbin/postconf");
        if !postconf.is_file() {
            return Err("Postfix is not installed (apt-get install postfix, as root)".to_string());
        }
        Release::query(postconf, None)
    }

    /// The Postfix tree under `root` (its postconf in sbin/, usr/sbin/ or
    /// bin/).
    pub fn from_root(root: &Path) -> Result<Release, String> {
        let postconf = ["sbin", "usr/sbin", "bin"]
            .iter()
            .map(|d| root.join(d).join("postconf"))
            .find(|p| p.is_file())
            .ok_or_else(|| format!("no postconf in {}/{{sbin,usr/sbin,bin}}", root.display()))?;
        Release::query(&postconf, Some(root))
    }

    /// The release the interop tests run against: `$MTATLS_PF_ROOT` when
    /// set, else Debian's package. Resolved once per test process.
    pub fn selected() -> Result<Release, String> {
        static SELECTED: OnceLock<Result<Release, String>> = OnceLock::new();
        SELECTED
            .get_or_init(|| match std::env::var(PF_ROOT_VAR) {
                Ok(root) if !root.is_empty() => Release::from_root(Path::new(&root))
                    .map_err(|e| format!("{PF_ROOT_VAR}={root}: {e}")),
                _ => Release::debian(),
            })
            .clone()
    }

    fn query(postconf: &Path, root: Option<&Path>) -> Result<Release, String> {
        let names = [
            "mail_version",
            "command_directory",
            "daemon_directory",
            "meta_directory",
            "shlib_directory",
        ];
        let mut cmd = Command::new(postconf);
        cmd.arg("-dh").args(names);
        let (ok, out) = run_merged(&mut cmd, Duration::from_secs(30));
        let values: Vec<&str> = out.lines().map(str::trim).collect();
        if !ok || values.len() != names.len() {
            return Err(format!("{} -dh failed: {out}", postconf.display()));
        }
        // A tree installed under a prefix may report paths relative to
        // its install root.
        let dir = |v: &str| -> PathBuf {
            let p = PathBuf::from(v);
            match root {
                Some(r) if !p.exists() => {
                    let inside = r.join(p.strip_prefix("/").unwrap_or(&p));
                    if inside.exists() {
                        inside
                    } else {
                        p
                    }
                }
                _ => p,
            }
        };
        let r = Release {
            version: values[0].to_string(),
            root: root.map(Path::to_path_buf),
            command_dir: dir(values[1]),
            daemon_dir: dir(values[2]),
            meta_dir: dir(values[3]),
            shlib_dir: dir(values[4]),
            main_cf: vec![],
        };
        for need in [r.postfix(), r.posttls_finger(), r.daemon_dir.join("master")] {
            if !need.is_file() {
                return Err(format!("Postfix {} has no {}", r.version, need.display()));
            }
        }
        let mut main_cf: Vec<(String, String)> = vec![
            ("command_directory", &r.command_dir),
            ("daemon_directory", &r.daemon_dir),
            ("meta_directory", &r.meta_dir),
            ("shlib_directory", &r.shlib_dir),
        ]
        .into_iter()
        .map(|(n, p)| (n.to_string(), p.display().to_string()))
        .collect();
        if let Some(root) = root {
            // The compiled-in defaults of a tree may name Debian's files.
            let found = |cands: &[PathBuf]| cands.iter().find(|p| p.exists()).cloned();
            for (name, file) in [
                ("sendmail_path", "sendmail"),
                ("newaliases_path", "newaliases"),
                ("mailq_path", "mailq"),
            ] {
                if let Some(p) = found(&[
                    r.command_dir.join(file),
                    root.join("bin").join(file),
                    root.join("usr/bin").join(file),
                ]) {
                    main_cf.push((name.to_string(), p.display().to_string()));
                }
            }
            if let Some(p) = found(&[root.join("man"), root.join("usr/share/man")]) {
                main_cf.push(("manpage_directory".into(), p.display().to_string()));
            }
            main_cf.push(("html_directory".into(), "no".into()));
            main_cf.push(("readme_directory".into(), "no".into()));
        }
        Ok(Release { main_cf, ..r })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether this is Debian's package.
    pub fn is_debian(&self) -> bool {
        self.root.is_none()
    }

    /// (major, minor, patch) of `mail_version` (missing parts are 0).
    pub fn numbers(&self) -> (u32, u32, u32) {
        let mut n = self
            .version
            .split(|c: char| !c.is_ascii_digit())
            .map(|s| s.parse().unwrap_or(0));
        (
            n.next().unwrap_or(0),
            n.next().unwrap_or(0),
            n.next().unwrap_or(0),
        )
    }

    /// `postconf -d` of this installation for `names`: (name, default)
    /// for each name it knows.
    pub fn postconf_defaults(&self, names: &[&str]) -> Vec<(String, String)> {
        let out = super::run_bounded(
            Command::new(self.postconf()).arg("-d").args(names),
            Duration::from_secs(30),
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                l.split_once(" = ")
                    .or_else(|| l.strip_suffix(" =").map(|n| (n, "")))
            })
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// One `postconf -d` value (`None`: the release has no such parameter).
    pub fn postconf_default(&self, name: &str) -> Option<String> {
        self.postconf_defaults(&[name])
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// "Postfix 3.11.6 (PREFIX)", "Postfix 3.7.11 (Debian's package)".
    pub fn describe(&self) -> String {
        match &self.root {
            Some(r) => format!("Postfix {} ({})", self.version, r.display()),
            None => format!("Postfix {} (Debian's package)", self.version),
        }
    }

    /// "Debian's package" or "built from source".
    pub fn origin(&self) -> &'static str {
        if self.is_debian() {
            "Debian's package"
        } else {
            "built from source"
        }
    }

    pub fn postfix(&self) -> PathBuf {
        self.command_dir.join("postfix")
    }

    pub fn postconf(&self) -> PathBuf {
        self.command_dir.join("postconf")
    }

    pub fn posttls_finger(&self) -> PathBuf {
        self.command_dir.join("posttls-finger")
    }

    /// The sendmail(1) of this installation.
    pub fn sendmail(&self) -> PathBuf {
        self.main_cf
            .iter()
            .find(|(n, _)| n == "sendmail_path")
            .map(|(_, v)| PathBuf::from(v))
            .unwrap_or_else(|| self.command_dir.join("sendmail"))
    }

    /// The main.cf lines (name, value) that point an instance at this
    /// installation's programs.
    pub fn main_cf(&self) -> &[(String, String)] {
        &self.main_cf
    }

    /// `mtatls_postfix_release=VERSION`, for the mtatls side of a
    /// comparison with this release; `None` while the library does not
    /// know that parameter (then the library's built-in behaviour, which
    /// is Debian's 3.7.11, is compared).
    pub fn mtatls_param(&self) -> Option<String> {
        if library_knows_release_param() {
            Some(format!("{RELEASE_PARAM}={}", self.version))
        } else {
            if !self.is_debian() || self.version != DEBIAN_RELEASE {
                note_once(&format!(
                    "NOTE: libmtatls has no {RELEASE_PARAM} yet: comparing its default \
                     behaviour with {}",
                    self.describe()
                ));
            }
            None
        }
    }

    /// `["-o", "mtatls_postfix_release=VERSION"]` for mtatls-smtpd,
    /// mtatls-finger and the Python server; empty when `mtatls_param` is
    /// `None`.
    pub fn mtatls_options(&self) -> Vec<String> {
        match self.mtatls_param() {
            Some(p) => vec!["-o".to_string(), p],
            None => vec![],
        }
    }
}

fn note_once(text: &str) {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.iter().any(|s| s == text) {
        eprintln!("{text}");
        seen.push(text.to_string());
    }
}

/// Whether libmtatls accepts `mtatls_postfix_release` (asked once per
/// process: mtatls-finger with that parameter set, to a closed port,
/// warns "unused parameter: mtatls_postfix_release=..." when the library
/// does not know it; older libraries said "unknown parameter").
pub fn library_knows_release_param() -> bool {
    static KNOWS: OnceLock<bool> = OnceLock::new();
    *KNOWS.get_or_init(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut cmd = Command::new(super::c_binaries().join("mtatls-finger"));
        cmd.args(["-o", &format!("{RELEASE_PARAM}={DEBIAN_RELEASE}")])
            .arg(format!("127.0.0.1:{port}"));
        let (_, out) = run_merged(&mut cmd, Duration::from_secs(30));
        !out.contains(&format!("unknown parameter: {RELEASE_PARAM}"))
            && !out.contains(&format!("unused parameter: {RELEASE_PARAM}="))
    })
}

// ---------------------------------------------------------------------
// Certificates

/// The peers' keys and certificates, made with the openssl CLI in `tls`:
/// `server-rsa` (RSA 2048), `server-ecdsa` (P-256), both CN and SAN
/// localhost (and IP 127.0.0.1), `client-rsa` (RSA 2048, CN and SAN
/// peers-client.test), all self-signed with O=peers-test, each as `.key`,
/// `.crt`, `.pem` (key then certificate, for `*_tls_chain_files`),
/// `.sha256` and `.spki-sha256` (certificate and public-key SHA-256
/// fingerprints, upper-case colon hex); `server-cas.pem` (both server
/// certificates) and `client-ca.pem` (the client certificate).
pub fn make_certs(tls: &Path) {
    fs::create_dir_all(tls).expect("mkdir tls");
    fs::set_permissions(tls, fs::Permissions::from_mode(0o755)).expect("chmod tls");
    for (name, cn, san, alg) in [
        (
            "server-rsa",
            "localhost",
            "DNS:localhost,IP:127.0.0.1",
            &["-newkey", "rsa:2048"][..],
        ),
        (
            "server-ecdsa",
            "localhost",
            "DNS:localhost,IP:127.0.0.1",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
        ),
        (
            "client-rsa",
            "peers-client.test",
            "DNS:peers-client.test",
            &["-newkey", "rsa:2048"][..],
        ),
    ] {
        let (key, crt) = (
            tls.join(format!("{name}.key")),
            tls.join(format!("{name}.crt")),
        );
        let mut cmd = Command::new("openssl");
        cmd.args(["req", "-x509", "-nodes"])
            .args(alg)
            .args(["-sha256", "-days", "3650"])
            .args(["-subj", &format!("/CN={cn}/O=peers-test")])
            .args(["-addext", &format!("subjectAltName={san}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt);
        let (ok, out) = run_merged(&mut cmd, Duration::from_secs(60));
        assert!(ok, "openssl req for {name} failed:\n{out}");
        let key_pem = fs::read(&key).expect("read key");
        let crt_pem = fs::read(&crt).expect("read crt");
        fs::write(
            tls.join(format!("{name}.pem")),
            [key_pem, crt_pem.clone()].concat(),
        )
        .expect("write pem");
        let cert = openssl::x509::X509::from_pem(&crt_pem).expect("parse crt");
        let sha256 = openssl::hash::MessageDigest::sha256();
        let fp = cert.digest(sha256).expect("digest");
        let spki = cert
            .public_key()
            .and_then(|k| k.public_key_to_der())
            .expect("spki");
        let spki = openssl::hash::hash(sha256, &spki).expect("hash");
        fs::write(
            tls.join(format!("{name}.sha256")),
            super::pki::colon_hex(&fp) + "\n",
        )
        .expect("write sha256");
        fs::write(
            tls.join(format!("{name}.spki-sha256")),
            super::pki::colon_hex(&spki) + "\n",
        )
        .expect("write spki-sha256");
        for f in [format!("{name}.key"), format!("{name}.pem")] {
            fs::set_permissions(tls.join(f), fs::Permissions::from_mode(0o600)).expect("chmod");
        }
    }
    let read = |n: &str| fs::read(tls.join(n)).expect("read crt");
    fs::write(
        tls.join("server-cas.pem"),
        [read("server-rsa.crt"), read("server-ecdsa.crt")].concat(),
    )
    .expect("write server-cas.pem");
    fs::write(tls.join("client-ca.pem"), read("client-rsa.crt")).expect("write client-ca.pem");
}

/// Copy the regular files of `from` into `to` (created), keeping modes.
pub fn copy_files(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dir entry");
        if e.file_type().is_ok_and(|t| t.is_file()) {
            fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------
// Users, processes, sockets

/// (uid, gid) of a user.
fn user(name: &str) -> Option<(u32, u32)> {
    let c = CString::new(name).ok()?;
    // SAFETY: getpwnam with a valid C string; the result is read at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    // SAFETY: non-null pointer from getpwnam.
    (!pw.is_null()).then(|| unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// The gid of a group.
fn group(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: as `user`.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    // SAFETY: non-null pointer from getgrnam.
    (!gr.is_null()).then(|| unsafe { (*gr).gr_gid })
}

/// Why Postfix instances cannot run here (not root, no postfix user or
/// postdrop group), or `None`.
pub fn cannot_run() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("the Postfix peers need root".to_string());
    }
    if user("postfix").is_none() || group("postdrop").is_none() {
        return Some("no user postfix or group postdrop (apt-get install postfix)".to_string());
    }
    None
}

/// Whether process `pid` exists.
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    pid > 0 && unsafe { libc::kill(pid, 0) == 0 }
}

fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Processes whose environment has `MAIL_CONFIG=config` (a master and
/// the daemons it started), this process left out.
pub fn pids_with_mail_config(config: &Path) -> Vec<i32> {
    let want = format!("MAIL_CONFIG={}", config.display());
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == want.as_bytes()))
        })
        .collect()
}

/// Whether something listens on 127.0.0.1:`port` (from /proc/net/tcp,
/// without connecting).
pub fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() > 3 && w[1] == want && w[3] == "0A"
        })
    })
}

/// The text after "postfix/PROGRAM[PID]: " of a maillog line written by
/// that program, or None.
pub fn program_text<'a>(line: &'a str, program: &str) -> Option<&'a str> {
    let tag = format!(" postfix/{program}[");
    let at = line.find(&tag)?;
    let rest = &line[at + tag.len()..];
    let close = rest.find("]: ")?;
    Some(&rest[close + 3..])
}

/// The first Received: header (first and continuation lines) of a
/// message.
pub fn first_received(message: &str) -> Option<Vec<String>> {
    let mut lines = message.lines().skip_while(|l| !l.starts_with("Received:"));
    let first = lines.next()?;
    let mut out = vec![first.to_string()];
    out.extend(
        lines
            .take_while(|l| l.starts_with('\t') || l.starts_with(' '))
            .map(str::to_string),
    );
    Some(out)
}

// ---------------------------------------------------------------------
// Instances

/// What an instance is for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Role {
    /// smtpd with STARTTLS on 127.0.0.1:port; mail for `*@peers.test`
    /// goes to DIR/mail/Maildir.
    Server { port: u16 },
    /// An smtp client relaying everything to [127.0.0.1]:relay_port.
    Client { relay_port: u16 },
}

/// The services of master.cf besides the smtpd listener: name, type,
/// private, unprivileged, wakeup, process limit, command; never chrooted.
const SERVICES: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    ("pickup", "unix", "n", "-", "60", "1", "pickup"),
    ("cleanup", "unix", "n", "-", "-", "0", "cleanup"),
    ("qmgr", "unix", "n", "-", "300", "1", "qmgr"),
    ("tlsmgr", "unix", "-", "-", "1000?", "1", "tlsmgr"),
    ("rewrite", "unix", "-", "-", "-", "-", "trivial-rewrite"),
    ("bounce", "unix", "-", "-", "-", "0", "bounce"),
    ("defer", "unix", "-", "-", "-", "0", "bounce"),
    ("trace", "unix", "-", "-", "-", "0", "bounce"),
    ("verify", "unix", "-", "-", "-", "1", "verify"),
    ("flush", "unix", "n", "-", "1000?", "0", "flush"),
    ("proxymap", "unix", "-", "-", "-", "-", "proxymap"),
    ("smtp", "unix", "-", "-", "-", "-", "smtp"),
    ("relay", "unix", "-", "-", "-", "-", "smtp"),
    ("showq", "unix", "n", "-", "-", "-", "showq"),
    ("error", "unix", "-", "-", "-", "-", "error"),
    ("retry", "unix", "-", "-", "-", "-", "error"),
    ("discard", "unix", "-", "-", "-", "-", "discard"),
    ("virtual", "unix", "-", "n", "-", "-", "virtual"),
    ("anvil", "unix", "-", "-", "-", "1", "anvil"),
    ("scache", "unix", "-", "-", "-", "1", "scache"),
    ("postlog", "unix-dgram", "n", "-", "-", "1", "postlogd"),
];

/// One master.cf line (chroot column `n`).
pub fn master_line(
    name: &str,
    kind: &str,
    private: &str,
    unpriv: &str,
    wakeup: &str,
    limit: &str,
    command: &str,
) -> String {
    format!("{name:<18} {kind:<10} {private:<3} {unpriv:<3} n   {wakeup:<6} {limit:<4} {command}")
}

/// A running private Postfix instance; stopped, and its directory
/// removed, when dropped.
pub struct Instance {
    pub dir: PathBuf,
    pub role: Role,
    pub release: Release,
    master: Option<i32>,
    stopped: bool,
}

impl Instance {
    /// Create, configure and start an instance of `release` in a fresh
    /// directory: the files of `certs` in DIR/tls, main.cf with the
    /// role's settings and then `params` ("name=value", later ones
    /// replacing earlier ones; "DIR" in a value stands for the instance
    /// directory). Panics (after stopping what it started) when Postfix
    /// does not come up within the bounds.
    #[track_caller]
    pub fn start(release: &Release, role: Role, certs: &Path, params: &[String]) -> Instance {
        Instance::start_prepared(release, role, certs, params, |_| {})
    }

    /// As `start`, calling `prepare` with the instance directory once
    /// its files are written, before Postfix starts (e.g. to put a
    /// library there that `import_environment` points the daemons to).
    #[track_caller]
    pub fn start_prepared(
        release: &Release,
        role: Role,
        certs: &Path,
        params: &[String],
        prepare: impl FnOnce(&Path),
    ) -> Instance {
        static N: AtomicUsize = AtomicUsize::new(0);
        let what = match role {
            Role::Server { .. } => "smtpd",
            Role::Client { .. } => "client",
        };
        let dir = std::env::temp_dir().join(format!(
            "mtatls-pf-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        let mode = |p: &Path, m: u32| {
            fs::set_permissions(p, fs::Permissions::from_mode(m))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()))
        };
        for sub in ["etc", "queue", "data", "tls"] {
            fs::create_dir_all(dir.join(sub)).expect("mkdir instance");
            mode(&dir.join(sub), 0o755);
        }
        mode(&dir, 0o755);
        let (pf_uid, pf_gid) = user("postfix").expect("user postfix");
        std::os::unix::fs::chown(dir.join("data"), Some(pf_uid), Some(pf_gid)).expect("chown");
        mode(&dir.join("data"), 0o700);
        copy_files(certs, &dir.join("tls"));

        let d = dir.display().to_string();
        let mut cf = MainCf::default();
        for (n, v) in [
            ("compatibility_level", "3.6".to_string()),
            ("queue_directory", format!("{d}/queue")),
            ("data_directory", format!("{d}/data")),
            ("mail_owner", "postfix".into()),
            ("setgid_group", "postdrop".into()),
            ("mydomain", "peers.test".into()),
            ("myorigin", "$myhostname".into()),
            ("inet_interfaces", "127.0.0.1".into()),
            ("inet_protocols", "ipv4".into()),
            ("mynetworks", "127.0.0.0/8".into()),
            ("smtp_bind_address", "127.0.0.1".into()),
            ("alias_maps", String::new()),
            ("alias_database", String::new()),
            ("biff", "no".into()),
            ("mydestination", String::new()),
            ("local_recipient_maps", String::new()),
            ("maillog_file", format!("{d}/maillog")),
            ("maillog_file_prefixes", d.clone()),
            // Retries fast and bounded.
            ("queue_run_delay", "10s".into()),
            ("minimal_backoff_time", "10s".into()),
            ("maximal_backoff_time", "30s".into()),
            ("maximal_queue_lifetime", "5m".into()),
            ("bounce_queue_lifetime", "5m".into()),
            ("smtp_connect_timeout", "10s".into()),
            ("smtp_helo_timeout", "30s".into()),
            ("smtpd_timeout", "30s".into()),
        ] {
            cf.set(n, &v);
        }
        for (n, v) in release.main_cf() {
            cf.set(n, v);
        }
        let mut master: Vec<String> = vec![];
        match role {
            Role::Server { port } => {
                let mail = dir.join("mail");
                fs::create_dir_all(&mail).expect("mkdir mail");
                let (nobody, nobody_gid) = user("nobody").expect("user nobody");
                let nogroup = group("nogroup").unwrap_or(nobody_gid);
                std::os::unix::fs::chown(&mail, Some(nobody), Some(nogroup)).expect("chown mail");
                mode(&mail, 0o700);
                for (n, v) in [
                    ("myhostname", "server.peers.test".to_string()),
                    ("smtpd_banner", "$myhostname ESMTP peers-test".into()),
                    ("virtual_mailbox_domains", "peers.test".into()),
                    ("virtual_mailbox_base", format!("{d}/mail")),
                    ("virtual_mailbox_maps", "static:Maildir/".into()),
                    ("virtual_uid_maps", format!("static:{nobody}")),
                    ("virtual_gid_maps", format!("static:{nogroup}")),
                    ("virtual_minimum_uid", "1".into()),
                    (
                        "smtpd_relay_restrictions",
                        "permit_mynetworks, reject_unauth_destination".into(),
                    ),
                    ("smtpd_tls_security_level", "may".into()),
                    ("smtpd_tls_loglevel", "1".into()),
                    ("smtpd_tls_received_header", "yes".into()),
                    (
                        "smtpd_tls_chain_files",
                        format!("{d}/tls/server-rsa.pem, {d}/tls/server-ecdsa.pem"),
                    ),
                    ("smtpd_tls_CAfile", format!("{d}/tls/client-ca.pem")),
                    ("smtpd_tls_ask_ccert", "no".into()),
                    ("smtp_tls_security_level", "none".into()),
                ] {
                    cf.set(n, &v);
                }
                master.push(master_line(
                    &format!("127.0.0.1:{port}"),
                    "inet",
                    "n",
                    "-",
                    "-",
                    "-",
                    "smtpd",
                ));
            }
            Role::Client { relay_port } => {
                for (n, v) in [
                    ("myhostname", "client.peers.test".to_string()),
                    ("relayhost", format!("[127.0.0.1]:{relay_port}")),
                    ("default_transport", "smtp".into()),
                    ("smtp_tls_security_level", "may".into()),
                    ("smtp_tls_loglevel", "1".into()),
                    ("smtp_tls_CAfile", format!("{d}/tls/server-cas.pem")),
                    ("smtp_tls_fingerprint_digest", "sha256".into()),
                    ("smtpd_tls_security_level", "none".into()),
                ] {
                    cf.set(n, &v);
                }
            }
        }
        for p in params {
            let (n, v) = p
                .split_once('=')
                .unwrap_or_else(|| panic!("parameter \"{p}\" is not name=value"));
            cf.set(n.trim(), &v.trim_start().replace("DIR", &d));
        }
        for s in SERVICES {
            master.push(master_line(s.0, s.1, s.2, s.3, s.4, s.5, s.6));
        }
        write_config(&dir.join("etc/main.cf"), &cf.text());
        write_config(&dir.join("etc/master.cf"), &(master.join("\n") + "\n"));

        let mut inst = Instance {
            dir,
            role,
            release: release.clone(),
            master: None,
            stopped: false,
        };
        prepare(&inst.dir);
        // From here on, a panic stops what was started (Drop).
        let _ = inst.postfix(&["check"], Duration::from_secs(60));
        let (ok, out) = inst.postfix(&["start"], Duration::from_secs(60));
        assert!(
            ok,
            "{} -c {} start failed:\n{out}\nmaillog:\n{}",
            release.postfix().display(),
            inst.etc().display(),
            inst.log()
        );
        inst.master = wait_for(Duration::from_secs(10), || {
            inst.master_pid().filter(|&p| alive(p))
        });
        assert!(
            inst.master.is_some(),
            "the master of {} did not start within 10 s; maillog:\n{}",
            inst.dir.display(),
            inst.log()
        );
        if let Some(m) = inst.master {
            if !pids_with_mail_config(&inst.etc()).contains(&m) {
                note_once(
                    "peers: WARNING: /proc/PID/environ of Postfix processes is not readable: \
                     stopping instances cannot check for leftover processes",
                );
            }
        }
        if let Role::Server { port } = role {
            assert!(
                wait_for(Duration::from_secs(15), || listening(port).then_some(())).is_some(),
                "nothing listens on 127.0.0.1:{port} within 15 s; maillog:\n{}",
                inst.log()
            );
        }
        inst
    }

    /// DIR/etc (MAIL_CONFIG).
    pub fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }

    /// The smtpd port of a server instance (0 for a client).
    pub fn port(&self) -> u16 {
        match self.role {
            Role::Server { port } => port,
            Role::Client { .. } => 0,
        }
    }

    /// Run `postfix -c DIR/etc ARGS` of this release (bounded).
    pub fn postfix(&self, args: &[&str], limit: Duration) -> (bool, String) {
        let mut cmd = Command::new(self.release.postfix());
        cmd.arg("-c").arg(self.etc()).args(args);
        run_merged(&mut cmd, limit)
    }

    /// `postfix reload`, panicking when it fails.
    #[track_caller]
    pub fn reload(&self) {
        let (ok, out) = self.postfix(&["reload"], Duration::from_secs(30));
        assert!(ok, "postfix -c {} reload: {out}", self.etc().display());
    }

    /// Rewrite master.cf with `f` (no reload).
    pub fn edit_master_cf(&self, f: impl FnOnce(String) -> String) {
        let path = self.etc().join("master.cf");
        let text = fs::read_to_string(&path).expect("read master.cf");
        write_config(&path, &f(text));
    }

    /// The master's pid from DIR/queue/pid/master.pid.
    pub fn master_pid(&self) -> Option<i32> {
        fs::read_to_string(self.dir.join("queue/pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The maillog so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Number of maillog lines so far.
    pub fn log_len(&self) -> usize {
        self.log().lines().count()
    }

    /// What `program` (smtpd, smtp, ...) logged after maillog line
    /// `from`: the text after "postfix/PROGRAM[PID]: ".
    pub fn program_lines(&self, program: &str, from: usize) -> Vec<String> {
        self.log()
            .lines()
            .skip(from)
            .filter_map(|l| program_text(l, program))
            .map(str::to_string)
            .collect()
    }

    /// DIR/mail/Maildir/new (server).
    pub fn maildir(&self) -> PathBuf {
        self.dir.join("mail/Maildir/new")
    }

    /// The first Received: header of the delivered message with Subject
    /// `subject`, if it is there.
    pub fn received(&self, subject: &str) -> Option<Vec<String>> {
        let want = format!("\nSubject: {subject}\n");
        fs::read_dir(self.maildir()).ok()?.find_map(|e| {
            let text = fs::read_to_string(e.ok()?.path()).ok()?;
            if text.contains(&want) {
                first_received(&text)
            } else {
                None
            }
        })
    }

    /// Hand one message (Subject and Message-ID local part `tag`) from
    /// `from` to `rcpt` to this instance's sendmail(1) (`sendmail -C
    /// DIR/etc`); panics when sendmail fails.
    #[track_caller]
    pub fn sendmail(&self, from: &str, rcpt: &str, tag: &str) {
        let message = format!(
            "From: sender@client.peers.test\nTo: {rcpt}\nSubject: {tag}\n\
             Message-ID: <{tag}@client.peers.test>\n\nhello over TLS\n"
        );
        let mut child = Command::new(self.release.sendmail())
            .arg("-C")
            .arg(self.etc())
            .args(["-f", from, rcpt])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sendmail");
        {
            let mut stdin = child.stdin.take().expect("stdin");
            let _ = stdin.write_all(message.as_bytes());
        }
        let out = super::wait_bounded(child, Duration::from_secs(20));
        assert!(
            out.status.success(),
            "sendmail -C {} failed: {}{}",
            self.etc().display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The queue id of the message with Message-ID <`tag`@...>, once
    /// cleanup logged it (bounded).
    pub fn queue_id(&self, tag: &str, limit: Duration) -> Option<String> {
        let needle = format!(": message-id=<{tag}@");
        wait_for(limit, || {
            self.log().lines().find_map(|l| {
                let head = &l[..l.find(&needle)?];
                Some(head[head.rfind(' ')? + 1..].to_string())
            })
        })
    }

    /// The first delivery outcome of queue id `qid` (bounded): whether
    /// it was status=sent (else bounced or deferred).
    pub fn outcome(&self, qid: &str, limit: Duration) -> Option<bool> {
        let needle = format!(" {qid}: to=<");
        wait_for(limit, || {
            self.log().lines().find_map(|l| {
                if !l.contains(&needle) {
                    return None;
                }
                if l.contains("status=sent") {
                    Some(true)
                } else if l.contains("status=bounced") || l.contains("status=deferred") {
                    Some(false)
                } else {
                    None
                }
            })
        })
    }

    /// Send one message (sendmail, then a bounded wait for its first
    /// delivery outcome): whether it was sent, and the maillog lines
    /// written meanwhile.
    pub fn send(&self, from: &str, rcpt: &str, tag: &str, limit: Duration) -> (bool, Vec<String>) {
        let before = self.log_len();
        self.sendmail(from, rcpt, tag);
        let sent = self
            .queue_id(tag, limit)
            .and_then(|qid| self.outcome(&qid, limit))
            .unwrap_or(false);
        let lines = self
            .log()
            .lines()
            .skip(before)
            .map(str::to_string)
            .collect();
        (sent, lines)
    }

    /// Stop Postfix: `postfix stop`; the master must be gone within 10 s
    /// (else `postfix abort`, then SIGKILL by pid), and every process
    /// with this MAIL_CONFIG within 5 more (else SIGKILL by pid). Err
    /// when something is still running after that.
    pub fn stop(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let master = self.master.or_else(|| self.master_pid());
        if master.is_some_and(alive) {
            let _ = self.postfix(&["stop"], Duration::from_secs(30));
            let pid = master.unwrap_or(0);
            if wait_for(Duration::from_secs(10), || (!alive(pid)).then_some(())).is_none() {
                let _ = self.postfix(&["abort"], Duration::from_secs(10));
                if wait_for(Duration::from_secs(2), || (!alive(pid)).then_some(())).is_none() {
                    // SAFETY: signalling the master this instance started.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let etc = self.etc();
        let gone = |limit| {
            wait_for(limit, || {
                pids_with_mail_config(&etc).is_empty().then_some(())
            })
        };
        if gone(Duration::from_secs(5)).is_none() {
            let left = pids_with_mail_config(&etc);
            eprintln!(
                "peers: killing leftover processes of {}: {left:?}",
                etc.display()
            );
            for pid in left {
                // SAFETY: a process running with this instance's MAIL_CONFIG.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if gone(Duration::from_secs(3)).is_none() {
                return Err(format!(
                    "processes of {} still running: {:?}",
                    etc.display(),
                    pids_with_mail_config(&etc)
                ));
            }
        }
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let stopped = self.stop();
        if std::env::var_os("MTATLS_KEEP_PEER_DIRS").is_some() {
            eprintln!("peers: kept {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
        if let Err(e) = stopped {
            if std::thread::panicking() {
                eprintln!("peers: {e}");
            } else {
                panic!("peers: {e}");
            }
        }
    }
}

/// main.cf as (name, value) in order; setting a name again replaces its
/// value in place.
#[derive(Default)]
struct MainCf(Vec<(String, String)>);

impl MainCf {
    fn set(&mut self, name: &str, value: &str) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(e) => e.1 = value.to_string(),
            None => self.0.push((name.to_string(), value.to_string())),
        }
    }

    fn text(&self) -> String {
        let mut s = String::from("# private Postfix instance of the mtatls tests; loopback only\n");
        for (n, v) in &self.0 {
            s.push_str(&format!("{n} = {v}\n"));
        }
        s
    }
}

/// Write a Postfix configuration file dated an hour back: Postfix waits
/// for a file modified in the last second or two to settle before it
/// reads it, which a fresh file would cost every program started.
pub fn write_config(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let past = SystemTime::now() - Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(past))
        .unwrap_or_else(|e| panic!("date back {}: {e}", path.display()));
}

// ---------------------------------------------------------------------
// posttls-finger

/// The throwaway configuration directory posttls-finger needs (it reads
/// a main.cf), one per release and process.
pub fn finger_config(release: &Release) -> PathBuf {
    static DIRS: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    let key = release.describe();
    if let Some((_, d)) = dirs.iter().find(|(k, _)| *k == key) {
        return d.clone();
    }
    let d = super::scratch_dir(&format!("posttls-finger-config-{}", dirs.len()));
    let mut cf = MainCf::default();
    cf.set("compatibility_level", "3.6");
    cf.set("inet_protocols", "ipv4");
    cf.set("smtp_tls_fingerprint_digest", "sha256");
    for (n, v) in release.main_cf() {
        cf.set(n, v);
    }
    write_config(&d.join("main.cf"), &cf.text());
    dirs.push((key, d.clone()));
    d
}

/// posttls-finger of `release` at [127.0.0.1]:`port`, as `-a ipv4 -t 10
/// -T 10 OPTIONS [127.0.0.1]:PORT MATCH...` where `args` are OPTIONS,
/// then "--", then MATCH arguments (default options: `-c -l may -L
/// summary,peercert`). Not run yet: callers may add environment.
pub fn posttls_finger_command(release: &Release, port: u16, args: &[&str]) -> Command {
    let (mut opts, matches) = match args.iter().position(|a| *a == "--") {
        Some(i) => (args[..i].to_vec(), &args[i + 1..]),
        None => (args.to_vec(), &[][..]),
    };
    if opts.is_empty() {
        opts = vec!["-c", "-l", "may", "-L", "summary,peercert"];
    }
    let mut cmd = Command::new(release.posttls_finger());
    cmd.env("MAIL_CONFIG", finger_config(release))
        .args(["-a", "ipv4", "-t", "10", "-T", "10"])
        .args(opts)
        .arg(format!("[127.0.0.1]:{port}"))
        .args(matches);
    cmd
}

/// Run `cmd` from `posttls_finger_command` (bounded); its output lines,
/// stdout and stderr interleaved as they came.
pub fn run_posttls_finger(cmd: &mut Command) -> Vec<String> {
    let (_, out) = run_merged(cmd, Duration::from_secs(90));
    out.lines().map(str::to_string).collect()
}
