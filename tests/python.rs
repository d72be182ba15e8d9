//! The Python package (`python/`), against the library this build made:
//! - `python_package_pytest`: its pytest suite (blocking API, library
//!   discovery and version check, asyncio, the aiosmtpd server);
//! - `python_package_installs_in_fresh_venv`: `pip install ./python` in a
//!   fresh virtualenv, a wheel and an sdist built from it and installed
//!   in another one, and the README's quick start run from each;
//! - `python_aiosmtpd_receives_from_real_postfix`: the aiosmtpd server of
//!   `mtatls.smtpd` receiving mail from REAL Postfix's smtp client, its
//!   summary line and Received: header compared with those the real
//!   smtpd writes for the same client.
//!
//! `cargo test python` runs them all. Without python3, pytest or aiosmtpd
//! they print `SKIPPED (python): ...` and pass; MTATLS_REQUIRE_PYTHON=1
//! (CI) makes that a failure, and also any test the pytest suite skips.
//! The Postfix test is skipped likewise without the real peers, and
//! required under MTATLS_REQUIRE_PEERS=1. Every process a test starts is
//! stopped by its pid; every wait is bounded.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::peers::{
    self, assert_line, assert_lines, assert_same, assert_same_lines, indent, PostfixClient,
    PostfixSmtpd,
};

/// Fewer passing pytest tests than this means tests went missing.
const MIN_PYTEST_PASSED: usize = 43;

