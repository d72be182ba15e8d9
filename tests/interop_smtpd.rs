//! Real clients against our mtatls-smtpd, and mtatls-finger against a real
//! OpenSSL server (issue 4): Postfix's posttls-finger (STARTTLS and wrapper
//! mode), swaks, `openssl s_client -starttls smtp`; mtatls-finger against
//! `openssl s_server` in wrapper mode (peers::OpensslSmtps); forward
//! secrecy variants (FFDHE only, DHE with a DH parameter file, server cipher
//! preference). Where the real smtpd can serve the same case, ours is
//! compared with it: cipher preference, TLS 1.3 session resumption,
//! required client certificates.
//!
//! The real programs are those of the release under test (Debian's 3.7.11
//! or MTATLS_PF_ROOT's); ours run with `mtatls_postfix_release` set to it,
//! and the expected lines are that release's (`common::forms`).
//!
//! Our smtpd uses the peers' keys and certificates. Each #[test] starts
//! its own servers on free ports and stops them by pid, also on failure.
//! Skipped without the peers; required under CI (MTATLS_REQUIRE_PEERS=1).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::peers::{
    self, assert_line, assert_lines, assert_same, assert_same_lines, compare_fingers, indent,
    FingerCase as Case, MtatlsSmtpd, OpensslSmtps, PostfixSmtpd, TempDir,
};

const SIG_RSA: &str = "server-signature RSA-PSS (2048 bits) server-digest SHA256";
const SIG_EC: &str = "server-signature ECDSA (prime256v1) server-digest SHA256";
const CSIG_RSA: &str = "client-signature RSA-PSS (2048 bits) client-digest SHA256";
const TLS12: &str = ">=TLSv1.2,<=TLSv1.2";

/// The release's default `tls_medium_cipherlist` followed by what the
/// exclusions `aNULL, kECDHE` append: posttls-finger ignores
/// `smtp_tls_exclude_ciphers` (its exclusions are compiled in), so the
/// grade's list itself has to exclude kECDHE.
fn medium_no_ecdhe(peers: &peers::Peers) -> String {
    let medium = peers
        .release()
        .postconf_default("tls_medium_cipherlist")
        .expect("postconf -d tls_medium_cipherlist");
    format!("{medium}:!aNULL:!kECDHE")
}

/// "TLSv1.3 ... key-exchange X25519" as the release under test writes it.
fn t13(peers: &peers::Peers) -> String {
    peers.forms().t13()
}

/// The Received: line of the X25519 key exchange and ECDSA signature.
fn kex_comment(peers: &peers::Peers, rest: &str) -> String {
    format!(
        "\t key-exchange {} server-signature ECDSA (prime256v1) server-digest SHA256{rest}",
        peers.forms().kex("x25519")
    )
}

fn s(v: &str) -> String {
    v.to_string()
}

fn path(certs: &Path, name: &str) -> String {
    peers::p(&certs.join(name))
}

/// mtatls-smtpd with the peers' RSA and ECDSA certificates and `extra`
/// parameters ("name=value").
fn our_smtpd(certs: &Path, extra: &[&str]) -> MtatlsSmtpd {
    let mut options = vec![
        s("-o"),
        format!(
            "smtpd_tls_chain_files={}, {}",
            path(certs, "server-rsa.pem"),
            path(certs, "server-ecdsa.pem")
        ),
        s("-o"),
        s("smtpd_tls_received_header=yes"),
    ];
    for e in extra {
        options.push(s("-o"));
        options.push(e.to_string());
    }
    MtatlsSmtpd::start(&options)
}

/// The Received: comment lines (TAB-led).
fn comment(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| format!("\t{l}")).collect()
}

#[test]
fn posttls_finger_to_smtpd_starttls() {
    let Some(peers) = peers::available() else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    let smtpd = our_smtpd(certs, &[]);
    let fp = peers::read_text(&certs.join("server-ecdsa.sha256"));
    let spki = peers::read_text(&certs.join("server-ecdsa.spki-sha256"));
    let cas = path(certs, "server-cas.pem");
    let t13 = format!("{} {SIG_EC}", t13(&peers));
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
        Case::new("TLS 1.2 forced by the client, may", "may")
            .opts(&["-p", "<=TLSv1.2"])
            .both(
                "Anonymous",
                "TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits)",
            ),
    ];
    for case in &cases {
        compare_fingers(&peers, smtpd.port, &smtpd, case);
    }
}

