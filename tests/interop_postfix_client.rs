//! The REAL Postfix smtp client (of the release under test; our server
//! with `mtatls_postfix_release` set to it) delivering to our mtatls-smtpd, and
//! the same client, with the same parameters, delivering to a REAL Postfix
//! smtpd with the same keys and certificates (issue 4).
//!
//! For each client configuration one message goes to each server (the
//! client's transport_maps sends `@mtatls.peers.test` to mtatls-smtpd,
//! everything else to the relayhost, the real smtpd), and:
//! - both deliveries must be `status=sent`;
//! - the client's "... TLS connection established to 127.0.0.1[127.0.0.1]:PORT:"
//!   line for our server must be the expected one, and the same (port
//!   aside) as for the real smtpd;
//! - our server's summary line must equal the real smtpd's;
//! - our Received: header must have the same first line and the same TLS
//!   comment lines as the real smtpd's (the "by ... with ESMTPS id" and date
//!   lines differ by nature), and the comment must be the expected one.
//!
//! Skipped without the peers; required under CI (MTATLS_REQUIRE_PEERS=1).

mod common;

use common::peers::{
    self, assert_line, assert_lines, assert_same, assert_same_lines, indent, MtatlsSmtpd,
    PostfixClient, PostfixSmtpd,
};

const SMTPD_LABEL: &str = "localhost[127.0.0.1]";
const SIG_EC: &str = "server-signature ECDSA (prime256v1) server-digest SHA256";
const CSIG_RSA: &str = "client-signature RSA-PSS (2048 bits) client-digest SHA256";
const TLS12: &str = ">=TLSv1.2,<=TLSv1.2";
/// The recipient domain the client routes to mtatls-smtpd.
const OUR_DOMAIN: &str = "mtatls.peers.test";

/// The real smtpd and ours, with the same keys and TLS parameters.
struct Servers {
    real: PostfixSmtpd,
    ours: MtatlsSmtpd,
}

/// Start both servers: `params` apply to both (`DIR` = the real smtpd's
/// instance directory, as for PostfixSmtpd); `real_only` / `ours_only`
/// to one of them. Our server gets the real smtpd's certificates.
fn servers(
    peers: &peers::Peers,
    params: &[&str],
    real_only: &[&str],
    ours_only: &[&str],
) -> Servers {
    let real_params: Vec<&str> = params.iter().chain(real_only).copied().collect();
    let real = PostfixSmtpd::start(peers, &real_params);
    let dir = peers::p(&real.dir);
    let mut options: Vec<String> = vec![
        "-o".into(),
        "smtpd_tls_received_header=yes".into(),
        "-o".into(),
        format!("smtpd_tls_chain_files={dir}/tls/server-rsa.pem, {dir}/tls/server-ecdsa.pem"),
        "-o".into(),
        "smtpd_tls_loglevel=1".into(),
    ];
    for p in params.iter().chain(ours_only) {
        options.push("-o".into());
        options.push(p.replace("DIR", &dir));
    }
    let ours = MtatlsSmtpd::start(&options);
    Servers { real, ours }
}

/// One Postfix client configuration and what it must see.
struct ClientCase {
    name: &'static str,
    params: Vec<String>,
    /// The client's summary status and tail (after "127.0.0.1[127.0.0.1]:PORT: ").
    client_status: &'static str,
    client_tail: String,
    /// The servers' summary status and tail (after "localhost[127.0.0.1]: ").
    server_status: &'static str,
    server_tail: String,
    /// The Received: TLS comment lines.
    comment: Vec<String>,
}

