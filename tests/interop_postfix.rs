//! mtatls-finger against a REAL Postfix smtpd (issue 4: tests written
//! against our own code only can agree with themselves and still be wrong),
//! of the release under test (Debian's 3.7.11, or MTATLS_PF_ROOT's), with
//! `mtatls_postfix_release` set to that release; the expected lines are
//! that release's (`common::forms`).
//!
//! For every case, Postfix's own posttls-finger and our mtatls-finger probe
//! the same running smtpd with the same options, one after the other
//! (`peers::compare_fingers`):
//! - the TLS lines both print (summary, `matched peername`, `Matched
//!   fingerprint`, peer certificate, verification failures; posttls-finger's
//!   default -L routine,certmatch) must be EQUAL, prefixes stripped;
//! - the summary must also be the one the case expects (so that a wrong
//!   setup cannot pass by making both fail alike);
//! - the real smtpd's own log line for our connection must be the expected
//!   one, and the same as for posttls-finger's connection.
//!
//! One Postfix instance serves all the cases of one server configuration;
//! each #[test] starts (and, also on failure, stops) its own.
//! Skipped without the peers; required under CI (MTATLS_REQUIRE_PEERS=1).

mod common;

use common::peers::{self, assert_line, indent, FingerCase as Case, PostfixSmtpd};

const SIG_RSA: &str = "server-signature RSA-PSS (2048 bits) server-digest SHA256";
const SIG_EC: &str = "server-signature ECDSA (prime256v1) server-digest SHA256";
const CSIG_RSA: &str = "client-signature RSA-PSS (2048 bits) client-digest SHA256";
const ADH12: &str = "TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits)";
const TLS12: &str = ">=TLSv1.2,<=TLSv1.2";

/// The release's default `tls_medium_cipherlist` followed by what the
/// exclusions `aNULL, kECDHE` append. posttls-finger ignores
/// `smtp_tls_exclude_ciphers` (its exclusions are compiled in:
/// DEF_SMTP_TLS_EXCL_CIPH, plus aNULL/eNULL by level), so to make it
/// exclude kECDHE the grade's list itself has to say so.
fn medium_no_ecdhe(peers: &peers::Peers) -> String {
    let medium = peers
        .release()
        .postconf_default("tls_medium_cipherlist")
        .expect("postconf -d tls_medium_cipherlist");
    format!("{medium}:!aNULL:!kECDHE")
}

fn check(peers: &peers::Peers, smtpd: &PostfixSmtpd, case: &Case) {
    peers::compare_fingers(peers, smtpd.port, smtpd, case);
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn finger_vs_postfix_rsa_and_ecdsa() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, &[]);
    let fp_ec = smtpd.tls_text("server-ecdsa.sha256");
    let spki_ec = smtpd.tls_text("server-ecdsa.spki-sha256");
    let fp_rsa = smtpd.tls_text("server-rsa.sha256");
    let cas = smtpd.tls("server-cas.pem");
    let forms = peers.forms();
    let t13_ec = format!("{} {SIG_EC}", forms.t13());
    let t13_p256 = format!(
        "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange {} {SIG_EC}",
        forms.kex("secp256r1")
    );
    let t13_x448 = format!(
        "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange {} {SIG_EC}",
        forms.kex("x448")
    );
    // A PKI-valid certificate with the wrong name: Untrusted, or Trusted
    // from 3.10.4 / 3.11.0 on.
    let mismatch = forms.mismatch_status();
    let cases = [
        Case::new("may", "may").both("Untrusted", &t13_ec),
        Case::new("encrypt", "encrypt").both("Untrusted", &t13_ec),
        Case::new("fingerprint (certificate)", "fingerprint")
            .matches(&[&fp_ec])
            .matched_fingerprint(&fp_ec)
            .both("Verified", &t13_ec),
        Case::new("fingerprint (public key)", "fingerprint")
            .matches(&[&spki_ec])
            .matched_fingerprint(&spki_ec)
            .both("Verified", &t13_ec),
        Case::new("fingerprint (one of two)", "fingerprint")
            .matches(&[&fp_rsa, &fp_ec])
            .matched_fingerprint(&fp_ec)
            .both("Verified", &t13_ec),
        Case::new("secure", "secure")
            .opts(&["-F", &cas])
            .matches(&["localhost"])
            .shows("matched peername: localhost")
            .both("Verified", &t13_ec),
        Case::new("secure, wrong name", "secure")
            .opts(&["-F", &cas])
            .matches(&["mx.example.com"])
            .both(mismatch, &t13_ec)
            .fails(),
        Case::new("verify", "verify")
            .opts(&["-F", &cas])
            .matches(&["localhost"])
            .shows("matched peername: localhost")
            .both("Verified", &t13_ec),
        Case::new("verify, wrong name", "verify")
            .opts(&["-F", &cas])
            .matches(&["mx.example.com"])
            .both(mismatch, &t13_ec)
            .fails(),
        Case::new("secure, untrusted and wrong name", "secure")
            .matches(&["mx.example.com"])
            .both("Untrusted", &t13_ec)
            .fails(),
        Case::new("P-256 only", "may")
            .opts(&["-o", "tls_eecdh_auto_curves=prime256v1"])
            .both("Untrusted", &t13_p256),
        Case::new("X448 only", "may")
            .opts(&["-o", "tls_eecdh_auto_curves=X448"])
            .both("Untrusted", &t13_x448),
        Case::new("fingerprint, wrong digest", "fingerprint")
            .matches(&[&fp_rsa])
            .both("Untrusted", &t13_ec)
            .fails(),
        Case::new("TLS 1.2 forced by the client, may", "may")
            .opts(&["-p", "<=TLSv1.2"])
            .both("Anonymous", ADH12),
        Case::new("TLS 1.2 forced by the client, fingerprint", "fingerprint")
            .opts(&["-p", "<=TLSv1.2"])
            .matches(&[&fp_ec])
            .matched_fingerprint(&fp_ec)
            .both(
                "Verified",
                "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)",
            ),
    ];
    for case in &cases {
        check(&peers, &smtpd, case);
    }
    ffdhe_only(&peers, &smtpd);
}