#[test]
fn posttls_finger_to_smtpd_client_certificate() {
    let Some(peers) = peers::available() else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    let ca = format!("smtpd_tls_CAfile={}", path(certs, "client-ca.pem"));
    let smtpd = our_smtpd(certs, &["smtpd_tls_ask_ccert=yes", &ca]);
    let chain = path(certs, "client-rsa.pem");
    let t13 = format!("{} {SIG_EC}", t13(&peers));
    let t13_ccert = format!("{t13} {CSIG_RSA}");
    let ecdsa12 = "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)";
    let cases = [
        Case::new("client certificate, TLS 1.3", "may")
            .opts(&["-H", &chain])
            .client("Untrusted", &t13_ccert)
            .server("Trusted", &t13_ccert),
        Case::new("no client certificate", "may").both("Untrusted", &t13),
        // As Postfix: asking for a certificate excludes aNULL.
        Case::new("client certificate, TLS 1.2 forced by the client", "may")
            .opts(&["-H", &chain, "-p", "<=TLSv1.2"])
            .client("Untrusted", ecdsa12)
            .server("Trusted", ecdsa12),
        Case::new("no client certificate, TLS 1.2 forced by the client", "may")
            .opts(&["-p", "<=TLSv1.2"])
            .both("Untrusted", ecdsa12),
    ];
    for case in &cases {
        compare_fingers(&peers, smtpd.port, &smtpd, case);
    }
}

#[test]
fn posttls_finger_to_smtpd_wrapper_mode() {
    let Some(peers) = peers::available() else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    let smtpd = our_smtpd(certs, &["smtpd_tls_wrappermode=yes"]);
    let fp = peers::read_text(&certs.join("server-ecdsa.sha256"));
    let t13 = format!("{} {SIG_EC}", t13(&peers));
    let cases = [
        Case::new("wrapper mode, may", "may")
            .opts(&["-w"])
            .both("Untrusted", &t13),
        Case::new("wrapper mode, fingerprint", "fingerprint")
            .opts(&["-w"])
            .matches(&[&fp])
            .matched_fingerprint(&fp)
            .both("Verified", &t13),
    ];
    for case in &cases {
        compare_fingers(&peers, smtpd.port, &smtpd, case);
    }
}

/// swaks as a client: the message is delivered with our Received: comment.
#[test]
fn swaks_to_smtpd() {
    let Some(peers) = peers::available_with(&["swaks"]) else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    let ca = format!("smtpd_tls_CAfile={}", path(certs, "client-ca.pem"));
    let smtpd = our_smtpd(certs, &["smtpd_tls_ask_ccert=yes", &ca]);
    let swaks = |subject: &str, extra: &[String]| {
        let mut cmd = Command::new("swaks");
        cmd.current_dir(std::env::temp_dir())
            .args(["--server", &format!("127.0.0.1:{}", smtpd.port)])
            .args(["--helo", "swaks.peers.test", "--from", "s@swaks.peers.test"])
            .args(["--to", "test@peers.test", "--tls", "--timeout", "20"])
            .args(["--h-Subject", subject])
            .args(extra);
        let out = common::run_bounded(&mut cmd, Duration::from_secs(60));
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success()
                && text.contains("=== TLS started with cipher TLSv1.3:TLS_AES_256_GCM_SHA384:256")
                && text.contains("<~  250 2.0.0 Ok: queued as "),
            "swaks {subject}: no TLS delivery:\n{text}\nmtatls-smtpd:\n{}",
            indent(&smtpd.stderr())
        );
    };
    let first = smtpd.tls_lines().len();
    swaks("swaks-plain", &[]);
    swaks(
        "swaks-ccert",
        &[
            s("--tls-cert"),
            path(certs, "client-rsa.crt"),
            s("--tls-key"),
            path(certs, "client-rsa.key"),
        ],
    );
    let lines = smtpd.wait_tls_lines(first + 2);
    let t13 = t13(&peers);
    assert_line(
        "mtatls-smtpd's summary for swaks",
        &lines[first],
        &format!("Anonymous TLS connection established from localhost[127.0.0.1]: {t13} {SIG_EC}"),
    );
    assert_line(
        "mtatls-smtpd's summary for swaks with a client certificate",
        &lines[first + 1],
        &format!(
            "Trusted TLS connection established from localhost[127.0.0.1]: {t13} {SIG_EC} {CSIG_RSA}"
        ),
    );
    let plain = smtpd.wait_received("swaks-plain");
    assert_line(
        "Received: first line",
        &plain[0],
        "Received: from swaks.peers.test (localhost [127.0.0.1])",
    );
    let using = "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)".to_string();
    assert_lines(
        "Received: TLS comment for swaks",
        &peers::tls_comment(&plain),
        &[
            using.clone(),
            kex_comment(&peers, ")"),
            "\t(Client did not present a certificate)".into(),
        ],
    );
    let ccert = smtpd.wait_received("swaks-ccert");
    assert_lines(
        "Received: TLS comment for swaks with a client certificate",
        &peers::tls_comment(&ccert),
        &[
            using,
            kex_comment(&peers, ""),
            "\t client-signature RSA-PSS (2048 bits) client-digest SHA256)".into(),
            "\t(Client CN \"peers-client.test\", Issuer \"peers-client.test\" (verified OK))"
                .into(),
        ],
    );
}

