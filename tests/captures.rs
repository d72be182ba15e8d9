//! What REAL Postfix logs and writes for a few standard TLS cases, per
//! release, in tests/captures/<mail_version>/ (one file per case), made
//! with the tests' own harness (tests/common/postfix.rs):
//! - posttls-finger at a real smtpd (RSA + ECDSA): TLS 1.3, TLS 1.2 forced
//!   by the client, P-256 and FFDHE key exchange, a resumed TLS 1.3 session
//!   (`-r 1`), the peer certificate line, a name mismatch at level secure
//!   then resumed, key-exchange group lists the release warns about:
//!   posttls-finger's summary, certificate, cache and warning lines, the
//!   smtpd's TLS lines;
//! - posttls-finger at `openssl s_server` (two TLS 1.3 tickets): the
//!   sessions it saves;
//! - the real smtp client delivering to the real smtpd (TLS 1.3, TLS 1.2
//!   forced by the client, a client certificate, a second delivery that
//!   resumes the session of the first): the client's and the smtpd's TLS
//!   lines, and the Received: header's first line and TLS comment;
//! - loglevel 3 at both ends (packet dumps; recorded, not compared: the
//!   bytes differ on every run; tests/packet_dump.rs reads it).
//!
//! Ports, queue ids, fingerprints and cache digests are replaced by PORT,
//! QID, FP and HEX; the instance directory by DIR.
//!
//! The release is the one the interop tests use (Debian's package, or
//! MTATLS_PF_ROOT). With MTATLS_RECORD_CAPTURES=1 the files are (re)written;
//! otherwise, when tests/captures/<mail_version>/ exists, what the release
//! does now must equal what was recorded (lines starting with `#` aside).
//! Record each release with e.g.
//!   MTATLS_RECORD_CAPTURES=1 MTATLS_PF_ROOT=PREFIX cargo test --test captures
//! (PREFIX: where a Postfix release was built from source).
//! Skipped without the peers; required under CI (MTATLS_REQUIRE_PEERS=1).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::peers::{self, Peers, PostfixClient, PostfixSmtpd, WAIT};

