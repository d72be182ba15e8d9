//! Reading the facts of a finished handshake out of OpenSSL: protocol,
//! cipher, key exchange, both sides' signatures, peer names,
//! fingerprints and trust bits.

use openssl::pkey::{Id, PKeyRef, Public};
use openssl::ssl::SslRef;
use openssl::x509::{X509Ref, X509VerifyResult};

use crate::context::Context;
use crate::report::cert;
use crate::report::summary::{status, Facts, Signature};
use crate::sys::ssl::{self, kx};
use crate::sys::x509;

/// Key exchange: name, curve, bits.
type Kex = (String, String, i32);

/// The peer's ephemeral key described as Postfix up to 3.9 does (`DHE`
/// with bits, `ECDHE` with the curve, `X25519`, ...); a provider's key
/// type (OpenSSL 3.5 hybrids) by the provider's name when
/// `provider_names`, else as `EVP_PKEY_type` leaves it (`UNDEF`).
fn peer_key_kex(ssl: &SslRef, provider_names: bool) -> Option<Kex> {
    let Some(key) = ssl::peer_tmp_key(ssl) else {
        crate::logging::clear_openssl_errors();
        return None;
    };
    Some(match key.id() {
        Id::DH | Id::DHX => ("DHE".into(), String::new(), key.bits() as i32),
        Id::EC => ("ECDHE".into(), ec_curve(&key), 0),
        Id::X25519 => ("X25519".into(), String::new(), 0),
        Id::X448 => ("X448".into(), String::new(), 0),
        _ if provider_names => (x509::pkey_type_name(&key), String::new(), 0),
        _ => ("UNDEF".into(), String::new(), 0),
    })
}

/// The key exchange as the forward-secrecy line describes it (the same
/// in every release). TLS 1.2: `kex`, what [`key_exchange`] found (for a
/// server, which keeps no key after the handshake, the group it chose).
/// TLS 1.3: the peer's ephemeral key, else (groups without a key to
/// describe, such as X25519MLKEM768 on the client) the negotiated group.
/// Empty without an ephemeral key exchange.
fn forward_secrecy_kex(ssl: &SslRef, tls13: bool, kex: &Kex) -> String {
    let kex = match tls13 {
        false => kex.clone(),
        true => match peer_key_kex(ssl, true) {
            Some(kex) => kex,
            None => return ssl::negotiated_group_name(ssl),
        },
    };
    match kex {
        (name, curve, _) if !curve.is_empty() => format!("{name} ({curve})"),
        (name, _, bits) if bits > 0 => format!("{name} ({bits} bits)"),
        (name, _, _) => name,
    }
}

/// A TLS 1.2 server's key exchange, described as the client describes it
/// from the server's key: ECDHE by the curve OpenSSL negotiated (`X25519`,
/// `X448`, or `ECDHE` and the curve's name); DHE by the size of the group
/// the context has (its DH parameter file, or OpenSSL's automatic choice
/// for this suite and key). Nothing for a static key exchange.
fn server_tls12_key_exchange(ssl: &SslRef, ctx: &Context) -> (String, String, i32) {
    let Some(cipher) = ssl.current_cipher() else {
        return Default::default();
    };
    match ssl::cipher_kx_nid(cipher) {
        kx::ECDHE | kx::ECDHE_PSK => {
            let Some(name) = ssl::negotiated_group_nid(ssl).and_then(x509::nid_short_name) else {
                return Default::default();
            };
            match name.as_str() {
                "X25519" | "X448" => (name, String::new(), 0),
                _ => ("ECDHE".into(), name, 0),
            }
        }
        kx::DHE | kx::DHE_PSK => {
            let bits = match &ctx.dh {
                Some(crate::context::groups::DhChoice::File(_, bits)) => *bits,
                _ => {
                    let au = ssl::cipher_description(cipher);
                    let anonymous = au.contains(" Au=None ") || au.contains(" Au=PSK ");
                    let key_bits = ssl
                        .certificate()
                        .and_then(|c| c.public_key().ok())
                        .map_or(0, |k| k.security_bits());
                    crate::context::groups::auto_dh_bits(
                        anonymous,
                        cipher.bits().secret,
                        key_bits,
                        ssl.security_level(),
                    )
                }
            };
            ("DHE".into(), String::new(), bits as i32)
        }
        _ => Default::default(),
    }
}

