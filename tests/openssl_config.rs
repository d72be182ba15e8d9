//! Issue 17, fix 1: `tls_config_file` and `tls_config_name` select the
//! OpenSSL configuration as Postfix 3.7's `tls_library_init` does:
//! `none` loads no configuration file at all, `default` with a name
//! applies that application's section of the default file (falling back
//! to `openssl_conf`), a path loads that file strictly.
//!
//! The configuration file used here restricts the TLS 1.3 cipher suites
//! (which neither Postfix nor mtatls sets) differently in its global
//! section and in the `mtatls_test` application section, so which section
//! (if any) was applied shows in the suites a context offers and in the
//! cipher a handshake negotiates. OpenSSL is configured once per process,
//! so every case runs in a process of its own: mtatls-fsreport and
//! mtatls-finger, and this test binary run again for one in-process case.
//! Real Postfix's posttls-finger, given the same file and parameters,
//! must negotiate what mtatls-finger does.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::peers::{self, PostfixSmtpd};

const GLOBAL_SUITE: &str = "TLS_AES_128_GCM_SHA256";
const APP_SUITE: &str = "TLS_CHACHA20_POLY1305_SHA256";
const BUILTIN_SUITES: [&str; 3] = [
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256",
];

/// An OpenSSL configuration file whose global section allows only
/// GLOBAL_SUITE, whose `mtatls_test` application section only APP_SUITE,
/// and whose `broken_test` application section names a module OpenSSL
/// does not have.
fn config_file() -> PathBuf {
    let dir = common::scratch_dir("openssl-config");
    let path = dir.join("openssl.cnf");
    std::fs::write(
        &path,
        format!(
            "openssl_conf = global_init\nmtatls_test = app_init\nbroken_test = broken_init\n\n\
             [global_init]\nssl_conf = global_ssl\n[global_ssl]\nsystem_default = global_tls\n\
             [global_tls]\nCiphersuites = {GLOBAL_SUITE}\n\n\
             [app_init]\nssl_conf = app_ssl\n[app_ssl]\nsystem_default = app_tls\n\
             [app_tls]\nCiphersuites = {APP_SUITE}\n\n\
             [broken_init]\nno_such_module = x\n"
        ),
    )
    .expect("write openssl.cnf");
    path
}

/// `-o` arguments for a (tls_config_file, tls_config_name) pair.
fn options(file: &str, name: &str) -> Vec<String> {
    vec![
        "-o".into(),
        format!("tls_config_file={file}"),
        "-o".into(),
        format!("tls_config_name={name}"),
    ]
}

/// mtatls-fsreport for smtpd with OPENSSL_CONF=`conf`: its exit status,
/// the TLS 1.3 suites it lists and all its output.
fn fsreport(conf: &Path, file: &str, name: &str) -> (Option<i32>, Vec<String>, String) {
    let mut cmd = Command::new(common::c_binaries().join("mtatls-fsreport"));
    cmd.env("OPENSSL_CONF", conf)
        .args(options(file, name))
        .args(["-o", "smtpd_tls_protocols=>=TLSv1.3", "smtpd"]);
    let out = common::run_bounded(&mut cmd, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    let mut suites = Vec::new();
    let mut in_tls13 = false;
    for line in text.lines() {
        if line.trim_start().starts_with("TLS 1.3 suites") {
            in_tls13 = true;
        } else if in_tls13 && line.starts_with("    ") {
            suites.push(line.split_whitespace().next().unwrap_or("").to_string());
        } else {
            in_tls13 = false;
        }
    }
    (out.status.code(), suites, all)
}

#[test]
fn config_file_and_name_select_the_openssl_configuration() {
    let conf = config_file();
    let path = conf.display().to_string();
    for (file, name, want) in [
        ("default", "", vec![GLOBAL_SUITE]),
        ("none", "", BUILTIN_SUITES.to_vec()),
        ("none", "mtatls_test", BUILTIN_SUITES.to_vec()),
        ("default", "mtatls_test", vec![APP_SUITE]),
        // With `default`, a name the file lacks falls back to the global
        // section (Postfix: CONF_MFLAGS_DEFAULT_SECTION), and errors in
        // the section are ignored.
        ("default", "no_such_app", vec![GLOBAL_SUITE]),
        ("default", "broken_test", BUILTIN_SUITES.to_vec()),
        (&path, "", vec![GLOBAL_SUITE]),
        (&path, "mtatls_test", vec![APP_SUITE]),
        // An explicit file has no fallback: nothing is applied.
        (&path, "no_such_app", BUILTIN_SUITES.to_vec()),
    ] {
        let (status, suites, all) = fsreport(&conf, file, name);
        assert_eq!(
            status,
            Some(0),
            "tls_config_file={file} tls_config_name={name}:\n{all}"
        );
        assert_eq!(
            suites, want,
            "tls_config_file={file} tls_config_name={name}:\n{all}"
        );
    }
    // An explicit file is strict: an error in its section is an error, in
    // Postfix's words.
    let (status, _, all) = fsreport(&conf, &path, "broken_test");
    assert_eq!(status, Some(2), "{all}");
    assert!(all.contains(&load_error(&path, "broken_test")), "{all}");
}

/// Postfix's warning for a configuration that cannot be loaded.
fn load_error(path: &str, name: &str) -> String {
    format!(
        "error loading the '{name}' settings from the {path} OpenSSL configuration file, disabling TLS support"
    )
}

#[test]
fn one_configuration_per_process() {
    let conf = config_file();
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.env("OPENSSL_CONF", &conf)
        .env("MTATLS_OPENSSL_CONFIG_CHILD", "1")
        .args(["--exact", "child_process_cases", "--nocapture"]);
    let out = common::run_bounded(&mut cmd, Duration::from_secs(120));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("child cases passed"),
        "{text}"
    );
}