#[test]
fn finger_vs_postfix_rsa_only() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, &["smtpd_tls_chain_files=DIR/tls/server-rsa.pem"]);
    let fp = smtpd.tls_text("server-rsa.sha256");
    let spki = smtpd.tls_text("server-rsa.spki-sha256");
    let cas = smtpd.tls("server-cas.pem");
    let t13 = format!("{} {SIG_RSA}", peers.forms().t13());
    let cases = [
        Case::new("may", "may").both("Untrusted", &t13),
        Case::new("fingerprint (certificate)", "fingerprint")
            .matches(&[&fp])
            .matched_fingerprint(&fp)
            .both("Verified", &t13),
        Case::new("fingerprint (public key)", "fingerprint")
            .matches(&[&spki])
            .matched_fingerprint(&spki)
            .both("Verified", &t13),
        Case::new("secure", "secure")
            .opts(&["-F", &cas])
            .matches(&["localhost"])
            .shows("matched peername: localhost")
            .both("Verified", &t13),
        Case::new("TLS 1.2 forced by the client, secure", "secure")
            .opts(&["-F", &cas, "-p", "<=TLSv1.2"])
            .matches(&["localhost"])
            .shows("matched peername: localhost")
            .both(
                "Verified",
                "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
            ),
    ];
    for case in &cases {
        check(&peers, &smtpd, case);
    }
}

#[test]
fn finger_vs_postfix_ecdsa_only() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, &["smtpd_tls_chain_files=DIR/tls/server-ecdsa.pem"]);
    let fp = smtpd.tls_text("server-ecdsa.sha256");
    let spki = smtpd.tls_text("server-ecdsa.spki-sha256");
    let cas = smtpd.tls("server-cas.pem");
    let t13 = format!("{} {SIG_EC}", peers.forms().t13());
    let cases = [
        Case::new("may", "may").both("Untrusted", &t13),
        Case::new("encrypt", "encrypt").both("Untrusted", &t13),
        Case::new("fingerprint (certificate)", "fingerprint")
            .matches(&[&fp])
            .matched_fingerprint(&fp)
            .both("Verified", &t13),
        Case::new("fingerprint (public key)", "fingerprint")
            .matches(&[&spki])
            .matched_fingerprint(&spki)
            .both("Verified", &t13),
        Case::new("secure", "secure")
            .opts(&["-F", &cas])
            .matches(&["localhost"])
            .shows("matched peername: localhost")
            .both("Verified", &t13),
    ];
    for case in &cases {
        check(&peers, &smtpd, case);
    }
}

