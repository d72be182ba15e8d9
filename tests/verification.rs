//! Peer verification (spec §2, §3.3): every client security level against
//! every kind of server certificate of a test PKI, including the
//! man-in-the-middle cases (valid certificate for another name, untrusted
//! CA, wrong fingerprint): the status word, whether the session is
//! refused, and the exact reason line Postfix logs.

mod common;

use common::pair::{run, settings, Side, CLIENT_LABEL};
use common::pki::pki;
use mtatls::ErrorKind;
use mtatls::Tlsa;

/// How the client is set up for one case.
#[derive(Clone)]
enum Check {
    Level(&'static str),
    /// Fingerprint level with the fingerprint of this kind: "cert",
    /// "spki" (of the served leaf) or "wrong".
    Fingerprint(&'static str),
    /// DANE level with a TLSA record: (level, usage, what it pins).
    Dane(&'static str, u8, &'static str),
}

/// Expected outcome: status word, and the trust-chain line when refused.
struct Want {
    word: &'static str,
    refused: Option<&'static str>,
}

const fn ok(word: &'static str) -> Want {
    Want {
        word,
        refused: None,
    }
}

const fn refused(line: &'static str) -> Want {
    Want {
        word: "Untrusted",
        refused: Some(line),
    }
}

/// One session of a client at `check` (with `client_extra` parameters)
/// against a server with the certificate `cert`.
fn run_case(cert: &str, check: &Check, client_extra: &[(&'static str, &str)]) -> (Side, Side) {
    let pki = pki();
    let server = settings(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", &pki.path(&format!("{cert}.pem"))),
    ]);
    let ca = pki.path("root.pem");
    let mut client_settings = vec![
        ("smtp_tls_security_level", "may"),
        ("smtp_tls_loglevel", "1"),
        ("smtp_tls_CAfile", ca.as_str()),
    ];
    client_settings.extend_from_slice(client_extra);
    let client = settings(&client_settings);
    let check = check.clone();
    let fp_cert = pki.cert_sha256(cert);
    let fp_spki = pki.spki_sha256(cert);
    let leaf_spki = pki.spki_digest(cert, openssl::hash::MessageDigest::sha256());
    let inter_cert = openssl::hash::hash(
        openssl::hash::MessageDigest::sha256(),
        &pki.cert("inter").to_der().unwrap(),
    )
    .unwrap()
    .to_vec();
    run(server, client, move |s| {
        s.set_peer_names("mail.example.test", "example.test")?;
        match check {
            Check::Level(level) => s.set_level(level),
            Check::Fingerprint(kind) => {
                s.set_level("fingerprint")?;
                s.set_match(match kind {
                    "cert" => &fp_cert,
                    "spki" => &fp_spki,
                    _ => "01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20",
                })
            }
            Check::Dane(level, usage, what) => {
                s.set_level(level)?;
                let data = match what {
                    "leaf-spki" => leaf_spki,
                    "inter-cert" => inter_cert,
                    _ => vec![0u8; 32],
                };
                s.add_tlsa(Tlsa {
                    usage,
                    selector: if what == "leaf-spki" { 1 } else { 0 },
                    mtype: 1,
                    data,
                })
            }
        }
    })
}

fn check_case(cert: &str, name: &str, check: Check, want: Want, failures: &mut Vec<String>) {
    check_case_with(cert, name, check, want, &[], failures)
}

/// [`check_case`] with more client parameters.
fn check_case_with(
    cert: &str,
    name: &str,
    check: Check,
    want: Want,
    client_extra: &[(&'static str, &str)],
    failures: &mut Vec<String>,
) {
    let (server, client) = run_case(cert, &check, client_extra);
    let case = format!("{cert} at {name}");
    if let Some(e) = &client.setup_error {
        failures.push(format!("{case}: setup failed: {e}"));
        return;
    }
    let summary = client.summary.clone().unwrap_or_default();
    if !summary.starts_with(&format!(
        "{} TLS connection established to {CLIENT_LABEL}: ",
        want.word
    )) {
        failures.push(format!(
            "{case}: summary \"{summary}\", want status {}",
            want.word
        ));
    }
    if !client.logged(&summary) {
        failures.push(format!("{case}: summary not logged: {:?}", client.log));
    }
    match (&want.refused, &client.handshake) {
        (None, Some(Ok(()))) => {}
        (Some(line), Some(Err(e))) => {
            if e.kind() != ErrorKind::NotVerified {
                failures.push(format!("{case}: refused with {:?}: {e}", e.kind()));
            }
            let full = line.to_string();
            if !client.logged(&full) {
                failures.push(format!(
                    "{case}: no log line \"{full}\" in {:#?}",
                    client.log
                ));
            }
            if !e.message().ends_with(&full)
                || !e.message().starts_with("Server certificate not verified")
            {
                failures.push(format!("{case}: error text \"{e}\""));
            }
        }
        (None, other) => failures.push(format!(
            "{case}: expected success, got {other:?} {:#?}",
            client.log
        )),
        (Some(_), other) => failures.push(format!("{case}: expected refusal, got {other:?}")),
    }
    if server.handshake.as_ref().is_none_or(|h| h.is_err()) {
        failures.push(format!(
            "{case}: server side failed: {}",
            server.error_text()
        ));
    }
}

fn label_line(text: &str) -> String {
    text.replace("LABEL", CLIENT_LABEL)
}

macro_rules! line {
    ($t:expr) => {
        Box::leak(label_line($t).into_boxed_str()) as &'static str
    };
}

#[test]
fn levels_against_good_certificates() {
    let mut failures = Vec::new();
    for cert in ["rsa", "ecdsa", "ed25519", "wildcard"] {
        for (name, check, want) in [
            ("may", Check::Level("may"), ok("Trusted")),
            ("encrypt", Check::Level("encrypt"), ok("Trusted")),
            (
                "fingerprint (cert)",
                Check::Fingerprint("cert"),
                ok("Verified"),
            ),
            (
                "fingerprint (spki)",
                Check::Fingerprint("spki"),
                ok("Verified"),
            ),
            ("verify", Check::Level("verify"), ok("Verified")),
            ("secure", Check::Level("secure"), ok("Verified")),
            (
                "dane (3 1 1)",
                Check::Dane("dane", 3, "leaf-spki"),
                ok("Verified"),
            ),
            (
                "dane-only (2 0 1)",
                Check::Dane("dane-only", 2, "inter-cert"),
                ok("Verified"),
            ),
        ] {
            check_case(cert, name, check, want, &mut failures);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// With `smtp_tls_exclude_ciphers = aNULL` every client profile comes out
/// with the same suites, so `may`, `encrypt` and the authenticated levels
/// share one OpenSSL context (tests/hardening.rs checks that they do):
/// DANE is then enabled on the shared context, and every level still
/// checks what it checks, accepting good peers and refusing the others.
#[test]
fn levels_when_every_profile_shares_one_openssl_context() {
    let mut failures = Vec::new();
    let shared = [("smtp_tls_exclude_ciphers", "aNULL")];
    let mismatch =
        line!("server certificate verification failed for LABEL: num=62:hostname mismatch");
    let no_match = line!(
        "server certificate verification failed for LABEL: num=65:no matching DANE TLSA records"
    );
    for (cert, name, check, want) in [
        ("rsa", "may", Check::Level("may"), ok("Trusted")),
        ("rsa", "encrypt", Check::Level("encrypt"), ok("Trusted")),
        (
            "rsa",
            "fingerprint (cert)",
            Check::Fingerprint("cert"),
            ok("Verified"),
        ),
        (
            "rsa",
            "fingerprint (wrong)",
            Check::Fingerprint("wrong"),
            refused(no_match),
        ),
        ("ecdsa", "verify", Check::Level("verify"), ok("Verified")),
        ("ecdsa", "secure", Check::Level("secure"), ok("Verified")),
        (
            "ecdsa",
            "dane (3 1 1)",
            Check::Dane("dane", 3, "leaf-spki"),
            ok("Verified"),
        ),
        (
            "ecdsa",
            "dane-only (2 0 1)",
            Check::Dane("dane-only", 2, "inter-cert"),
            ok("Verified"),
        ),
        (
            "wrongname",
            "verify",
            Check::Level("verify"),
            refused(mismatch),
        ),
        ("wrongname", "may", Check::Level("may"), ok("Trusted")),
    ] {
        check_case_with(cert, name, check, want, &shared, &mut failures);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn man_in_the_middle_is_refused_where_authentication_is_required() {
    let mut failures = Vec::new();
    let mismatch =
        line!("server certificate verification failed for LABEL: num=62:hostname mismatch");
    let untrusted_issuer = line!(
        "certificate verification failed for LABEL: untrusted issuer /O=mtatls-test/CN=Evil CA"
    );
    // What real posttls-finger logs for a fingerprint or TLSA mismatch.
    let no_match = line!(
        "server certificate verification failed for LABEL: num=65:no matching DANE TLSA records"
    );
    for (cert, name, check, want) in [
        // A valid certificate for another name.
        ("wrongname", "may", Check::Level("may"), ok("Trusted")),
        (
            "wrongname",
            "encrypt",
            Check::Level("encrypt"),
            ok("Trusted"),
        ),
        (
            "wrongname",
            "verify",
            Check::Level("verify"),
            refused(mismatch),
        ),
        (
            "wrongname",
            "secure",
            Check::Level("secure"),
            refused(mismatch),
        ),
        (
            "wrongname",
            "dane-only (2 0 1)",
            Check::Dane("dane-only", 2, "inter-cert"),
            refused(mismatch),
        ),
        (
            "wrongname",
            "fingerprint (wrong)",
            Check::Fingerprint("wrong"),
            refused(no_match),
        ),
        (
            "wrongname",
            "dane (3 1 1 wrong)",
            Check::Dane("dane", 3, "wrong"),
            refused(no_match),
        ),
        // A certificate from a CA the client does not trust.
        ("untrusted", "may", Check::Level("may"), ok("Untrusted")),
        (
            "untrusted",
            "encrypt",
            Check::Level("encrypt"),
            ok("Untrusted"),
        ),
        (
            "untrusted",
            "verify",
            Check::Level("verify"),
            refused(untrusted_issuer),
        ),
        (
            "untrusted",
            "secure",
            Check::Level("secure"),
            refused(untrusted_issuer),
        ),
        (
            "untrusted",
            "fingerprint (wrong)",
            Check::Fingerprint("wrong"),
            refused(no_match),
        ),
        (
            "untrusted",
            "dane-only (2 0 1)",
            Check::Dane("dane-only", 2, "inter-cert"),
            refused(no_match),
        ),
        // A fingerprint that does not match a good certificate.
        (
            "rsa",
            "fingerprint (wrong)",
            Check::Fingerprint("wrong"),
            refused(no_match),
        ),
    ] {
        check_case(cert, name, check, want, &mut failures);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn bad_validity_and_self_signed() {
    let mut failures = Vec::new();
    let expired =
        line!("server certificate verification failed for LABEL: certificate has expired");
    let notyet =
        line!("server certificate verification failed for LABEL: certificate not yet valid");
    let selfsigned = line!("certificate verification failed for LABEL: self-signed certificate");
    for (cert, name, check, want) in [
        ("expired", "may", Check::Level("may"), ok("Untrusted")),
        (
            "expired",
            "verify",
            Check::Level("verify"),
            refused(expired),
        ),
        (
            "expired",
            "secure",
            Check::Level("secure"),
            refused(expired),
        ),
        (
            "expired",
            "fingerprint (cert)",
            Check::Fingerprint("cert"),
            ok("Verified"),
        ),
        (
            "expired",
            "dane (3 1 1)",
            Check::Dane("dane", 3, "leaf-spki"),
            ok("Verified"),
        ),
        (
            "notyet",
            "encrypt",
            Check::Level("encrypt"),
            ok("Untrusted"),
        ),
        ("notyet", "secure", Check::Level("secure"), refused(notyet)),
        ("selfsigned", "may", Check::Level("may"), ok("Untrusted")),
        (
            "selfsigned",
            "verify",
            Check::Level("verify"),
            refused(selfsigned),
        ),
        (
            "selfsigned",
            "fingerprint (spki)",
            Check::Fingerprint("spki"),
            ok("Verified"),
        ),
    ] {
        check_case(cert, name, check, want, &mut failures);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Server side (spec §2.3, §4): client certificates asked for, required,
/// trusted or not, and the Received: comment each case gives.
#[test]
fn client_certificates_on_the_server() {
    let pki = pki();
    let server_base = |extra: &[(&'static str, &str)]| {
        let mut s = settings(&[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_loglevel", "1"),
            ("smtpd_tls_chain_files", &pki.path("rsa.pem")),
            ("smtpd_tls_CAfile", &pki.path("root.pem")),
            ("smtpd_tls_ask_ccert", "yes"),
        ]);
        s.extend(settings(extra));
        s
    };
    let client = |chain: Option<&str>| {
        let mut c = settings(&[("smtp_tls_security_level", "may")]);
        if let Some(name) = chain {
            c.extend(settings(&[(
                "smtp_tls_chain_files",
                &pki.path(&format!("{name}.pem")),
            )]));
        }
        c
    };
    let t13 = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)";
    let sig = "key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256";
    let csig = "client-signature RSA-PSS (2048 bits) client-digest SHA256";
    let mut failures = Vec::new();
    let mut expect = |what: &str, got: Option<String>, want: String| {
        if got.as_deref() != Some(want.as_str()) {
            failures.push(format!("{what}:\n  got  {got:?}\n  want {want:?}"));
        }
    };

    // Trusted client certificate.
    let (server, _) = run(server_base(&[]), client(Some("client")), |_| Ok(()));
    expect(
        "trusted: summary",
        server.summary.clone(),
        format!("Trusted TLS connection established from localhost[127.0.0.1]: {t13} {sig} {csig}"),
    );
    expect(
        "trusted: Received:",
        server.received.clone(),
        format!("\t(using {t13}\n\t {sig}\n\t {csig})\n\t(Client CN \"client.example.test\", Issuer \"Test Intermediate CA\" (verified OK))"),
    );
    let facts = server.facts.clone().unwrap_or_default();
    expect(
        "trusted: CN",
        Some(facts.peer_cn.clone()),
        "client.example.test".into(),
    );
    expect(
        "trusted: fingerprint",
        Some(facts.peer_cert_fprint.clone()),
        pki.cert_sha256("client"),
    );

    // Self-signed (untrusted) client certificate: accepted, not verified.
    let (server, _) = run(server_base(&[]), client(Some("selfclient")), |_| Ok(()));
    expect(
        "untrusted: summary",
        server.summary.clone(),
        format!(
            "Untrusted TLS connection established from localhost[127.0.0.1]: {t13} {sig} {csig}"
        ),
    );
    expect(
        "untrusted: Received:",
        server.received.clone(),
        format!("\t(using {t13}\n\t {sig}\n\t {csig})\n\t(Client CN \"self.client.test\", Issuer \"self.client.test\" (not verified))"),
    );

    // No client certificate.
    let (server, _) = run(server_base(&[]), client(None), |_| Ok(()));
    expect(
        "absent: Received:",
        server.received.clone(),
        format!("\t(using {t13}\n\t {sig})\n\t(Client did not present a certificate)"),
    );

    // Required (encrypt + req_ccert): absent and untrusted are refused.
    let required = [
        ("smtpd_tls_security_level", "encrypt"),
        ("smtpd_tls_req_ccert", "yes"),
    ];
    let (server, _) = run(server_base(&required), client(None), |_| Ok(()));
    expect(
        "required, absent: error",
        server
            .handshake
            .as_ref()
            .and_then(|h| h.as_ref().err())
            .map(|e| e.to_string()),
        "TLS from localhost[127.0.0.1]: No client certificate presented".into(),
    );
    let (server, _) = run(server_base(&required), client(Some("selfclient")), |_| {
        Ok(())
    });
    expect(
        "required, untrusted: error",
        server
            .handshake
            .as_ref()
            .and_then(|h| h.as_ref().err())
            .map(|e| e.to_string()),
        "TLS from localhost[127.0.0.1]: Client certificate not trusted".into(),
    );
    expect(
        "required, untrusted: trust-chain line",
        server
            .log
            .iter()
            .find(|l| l.contains("verification failed"))
            .cloned(),
        "certificate verification failed for localhost[127.0.0.1]: self-signed certificate".into(),
    );
    let (server, _) = run(server_base(&required), client(Some("client")), |_| Ok(()));
    expect(
        "required, trusted: result",
        server.handshake.as_ref().map(|h| format!("{h:?}")),
        "Ok(())".into(),
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Loglevel `routine,certmatch` (posttls-finger's default): the match
/// lines real posttls-finger prints, in its order, before the peer line.
#[test]
fn certificate_match_lines() {
    let pki = pki();
    let run_with = |extra: &[(&'static str, &str)], level: &'static str, matches: String| {
        let server = settings(&[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_chain_files", &pki.path("rsa.pem")),
        ]);
        let mut client = settings(&[
            ("smtp_tls_security_level", "may"),
            ("smtp_tls_loglevel", "routine,certmatch"),
        ]);
        client.extend(settings(extra));
        let (_, c) = run(server, client, move |s| {
            s.set_peer_names("mail.example.test", "example.test")?;
            s.set_level(level)?;
            s.set_match(&matches)
        });
        c.log
    };
    let peer_line = |md: &str| {
        let (fp, pfp) = if md == "md5" {
            let c = pki.cert("rsa");
            let hex = |b: &[u8]| common::pki::colon_hex(b);
            (
                hex(&c.digest(openssl::hash::MessageDigest::md5()).unwrap()),
                hex(&pki.spki_digest("rsa", openssl::hash::MessageDigest::md5())),
            )
        } else {
            (pki.cert_sha256("rsa"), pki.spki_sha256("rsa"))
        };
        format!("{CLIENT_LABEL}: subject_CN=mail.example.test, issuer_CN=Test Intermediate CA, fingerprint={fp}, pkey_fingerprint={pfp}")
    };
    let summary = format!("Verified TLS connection established to {CLIENT_LABEL}: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256");

    let log = run_with(
        &[("smtp_tls_CAfile", &pki.path("root.pem"))],
        "secure",
        ".example.test".into(),
    );
    assert_eq!(
        log,
        vec![
            format!("{CLIENT_LABEL}: matched peername: mail.example.test"),
            peer_line("sha256"),
            summary.clone()
        ]
    );

    let log = run_with(
        &[("smtp_tls_trust_anchor_file", &pki.path("root.pem"))],
        "verify",
        "hostname".into(),
    );
    assert_eq!(
        log,
        vec![
            format!("{CLIENT_LABEL}: matched peername: mail.example.test"),
            format!("{CLIENT_LABEL}: Matched trust anchor at depth 2"),
            peer_line("sha256"),
            summary.clone()
        ]
    );

    let md5 = common::pki::colon_hex(
        &pki.cert("rsa")
            .digest(openssl::hash::MessageDigest::md5())
            .unwrap(),
    );
    let log = run_with(
        &[("smtp_tls_fingerprint_digest", "md5")],
        "fingerprint",
        md5.to_lowercase(),
    );
    assert_eq!(
        log,
        vec![
            format!(
                "{CLIENT_LABEL}: Matched fingerprint: {}",
                md5.replace(':', "")
            ),
            peer_line("md5"),
            summary.clone()
        ]
    );
}

/// Fingerprints OpenSSL cannot use (wrong length for the digest) get
/// Postfix's per-record warnings, and verification fails as Postfix's does.
#[test]
fn unusable_fingerprints() {
    let pki = pki();
    let server = settings(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", &pki.path("rsa.pem")),
    ]);
    let client = settings(&[
        ("smtp_tls_security_level", "may"),
        ("smtp_tls_loglevel", "1"),
    ]);
    let (_, c) = run(server, client, |s| {
        s.set_level("fingerprint")?;
        s.set_match("00:11")
    });
    let label = CLIENT_LABEL;
    assert_eq!(
        c.log[..4],
        [
            format!("warning: {label}: unusable TLSA RR: 3 1 255 0011"),
            format!("warning: {label}: unusable TLSA RR: 3 0 255 0011"),
            format!("warning: {label}: all fingerprints unusable"),
            format!("server certificate verification failed for {label}: num=1:unspecified certificate verification error"),
        ]
    );
    assert_eq!(
        c.handshake.as_ref().unwrap().as_ref().unwrap_err().kind(),
        ErrorKind::NotVerified
    );
}

/// Server loglevel 2 with a client certificate that is required but not
/// trusted: the lines and their order as real smtpd logs them.
#[test]
fn server_client_certificate_lines_at_loglevel_2() {
    let pki = pki();
    let server = settings(&[
        ("smtpd_tls_security_level", "encrypt"),
        ("smtpd_tls_loglevel", "2"),
        ("smtpd_tls_chain_files", &pki.path("rsa.pem")),
        ("smtpd_tls_CAfile", &pki.path("root.pem")),
        ("smtpd_tls_req_ccert", "yes"),
        ("smtpd_tls_session_cache_timeout", "0"),
    ]);
    let client = settings(&[
        ("smtp_tls_security_level", "may"),
        ("smtp_tls_chain_files", &pki.path("selfclient.pem")),
    ]);
    let (s, _) = run(server, client, |_| Ok(()));
    let label = "localhost[127.0.0.1]";
    let wanted: Vec<String> = vec![
        format!("{label}: depth=0 verify=0 subject=/O=mtatls-test/CN=self.client.test"),
        format!("{label}: depth=0 verify=1 subject=/O=mtatls-test/CN=self.client.test"),
        "subject=/O=mtatls-test/CN=self.client.test".into(),
        "issuer=/O=mtatls-test/CN=self.client.test".into(),
        format!(
            "{label}: subject_CN=self.client.test, issuer=self.client.test, fingerprint={}, pkey_fingerprint={}",
            pki.cert_sha256("selfclient"),
            pki.spki_sha256("selfclient")
        ),
        format!("certificate verification failed for {label}: self-signed certificate"),
    ];
    let interesting: Vec<String> = s
        .log
        .iter()
        .filter(|l| !l.starts_with("SSL_accept:") && !l.contains("TLS connection established"))
        .skip_while(|l| !l.contains("depth="))
        .cloned()
        .collect();
    assert_eq!(interesting, wanted, "{:#?}", s.log);
    assert!(s
        .log
        .last()
        .unwrap()
        .starts_with("Untrusted TLS connection established from localhost[127.0.0.1]: "));
    assert_eq!(s.log[0], "initializing the server-side TLS engine");
    assert_eq!(s.log[1], format!("setting up TLS connection from {label}"));
    assert!(
        s.log[2].starts_with(&format!("{label}: TLS cipher list \""))
            && s.log[2].ends_with(":!aNULL\"")
    );
}

/// Issue 17, fix 6: `tls_dane_digests` says which digests DANE TLSA
/// matching types 1 and 2 mean, and which is preferred, as in Postfix
/// (`SSL_CTX_dane_mtype_set`): a type left out is unusable, and of a
/// record set with both types only the preferred type's records count.
/// The records themselves are checked with `openssl s_client -dane_tlsa_*`
/// against mtatls-smtpd serving the same certificate.
#[test]
fn tls_dane_digests_select_the_tlsa_matching_types() {
    use openssl::hash::MessageDigest;
    let pki = pki();
    let spki256 = pki.spki_digest("rsa", MessageDigest::sha256());
    let spki512 = pki.spki_digest("rsa", MessageDigest::sha512());
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    let rec = |mtype: u8, data: &[u8]| Tlsa {
        usage: 3,
        selector: 1,
        mtype,
        data: data.to_vec(),
    };
    let wrong256 = vec![0u8; 32];
    let run_with = |digests: Option<&str>, records: Vec<Tlsa>| {
        let server = settings(&[
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_chain_files", &pki.path("rsa.pem")),
        ]);
        let mut client = settings(&[
            ("smtp_tls_security_level", "may"),
            ("smtp_tls_loglevel", "1"),
        ]);
        if let Some(d) = digests {
            client.extend(settings(&[("tls_dane_digests", d)]));
        }
        run(server, client, move |s| {
            s.set_peer_names("mail.example.test", "example.test")?;
            s.set_level("dane-only")?;
            for r in records {
                s.add_tlsa(r)?;
            }
            Ok(())
        })
        .1
    };
    let verified = |c: &Side| {
        c.summary
            .as_deref()
            .is_some_and(|s| s.starts_with("Verified TLS connection established"))
            && matches!(c.handshake, Some(Ok(())))
    };
    let cases: [(&str, Option<&str>, Vec<Tlsa>, bool); 6] = [
        ("default, sha512 record", None, vec![rec(2, &spki512)], true),
        ("default, sha256 record", None, vec![rec(1, &spki256)], true),
        (
            "sha256 only, sha512 record",
            Some("sha256"),
            vec![rec(2, &spki512)],
            false,
        ),
        (
            "sha256 only, sha256 record",
            Some("sha256"),
            vec![rec(1, &spki256)],
            true,
        ),
        // Both types present: the preferred type's (wrong) record decides.
        (
            "sha512 preferred, good sha512 and wrong sha256",
            Some("sha512 sha256"),
            vec![rec(2, &spki512), rec(1, &wrong256)],
            true,
        ),
        (
            "sha256 preferred, good sha512 and wrong sha256",
            Some("sha256 sha512"),
            vec![rec(2, &spki512), rec(1, &wrong256)],
            false,
        ),
    ];
    let mut failures = Vec::new();
    for (name, digests, records, want) in cases {
        let c = run_with(digests, records);
        if verified(&c) != want {
            failures.push(format!(
                "{name}: verified {}, want {want}: {:?}\n{:#?}",
                verified(&c),
                c.handshake,
                c.log
            ));
        }
    }
    // The unusable record is named, in Postfix's words.
    let c = run_with(Some("sha256"), vec![rec(2, &spki512)]);
    for line in [
        format!(
            "warning: {CLIENT_LABEL}: unusable TLSA RR: 3 1 2 {}",
            hex(&spki512)
        ),
        format!("warning: {CLIENT_LABEL}: all TLSA records unusable"),
    ] {
        if !c.logged(&line) {
            failures.push(format!("no \"{line}\" in {:#?}", c.log));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The sha512 record does match the server's key (OpenSSL's own DANE
    // code, all types enabled, says so).
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
        format!("smtpd_tls_chain_files={}", pki.path("rsa.pem")),
    ]);
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("127.0.0.1:{}", smtpd.port))
        .args([
            "-dane_tlsa_domain",
            "mail.example.test",
            "-dane_tlsa_rrdata",
        ])
        .arg(format!("3 1 2 {}", hex(&spki512)))
        .stdin(std::process::Stdio::null());
    let out = common::run_bounded(&mut cmd, std::time::Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("Verification: OK") && text.contains("DANE TLSA 3 1 2 "),
        "s_client:\n{text}"
    );
}

/// Issue 17, fix 6: the warnings for `tls_dane_digests` entries Postfix
/// rejects are real posttls-finger's, for the same value (both probe a
/// closed port: the client context is built first).
#[test]
fn tls_dane_digests_warnings_match_posttls_finger() {
    let Some(peers) = common::peers::available() else {
        return;
    };
    let value = "sha1 md5=1 sha256=0 sha256=255 x=y foo=5 sha512=2 sha512 =3 sha384=4";
    let port = common::peers::free_port();
    let opt = format!("tls_dane_digests={value}");
    let theirs: Vec<String> = common::postfix::run_posttls_finger(
        &mut common::postfix::posttls_finger_command(peers.release(), port, &["-c", "-o", &opt]),
    )
    .into_iter()
    .filter_map(|l| {
        l.strip_prefix("posttls-finger: warning: ")
            .map(str::to_string)
    })
    .collect();
    let mut cmd = std::process::Command::new(common::c_binaries().join("mtatls-finger"));
    cmd.args(common::peers::release_options())
        .args(["-o", &opt])
        .arg(format!("127.0.0.1:{port}"));
    let out = common::run_bounded(&mut cmd, std::time::Duration::from_secs(60));
    let ours: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| {
            l.strip_prefix("mtatls-finger: warning: ")
                .map(str::to_string)
        })
        .collect();
    assert_eq!(theirs.len(), 7, "{theirs:#?}");
    assert_eq!(ours, theirs);
}