/// Whether `python3` imports every module; otherwise why not.
fn python_imports(modules: &[&str]) -> Result<(), String> {
    for m in modules {
        let out = Command::new("python3")
            .args(["-c", &format!("import {m}")])
            .output();
        match out {
            Err(e) => return Err(format!("python3 cannot run: {e}")),
            Ok(o) if !o.status.success() => {
                let stderr = String::from_utf8_lossy(&o.stderr);
                let last = stderr.trim().lines().last().unwrap_or_default().to_string();
                return Err(format!(
                    "python3 cannot import {m} (pip install {m}): {last}"
                ));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// True when python3 has `modules`; else prints a SKIPPED line, or fails
/// under MTATLS_REQUIRE_PYTHON=1.
fn python_ready(modules: &[&str]) -> bool {
    match python_imports(modules) {
        Ok(()) => true,
        Err(why) => {
            assert!(
                !common::required("MTATLS_REQUIRE_PYTHON"),
                "Python is required (MTATLS_REQUIRE_PYTHON=1) but {why}"
            );
            eprintln!("SKIPPED (python): {why}");
            false
        }
    }
}

/// The library under test (built once per test process).
fn library() -> PathBuf {
    common::c_binaries();
    common::profile_dir().join("libmtatls.so")
}

fn python_src() -> PathBuf {
    common::root().join("python").join("src")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// The number before `word` in pytest's closing line ("39 passed, 2 skipped in 9.4s").
fn pytest_count(summary: &str, word: &str) -> usize {
    let words: Vec<&str> = summary
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .find(|w| w[1] == word)
        .and_then(|w| w[0].parse().ok())
        .unwrap_or(0)
}

#[test]
fn python_package_pytest() {
    if !python_ready(&["pytest"]) {
        return;
    }
    // aiosmtpd is optional here: without it (and not required) the
    // aiosmtpd tests show as skipped in pytest's own report.
    let lib = library();
    let out = common::run_bounded(
        Command::new("python3")
            .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"])
            .arg(common::root().join("python").join("tests"))
            .current_dir(common::root().join("python"))
            .env("PYTHONPATH", python_src())
            .env("MTATLS_LIB", &lib),
        Duration::from_secs(300),
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "pytest failed:\n{stdout}\n{stderr}");
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or_else(|| panic!("no pytest summary line:\n{stdout}"))
        .to_string();
    let passed = pytest_count(&summary, "passed");
    let skipped = pytest_count(&summary, "skipped");
    eprintln!("pytest (python/tests): {summary}");
    for l in stdout.lines().filter(|l| l.starts_with("SKIPPED")) {
        eprintln!("{l}");
    }
    assert!(
        pytest_count(&summary, "failed") == 0 && pytest_count(&summary, "error") == 0,
        "{stdout}"
    );
    assert!(
        passed + skipped >= MIN_PYTEST_PASSED,
        "only {passed} passed and {skipped} skipped (expected at least {MIN_PYTEST_PASSED} tests):\n{stdout}"
    );
    if common::required("MTATLS_REQUIRE_PYTHON") {
        assert!(
            skipped == 0,
            "MTATLS_REQUIRE_PYTHON=1 but pytest skipped tests:\n{stdout}"
        );
    }
}

// ---------------------------------------------------------------------
// Installation

/// Copy a directory tree (without __pycache__, build/, *.egg-info).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dir entry");
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        if name_s == "__pycache__"
            || name_s == "build"
            || name_s == "dist"
            || name_s.ends_with(".egg-info")
        {
            continue;
        }
        let t = e.file_type().expect("file type");
        if t.is_dir() {
            copy_tree(&e.path(), &to.join(&name));
        } else if t.is_file() {
            std::fs::copy(e.path(), to.join(&name)).expect("copy");
        }
    }
}

/// The first ```python block of python/README.md's "Quick start" section.
fn readme_quick_start() -> String {
    let readme = std::fs::read_to_string(common::root().join("python/README.md")).expect("README");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("python/README.md has a Quick start section");
    let start = section.find("```python\n").expect("a python block") + "```python\n".len();
    let end = section[start..].find("```").expect("end of the block") + start;
    section[start..end].to_string()
}

/// Run a command in a venv, bounded; panics with its output on failure
/// unless the failure is a missing network path to the package index
/// (then returns false after a SKIPPED line, or fails when required).
fn venv_step(what: &str, cmd: &mut Command) -> bool {
    let out = common::run_bounded(cmd, Duration::from_secs(600));
    if out.status.success() {
        return true;
    }
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let offline = [
        "NewConnectionError",
        "Temporary failure in name resolution",
        "Network is unreachable",
        "No matching distribution found for setuptools",
    ]
    .iter()
    .any(|n| all.contains(n));
    if offline && !common::required("MTATLS_REQUIRE_PYTHON") {
        eprintln!("SKIPPED (python): {what}: the package index is unreachable:\n{all}");
        return false;
    }
    panic!("{what} failed:\n{all}");
}

/// A fresh virtualenv in `dir`; its python.
fn venv(dir: &Path) -> PathBuf {
    let out = common::run_bounded(
        Command::new("python3").args(["-m", "venv"]).arg(dir),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "python3 -m venv failed: {}",
        text(&out.stderr)
    );
    dir.join("bin").join("python")
}

/// Run the README's quick start with `python` from `cwd` (so that only the
/// installed package can be imported), the library given by MTATLS_LIB;
/// check what it prints, and that the package came from the venv.
fn quick_start_runs(python: &Path, venv: &Path, cwd: &Path, lib: &Path, how: &str) {
    let script = cwd.join("quickstart.py");
    std::fs::write(&script, readme_quick_start()).expect("write quickstart.py");
    let out = common::run_bounded(
        Command::new(python)
            .arg(&script)
            .current_dir(cwd)
            .env_remove("PYTHONPATH")
            .env("MTATLS_LIB", lib),
        Duration::from_secs(60),
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{how}: the quick start failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let version = format!("mtatls {} (OpenSSL ", env!("CARGO_PKG_VERSION"));
    assert!(
        lines.first().is_some_and(
            |l| l.starts_with(&version) && l.ends_with(&format!(" from {}", lib.display()))
        ),
        "{how}: the quick start's first line should name the version and {}:\n{stdout}",
        lib.display()
    );
    for want in [
        "Anonymous TLS connection established from client.example[192.0.2.7]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384",
        "Untrusted TLS connection established to mx.example[192.0.2.25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "{how}: \"{want}...\" missing from the quick start's output:\n{stdout}"
        );
    }
    let out = common::run_bounded(
        Command::new(python)
            .args([
                "-c",
                "import mtatls, os; d = os.path.dirname(mtatls.__file__); \
                 print(d); print(os.path.exists(os.path.join(d, 'py.typed')))",
            ])
            .current_dir(cwd)
            .env_remove("PYTHONPATH"),
        Duration::from_secs(60),
    );
    let where_ = text(&out.stdout);
    let mut it = where_.lines();
    let dir = it.next().unwrap_or_default();
    assert!(
        dir.starts_with(&venv.display().to_string()) && it.next() == Some("True"),
        "{how}: mtatls should be imported from {} with its py.typed:\n{where_}{}",
        venv.display(),
        text(&out.stderr)
    );
}

#[test]
fn python_package_installs_in_fresh_venv() {
    if !python_ready(&["venv", "ensurepip"]) {
        return;
    }
    let lib = library();
    let scratch = common::scratch_dir("python-venv");
    // pip builds in the source tree (build/, *.egg-info): build from a copy.
    let src = scratch.join("python");
    copy_tree(&common::root().join("python"), &src);

    // 1. pip install ./python in a fresh virtualenv: nothing else gets installed.
    let v1 = scratch.join("venv-pip");
    let py1 = venv(&v1);
    if !venv_step(
        "pip install ./python",
        Command::new(&py1)
            .args(["-m", "pip", "install", "-q"])
            .arg(&src)
            .current_dir(&scratch),
    ) {
        return;
    }
    let out = common::run_bounded(
        Command::new(&py1).args(["-m", "pip", "list", "--format=freeze"]),
        Duration::from_secs(60),
    );
    let mut installed: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split("==").next().unwrap_or(l).to_lowercase())
        .filter(|n| n != "pip" && n != "setuptools")
        .collect();
    installed.sort();
    assert_eq!(
        installed,
        vec!["mtatls".to_string()],
        "pip install ./python should bring no run-time dependency"
    );
    quick_start_runs(&py1, &v1, &scratch, &lib, "pip install ./python");

    // 2. A wheel and an sdist (python -m build), each installed in a fresh venv.
    if !venv_step(
        "pip install build",
        Command::new(&py1).args(["-m", "pip", "install", "-q", "build"]),
    ) {
        return;
    }
    let dist = scratch.join("dist");
    venv_step(
        "python -m build",
        Command::new(&py1)
            .args(["-m", "build", "--sdist", "--wheel", "--outdir"])
            .arg(&dist)
            .arg(&src),
    );
    let wheel = dist.join(format!(
        "mtatls-{}-py3-none-any.whl",
        env!("CARGO_PKG_VERSION")
    ));
    let sdist = dist.join(format!("mtatls-{}.tar.gz", env!("CARGO_PKG_VERSION")));
    for (name, file) in [("wheel", &wheel), ("sdist", &sdist)] {
        assert!(file.exists(), "python -m build made no {}", file.display());
        let v = scratch.join(format!("venv-{name}"));
        let py = venv(&v);
        if !venv_step(
            &format!("pip install the {name}"),
            Command::new(&py)
                .args(["-m", "pip", "install", "-q"])
                .arg(file)
                .current_dir(&scratch),
        ) {
            return;
        }
        quick_start_runs(&py, &v, &scratch, &lib, &format!("the {name}"));
    }
    // The sdist holds the sources, tests and README; the wheel the package with py.typed.
    let out = common::run_bounded(
        Command::new(&py1).arg("-c").arg(format!(
            "import tarfile, zipfile\n\
             print('\\n'.join(sorted(tarfile.open({:?}).getnames())))\n\
             print('\\n'.join(sorted(zipfile.ZipFile({:?}).namelist())))",
            sdist.display().to_string(),
            wheel.display().to_string()
        )),
        Duration::from_secs(60),
    );
    let names = text(&out.stdout);
    let v = env!("CARGO_PKG_VERSION");
    for want in [
        format!("mtatls-{v}/src/mtatls/py.typed"),
        format!("mtatls-{v}/src/mtatls/aio.py"),
        format!("mtatls-{v}/README.md"),
        format!("mtatls-{v}/pyproject.toml"),
        "mtatls/py.typed".to_string(),
        "mtatls/_lib.py".to_string(),
        "mtatls/smtpd.py".to_string(),
    ] {
        assert!(
            names.lines().any(|l| l == want),
            "{want} missing from the sdist/wheel:\n{names}"
        );
    }
}

// ---------------------------------------------------------------------
// aiosmtpd with real Postfix

/// `python3 -m mtatls.smtpd --maildir DIR ... 127.0.0.1:0`: the aiosmtpd
/// server on mtatls. Its stderr lines ("mtatls-aiosmtpd: " removed) are
/// collected as they come; stopped by pid (SIGTERM, then SIGKILL) on drop.
struct PythonSmtpd {
    port: u16,
    maildir: PathBuf,
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl PythonSmtpd {
    #[track_caller]
    fn start(lib: &Path, maildir: &Path, options: &[String]) -> PythonSmtpd {
        let mut child = Command::new("python3")
            .args(["-m", "mtatls.smtpd", "--maildir"])
            .arg(maildir)
            .args(["--hostname", "aiosmtpd.peers.test"])
            .args(options)
            .arg("127.0.0.1:0")
            .env("PYTHONPATH", python_src())
            .env("MTATLS_LIB", lib)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn python3 -m mtatls.smtpd");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let line = match line.strip_prefix("mtatls-aiosmtpd: ") {
                    Some(t) => t.to_string(),
                    None => line,
                };
                sink.lock().unwrap().push(line);
            }
        });
        let mut server = PythonSmtpd {
            port: 0,
            maildir: maildir.to_path_buf(),
            child,
            stderr,
            reader: Some(reader),
        };
        match peers::wait_for(peers::WAIT, || {
            server
                .stderr()
                .iter()
                .find_map(|l| l.strip_prefix("listening on 127.0.0.1:")?.parse().ok())
        }) {
            Some(port) => server.port = port,
            None => panic!(
                "python3 -m mtatls.smtpd {options:?} did not start listening:\n{}",
                indent(&server.stderr())
            ),
        }
        server
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    fn tls_lines(&self) -> Vec<String> {
        self.stderr()
            .into_iter()
            .filter(|l| peers::is_server_outcome(l))
            .collect()
    }

    #[track_caller]
    fn wait_tls_lines(&self, n: usize) -> Vec<String> {
        peers::wait_for(peers::WAIT, || {
            Some(self.tls_lines()).filter(|l| l.len() >= n)
        })
        .unwrap_or_else(|| {
            panic!(
                "the aiosmtpd server logged fewer than {n} TLS lines within {:?}:\n{}",
                peers::WAIT,
                indent(&self.stderr())
            )
        })
    }

    /// The Received: header of the message whose Subject is `subject`.
    #[track_caller]
    fn wait_received(&self, subject: &str) -> Vec<String> {
        let new = self.maildir.join("new");
        let want = format!("\nSubject: {subject}\n");
        peers::wait_for(peers::WAIT, || {
            std::fs::read_dir(&new).ok()?.find_map(|e| {
                let text = std::fs::read_to_string(e.ok()?.path()).ok()?;
                if text.contains(&want) {
                    peers::first_received(&text)
                } else {
                    None
                }
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "the aiosmtpd server delivered no message \"{subject}\" within {:?}:\n{}",
                peers::WAIT,
                indent(&self.stderr())
            )
        })
    }
}

impl Drop for PythonSmtpd {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// The recipient domain the Postfix client routes to the aiosmtpd server.
const OUR_DOMAIN: &str = "aiosmtpd.peers.test";

struct Case {
    name: &'static str,
    params: Vec<&'static str>,
    /// The servers' summary status ("Anonymous", "Trusted").
    server: &'static str,
    /// The servers' summary (after "localhost[127.0.0.1]: ").
    server_tail: &'static str,
    /// The client's summary status and tail.
    client: &'static str,
    /// The Received: TLS comment lines (TAB-led).
    comment: Vec<&'static str>,
}

/// One message from the real Postfix client (`case.params`) to the real
/// smtpd and one to the aiosmtpd server: both delivered, the client's
/// summary for ours the expected one, the servers' summary lines and
/// session TLS lines equal, the Received: first line and TLS comment
/// equal (and the expected ones).
fn deliver_and_compare(peers: &peers::Peers, real: &PostfixSmtpd, ours: &PythonSmtpd, case: &Case) {
    let name = case.name;
    let mut params: Vec<String> = case.params.iter().map(|p| p.to_string()).collect();
    params.push(format!(
        "transport_maps=inline:{{{OUR_DOMAIN}=smtp:[127.0.0.1]:{}}}",
        ours.port
    ));
    let client = PostfixClient::start(peers, real.port, &real.tls_dir(), &params);
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let tag = format!("aiosmtpd-{slug}-{}", std::process::id());
    let (tag_real, tag_ours) = (format!("{tag}-real"), format!("{tag}-ours"));
    let n_real = real.tls_lines().len();
    let n_ours = ours.tls_lines().len();
    let k_ours = peers::sessions(&ours.stderr()).len();
    let k_real = peers::sessions(&real.smtpd_lines()).len();

    let (sent, log_real) = client.send("test@peers.test", &tag_real);
    assert!(
        sent,
        "{name}: Postfix did not deliver to the real smtpd:\n{}\n{}",
        indent(&log_real),
        real.log()
    );
    let (sent, log_ours) = client.send(&format!("test@{OUR_DOMAIN}"), &tag_ours);
    assert!(
        sent,
        "{name}: Postfix did not deliver to the aiosmtpd server:\n{}\nserver:\n{}",
        indent(&log_ours),
        indent(&ours.stderr())
    );
    let relay = format!("relay=127.0.0.1[127.0.0.1]:{}, ", ours.port);
    assert!(
        log_ours
            .iter()
            .any(|l| l.contains(&relay) && l.contains("status=sent")),
        "{name}: no \"{relay}... status=sent\":\n{}",
        indent(&log_ours)
    );
    // The Postfix client's view of the aiosmtpd server.
    let seen = log_ours
        .iter()
        .find(|l| {
            l.contains(&format!(
                "TLS connection established to 127.0.0.1[127.0.0.1]:{}: ",
                ours.port
            ))
        })
        .unwrap_or_else(|| panic!("{name}: no client summary:\n{}", indent(&log_ours)));
    assert_line(
        &format!("{name}: the Postfix client's summary for the aiosmtpd server"),
        seen,
        &format!(
            "Trusted TLS connection established to 127.0.0.1[127.0.0.1]:{}: {}",
            ours.port, case.client
        ),
    );

    // The servers' summary lines.
    let real_line = real.wait_tls_lines(n_real + 1)[n_real].clone();
    let our_line = ours.wait_tls_lines(n_ours + 1)[n_ours].clone();
    eprintln!("{name}: aiosmtpd summary:   {our_line}\n{name}: real smtpd summary: {real_line}");
    assert_same(
        &format!("{name}: server summary line"),
        &our_line,
        &real_line,
    );
    assert_line(
        &format!("{name}: the aiosmtpd server's summary line"),
        &our_line,
        &format!(
            "{} TLS connection established from localhost[127.0.0.1]: {}",
            case.server, case.server_tail
        ),
    );
    // Every TLS line of the two sessions ("connect from" .. "disconnect from").
    let our_session = peers::wait_for(peers::WAIT, || {
        peers::sessions(&ours.stderr())
            .into_iter()
            .skip(k_ours)
            .find(|s| s.iter().any(|l| l == &our_line))
    })
    .unwrap_or_else(|| panic!("{name}: session did not end:\n{}", indent(&ours.stderr())));
    let real_session = peers::wait_for(peers::WAIT, || {
        peers::sessions(&real.smtpd_lines())
            .into_iter()
            .skip(k_real)
            .find(|s| s.iter().any(|l| l == &real_line))
    })
    .unwrap_or_else(|| panic!("{name}: real session did not end:\n{}", real.log()));
    assert_same_lines(
        &format!("{name}: server TLS lines of the session"),
        &peers::tls_session_lines(&our_session),
        &peers::tls_session_lines(&real_session),
    );

    // The Received: headers.
    let real_rcv = real.wait_received(&tag_real);
    let our_rcv = ours.wait_received(&tag_ours);
    eprintln!(
        "{name}: aiosmtpd Received:\n{}\n{name}: real smtpd Received:\n{}",
        indent(&our_rcv),
        indent(&real_rcv)
    );
    assert_same(
        &format!("{name}: Received: first line"),
        &our_rcv[0],
        &real_rcv[0],
    );
    assert_same_lines(
        &format!("{name}: Received: TLS comment"),
        &peers::tls_comment(&our_rcv),
        &peers::tls_comment(&real_rcv),
    );
    let want: Vec<String> = case.comment.iter().map(|s| s.to_string()).collect();
    assert_lines(
        &format!("{name}: Received: TLS comment (expected)"),
        &peers::tls_comment(&our_rcv),
        &want,
    );
    assert!(
        our_rcv
            .iter()
            .any(|l| l.starts_with("\tby aiosmtpd.peers.test (mtatls-aiosmtpd) with ESMTPS id ")),
        "{name}: our Received: header's by line:\n{}",
        indent(&our_rcv)
    );
}

/// The real smtpd with `params`, and the aiosmtpd server with its
/// certificates, `smtpd_tls_loglevel = 1`, `smtpd_tls_received_header =
/// yes` and `ours_only` ("DIR": the real smtpd's instance directory),
/// set to reproduce the real smtpd's release (`Peers::mtatls_options`).
fn servers(
    peers: &peers::Peers,
    tmp: &Path,
    params: &[&str],
    ours_only: &[&str],
) -> (PostfixSmtpd, PythonSmtpd) {
    let real = PostfixSmtpd::start(peers, params);
    let dir = peers::p(&real.dir);
    let mut options: Vec<String> = peers.mtatls_options();
    options.extend([
        "-o".into(),
        format!("smtpd_tls_chain_files={dir}/tls/server-rsa.pem, {dir}/tls/server-ecdsa.pem"),
        "-o".into(),
        "smtpd_tls_loglevel=1".into(),
        "-o".into(),
        "smtpd_tls_received_header=yes".into(),
    ]);
    for p in params.iter().chain(ours_only) {
        options.push("-o".into());
        options.push(p.replace("DIR", &dir));
    }
    let ours = PythonSmtpd::start(
        &library(),
        &tmp.join(format!("Maildir-{}", real.port)),
        &options,
    );
    (real, ours)
}

/// A test string made at run time, for the `&'static str` fields of `Case`.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The TLS 1.3 summary tail with the ECDSA server signature, as the
/// release under test writes it (`key-exchange X25519`, from 3.10 on
/// `x25519`).
fn t13_ec(peers: &peers::Peers) -> &'static str {
    leak(format!(
        "{} server-signature ECDSA (prime256v1) server-digest SHA256",
        peers.forms().t13()
    ))
}

/// The Received: comment line of the X25519 key exchange and the ECDSA
/// server signature, followed by `rest`.
fn kex_comment(peers: &peers::Peers, rest: &str) -> &'static str {
    leak(format!(
        "\t key-exchange {} server-signature ECDSA (prime256v1) server-digest SHA256{rest}",
        peers.forms().kex("x25519")
    ))
}