/// The key exchange as the release's TLS library records it. TLS 1.3:
/// from 3.10.0 the negotiated group's TLS name (`x25519`, `secp256r1`,
/// `ffdhe2048`, `X25519MLKEM768`) with no detail; before, the peer's
/// ephemeral key (none for a client that negotiated a KEM). TLS 1.2 (no
/// key-exchange item in any release's text): the peer's ephemeral key.
///
/// A TLS 1.2 server (which keeps no key after the handshake) gets the
/// group it chose ([`server_tls12_key_exchange`]) for its facts and its
/// forward-secrecy line.
fn key_exchange(ssl: &SslRef, ctx: &Context, am_server: bool, tls13: bool) -> Kex {
    let release = &ctx.release;
    if tls13 && release.kex_uses_group_name() {
        let group = ssl::negotiated_group_name(ssl);
        if !group.is_empty() {
            return (group, String::new(), 0);
        }
    }
    match peer_key_kex(ssl, !tls13 || release.provider_key_names()) {
        Some(kex) => kex,
        // A TLS 1.2 client without an ephemeral key (a resumed session,
        // static key exchange) has no key exchange at all, whatever group
        // the hello messages named; nor has a resumed server session.
        None if tls13 || !am_server || ssl.session_reused() => Kex::default(),
        None => server_tls12_key_exchange(ssl, ctx),
    }
}

fn ec_curve(key: &PKeyRef<Public>) -> String {
    x509::pkey_group_name(key)
}

/// Describe a handshake signature made with `cert`'s key.
fn signature(
    cert: &X509Ref,
    digest_nid: Option<i32>,
    sig_type_nid: Option<i32>,
    tls13: bool,
) -> Signature {
    let Ok(key) = cert.public_key() else {
        return Signature::default();
    };
    key_signature(&key, digest_nid, sig_type_nid, tls13)
}

/// Describe a handshake signature made with `key` (a certificate's, or a
/// raw public key).
fn key_signature(
    key: &PKeyRef<Public>,
    digest_nid: Option<i32>,
    sig_type_nid: Option<i32>,
    tls13: bool,
) -> Signature {
    let (name, curve, bits) = match key.id() {
        Id::RSA => {
            let pss = tls13 || sig_type_nid == Some(openssl::nid::Nid::RSASSAPSS.as_raw());
            (
                if pss { "RSA-PSS" } else { "RSA" }.to_string(),
                String::new(),
                key.bits() as i32,
            )
        }
        Id::RSA_PSS => ("RSASSA-PSS".to_string(), String::new(), 0),
        Id::EC => ("ECDSA".to_string(), ec_curve(key), key.bits() as i32),
        Id::ED25519 => ("ED25519".to_string(), String::new(), 0),
        Id::ED448 => ("ED448".to_string(), String::new(), 0),
        _ => (x509::pkey_type_name(key), String::new(), key.bits() as i32),
    };
    let digest = digest_nid
        .filter(|n| *n != openssl::nid::Nid::UNDEF.as_raw())
        .and_then(x509::nid_short_name)
        .unwrap_or_default();
    Signature {
        name,
        curve,
        bits,
        digest,
    }
}

/// Whether the negotiated key exchange gives forward secrecy.
fn forward_secret(ssl: &SslRef, tls13: bool) -> bool {
    if tls13 {
        return true;
    }
    let Some(cipher) = ssl.current_cipher() else {
        return false;
    };
    matches!(
        ssl::cipher_kx_nid(cipher),
        kx::ECDHE | kx::DHE | kx::ECDHE_PSK | kx::DHE_PSK
    )
}

