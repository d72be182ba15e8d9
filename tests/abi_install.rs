//! Symbol hygiene and installation: the shared library exports exactly
//! the symbols listed in `abi/symbols.txt` (all `mtatls_*`, no Rust std or
//! OpenSSL symbols) and carries the documented SONAME; `make install`'s
//! tree lets a C program build with nothing but `pkg-config`, dynamically
//! and statically.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{profile_dir, root, run_bounded, scratch_dir};

fn libpath() -> std::path::PathBuf {
    common::c_binaries();
    profile_dir().join("libmtatls.so")
}

#[test]
fn exported_symbols_match_abi_list() {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(libpath())
        .output()
        .expect("nm");
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    got.sort();
    for s in &got {
        assert!(
            s.starts_with("mtatls_"),
            "exported symbol outside the mtatls_ namespace: {s}"
        );
    }
    let listed: Vec<String> = std::fs::read_to_string(root().join("abi/symbols.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        got, listed,
        "exports differ from abi/symbols.txt; after a deliberate API change refresh it with:\n  \
         nm -D --defined-only target/release/libmtatls.so | awk '{{print $3}}' | sort > abi/symbols.txt"
    );
}

#[test]
fn soname_tracks_major_minor_in_0x() {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(libpath())
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "Library soname: [libmtatls.so.0.{}]",
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert!(text.contains(&want), "{text}");
}

const PROGRAM: &str = r#"
#include <stdio.h>
#include <string.h>
#include <mtatls.h>
int main(void)
{
    mtatls_params *p = NULL;
    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return 1;
    if (mtatls_params_set(p, "smtpd_tls_ciphers", "bogus") != MTATLS_RESULT_INVALID_VALUE)
        return 2;
    printf("%s\n%s\n", mtatls_version(), mtatls_params_error(p));
    mtatls_params_free(p);
    return strncmp(mtatls_version(), "mtatls " MTATLS_VERSION_STRING, 7 + strlen(MTATLS_VERSION_STRING)) != 0;
}
"#;

fn sh(script: &str) -> std::process::Output {
    run_bounded(
        Command::new("sh").arg("-c").arg(script),
        Duration::from_secs(600),
    )
}

#[test]
fn installed_tree_builds_with_pkg_config_only() {
    if !common::have("pkg-config") {
        assert!(
            !common::required("MTATLS_REQUIRE_PEERS"),
            "pkg-config is required in CI"
        );
        eprintln!("SKIPPED: pkg-config not installed");
        return;
    }
    libpath();
    let dir = scratch_dir("install");
    let prefix = dir.join("prefix");
    let version = env!("CARGO_PKG_VERSION");
    let soname = format!("libmtatls.so.0.{}", env!("CARGO_PKG_VERSION_MINOR"));
    let out = run_bounded(
        Command::new("sh")
            .current_dir(root())
            .arg("scripts/install.sh")
            .arg(profile_dir())
            .arg("")
            .arg(&prefix)
            .arg(version)
            .arg(&soname),
        Duration::from_secs(600),
    );
    assert!(
        out.status.success(),
        "install failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("prog.c"), PROGRAM).unwrap();
    let pc = prefix.join("lib/pkgconfig");
    // Dynamic: only pkg-config's flags, run with the installed library.
    let dynamic = sh(&format!(
        "cd {d} && PKG_CONFIG_PATH={pc} cc -std=c99 -Wall -Werror prog.c -o prog-dyn $(PKG_CONFIG_PATH={pc} pkg-config --cflags --libs mtatls) \
         && LD_LIBRARY_PATH={lib} ./prog-dyn && LD_LIBRARY_PATH={lib} ldd ./prog-dyn",
        d = dir.display(),
        pc = pc.display(),
        lib = prefix.join("lib").display()
    ));
    let text = String::from_utf8_lossy(&dynamic.stdout).to_string();
    assert!(
        dynamic.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&dynamic.stderr)
    );
    assert!(
        text.contains(&format!("{soname} => {}", prefix.join("lib").display())),
        "{text}"
    );
    assert!(
        text.contains("smtpd_tls_ciphers = bogus: invalid cipher grade: \"bogus\""),
        "{text}"
    );
    // The README's complete example, as a new user builds it.
    std::fs::copy(
        root().join("examples/quickstart.c"),
        dir.join("quickstart.c"),
    )
    .unwrap();
    let quick = sh(&format!(
        "cd {d} && cc -std=c99 -Wall -Wextra -pedantic -Werror quickstart.c -o quickstart $(PKG_CONFIG_PATH={pc} pkg-config --cflags --libs mtatls) \
         && LD_LIBRARY_PATH={lib} ./quickstart",
        d = dir.display(),
        pc = pc.display(),
        lib = prefix.join("lib").display()
    ));
    let text = String::from_utf8_lossy(&quick.stdout).to_string();
    assert!(
        quick.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&quick.stderr)
    );
    const TAIL: &str = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256";
    for want in [
        format!("server: Anonymous TLS connection established from localhost[127.0.0.1]: {TAIL}\n"),
        format!("client: Untrusted TLS connection established to localhost[127.0.0.1]:25: {TAIL}\n"),
        "server: Received: header comment:\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\n\t(No client certificate requested)\n".to_string(),
        "server: read through TLS: 250 client says hello\n".to_string(),
        "client: read through TLS: 220 server says hello\n".to_string(),
    ] {
        assert!(text.contains(&want), "quickstart: missing {want:?} in:\n{text}");
    }
    // Static: a tree with only the archive; pkg-config --static brings the rest.
    for so in ["libmtatls.so", &soname, &format!("libmtatls.so.{version}")] {
        std::fs::remove_file(prefix.join("lib").join(so)).unwrap();
    }
    let stat = sh(&format!(
        "cd {d} && cc -std=c99 -Wall -Werror prog.c -o prog-static $(PKG_CONFIG_PATH={pc} pkg-config --static --cflags --libs mtatls) \
         && ./prog-static && ldd ./prog-static",
        d = dir.display(),
        pc = pc.display()
    ));
    let text = String::from_utf8_lossy(&stat.stdout).to_string();
    assert!(
        stat.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&stat.stderr)
    );
    assert!(
        !text.contains("libmtatls"),
        "static program still needs libmtatls: {text}"
    );
    assert!(text.contains("libssl.so.3"), "{text}");
}