/// Only in the child of `one_configuration_per_process`: a context with
/// `none` offers OpenSSL's built-in suites although OPENSSL_CONF names a
/// file; a second context that asks for the default file is refused,
/// naming both configurations; one asking for `none` again is built.
#[test]
fn child_process_cases() {
    if std::env::var_os("MTATLS_OPENSSL_CONFIG_CHILD").is_none() {
        return;
    }
    let build = |file: &str| {
        let mut p = mtatls::Params::new();
        p.set("smtp_tls_security_level", "may").unwrap();
        p.set("tls_config_file", file).unwrap();
        let hooks = mtatls::Hooks::with_logger(mtatls::Logger::with_sink(std::sync::Arc::new(
            |_, _: &str| {},
        )));
        mtatls::Context::with_hooks(&p, "smtp", &hooks)
    };
    let r = mtatls::FsReport::of(&build("none").expect("context with none"));
    let suites: Vec<&str> = r.policies[0]
        .tls13
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(suites, BUILTIN_SUITES);
    let e = build("default").expect_err("a second configuration");
    assert_eq!(e.kind(), mtatls::ErrorKind::Context);
    assert_eq!(
        e.message(),
        "tls_config_file = default: this process's OpenSSL library is already configured with tls_config_file = none (OpenSSL has one configuration per process), disabling TLS support"
    );
    build("none").expect("the same configuration again");
    println!("child cases passed");
}

/// Postfix's posttls-finger and mtatls-finger, each given OPENSSL_CONF and
/// the same tls_config_file / tls_config_name, negotiate the same TLS 1.3
/// cipher with a real Postfix smtpd (which allows all three suites and
/// follows the client's preference).
#[test]
fn posttls_finger_and_mtatls_finger_agree() {
    let Some(peers) = peers::available() else {
        return;
    };
    let conf = config_file();
    let smtpd = PostfixSmtpd::start(&peers, &[]);
    let port = smtpd.port;
    let cipher = |lines: &[String]| -> Option<String> {
        let summary = peers::summary(lines)?;
        let rest = summary.split(" with cipher ").nth(1)?;
        Some(rest.split_whitespace().next()?.to_string())
    };
    for (file, name, want) in [
        ("default", "", GLOBAL_SUITE),
        ("none", "", BUILTIN_SUITES[0]),
        ("default", "mtatls_test", APP_SUITE),
    ] {
        let opts = options(file, name);
        let mut targs: Vec<&str> = vec!["-c", "-l", "may"];
        targs.extend(opts.iter().map(String::as_str));
        let mut theirs = common::postfix::posttls_finger_command(peers.release(), port, &targs);
        theirs.env("OPENSSL_CONF", &conf);
        let theirs = common::postfix::run_posttls_finger(&mut theirs);
        let mut ours = Command::new(common::c_binaries().join("mtatls-finger"));
        ours.env("OPENSSL_CONF", &conf)
            .args(peers::release_options())
            .args(["-l", "may"])
            .args(&opts)
            .arg(format!("127.0.0.1:{port}"));
        let out = common::run_bounded(&mut ours, Duration::from_secs(60));
        let ours: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::to_string)
            .collect();
        let what = format!("tls_config_file={file} tls_config_name={name}");
        assert_eq!(
            cipher(&theirs).as_deref(),
            Some(want),
            "{what}: posttls-finger:\n{}",
            peers::indent(&theirs)
        );
        assert_eq!(
            cipher(&ours).as_deref(),
            Some(want),
            "{what}: mtatls-finger:\n{}",
            peers::indent(&ours)
        );
    }
    // Both refuse a file whose named section fails to load.
    let path = conf.display().to_string();
    let opts = options(&path, "broken_test");
    let mut targs: Vec<&str> = vec!["-c", "-l", "may"];
    targs.extend(opts.iter().map(String::as_str));
    let mut theirs = common::postfix::posttls_finger_command(peers.release(), port, &targs);
    let theirs = common::postfix::run_posttls_finger(&mut theirs).join("\n");
    let mut ours = Command::new(common::c_binaries().join("mtatls-finger"));
    ours.args(peers::release_options())
        .args(["-l", "may"])
        .args(&opts)
        .arg(format!("127.0.0.1:{port}"));
    let out = common::run_bounded(&mut ours, Duration::from_secs(60));
    let ours = String::from_utf8_lossy(&out.stderr).to_string();
    let want = load_error(&path, "broken_test");
    assert!(
        theirs.contains(&format!("posttls-finger: warning: {want}")),
        "posttls-finger:\n{theirs}"
    );
    assert!(
        ours.contains(&format!("mtatls-finger: {want}")) && !out.status.success(),
        "mtatls-finger:\n{ours}"
    );
}
