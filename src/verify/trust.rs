//! Security levels applied to one session: name checks
//! for `verify`/`secure`, fingerprints for `fingerprint`, TLSA records for
//! `dane`/`dane-only`, local trust anchors; the certificate verification
//! callback; the trust decision after the handshake; and the trust-chain
//! error lines Postfix logs. All checks are OpenSSL's (X509 host checks,
//! DANE); nothing here parses certificates by hand.

use std::ffi::CString;

use openssl::ssl::SslRef;
use openssl::x509::X509VerifyResult;

use crate::config::level::Level;
use crate::config::loglevel::mask;
use crate::context::exdata::VerifyRecord;
use crate::context::{Context, Role};
use crate::error::{Error, ErrorKind, Result};
use crate::logging::Logger;
use crate::report::summary::{status, Facts};
use crate::report::tlsrpt;
use crate::sys::{ssl, x509};

/// One TLSA record (RFC 6698): usage, selector, matching type, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// 0 full certificate, 1 SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 exact, 1 SHA-256, 2 SHA-512.
    pub mtype: u8,
    /// The association data.
    pub data: Vec<u8>,
}

/// What the caller tells a client session about its peer, as Postfix's
/// policy code does per delivery.
#[derive(Debug, Clone, Default)]
pub struct PeerPolicy {
    /// Security level; `None`: the context's default.
    pub level: Option<Level>,
    /// The server's host name (MX name): `hostname` in match lists.
    pub host: String,
    /// The destination domain: `nexthop` in match lists.
    pub nexthop: String,
    /// Match list replacing `*_tls_verify_cert_match`,
    /// `*_tls_secure_cert_match` or `*_tls_fingerprint_cert_match`.
    pub matches: Option<String>,
    /// TLSA records for `dane` / `dane-only`.
    pub tlsa: Vec<Tlsa>,
    /// TLSA base domain (default: `host`).
    pub tlsa_base: String,
    /// SNI name request replacing `*_tls_servername` (same syntax).
    pub servername: Option<String>,
    /// Trust anchors replacing `*_tls_trust_anchor_file`'s.
    pub trust_anchors: Option<Vec<(u8, Vec<u8>)>>,
    /// The DANE matching type of this session's fingerprint digest
    /// (`None`: the context's, type 255).
    pub fingerprint_mtype: Option<u8>,
}

/// How a client session was set up to check its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// The effective level (`dane` may fall back to `encrypt`).
    pub level: Level,
    /// DANE (fingerprints, TLSA or trust anchors) carries the check.
    pub dane: bool,
}

fn cstring(text: &str, label: &str) -> Result<CString> {
    CString::new(text).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("{label}: name contains a NUL byte"),
        )
    })
}

