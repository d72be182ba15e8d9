//! The small parsers on arbitrary strings: fingerprints, log masks,
//! protocol lists (and applying them to an OpenSSL context), cipher
//! exclusions and grades (and the cipher list given to OpenSSL), levels,
//! times, numbers, booleans, Received: comment sanitizing; a client
//! session's peer checks set up from a match list (trust::prepare_client:
//! names for verify/secure, fingerprints, TLSA records for dane); and, when
//! the input is a DER certificate, its subject/issuer names and
//! fingerprints as a session reports them (unstable::peer_cn, ...).
//!
//! Input: the whole text, and each of its lines, go through every parser.
//! For the peer checks, the first line is `LEVEL [ta]` (fingerprint, dane,
//! dane-only, verify, secure; `ta`: a context with trust anchors) and the
//! other lines are the match list, or for dane TLSA records
//! `USAGE SELECTOR MTYPE HEX`.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mtatls::unstable::VerifyRecord;
use mtatls::unstable::{check_exclusions, cipher_list, parse_grade, parse_protocols};
use mtatls::{unstable::parse_server_level, Level};
use mtatls::unstable::parse_log_mask;
use mtatls::unstable::{parse_bool, parse_int, parse_time};
use mtatls::Params;
use mtatls::{unstable::{parse_fingerprint, prepare_client, PeerPolicy}, Tlsa};
use mtatls::unstable;
use openssl::hash::MessageDigest;

#[path = "common/mod.rs"]
mod common;

struct Fixed {
    params: Params,
    plain: Arc<mtatls::Context>,
    anchored: Arc<mtatls::Context>,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let files = common::files();
        let mut params = Params::new();
        params.set("smtp_tls_security_level", "may").unwrap();
        let plain = Arc::new(mtatls::Context::with_hooks(&params, "smtp", &mtatls::Hooks::with_logger(common::discard_logger())).expect("client context"));
        let mut p2 = params.clone();
        p2.set("smtp_tls_trust_anchor_file", &files.path("ta.pem"))
            .unwrap();
        let anchored = Arc::new(mtatls::Context::with_hooks(&p2, "smtp", &mtatls::Hooks::with_logger(common::discard_logger())).expect("anchored context"));
        Fixed {
            params,
            plain,
            anchored,
        }
    })
}

/// Fixed bug (fuzz/artifacts-found/fingerprint_and_match-non-ascii-*):
/// parse_fingerprint sliced its input two bytes at a time and panicked
/// when that cut a multi-byte character. Non-ASCII input is fuzzed again.
const SKIP_NON_ASCII_FINGERPRINTS: bool = false;

/// One OpenSSL context builder per thread, reused: making one per call
/// (SSL_CTX_new) would cost more than everything else here.
fn with_builder(f: impl FnOnce(&mut openssl::ssl::SslContextBuilder)) {
    thread_local! {
        static B: std::cell::RefCell<openssl::ssl::SslContextBuilder> = std::cell::RefCell::new(
            openssl::ssl::SslContext::builder(openssl::ssl::SslMethod::tls()).unwrap(),
        );
    }
    B.with(|b| f(&mut b.borrow_mut()));
    mtatls::unstable::drain_openssl_errors();
}