#[test]
fn finger_vs_postfix_tls12_server() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(
        &peers,
        &[
            "smtpd_tls_chain_files=DIR/tls/server-rsa.pem",
            &format!("smtpd_tls_protocols={TLS12}"),
            &format!("smtpd_tls_mandatory_protocols={TLS12}"),
        ],
    );
    let fp = smtpd.tls_text("server-rsa.sha256");
    let spki = smtpd.tls_text("server-rsa.spki-sha256");
    let cas = smtpd.tls("server-cas.pem");
    let ecdhe = "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)";
    let cases = [
        // At may/encrypt both ends allow aNULL: Postfix negotiates ADH.
        Case::new("may", "may").both("Anonymous", ADH12),
        Case::new("encrypt", "encrypt").both("Anonymous", ADH12),
        Case::new("fingerprint (certificate)", "fingerprint")
            .matches(&[&fp])
            .matched_fingerprint(&fp)
            .both("Verified", ecdhe),
        Case::new("fingerprint (public key)", "fingerprint")
            .matches(&[&spki])
            .matched_fingerprint(&spki)
            .both("Verified", ecdhe),
        Case::new("secure", "secure")
            .opts(&["-F", &cas])
            .matches(&["localhost"])
            .shows("matched peername: localhost")
            .both("Verified", ecdhe),
    ];
    for case in &cases {
        check(&peers, &smtpd, case);
    }
}

#[test]
fn finger_vs_postfix_client_certificate() {
    let Some(peers) = peers::available() else {
        return;
    };
    // smtpd_tls_CAfile is DIR/tls/client-ca.pem (the harness's smtpd): our
    // client certificate is trusted.
    let smtpd = PostfixSmtpd::start(&peers, &["smtpd_tls_ask_ccert=yes"]);
    let chain = smtpd.tls("client-rsa.pem");
    let t13 = format!("{} {SIG_EC}", peers.forms().t13());
    let t13_ccert = format!("{t13} {CSIG_RSA}");
    let ecdsa12 = "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)";
    let cases = [
        Case::new("client certificate, TLS 1.3", "may")
            .opts(&["-H", &chain])
            .client("Untrusted", &t13_ccert)
            .server("Trusted", &t13_ccert),
        Case::new("no client certificate", "may").both("Untrusted", &t13),
        // Asking for a certificate excludes aNULL on the server.
        Case::new("client certificate, TLS 1.2 forced by the client", "may")
            .opts(&["-H", &chain, "-p", "<=TLSv1.2"])
            .client("Untrusted", ecdsa12)
            .server("Trusted", ecdsa12),
        Case::new("no client certificate, TLS 1.2 forced by the client", "may")
            .opts(&["-p", "<=TLSv1.2"])
            .both("Untrusted", ecdsa12),
    ];
    for case in &cases {
        check(&peers, &smtpd, case);
    }
}

