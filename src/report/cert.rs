//! Peer identity: certificate and public-key fingerprints in Postfix's
//! colon-hex form, subject/issuer names with Postfix's sanitising rules,
//! and the status bits of a finished handshake.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::x509::{X509NameRef, X509Ref};

use crate::config::release::Release;
use crate::logging::Logger;
use crate::report::summary::Facts;
use crate::sys::x509;

/// Names longer than this (bytes, as UTF-8) are refused, as Postfix does.
const CCERT_BUFSIZ: usize = 256;

pub use crate::text::{colon_hex, hex};

/// Digest of the DER certificate.
pub fn cert_fingerprint(cert: &X509Ref, md: MessageDigest) -> String {
    cert.digest(md).map(|d| colon_hex(&d)).unwrap_or_default()
}

/// Digest of the DER SubjectPublicKeyInfo, or (legacy) of the bare key bits.
pub fn pkey_fingerprint(cert: &X509Ref, md: MessageDigest, legacy: bool) -> String {
    if legacy {
        return x509::pubkey_bits_digest(cert, md)
            .map(|d| colon_hex(&d))
            .unwrap_or_default();
    }
    let Some(der) = x509::spki_der(cert) else {
        return String::new();
    };
    openssl::hash::hash(md, &der)
        .map(|d| colon_hex(&d))
        .unwrap_or_default()
}

/// Digest of a raw public key's DER SubjectPublicKeyInfo (as of a
/// certificate's key).
pub fn rpk_fingerprint(
    key: &openssl::pkey::PKeyRef<openssl::pkey::Public>,
    md: MessageDigest,
) -> String {
    key.public_key_to_der()
        .ok()
        .and_then(|der| openssl::hash::hash(md, &der).ok())
        .map(|d| colon_hex(&d))
        .unwrap_or_default()
}

/// The first `nid` entry of `name` as text, or `None` with Postfix's
/// warning when it is too long, holds a NUL, ASCII control characters,
/// or cannot be decoded.
fn text_name(
    name: &X509NameRef,
    nid: Nid,
    label: &str,
    peer: &str,
    log: &Logger,
) -> Option<String> {
    let entry = name.entries_by_nid(nid).next()?;
    let utf8 = match x509::entry_utf8(entry) {
        Ok(bytes) => bytes,
        Err(asn1_type) => {
            log.warn(&format!(
                "tls_text_name: {peer}: error decoding peer {label} of ASN.1 type={asn1_type}"
            ));
            log.openssl_errors();
            return None;
        }
    };
    let utf8 = String::from_utf8_lossy(&utf8).into_owned();
    if utf8.len() >= CCERT_BUFSIZ {
        log.warn(&format!(
            "tls_text_name: {peer}: peer {label} too long: {}",
            utf8.len()
        ));
        return None;
    }
    if utf8.contains('\0') {
        log.warn(&format!(
            "tls_text_name: {peer}: NULL character in peer {label}"
        ));
        return None;
    }
    if utf8.bytes().any(|b| b.is_ascii() && (b.is_ascii_control())) {
        log.warn(&format!(
            "tls_text_name: {peer}: non-printable content in peer {label}"
        ));
        return None;
    }
    Some(utf8)
}

/// Subject CN of the peer certificate ("" if none or unusable).
pub fn peer_cn(cert: &X509Ref, peer: &str, log: &Logger) -> String {
    text_name(
        cert.subject_name(),
        Nid::COMMONNAME,
        "subject CN",
        peer,
        log,
    )
    .unwrap_or_default()
}

/// Issuer CN, else issuer O ("" if neither).
pub fn issuer_cn(cert: &X509Ref, peer: &str, log: &Logger) -> String {
    let issuer = cert.issuer_name();
    text_name(issuer, Nid::COMMONNAME, "issuer CN", peer, log)
        .or_else(|| {
            text_name(
                issuer,
                Nid::ORGANIZATIONNAME,
                "issuer Organization",
                peer,
                log,
            )
        })
        .unwrap_or_default()
}

/// The peer certificate line (loglevel 2, `peercert`; the client also for
/// `certmatch`), as `release` writes it: from 3.9.0 `LABEL: subject_CN=CN,
/// issuer=ISSUER, cert fingerprint=FP, pkey fingerprint=FP` on both sides
/// (each fingerprint only when there is one); before, the client says
/// `issuer_CN=`, and both `fingerprint=` and `pkey_fingerprint=`.
pub fn peer_line(f: &Facts, release: Release) -> String {
    if f.peer_status & crate::report::summary::status::RPK != 0 {
        // 3.9.0+, both sides: a raw public key has only its fingerprint.
        return format!(
            "{}: raw public key fingerprint={}",
            f.peer_label, f.peer_pkey_fprint
        );
    }
    if release.peer_cert_line_v39() {
        let mut line = format!(
            "{}: subject_CN={}, issuer={}",
            f.peer_label, f.peer_cn, f.issuer_cn
        );
        if !f.peer_cert_fprint.is_empty() {
            line.push_str(&format!(", cert fingerprint={}", f.peer_cert_fprint));
        }
        if !f.peer_pkey_fprint.is_empty() {
            line.push_str(&format!(", pkey fingerprint={}", f.peer_pkey_fprint));
        }
        line
    } else {
        let issuer_key = if f.am_server { "issuer" } else { "issuer_CN" };
        format!(
            "{}: subject_CN={}, {issuer_key}={}, fingerprint={}, pkey_fingerprint={}",
            f.peer_label, f.peer_cn, f.issuer_cn, f.peer_cert_fprint, f.peer_pkey_fprint
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_lines_per_release() {
        let mut f = Facts {
            peer_label: "127.0.0.1[127.0.0.1]:25".into(),
            peer_cn: "localhost".into(),
            issuer_cn: "localhost".into(),
            peer_cert_fprint: "AA:BB".into(),
            peer_pkey_fprint: "CC:DD".into(),
            ..Facts::default()
        };
        let r = |v: &str| Release::parse(v).unwrap();
        assert_eq!(
            peer_line(&f, r("3.8.20")),
            "127.0.0.1[127.0.0.1]:25: subject_CN=localhost, issuer_CN=localhost, fingerprint=AA:BB, pkey_fingerprint=CC:DD"
        );
        assert_eq!(
            peer_line(&f, r("3.9.0")),
            "127.0.0.1[127.0.0.1]:25: subject_CN=localhost, issuer=localhost, cert fingerprint=AA:BB, pkey fingerprint=CC:DD"
        );
        f.am_server = true;
        f.peer_label = "localhost[127.0.0.1]".into();
        assert_eq!(
            peer_line(&f, r("3.7.11")),
            "localhost[127.0.0.1]: subject_CN=localhost, issuer=localhost, fingerprint=AA:BB, pkey_fingerprint=CC:DD"
        );
        f.peer_cert_fprint.clear();
        assert_eq!(
            peer_line(&f, r("3.11.6")),
            "localhost[127.0.0.1]: subject_CN=localhost, issuer=localhost, pkey fingerprint=CC:DD"
        );
    }

    #[test]
    fn colon_hex_is_upper_case_pairs() {
        assert_eq!(colon_hex(&[0x2e, 0x9c, 0x04]), "2E:9C:04");
        assert_eq!(colon_hex(&[]), "");
    }
}