/// One case's capture.
struct Capture {
    name: &'static str,
    /// What was run (for the file's `#` header).
    about: Vec<String>,
    /// Sections: title, lines.
    sections: Vec<(&'static str, Vec<String>)>,
    /// Compared with the recorded file (false: recorded only).
    compare: bool,
}

impl Capture {
    fn text(&self, peers: &Peers) -> String {
        let mut s = format!(
            "# {}: Postfix {} ({})\n# OpenSSL: {}\n",
            self.name,
            peers.release().version(),
            peers.release().origin(),
            openssl_version()
        );
        for a in &self.about {
            s.push_str(&format!("# {a}\n"));
        }
        for (title, lines) in &self.sections {
            s.push_str(&format!("== {title} ==\n"));
            for l in lines {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

fn openssl_version() -> String {
    let out = common::run_bounded(
        std::process::Command::new("openssl").arg("version"),
        Duration::from_secs(30),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Ports to PORT.
fn ports_out(line: &str, ports: &[u16]) -> String {
    let mut s = line.to_string();
    for p in ports {
        s = s.replace(&format!(":{p}"), ":PORT");
    }
    s
}

/// Colon-hex fingerprints (`AB:CD:...`) to FP, the hex digest after `&`
/// in cache keys to HEX.
fn hex_out(word: &str) -> String {
    let core = word.trim_end_matches([',', ')']);
    let tail = &word[core.len()..];
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let prefix_end = core.find('=').map_or(0, |i| i + 1);
    let pairs: Vec<&str> = core[prefix_end..].split(':').collect();
    if pairs.len() >= 16 && pairs.iter().all(|p| p.len() == 2 && hex(p)) {
        return format!("{}FP{tail}", &core[..prefix_end]);
    }
    if let Some(i) = core.rfind('&') {
        if core.len() - i > 32 && hex(&core[i + 1..]) {
            return format!("{}&HEX{tail}", &core[..i]);
        }
    }
    word.to_string()
}

/// Ports to PORT, queue ids to QID, fingerprints to FP, digests to HEX.
fn normalize(line: &str, ports: &[u16]) -> String {
    ports_out(line, ports)
        .split(' ')
        .map(hex_out)
        .collect::<Vec<_>>()
        .join(" ")
        .split(' ')
        .map(|w| {
            let core = w.trim_end_matches([':', ',', ')', ';']);
            let qid = (8..=12).contains(&core.len())
                && core
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
                && core.bytes().any(|b| b.is_ascii_alphabetic());
            if qid {
                format!("QID{}", &w[core.len()..])
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// posttls-finger's lines that matter for the library: summaries,
/// resumption, peer certificates, saved sessions, errors and warnings.
fn finger_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            peers::is_summary(l)
                || l.ends_with(": Reusing old session")
                || l.contains(": re-using session with ")
                || l.contains(": subject_CN=")
                || l.starts_with("save session ")
                || l.contains("SSL_connect error")
                || l.contains("verification failed")
                || l.starts_with("warning: ")
                || l.starts_with("fatal: ")
        })
        .cloned()
        .collect()
}

/// The smtpd lines after line `from`, once `connections` sessions have
/// ended (bounded): their TLS lines.
fn server_lines(smtpd: &PostfixSmtpd, from: usize, connections: usize) -> Vec<String> {
    let done = |l: &[String]| {
        let n = |p: &str| l.iter().filter(|x| x.starts_with(p)).count();
        n("disconnect from ") >= connections && n("connect from ") == n("disconnect from ")
    };
    let lines = peers::wait_for(WAIT, || {
        Some(smtpd.smtpd_lines().split_off(from)).filter(|l| done(l))
    })
    .unwrap_or_else(|| smtpd.smtpd_lines().split_off(from));
    peers::tls_session_lines(&lines)
}

/// posttls-finger ARGS at `smtpd`.
fn finger_case(
    peers: &Peers,
    smtpd: &PostfixSmtpd,
    name: &'static str,
    args: &[&str],
    connections: usize,
) -> Capture {
    let from = smtpd.smtpd_lines().len();
    let out = peers::posttls_finger_lines(peers, smtpd.port, args);
    // No connection when posttls-finger refuses its configuration.
    let connections = if out.iter().any(|l| l.starts_with("fatal: ")) {
        0
    } else {
        connections
    };
    let server = server_lines(smtpd, from, connections);
    let ports = [smtpd.port];
    let norm = |v: Vec<String>| v.iter().map(|l| normalize(l, &ports)).collect();
    let dir = smtpd.dir.display().to_string();
    Capture {
        name,
        about: vec![format!(
            "posttls-finger {}",
            args.join(" ").replace(&dir, "DIR")
        )],
        sections: vec![
            ("posttls-finger", norm(finger_lines(&out))),
            ("smtpd", norm(server)),
        ],
        compare: true,
    }
}

/// One delivery from `client` to `smtpd`.
fn delivery_case(
    smtpd: &PostfixSmtpd,
    client: &PostfixClient,
    name: &'static str,
    about: &str,
) -> Capture {
    let from = smtpd.smtpd_lines().len();
    let tag = format!("capture-{name}-{}", std::process::id());
    let (sent, log) = client.send("test@peers.test", &tag);
    assert!(
        sent,
        "{name}: not delivered:\n{}\nsmtpd:\n{}",
        peers::indent(&log),
        smtpd.log()
    );
    let server = server_lines(smtpd, from, 1);
    let received = smtpd.wait_received(&tag);
    let ports = [smtpd.port];
    let norm = |v: Vec<String>| v.iter().map(|l| normalize(l, &ports)).collect();
    // The smtp client's own lines (send() leaves other programs' lines
    // whole), without the delivery status line (delays, queue ids).
    let client_lines: Vec<String> = log
        .iter()
        .filter(|l| !l.contains(" postfix/") && !l.contains("status="))
        .filter(|l| l.contains("TLS") || l.contains("certificate"))
        .cloned()
        .collect();
    let mut rcv = vec![received[0].clone()];
    rcv.extend(peers::tls_comment(&received));
    Capture {
        name,
        about: vec![about.to_string()],
        sections: vec![
            ("smtp", norm(client_lines)),
            ("smtpd", norm(server)),
            ("Received", norm(rcv)),
        ],
        compare: true,
    }
}

/// Loglevel 3 at both ends, as posttls-finger and smtpd print it
/// (`posttls-finger: TEXT`, `postfix/smtpd[PID]: TEXT`).
fn loglevel_3_case(peers: &Peers) -> Capture {
    let smtpd = PostfixSmtpd::start(peers, &["smtpd_tls_loglevel=3"]);
    let from = smtpd.log().lines().count();
    let args = ["-c", "-l", "may", "-L", "3"];
    let out = peers::posttls_finger(peers, smtpd.port, &args);
    let _ = server_lines(&smtpd, 0, 1);
    let server: Vec<String> = smtpd
        .log()
        .lines()
        .skip(from)
        .filter_map(|l| l.find(" postfix/smtpd[").map(|i| l[i + 1..].to_string()))
        .collect();
    let ports = [smtpd.port];
    Capture {
        name: "L3-tls13",
        about: vec![
            "smtpd_tls_loglevel = 3".to_string(),
            format!("posttls-finger {}", args.join(" ")),
        ],
        sections: vec![
            (
                "posttls-finger",
                out.iter().map(|l| ports_out(l, &ports)).collect(),
            ),
            (
                "smtpd",
                server.iter().map(|l| ports_out(l, &ports)).collect(),
            ),
        ],
        compare: false,
    }
}

fn captures(peers: &Peers) -> Vec<Capture> {
    let mut out = vec![];
    let smtpd = PostfixSmtpd::start(peers, &[]);
    for (name, args, n) in [
        ("finger-tls13", &["-c", "-l", "may", "-L", "summary"][..], 1),
        (
            "finger-tls12",
            &["-c", "-l", "may", "-L", "summary", "-p", "<=TLSv1.2"][..],
            1,
        ),
        (
            "finger-p256",
            &[
                "-c",
                "-l",
                "may",
                "-L",
                "summary",
                "-o",
                "tls_eecdh_auto_curves=prime256v1",
            ][..],
            1,
        ),
        (
            "finger-ffdhe",
            &[
                "-c",
                "-l",
                "may",
                "-L",
                "summary",
                "-o",
                "tls_eecdh_auto_curves=",
            ][..],
            1,
        ),
        (
            "finger-resumed",
            &["-c", "-l", "may", "-L", "summary,cache", "-r", "1"][..],
            2,
        ),
        (
            "finger-peercert",
            &["-c", "-l", "may", "-L", "summary,peercert"][..],
            1,
        ),
    ] {
        out.push(finger_case(peers, &smtpd, name, args, n));
    }
    // A PKI-valid certificate, the wrong name, then the session resumed.
    let cas = smtpd.tls("server-cas.pem");
    out.push(finger_case(
        peers,
        &smtpd,
        "finger-mismatch-resumed",
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
        2,
    ));
    // Key-exchange group lists the releases treat differently (posttls-
    // finger warns when it sets up its client context).
    for (name, eecdh, ffdhe) in [
        (
            "finger-groups-unknown",
            "bogus X25519 secp256r1 P-384 x448",
            None,
        ),
        ("finger-groups-none-usable", "bogus1 bogus2", Some("bogus3")),
        ("finger-groups-duplicate", "X25519 X25519 prime256v1", None),
        ("finger-groups-empty", "", Some("")),
        (
            "finger-groups-provider",
            "X25519MLKEM768 x25519 X25519",
            None,
        ),
        ("finger-groups-colon", "secp256r1:x25519", None),
    ] {
        let eecdh = format!("tls_eecdh_auto_curves={eecdh}");
        let ffdhe = ffdhe.map(|f| format!("tls_ffdhe_auto_groups={f}"));
        let mut args = vec!["-c", "-l", "may", "-L", "summary", "-o", &eecdh];
        if let Some(f) = &ffdhe {
            args.extend(["-o", f.as_str()]);
        }
        out.push(finger_case(peers, &smtpd, name, &args, 1));
    }

    let certs = smtpd.tls_dir();
    let tls12 = ">=TLSv1.2,<=TLSv1.2";
    for (name, params) in [
        ("client-tls13", vec![]),
        (
            "client-tls12",
            vec![
                format!("smtp_tls_protocols={tls12}"),
                format!("smtp_tls_mandatory_protocols={tls12}"),
                "smtp_tls_exclude_ciphers=aNULL".to_string(),
            ],
        ),
    ] {
        let client = PostfixClient::start(peers, smtpd.port, &certs, &params);
        let about = format!("smtp client {params:?}");
        out.push(delivery_case(&smtpd, &client, name, &about));
    }
    // The second delivery resumes the first one's session.
    let params =
        vec!["smtp_tls_session_cache_database=btree:${data_directory}/smtp_scache".to_string()];
    let client = PostfixClient::start(peers, smtpd.port, &certs, &params);
    let about = format!("smtp client {params:?}, second delivery");
    let _ = delivery_case(&smtpd, &client, "client-first", &about);
    out.push(delivery_case(&smtpd, &client, "client-resumed", &about));
    drop(client);
    drop(smtpd);

    let smtpd = PostfixSmtpd::start(peers, &["smtpd_tls_ask_ccert=yes"]);
    let params = vec!["smtp_tls_chain_files=DIR/tls/client-rsa.pem".to_string()];
    let client = PostfixClient::start(peers, smtpd.port, &smtpd.tls_dir(), &params);
    let about = format!("smtpd_tls_ask_ccert = yes; smtp client {params:?}");
    out.push(delivery_case(&smtpd, &client, "client-certificate", &about));
    drop(client);
    drop(smtpd);

    out.push(tickets_case(peers, peers::peer_certs(peers)));
    out.push(loglevel_3_case(peers));
    out
}

/// posttls-finger `-r 1` (a session cache) at a one-shot `openssl
/// s_server`, which sends two TLS 1.3 tickets: the sessions it saves.
fn tickets_case(peers: &Peers, certs: &std::path::Path) -> Capture {
    let tmp = peers::TempDir::new("capture-s_server");
    let srv = peers::OpensslSmtps::start(peers, tmp.path(), certs, &[]);
    let args = [
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
    ];
    let out = peers::posttls_finger_lines(peers, srv.port, &args);
    srv.wait_done();
    let ports = [srv.port];
    Capture {
        name: "finger-s_server-tickets",
        about: vec![
            "openssl s_server (two TLS 1.3 session tickets)".to_string(),
            format!("posttls-finger {}", args.join(" ")),
        ],
        sections: vec![(
            "posttls-finger",
            finger_lines(&out)
                .iter()
                .map(|l| normalize(l, &ports))
                .collect(),
        )],
        compare: true,
    }
}

/// Lines that are compared: all but `#` comments.
fn body(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn captures_of_this_release() {
    let Some(peers) = peers::available() else {
        return;
    };
    let version = peers.release().version().to_string();
    let dir: PathBuf = common::root().join("tests/captures").join(&version);
    let record = common::required("MTATLS_RECORD_CAPTURES");
    if !record && !dir.exists() {
        eprintln!(
            "no captures of Postfix {version} in {} (record them with \
             MTATLS_RECORD_CAPTURES=1)",
            dir.display()
        );
        return;
    }
    let mut differ = vec![];
    for c in captures(&peers) {
        let text = c.text(&peers);
        let file = dir.join(format!("{}.txt", c.name));
        if record {
            std::fs::create_dir_all(&dir).expect("mkdir captures");
            std::fs::write(&file, &text).expect("write capture");
            eprintln!("recorded {}", file.display());
            continue;
        }
        if !c.compare {
            continue;
        }
        let old = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (record it with MTATLS_RECORD_CAPTURES=1)",
                file.display()
            )
        });
        if body(&old) != body(&text) {
            differ.push(format!(
                "{}:\n  recorded:\n{}\n  now:\n{}",
                file.display(),
                peers::indent(&body(&old)),
                peers::indent(&body(&text))
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "Postfix {version} no longer does what tests/captures/{version}/ recorded:\n{}",
        differ.join("\n")
    );
}