/// A DH parameter file (RFC 7919 ffdhe3072) in `dir`.
fn dh3072(dir: &std::path::Path) -> String {
    let path = dir.join("dh3072.pem");
    let out = common::run_bounded(
        std::process::Command::new("openssl")
            .args(["genpkey", "-genparam", "-algorithm", "DH"])
            .args(["-pkeyopt", "dh_param:ffdhe3072", "-out"])
            .arg(&path),
        std::time::Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "openssl genpkey -genparam failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    peers::p(&path)
}

/// Forward secrecy, TLS 1.2 `DHE-RSA-...` with a DH parameter file on the
/// real smtpd: the exclusions `aNULL, kECDHE` leave DHE-RSA.
#[test]
fn finger_vs_postfix_dhe_tls12() {
    let Some(peers) = peers::available() else {
        return;
    };
    let tmp = peers::TempDir::new("dh");
    let dh = dh3072(tmp.path());
    let smtpd = PostfixSmtpd::start(&peers, &[&format!("smtpd_tls_dh1024_param_file={dh}")]);
    let dhe = "TLSv1.2 with cipher DHE-RSA-AES256-GCM-SHA384 (256/256 bits)";
    let medium = format!("tls_medium_cipherlist={}", medium_no_ecdhe(&peers));
    let cases = [
        Case::new("smtp_tls_exclude_ciphers = aNULL, kECDHE", "may")
            .opts(&["-p", "<=TLSv1.2"])
            .theirs(&["-o", &medium])
            .ours(&["-o", "smtp_tls_exclude_ciphers=aNULL, kECDHE"])
            .both("Untrusted", dhe),
        Case::new("the same cipher list as posttls-finger", "may")
            .opts(&["-p", "<=TLSv1.2", "-o", &medium])
            .both("Untrusted", dhe),
    ];
    for case in &cases {
        check(&peers, &smtpd, case);
    }
}

/// Forward secrecy, FFDHE only (`tls_eecdh_auto_curves =` empty) on both
/// fingers. Postfix 3.8 and later offer ffdhe2048 and ffdhe3072 in TLS
/// 1.3, so that is what is negotiated (`key-exchange DHE (2048 bits)`,
/// from 3.10 on `ffdhe2048`); Postfix 3.7.0 to 3.7.12 refuse the empty
/// value ("bad string length 0 < 1"), and so does mtatls-finger with
/// that release; 3.7.13 and later accept it and leave the groups to
/// OpenSSL (x25519 first: no FFDHE-only offer in any 3.7).
fn ffdhe_only(peers: &peers::Peers, smtpd: &PostfixSmtpd) {
    let forms = peers.forms();
    let port = smtpd.port;
    if forms.empty_eecdh_allowed() {
        let kex = if forms.ffdhe_groups() {
            forms.kex("ffdhe2048")
        } else {
            forms.kex("x25519")
        };
        let tail = format!(
            "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange {kex} {SIG_EC}"
        );
        let case = Case::new("FFDHE only", "may")
            .opts(&["-o", "tls_eecdh_auto_curves="])
            .both("Untrusted", &tail);
        check(peers, smtpd, &case);
        return;
    }
    let n = smtpd.tls_lines().len();
    let theirs = peers::posttls_finger_lines(
        peers,
        port,
        &["-c", "-l", "may", "-o", "tls_eecdh_auto_curves="],
    );
    let (ok, ours) = peers::mtatls_finger(&[
        s("-o"),
        s("tls_eecdh_auto_curves="),
        format!("127.0.0.1:{port}"),
    ]);
    let refusal = "bad string length 0 < 1: tls_eecdh_auto_curves = ";
    assert!(
        theirs.contains(&format!("fatal: {refusal}")),
        "posttls-finger did not refuse the empty list:\n{}",
        indent(&theirs)
    );
    assert!(
        !ok && ours == [refusal.to_string()],
        "mtatls-finger did not refuse the empty list as posttls-finger does:\n{}",
        indent(&ours)
    );
    // Neither connected.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(smtpd.tls_lines().len(), n, "{}", smtpd.log());
}

/// Issue 5: a second mtatls-finger process resumes, with a real Postfix
/// smtpd, the session the first one left in its external cache (`-Z FILE`:
/// the library's get/put/remove callbacks, a file as the store); the
/// smtpd (loglevel 2) says it reused the session.
#[test]
fn finger_resumes_from_an_external_cache_at_postfix() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, &["smtpd_tls_loglevel=2"]);
    let dir = peers::TempDir::new("finger-cache");
    let cache = dir.path().join("sessions").display().to_string();
    let label = format!("127.0.0.1[127.0.0.1]:{}", smtpd.port);
    let serverid = format!("[127.0.0.1]:{}&", smtpd.port);
    let args: Vec<String> = ["-Z", &cache, "-L", "routine,certmatch,cache"]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("127.0.0.1:{}", smtpd.port)])
        .collect();
    let has = |lines: &[String], needle: &str| lines.iter().any(|l| l.contains(needle));

    let (ok, first) = peers::mtatls_finger(&args);
    assert!(ok, "first run failed:\n{}", indent(&first));
    assert!(
        has(&first, &format!("save session {serverid}")) && !has(&first, "Reusing old session"),
        "first run: no session saved, or a session reused:\n{}",
        indent(&first)
    );
    assert!(
        std::fs::metadata(&cache).is_ok_and(|m| m.len() > 0),
        "no cache file {cache}"
    );
    let (ok, second) = peers::mtatls_finger(&args);
    assert!(ok, "second run failed:\n{}", indent(&second));
    for want in [
        format!("reloaded session {serverid}"),
        format!("{label}: Reusing old session"),
    ] {
        assert!(
            has(&second, &want),
            "second run: \"{want}\" missing:\n{}",
            indent(&second)
        );
    }
    // Resumed TLS 1.3: the key exchange only (3.7.13, 3.8.8, 3.9.2,
    // 3.10.0 on), before with the server's key, no digest.
    let forms = peers.forms();
    assert_line(
        "second run's summary",
        &peers::summary(&second).expect("a summary"),
        &format!(
            "Untrusted TLS connection established to {label}: {}{}",
            forms.t13(),
            forms.resumed_sigs("server-signature ECDSA (prime256v1)")
        ),
    );
    assert!(
        smtpd
            .wait_log_line(
                "Reusing old session (RFC 5077 session ticket)",
                std::time::Duration::from_secs(10)
            )
            .is_some(),
        "the smtpd did not log a resumed session:\n{}",
        smtpd.log()
    );
}