#[test]
fn python_aiosmtpd_receives_from_real_postfix() {
    let Some(peers) = peers::available() else {
        return;
    };
    if !python_ready(&["aiosmtpd"]) {
        return;
    }
    let tmp = peers::TempDir::new("aiosmtpd");
    let (real, ours) = servers(&peers, tmp.path(), &[], &[]);
    let ecdsa12 = "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)";
    let cases = [
        Case {
            name: "may",
            params: vec![],
            server: "Anonymous",
            server_tail: t13_ec(&peers),
            client: t13_ec(&peers),
            comment: vec![
                "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                kex_comment(&peers, ")"),
                "\t(No client certificate requested)",
            ],
        },
        Case {
            name: "TLS 1.2 forced by the client",
            params: vec![
                "smtp_tls_protocols=>=TLSv1.2,<=TLSv1.2",
                "smtp_tls_mandatory_protocols=>=TLSv1.2,<=TLSv1.2",
                "smtp_tls_exclude_ciphers=aNULL",
            ],
            server: "Anonymous",
            server_tail: ecdsa12,
            client: ecdsa12,
            comment: vec![
                "\t(using TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits))",
                "\t(No client certificate requested)",
            ],
        },
    ];
    for case in &cases {
        deliver_and_compare(&peers, &real, &ours, case);
    }
}