/// The Received: comment lines (TAB-led) from a readable form; `KEX`
/// stands for the release's name of the X25519 key exchange.
fn comment(peers: &peers::Peers, lines: &[&str]) -> Vec<String> {
    let kex = peers.forms().kex("x25519");
    lines
        .iter()
        .map(|l| format!("\t{}", l.replace("KEX", &kex)))
        .collect()
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The client's summary line for the connection to 127.0.0.1:`port`.
fn client_summary(log: &[String], port: u16) -> Option<String> {
    let needle = format!("TLS connection established to 127.0.0.1[127.0.0.1]:{port}: ");
    log.iter().find(|l| l.contains(&needle)).cloned()
}

fn check(peers: &peers::Peers, s: &Servers, case: &ClientCase) {
    let name = case.name;
    let mut params = case.params.clone();
    params.push(format!(
        "transport_maps=inline:{{{OUR_DOMAIN}=smtp:[127.0.0.1]:{}}}",
        s.ours.port
    ));
    let client = PostfixClient::start(peers, s.real.port, &s.real.tls_dir(), &params);
    let tag = format!("{}-{}", slug(name), std::process::id());
    let (tag_real, tag_ours) = (format!("{tag}-real"), format!("{tag}-ours"));
    let n_real = s.real.tls_lines().len();
    let n_ours = s.ours.tls_lines().len();
    let k_real = peers::sessions(&s.real.smtpd_lines()).len();
    let k_ours = peers::sessions(&s.ours.stderr()).len();

    let (sent_real, log_real) = client.send("test@peers.test", &tag_real);
    assert!(
        sent_real,
        "{name}: the Postfix client did not deliver to the real smtpd:\n{}\nsmtpd log:\n{}",
        indent(&log_real),
        s.real.log()
    );
    let (sent_ours, log_ours) = client.send(&format!("test@{OUR_DOMAIN}"), &tag_ours);
    assert!(
        sent_ours,
        "{name}: the Postfix client did not deliver to mtatls-smtpd:\n{}\nmtatls-smtpd:\n{}",
        indent(&log_ours),
        indent(&s.ours.stderr())
    );
    let relay = format!("relay=127.0.0.1[127.0.0.1]:{}, ", s.ours.port);
    assert!(
        log_ours
            .iter()
            .any(|l| l.contains(&relay) && l.contains("status=sent")),
        "{name}: no \"{relay}... status=sent\" in the client's log:\n{}",
        indent(&log_ours)
    );

    // The client's view.
    let ours_seen = client_summary(&log_ours, s.ours.port).unwrap_or_else(|| {
        panic!(
            "{name}: the client logged no TLS summary for mtatls-smtpd:\n{}",
            indent(&log_ours)
        )
    });
    let real_seen = client_summary(&log_real, s.real.port).unwrap_or_else(|| {
        panic!(
            "{name}: the client logged no TLS summary for the real smtpd:\n{}",
            indent(&log_real)
        )
    });
    let want = format!(
        "{} TLS connection established to 127.0.0.1[127.0.0.1]:{}: {}",
        case.client_status, s.ours.port, case.client_tail
    );
    assert_same(
        &format!("{name}: the Postfix client's summary (port aside)"),
        &ours_seen.replace(&format!(":{}: ", s.ours.port), ":PORT: "),
        &real_seen.replace(&format!(":{}: ", s.real.port), ":PORT: "),
    );
    assert_line(
        &format!("{name}: the Postfix client's summary for mtatls-smtpd"),
        &ours_seen,
        &want,
    );

    // The servers' summaries.
    let real_line = s.real.wait_tls_lines(n_real + 1)[n_real].clone();
    let our_line = s.ours.wait_tls_lines(n_ours + 1)[n_ours].clone();
    assert_same(
        &format!("{name}: server summary line"),
        &our_line,
        &real_line,
    );
    assert_line(
        &format!("{name}: mtatls-smtpd's summary line"),
        &our_line,
        &format!(
            "{} TLS connection established from {SMTPD_LABEL}: {}",
            case.server_status, case.server_tail
        ),
    );

    // All the TLS lines of the two server sessions.
    let real_session = peers::wait_for(peers::WAIT, || {
        peers::sessions(&s.real.smtpd_lines())
            .into_iter()
            .skip(k_real)
            .find(|x| x.iter().any(|l| l == &real_line))
    });
    let our_session = peers::wait_for(peers::WAIT, || {
        peers::sessions(&s.ours.stderr())
            .into_iter()
            .skip(k_ours)
            .find(|x| x.iter().any(|l| l == &our_line))
    });
    assert_same_lines(
        &format!("{name}: server TLS lines of the session"),
        &peers::tls_session_lines(&our_session.unwrap_or_else(|| {
            panic!(
                "{name}: mtatls-smtpd's session did not end:\n{}",
                indent(&s.ours.stderr())
            )
        })),
        &peers::tls_session_lines(&real_session.unwrap_or_else(|| {
            panic!(
                "{name}: the real smtpd's session did not end:\n{}",
                s.real.log()
            )
        })),
    );

    // The Received: headers.
    let real_rcv = s.real.wait_received(&tag_real);
    let our_rcv = s.ours.wait_received(&tag_ours);
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
    assert_lines(
        &format!("{name}: Received: TLS comment (expected)"),
        &peers::tls_comment(&our_rcv),
        &case.comment,
    );
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn postfix_client_may() {
    let Some(peers) = peers::available() else {
        return;
    };
    let s = servers(&peers, &[], &[], &[]);
    let t13 = format!("{} {SIG_EC}", peers.forms().t13());
    let ecdsa12 = "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)";
    let cases = [
        // smtp_tls_CAfile (the harness's client) holds the servers' certificates.
        ClientCase {
            name: "may",
            params: vec![],
            client_status: "Trusted",
            client_tail: t13.clone(),
            server_status: "Anonymous",
            server_tail: t13.clone(),
            comment: comment(
                &peers,
                &[
                    "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                    " key-exchange KEX server-signature ECDSA (prime256v1) server-digest SHA256)",
                    "(No client certificate requested)",
                ],
            ),
        },
        ClientCase {
            name: "TLS 1.2 forced by the client, aNULL excluded",
            params: strings(&[
                &format!("smtp_tls_protocols={TLS12}"),
                &format!("smtp_tls_mandatory_protocols={TLS12}"),
                "smtp_tls_exclude_ciphers=aNULL",
            ]),
            client_status: "Trusted",
            client_tail: ecdsa12.into(),
            server_status: "Anonymous",
            server_tail: ecdsa12.into(),
            comment: comment(
                &peers,
                &[
                    "(using TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits))",
                    "(No client certificate requested)",
                ],
            ),
        },
    ];
    for case in &cases {
        check(&peers, &s, case);
    }
}

#[test]
fn postfix_client_tls12_server() {
    let Some(peers) = peers::available() else {
        return;
    };
    let protocols = format!("smtpd_tls_protocols={TLS12}");
    let mandatory = format!("smtpd_tls_mandatory_protocols={TLS12}");
    let s = servers(&peers, &[&protocols, &mandatory], &[], &[]);
    let adh = "TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits)";
    let case = ClientCase {
        name: "TLS 1.2 forced by the servers",
        params: vec![],
        client_status: "Anonymous",
        client_tail: adh.into(),
        server_status: "Anonymous",
        server_tail: adh.into(),
        comment: comment(
            &peers,
            &[
                "(using TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits))",
                "(No client certificate requested)",
            ],
        ),
    };
    check(&peers, &s, &case);
}

#[test]
fn postfix_client_certificate_verified() {
    let Some(peers) = peers::available() else {
        return;
    };
    // The real smtpd's smtpd_tls_CAfile is DIR/tls/client-ca.pem already.
    let s = servers(
        &peers,
        &["smtpd_tls_ask_ccert=yes"],
        &[],
        &["smtpd_tls_CAfile=DIR/tls/client-ca.pem"],
    );
    let t13 = format!("{} {SIG_EC}", peers.forms().t13());
    let t13_ccert = format!("{} {SIG_EC} {CSIG_RSA}", peers.forms().t13());
    let cases = [
        ClientCase {
            name: "client certificate, trusted",
            params: strings(&["smtp_tls_chain_files=DIR/tls/client-rsa.pem"]),
            client_status: "Trusted",
            client_tail: t13_ccert.clone(),
            server_status: "Trusted",
            server_tail: t13_ccert.clone(),
            comment: comment(
                &peers,
                &[
                    "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                    " key-exchange KEX server-signature ECDSA (prime256v1) server-digest SHA256",
                    " client-signature RSA-PSS (2048 bits) client-digest SHA256)",
                    "(Client CN \"peers-client.test\", Issuer \"peers-client.test\" (verified OK))",
                ],
            ),
        },
        ClientCase {
            name: "client certificate asked, none presented",
            params: vec![],
            client_status: "Trusted",
            client_tail: t13.clone(),
            server_status: "Anonymous",
            server_tail: t13.clone(),
            comment: comment(
                &peers,
                &[
                    "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                    " key-exchange KEX server-signature ECDSA (prime256v1) server-digest SHA256)",
                    "(Client did not present a certificate)",
                ],
            ),
        },
    ];
    for case in &cases {
        check(&peers, &s, case);
    }
}

