//! Issue 17, fix 5: a malformed `smtpd_tls_dh1024_param_file` gets the
//! two warning lines real Postfix 3.7 logs: "error decoding DH parameters
//! from file ..." and OpenSSL's DECODER reason (Postfix reads the file
//! with an OSSL_DECODER for PEM DH parameters on OpenSSL 3), and the
//! context then uses OpenSSL's automatic DH parameters, as Postfix does;
//! a good file gives no warning.
//!
//! Each file is given to a real Postfix smtpd (one instance per file,
//! started and stopped here); the warnings it logs when it starts are
//! compared with those of an mtatls server context built with the file.
//! Skipped without the peers; required under MTATLS_REQUIRE_PEERS=1.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peers::{self, indent, PostfixSmtpd};
use mtatls::{Context, Hooks, Logger, Params, Severity};

/// The files: (name, contents, whether Postfix 3.7 accepts it).
fn dh_files(certs: &Path) -> Vec<(&'static str, Vec<u8>, bool)> {
    let cert = std::fs::read(certs.join("server-rsa.crt")).expect("server-rsa.crt");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}");
        out.stdout
    };
    vec![
        ("garbage.pem", b"this is not a PEM file\n".to_vec(), false),
        // A PEM file, but a certificate rather than DH parameters.
        ("certificate.pem", cert, false),
        // DH PARAMETERS whose body is not DER.
        (
            "broken-dh.pem",
            b"-----BEGIN DH PARAMETERS-----\nMIIBCAKCAQEAbm90IGRoIHBhcmFtcw==\n-----END DH PARAMETERS-----\n"
                .to_vec(),
            false,
        ),
        ("empty.pem", Vec::new(), false),
        // X9.42 parameters (`openssl dhparam -dsaparam`): not "DH" to
        // OpenSSL 3's decoder, so Postfix 3.7 refuses them.
        (
            "x942.pem",
            openssl(&["dhparam", "-dsaparam", "1024"]),
            false,
        ),
        // PKCS#3 DH parameters: accepted, no warning.
        (
            "ffdhe2048.pem",
            openssl(&[
                "genpkey",
                "-genparam",
                "-algorithm",
                "DH",
                "-pkeyopt",
                "group:ffdhe2048",
            ]),
            true,
        ),
    ]
}

/// The warning lines of an mtatls smtpd context built with `dh_file`
/// (and the peers' RSA key), "warning: " prefixed as Postfix logs them,
/// and whether it uses the file's parameters.
fn our_warnings(certs: &Path, dh_file: &Path) -> (Vec<String>, bool) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let hooks = Hooks::with_logger(Logger::with_sink(Arc::new(move |sev, line: &str| {
        if sev == Severity::Warning {
            sink.lock().unwrap().push(format!("warning: {line}"));
        }
    })));
    let mut p = Params::new();
    p.set("smtpd_tls_security_level", "may").unwrap();
    p.set(
        "smtpd_tls_chain_files",
        &certs.join("server-rsa.pem").display().to_string(),
    )
    .unwrap();
    p.set(
        "smtpd_tls_dh1024_param_file",
        &dh_file.display().to_string(),
    )
    .unwrap();
    let ctx = Context::with_hooks(&p, "smtpd", &hooks).expect("the context is still built");
    // A file that cannot be read leaves the automatic DH parameters in
    // use, as in Postfix.
    let report = mtatls::FsReport::of(&ctx);
    let accepted = report
        .dh
        .as_ref()
        .is_some_and(|(s, _)| !s.starts_with("auto"));
    let out = lines.lock().unwrap().clone();
    (out, accepted)
}

/// Connect to the real smtpd (which builds its TLS context when it
/// starts), read the greeting and quit.
fn poke(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to smtpd");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    let _ = r.read_line(&mut line);
    let _ = s.write_all(b"QUIT\r\n");
    let _ = r.read_line(&mut line);
}

#[test]
fn malformed_dh_file_warnings_match_real_postfix() {
    let Some(peers) = peers::available() else {
        return;
    };
    let base = peers::peer_certs(&peers);
    // The peers' certificates plus the malformed files, for the instances'
    // DIR/tls (readable by Postfix's daemons).
    let certs = common::scratch_dir("dh-param-file").join("tls");
    common::postfix::copy_files(base, &certs);
    let files = dh_files(&certs);
    for (name, data, _) in &files {
        std::fs::write(certs.join(name), data).expect("write DH file");
    }
    for (name, _, accepted) in &files {
        let smtpd = PostfixSmtpd::start_with_certs(
            &peers,
            Some(&certs),
            &[&format!("smtpd_tls_dh1024_param_file=DIR/tls/{name}")],
        );
        poke(smtpd.port);
        // smtpd reads the file when it starts, before "connect from".
        let connect = "connect from";
        smtpd
            .wait_log_line(connect, Duration::from_secs(30))
            .unwrap_or_else(|| {
                panic!(
                    "{name}: real smtpd logged no \"{connect}\":\n{}",
                    smtpd.log()
                )
            });
        let lines = smtpd.smtpd_lines();
        let theirs: Vec<String> = lines
            .iter()
            .take_while(|l| !l.starts_with(connect))
            .filter(|l| l.starts_with("warning: "))
            .map(|l| l.replace(&smtpd.tls(""), "TLSDIR/"))
            .collect();
        let (ours, ours_accepted) = our_warnings(&certs, &certs.join(name));
        let ours: Vec<String> = ours
            .into_iter()
            .map(|l| l.replace(&format!("{}/", certs.display()), "TLSDIR/"))
            .collect();
        // Postfix's two lines for a file it refuses, none for a good one.
        assert_eq!(
            theirs.len(),
            if *accepted { 0 } else { 2 },
            "{name}: Postfix logged:\n{}",
            indent(&lines)
        );
        if !accepted {
            assert!(
                theirs[0].starts_with("warning: error decoding DH parameters from file"),
                "{name}: {theirs:?}"
            );
        }
        assert_eq!(
            ours,
            theirs,
            "{name}:\n  ours:\n{}\n  real Postfix:\n{}",
            indent(&ours),
            indent(&theirs)
        );
        assert_eq!(ours_accepted, *accepted, "{name}: DH parameters used");
    }
}