/// Key-exchange group lists as each release reads them: posttls-finger
/// and mtatls-finger with the same `tls_eecdh_auto_curves` and
/// `tls_ffdhe_auto_groups` print the same warnings (3.7: "ignoring unknown
/// ECDHE curve"; 3.8, 3.9: "ignoring unknown key exchange group" and the
/// fallbacks; 3.10+: unknown names dropped silently, `:` separators,
/// duplicates removed case-insensitively; provider-only names such as
/// X25519MLKEM768, unknown to OpenSSL 3.0, handled alike), refuse the
/// same values, and negotiate the same group.
#[test]
fn group_lists_warn_like_posttls_finger() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, &[]);
    let port = smtpd.port;
    let cases: [(&str, Option<&str>); 7] = [
        ("bogus X25519 secp256r1 P-384 x448", None),
        ("bogus1 bogus2", Some("bogus3")),
        ("X25519 X25519 prime256v1", None),
        ("X25519MLKEM768 x25519 X25519", None),
        ("secp256r1:x25519", None),
        ("", Some("")),
        ("prime256v1", Some("ffdhe3072")),
    ];
    for (eecdh, ffdhe) in cases {
        let mut opts = vec![s("-o"), format!("tls_eecdh_auto_curves={eecdh}")];
        if let Some(f) = ffdhe {
            opts.extend([s("-o"), format!("tls_ffdhe_auto_groups={f}")]);
        }
        let mut targs: Vec<&str> = vec!["-c", "-l", "may", "-L", "summary"];
        targs.extend(opts.iter().map(String::as_str));
        let theirs: Vec<String> = peers::posttls_finger_lines(&peers, port, &targs)
            .into_iter()
            .filter(|l| {
                l.starts_with("warning: ") || l.starts_with("fatal: ") || peers::is_summary(l)
            })
            .map(|l| l.strip_prefix("fatal: ").map(str::to_string).unwrap_or(l))
            .collect();
        let mut oargs = vec![s("-c"), s("-l"), s("may"), s("-L"), s("summary")];
        oargs.extend(opts.iter().cloned());
        oargs.push(format!("127.0.0.1:{port}"));
        // -c: no SMTP chat, as posttls-finger's; what is left is the
        // warnings, an error and the summary.
        let (_, ours) = peers::mtatls_finger(&oargs);
        peers::assert_same_lines(
            &format!("tls_eecdh_auto_curves = {eecdh}, tls_ffdhe_auto_groups = {ffdhe:?}"),
            &ours,
            &theirs,
        );
    }
    // What the release is expected to say for an unknown name.
    let forms = peers.forms();
    let (_, ours) = peers::mtatls_finger(&[
        s("-c"),
        s("-L"),
        s("summary"),
        s("-o"),
        s("tls_eecdh_auto_curves=bogus X25519"),
        format!("127.0.0.1:{port}"),
    ]);
    let warned = ours.iter().any(|l| l.starts_with("warning: "));
    match forms.unknown_group_warning("bogus") {
        Some(w) => assert_eq!(ours[0], w, "{ours:?}"),
        None => assert!(!warned, "{ours:?}"),
    }
}

