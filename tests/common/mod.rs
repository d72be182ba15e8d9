//! Shared helpers of the integration tests: build the C library and the C
//! programs (once per test process, serialized across processes with a
//! lock file), make test keys with the openssl CLI, and run programs with
//! a bounded wait.

#![allow(dead_code)]

pub mod pair;
pub mod peers;
pub mod pki;
pub mod postfix;

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The crate's root directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>` of this test binary (…/target/debug/deps/test-x).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

struct Lock(File);

impl Lock {
    fn take(path: &Path) -> Lock {
        let f = File::create(path).expect("lock file");
        // SAFETY: flock on a file we own.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        Lock(f)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Build libmtatls.so and every C program; returns the directory of the
/// C binaries (`target/<profile>/c`).
pub fn c_binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let profile_dir = profile_dir();
        let _lock = Lock::take(&profile_dir.join(".mtatls-c-build.lock"));
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--lib", "--manifest-path"])
            .arg(root().join("Cargo.toml"));
        if release {
            cargo.arg("--release");
        }
        let st = cargo.status().expect("run cargo build");
        assert!(st.success(), "cargo build --lib failed");
        let out = profile_dir.join("c");
        let st = Command::new("make")
            .current_dir(root())
            .arg("-s")
            .arg("c-build")
            .arg(format!("LIBDIR={}", profile_dir.display()))
            .arg(format!("OUT={}", out.display()))
            .status()
            .expect("run make");
        assert!(st.success(), "make c-build failed");
        out
    })
}

/// A fresh directory under the target dir (removed by the OS's tmp cleaning
/// only; tests name it after themselves).
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = profile_dir()
        .join("test-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Test keys made by `c-tests/make-keys.sh` (once per process).
pub fn keys() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = scratch_dir("keys");
        let st = Command::new("sh")
            .arg(root().join("c-tests/make-keys.sh"))
            .arg(&d)
            .status()
            .expect("run make-keys.sh");
        assert!(st.success(), "make-keys.sh failed");
        d
    })
}

/// Read a file to a string, trimmed.
pub fn read_trimmed(path: &Path) -> String {
    let mut s = String::new();
    File::open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
        .read_to_string(&mut s)
        .expect("read");
    s.trim().to_string()
}

/// Run a command to completion, killing it after `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    wait_bounded(child, limit)
}

/// Wait for `child` at most `limit`, then kill it (by pid) and collect output.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => break,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                break;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    child.wait_with_output().expect("wait_with_output")
}

/// Whether an environment flag says peers/tools are required (CI).
pub fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1" || v == "yes")
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .is_ok_and(|s| s.success())
}