/// `openssl s_client -starttls smtp` with a scripted SMTP dialogue; the
/// message must arrive with our Received: comment.
fn s_client_delivers(smtpd: &MtatlsSmtpd, subject: &str, tls_opts: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("127.0.0.1:{}", smtpd.port))
        // -quiet: no command letters (RCPT would renegotiate), no EOF exit;
        // -crlf: SMTP line ends.
        .args(["-quiet", "-crlf"])
        .args(tls_opts);
    let message = format!("Subject: {subject}\n\nhello over s_client\n.\n");
    let steps = [
        ("EHLO sclient.peers.test\n", 400),
        ("MAIL FROM:<s@sclient.peers.test>\n", 200),
        ("RCPT TO:<test@peers.test>\n", 200),
        ("DATA\n", 200),
        (message.as_str(), 300),
        ("QUIT\n", 1000),
    ];
    let (_, out) = peers::run_scripted(&mut cmd, &steps, Duration::from_secs(30));
    assert!(
        out.iter()
            .any(|l| l.starts_with("250 2.0.0 Ok: queued as "))
            && out.iter().any(|l| l.starts_with("221 ")),
        "s_client {subject}: message not accepted:\n{}\nmtatls-smtpd:\n{}",
        indent(&out),
        indent(&smtpd.stderr())
    );
    smtpd.wait_received(subject)
}

#[test]
fn s_client_to_smtpd() {
    let Some(peers) = peers::available_with(&["openssl"]) else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    let smtpd = our_smtpd(certs, &[]);
    let first = smtpd.tls_lines().len();
    let r13 = s_client_delivers(&smtpd, "s_client-tls13", &[]);
    let r12 = s_client_delivers(&smtpd, "s_client-tls12", &["-tls1_2"]);
    let lines = smtpd.wait_tls_lines(first + 2);
    assert_line(
        "mtatls-smtpd's summary for s_client",
        &lines[first],
        &format!(
            "Anonymous TLS connection established from localhost[127.0.0.1]: {} {SIG_EC}",
            t13(&peers)
        ),
    );
    let ecdsa12 = "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)";
    assert_line(
        "mtatls-smtpd's summary for s_client -tls1_2",
        &lines[first + 1],
        &format!("Anonymous TLS connection established from localhost[127.0.0.1]: {ecdsa12}"),
    );
    assert_line(
        "Received: first line",
        &r13[0],
        "Received: from sclient.peers.test (localhost [127.0.0.1])",
    );
    assert_lines(
        "Received: TLS comment for s_client",
        &peers::tls_comment(&r13),
        &[
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)".into(),
            kex_comment(&peers, ")"),
            "\t(No client certificate requested)".into(),
        ],
    );
    assert_lines(
        "Received: TLS comment for s_client -tls1_2",
        &peers::tls_comment(&r12),
        &comment(&[
            &format!("(using {ecdsa12})"),
            "(No client certificate requested)",
        ]),
    );
}

