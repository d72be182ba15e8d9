//! Real peers from the workplace's `peers/` scripts (Postfix smtpd,
//! posttls-finger, ...). Interop tests skip with a message when the peers
//! are not installed, and fail instead when MTATLS_REQUIRE_PEERS=1 (CI).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::run_bounded;

/// The peers script directory: $MTATLS_PEERS_DIR, else `../shared/peers`
/// next to the checkout, else `/work/shared/peers`.
pub fn peers_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("MTATLS_PEERS_DIR") {
        return Some(PathBuf::from(d));
    }
    let sibling = super::root().join("../shared/peers");
    [sibling, PathBuf::from("/work/shared/peers")]
        .into_iter()
        .find(|d| d.join("postfix-smtpd.sh").exists())
}

/// The peers directory if real Postfix can be run here; `None` (after
/// printing why) when the test should be skipped; panics when peers are
/// required but missing.
pub fn available() -> Option<PathBuf> {
    let why = match peers_dir() {
        None => Some("the peers scripts were not found (set MTATLS_PEERS_DIR)".to_string()),
        Some(d) => {
            if !std::path::Path::new("/usr/sbin/posttls-finger").exists() {
                Some(format!(
                    "Postfix is not installed (run {}/install-peers.sh)",
                    d.display()
                ))
            } else if unsafe { libc::geteuid() } != 0 {
                Some("the Postfix peers need root".to_string())
            } else {
                None
            }
        }
    };
    match why {
        None => peers_dir(),
        Some(why) => {
            assert!(
                !super::required("MTATLS_REQUIRE_PEERS"),
                "peers required but unavailable: {why}"
            );
            eprintln!("SKIPPED (real peers): {why}");
            None
        }
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running private Postfix smtpd instance; stopped (and its directory
/// removed) on drop, also when the test fails.
pub struct PostfixSmtpd {
    pub dir: PathBuf,
    pub port: u16,
    peers: PathBuf,
}

impl PostfixSmtpd {
    /// Start `postfix-smtpd.sh PORT DIR params...` on a free port.
    pub fn start(peers: &std::path::Path, params: &[&str]) -> PostfixSmtpd {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("mtatls-pf-{}-{port}", std::process::id()));
        let mut cmd = Command::new("bash");
        cmd.arg(peers.join("postfix-smtpd.sh"))
            .arg(port.to_string())
            .arg(&dir)
            .args(params);
        let out = run_bounded(&mut cmd, Duration::from_secs(60));
        let server = PostfixSmtpd {
            dir,
            port,
            peers: peers.to_path_buf(),
        };
        assert!(
            out.status.success(),
            "postfix-smtpd.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    /// The instance's maillog so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Wait (bounded) until the maillog has a line containing `needle`;
    /// return that line.
    pub fn wait_log_line(&self, needle: &str, limit: Duration) -> Option<String> {
        let start = std::time::Instant::now();
        loop {
            if let Some(l) = self.log().lines().find(|l| l.contains(needle)) {
                return Some(l.to_string());
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PostfixSmtpd {
    fn drop(&mut self) {
        let mut cmd = Command::new("bash");
        cmd.arg(self.peers.join("postfix-stop.sh"))
            .arg(&self.dir)
            .arg("--rm");
        let _ = run_bounded(&mut cmd, Duration::from_secs(60));
    }
}

/// Run `posttls-finger.sh PORT args...`; returns its output lines.
pub fn posttls_finger(peers: &std::path::Path, port: u16, args: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("bash");
    cmd.arg(peers.join("posttls-finger.sh"))
        .arg(port.to_string())
        .args(args);
    let out = run_bounded(&mut cmd, Duration::from_secs(90));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .map(str::to_string)
        .collect()
}

/// The text after `prefix` of the first line that has it and contains
/// "TLS connection established".
pub fn summary_after(lines: &[String], prefix: &str) -> Option<String> {
    lines
        .iter()
        .filter(|l| l.contains("TLS connection established"))
        .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
}
