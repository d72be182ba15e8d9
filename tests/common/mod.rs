//! Shared helpers of the integration tests: build the C library and the C
//! programs (once per test process, serialized across processes with a
//! lock file), make test keys with the openssl CLI, and run programs with
//! a bounded wait.

#![allow(dead_code)]

pub mod forms;
pub mod pair;
pub mod peers;
pub mod pki;
pub mod postfix;
pub mod tlsrpt;

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

/// The C programs the tests run: name, main source, the other sources.
const C_PROGRAMS: &[(&str, &str, &[&str])] = &[
    (
        "handshake_cases",
        "c-tests/handshake_cases.c",
        &["c-tests/harness.c"],
    ),
    ("api_misuse", "c-tests/api_misuse.c", &["c-tests/harness.c"]),
    ("sessions", "c-tests/sessions.c", &["c-tests/harness.c"]),
    ("threads", "c-tests/threads.c", &["c-tests/harness.c"]),
    ("failclosed", "c-tests/failclosed.c", &["c-tests/harness.c"]),
    ("policies", "c-tests/policies.c", &["c-tests/harness.c"]),
    (
        "mtatls-smtpd",
        "examples/mtatls-smtpd.c",
        &["examples/smtp_io.c"],
    ),
    (
        "mtatls-finger",
        "examples/mtatls-finger.c",
        &["examples/smtp_io.c"],
    ),
    (
        "mtatls-fsreport",
        "examples/mtatls-fsreport.c",
        &["examples/smtp_io.c"],
    ),
    ("quickstart", "examples/quickstart.c", &[]),
];

/// Headers every program depends on (a change rebuilds them all).
const C_HEADERS: &[&str] = &[
    "include/mtatls.h",
    "c-tests/harness.h",
    "examples/smtp_io.h",
];

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Compile one program with the C compiler the `cc` crate finds (CC and
/// CFLAGS honoured), as the harnesses are meant to be: C99, every warning
/// an error, linked against the library this build made.
fn compile(name: &str, sources: &[&str], libdir: &Path, out: &Path) {
    compile_with(name, sources, libdir, out, &[]);
}

/// `compile` with `extra` arguments for the compiler (definitions,
/// include and library directories, libraries).
fn compile_with(name: &str, sources: &[&str], libdir: &Path, out: &Path, extra: &[String]) {
    let exe = out.join(name);
    let newest_input = sources
        .iter()
        .chain(C_HEADERS)
        .map(|s| root().join(s))
        .chain([libdir.join("libmtatls.so")])
        .filter_map(|p| modified(&p))
        .max();
    if let (Some(built), Some(input)) = (modified(&exe), newest_input) {
        if built >= input {
            return;
        }
    }
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .cargo_warnings(false)
        .target(env!("MTATLS_TARGET"))
        .host(env!("MTATLS_TARGET"))
        .opt_level(1)
        .debug(true)
        .get_compiler();
    let mut cmd = compiler.to_command();
    cmd.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(root().join("include"))
        .arg("-o")
        .arg(&exe);
    for s in sources {
        cmd.arg(root().join(s));
    }
    cmd.arg(format!("-L{}", libdir.display()))
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .args(["-lmtatls", "-lpthread"]);
    // The finger prints certificates with OpenSSL calls of its own.
    if name.starts_with("mtatls-finger") {
        cmd.arg("-lcrypto");
    }
    cmd.args(extra);
    let st = cmd
        .status()
        .unwrap_or_else(|e| panic!("run the C compiler for {name}: {e}"));
    assert!(st.success(), "compiling {name} failed: {cmd:?}");
}

/// Build libmtatls.so and every C program (through the `cc` crate: no
/// make needed); returns the directory of the C binaries
/// (`target/<profile>/c`).
pub fn c_binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let profile_dir = profile_dir();
        let _lock = Lock::take(&profile_dir.join(".mtatls-c-build.lock"));
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "-p", "mtatls", "--lib", "--manifest-path"])
            .arg(root().join("Cargo.toml"));
        if release {
            cargo.arg("--release");
        }
        let st = cargo.status().expect("run cargo build");
        assert!(st.success(), "cargo build --lib failed");
        // The loader looks for the SONAME: give the build tree that name
        // (left alone when it is right: test processes of other releases
        // may be running the programs now; else made by an atomic rename).
        let soname = profile_dir.join(env!("MTATLS_SONAME"));
        let target = Path::new("libmtatls.so");
        if std::fs::read_link(&soname).ok().as_deref() != Some(target) {
            let tmp = profile_dir.join(format!(".soname-{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp).expect("SONAME link");
            std::fs::rename(&tmp, &soname).expect("SONAME link rename");
        }
        let out = profile_dir.join("c");
        std::fs::create_dir_all(&out).expect("C output directory");
        for (name, main, others) in C_PROGRAMS {
            let mut sources = vec![*main];
            sources.extend_from_slice(others);
            compile(name, &sources, &profile_dir, &out);
        }
        out
    })
}

/// mtatls-finger built with its TLSRPT option (`-Q`): linked with the
/// libtlsrpt in `tlsrpt` (`include/tlsrpt.h`, `lib/libtlsrpt.so`, as
/// Postfix's build-postfix.sh installs it in PF_ROOT/tlsrpt), as
/// `target/<profile>/c/mtatls-finger-tlsrpt`.
pub fn finger_with_tlsrpt(tlsrpt: &Path) -> PathBuf {
    let out = c_binaries();
    let _lock = Lock::take(&profile_dir().join(".mtatls-c-build.lock"));
    let lib = tlsrpt.join("lib");
    compile_with(
        "mtatls-finger-tlsrpt",
        &["examples/mtatls-finger.c", "examples/smtp_io.c"],
        &profile_dir(),
        out,
        &[
            "-DMTATLS_FINGER_TLSRPT".into(),
            format!("-I{}", tlsrpt.join("include").display()),
            format!("-L{}", lib.display()),
            format!("-Wl,-rpath,{}", lib.display()),
            "-ltlsrpt".into(),
        ],
    );
    out.join("mtatls-finger-tlsrpt")
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
/// Its piped output is read while it runs, so that a child writing more
/// than a pipe holds (valgrind's reports) does not block until the limit.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    fn reader<R: std::io::Read + Send + 'static>(
        pipe: Option<R>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(st) => break st,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                break child.wait().expect("wait");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
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