/// Collect the facts of the established session `ssl`, as the TLS
/// library of the context's Postfix release records them (key exchange,
/// signatures of resumed sessions).
pub fn collect(ssl: &SslRef, ctx: &Context, am_server: bool, peer_label: &str) -> Facts {
    let release = &ctx.release;
    let protocol = ssl.version_str().to_string();
    let tls13 = protocol == "TLSv1.3";
    let (cipher_name, usebits, algbits) = match ssl.current_cipher() {
        Some(c) => {
            let bits = c.bits();
            (c.name().to_string(), bits.secret, bits.algorithm)
        }
        None => (String::new(), 0, 0),
    };
    let kex = key_exchange(ssl, ctx, am_server, tls13);
    let forward_secrecy_kex = forward_secrecy_kex(ssl, tls13, &kex);
    let (kex_name, kex_curve, kex_bits) = kex;
    let reused = ssl.session_reused();
    let peer_cert = ssl::peer_certificate(ssl);
    let own_cert = ssl.certificate();
    // A raw public key in place of the peer's certificate (RFC 7250).
    let peer_rpk = match peer_cert {
        Some(_) => None,
        None => crate::sys::rpk::peer_rpk(ssl),
    };
    let peer_sig = match (peer_cert, &peer_rpk) {
        (Some(c), _) => Some(signature(
            c,
            ssl::peer_signature_digest_nid(ssl),
            ssl::peer_signature_type_nid(ssl),
            tls13,
        )),
        (None, Some(key)) => Some(key_signature(
            key,
            ssl::peer_signature_digest_nid(ssl),
            ssl::peer_signature_type_nid(ssl),
            tls13,
        )),
        (None, None) => None,
    };
    // Which side's credential was a raw public key (each only when that
    // side's key is described: Postfix asks after finding the key).
    let own_rpk =
        own_sig_known(ssl, am_server, reused) && crate::sys::rpk::negotiated_rpk(ssl, !am_server);
    let peer_is_rpk = peer_sig.is_some() && crate::sys::rpk::negotiated_rpk(ssl, am_server);
    let (stoc_rpk, ctos_rpk) = if am_server {
        (own_rpk, peer_is_rpk)
    } else {
        (peer_is_rpk, own_rpk)
    };
    // Our own signature counts only when we really signed with our key.
    let own_sig_type = ssl::own_signature_type_nid(ssl);
    let own_sig = match (own_cert, own_sig_type) {
        (Some(c), Some(t)) => Some(signature(
            c,
            ssl::own_signature_digest_nid(ssl),
            Some(t),
            tls13,
        )),
        // A resumed session made no signature. Postfix before 3.7.13,
        // 3.8.8, 3.9.2 and 3.10.0 still names the server's current key.
        (Some(c), None) if am_server && reused => Some(signature(c, None, None, tls13)),
        _ => None,
    };
    let (server_sig, client_sig) = if tls13 && reused && release.resumed_tls13_omits_signatures() {
        (None, None)
    } else if am_server {
        (own_sig, peer_sig)
    } else {
        (peer_sig, own_sig)
    };
    let mut facts = Facts {
        am_server,
        peer_label: peer_label.to_string(),
        protocol,
        cipher_name,
        cipher_usebits: usebits,
        cipher_algbits: algbits,
        kex_name,
        kex_curve,
        kex_bits,
        client_sig: client_sig.unwrap_or_default(),
        server_sig: server_sig.unwrap_or_default(),
        forward_secret: forward_secret(ssl, tls13),
        forward_secrecy_kex,
        reused,
        stoc_rpk: stoc_rpk && !reused,
        ctos_rpk: ctos_rpk && !reused,
        ..Facts::default()
    };
    if let Some(cert) = peer_cert {
        facts.peer_status |= status::PRESENT;
        if ssl.verify_result() == X509VerifyResult::OK {
            facts.peer_status |= status::TRUSTED;
        }
        facts.peer_cn = cert::peer_cn(cert, peer_label, &ctx.logger);
        facts.issuer_cn = cert::issuer_cn(cert, peer_label, &ctx.logger);
    } else if let Some(key) = &peer_rpk {
        // Postfix 3.9+: no names, the key's fingerprint always (smtpd's
        // access checks and Received: use it); a client trusts a key that
        // its DANE or fingerprint records matched, a server never.
        facts.peer_status |= status::RPK;
        if !am_server && ssl.verify_result() == X509VerifyResult::OK {
            facts.peer_status |= status::TRUSTED;
        }
        facts.peer_pkey_fprint = cert::rpk_fingerprint(key, ctx.digest);
    }
    facts
}

/// Whether the local side's signature is described: a server always, a
/// client when it signed (new sessions only).
fn own_sig_known(ssl: &SslRef, am_server: bool, reused: bool) -> bool {
    !reused && (am_server || ssl::own_signature_type_nid(ssl).is_some())
}

/// Fill the peer fingerprints (kept out of [`collect`]: computed only when
/// logged or asked for).
pub fn fill_fingerprints(
    facts: &mut Facts,
    ssl: &SslRef,
    ctx: &Context,
    digest: openssl::hash::MessageDigest,
) {
    let peer = ssl::peer_certificate(ssl);
    if let Some(cert) = peer {
        facts.peer_cert_fprint = cert::cert_fingerprint(cert, digest);
        facts.peer_pkey_fprint = cert::pkey_fingerprint(cert, digest, ctx.legacy_pkey_fingerprints);
    } else if let Some(key) = crate::sys::rpk::peer_rpk(ssl) {
        facts.peer_pkey_fprint = cert::rpk_fingerprint(&key, digest);
    }
}