/// The same with a client certificate: both servers ask for one and
/// trust the client's CA (the real smtpd's smtpd_tls_CAfile is
/// DIR/tls/client-ca.pem already).
#[test]
fn python_aiosmtpd_client_certificate_from_real_postfix() {
    let Some(peers) = peers::available() else {
        return;
    };
    if !python_ready(&["aiosmtpd"]) {
        return;
    }
    let tmp = peers::TempDir::new("aiosmtpd-ccert");
    let (real, ours) = servers(
        &peers,
        tmp.path(),
        &["smtpd_tls_ask_ccert=yes"],
        &["smtpd_tls_CAfile=DIR/tls/client-ca.pem"],
    );
    let t13_ccert = leak(format!(
        "{} client-signature RSA-PSS (2048 bits) client-digest SHA256",
        t13_ec(&peers)
    ));
    let case = Case {
        name: "client certificate, trusted",
        params: vec!["smtp_tls_chain_files=DIR/tls/client-rsa.pem"],
        server: "Trusted",
        server_tail: t13_ccert,
        client: t13_ccert,
        comment: vec![
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            kex_comment(&peers, ""),
            "\t client-signature RSA-PSS (2048 bits) client-digest SHA256)",
            "\t(Client CN \"peers-client.test\", Issuer \"peers-client.test\" (verified OK))",
        ],
    };
    deliver_and_compare(&peers, &real, &ours, &case);
}