/// posttls-finger -w and mtatls-finger -w, one after the other, against
/// fresh one-shot `openssl s_server`s on the same port with the same
/// options: the same TLS lines; and our EHLO/QUIT went through.
fn finger_vs_posttls_at_s_server(
    peers: &peers::Peers,
    certs: &Path,
    name: &str,
    s_server: &[&str],
    want: &str,
) {
    let tmp = TempDir::new("s_server");
    let theirs_srv = OpensslSmtps::start(peers, tmp.path(), certs, s_server);
    let port = theirs_srv.port;
    let label = format!("127.0.0.1[127.0.0.1]:{port}");
    let theirs = peers::posttls_finger_lines(peers, port, &["-c", "-w", "-l", "may"]);
    theirs_srv.wait_done();
    drop(theirs_srv);
    let ours_srv = OpensslSmtps::start_on(peers, port, tmp.path(), certs, s_server);
    let (ok, ours) = peers::mtatls_finger(&[s("-w"), format!("127.0.0.1:{port}")]);
    let log = ours_srv.wait_done();
    assert!(
        ok,
        "{name}: mtatls-finger -w failed:\n{}\ns_server:\n{log}",
        indent(&ours)
    );
    assert_same_lines(
        &format!("{name}: TLS lines"),
        &peers::client_tls_lines(&ours, &label),
        &peers::client_tls_lines(&theirs, &label),
    );
    assert_line(
        &format!("{name}: our summary"),
        &peers::summary(&ours).unwrap_or_default(),
        &want.replace("LABEL", &label),
    );
    assert!(
        log.contains("EHLO ") && log.contains("QUIT"),
        "{name}: s_server did not see our EHLO and QUIT through TLS:\n{log}"
    );
}

#[test]
fn finger_to_openssl_wrapper() {
    let Some(peers) = peers::available_with(&["openssl"]) else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    finger_vs_posttls_at_s_server(
        &peers,
        certs,
        "s_server, RSA, TLS 1.3",
        &[],
        &format!(
            "Untrusted TLS connection established to LABEL: {} {SIG_RSA}",
            t13(&peers)
        ),
    );
    finger_vs_posttls_at_s_server(
        &peers,
        certs,
        "s_server, ECDSA, TLS 1.2",
        &[
            "-tls1_2",
            "-cert",
            "DIR/tls/server-ecdsa.crt",
            "-key",
            "DIR/tls/server-ecdsa.key",
        ],
        "Untrusted TLS connection established to LABEL: TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)",
    );
}

/// Forward secrecy, FFDHE only on our side (`tls_eecdh_auto_curves =`
/// empty, `tls_ffdhe_auto_groups` default): OpenSSL's s_server accepts
/// ffdhe2048 in TLS 1.3, `key-exchange DHE (2048 bits)` (3.10+:
/// `ffdhe2048`), from Postfix 3.8 on; Postfix 3.7 has no FFDHE groups and
/// refuses the empty value before 3.7.13 (mtatls-finger with that release
/// likewise; see interop_postfix.rs for the comparison with posttls-finger).
#[test]
fn finger_ffdhe_only_to_openssl_wrapper() {
    let Some(peers) = peers::available_with(&["openssl"]) else {
        return;
    };
    let forms = peers.forms();
    let certs = peers::peer_certs(&peers);
    let tmp = TempDir::new("s_server-ffdhe");
    let srv = OpensslSmtps::start(&peers, tmp.path(), certs, &[]);
    let (ok, ours) = peers::mtatls_finger(&[
        s("-w"),
        s("-o"),
        s("tls_eecdh_auto_curves="),
        format!("127.0.0.1:{}", srv.port),
    ]);
    if !forms.empty_eecdh_allowed() {
        assert!(
            !ok && ours == ["bad string length 0 < 1: tls_eecdh_auto_curves = "],
            "mtatls-finger with Postfix {}'s rules took an empty tls_eecdh_auto_curves:\n{}",
            peers.release().version(),
            indent(&ours)
        );
        // Let the one-shot server go.
        let _ = peers::mtatls_finger(&[s("-w"), format!("127.0.0.1:{}", srv.port)]);
        srv.wait_done();
        return;
    }
    let log = srv.wait_done();
    assert!(
        ok,
        "mtatls-finger -w with FFDHE only failed:\n{}\ns_server:\n{log}",
        indent(&ours)
    );
    // 3.7.13 and later 3.7: no FFDHE list, OpenSSL's default groups.
    let group = if forms.ffdhe_groups() {
        "ffdhe2048"
    } else {
        "x25519"
    };
    assert_line(
        "our summary with FFDHE only",
        &peers::summary(&ours).unwrap_or_default(),
        &format!(
            "Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:{}: \
             TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) \
             key-exchange {} {SIG_RSA}",
            srv.port,
            forms.kex(group)
        ),
    );
}

