//! mtatls-finger against a REAL Postfix 3.7 smtpd (issue 4: tests written
//! against our own code only can agree with themselves and still be wrong).
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

use common::peers::{self, assert_line, indent, FingerCase as Case, PostfixSmtpd, SMTPD_LABEL};

const T13: &str = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519";
const SIG_RSA: &str = "server-signature RSA-PSS (2048 bits) server-digest SHA256";
const SIG_EC: &str = "server-signature ECDSA (prime256v1) server-digest SHA256";
const CSIG_RSA: &str = "client-signature RSA-PSS (2048 bits) client-digest SHA256";
const ADH12: &str = "TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits)";
const TLS12: &str = ">=TLSv1.2,<=TLSv1.2";

/// Postfix 3.7's default `tls_medium_cipherlist` followed by what the
/// exclusions `aNULL, kECDHE` append. posttls-finger ignores
/// `smtp_tls_exclude_ciphers` (its exclusions are compiled in:
/// DEF_SMTP_TLS_EXCL_CIPH, plus aNULL/eNULL by level), so to make it
/// exclude kECDHE the grade's list itself has to say so.
const MEDIUM_NO_ECDHE: &str = "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:!aNULL:!kECDHE";

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
    let t13_ec = format!("{T13} {SIG_EC}");
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
            .both("Untrusted", &t13_ec)
            .fails(),
        Case::new("verify", "verify")
            .opts(&["-F", &cas])
            .matches(&["localhost"])
            .shows("matched peername: localhost")
            .both("Verified", &t13_ec),
        Case::new("verify, wrong name", "verify")
            .opts(&["-F", &cas])
            .matches(&["mx.example.com"])
            .both("Untrusted", &t13_ec)
            .fails(),
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
    ffdhe_only_fails(&smtpd);
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
    let t13 = format!("{T13} {SIG_RSA}");
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
    let t13 = format!("{T13} {SIG_EC}");
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
    let t13 = format!("{T13} {SIG_EC}");
    let t13_ccert = format!("{T13} {SIG_EC} {CSIG_RSA}");
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
    let medium = format!("tls_medium_cipherlist={MEDIUM_NO_ECDHE}");
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

/// Forward secrecy, FFDHE only on our side (`tls_eecdh_auto_curves =`
/// empty): Postfix 3.7 offers no FFDHE group in TLS 1.3 (spec §7: "FFDHE in
/// TLS 1.3 | not offered (group list = EC curves only)"), so the handshake
/// fails; both sides log it. posttls-finger cannot take part: 3.7 refuses
/// the empty value ("fatal: bad string length 0 < 1", spec §7).
fn ffdhe_only_fails(smtpd: &PostfixSmtpd) {
    let label = format!("127.0.0.1[127.0.0.1]:{}", smtpd.port);
    let n = smtpd.tls_lines().len();
    let (ok, ours) = peers::mtatls_finger(&[
        s("-o"),
        s("tls_eecdh_auto_curves="),
        format!("127.0.0.1:{}", smtpd.port),
    ]);
    assert!(
        !ok,
        "mtatls-finger succeeded with FFDHE only:\n{}",
        indent(&ours)
    );
    let first = ours
        .iter()
        .position(|l| l.starts_with("SSL_connect error"))
        .unwrap_or_else(|| {
            panic!(
                "mtatls-finger logged no SSL_connect error:\n{}",
                indent(&ours)
            )
        });
    assert_line(
        "our handshake failure",
        &ours[first],
        &format!("SSL_connect error to {label}: -1"),
    );
    let problem = ours.get(first + 1).cloned().unwrap_or_default();
    assert!(
        problem.starts_with(
            "warning: TLS library problem: error:0A000410:SSL routines::sslv3 alert handshake failure:"
        ),
        "after our SSL_connect error, expected the TLS library problem line of the server's \
         handshake_failure alert, got:\n{}",
        indent(&ours)
    );
    assert!(
        peers::summary(&ours).is_none(),
        "a summary after a failed handshake:\n{}",
        indent(&ours)
    );
    let line = smtpd.wait_tls_lines(n + 1)[n].clone();
    assert_line(
        "real smtpd's line for our connection",
        &line,
        &format!("SSL_accept error from {SMTPD_LABEL}: -1"),
    );
    let key_share = |l: &String| {
        l.starts_with("warning: TLS library problem: ") && l.contains("no suitable key share")
    };
    let found = peers::wait_for(peers::WAIT, || {
        smtpd
            .lines_after_tls(n + 1)
            .iter()
            .any(key_share)
            .then_some(())
    });
    assert!(
        found.is_some(),
        "real smtpd did not log \"no suitable key share\" for our connection:\n{}",
        indent(&smtpd.lines_after_tls(n + 1))
    );
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
    // Resumed TLS 1.3: the 3.8.8+ summary form, key exchange only.
    assert_line(
        "second run's summary",
        &peers::summary(&second).expect("a summary"),
        &format!("Untrusted TLS connection established to {label}: {T13}"),
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
