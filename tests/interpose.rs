//! Issue 8's LD_PRELOAD experiments, as `examples/interpose/` shows them:
//! a program with weak references to mtatls runs in the clear until the
//! library is preloaded; a program loads it with dlopen (by path and by
//! SONAME); an interposer wraps `mtatls_session_handshake` in a program
//! linked with the library (`quickstart`), which still works.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{c_binaries, profile_dir, root, run_bounded, scratch_dir};

fn cc(out: &Path, args: &[&str]) {
    let o = run_bounded(
        Command::new("cc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
            .arg(root().join("include"))
            .args(args)
            .arg("-o")
            .arg(out),
        Duration::from_secs(120),
    );
    assert!(
        o.status.success(),
        "cc {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn run(cmd: &mut Command) -> (String, String) {
    let o: Output = run_bounded(cmd, Duration::from_secs(60));
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    );
    assert!(o.status.success(), "{cmd:?} failed:\n{out}{err}");
    (out, err)
}

#[test]
fn weak_symbols_dlopen_and_an_interposer() {
    let bins = c_binaries();
    let lib = profile_dir().join("libmtatls.so");
    let dir = scratch_dir("interpose");
    let src = root().join("examples/interpose");
    let s = |f: &str| src.join(f).display().to_string();
    let version = format!("mtatls {} (OpenSSL ", env!("CARGO_PKG_VERSION"));

    let weak = dir.join("weak_host");
    cc(&weak, &[&s("weak_host.c")]);
    let (out, _) = run(&mut Command::new(&weak));
    assert_eq!(out, "mtatls not loaded: plain text only\n");
    let (out, _) = run(Command::new(&weak).env("LD_PRELOAD", &lib));
    assert!(out.starts_with(&format!("loaded: {version}")), "{out}");
    assert!(
        out.contains("smtpd_tls_security_level = sometimes: Invalid TLS level \"sometimes\""),
        "{out}"
    );

    let dl = dir.join("dlopen_host");
    cc(&dl, &[&s("dlopen_host.c"), "-ldl"]);
    let (by_path, _) = run(Command::new(&dl).env("MTATLS_LIBRARY", &lib));
    let (by_soname, _) = run(Command::new(&dl).env("LD_LIBRARY_PATH", profile_dir()));
    for out in [&by_path, &by_soname] {
        assert!(out.starts_with(&format!("dlopen: {version}")), "{out}");
        assert!(
            out.contains("result 306 is MTATLS_RESULT_NOT_VERIFIED"),
            "{out}"
        );
    }

    let trace = dir.join("libtrace_handshake.so");
    cc(
        &trace,
        &["-shared", "-fPIC", &s("trace_handshake.c"), "-ldl"],
    );
    let (out, err) = run(Command::new(bins.join("quickstart")).env("LD_PRELOAD", &trace));
    let traced: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("trace_handshake: MTATLS_RESULT_OK after "))
        .collect();
    assert_eq!(traced.len(), 2, "one traced handshake per side:\n{err}");
    assert!(
        out.contains("client: Untrusted TLS connection established to ")
            && out.contains("server: Anonymous TLS connection established from "),
        "{out}"
    );
}