/// A server that sends two TLS 1.3 session tickets (`openssl s_server`):
/// up to Postfix 3.10 the client logs (and stores) "save session" for
/// each, from 3.11 on for the first only. posttls-finger (`-r 1`: with a
/// session cache) and mtatls-finger (`-Z`: with one) log alike.
#[test]
fn sessions_saved_per_ticket_like_posttls_finger() {
    let Some(peers) = peers::available_with(&["openssl"]) else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    let tmp = TempDir::new("s_server-tickets");
    let theirs_srv = OpensslSmtps::start(&peers, tmp.path(), certs, &[]);
    let port = theirs_srv.port;
    let theirs = peers::posttls_finger_lines(
        &peers,
        port,
        &[
            "-c",
            "-w",
            "-l",
            "may",
            "-L",
            "summary,cache",
            "-r",
            "1",
            "-m",
            "1",
        ],
    );
    theirs_srv.wait_done();
    drop(theirs_srv);
    let ours_srv = OpensslSmtps::start_on(&peers, port, tmp.path(), certs, &[]);
    let cache = peers::p(&tmp.path().join("sessions"));
    let (ok, ours) = peers::mtatls_finger(&[
        s("-w"),
        s("-L"),
        s("summary,cache"),
        s("-Z"),
        cache,
        format!("127.0.0.1:{port}"),
    ]);
    ours_srv.wait_done();
    assert!(ok, "mtatls-finger -w failed:\n{}", indent(&ours));
    let saves = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.starts_with("save session "))
            .count()
    };
    let want = if peers.forms().saves_first_ticket_only() {
        1
    } else {
        2
    };
    assert!(
        saves(&theirs) == want && saves(&ours) == want,
        "\"save session\" lines: {want} expected\n  ours:\n{}\n  theirs:\n{}",
        indent(&ours),
        indent(&theirs)
    );
}

/// `openssl s_client -starttls smtp -tls1_2 -cipher DHE-RSA-...`: the DH
/// group size the server uses ("Server Temp Key: DH, N bits").
fn dh_bits(port: u16) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384", "-brief"]);
    let (_, out) = peers::run_scripted(&mut cmd, &[("QUIT\n", 500)], Duration::from_secs(30));
    out.iter()
        .find_map(|l| l.strip_prefix("Server Temp Key: ").map(str::to_string))
        .unwrap_or_else(|| panic!("s_client showed no server temp key:\n{}", indent(&out)))
}

/// A DH parameter file (RFC 7919 ffdhe3072) in `dir`.
fn dh3072(dir: &Path) -> String {
    let file = dir.join("dh3072.pem");
    let out = common::run_bounded(
        Command::new("openssl")
            .args(["genpkey", "-genparam", "-algorithm", "DH"])
            .args(["-pkeyopt", "dh_param:ffdhe3072", "-out"])
            .arg(&file),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "openssl genpkey -genparam failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    peers::p(&file)
}

/// Forward secrecy, TLS 1.2 DHE-RSA with a DH parameter file on our smtpd:
/// posttls-finger and mtatls-finger excluding aNULL and kECDHE get
/// DHE-RSA-AES256-GCM-SHA384, and the server uses the file's 3072-bit
/// group (automatic selection: 2048 bits for an RSA-2048 key).
#[test]
fn dhe_tls12_smtpd_dh_file() {
    let Some(peers) = peers::available_with(&["openssl"]) else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    let tmp = TempDir::new("dh");
    let dh = dh3072(tmp.path());
    let with_file = our_smtpd(certs, &[&format!("smtpd_tls_dh1024_param_file={dh}")]);
    let auto = our_smtpd(certs, &[]);
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
        compare_fingers(&peers, with_file.port, &with_file, case);
    }
    assert_line(
        "DH group with smtpd_tls_dh1024_param_file (ffdhe3072)",
        &dh_bits(with_file.port),
        "DH, 3072 bits",
    );
    assert_line(
        "DH group without a DH parameter file",
        &dh_bits(auto.port),
        "DH, 2048 bits",
    );
}