/// Split a match list (commas, white space, and `|` as in policy tables).
fn match_tokens(list: &str) -> impl Iterator<Item = &str> {
    list.split(|c: char| c == ',' || c == '|' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

/// Parse a fingerprint (hex, either case, optionally colon-separated byte
/// pairs); `None` if malformed.
pub fn parse_fingerprint(value: &str) -> Option<Vec<u8>> {
    if !value.is_ascii() {
        return None;
    }
    let hex: String = if value.contains(':') {
        let pairs: Vec<&str> = value.split(':').collect();
        if pairs.iter().any(|p| p.len() != 2) {
            return None;
        }
        pairs.concat()
    } else {
        value.to_string()
    };
    if hex.len() > 2 * 64 {
        return None;
    }
    crate::text::decode_hex(&hex)
}

/// Names to check for `verify`/`secure` from a match list of strategies
/// (`hostname`, `nexthop`, `dot-nexthop`) and literal names or `.domain`s.
fn match_names(list: &str, policy: &PeerPolicy, label: &str, log: &Logger) -> Vec<String> {
    let mut names = Vec::new();
    for token in match_tokens(list) {
        let name = match token.to_ascii_lowercase().as_str() {
            "hostname" => policy.host.to_ascii_lowercase(),
            "nexthop" => policy.nexthop.to_ascii_lowercase(),
            "dot-nexthop" if !policy.nexthop.is_empty() => {
                format!(".{}", policy.nexthop.to_ascii_lowercase())
            }
            "dot-nexthop" => String::new(),
            "." => {
                log.warn(&format!("{label}: ignoring invalid match name: \".\""));
                String::new()
            }
            other => other.to_string(),
        };
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Register `names` for OpenSSL's host check (no partial wildcards).
fn set_hosts(ssl: &mut SslRef, names: &[String], label: &str, log: &Logger) -> bool {
    ssl::set_hostflags(ssl, ssl::NO_PARTIAL_WILDCARDS);
    let mut added = 0;
    for name in names {
        let Ok(c) = cstring(name, label) else {
            continue;
        };
        if ssl::add_host(ssl, &c, added == 0) {
            added += 1;
        } else {
            crate::logging::clear_openssl_errors();
            log.warn(&format!("{label}: error loading match name: \"{name}\""));
        }
    }
    added > 0
}

/// Turn on DANE for this session with `base` as the base domain (may be
/// empty: no SNI or name from it).
fn dane_enable(ssl: &mut SslRef, base: &str, label: &str, what: &str) -> Result<()> {
    let c = cstring(base, label)?;
    if !ssl::dane_enable(ssl, (!base.is_empty()).then_some(c.as_c_str())) {
        return Err(Error::new(
            ErrorKind::Context,
            format!("{label}: error enabling {what} certificate validation"),
        )
        .with_detail(&crate::logging::openssl_reasons()));
    }
    Ok(())
}

/// Add one TLSA association; `true` when OpenSSL can use it. An unusable
/// one gets Postfix's warning, where a fingerprint's matching type is
/// always Postfix's private 255 (also when this session's own digest
/// uses one of [`ssl::SESSION_DIGEST_MTYPES`]).
fn tlsa_add(ssl: &mut SslRef, r: (u8, u8, u8, &[u8]), label: &str, log: &Logger) -> bool {
    let (usage, selector, mtype, data) = r;
    let ok = ssl::dane_tlsa_add(ssl, usage, selector, mtype, data);
    crate::logging::clear_openssl_errors();
    if !ok {
        let shown = if is_session_digest_mtype(mtype) {
            255
        } else {
            mtype
        };
        log.warn(&format!(
            "{label}: unusable TLSA RR: {usage} {selector} {shown} {}",
            hex(data)
        ));
    }
    ok
}

/// One of the private matching types this library gives the fingerprint
/// digests of sessions.
fn is_session_digest_mtype(mtype: u8) -> bool {
    ssl::SESSION_DIGEST_MTYPES.iter().any(|(_, t)| *t == mtype)
}

/// Do not check names for DANE-EE(3) matches (RFC 7672), as Postfix.
fn no_dane_ee_namechecks(ssl: &mut SslRef) {
    ssl::dane_set_flags(ssl, ssl::DANE_FLAG_NO_DANE_EE_NAMECHECKS);
}

/// The SNI name to send for `smtp_tls_servername`-style `request`
/// (`hostname`, `nexthop`, a literal name, or empty for none).
pub fn servername_for(request: &str, policy: &PeerPolicy, param: &str) -> Result<Option<String>> {
    let name = match request.trim() {
        "" => return Ok(None),
        "hostname" => policy.host.clone(),
        "nexthop" => policy.nexthop.clone(),
        literal => literal.to_string(),
    };
    if name.is_empty() {
        return Ok(None);
    }
    if !crate::context::sni::valid_hostname(&name) {
        return Err(Error::new(
            ErrorKind::Policy,
            format!("\"{param} = {request}\" specifies an invalid hostname"),
        ));
    }
    Ok(Some(name.to_ascii_lowercase()))
}

/// Ask for a raw public key from the peer (`from_server`) or offer one's
/// own to it for this session, with Postfix's warning if OpenSSL refuses.
fn enable_rpk(ssl: &mut SslRef, ctx: &Context, from_server: bool) {
    let ok = if from_server {
        crate::sys::rpk::enable_server_rpk(ssl)
    } else {
        crate::sys::rpk::enable_client_rpk(ssl)
    };
    if !ok {
        crate::logging::clear_openssl_errors();
        ctx.logger.warn(if from_server {
            "Failed to enable server to client raw public key support"
        } else {
            "Failed to enable client to server raw public key support"
        });
    }
}

/// Set up a server SSL before the handshake: with `smtpd_tls_enable_rpk`
/// (Postfix 3.9+, OpenSSL 3.2+) ask clients for a raw public key.
pub fn prepare_server(ssl: &mut SslRef, ctx: &Context) {
    if ctx.rpk && ctx.enable_rpk {
        enable_rpk(ssl, ctx, false);
    }
}

/// Set up a client SSL for `policy` before the handshake. Errors are
/// Postfix's per-session setup failures; `record.must_fail` is set where
/// Postfix forces verification to fail.
pub fn prepare_client(
    ssl: &mut SslRef,
    ctx: &Context,
    policy: &PeerPolicy,
    level: Level,
    label: &str,
    record: &mut VerifyRecord,
) -> Result<Prepared> {
    let log = &ctx.logger;
    let dane_based =
        matches!(level, Level::Dane | Level::DaneOnly | Level::HalfDane) && !policy.tlsa.is_empty();
    if !dane_based {
        let request = policy.servername.as_deref().unwrap_or(&ctx.servername);
        let param = format!("{}_tls_servername", ctx.prefix);
        if let Some(name) = servername_for(request, policy, &param)? {
            if ssl.set_hostname(&name).is_err() {
                crate::logging::clear_openssl_errors();
                return Err(Error::new(
                    ErrorKind::Context,
                    format!("{label}: error setting SNI hostname to: {name}"),
                ));
            }
            if ctx.log_mask & mask::VERBOSE != 0 {
                log.info(&format!("{label}: SNI hostname: {name}"));
            }
        }
    }
    if level.must_match() {
        ssl::set_security_level(ssl, 1);
    }
    // `*_tls_enable_rpk`: ask the server for a raw public key where
    // Postfix does (a heuristic at `may` and `encrypt`; at `fingerprint`
    // only public-key fingerprints can then match).
    if ctx.rpk
        && ctx.enable_rpk
        && matches!(level, Level::May | Level::Encrypt | Level::Fingerprint)
    {
        enable_rpk(ssl, ctx, true);
    }
    match level {
        Level::None | Level::May | Level::Encrypt => Ok(Prepared { level, dane: false }),
        Level::Fingerprint => {
            let list = policy
                .matches
                .clone()
                .unwrap_or_else(|| ctx.fingerprint_match.clone());
            let mut fingerprints = Vec::new();
            for token in match_tokens(&list) {
                match parse_fingerprint(token) {
                    Some(fp) => fingerprints.push(fp),
                    None => log.warn(&format!("malformed fingerprint value: {token}")),
                }
            }
            if match_tokens(&list).next().is_none() {
                return Err(Error::new(
                    ErrorKind::Policy,
                    format!(
                        "nexthop domain {}: configured at fingerprint security level, but with no fingerprints to match.",
                        if policy.nexthop.is_empty() { label } else { &policy.nexthop }
                    ),
                ));
            }
            let fp_mtype = policy
                .fingerprint_mtype
                .unwrap_or(ssl::DANE_MTYPE_FINGERPRINT);
            dane_enable(ssl, "", label, "fingerprint")?;
            no_dane_ee_namechecks(ssl);
            if ctx.log_mask & (mask::VERBOSE | mask::DANE) != 0 {
                for fp in &fingerprints {
                    log.info(&format!(
                        "fingerprint: digest as private-use TLSA record: 3 0 {} {}",
                        fp_mtype,
                        hex(fp)
                    ));
                }
            }
            let mut usable = 0;
            // In Postfix's order: last fingerprint first, SPKI before cert.
            for fp in fingerprints.iter().rev() {
                for selector in [1, 0] {
                    if tlsa_add(ssl, (3, selector, fp_mtype, fp), label, log) {
                        usable += 1;
                    }
                }
            }
            if usable == 0 {
                record.unusable = Some(tlsrpt::reason::FINGERPRINTS_UNUSABLE);
                log.warn(&format!("{label}: all fingerprints unusable"));
                record.must_fail = true;
            }
            Ok(Prepared { level, dane: true })
        }
        Level::Dane | Level::DaneOnly | Level::HalfDane => {
            if policy.tlsa.is_empty() {
                return if level == Level::DaneOnly {
                    Err(Error::new(
                        ErrorKind::Policy,
                        format!("{label}: dane-only: no TLSA records for {}", policy.host),
                    ))
                } else {
                    // Opportunistic DANE without TLSA records is `may`.
                    Ok(Prepared {
                        level: Level::May,
                        dane: false,
                    })
                };
            }
            let base = if policy.tlsa_base.is_empty() {
                &policy.host
            } else {
                &policy.tlsa_base
            };
            // DANE always sends the TLSA base domain as SNI.
            if crate::context::sni::valid_hostname(base) && ssl.set_hostname(base).is_err() {
                crate::logging::clear_openssl_errors();
                return Err(Error::new(
                    ErrorKind::Context,
                    format!("{label}: error setting SNI hostname to: {base}"),
                ));
            }
            dane_enable(ssl, base, label, "DANE-based")?;
            no_dane_ee_namechecks(ssl);
            let mut usable = 0;
            // Raw public keys are asked for when every usable record is
            // DANE-EE(3) SPKI(1), whatever `*_tls_enable_rpk` says.
            let mut rpk_compatible = true;
            for r in &policy.tlsa {
                // Records never use the private types of session digests.
                if is_session_digest_mtype(r.mtype) {
                    log.warn(&format!(
                        "{label}: unusable TLSA RR: {} {} {} {}",
                        r.usage,
                        r.selector,
                        r.mtype,
                        hex(&r.data)
                    ));
                    continue;
                }
                if tlsa_add(ssl, (r.usage, r.selector, r.mtype, &r.data), label, log) {
                    usable += 1;
                    rpk_compatible &= r.usage == 3 && r.selector == 1;
                }
            }
            if ctx.rpk && rpk_compatible {
                enable_rpk(ssl, ctx, true);
            }
            // Reference identifiers for DANE-TA: base domain, host and
            // nexthop names (IP literals never have TLSA records).
            let mut names = vec![base.to_ascii_lowercase()];
            for n in [&policy.host, &policy.nexthop] {
                let n = n.to_ascii_lowercase();
                if !n.is_empty() && !names.contains(&n) && n.parse::<std::net::IpAddr>().is_err() {
                    names.push(n);
                }
            }
            for n in names.iter().skip(1) {
                if let Ok(c) = cstring(n, label) {
                    ssl::add_host(ssl, &c, false);
                }
            }
            if usable == 0 {
                record.unusable = Some(tlsrpt::reason::TLSA_UNUSABLE);
                if level == Level::DaneOnly {
                    log.warn(&format!("{label}: all TLSA records unusable"));
                    record.must_fail = true;
                } else {
                    log.warn(&format!(
                        "{label}: all TLSA records unusable, fallback to unauthenticated TLS"
                    ));
                    return Ok(Prepared {
                        level: Level::Encrypt,
                        dane: true,
                    });
                }
            }
            Ok(Prepared { level, dane: true })
        }
        Level::Verify | Level::Secure => {
            let list = policy.matches.clone().unwrap_or_else(|| {
                if level == Level::Verify {
                    ctx.verify_match.clone()
                } else {
                    ctx.secure_match.clone()
                }
            });
            let names = match_names(&list, policy, label, log);
            let anchors = policy.trust_anchors.as_ref().unwrap_or(&ctx.trust_anchors);
            let dane = !anchors.is_empty();
            if dane {
                // No base domain, and the names are checked also when an
                // anchor matches the server's own certificate (DANE-EE):
                // these levels authenticate the name, as Postfix's.
                if !ssl::dane_enable(ssl, None) {
                    return Err(Error::new(
                        ErrorKind::Context,
                        format!("{label}: error configuring local trust anchors"),
                    )
                    .with_detail(&crate::logging::openssl_reasons()));
                }
                let mut usable = 0;
                // Each anchor also as DANE-EE(3), as Postfix's trust-anchor
                // file does: a self-signed server certificate may be listed.
                for (selector, der) in anchors {
                    for usage in [2, 3] {
                        if tlsa_add(ssl, (usage, *selector, 0, der), label, log) {
                            usable += 1;
                        }
                    }
                }
                if usable == 0 {
                    record.unusable = Some(tlsrpt::reason::TRUST_ANCHORS_UNUSABLE);
                    log.warn(&format!("{label}: all trust anchors unusable"));
                    record.must_fail = true;
                }
            }
            if !set_hosts(ssl, &names, label, log) {
                log.warn(&format!("{label}: could not configure peer name checks"));
                record.must_fail = true;
            }
            Ok(Prepared { level, dane })
        }
    }
}

/// The trust-chain error line Postfix logs for the recorded error
/// (`None` when no error was recorded: Postfix then logs nothing).
pub fn verify_error_line(record: &VerifyRecord, label: &str, am_server: bool) -> Option<String> {
    let depth = record.depth?;
    let purpose = if depth > 0 {
        "CA"
    } else if am_server {
        "client"
    } else {
        "server"
    };
    use crate::sys::x509::codes as x;
    Some(match record.code {
        x::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN | x::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT => {
            format!("certificate verification failed for {label}: self-signed certificate")
        }
        x::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY | x::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT => format!(
            "certificate verification failed for {label}: untrusted issuer {}",
            record.issuer
        ),
        x::X509_V_ERR_CERT_NOT_YET_VALID | x::X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD => {
            format!("{purpose} certificate verification failed for {label}: certificate not yet valid")
        }
        x::X509_V_ERR_CERT_HAS_EXPIRED | x::X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD => {
            format!("{purpose} certificate verification failed for {label}: certificate has expired")
        }
        x::X509_V_ERR_INVALID_PURPOSE => format!(
            "certificate verification failed for {label}: not designated for use as a {purpose} certificate"
        ),
        x::X509_V_ERR_CERT_CHAIN_TOO_LONG => format!(
            "certificate verification failed for {label}: certificate chain longer than limit({})",
            record.depth_limit - 1
        ),
        code => {
            format!(
                "{purpose} certificate verification failed for {label}: num={code}:{}",
                x509::verify_error_text(code)
            )
        }
    })
}

fn hex(data: &[u8]) -> String {
    crate::text::hex(data)
}

/// The `Matched ...` line of a DANE-based success (fingerprints, TLSA,
/// trust anchors), if OpenSSL reports one.
fn dane_match_line(ssl: &SslRef, level: Level, label: &str, rpk: bool) -> Option<String> {
    let m = ssl::dane_authority(ssl)?;
    let (depth, usage, selector, mtype, bytes) = (m.depth, m.usage, m.selector, m.mtype, &m.data);
    Some(match level {
        // Real posttls-finger prints the digest without colons here.
        Level::Fingerprint => format!("{label}: Matched fingerprint: {}", hex(bytes)),
        _ if rpk => format!(
            "{label}: Matched DANE raw public key: {usage} {selector} {mtype} {}",
            hex(bytes)
        ),
        Level::Verify | Level::Secure => format!("{label}: Matched trust anchor at depth {depth}"),
        _ => {
            let what = match (usage, m.spki) {
                (3, _) => "EE certificate",
                (_, true) => "TA public key verified certificate",
                _ => "TA certificate",
            };
            format!(
                "{label}: Matched DANE {what} at depth {depth}: {usage} {selector} {mtype} {}",
                hex(bytes)
            )
        }
    })
}

/// What [`decide`] found: the error a caller must act on when the level
/// requires authentication that failed, and the lines Postfix logs after
/// the peer credential line (a server's trust-chain error; a client's
/// match and error lines for a raw public key).
#[derive(Debug, Default)]
pub struct Decision {
    /// Authentication required and failed.
    pub error: Option<Error>,
    /// Lines to log after the peer line.
    pub late_lines: Vec<String>,
}

/// Decide the trust bits after a handshake, as Postfix does, and log the
/// client's certificate-match and trust-chain lines (before its peer line,
/// as Postfix's client does).
pub fn decide(
    ssl: &SslRef,
    ctx: &Context,
    facts: &mut Facts,
    level: Level,
    record: &VerifyRecord,
    require_client_cert: bool,
    log_mask: u32,
) -> Decision {
    let label = facts.peer_label.clone();
    // A certificate, or (Postfix 3.9+) a raw public key.
    let cert = facts.peer_status & status::PRESENT != 0;
    let rpk = facts.peer_status & status::RPK != 0;
    let present = cert || rpk;
    let chain_ok = present && ssl.verify_result() == X509VerifyResult::OK && !record.must_fail;
    if !chain_ok {
        facts.peer_status &= !status::TRUSTED;
    }
    let log: &Logger = &ctx.logger;
    // A raw public key's match line also at `peercert`.
    let certmatch_mask = if rpk {
        mask::CERTMATCH | mask::VERBOSE | mask::PEERCERT
    } else {
        mask::CERTMATCH | mask::VERBOSE
    };
    let certmatch = log_mask & certmatch_mask != 0;
    // The client logs what it found about a raw public key after the key's
    // own line, about a certificate before it.
    let mut late_lines = Vec::new();
    let mut emit = |line: String| {
        if rpk {
            late_lines.push(line);
        } else {
            log.info(&line);
        }
    };
    match ctx.role {
        Role::Client => {
            use crate::sys::x509::codes::X509_V_ERR_HOSTNAME_MISMATCH as MISMATCH;
            let mismatch_only = cert
                && !record.must_fail
                && ssl.verify_result().as_raw() == MISMATCH
                && ctx.release.hostname_mismatch_is_trusted();
            if level.must_match() && mismatch_only {
                // Postfix 3.10.4 and 3.11.0 on: the chain was trusted, only
                // the name did not match.
                facts.peer_status |= status::TRUSTED;
            }
            if level.must_match() && chain_ok {
                facts.peer_status |= status::TRUSTED | status::MATCHED;
                if level != Level::HalfDane {
                    facts.peer_status |= status::SECURED;
                }
                let peername = ssl::peername(ssl).filter(|_| cert);
                if let (Some(name), true) = (&peername, facts.peer_cn.is_empty()) {
                    // No subject CN: Postfix names the peer by the matched name.
                    facts.peer_cn = name.clone();
                }
                if certmatch {
                    if let Some(name) = &peername {
                        emit(format!("{label}: matched peername: {name}"));
                    }
                    if let Some(line) = dane_match_line(ssl, level, &label, rpk) {
                        emit(line);
                    }
                }
            }
            if level.must_match() && facts.peer_status & status::MATCHED == 0 {
                let line = verify_error_line(record, &label, false);
                if ssl.session_reused() {
                    // Postfix's raw-public-key path kept the older text.
                    let what = if ctx.release.untrusted_peer_credential_text() && !rpk {
                        "peer credential"
                    } else {
                        "certificate"
                    };
                    emit(format!(
                        "{label}: re-using session with untrusted {what}, look for details earlier in the log"
                    ));
                } else if let Some(line) = &line {
                    emit(line.clone());
                }
                let why = line.unwrap_or_else(|| {
                    format!("certificate verification failed for {label}: not trusted by local or TLSA policy")
                });
                return Decision {
                    error: Some(Error::new(
                        ErrorKind::NotVerified,
                        format!("Server certificate not verified: {why}"),
                    )),
                    late_lines,
                };
            }
            if !level.must_match() && !chain_ok && present && log_mask & mask::UNTRUSTED != 0 {
                if let Some(line) = verify_error_line(record, &label, false) {
                    emit(line);
                }
            }
        }
        Role::Server => {
            let mut decision = Decision::default();
            // A client's raw public key is never checked for trust.
            if !chain_ok && cert && (require_client_cert || log_mask & mask::UNTRUSTED != 0) {
                decision
                    .late_lines
                    .extend(verify_error_line(record, &label, true));
            }
            if require_client_cert && !chain_ok {
                let why = if present {
                    "Client certificate not trusted"
                } else {
                    "No client certificate presented"
                };
                decision.error = Some(Error::new(
                    ErrorKind::NotVerified,
                    format!("TLS from {label}: {why}"),
                ));
            }
            return decision;
        }
    }
    Decision {
        error: None,
        late_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_as_postfix_accepts_them() {
        assert_eq!(parse_fingerprint("2E:9c:04"), Some(vec![0x2e, 0x9c, 0x04]));
        assert_eq!(parse_fingerprint("2e9C04"), Some(vec![0x2e, 0x9c, 0x04]));
        for bad in [
            "", ":2E", "2E:", "2E::9C", "2E9", "2G", "2E:9C4", "aéb", "éé",
        ] {
            assert_eq!(parse_fingerprint(bad), None, "{bad}");
        }
    }

    #[test]
    fn match_strategies_expand() {
        let policy = PeerPolicy {
            host: "MX1.Example.NET".into(),
            nexthop: "example.net".into(),
            ..Default::default()
        };
        let log = Logger::default();
        assert_eq!(
            match_names(
                "hostname, nexthop dot-nexthop|.example.org mail.example.com",
                &policy,
                "x",
                &log
            ),
            vec![
                "mx1.example.net",
                "example.net",
                ".example.net",
                ".example.org",
                "mail.example.com"
            ]
        );
        assert!(match_names("hostname", &PeerPolicy::default(), "x", &log).is_empty());
    }
}