fn parsers(s: &str) {
    let fingerprint = if SKIP_NON_ASCII_FINGERPRINTS && !s.is_ascii() {
        None
    } else {
        parse_fingerprint(s)
    };
    if let Some(fp) = fingerprint {
        assert!(!fp.is_empty() && fp.len() <= 64, "{s:?}");
        // Colon form of the result parses back to the same bytes.
        let colon: Vec<String> = fp.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(
            parse_fingerprint(&colon.join(":")).as_deref(),
            Some(&fp[..])
        );
    }
    let _ = parse_log_mask("smtp_tls_loglevel", s);
    if let Ok(range) = parse_protocols(s) {
        let allowed = range.allowed();
        assert!(
            allowed.windows(2).all(|w| w[0] < w[1]),
            "{s:?}: {allowed:?}"
        );
        with_builder(|b| {
            b.clear_options(openssl::ssl::SslOptions::all());
            let named = unstable::Named {
                param: "smtpd_tls_protocols".to_string(),
                text: s.to_string(),
                value: range.clone(),
            };
            let _ = unstable::apply_protocols(&named, b);
        });
    }
    if check_exclusions(s).is_ok() {
        let p = &fixed().params;
        // The grades differ only in their base list (a parameter): one will do.
        {
            let grade = parse_grade("medium").unwrap();
            // (A NUL byte would panic in the openssl crate: the known bug
            // of fuzz/artifacts-found/param_values-nul-in-cipher-list.)
            if let Ok(list) = cipher_list(p, grade, &[s]).map(|l| l.replace('\0', "")) {
                with_builder(|b| {
                    let _ = b.set_cipher_list(&list);
                });
            }
        }
    }
    let _ = parse_grade(s);
    let _ = Level::parse_client(s);
    let _ = parse_server_level(s);
    let _ = parse_time("smtpd_timeout", s);
    let _ = parse_int("smtpd_tls_ccert_verifydepth", s);
    let _ = parse_bool("tls_preempt_cipherlist", s);
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn peer_checks(text: &str) {
    let mut lines = text.split('\n');
    let head = lines.next().unwrap_or("");
    let mut words = head.split_ascii_whitespace();
    let level = words
        .next()
        .and_then(|w| Level::parse_client(w).ok())
        .filter(|l| l.must_match())
        .unwrap_or(Level::Fingerprint);
    let f = fixed();
    let ctx = if words.next() == Some("ta") {
        &f.anchored
    } else {
        &f.plain
    };
    let rest: Vec<&str> = lines.take(32).collect();
    let mut policy = PeerPolicy {
        level: Some(level),
        host: "MX1.Example.NET".into(),
        nexthop: "example.net".into(),
        matches: Some(
            if SKIP_NON_ASCII_FINGERPRINTS && level == Level::Fingerprint {
                rest.join(" ").replace(|c: char| !c.is_ascii(), "")
            } else {
                rest.join(" ")
            },
        ),
        ..Default::default()
    };
    if matches!(level, Level::Dane | Level::DaneOnly) {
        for line in &rest {
            let w: Vec<&str> = line.split_ascii_whitespace().collect();
            if let [u, s, m, data] = w[..] {
                if let (Ok(usage), Ok(selector), Ok(mtype), Some(data)) =
                    (u.parse(), s.parse(), m.parse(), hex(data))
                {
                    policy.tlsa.push(Tlsa {
                        usage,
                        selector,
                        mtype,
                        data,
                    });
                }
            } else if let Some(base) = line.strip_prefix("base ") {
                policy.tlsa_base = base.to_string();
            }
        }
    }
    let profile_ssl = ctx.profile(level).ssl().expect("profile context");
    let mut ssl = openssl::ssl::Ssl::new(profile_ssl).expect("SSL_new");
    let mut record = VerifyRecord::default();
    let _ = prepare_client(
        &mut ssl,
        ctx,
        &policy,
        level,
        "mx1.example.net[192.0.2.25]:25",
        &mut record,
    );
    mtatls::unstable::drain_openssl_errors();
}

/// Received: header comments: only printable ASCII, no backslash, balanced
/// parentheses.
fn comment(s: &str) {
    let out = mtatls::unstable::sanitize_comment(s);
    let mut depth = 0i64;
    for c in out.chars() {
        assert!(
            c.is_ascii() && !c.is_ascii_control() && c != '\\',
            "{s:?} -> {out:?}"
        );
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        assert!(depth >= 0, "{s:?} -> {out:?}");
    }
    assert_eq!(depth, 0, "{s:?} -> {out:?}");
}

/// A DER certificate: names and fingerprints as a session reports them.
fn certificate(der: &[u8]) {
    let Ok(cert) = openssl::x509::X509::from_der(der) else {
        mtatls::unstable::drain_openssl_errors();
        return;
    };
    let log = common::discard_logger();
    for name in [
        unstable::peer_cn(&cert, "mx1.example.net[192.0.2.25]:25", &log),
        unstable::issuer_cn(&cert, "mx1.example.net[192.0.2.25]:25", &log),
    ] {
        assert!(
            name.len() < 256 && !name.contains(|c: char| c.is_ascii_control()),
            "{name:?}"
        );
        comment(&name);
    }
    for md in [
        MessageDigest::sha256(),
        MessageDigest::md5(),
        MessageDigest::sha1(),
    ] {
        let fp = unstable::cert_fingerprint(&cert, md);
        assert_eq!(
            parse_fingerprint(&fp).map(|v| v.len()),
            Some(md.size()),
            "{fp}"
        );
        for legacy in [false, true] {
            let _ = unstable::pkey_fingerprint(&cert, md, legacy);
        }
    }
    mtatls::unstable::drain_openssl_errors();
}

fuzz_target!(|data: &[u8]| {
    certificate(data);
    let text = String::from_utf8_lossy(data);
    comment(&text);
    parsers(&text);
    for line in text.split('\n').take(16) {
        parsers(line);
    }
    peer_checks(&text);
});