/// Forward secrecy, `tls_preempt_cipherlist`: TLS 1.2 only, the server's
/// medium list puts CHACHA20 first; clients (OpenSSL's default order)
/// prefer AES256-GCM. Without preemption the client's choice wins, with
/// it the server's: for posttls-finger and mtatls-finger alike, on our
/// smtpd as on the real smtpd with the same parameters.
#[test]
fn preempt_cipherlist() {
    let Some(peers) = peers::available() else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    let chain = format!("smtpd_tls_chain_files={}", path(certs, "server-rsa.pem"));
    let protocols = format!("smtpd_tls_protocols={TLS12}");
    let mandatory = format!("smtpd_tls_mandatory_protocols={TLS12}");
    let list = "tls_medium_cipherlist=ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:aNULL:-aNULL";
    let base = [chain.as_str(), &protocols, &mandatory, list];
    let with = |preempt: &str| -> Vec<String> {
        let mut v: Vec<String> = base.iter().map(|p| p.to_string()).collect();
        v.push(format!("tls_preempt_cipherlist={preempt}"));
        v
    };
    let aes = "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)";
    let chacha = "TLSv1.2 with cipher ECDHE-RSA-CHACHA20-POLY1305 (256/256 bits)";

    let options = |params: &[String]| -> Vec<String> {
        params
            .iter()
            .flat_map(|p| [s("-o"), p.clone()])
            .chain([s("-o"), s("smtpd_tls_received_header=yes")])
            .collect()
    };
    let no = MtatlsSmtpd::start(&options(&with("no")));
    compare_fingers(
        &peers,
        no.port,
        &no,
        &Case::new("mtatls-smtpd, tls_preempt_cipherlist = no", "may").both("Untrusted", aes),
    );
    let yes = MtatlsSmtpd::start(&options(&with("yes")));
    compare_fingers(
        &peers,
        yes.port,
        &yes,
        &Case::new("mtatls-smtpd, tls_preempt_cipherlist = yes", "may").both("Untrusted", chacha),
    );

    // The real smtpd with the same parameters chooses the same.
    let real_params = with("yes");
    let real_params: Vec<&str> = real_params.iter().map(String::as_str).collect();
    let real = PostfixSmtpd::start(&peers, &real_params);
    let case =
        Case::new("real smtpd, tls_preempt_cipherlist = yes", "may").both("Untrusted", chacha);
    compare_fingers(&peers, real.port, &real, &case);
    assert_same(
        "server choice with tls_preempt_cipherlist = yes",
        &yes.tls_lines()[0],
        &real.tls_lines()[0],
    );
}

/// posttls-finger with `-r 1` (reconnect once, offering the cached TLS
/// session) against the real smtpd and against ours, with the same keys:
/// (posttls-finger's lines, server TLS lines) for each, real first.
struct Resumption {
    real_client: Vec<String>,
    real_server: Vec<String>,
    real_port: u16,
    our_client: Vec<String>,
    our_server: Vec<String>,
    our_port: u16,
}

fn resumption(peers: &peers::Peers) -> Resumption {
    let certs = peers::peer_certs(peers);
    let real = PostfixSmtpd::start_with_certs(peers, Some(certs), &[]);
    let ours = our_smtpd(certs, &[]);
    let args = ["-c", "-l", "may", "-r", "1", "-L", "summary,cache"];
    let real_client = peers::posttls_finger_lines(peers, real.port, &args);
    let our_client = peers::posttls_finger_lines(peers, ours.port, &args);
    Resumption {
        real_server: real.wait_tls_lines(2),
        our_server: ours.wait_tls_lines(2),
        real_client,
        our_client,
        real_port: real.port,
        our_port: ours.port,
    }
}

