//! The TLSRPT peers of the tests (tests/postfix_shim.rs, tests/tlsrpt.rs):
//! a real tlsrpt-collectd (pip package tlsrpt-reporter; $MTATLS_TLSRPT_COLLECTD
//! names its executable) and what it stored, dnsmasq or a DNS server of the
//! test's own (with DNSSEC-validated answers, for DANE) on a loopback
//! address, and the mount namespace in which Postfix's daemons (or a
//! client) see that server as their resolver. Every process is stopped by
//! its pid; every wait is bounded.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::peers::wait_for;

const WAIT: Duration = Duration::from_secs(30);

/// A program from $VAR, else from PATH.
pub fn tool(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// A child process stopped by its pid when dropped: SIGTERM, a bounded
/// wait, then SIGKILL.
pub struct Daemon {
    what: &'static str,
    child: std::process::Child,
}

impl Daemon {
    pub fn spawn(what: &'static str, cmd: &mut Command, log: &Path) -> Daemon {
        let out = fs::File::create(log).expect("daemon log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        Daemon { what, child }
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        if self.running() {
            // SAFETY: signalling the child this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let gone = wait_for(Duration::from_secs(10), || {
                matches!(self.child.try_wait(), Ok(Some(_))).then_some(())
            });
            if gone.is_none() {
                eprintln!("{}: killing pid {pid}", self.what);
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// A query for `name` (type `qtype`) to a DNS server at `addr`:53: the
/// response code and answer count, if it answered within a second.
pub fn dns_query(addr: &str, name: &str, qtype: u16) -> Option<(u8, u16)> {
    let mut q = vec![0x4d, 0x54, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
    let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    s.send_to(&q, (addr, 53)).ok()?;
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf).ok()?;
    (n >= 12).then(|| (buf[3] & 15, u16::from_be_bytes([buf[6], buf[7]])))
}

/// dnsmasq on a loopback address of its own (port 53), answering for
/// each `DOMAIN`: MX `mx.DOMAIN` (A 127.0.0.1) and the TLSRPT policy TXT
/// `_smtp._tls.DOMAIN`; nothing else (no upstream, no /etc/hosts).
pub fn dns_server(dir: &Path, domains: &[&str]) -> (Daemon, String) {
    let addr = format!("127.53.{}.{}", std::process::id() % 250 + 1, 53);
    let mut cmd = Command::new(tool("MTATLS_DNSMASQ", "dnsmasq").expect("dnsmasq"));
    cmd.args([
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--bind-interfaces",
        "--port=53",
        "--pid-file=",
        "--log-queries",
        "--log-facility=-",
    ])
    .arg(format!("--listen-address={addr}"));
    for d in domains {
        cmd.arg(format!("--mx-host={d},mx.{d},10"))
            .arg(format!("--host-record=mx.{d},127.0.0.1"))
            .arg(format!(
                "--txt-record=_smtp._tls.{d},v=TLSRPTv1; rua=mailto:tlsrpt@{d}"
            ));
    }
    let mut dns = Daemon::spawn("dnsmasq", &mut cmd, &dir.join("dnsmasq.log"));
    let up = wait_for(WAIT, || {
        assert!(
            dns.running(),
            "dnsmasq exited: {}",
            fs::read_to_string(dir.join("dnsmasq.log")).unwrap_or_default()
        );
        dns_query(&addr, &format!("_smtp._tls.{}", domains[0]), 16)
            .filter(|&(rcode, answers)| rcode == 0 && answers == 1)
    });
    assert!(
        up.is_some(),
        "dnsmasq on {addr} does not answer: {}",
        fs::read_to_string(dir.join("dnsmasq.log")).unwrap_or_default()
    );
    (dns, addr)
}

/// tlsrpt-collectd receiving on `DIR/NAME.sock`, storing in
/// `DIR/NAME.sqlite` (committed after each datagram).
pub fn collectd(dir: &Path, name: &str) -> (Daemon, PathBuf, PathBuf) {
    let (sock, db) = (
        dir.join(format!("{name}.sock")),
        dir.join(format!("{name}.sqlite")),
    );
    let mut cmd =
        Command::new(tool("MTATLS_TLSRPT_COLLECTD", "tlsrpt-collectd").expect("tlsrpt-collectd"));
    cmd.arg(format!("--storage=sqlite://{}", db.display()))
        .arg(format!("--socketname={}", sock.display()))
        .args([
            "--socketmode=0666",
            "--sockettimeout=1",
            "--max_uncommited_datagrams=1",
            "--log_level=debug",
        ])
        .arg(format!(
            "--pidfilename={}",
            dir.join(format!("{name}.pid")).display()
        ))
        .arg(format!(
            "--logfilename={}",
            dir.join(format!("{name}.log")).display()
        ));
    let mut d = Daemon::spawn(
        "tlsrpt-collectd",
        &mut cmd,
        &dir.join(format!("{name}.out")),
    );
    let up = wait_for(WAIT, || {
        assert!(
            d.running(),
            "tlsrpt-collectd exited: {}",
            collectd_log(dir, name)
        );
        sock.exists().then_some(())
    });
    assert!(
        up.is_some(),
        "no {}: {}",
        sock.display(),
        collectd_log(dir, name)
    );
    (d, sock, db)
}

pub fn collectd_log(dir: &Path, name: &str) -> String {
    ["out", "log"]
        .iter()
        .map(|e| fs::read_to_string(dir.join(format!("{name}.{e}"))).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What tlsrpt-collectd stored: `finalresults` and `failures` rows as
/// text (the day left out), sorted.
pub fn tlsrpt_rows(db: &Path) -> Vec<String> {
    let py = "import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for r in c.execute('SELECT domain, tlsrptrecord, policy, cntrtotal, cntrfailure FROM finalresults'):
    print('finalresults', repr(r))
for r in c.execute('SELECT domain, tlsrptrecord, policy, reason, cntr FROM failures'):
    print('failures', repr(r))
";
    let o = super::run_bounded(
        Command::new("python3")
            .stdin(Stdio::null())
            .arg("-c")
            .arg(py)
            .arg(db),
        Duration::from_secs(30),
    );
    let mut rows: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

/// The shell script that runs `real` (a Postfix daemon) in a mount
/// namespace of its own, where `resolv` is /etc/resolv.conf.
pub fn in_namespace(real: &Path, resolv: &Path) -> String {
    format!(
        "#!/bin/sh\n# master(8) and every daemon it starts see {r} as /etc/resolv.conf\n\
         exec unshare -m --propagation private sh -c 'mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"' '{r}' '{m}' \"$@\"\n",
        r = resolv.display(),
        m = real.display()
    )
}

/// What [`DnsServer`] answers for one next-hop domain `D`: MX `mx.D`
/// (preference 10), A `mx.D` 127.0.0.1, the TLSRPT policy TXT
/// `_smtp._tls.D` (`record`), and for `_PORT._tcp.mx.D` (any port) the
/// TLSA records `tlsa` (usage, selector, matching type, data).
pub struct Zone {
    pub domain: String,
    pub record: String,
    pub tlsa: Vec<(u8, u8, u8, Vec<u8>)>,
}

/// A DNS server of the test's own on a loopback address (UDP port 53), in
/// a thread: the answers of its [`Zone`]s, every one marked authentic
/// (AD), as a validating resolver marks DNSSEC-signed data, so that
/// Postfix's DANE uses the TLSA records (with `options trust-ad` in the
/// resolv.conf that names it); NXDOMAIN for every other name. Stopped
/// (and joined) on drop.
pub struct DnsServer {
    pub addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(zones: Vec<Zone>) -> DnsServer {
        let addr = format!("127.54.{}.{}", std::process::id() % 250 + 1, 53);
        let sock = std::net::UdpSocket::bind((addr.as_str(), 53))
            .unwrap_or_else(|e| panic!("DNS server on {addr}:53: {e}"));
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) = dns_answer(&zones, &buf[..n]) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        DnsServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// A resolv.conf naming this server (and trusting its AD bit), in `dir`.
    pub fn resolv_conf(&self, dir: &Path) -> PathBuf {
        let path = dir.join("resolv.conf");
        fs::write(
            &path,
            format!(
                "nameserver {}\noptions attempts:2 timeout:2 trust-ad\n",
                self.addr
            ),
        )
        .expect("resolv.conf");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        path
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to DNS query `q` from `zones`; `None` for what is no query.
fn dns_answer(zones: &[Zone], q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    // The question: labels (no compression in a query), type, class.
    let mut i = 12;
    let mut labels = vec![];
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question = &q[12..i + 4];
    let name = labels.join(".");
    let mut known = false;
    let mut answers: Vec<(u16, Vec<u8>)> = vec![];
    let wire_name = |n: &str| -> Vec<u8> {
        let mut w = vec![];
        for l in n.split('.') {
            w.push(l.len() as u8);
            w.extend_from_slice(l.as_bytes());
        }
        w.push(0);
        w
    };
    for z in zones {
        let d = z.domain.to_ascii_lowercase();
        let mx = format!("mx.{d}");
        if name == d {
            known = true;
            if qtype == 15 {
                let mut rdata = vec![0, 10];
                rdata.extend(wire_name(&mx));
                answers.push((15, rdata));
            }
        } else if name == mx {
            known = true;
            if qtype == 1 {
                answers.push((1, vec![127, 0, 0, 1]));
            }
        } else if name == format!("_smtp._tls.{d}") {
            known = true;
            if qtype == 16 {
                let mut rdata = vec![];
                for chunk in z.record.as_bytes().chunks(255) {
                    rdata.push(chunk.len() as u8);
                    rdata.extend_from_slice(chunk);
                }
                answers.push((16, rdata));
            }
        } else if labels.len() > 2
            && labels[0].starts_with('_')
            && labels[1] == "_tcp"
            && labels[2..].join(".") == mx
            && !z.tlsa.is_empty()
        {
            known = true;
            if qtype == 52 {
                for (u, s, m, data) in &z.tlsa {
                    let mut rdata = vec![*u, *s, *m];
                    rdata.extend_from_slice(data);
                    answers.push((52, rdata));
                }
            }
        }
    }
    let mut r = vec![q[0], q[1]];
    // QR, the query's opcode and RD; AA; RA and AD; NOERROR or NXDOMAIN.
    r.push(0x80 | (q[2] & 0x79) | 0x04);
    r.push(0x80 | 0x20 | if known { 0 } else { 3 });
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(question);
    for (t, rdata) in answers {
        r.extend_from_slice(&[0xc0, 0x0c]);
        r.extend_from_slice(&t.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 1, 44]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(&rdata);
    }
    Some(r)
}

/// Run `cmd` (a program and its arguments) in a mount namespace of its
/// own where `resolv` is /etc/resolv.conf (the machine's is untouched).
pub fn namespaced(resolv: &Path, cmd: &[String]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
        .arg(resolv)
        .args(cmd);
    c
}

/// Fill `libexec` with the daemons of `real_dir` (symbolic links), master(8)
/// wrapped to run in a mount namespace where `resolv` is /etc/resolv.conf
/// (see [`in_namespace`]): a client instance's `daemon_directory`.
pub fn namespaced_daemons(libexec: &Path, real_dir: &Path, resolv: &Path) {
    fs::create_dir_all(libexec).expect("mkdir libexec");
    for e in fs::read_dir(real_dir).expect("daemon dir") {
        let e = e.expect("entry");
        let to = libexec.join(e.file_name());
        if e.file_name() == "master" {
            fs::write(&to, in_namespace(&e.path(), resolv)).expect("wrapper");
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).expect("chmod");
        } else {
            std::os::unix::fs::symlink(e.path(), &to).expect("symlink");
        }
    }
}