#[test]
fn postfix_client_certificate_not_verified() {
    let Some(peers) = peers::available() else {
        return;
    };
    // No CAfile on either server: the client certificate is not trusted.
    let s = servers(
        &peers,
        &["smtpd_tls_ask_ccert=yes"],
        &["smtpd_tls_CAfile="],
        &[],
    );
    let t13_ccert = format!("{} {SIG_EC} {CSIG_RSA}", peers.forms().t13());
    let case = ClientCase {
        name: "client certificate, not trusted",
        params: strings(&["smtp_tls_chain_files=DIR/tls/client-rsa.pem"]),
        client_status: "Trusted",
        client_tail: t13_ccert.clone(),
        server_status: "Untrusted",
        server_tail: t13_ccert.clone(),
        comment: comment(
            &peers,
            &[
                "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                " key-exchange KEX server-signature ECDSA (prime256v1) server-digest SHA256",
                " client-signature RSA-PSS (2048 bits) client-digest SHA256)",
                "(Client CN \"peers-client.test\", Issuer \"peers-client.test\" (not verified))",
            ],
        ),
    };
    check(&peers, &s, &case);
}

/// Issue 5: the real Postfix smtp client, with its session cache
/// (`smtp_tls_session_cache_database`, through tlsmgr) and loglevel 2,
/// sends two messages to mtatls-smtpd: the second delivery resumes the
/// session of the first (a TLS 1.3 ticket from our server), and both
/// sides log it.
#[test]
fn postfix_client_resumes_with_mtatls_smtpd() {
    let Some(peers) = peers::available() else {
        return;
    };
    let ours = MtatlsSmtpd::start(&["-o".to_string(), "smtpd_tls_loglevel=2".to_string()]);
    let certs = peers::peer_certs(&peers);
    let client = PostfixClient::start(
        &peers,
        ours.port,
        certs,
        &[
            "smtp_tls_loglevel=2".to_string(),
            "smtp_tls_session_cache_database=btree:${data_directory}/smtp_scache".to_string(),
        ],
    );
    let label = format!("127.0.0.1[127.0.0.1]:{}", ours.port);
    let has = |lines: &[String], needle: &str| lines.iter().any(|l| l.contains(needle));
    let tag = format!("resume-{}", std::process::id());

    let (sent, first) = client.send(&format!("test@{OUR_DOMAIN}"), &format!("{tag}-1"));
    assert!(sent, "first message not delivered:\n{}", indent(&first));
    assert!(
        has(&first, "save session ") && !has(&first, "Reusing old session"),
        "first delivery: no session saved, or one reused:\n{}",
        indent(&first)
    );
    let (sent, second) = client.send(&format!("test@{OUR_DOMAIN}"), &format!("{tag}-2"));
    assert!(sent, "second message not delivered:\n{}", indent(&second));
    for want in [
        "reloaded session ",
        &format!("{label}: Reusing old session"),
    ] {
        assert!(
            has(&second, want),
            "second delivery: \"{want}\" missing from the Postfix client's log:\n{}",
            indent(&second)
        );
    }
    let server = ours.stderr();
    let reused: Vec<&String> = server
        .iter()
        .filter(|l| {
            l.ends_with("localhost[127.0.0.1]: Reusing old session (RFC 5077 session ticket)")
        })
        .collect();
    assert!(
        reused.len() == 1,
        "mtatls-smtpd should log one resumed session:\n{}",
        indent(&server)
    );
    // The resumed session's summaries, as the release writes them: the
    // key exchange only from 3.7.13, 3.8.8, 3.9.2, 3.10.0 on; before also
    // the signature keys known without a handshake signature (ours, a
    // self-signed RSA key: the server's; the client has none).
    let forms = peers.forms();
    let tail = format!(
        "{}{}",
        forms.t13(),
        forms.resumed_sigs("server-signature RSA-PSS (2048 bits)")
    );
    let summaries: Vec<&String> = second
        .iter()
        .filter(|l| l.contains(&format!("TLS connection established to {label}: ")))
        .collect();
    assert!(
        summaries.len() == 1
            && summaries[0].ends_with(&format!(" TLS connection established to {label}: {tail}")),
        "second delivery's summary (expected \"... {tail}\"):\n{}",
        indent(&second)
    );
    let ours = ours.tls_lines();
    assert_line(
        "mtatls-smtpd's summary for the resumed session",
        ours.last().expect("a summary"),
        &format!("Anonymous TLS connection established from {SMTPD_LABEL}: {tail}"),
    );
}