/// Resumption with a TLS 1.3 ticket from our smtpd works for Postfix's
/// client as with the real smtpd, and both servers log the same lines:
/// for the resumed session the key exchange only from 3.7.13, 3.8.8,
/// 3.9.2, 3.10.0 on, before also the server's key, without a digest.
#[test]
fn resumption_vs_postfix() {
    let Some(peers) = peers::available() else {
        return;
    };
    let r = resumption(&peers);
    for (who, lines) in [
        ("real smtpd", &r.real_client),
        ("mtatls-smtpd", &r.our_client),
    ] {
        assert!(
            lines.iter().any(|l| l.ends_with(": Reusing old session")),
            "posttls-finger -r 1 did not resume its session with {who}:\n{}",
            indent(lines)
        );
    }
    let summaries = |lines: &[String], port: u16| -> Vec<String> {
        lines
            .iter()
            .filter(|l| peers::is_summary(l))
            .map(|l| l.replace(&format!(":{port}: "), ":PORT: "))
            .collect()
    };
    assert_same_lines(
        "posttls-finger's summaries, first and resumed session (port aside)",
        &summaries(&r.our_client, r.our_port),
        &summaries(&r.real_client, r.real_port),
    );
    assert_same(
        "server line for the first session",
        &r.our_server[0],
        &r.real_server[0],
    );
    assert_same(
        "server line for the resumed session",
        &r.our_server[1],
        &r.real_server[1],
    );
    let forms = peers.forms();
    assert_line(
        "server line for the resumed session (expected)",
        &r.our_server[1],
        &format!(
            "Anonymous TLS connection established from localhost[127.0.0.1]: {}{}",
            forms.t13(),
            forms.resumed_sigs("server-signature ECDSA (prime256v1)")
        ),
    );
}

/// Postfix's smtpd issues ONE TLS 1.3 session ticket per full handshake
/// (OpenSSL's default is two), so posttls-finger logs "save session ...
/// to memory cache" once; it must log it as often against mtatls-smtpd.
#[test]
fn resumption_one_ticket_like_postfix() {
    let Some(peers) = peers::available() else {
        return;
    };
    let r = resumption(&peers);
    let saves = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with("save session "))
            .cloned()
            .collect()
    };
    let (ours, theirs) = (saves(&r.our_client), saves(&r.real_client));
    assert!(
        ours.len() == theirs.len(),
        "session tickets per handshake differ: posttls-finger saved {} against mtatls-smtpd, \
         {} against the real smtpd\n  ours:\n{}\n  theirs:\n{}",
        ours.len(),
        theirs.len(),
        indent(&ours),
        indent(&theirs)
    );
}

/// `smtpd_tls_security_level = encrypt`, `smtpd_tls_req_ccert = yes`, no
/// CAfile: a client with an untrusted certificate, and one without, are
/// aborted as the real smtpd aborts them (same lines, same 421 reason).
#[test]
fn required_client_certificate_vs_postfix() {
    let Some(peers) = peers::available() else {
        return;
    };
    let certs = peers::peer_certs(&peers);
    let params = [
        "smtpd_tls_security_level=encrypt",
        "smtpd_tls_req_ccert=yes",
    ];
    let real = PostfixSmtpd::start_with_certs(
        &peers,
        Some(certs),
        &[params[0], params[1], "smtpd_tls_CAfile="],
    );
    let ours = our_smtpd(certs, &params);
    let chain = path(certs, "client-rsa.pem");
    let probes: [(&str, Vec<&str>); 2] = [
        (
            "untrusted client certificate",
            vec!["-l", "may", "-H", &chain],
        ),
        ("no client certificate", vec!["-l", "may"]),
    ];
    let reason = |lines: &[String]| -> String {
        lines
            .iter()
            .find_map(|l| l.strip_prefix("EHLO rejected: 421 4.7.1 "))
            .and_then(|l| l.split_once(" Error: "))
            .map(|(_, why)| why.to_string())
            .unwrap_or_else(|| format!("(no 421 reply in {lines:?})"))
    };
    for (name, args) in &probes {
        let theirs = peers::posttls_finger_lines(&peers, real.port, args);
        let mine = peers::posttls_finger_lines(&peers, ours.port, args);
        assert_same(
            &format!("{name}: 421 reason after the TLS handshake"),
            &reason(&mine),
            &reason(&theirs),
        );
    }
    let want = probes.len();
    let real_sessions = peers::wait_for(peers::WAIT, || {
        Some(peers::sessions(&real.smtpd_lines())).filter(|s| s.len() >= want)
    })
    .unwrap_or_else(|| panic!("real smtpd sessions incomplete:\n{}", real.log()));
    let our_sessions = peers::wait_for(peers::WAIT, || {
        Some(peers::sessions(&ours.stderr())).filter(|s| s.len() >= want)
    })
    .unwrap_or_else(|| {
        panic!(
            "mtatls-smtpd sessions incomplete:\n{}",
            indent(&ours.stderr())
        )
    });
    for (i, (name, _)) in probes.iter().enumerate() {
        assert_same_lines(
            &format!("{name}: server lines of the session"),
            &our_sessions[i],
            &real_sessions[i],
        );
    }
}
