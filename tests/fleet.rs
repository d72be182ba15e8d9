//! A fleet of mail servers sharing TLS state through a real Redis
//! (`examples/fleet/`, issue #21): three `fleet-smtpd` processes and
//! `fleet-client` relay processes on loopback around one `redis-server`
//! (its own port, directory and ACL users, no persistence).
//!
//! - sessions and tickets: a client's full handshake at one server resumes
//!   at the other two, from another client process (the session travels
//!   through Redis, the ticket key is shared);
//! - rotation: after a period boundary every server accepts tickets under
//!   the previous key (and renews them under the new one) for one more
//!   period, then no longer;
//! - failures: Redis hanging (SIGSTOP), slow (DEBUG SLEEP), killed and
//!   restarted empty: handshakes go on as full ones within the timeouts,
//!   resumption returns with Redis, the keys survive the restart; corrupt,
//!   truncated, foreign and moved entries are ignored and counted;
//! - the example built from an installed tree with pkg-config only, and
//!   run under valgrind (no leaks).
//!
//! Without redis-server, pkg-config or hiredis each test prints
//! `SKIPPED (fleet): why` and passes, unless MTATLS_REQUIRE_FLEET=1.
//! Every process is stopped by pid; every wait is bounded.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{c_binaries, have, keys, profile_dir, required, root, run_bounded, scratch_dir};

/// The tests share two cores and time-sensitive rotations: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const WAIT: Duration = Duration::from_secs(20);
const REDIS_ADMIN: (&str, &str) = ("admin", "admin-test-pw");
const REDIS_MTA: (&str, &str) = ("mta", "mta-test-pw");

const VALGRIND: &[&str] = &[
    "valgrind",
    "-q",
    "--error-exitcode=99",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite,indirect",
    "--show-leak-kinds=definite,indirect",
];

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why the fleet tests cannot run here, if they cannot.
fn missing() -> Option<String> {
    if !have("redis-server") {
        return Some("redis-server not installed (apt-get install redis-server)".into());
    }
    if !have("pkg-config") {
        return Some("pkg-config not installed".into());
    }
    let hiredis = Command::new("pkg-config")
        .args(["--exists", "hiredis"])
        .status()
        .is_ok_and(|s| s.success());
    if !hiredis {
        return Some("hiredis not installed (apt-get install libhiredis-dev)".into());
    }
    None
}

/// The built example, or `None` after printing why the test is skipped.
fn fleet() -> Option<&'static Fleet> {
    if let Some(why) = missing() {
        assert!(
            !required("MTATLS_REQUIRE_FLEET"),
            "fleet test required (MTATLS_REQUIRE_FLEET=1) but {why}"
        );
        eprintln!("SKIPPED (fleet): {why}");
        return None;
    }
    static BUILT: OnceLock<Fleet> = OnceLock::new();
    Some(BUILT.get_or_init(Fleet::build))
}

/// examples/fleet built against `make install`'s tree, with pkg-config.
struct Fleet {
    bin: PathBuf,
    lib: PathBuf,
}

impl Fleet {
    fn build() -> Fleet {
        c_binaries(); // builds libmtatls (and the other C programs)
        let dir = scratch_dir("fleet-build");
        let prefix = dir.join("prefix");
        let soname = format!("libmtatls.so.0.{}", env!("CARGO_PKG_VERSION_MINOR"));
        let out = run_bounded(
            Command::new("sh")
                .current_dir(root())
                .arg("scripts/install.sh")
                .arg(profile_dir())
                .arg("")
                .arg(&prefix)
                .arg(env!("CARGO_PKG_VERSION"))
                .arg(&soname),
            Duration::from_secs(600),
        );
        assert!(out.status.success(), "install: {}", text(&out.stderr));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        // Only pkg-config's flags (the Makefile's default CFLAGS are the C
        // harness conventions: -std=c99 -Wall -Wextra -Werror -pedantic).
        let out = run_bounded(
            Command::new("make")
                .arg("-s")
                .arg("-C")
                .arg(root().join("examples/fleet"))
                .arg(format!("OUT={}", bin.display()))
                .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
            Duration::from_secs(300),
        );
        assert!(
            out.status.success(),
            "make -C examples/fleet: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        Fleet {
            bin,
            lib: prefix.join("lib"),
        }
    }

    fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(self.bin.join(prog));
        c.env("LD_LIBRARY_PATH", &self.lib);
        c
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on the pid of a child we own and have not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

/// A secret file (mode 0600) with `content`.
fn secret_file(path: &Path, content: &[u8]) -> PathBuf {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_path_buf()
}

fn random_key(path: &Path) -> PathBuf {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut key)
        .unwrap();
    secret_file(path, &key)
}

// ---- Redis: the server and a small RESP client ----

#[derive(Debug, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

fn read_resp(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end();
    let (kind, rest) = line.split_at(1);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, line.to_string());
    Ok(match kind {
        "+" => Resp::Simple(rest.into()),
        "-" => Resp::Error(rest.into()),
        ":" => Resp::Int(rest.parse().map_err(|_| bad())?),
        "$" => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            if n < 0 {
                Resp::Bulk(None)
            } else {
                let mut buf = vec![0u8; n as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Resp::Bulk(Some(buf))
            }
        }
        "*" => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            let mut v = Vec::new();
            for _ in 0..n.max(0) {
                v.push(read_resp(r)?);
            }
            Resp::Array(v)
        }
        _ => return Err(bad()),
    })
}

/// One command as `user` on a fresh connection (bounded by `limit`).
fn resp_as(port: u16, user: (&str, &str), args: &[&[u8]], limit: Duration) -> Resp {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect to redis");
    s.set_read_timeout(Some(limit)).unwrap();
    s.set_write_timeout(Some(limit)).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut send = |args: &[&[u8]]| {
        let mut msg = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            msg.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            msg.extend_from_slice(a);
            msg.extend_from_slice(b"\r\n");
        }
        w.write_all(&msg).unwrap();
    };
    send(&[b"AUTH", user.0.as_bytes(), user.1.as_bytes()]);
    assert_eq!(read_resp(&mut r).unwrap(), Resp::Simple("OK".into()));
    send(args);
    read_resp(&mut r).expect("redis reply")
}

struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    fn start(dir: &Path, port: u16) -> Redis {
        std::fs::create_dir_all(dir).unwrap();
        // No persistence; the default user off; the MTA user may use only
        // the commands the example sends, on its own keys (the README's
        // recommended ACL); DEBUG SLEEP from loopback plays a slow server.
        let conf = format!(
            "port {port}\nbind 127.0.0.1\nprotected-mode yes\nsave \"\"\nappendonly no\n\
             dir {dir}\ndaemonize no\nenable-debug-command local\nuser default off\n\
             user {au} on >{ap} ~* &* +@all\n\
             user {mu} on >{mp} resetchannels ~mtatls:* -@all +get +set +del +mget +auth\n",
            dir = dir.display(),
            au = REDIS_ADMIN.0,
            ap = REDIS_ADMIN.1,
            mu = REDIS_MTA.0,
            mp = REDIS_MTA.1,
        );
        std::fs::write(dir.join("redis.conf"), conf).unwrap();
        let log = std::fs::File::create(dir.join("redis.log")).unwrap();
        let child = Command::new("redis-server")
            .arg(dir.join("redis.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start redis-server");
        let r = Redis {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
        };
        let start = Instant::now();
        loop {
            let addr = format!("127.0.0.1:{port}").parse().unwrap();
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && r.cmd(&[b"PING"]) == Resp::Simple("PONG".into())
            {
                return r;
            }
            assert!(
                start.elapsed() < WAIT,
                "redis-server did not start: {}",
                std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cmd(&self, args: &[&[u8]]) -> Resp {
        resp_as(self.port, REDIS_ADMIN, args, Duration::from_secs(5))
    }

    fn keys(&self, pattern: &str) -> Vec<String> {
        match self.cmd(&[b"KEYS", pattern.as_bytes()]) {
            Resp::Array(v) => v
                .into_iter()
                .map(|k| match k {
                    Resp::Bulk(Some(b)) => text(&b),
                    other => panic!("KEYS: {other:?}"),
                })
                .collect(),
            other => panic!("KEYS: {other:?}"),
        }
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.cmd(&[b"GET", key.as_bytes()]) {
            Resp::Bulk(b) => b,
            other => panic!("GET {key}: {other:?}"),
        }
    }

    fn set(&self, key: &str, value: &[u8]) {
        assert_eq!(
            self.cmd(&[b"SET", key.as_bytes(), value]),
            Resp::Simple("OK".into())
        );
    }

    fn pause(&self) {
        signal(self.child.as_ref().unwrap(), libc::SIGSTOP);
    }

    fn resume(&self) {
        signal(self.child.as_ref().unwrap(), libc::SIGCONT);
    }

    /// Kill by pid (SIGKILL: an outage, not a shutdown) and reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(&c, libc::SIGCONT);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---- the example's processes ----

/// A running fleet-smtpd; stopped by pid (SIGTERM, then SIGKILL).
struct Server {
    child: Option<Child>,
    log: PathBuf,
    port: u16,
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait (bounded) until the log has `needle` after byte `from`.
    fn wait_for(&self, needle: &str, from: usize) {
        let start = Instant::now();
        while !self.log().get(from..).unwrap_or("").contains(needle) {
            assert!(
                start.elapsed() < WAIT,
                "server :{} never logged {needle:?}:\n{}",
                self.port,
                self.log()
            );
            assert!(
                self.child.is_some(),
                "server :{} gone:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM by pid; the exit must be clean. Returns the whole log.
    fn stop(&mut self) -> String {
        let mut c = self.child.take().expect("server running");
        signal(&c, libc::SIGTERM);
        let start = Instant::now();
        let status = loop {
            if let Some(st) = c.try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > WAIT {
                let _ = c.kill();
                break c.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = self.log();
        assert!(
            status.success(),
            "server :{} exit {status}:\n{log}",
            self.port
        );
        log
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Shared settings of one test's fleet.
struct Setup {
    fleet: &'static Fleet,
    dir: PathBuf,
    redis: Redis,
    key: PathBuf,
    auth: PathBuf,
}

impl Setup {
    fn new(name: &str) -> Option<Setup> {
        let fleet = fleet()?;
        let dir = scratch_dir(name);
        let redis = Redis::start(&dir.join("redis"), free_port());
        let key = random_key(&dir.join("fleet.key"));
        let auth = secret_file(
            &dir.join("redis.auth"),
            format!("{} {}\n", REDIS_MTA.0, REDIS_MTA.1).as_bytes(),
        );
        Some(Setup {
            fleet,
            dir,
            redis,
            key,
            auth,
        })
    }

    fn redis_arg(&self) -> String {
        format!("127.0.0.1:{}", self.redis.port)
    }

    fn fleet_args(&self, c: &mut Command) {
        c.arg("-R")
            .arg(self.redis_arg())
            .arg("-k")
            .arg(&self.key)
            .arg("-a")
            .arg(&self.auth);
    }

    /// Start fleet-smtpd number `n` (with `wrapper`, e.g. valgrind); wait
    /// for its listener.
    fn server(&self, n: usize, period: &str, extra: &[&str], wrapper: &[&str]) -> Server {
        let mut c = if wrapper.is_empty() {
            self.fleet.cmd("fleet-smtpd")
        } else {
            let mut c = Command::new(wrapper[0]);
            c.args(&wrapper[1..])
                .arg(self.fleet.bin.join("fleet-smtpd"))
                .env("LD_LIBRARY_PATH", &self.fleet.lib);
            c
        };
        self.fleet_args(&mut c);
        let chain = keys().join("rsa.pem");
        c.args(["-r", "1", "-o"])
            .arg(format!("smtpd_tls_chain_files={}", chain.display()))
            .arg("-o")
            .arg(format!("smtpd_tls_session_cache_timeout={period}"))
            .args(["-o", "smtpd_tls_loglevel=2"])
            .args(extra)
            .arg("127.0.0.1:0");
        let log = self.dir.join(format!("server{n}.log"));
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = c.spawn().expect("start fleet-smtpd");
        let mut s = Server {
            child: Some(child),
            log,
            port: 0,
        };
        let start = Instant::now();
        loop {
            if let Some(p) = s
                .log()
                .lines()
                .find_map(|l| l.strip_prefix("fleet-smtpd: listening on 127.0.0.1:"))
                .and_then(|p| p.trim().parse().ok())
            {
                s.port = p;
                return s;
            }
            if let Some(st) = s.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("fleet-smtpd exited {st}:\n{}", s.log());
            }
            assert!(
                start.elapsed() < WAIT * 3,
                "fleet-smtpd did not listen:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Run fleet-client once (session cache key `sid`) against `ports`;
    /// returns one word per connection ("resumed" / "full" / "failed"),
    /// its stderr and how long it took. It must exit 0: every connection
    /// established TLS.
    fn client(&self, sid: &str, ports: &[u16], extra: &[&str]) -> ClientRun {
        self.client_with(sid, ports, extra, &[], &self.key)
    }

    fn client_with(
        &self,
        sid: &str,
        ports: &[u16],
        extra: &[&str],
        wrapper: &[&str],
        key: &Path,
    ) -> ClientRun {
        let mut c = if wrapper.is_empty() {
            self.fleet.cmd("fleet-client")
        } else {
            let mut c = Command::new(wrapper[0]);
            c.args(&wrapper[1..])
                .arg(self.fleet.bin.join("fleet-client"))
                .env("LD_LIBRARY_PATH", &self.fleet.lib);
            c
        };
        c.arg("-R")
            .arg(self.redis_arg())
            .arg("-k")
            .arg(key)
            .arg("-a")
            .arg(&self.auth)
            .args(["-i", sid, "-o", "smtp_starttls_timeout=20s"])
            .args(extra);
        for p in ports {
            c.arg(format!("127.0.0.1:{p}"));
        }
        let start = Instant::now();
        let out = run_bounded(&mut c, Duration::from_secs(120));
        let elapsed = start.elapsed();
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert!(
            out.status.success(),
            "fleet-client {sid} {ports:?} exit {}:\n{stdout}{stderr}",
            out.status
        );
        let results = stdout
            .lines()
            .map(|l| match l.rsplit(": ").next() {
                Some("resumed") => "resumed",
                Some("full handshake") => "full",
                _ => "failed",
            })
            .collect();
        ClientRun {
            results,
            stderr,
            elapsed,
        }
    }
}

struct ClientRun {
    results: Vec<&'static str>,
    stderr: String,
    elapsed: Duration,
}

impl ClientRun {
    fn expect(&self, want: &[&str], what: &str) {
        assert_eq!(self.results, want, "{what}:\n{}", self.stderr);
    }

    /// The value of counter `name` ("ignored corrupt=3" -> 3) in the stats line.
    fn stat(&self, name: &str) -> u64 {
        stat(&self.stderr, name)
    }
}

/// A counter from the last "fleet: stats:" line of `log`: `name` is the
/// text before '=' ("corrupt", "hit", "repaired", ...).
fn stat(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("fleet: stats: "))
        .unwrap_or_else(|| panic!("no stats line in:\n{log}"));
    let at = line
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name} in {line}"));
    line[at + name.len() + 2..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Sleep until `offset` seconds into the next period of `period` seconds
/// (or into the current one when that point is still ahead by less than
/// `slack`); returns the epoch then current.
fn align(period: u64, offset: f64) -> u64 {
    let p = period as f64;
    let now = now_f64();
    let into = now % p;
    let wait = if into <= offset {
        offset - into
    } else {
        p - into + offset
    };
    std::thread::sleep(Duration::from_secs_f64(wait));
    (now_f64() / p) as u64
}

fn epoch_now(period: u64) -> u64 {
    (now_f64() / period as f64) as u64
}

// ---- the tests ----

/// The example builds from `make install`'s tree with pkg-config alone
/// (under -std=c99 -Wall -Wextra -Werror -pedantic), links the installed
/// library, and refuses a fleet key that others can read.
#[test]
fn fleet_example_builds_from_installed_tree() {
    let _g = serial();
    let Some(f) = fleet() else { return };
    let out = run_bounded(
        Command::new("ldd")
            .arg(f.bin.join("fleet-smtpd"))
            .env("LD_LIBRARY_PATH", &f.lib),
        Duration::from_secs(30),
    );
    let ldd = text(&out.stdout);
    assert!(ldd.contains(&format!("=> {}", f.lib.display())), "{ldd}");
    assert!(ldd.contains("libhiredis"), "{ldd}");
    let dir = scratch_dir("fleet-keyfile");
    let key = random_key(&dir.join("open.key"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_bounded(
        f.cmd("fleet-smtpd")
            .args(["-R", "127.0.0.1:1", "-k"])
            .arg(&key)
            .arg("127.0.0.1:0"),
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("group or others have access (mode 644); chmod 600 it"),
        "{}",
        text(&out.stderr)
    );
    let short = secret_file(&dir.join("short.key"), b"0123456789");
    let out = run_bounded(
        f.cmd("fleet-client")
            .args(["-R", "127.0.0.1:1", "-k"])
            .arg(&short)
            .arg("127.0.0.1:25"),
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("want exactly 32 random bytes"),
        "{}",
        text(&out.stderr)
    );
}

/// Three servers, one Redis: a full handshake at one server resumes at the
/// other two from other client processes; what Redis holds is wrapped;
/// after a rotation every server accepts tickets under the previous key
/// and issues under the new one, for one period only.
#[test]
fn fleet_three_servers_share_sessions_and_rotate_ticket_keys() {
    let _g = serial();
    let Some(setup) = Setup::new("fleet-rotation") else {
        return;
    };
    const PERIOD: u64 = 8;
    let period = format!("{PERIOD}s");
    let mut servers: Vec<Server> = (0..3)
        .map(|i| setup.server(i, &period, if i == 0 { &["-P"] } else { &[] }, &[]))
        .collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();

    // Start of a period, with a margin for the servers' rotation tick.
    let n = align(PERIOD, 1.5);
    for s in &servers {
        s.wait_for(&format!("ticket key of epoch {n} installed (shared"), 0);
    }
    let (e_old, e_new) = ((n + 1) * PERIOD, (n + 2) * PERIOD);

    // One relay's full handshake resumes from two other relays.
    let pool = "[mx.pool.test]:25";
    setup
        .client(pool, &ports[..1], &[])
        .expect(&["full"], "first contact");
    setup
        .client(pool, &ports[1..2], &[])
        .expect(&["resumed"], "second relay, second server");
    setup
        .client(pool, &ports[2..3], &[])
        .expect(&["resumed"], "third relay, third server");

    // Redis holds only wrapped values.
    let cached = setup.redis.keys("mtatls:sc:*");
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with("mtatls:sc:[mx.pool.test]:25&"));
    let tks = setup.redis.keys(&format!("mtatls:tk:{PERIOD}:*"));
    assert!(
        tks.contains(&format!("mtatls:tk:{PERIOD}:{n}"))
            && tks.contains(&format!("mtatls:tk:{PERIOD}:{}", n + 1)),
        "keys published ahead: {tks:?}"
    );
    for k in cached.iter().chain(tks.iter()) {
        let v = setup.redis.get(k).unwrap();
        assert_eq!(&v[..5], b"MTFL\x01", "{k} not wrapped");
    }
    // The MTA's Redis user sees its own keys only.
    let foreign = resp_as(
        setup.redis.port,
        REDIS_MTA,
        &[b"GET", b"other:key"],
        Duration::from_secs(5),
    );
    assert!(
        matches!(&foreign, Resp::Error(e) if e.starts_with("NOPERM")),
        "{foreign:?}"
    );

    // Sessions made under the key of epoch n, one per server, and one kept.
    for (i, sid) in ["r0", "r1", "r2", "r3"].iter().enumerate() {
        setup
            .client(sid, &ports[i % 3..i % 3 + 1], &[])
            .expect(&["full"], sid);
    }
    assert_eq!(
        epoch_now(PERIOD),
        n,
        "the machine was too slow to finish within one period"
    );

    // Rotation: the key of epoch n+1 issues; that of n still decrypts.
    std::thread::sleep(Duration::from_secs_f64(
        (e_old as f64 + 1.5 - now_f64()).max(0.0),
    ));
    let marks: Vec<usize> = servers.iter().map(|s| s.log().len()).collect();
    for s in &servers {
        s.wait_for(
            &format!("ticket key of epoch {} installed (shared", n + 1),
            0,
        );
    }
    for (i, sid) in ["r0", "r1", "r2"].iter().enumerate() {
        setup
            .client(sid, &ports[i..i + 1], &[])
            .expect(&["resumed"], &format!("{sid} after the rotation"));
        let log = servers[i].log();
        let since = &log[marks[i]..];
        assert!(
            since.contains(&format!(
                "Decrypting session ticket, key expiration: {e_old}"
            )),
            "server {i} did not decrypt under the previous key:\n{since}"
        );
        assert!(
            since.contains(&format!("Issuing session ticket, key expiration: {e_new}")),
            "server {i} did not renew under the new key:\n{since}"
        );
        assert!(!since.contains(&format!("Issuing session ticket, key expiration: {e_old}")));
    }
    // A new session is issued under the new key and resumes everywhere.
    let run = setup.client("q", &[ports[1], ports[2], ports[0]], &[]);
    run.expect(
        &["full", "resumed", "resumed"],
        "new session after rotation",
    );
    assert!(servers[1].log()[marks[1]..]
        .contains(&format!("Issuing session ticket, key expiration: {e_new}")));

    // One period later the key of epoch n no longer decrypts: r3 (unused
    // since) is a full handshake; r0, renewed under n+1, still resumes.
    std::thread::sleep(Duration::from_secs_f64(
        (e_new as f64 + 1.5 - now_f64()).max(0.0),
    ));
    for s in &servers {
        s.wait_for(
            &format!("ticket key of epoch {} installed (shared", n + 2),
            0,
        );
    }
    setup
        .client("r3", &ports[1..2], &[])
        .expect(&["full"], "ticket two periods old");
    setup
        .client("r0", &ports[2..3], &[])
        .expect(&["resumed"], "renewed ticket, previous key");

    for s in servers.iter_mut() {
        let log = s.stop();
        for (counter, want) in [
            ("corrupt", 0),
            ("foreign", 0),
            ("local", 0),
            ("failures", 0),
        ] {
            assert_eq!(stat(&log, counter), want, "{counter}:\n{log}");
        }
        assert!(!log.contains("SSL_accept error"), "{log}");
    }
    assert!(stat(&servers[0].log(), "published") >= 3);
}

/// Redis hanging, slow, killed and restarted empty; corrupt, truncated,
/// foreign and moved entries.
#[test]
fn fleet_survives_redis_outages_and_ignores_untrusted_entries() {
    let _g = serial();
    let Some(mut setup) = Setup::new("fleet-outage") else {
        return;
    };
    // A period of a day, not crossed during the test: keys stay the same.
    const DAY: u64 = 86400;
    if DAY - (now_f64() as u64) % DAY < 120 {
        align(DAY, 2.0);
    }
    let mut servers: Vec<Server> = (0..3)
        .map(|i| setup.server(i, "1d", if i == 0 { &["-P"] } else { &[] }, &[]))
        .collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    for s in &servers {
        s.wait_for("ticket key of epoch ", 0);
    }
    let pool = "[mx.pool.test]:25";
    let t = ["-t", "250"];
    setup
        .client(pool, &ports[..2], &t)
        .expect(&["full", "resumed"], "baseline");

    // Hanging: commands get no reply. Full handshakes, one timeout per
    // retry interval, nothing reaches the peer.
    setup.redis.pause();
    let run = setup.client(pool, &[ports[2], ports[1], ports[0]], &t);
    run.expect(&["full", "full", "full"], "redis hanging");
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert!(
        run.stderr.contains("unavailable") && run.stderr.contains("no reply within 250 ms"),
        "{}",
        run.stderr
    );
    assert!(run.stat("failures") >= 1 && run.stat("skipped") >= 1);
    std::thread::sleep(Duration::from_millis(1500)); // the servers' ticks time out too
    setup.redis.resume();
    std::thread::sleep(Duration::from_millis(1200)); // past the retry interval
    setup
        .client(pool, &ports[2..3], &t)
        .expect(&["resumed"], "redis back");

    // Slow: busy for longer than the timeout.
    let port = setup.redis.port;
    let sleeper = std::thread::spawn(move || {
        resp_as(
            port,
            REDIS_ADMIN,
            &[b"DEBUG", b"SLEEP", b"1.5"],
            Duration::from_secs(10),
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    let run = setup.client(pool, &ports[1..2], &t);
    run.expect(&["full"], "redis slow");
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert_eq!(sleeper.join().unwrap(), Resp::Simple("OK".into()));

    // Down: connection refused.
    let installed_before: Vec<usize> = servers
        .iter()
        .map(|s| s.log().matches("installed (shared").count())
        .collect();
    let marks: Vec<usize> = servers.iter().map(|s| s.log().len()).collect();
    let redis_dir = setup.redis.dir.clone();
    setup.redis.kill();
    let run = setup.client(pool, &ports[..2], &t);
    run.expect(&["full", "full"], "redis down");
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert!(run.stderr.contains("Connection refused"), "{}", run.stderr);
    // The servers' refreshes meet the outage (they log it once per outage:
    // some are still down from the slow phase).
    std::thread::sleep(Duration::from_millis(1500));

    // Restarted empty on the same port: the publisher stores the keys in
    // use again (not new ones), and resumption returns.
    setup.redis = Redis::start(&redis_dir, port);
    let start = Instant::now();
    while setup.redis.keys("mtatls:tk:86400:*").len() < 2 {
        assert!(start.elapsed() < WAIT, "keys not republished");
        std::thread::sleep(Duration::from_millis(100));
    }
    for (s, m) in servers.iter().zip(&marks) {
        s.wait_for("reachable again", *m);
    }
    std::thread::sleep(Duration::from_millis(1500)); // one more refresh everywhere
    for (s, before) in servers.iter().zip(&installed_before) {
        assert_eq!(
            s.log().matches("installed (shared").count(),
            *before,
            "a server changed keys across the restart:\n{}",
            s.log()
        );
    }
    setup
        .client(pool, &ports[..1], &t)
        .expect(&["full"], "empty cache");
    setup
        .client(pool, &ports[1..3], &t)
        .expect(&["resumed", "resumed"], "after the restart");

    // Untrusted session entries: never given to the library, counted.
    let name = setup.redis.keys("mtatls:sc:*").pop().expect("a session");
    let good = setup.redis.get(&name).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"\x30\x82 not a wrapped session".to_vec(),
            "corrupt",
        ),
        ("truncated", good[..good.len() - 7].to_vec(), "foreign"),
        (
            "flipped",
            {
                let mut v = good.clone();
                let i = v.len() / 2;
                v[i] ^= 1;
                v
            },
            "foreign",
        ),
        (
            "header",
            {
                let mut v = good.clone();
                v[4] = 9; // unknown version
                v
            },
            "foreign",
        ),
    ];
    for (what, value, counter) in cases {
        setup.redis.set(&name, &value);
        let run = setup.client(pool, &ports[1..2], &t);
        run.expect(&["full"], what);
        assert_eq!(run.stat(counter), 1, "{what}: {}", run.stderr);
        assert!(run.stderr.contains("ignored"), "{}", run.stderr);
        // The full handshake stored a good session again.
        setup
            .client(pool, &ports[2..3], &t)
            .expect(&["resumed"], &format!("after {what}"));
    }
    // Moved: a good entry of another server id under this name.
    setup
        .client("[other.test]:25", &ports[..1], &t)
        .expect(&["full"], "other");
    let other = setup
        .redis
        .keys("mtatls:sc:\\[other.test\\]:25*")
        .pop()
        .unwrap();
    setup.redis.set(&name, &setup.redis.get(&other).unwrap());
    let run = setup.client(pool, &ports[..1], &t);
    run.expect(&["full"], "moved entry");
    assert_eq!(run.stat("foreign"), 1);
    // Another fleet's key: entries do not authenticate, either way.
    let other_key = random_key(&setup.dir.join("other.key"));
    let run = setup.client_with(pool, &ports[1..2], &t, &[], &other_key);
    run.expect(&["full"], "another fleet reads ours");
    assert_eq!(run.stat("foreign"), 1);
    let run = setup.client(pool, &ports[2..3], &t);
    run.expect(&["full"], "we read another fleet's");
    assert_eq!(run.stat("foreign"), 1);

    // Untrusted ticket key entries: the next key's entry corrupt, the
    // current one replaced by a copy of the next (moved): ignored by
    // everyone, nothing installed from them, the publisher repairs both.
    let epoch = epoch_now(DAY);
    let (cur, next) = (
        format!("mtatls:tk:{DAY}:{epoch}"),
        format!("mtatls:tk:{DAY}:{}", epoch + 1),
    );
    // The publisher is held (SIGSTOP) until the others have seen them.
    let next_value = setup.redis.get(&next).unwrap();
    let marks: Vec<usize> = servers.iter().map(|s| s.log().len()).collect();
    signal(servers[0].child.as_ref().unwrap(), libc::SIGSTOP);
    setup.redis.set(&next, b"junk");
    setup.redis.set(&cur, &next_value);
    for (s, m) in servers.iter().zip(&marks).skip(1) {
        s.wait_for("ignored", *m);
    }
    std::thread::sleep(Duration::from_millis(1200));
    signal(servers[0].child.as_ref().unwrap(), libc::SIGCONT);
    servers[0].wait_for("was unusable: replaced", marks[0]);
    std::thread::sleep(Duration::from_millis(1500));
    for (s, m) in servers.iter().zip(&marks) {
        assert!(
            !s.log()[*m..].contains(" installed ("),
            "installed a key from an untrusted entry:\n{}",
            &s.log()[*m..]
        );
    }
    setup
        .client(pool, &ports[..1], &t)
        .expect(&["resumed"], "keys intact");
    for v in [
        setup.redis.get(&cur).unwrap(),
        setup.redis.get(&next).unwrap(),
    ] {
        assert_eq!(&v[..5], b"MTFL\x01");
    }

    for (i, s) in servers.iter_mut().enumerate() {
        let log = s.stop();
        assert!(!log.contains("SSL_accept error"), "{log}");
        assert!(stat(&log, "failures") >= 1, "{log}");
        assert!(stat(&log, "corrupt") + stat(&log, "foreign") >= 2, "{log}");
        if i == 0 {
            assert!(stat(&log, "repaired") >= 2, "{log}");
        }
    }
}

/// The example under valgrind memcheck: a server for four connections and
/// clients through a full handshake, a resumption, an untrusted entry and
/// Redis down; no invalid access, no definite or indirect leak.
#[test]
fn fleet_example_under_valgrind() {
    let _g = serial();
    let Some(mut setup) = Setup::new("fleet-valgrind") else {
        return;
    };
    if !have("valgrind") {
        assert!(
            !required("MTATLS_REQUIRE_VALGRIND") && !required("MTATLS_REQUIRE_FLEET"),
            "valgrind is required but missing"
        );
        eprintln!("SKIPPED (fleet): valgrind not installed");
        return;
    }
    let mut server = setup.server(0, "1d", &["-P", "-n", "4"], VALGRIND);
    server.wait_for("ticket key of epoch ", 0);
    let p = [server.port];
    let sid = "[mx.pool.test]:25";
    setup
        .client_with(sid, &p, &["-n", "2"], VALGRIND, &setup.key)
        .expect(&["full", "resumed"], "valgrind: full, resumed");
    let name = setup.redis.keys("mtatls:sc:*").pop().unwrap();
    setup.redis.set(
        &name,
        b"MTFL\x01\x02\x00\x00 well-formed header, then junk that does not authenticate",
    );
    let run = setup.client_with(sid, &p, &[], VALGRIND, &setup.key);
    run.expect(&["full"], "valgrind: untrusted entry");
    assert_eq!(run.stat("foreign"), 1);
    setup.redis.kill();
    setup
        .client_with(sid, &p, &[], VALGRIND, &setup.key)
        .expect(&["full"], "valgrind: redis down");
    // The server exits by itself after -n 4; valgrind's verdict is its status.
    let mut child = server.child.take().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "server under valgrind: {status}\n{}",
        server.log()
    );
}
