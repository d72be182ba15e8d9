//! The forward-secrecy report: suites checked against the real
//! `openssl ciphers -v` for the same cipher string, verdicts for the
//! defaults, for kRSA let in and excluded, for missing EC groups, unknown
//! group names and a weak DH file; the JSON parses and agrees with the text.

mod common;

use std::process::Command;
use std::sync::Arc;

use mtatls::FsReport;
use mtatls::Logger;
use mtatls::{Context, Hooks, Params};

fn build(role: &str, settings: &[(&str, &str)]) -> FsReport {
    let mut p = Params::new();
    let hooks = Hooks::with_logger(Logger::with_sink(Arc::new(|_, _: &str| {})));
    let chain = common::keys().join("rsa.pem").display().to_string();
    p.set("smtpd_tls_security_level", "may").unwrap();
    p.set("smtpd_tls_chain_files", &chain).unwrap();
    p.set("smtp_tls_security_level", "may").unwrap();
    for (n, v) in settings {
        p.set(n, v).unwrap();
    }
    FsReport::of(&Context::with_hooks(&p, role, &hooks).unwrap())
}

/// `openssl ciphers -v` names for a cipher string at security level 0
/// (as mtatls sets), TLS 1.2 and older only.
fn openssl_ciphers(list: &str) -> Vec<String> {
    let out = Command::new("openssl")
        .args(["ciphers", "-v", &format!("{list}:@SECLEVEL=0")])
        .output()
        .expect("openssl ciphers");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().nth(1) != Some("TLSv1.3"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// Parse a JSON report with Python's json module (an independent parser)
/// and print: the verdict, the first policy's TLS <= 1.2 suite names
/// (space-separated), then what `more` prints (Python, `d` = the document).
fn json_facts(json: &str, more: &str) -> Vec<String> {
    let script = format!(
        "import json,sys\nd=json.load(sys.stdin)\nprint(d['verdict'])\nprint(' '.join(s['name'] for s in d['policies'][0]['legacy_suites']))\n{more}"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "JSON did not parse: {json}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn suites_match_openssl_ciphers_and_defaults_let_krsa_in() {
    let r = build("smtpd", &[]);
    let p = &r.policies[0];
    let ours: Vec<String> = p.legacy.iter().map(|s| s.name.clone()).collect();
    assert_eq!(ours, openssl_ciphers(&p.cipher_list));
    let tls13: Vec<&str> = p.tls13.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        tls13,
        [
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_AES_128_GCM_SHA256"
        ]
    );
    assert!(p.tls13.iter().all(|s| s.forward_secret));
    // Postfix's default medium grade lets static-RSA key exchange in.
    assert!(!r.all_forward_secret());
    let problem = &r.problems[0];
    assert!(problem.starts_with(
        "server: cipher suites without forward secrecy can be negotiated: AES256-GCM-SHA384 "
    ));
    assert!(
        problem.contains("exclude them with smtpd_tls_exclude_ciphers = kRSA"),
        "{problem}"
    );
    // Every suite flagged forward-secret uses ECDHE or DHE, the others not.
    for s in &p.legacy {
        assert_eq!(s.forward_secret, s.kx.contains("DH"), "{s:?}");
    }
    // ECDSA suites cannot be negotiated with only an RSA key.
    let ecdsa = p
        .legacy
        .iter()
        .find(|s| s.name == "ECDHE-ECDSA-AES256-GCM-SHA384")
        .unwrap();
    assert_eq!(ecdsa.unusable, "no ECDSA server key");
}

#[test]
fn excluding_krsa_makes_every_session_forward_secret() {
    let r = build("smtpd", &[("smtpd_tls_exclude_ciphers", "kRSA")]);
    assert!(r.all_forward_secret(), "{:#?}", r.problems);
    assert_eq!(
        r.verdict(),
        "smtpd: every negotiable session is forward-secret"
    );
    let r = build("smtpd", &[("smtpd_tls_protocols", ">=TLSv1.3")]);
    assert!(r.all_forward_secret(), "{:#?}", r.problems);
    // Client: the level classes each report, naming their own parameter.
    let r = build("smtp", &[("smtp_tls_mandatory_exclude_ciphers", "kRSA")]);
    assert_eq!(r.policies.len(), 3);
    assert!(
        r.problems.len() == 1 && r.problems[0].starts_with("may: "),
        "{:#?}",
        r.problems
    );
    assert!(r.problems[0].contains("smtp_tls_exclude_ciphers = kRSA"));
}

#[test]
fn groups_and_dh_problems() {
    let r = build(
        "smtpd",
        &[
            ("tls_eecdh_auto_curves", ""),
            ("smtpd_tls_exclude_ciphers", "kRSA"),
        ],
    );
    assert_eq!(r.groups, ["ffdhe2048", "ffdhe3072"]);
    assert!(r
        .problems
        .iter()
        .any(|p| p.starts_with("no elliptic-curve group is configured")));
    let ecdhe = r.policies[0]
        .legacy
        .iter()
        .find(|s| s.name == "ECDHE-RSA-AES256-GCM-SHA384")
        .unwrap();
    assert_eq!(ecdhe.unusable, "no elliptic-curve group configured");
    let r = build("smtp", &[("tls_eecdh_auto_curves", "bogus P-256 sha256")]);
    assert_eq!(
        r.group_config,
        [
            ("bogus".to_string(), "unknown to this OpenSSL".to_string()),
            ("P-256".to_string(), "used as prime256v1".to_string()),
            (
                "sha256".to_string(),
                "unsupported as a key exchange group".to_string()
            ),
            ("ffdhe2048".to_string(), "used as ffdhe2048".to_string()),
            ("ffdhe3072".to_string(), "used as ffdhe3072".to_string()),
        ]
    );
    // A weak (1536-bit) DH parameter file is named. (PKCS#3 "DH
    // PARAMETERS": Postfix 3.7 on OpenSSL 3 does not read the X9.42 ones
    // `openssl dhparam -dsaparam` writes; tests/dh_param_file.rs.)
    let dh = common::scratch_dir("fsreport").join("dh1536.pem");
    let st = Command::new("openssl")
        .args(["genpkey", "-genparam", "-algorithm", "DH"])
        .args(["-pkeyopt", "group:modp_1536", "-out"])
        .arg(&dh)
        .output()
        .unwrap();
    assert!(st.status.success());
    let dh = dh.display().to_string();
    let r = build("smtpd", &[("smtpd_tls_dh1024_param_file", dh.as_str())]);
    assert_eq!(r.dh, Some((dh.clone(), 1536)));
    assert!(r
        .warnings
        .iter()
        .any(|p| p.starts_with(&format!("DH parameters in {dh} have 1536 bits (weak)"))));
    // Every DHE suite then gets that group: named per suite, warned about.
    let dhe = r.policies[0]
        .legacy
        .iter()
        .find(|s| s.name == "DHE-RSA-AES256-GCM-SHA384")
        .unwrap();
    assert_eq!(dhe.dh_bits, 1536);
    assert!(r.warnings.iter().any(|w| w.starts_with(&format!(
        "server: the DH parameters in {dh} give these DHE suites a 1536-bit DH group (weak): "
    ))));
}

#[test]
fn json_parses_and_agrees_with_the_text() {
    let r = build("smtpd", &[("tls_eecdh_auto_curves", "X25519 \"odd\\name")]);
    let json = r.to_json();
    let text = r.to_text();
    let lines = json_facts(
        &json,
        "print(len(d['policies'][0]['legacy_suites']))\nprint(d['group_config'][1]['name'])",
    );
    assert!(text.contains(&format!("verdict: {}", lines[0])));
    for name in lines[1].split(' ') {
        assert!(text.contains(name), "{name} missing from the text report");
    }
    assert_eq!(
        lines[2].parse::<usize>().unwrap(),
        r.policies[0].legacy.len()
    );
    assert_eq!(lines[3], "\"odd\\name");
}

/// Loglevel 3 (not 2, which stays exactly Postfix's) adds one line with the session's forward secrecy and key
/// exchange, also for TLS 1.2 (whose Postfix summary has no key-exchange).
#[test]
fn loglevel_3_states_forward_secrecy() {
    let pki = common::pki::pki();
    let server = common::pair::settings(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", &pki.path("rsa.pem")),
        ("smtpd_tls_protocols", "<=TLSv1.2"),
    ]);
    for (exclude, want) in [
        ("aNULL", "forward secrecy: yes, key-exchange X25519"),
        (
            "aNULL, kECDHE, kDHE",
            "forward secrecy: no, key-exchange none (static key exchange)",
        ),
    ] {
        let client = common::pair::settings(&[
            ("smtp_tls_security_level", "may"),
            ("smtp_tls_loglevel", "3"),
            ("smtp_tls_exclude_ciphers", exclude),
        ]);
        let (_, c) = common::pair::run(server.clone(), client, |_| Ok(()));
        let line = format!("{}: {want}", common::pair::CLIENT_LABEL);
        assert!(c.logged(&line), "no \"{line}\" in {:#?}", c.log);
        assert!(c.summary.unwrap().contains("TLSv1.2 with cipher"));
    }
    // Level 2 keeps to Postfix's lines; the keyword adds the line to any level.
    for (level, logged) in [("2", false), ("1, forward-secrecy", true)] {
        let client = common::pair::settings(&[
            ("smtp_tls_security_level", "may"),
            ("smtp_tls_loglevel", level),
        ]);
        let (_, c) = common::pair::run(server.clone(), client, |_| Ok(()));
        let has = c.log.iter().any(|l| l.contains(": forward secrecy: "));
        assert_eq!(has, logged, "loglevel {level}: {:#?}", c.log);
    }
}

/// `openssl s_client -starttls smtp OPTIONS` to 127.0.0.1:`port` (no input:
/// it ends after the handshake); its stdout and stderr together.
fn s_client(port: u16, opts: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(opts)
        .stdin(std::process::Stdio::null());
    let out = common::run_bounded(&mut cmd, std::time::Duration::from_secs(30));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether the openssl CLI is there (else the test is skipped, or fails
/// under MTATLS_REQUIRE_PEERS=1).
fn have_openssl_cli() -> bool {
    if common::have("openssl") {
        return true;
    }
    assert!(
        !common::required("MTATLS_REQUIRE_PEERS"),
        "the openssl CLI is required"
    );
    eprintln!("SKIPPED (real peers): no openssl CLI");
    false
}

/// mtatls-smtpd with `-o` settings.
fn smtpd_with(settings: &[&str]) -> common::peers::MtatlsSmtpd {
    let mut opts = Vec::new();
    for s in settings {
        opts.push("-o".to_string());
        opts.push(s.to_string());
    }
    common::peers::MtatlsSmtpd::start(&opts)
}

/// Issue 17, fix 2a: with grade `null` and kRSA excluded, the only TLS 1.2
/// suite left (which `openssl s_client` really negotiates) has no
/// encryption: it is not forward-secret, it is named as such, and the
/// verdict is not "every negotiable session is forward-secret".
#[test]
fn null_grade_suites_have_no_encryption_and_no_forward_secrecy() {
    let settings = [
        ("smtpd_tls_ciphers", "null"),
        ("smtpd_tls_exclude_ciphers", "kRSA"),
    ];
    let r = build("smtpd", &settings);
    let suite = r.policies[0]
        .legacy
        .iter()
        .find(|s| s.name == "ECDHE-RSA-NULL-SHA")
        .expect("ECDHE-RSA-NULL-SHA listed");
    assert!(suite.unusable.is_empty(), "{suite:?}");
    assert!(!suite.encrypted && !suite.forward_secret, "{suite:?}");
    assert!(!r.all_forward_secret(), "{:#?}", r.problems);
    assert_eq!(
        r.verdict(),
        "smtpd: some sessions can be negotiated without forward secrecy"
    );
    assert!(
        r.problems.iter().any(|p| p
            .starts_with("server: cipher suites without encryption can be negotiated (eNULL: ")
            && p.contains(
                ": ECDHE-RSA-NULL-SHA; exclude them with smtpd_tls_exclude_ciphers = eNULL"
            )),
        "{:#?}",
        r.problems
    );
    assert!(r.to_text().contains("NOENC ECDHE-RSA-NULL-SHA "));
    if !have_openssl_cli() {
        return;
    }
    // The suite really is negotiated (in TLS 1.2), without encryption.
    let smtpd = smtpd_with(&["smtpd_tls_ciphers=null", "smtpd_tls_exclude_ciphers=kRSA"]);
    let out = s_client(smtpd.port, &["-tls1_2", "-cipher", "ALL:eNULL:@SECLEVEL=0"]);
    assert!(
        out.contains("Cipher is ECDHE-RSA-NULL-SHA"),
        "s_client:\n{out}"
    );
}

/// Issue 17, fix 2b: each DHE suite's DH group size is reported, and a
/// weak one (OpenSSL's automatic choice gives a 128-bit anonymous suite
/// 1024 bits) is a warning; the sizes are what `openssl s_client` sees
/// from mtatls-smtpd with the same configuration.
#[test]
fn dhe_suites_report_the_dh_group_openssl_s_client_sees() {
    let out = Command::new(common::c_binaries().join("mtatls-fsreport"))
        .arg("smtpd")
        .output()
        .expect("mtatls-fsreport");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let reported = |suite: &str| -> u32 {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(suite))
            .unwrap_or_else(|| panic!("{suite} missing:\n{text}"));
        let bits = line
            .split("(DH ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("no DH size: {line}"));
        bits.parse().unwrap()
    };
    let cases = [
        ("ADH-AES128-SHA", 1024),
        ("ADH-AES256-GCM-SHA384", 3072),
        ("DHE-RSA-AES128-GCM-SHA256", 2048),
    ];
    for (suite, bits) in cases {
        assert_eq!(reported(suite), bits, "{suite}:\n{text}");
    }
    assert!(
        text.lines().any(|l| l.starts_with(
            "warning: server: OpenSSL's automatic DH parameters give these DHE suites a 1024-bit DH group (weak): "
        ) && l.contains(" ADH-AES128-SHA ")),
        "{text}"
    );
    // Still a warning only: the verdict is about forward secrecy.
    assert!(text.contains("\nproblem: server: cipher suites without forward secrecy"));
    if !have_openssl_cli() {
        return;
    }
    let smtpd = smtpd_with(&[]);
    for (suite, bits) in cases {
        let out = s_client(
            smtpd.port,
            &["-tls1_2", "-cipher", &format!("{suite}:@SECLEVEL=0")],
        );
        assert!(
            out.contains(&format!("Server Temp Key: DH, {bits} bits")),
            "{suite}: s_client:\n{out}"
        );
    }
}

/// Issue 17, fix 2d: TLS 1.3 suites are not "always forward-secret" when
/// the protocols leave TLS 1.3 out: they are not negotiable (and
/// `openssl s_client -tls1_3` indeed gets no session).
#[test]
fn tls13_suites_are_not_negotiable_without_tls13() {
    let r = build("smtpd", &[("smtpd_tls_protocols", "<=TLSv1.2")]);
    let p = &r.policies[0];
    assert!(!p.tls13.is_empty());
    for s in &p.tls13 {
        assert_eq!(s.unusable, "TLS 1.3 is not enabled", "{s:?}");
    }
    let text = r.to_text();
    assert!(!text.contains("always forward-secret"), "{text}");
    assert!(
        text.contains(
            "TLS 1.3 suites (not negotiable: TLS 1.3 is not enabled by smtpd_tls_protocols):"
        ),
        "{text}"
    );
    let json = r.to_json();
    let facts = json_facts(
        &json,
        "print(all(not s['negotiable'] for s in d['policies'][0]['tls13_suites']))",
    );
    assert_eq!(facts[2], "True");
    if !have_openssl_cli() {
        return;
    }
    let smtpd = smtpd_with(&["smtpd_tls_protocols=<=TLSv1.2"]);
    let out = s_client(smtpd.port, &["-tls1_3"]);
    assert!(
        !out.contains("Cipher is TLS_") && out.contains("Cipher is (NONE)"),
        "s_client -tls1_3:\n{out}"
    );
}

/// Issue 17, fix 2e: the protocol lists name only versions this OpenSSL
/// can speak: SSLv3 only when it has SSLv3 (the openssl CLI built on it
/// offers `s_client -ssl3` exactly then).
#[test]
fn protocol_lists_follow_the_runtime_openssl() {
    let r = build("smtpd", &[("smtpd_tls_protocols", "!SSLv2")]);
    let protocols = &r.policies[0].protocols;
    assert!(
        protocols.ends_with(&["TLSv1.2".to_string(), "TLSv1.3".to_string()]),
        "{protocols:?}"
    );
    if !have_openssl_cli() {
        return;
    }
    let help = Command::new("openssl")
        .args(["s_client", "-help"])
        .output()
        .expect("openssl s_client -help");
    let help =
        String::from_utf8_lossy(&help.stderr).to_string() + &String::from_utf8_lossy(&help.stdout);
    assert!(help.contains(" -tls1_2 "), "{help}");
    let has_ssl3 = help.lines().any(|l| l.trim_start().starts_with("-ssl3 "));
    assert_eq!(
        protocols.iter().any(|v| v == "SSLv3"),
        has_ssl3,
        "{protocols:?} vs s_client -help:\n{help}"
    );
    // With SSLv3 alone nothing is left: said, not hidden.
    let r = build("smtpd", &[("smtpd_tls_protocols", "SSLv3")]);
    if !has_ssl3 {
        assert!(r.policies[0].protocols.is_empty());
        assert!(
            r.problems.iter().any(|p| p.starts_with(
                "server: smtpd_tls_protocols enables no protocol version this OpenSSL"
            )),
            "{:#?}",
            r.problems
        );
        assert!(!r.all_forward_secret());
    }
}

/// Issue 17, fix 3: a TLS 1.2 server's loglevel-3 line names the key
/// exchange as a client's does (OpenSSL keeps no server key after a TLS 1.2
/// handshake), and it is what `openssl s_client` reports as the server's
/// temporary key: X25519, an ECDHE curve, or the DHE group's size (also
/// OpenSSL's automatic 1024-bit group for a 128-bit anonymous suite).
#[test]
fn tls12_server_forward_secrecy_line_matches_openssl_s_client() {
    if !common::have("openssl") {
        assert!(
            !common::required("MTATLS_REQUIRE_PEERS"),
            "the openssl CLI is required"
        );
        eprintln!("SKIPPED (real peers): no openssl CLI");
        return;
    }
    let smtpd = common::peers::MtatlsSmtpd::start(&[
        "-o".to_string(),
        "smtpd_tls_loglevel=1, forward-secrecy".to_string(),
    ]);
    let cases: [(&[&str], &str); 4] = [
        (&["-groups", "X25519"], "X25519"),
        (&["-groups", "P-256"], "ECDHE (prime256v1)"),
        (&["-cipher", "DHE-RSA-AES256-GCM-SHA384"], "DHE (2048 bits)"),
        (
            &["-cipher", "ADH-AES128-SHA:@SECLEVEL=0"],
            "DHE (1024 bits)",
        ),
    ];
    for (i, (opts, want)) in cases.iter().enumerate() {
        let mut cmd = Command::new("openssl");
        cmd.args(["s_client", "-starttls", "smtp", "-tls1_2", "-connect"])
            .arg(format!("127.0.0.1:{}", smtpd.port))
            .args(*opts)
            .stdin(std::process::Stdio::null());
        let out = common::run_bounded(&mut cmd, std::time::Duration::from_secs(30));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let temp_key = text
            .lines()
            .find_map(|l| l.strip_prefix("Server Temp Key: "))
            .unwrap_or_else(|| panic!("s_client {opts:?} shows no server key:\n{text}"));
        // s_client's words for the key, in the line's words.
        let f: Vec<&str> = temp_key.split(", ").collect();
        let theirs = match f.as_slice() {
            ["DH", bits] => format!("DHE ({})", bits),
            ["ECDH", curve, _] => format!("ECDHE ({curve})"),
            [name, _] => name.to_string(),
            _ => panic!("unexpected s_client key: {temp_key}"),
        };
        assert_eq!(&theirs, want, "s_client {opts:?}: {temp_key}");
        let lines = smtpd.wait_tls_lines(i + 1);
        assert!(lines[i].contains("TLSv1.2 with cipher"), "{}", lines[i]);
        let fs: Vec<String> = smtpd
            .stderr()
            .into_iter()
            .filter(|l| l.contains(": forward secrecy: "))
            .collect();
        assert_eq!(
            fs.get(i).map(String::as_str),
            Some(
                format!("localhost[127.0.0.1]: forward secrecy: yes, key-exchange {theirs}")
                    .as_str()
            ),
            "s_client {opts:?}:\n{}",
            common::peers::indent(&smtpd.stderr())
        );
    }
}

/// Issue 9: `mtatls-fsreport` reads the main.cf of a real Postfix smtpd
/// instance (made by the tests' harness, tests/common/postfix.rs) as it
/// is (Postfix's other parameters included) and reports that server: its RSA and ECDSA keys from
/// `smtpd_tls_chain_files` (ECDSA suites negotiable), the TLS <= 1.2 suites
/// exactly as `openssl ciphers -v` lists them for the same cipher string,
/// the static-RSA suites Postfix's default medium grade lets in, named
/// with the parameter to change; the JSON form parses and agrees.
#[test]
fn report_on_a_real_postfix_instance_main_cf() {
    let Some(peers) = common::peers::available() else {
        return;
    };
    let smtpd = common::peers::PostfixSmtpd::start(&peers, &[]);
    let main_cf = smtpd.dir.join("etc/main.cf").display().to_string();
    let run = |json: bool| -> String {
        let mut cmd = Command::new(common::c_binaries().join("mtatls-fsreport"));
        // The instance's release: its defaults (cipher lists, groups).
        cmd.args(["-c", &main_cf]).args(peers.mtatls_options());
        if json {
            cmd.arg("-j");
        }
        let out = cmd.arg("smtpd").output().expect("mtatls-fsreport");
        // Exit status 1: some session can be made without forward secrecy.
        assert!(
            out.status.code() == Some(1),
            "mtatls-fsreport -c {main_cf}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let text = run(false);
    let cipher_list = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("cipher list: "))
        .unwrap_or_else(|| panic!("no cipher list in:\n{text}"))
        .to_string();
    // The suite names of the text report, in order.
    let suites: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match w.next() {
                Some("FS") | Some("NO-FS") => w.next().map(str::to_string),
                _ => None,
            }
        })
        .collect();
    assert_eq!(suites, openssl_ciphers(&cipher_list), "{text}");
    for name in [
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
        assert!(
            line.trim_start().starts_with("FS ") && !line.contains("not negotiable"),
            "{line}"
        );
    }
    assert!(
        text.contains("NO-FS AES256-GCM-SHA384")
            && text.contains("exclude them with smtpd_tls_exclude_ciphers = kRSA")
            && text.contains(
                "verdict: smtpd: some sessions can be negotiated without forward secrecy"
            ),
        "{text}"
    );
    let lines = json_facts(&run(true), "");
    assert!(
        text.contains(&format!("verdict: {}", lines[0])),
        "{lines:?}"
    );
    assert_eq!(lines[1], suites.join(" "));
    // The cipher list is the release's medium grade (Postfix adds no
    // exclusion at level may), and its groups are the release's.
    let medium = peers
        .release()
        .postconf_default("tls_medium_cipherlist")
        .expect("postconf -d tls_medium_cipherlist");
    assert_eq!(cipher_list, medium, "{text}");
    let forms = peers.forms();
    let groups = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("key exchange groups: "))
        .unwrap_or_else(|| panic!("no key exchange groups in:\n{text}"));
    let want = match (forms.ffdhe_groups(), forms.names_groups()) {
        (false, _) => "X25519 X448 prime256v1 secp521r1 secp384r1",
        (true, false) => "X25519 X448 prime256v1 secp521r1 secp384r1 ffdhe2048 ffdhe3072",
        (true, true) => "X25519 X448 prime256v1 secp384r1 secp521r1 ffdhe2048 ffdhe3072",
    };
    assert_eq!(groups, want, "{text}");
}