/// A PKI-valid server certificate whose name does not match, at level
/// secure, and the session resumed from the cache: the verification
/// failure, the status word (Trusted from 3.10.4 / 3.11.0 on), and on
/// resumption "re-using session with untrusted peer credential" (3.9+;
/// "untrusted certificate" before), as posttls-finger -r 1 prints them;
/// mtatls-finger resumes from its cache file (-Z) in a second run.
#[test]
fn name_mismatch_and_resumption_like_posttls_finger() {
    let Some(peers) = peers::available() else {
        return;
    };
    let smtpd = PostfixSmtpd::start(&peers, &[]);
    let port = smtpd.port;
    let cas = smtpd.tls("server-cas.pem");
    let label = format!("127.0.0.1[127.0.0.1]:{port}");
    let keep = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| {
                peers::is_summary(l)
                    || l.contains("verification failed for")
                    || l.contains("re-using session")
                    || l.ends_with(": Reusing old session")
            })
            .filter(|l| !l.starts_with("Server certificate not verified: "))
            .cloned()
            .collect()
    };
    let theirs = peers::posttls_finger_lines(
        &peers,
        port,
        &[
            "-c",
            "-l",
            "secure",
            "-F",
            &cas,
            "-r",
            "1",
            "-L",
            "summary,certmatch,cache",
            "--",
            "mx.example.com",
        ],
    );
    let dir = peers::TempDir::new("mismatch-cache");
    let cache = peers::p(&dir.path().join("sessions"));
    let mut ours = vec![];
    for _ in 0..2 {
        let (ok, lines) = peers::mtatls_finger(&[
            s("-l"),
            s("secure"),
            s("-F"),
            cas.clone(),
            s("-Z"),
            cache.clone(),
            s("-L"),
            s("summary,certmatch,cache"),
            format!("127.0.0.1:{port}"),
            s("mx.example.com"),
        ]);
        assert!(
            !ok,
            "mtatls-finger passed a name mismatch at level secure:\n{}",
            indent(&lines)
        );
        ours.extend(lines);
    }
    peers::assert_same_lines("name mismatch, then resumed", &keep(&ours), &keep(&theirs));
    let forms = peers.forms();
    let t13 = forms.t13();
    let word = forms.mismatch_status();
    let want = vec![
        format!("server certificate verification failed for {label}: num=62:hostname mismatch"),
        format!("{word} TLS connection established to {label}: {t13} {SIG_EC}"),
        format!("{label}: Reusing old session"),
        format!("{label}: {}", forms.reusing_untrusted()),
        format!(
            "{word} TLS connection established to {label}: {t13}{}",
            forms.resumed_sigs("server-signature ECDSA (prime256v1)")
        ),
    ];
    peers::assert_lines(
        "name mismatch, then resumed (expected)",
        &keep(&ours),
        &want,
    );
}

/// Every parameter default of the library, with `mtatls_postfix_release`
/// set to the release under test, is that release's `postconf -d`, but
/// for the library's own parameters and these documented exceptions:
/// `*_tls_fingerprint_digest` is `sha256` (Postfix: md5 below
/// compatibility level 3.6), `stress` (set by master), and parameters the
/// release lacks (empty or ignored here: `tls_ffdhe_auto_groups` in 3.7,
/// `tls_legacy_public_key_fingerprints` in 3.11,
/// `*_tlsrpt_skip_reused_handshakes` before 3.10; unknown here:
/// `*_tls_enable_rpk` before 3.9).
#[test]
fn defaults_are_the_releases_postconf_d() {
    let Some(peers) = peers::available() else {
        return;
    };
    let mut params = mtatls::Params::new();
    for o in peers.mtatls_options().chunks(2) {
        let (n, v) = o[1].split_once('=').expect("name=value");
        params.set(n, v).unwrap();
    }
    let names: Vec<&str> = mtatls::unstable::PARAMS
        .iter()
        .map(|p| p.name)
        .filter(|n| {
            !n.starts_with("mtatls_") && *n != "stress" && !n.ends_with("_tls_fingerprint_digest")
        })
        .collect();
    let mut all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    all.extend(
        names
            .iter()
            .filter_map(|n| n.strip_prefix("smtp_"))
            .map(|r| format!("lmtp_{r}")),
    );
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let theirs = peers.release().postconf_defaults(&all);
    let mut differ = vec![];
    for name in &all {
        let Some(ours) = params.raw(name) else {
            // A parameter of a later release (`*_tls_enable_rpk` before
            // 3.9) is unknown to this one too.
            if theirs.iter().any(|(n, _)| n == name) {
                differ.push(format!("{name}: unknown here, postconf -d has it"));
            }
            continue;
        };
        match theirs.iter().find(|(n, _)| n == name) {
            Some((_, v)) if v.trim() == ours => {}
            Some((_, v)) => differ.push(format!("{name}: ours `{ours}`, postconf -d `{v}`")),
            // TLSRPT (3.10 and later): known to this library for every
            // release (a host may report for any).
            None if ours.is_empty()
                || *name == "tls_legacy_public_key_fingerprints"
                || name.ends_with("_tlsrpt_skip_reused_handshakes") => {}
            None => differ.push(format!("{name}: ours `{ours}`, unknown to this release")),
        }
    }
    assert!(
        differ.is_empty(),
        "{}: defaults differ from postconf -d:\n  {}",
        peers.release().describe(),
        differ.join("\n  ")
    );
}