/// `cargo cinstall` (cargo-c) installs the same tree as `make install`: the
/// committed header byte for byte, the archive, the shared library with
/// its SONAME links and a pkg-config file from which a program builds and
/// runs. Only where cargo-c is installed (it takes minutes to build, so
/// CI does not); skipped otherwise.
#[test]
fn cargo_cinstall_installs_the_same_tree() {
    let have = Command::new("cargo")
        .args(["cinstall", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("SKIPPED: cargo-c (cargo cinstall) not installed");
        return;
    }
    let dir = scratch_dir("cinstall");
    let out = run_bounded(
        Command::new("cargo")
            .current_dir(root())
            .args(["cinstall", "--release", "--libdir=lib", "--prefix"])
            .arg(dir.join("prefix"))
            .arg("--target-dir")
            .arg(dir.join("target")),
        Duration::from_secs(900),
    );
    assert!(
        out.status.success(),
        "cargo cinstall: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = dir.join("prefix");
    let soname = format!("libmtatls.so.0.{}", env!("CARGO_PKG_VERSION_MINOR"));
    for f in [
        "include/mtatls.h".to_string(),
        "lib/libmtatls.a".to_string(),
        "lib/libmtatls.so".to_string(),
        format!("lib/{soname}"),
        format!("lib/libmtatls.so.{}", env!("CARGO_PKG_VERSION")),
        "lib/pkgconfig/mtatls.pc".to_string(),
    ] {
        assert!(
            prefix.join(&f).exists(),
            "cargo cinstall did not install {f}"
        );
    }
    assert_eq!(
        std::fs::read(prefix.join("include/mtatls.h")).unwrap(),
        std::fs::read(root().join("include/mtatls.h")).unwrap(),
        "cargo cinstall's header differs from the committed one"
    );
    std::fs::copy(
        root().join("examples/quickstart.c"),
        dir.join("quickstart.c"),
    )
    .unwrap();
    let quick = sh(&format!(
        "cd {d} && cc -std=c99 quickstart.c -o quickstart $(PKG_CONFIG_PATH={pc} pkg-config --cflags --libs mtatls) \
         && LD_LIBRARY_PATH={lib} ./quickstart && readelf -d {lib}/{soname} | grep SONAME",
        d = dir.display(),
        pc = prefix.join("lib/pkgconfig").display(),
        lib = prefix.join("lib").display()
    ));
    let text = String::from_utf8_lossy(&quick.stdout).to_string();
    assert!(
        quick.status.success()
            && text.contains("client: Untrusted TLS connection established to ")
            && text.contains(&format!("Library soname: [{soname}]")),
        "{text}{}",
        String::from_utf8_lossy(&quick.stderr)
    );
}
