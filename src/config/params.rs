//! Postfix parameters: the table of every parameter this library reads
//! (name, Postfix 3.8.5 default, kind, meaning), a store of values set by
//! name or loaded from a main.cf, `$name` expansion as Postfix does it,
//! and value validation whose errors name the parameter and the value.
//! Defaults and the values Postfix refuses follow the release chosen by
//! `mtatls_postfix_release` (see `release`).

use std::collections::HashMap;
use std::path::Path;

use crate::config::grades;
use crate::config::release::{Release, RELEASE_PARAM};
use crate::error::{Error, ErrorKind, Result};

/// How a parameter's value is checked when it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (paths, lists, OpenSSL strings checked when used).
    Text,
    /// Text that must not be empty (Postfix's "min length 1").
    NonEmpty,
    /// `yes`/`no` (also `true`/`false`), case-insensitive.
    Bool,
    /// A non-negative integer.
    Int,
    /// A Postfix time: number with optional unit `s m h d w` (default `s`).
    Time,
    /// A cipher grade: `high medium low export null`.
    Grade,
    /// A protocol list (`>=TLSv1.2`, `!SSLv3`, `TLSv1.2 TLSv1.3`).
    Protocols,
    /// A cipher exclusion list (no token may start with `! + - @`).
    Exclusions,
    /// `smtpd_tls_security_level`.
    ServerLevel,
    /// `smtp_tls_security_level`.
    ClientLevel,
    /// A digest name (OpenSSL must know it: checked when a context is built).
    Digest,
    /// `tls_config_file`: `default`, `none` or an absolute path.
    ConfigFile,
    /// `mtatls_postfix_release`: a Postfix release number.
    Release,
}

/// One known parameter.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    /// Postfix's name (client parameters are listed with the `smtp_`
    /// prefix; the `lmtp_` twin of each is known too).
    pub name: &'static str,
    /// The Postfix 3.8.5 default, before `$name` expansion (other
    /// releases: `release::DEFAULT_CHANGES`).
    pub default: &'static str,
    /// How the value is validated.
    pub kind: Kind,
    /// What the parameter does.
    pub doc: &'static str,
}

const fn p(name: &'static str, default: &'static str, kind: Kind, doc: &'static str) -> ParamDef {
    ParamDef {
        name,
        default,
        kind,
        doc,
    }
}

use Kind::*;

/// Every parameter this library knows, with its Postfix 3.8.5 default.
pub static PARAMS: &[ParamDef] = &[
    // --- library-wide (tls_*) ---
    p("tls_high_cipherlist", "aNULL:-aNULL:HIGH:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:@STRENGTH", NonEmpty, "OpenSSL cipher list of the `high` grade."),
    p("tls_medium_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:+RC4:@STRENGTH", NonEmpty, "OpenSSL cipher list of the `medium` grade (from Postfix 3.8 on also of `low` and `export`)."),
    p("tls_null_cipherlist", "eNULL:!kDH:!kECDH:!aDSS:!MD5:!aNULL", NonEmpty, "OpenSSL cipher list of the `null` grade."),
    p("tls_low_cipherlist", "", Text, "OpenSSL cipher list of the `low` grade in Postfix 3.7; ignored from 3.8 on (grade `low` uses the medium list)."),
    p("tls_export_cipherlist", "", Text, "OpenSSL cipher list of the `export` grade in Postfix 3.7; ignored from 3.8 on (grade `export` uses the medium list)."),
    p("tls_eecdh_auto_curves", "X25519 X448 prime256v1 secp521r1 secp384r1", Text, "Elliptic-curve key-exchange groups, in order of preference (from Postfix 3.10 on any TLS group names, also `:`-separated)."),
    p("tls_ffdhe_auto_groups", "ffdhe2048 ffdhe3072", Text, "Finite-field (FFDHE) groups appended after the EC curves (Postfix 3.8 and later; 3.7 has EC curves only)."),
    p("tls_eecdh_strong_curve", "prime256v1", NonEmpty, "Read but unused since Postfix 3.6 (may be empty from 3.7.13, 3.8.8, 3.9.2, 3.10.0 on)."),
    p("tls_eecdh_ultra_curve", "secp384r1", NonEmpty, "Read but unused since Postfix 3.6 (may be empty from 3.7.13, 3.8.8, 3.9.2, 3.10.0 on)."),
    p("tls_preempt_cipherlist", "no", Bool, "Server: prefer the server's cipher and group order."),
    p("tls_disable_workarounds", "", Text, "OpenSSL bug work-arounds to turn off (names or 0x hex)."),
    p("tls_ssl_options", "", Text, "Extra OpenSSL options to turn on (names or 0x hex)."),
    p("tls_append_default_CA", "no", Bool, "Also trust the system CA store when a CAfile or CApath is set."),
    p("tls_session_ticket_cipher", "aes-256-cbc", Text, "Cipher that encrypts server session tickets; empty disables tickets."),
    p("tls_server_sni_maps", "", Text, "Server: SNI name to key and chain files."),
    p("tls_legacy_public_key_fingerprints", "no", Bool, "Public-key fingerprints over the bare key bits (pre-2.9.6 compatibility); ignored from Postfix 3.9 on."),
    p("tls_fast_shutdown_enable", "yes", Bool, "Send close_notify without waiting for the peer's."),
    p("tls_wildcard_matches_multiple_labels", "yes", Bool, "Read but unused (OpenSSL matches names)."),
    p("tls_dane_digests", "sha512 sha256", NonEmpty, "DANE TLSA matching types, most preferred first: `sha256` is type 1, `sha512` type 2, `name=N` a digest for type N (3-254), `=N` disables N; types not listed are unusable. Client contexts; Postfix's warnings for bad entries."),
    p("tls_daemon_random_bytes", "32", Int, "Bytes of entropy a daemon seeds from (kept for compatibility)."),
    p("tls_config_file", "default", ConfigFile, "OpenSSL configuration file: `default` (OpenSSL's, errors ignored), `none` (no file at all) or an absolute path (strict). Applied once per process, before anything else uses OpenSSL."),
    p("tls_config_name", "", Text, "Application name: its section of the OpenSSL configuration file is applied (with `default`, `openssl_conf` when the file has none)."),
    // --- server (smtpd_*) ---
    p("smtpd_use_tls", "no", Bool, "Obsolete: offer STARTTLS (level `may`) when smtpd_tls_security_level is empty."),
    p("smtpd_enforce_tls", "no", Bool, "Obsolete: require TLS (level `encrypt`) when smtpd_tls_security_level is empty."),
    p("smtpd_tls_security_level", "", ServerLevel, "Server TLS level: `none`, `may` or `encrypt`."),
    p("smtpd_tls_protocols", ">=TLSv1", Protocols, "Server protocols when TLS is optional."),
    p("smtpd_tls_mandatory_protocols", ">=TLSv1", Protocols, "Server protocols when TLS is mandatory."),
    p("smtpd_tls_ciphers", "medium", Grade, "Server cipher grade when TLS is optional."),
    p("smtpd_tls_mandatory_ciphers", "medium", Grade, "Server cipher grade when TLS is mandatory."),
    p("smtpd_tls_exclude_ciphers", "", Exclusions, "Ciphers the server always excludes."),
    p("smtpd_tls_mandatory_exclude_ciphers", "", Exclusions, "Ciphers the server also excludes when TLS is mandatory."),
    p("smtpd_tls_eecdh_grade", "auto", NonEmpty, "Ignored since Postfix 3.6 (always `auto`)."),
    p("smtpd_tls_dh1024_param_file", "", Text, "DH parameters for TLS 1.2 DHE ciphers: empty or `auto` for OpenSSL's choice, or a PEM file of `DH PARAMETERS` (read as Postfix 3.7 reads it with OpenSSL 3: X9.42 parameters are refused, with Postfix's warnings, and OpenSSL's choice is used)."),
    p("smtpd_tls_dh512_param_file", "", Text, "Ignored since Postfix 3.6."),
    p("smtpd_tls_chain_files", "", Text, "PEM files with key then certificate chain, per algorithm."),
    p("smtpd_tls_cert_file", "", Text, "RSA certificate file (`none`: no certificate at all)."),
    p("smtpd_tls_key_file", "$smtpd_tls_cert_file", Text, "RSA private key file."),
    p("smtpd_tls_eccert_file", "", Text, "ECDSA certificate file."),
    p("smtpd_tls_eckey_file", "$smtpd_tls_eccert_file", Text, "ECDSA private key file."),
    p("smtpd_tls_dcert_file", "", Text, "DSA certificate file (obsolete)."),
    p("smtpd_tls_dkey_file", "$smtpd_tls_dcert_file", Text, "DSA private key file (obsolete)."),
    p("smtpd_tls_CAfile", "", Text, "CA certificates that verify client certificates."),
    p("smtpd_tls_CApath", "", Text, "Directory of hashed CA certificates that verify client certificates."),
    p("smtpd_tls_ask_ccert", "no", Bool, "Ask the client for a certificate."),
    p("smtpd_tls_req_ccert", "no", Bool, "Require a trusted client certificate (only with mandatory TLS)."),
    p("smtpd_tls_ccert_verifydepth", "9", Int, "Maximum client certificate chain depth."),
    p("smtpd_tls_loglevel", "0", Text, "Server TLS logging: 0 to 4 or keywords."),
    p("smtpd_tls_received_header", "no", Bool, "Add the TLS comment to the Received: header."),
    p("smtpd_tls_fingerprint_digest", "sha256", Digest, "Digest of client certificate fingerprints."),
    p("smtpd_tls_session_cache_database", "", Text, "tlsmgr session cache (not used by this library)."),
    p("smtpd_tls_session_cache_timeout", "3600s", Time, "Server session lifetime; 0 disables resumption."),
    p("smtpd_tls_always_issue_session_ids", "yes", Bool, "Issue session ids even without a session cache."),
    p("smtpd_starttls_timeout", "${stress?{10}:{300}}s", Time, "Server handshake timeout."),
    p("smtpd_timeout", "${stress?{10}:{300}}s", Time, "Server read/write timeout (default for session I/O)."),
    p("smtpd_tls_enable_rpk", "no", Bool, "Ask clients for an RFC 7250 raw public key instead of a certificate (Postfix 3.9 and later, OpenSSL 3.2 or later; the server always sends one to a client that asks)."),
    p("smtpd_tls_wrappermode", "no", Bool, "TLS from the first byte (SMTPS, port 465); implies mandatory TLS."),
    // --- client (smtp_*, each also known as lmtp_*) ---
    p("smtp_use_tls", "no", Bool, "Obsolete: use TLS when offered (level `may`) when smtp_tls_security_level is empty."),
    p("smtp_enforce_tls", "no", Bool, "Obsolete: require TLS when smtp_tls_security_level is empty."),
    p("smtp_tls_enforce_peername", "yes", Bool, "Obsolete: with smtp_enforce_tls, verify the server name."),
    p("smtp_tls_security_level", "", ClientLevel, "Client TLS level: none may encrypt dane dane-only fingerprint verify secure."),
    p("smtp_tls_protocols", ">=TLSv1", Protocols, "Client protocols at level `may`."),
    p("smtp_tls_mandatory_protocols", ">=TLSv1", Protocols, "Client protocols above level `may`."),
    p("smtp_tls_ciphers", "medium", Grade, "Client cipher grade at level `may`."),
    p("smtp_tls_mandatory_ciphers", "medium", Grade, "Client cipher grade above level `may`."),
    p("smtp_tls_exclude_ciphers", "", Exclusions, "Ciphers the client always excludes."),
    p("smtp_tls_mandatory_exclude_ciphers", "", Exclusions, "Ciphers the client also excludes above level `may`."),
    p("smtp_tls_fingerprint_digest", "sha256", Digest, "Digest of server certificate fingerprints."),
    p("smtp_tls_fingerprint_cert_match", "", Text, "Fingerprints accepted at level `fingerprint`."),
    p("smtp_tls_verify_cert_match", "hostname", Text, "Names accepted at level `verify`."),
    p("smtp_tls_secure_cert_match", "nexthop, dot-nexthop", Text, "Names accepted at level `secure`."),
    p("smtp_tls_servername", "", Text, "SNI name to send: empty, `hostname`, `nexthop` or a name."),
    p("smtp_tls_chain_files", "", Text, "Client key and certificate chain files."),
    p("smtp_tls_cert_file", "", Text, "Client RSA certificate file."),
    p("smtp_tls_key_file", "$smtp_tls_cert_file", Text, "Client RSA private key file."),
    p("smtp_tls_eccert_file", "", Text, "Client ECDSA certificate file."),
    p("smtp_tls_eckey_file", "$smtp_tls_eccert_file", Text, "Client ECDSA private key file."),
    p("smtp_tls_dcert_file", "", Text, "Client DSA certificate file (obsolete)."),
    p("smtp_tls_dkey_file", "$smtp_tls_dcert_file", Text, "Client DSA private key file (obsolete)."),
    p("smtp_tls_CAfile", "", Text, "CA certificates that verify server certificates."),
    p("smtp_tls_CApath", "", Text, "Directory of hashed CA certificates that verify server certificates."),
    p("smtp_tls_trust_anchor_file", "", Text, "Trust anchors for levels verify and secure."),
    p("smtp_tls_scert_verifydepth", "9", Int, "Maximum server certificate chain depth."),
    p("smtp_tls_loglevel", "0", Text, "Client TLS logging: 0 to 4 or keywords."),
    p("smtp_tls_session_cache_database", "", Text, "tlsmgr session cache (not used by this library)."),
    p("smtp_tls_session_cache_timeout", "3600s", Time, "Client session cache lifetime."),
    p("smtp_starttls_timeout", "300s", Time, "Client handshake timeout."),
    p("smtp_data_xfer_timeout", "180s", Time, "Client read/write timeout (default for session I/O)."),
    p("smtp_tls_enable_rpk", "no", Bool, "Ask servers for an RFC 7250 raw public key instead of a certificate at levels may, encrypt and fingerprint (Postfix 3.9 and later, OpenSSL 3.2 or later; fingerprints must then be public-key ones)."),
    p("smtp_tls_wrappermode", "no", Bool, "Client: TLS from the first byte (SMTPS, port 465) instead of STARTTLS."),
    p("smtp_tlsrpt_skip_reused_handshakes", "no", Bool, "Client: no TLSRPT result for a resumed session (Postfix 3.10+; 3.10's default is `yes`; 3.11 takes `yes` when it is not set and compatibility_level is below 3.11)."),
    // --- others ---
    p("stress", "", Text, "Set by Postfix's master under stress; used in timeout defaults."),
    p("compatibility_level", "0", Text, "Postfix's compatibility level; Postfix 3.11's `smtp_tls_security_level` default depends on it."),
    p("mtatls_postfix_release", "3.8.5", Release, "The Postfix release whose log text and defaults are emulated: `x.y.z`, or `x.y` for that series' newest known release; 3.7 to 3.11 (docs/releases.md; mtatls only)."),
    p("mtatls_strict", "no", Bool, "Turn every warn-and-continue case into an error (mtatls only)."),
    p("mtatls_release_buffers", "yes", Bool, "Free a session's read and write buffers while it is idle (OpenSSL's SSL_MODE_RELEASE_BUFFERS; mtatls only)."),
    p("mtatls_read_ahead", "yes", Bool, "Once the handshake has completed, read as much as the socket holds (several TLS records per system call); `no`: one record at a time, so that peeking at the socket shows pipelined input, as Postfix's own TLS layer does (mtatls only)."),
];

/// Postfix parameters whose names look like TLS parameters (see
/// [`looks_like_tls`]) but that Postfix's daemons read themselves, not its
/// TLS library (policy lookups, SASL, DNS, connection reuse, tlsmgr's
/// PRNG, postscreen, anvil): a main.cf may set them, mtatls has nothing to
/// do with them, so they are ignored without a warning. Client names are
/// listed with the `smtp_` prefix (their `lmtp_` twins count too); every
/// `tlsproxy_*` parameter is tlsproxy(8)'s. Postfix 3.7 to 3.11.
pub static POSTFIX_DAEMON_TLS_PARAMS: &[&str] = &[
    "smtp_sasl_tls_security_options",
    "smtp_sasl_tls_verified_security_options",
    "smtp_tls_block_early_mail_reply",
    "smtp_tls_connection_reuse",
    "smtp_tls_dane_insecure_mx_policy",
    "smtp_tls_enforce_sts_mx_patterns",
    "smtp_tls_force_insecure_host_tlsa_lookup",
    "smtp_tls_note_starttls_offer",
    "smtp_tls_per_site",
    "smtp_tls_policy_maps",
    "smtp_tls_wrappermode",
    "smtp_log_tls_feature_status",
    "smtpd_client_new_tls_session_rate_limit",
    "smtpd_sasl_tls_security_options",
    "smtpd_tls_auth_only",
    "postscreen_tls_security_level",
    "tls_random_bytes",
    "tls_random_exchange_name",
    "tls_random_prng_update_period",
    "tls_random_reseed_period",
    "tls_random_source",
    "tls_required_enable",
];

/// Whether `name` is a syntactically valid parameter name: not empty, no
/// white space, no `=` and no control characters (Postfix's main.cf takes
/// any other text as a name). `Err`: the message, naming the name.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '=' || c.is_control())
    {
        Err(format!("bad parameter name: \"{}\"", name.escape_debug()))
    } else {
        Ok(())
    }
}

/// Whether a name this library does not know looks like a TLS parameter
/// (`tls_*`, `*_tls_*`, `*_starttls_*`) or one of mtatls's own
/// (`mtatls_*`), and is not one of [`POSTFIX_DAEMON_TLS_PARAMS`]: such a
/// name set in a configuration is worth a warning (a misspelling, or a
/// TLS setting of a newer Postfix that mtatls does not implement).
pub fn looks_like_tls(name: &str) -> bool {
    let tls_like = name.starts_with("tls_")
        || name.contains("_tls_")
        || name.contains("_starttls_")
        || name.starts_with("mtatls_");
    let daemon = name.starts_with("tlsproxy_")
        || POSTFIX_DAEMON_TLS_PARAMS.contains(&name)
        || name.strip_prefix("lmtp_").is_some_and(|rest| {
            POSTFIX_DAEMON_TLS_PARAMS.contains(&format!("smtp_{rest}").as_str())
        });
    tls_like && !daemon
}

/// The known parameter `name` (including the `lmtp_` twins of client
/// parameters), with its default adjusted to the name's prefix.
pub fn lookup(name: &str) -> Option<ParamDef> {
    if let Some(def) = PARAMS.iter().find(|d| d.name == name) {
        return Some(*def);
    }
    let rest = name.strip_prefix("lmtp_")?;
    let twin = PARAMS
        .iter()
        .find(|d| d.name.strip_prefix("smtp_") == Some(rest))?;
    Some(ParamDef {
        name: twin.name,
        default: lmtp_default(twin.default),
        kind: twin.kind,
        doc: twin.doc,
    })
}

/// Defaults of `lmtp_` twins refer to `lmtp_` parameters (and LMTP has
/// no `dot-nexthop` secure match).
fn lmtp_default(default: &'static str) -> &'static str {
    match default {
        "$smtp_tls_cert_file" => "$lmtp_tls_cert_file",
        "$smtp_tls_eccert_file" => "$lmtp_tls_eccert_file",
        "$smtp_tls_dcert_file" => "$lmtp_tls_dcert_file",
        // lmtp_tls_secure_cert_match (postconf -d of every release).
        "nexthop, dot-nexthop" => "nexthop",
        other => other,
    }
}

/// Split a Postfix list on commas and white space, dropping empty tokens.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

/// Split a Postfix list that also allows `:` as a separator.
pub fn split_list_colon(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c == ':' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

/// Parse a Postfix boolean.
pub fn parse_bool(name: &str, value: &str) -> Result<bool> {
    if value.eq_ignore_ascii_case("yes") || value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("no") || value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(Error::new(
            ErrorKind::InvalidValue,
            format!("bad boolean configuration: {name} = {value}"),
        ))
    }
}

/// Parse a Postfix non-negative integer.
pub fn parse_int(name: &str, value: &str) -> Result<u64> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new(
            ErrorKind::InvalidValue,
            format!("bad numerical configuration: {name} = {value}"),
        ));
    }
    v.parse::<u64>().map_err(|_| {
        Error::new(
            ErrorKind::InvalidValue,
            format!("numerical configuration out of range: {name} = {value}"),
        )
    })
}

/// Largest time value, in seconds (Postfix keeps times in a C `int`).
pub const MAX_TIME_SECONDS: u64 = i32::MAX as u64;

/// Parse a Postfix time value into seconds (`300s`, `5m`, `1h`, `2d`, `1w`,
/// `10`); values above [`MAX_TIME_SECONDS`] are refused, as Postfix does.
pub fn parse_time(name: &str, value: &str) -> Result<u64> {
    let v = value.trim();
    let bad = || {
        Error::new(
            ErrorKind::InvalidValue,
            format!("parameter {name}: bad time value or unit: {value}"),
        )
    };
    let digits = v.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(bad());
    }
    let (num, unit) = v.split_at(digits);
    // Only digits: a parse failure is an overflow.
    let n: Option<u64> = num.parse().ok();
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(bad()),
    };
    match n.and_then(|n| n.checked_mul(mult)) {
        Some(secs) if secs <= MAX_TIME_SECONDS => Ok(secs),
        _ => Err(Error::new(
            ErrorKind::InvalidValue,
            format!(
                "parameter {name}: time value out of range: {value} (at most {MAX_TIME_SECONDS}s)"
            ),
        )),
    }
}

/// Check `value` against the kind of parameter `name`. Only errors (what
/// Postfix refuses) are reported here; warnings come when a context is built.
pub fn validate(name: &str, kind: Kind, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::new(
            ErrorKind::InvalidValue,
            format!("{name}: value contains a NUL character"),
        ));
    }
    match kind {
        Text => Ok(()),
        NonEmpty => {
            if value.is_empty() {
                Err(Error::new(
                    ErrorKind::InvalidValue,
                    format!("bad string length 0 < 1: {name} = "),
                ))
            } else {
                Ok(())
            }
        }
        Bool => parse_bool(name, value).map(drop),
        Int => parse_int(name, value).map(drop),
        Time => parse_time(name, value).map(drop),
        Grade => grades::parse_grade(value).map(drop).ok_or_else(|| {
            Error::invalid(name, value, format!("invalid cipher grade: \"{value}\""))
        }),
        Protocols => grades::parse_protocols(value)
            .map(drop)
            .map_err(|why| Error::invalid(name, value, why)),
        Exclusions => {
            grades::check_exclusions(value).map_err(|why| Error::invalid(name, value, why))
        }
        ServerLevel => crate::config::level::parse_server_level(value)
            .map(drop)
            .map_err(|why| Error::invalid(name, value, why)),
        ClientLevel if value.is_empty() => Ok(()),
        ClientLevel => crate::config::level::Level::parse_client(value)
            .map(drop)
            .map_err(|why| Error::invalid(name, value, why)),
        // Whether OpenSSL knows the name is checked when a context is
        // built, as Postfix does: asking OpenSSL now would initialise it
        // before `tls_config_file` is applied.
        Digest => {
            if value.is_empty() {
                Err(Error::invalid(
                    name,
                    value,
                    format!("Digest algorithm \"{value}\" not found"),
                ))
            } else {
                Ok(())
            }
        }
        Release => crate::config::release::Release::parse(value).map(drop),
        ConfigFile => {
            if value == "default" || value == "none" || value.starts_with('/') {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::InvalidValue,
                    format!(
                        "non-default {name} = {value} is not an absolute pathname, disabling TLS support"
                    ),
                ))
            }
        }
    }
}

/// Most nested `$name` references followed before giving up (loops).
const MAX_EXPANSION_DEPTH: usize = 100;

/// Longest value `$name` expansion may produce.
const MAX_EXPANDED_LEN: usize = 1 << 20;

/// Most bytes one `get` may produce in all, intermediate expansions
/// included: memory stays bounded whatever the references.
const MAX_EXPANSION_WORK: usize = 4 * MAX_EXPANDED_LEN;

/// The state of one top-level expansion: what is already expanded (so a
/// chain of `$a$a` references stays linear, not exponential) and how many
/// bytes it has produced so far.
#[derive(Default)]
struct Expansion {
    memo: HashMap<String, String>,
    spent: usize,
}

impl Expansion {
    /// Append `piece` to `out` (the value being built for `owner`),
    /// enforcing both limits before anything is allocated.
    fn push(&mut self, owner: &str, out: &mut String, piece: &str) -> Result<()> {
        if out.len() + piece.len() > MAX_EXPANDED_LEN {
            return Err(too_long(owner));
        }
        self.spent += piece.len();
        if self.spent > MAX_EXPANSION_WORK {
            return Err(Error::new(
                ErrorKind::InvalidValue,
                format!("{owner}: expansion produces more than {MAX_EXPANSION_WORK} bytes in all"),
            ));
        }
        out.push_str(piece);
        Ok(())
    }
}

fn too_long(name: &str) -> Error {
    Error::new(
        ErrorKind::InvalidValue,
        format!("{name}: expanded value longer than {MAX_EXPANDED_LEN} bytes"),
    )
}

/// A set of Postfix parameter values: the explicit ones; defaults are
/// those of the Postfix release `mtatls_postfix_release` names (the
/// [`PARAMS`] table's, Postfix 3.8.5's, unless that release changed them).
/// Values only: what a host plugs in (logging, session store, SNI
/// selector) is a `Hooks` of the context builder.
#[derive(Debug, Clone, Default)]
pub struct Params {
    values: HashMap<String, String>,
    /// The release `mtatls_postfix_release` names (default 3.8.5).
    release: Release,
}

impl Params {
    /// Empty parameters: every known parameter has its Postfix default.
    pub fn new() -> Self {
        Params::default()
    }

    /// The Postfix release whose behaviour and defaults are emulated
    /// (`mtatls_postfix_release`).
    pub fn release(&self) -> Release {
        self.release
    }

    /// The parameter `name` as the selected release knows it: [`lookup`],
    /// but `None` for one that release does not have (Postfix 3.9's
    /// `*_tls_enable_rpk` under 3.7 and 3.8: an unknown name there).
    pub fn known(&self, name: &str) -> Option<ParamDef> {
        lookup(name).filter(|_| self.release.knows_param(name))
    }

    /// How a value of parameter `name` is checked in the selected release.
    fn kind_of(&self, name: &str, def: &ParamDef) -> Kind {
        match self.release.requires_value(name) {
            Some(true) => NonEmpty,
            Some(false) if def.kind == NonEmpty => Text,
            _ => def.kind,
        }
    }

    /// Set a parameter. The rule for names is the same as for a main.cf
    /// ([`Params::load_str`]): any valid name ([`check_name`]) is kept
    /// (for `$name` expansion); one this library does not know that looks
    /// like a TLS parameter ([`looks_like_tls`]) gets one warning, "unused
    /// parameter: NAME=VALUE", when a context is built (an error under
    /// `mtatls_strict = yes`); other unknown names are ignored. An invalid
    /// name (`ErrorKind::UnknownParameter`) and a value Postfix refuses for
    /// a known parameter are errors naming the parameter and the value. A
    /// value that refers to other parameters (`$name`) is checked when a
    /// context is built.
    /// `mtatls_postfix_release` takes effect at once: later defaults and
    /// checks are those of that release.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        check_name(name).map_err(|m| Error::new(ErrorKind::UnknownParameter, m))?;
        let value = value.trim();
        if name == RELEASE_PARAM {
            self.release = Release::parse(value)?;
        } else if !value.contains('$') {
            let kind = self
                .known(name)
                .map_or(Kind::Text, |def| self.kind_of(name, &def));
            validate(name, kind, value)?;
        }
        self.values.insert(name.to_string(), value.to_string());
        Ok(())
    }

    /// Read main.cf text as Postfix does: `name = value` lines, `#`
    /// comment lines, blank lines, continuation lines that start with white
    /// space; later lines win. Names follow the rule of [`Params::set`]:
    /// unknown names are kept (for `$name` expansion), those that look
    /// like TLS parameters get one "unused parameter" warning when a
    /// context is built, the others are ignored, so a whole main.cf of
    /// real Postfix can be read; an invalid name is an error
    /// (`ErrorKind::ConfigFile`, with the line). `origin` names the source
    /// in error messages.
    pub fn load_str(&mut self, text: &str, origin: &str) -> Result<()> {
        let mut entries: Vec<(usize, String)> = Vec::new();
        for (idx, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if line.starts_with(|c: char| c.is_ascii_whitespace()) {
                match entries.last_mut() {
                    Some((_, logical)) => logical.push_str(line),
                    None => {
                        return Err(Error::new(
                            ErrorKind::ConfigFile,
                            format!(
                                "{origin}, line {}: text before the first parameter: \"{}\"",
                                idx + 1,
                                trimmed
                            ),
                        ))
                    }
                }
                continue;
            }
            entries.push((idx + 1, line.to_string()));
        }
        let mut parsed = Vec::with_capacity(entries.len());
        for (lineno, logical) in entries {
            let Some((name, value)) = logical.split_once('=') else {
                return Err(Error::new(
                    ErrorKind::ConfigFile,
                    format!(
                        "{origin}, line {lineno}: missing '=' after parameter name: \"{}\"",
                        logical.trim()
                    ),
                ));
            };
            let name = name.trim();
            if let Err(why) = check_name(name) {
                return Err(Error::new(
                    ErrorKind::ConfigFile,
                    format!("{origin}, line {lineno}: {why}"),
                ));
            }
            parsed.push((lineno, name.to_string(), value.trim().to_string()));
        }
        // The release first (its last line wins): it decides how the other
        // values are checked.
        if let Some((lineno, _, value)) = parsed.iter().rev().find(|(_, n, _)| n == RELEASE_PARAM) {
            self.release = Release::parse(value).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!("{origin}, line {lineno}: {}", e.message()),
                )
            })?;
        }
        for (lineno, name, value) in parsed {
            if !value.contains('$') && name != RELEASE_PARAM {
                let kind = self
                    .known(&name)
                    .map_or(Kind::Text, |def| self.kind_of(&name, &def));
                validate(&name, kind, &value).map_err(|e| {
                    Error::new(
                        e.kind(),
                        format!("{origin}, line {lineno}: {}", e.message()),
                    )
                })?;
            }
            self.values.insert(name, value);
        }
        Ok(())
    }

    /// Read a main.cf file (see [`Params::load_str`]).
    pub fn load_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::ConfigFile,
                format!(
                    "open {}: {}",
                    path.display(),
                    crate::text::os_error_text(&e)
                ),
            )
        })?;
        let text = String::from_utf8_lossy(&text);
        self.load_str(&text, &path.display().to_string())
    }

    /// The names set (or loaded) that this library does not know but that
    /// look like TLS parameters ([`looks_like_tls`]), with their
    /// unexpanded values, sorted by name: those a context for role
    /// `prefix` warns about (a server context leaves the `smtp_` and
    /// `lmtp_` ones to client contexts, a client context the `smtpd_`
    /// ones).
    pub fn unused_tls_names(&self, prefix: &str) -> Vec<(String, String)> {
        let other_role: &[&str] = if prefix == "smtpd" {
            &["smtp_", "lmtp_"]
        } else {
            &["smtpd_"]
        };
        let mut out: Vec<(String, String)> = self
            .values
            .iter()
            .filter(|(n, _)| self.known(n).is_none() && looks_like_tls(n))
            .filter(|(n, _)| !other_role.iter().any(|p| n.starts_with(p)))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        out.sort();
        out
    }

    /// The unexpanded value: explicit, else the selected release's
    /// default; `None` if unknown and not set.
    pub fn raw(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(v) => Some(v.as_str()),
            None => self.default_value(name),
        }
    }

    /// The selected release's default of a known parameter (unexpanded).
    pub fn default_value(&self, name: &str) -> Option<&'static str> {
        let def = self.known(name)?;
        Some(self.release.default_of(name).unwrap_or(def.default))
    }

    /// Whether `compatibility_level` is below `major.minor` (a malformed
    /// level counts as below, as Postfix's lowest).
    pub fn compatibility_level_below(&self, major: u64, minor: u64) -> Result<bool> {
        let level = self.get("compatibility_level")?;
        Ok(compat_level(level.trim()).is_none_or(|l| l < (major, minor, 0)))
    }

    /// Whether `name` was given a value explicitly (set or loaded).
    pub fn is_explicit(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The value of a parameter with `$name` references expanded: a known
    /// one (its default when not set) validated for its kind, or an
    /// unknown one that was set. `ErrorKind::UnknownParameter` for a name
    /// this library does not know that was never set.
    pub fn get(&self, name: &str) -> Result<String> {
        let kind = match self.known(name) {
            Some(def) => self.kind_of(name, &def),
            None if self.values.contains_key(name) => Kind::Text,
            None => {
                return Err(Error::new(
                    ErrorKind::UnknownParameter,
                    format!("unknown parameter: {name}"),
                ))
            }
        };
        let raw = self.raw(name).unwrap_or("");
        let value = self.expand(name, raw, 0, &mut Expansion::default())?;
        validate(name, kind, &value)?;
        Ok(value)
    }

    /// A boolean parameter.
    pub fn get_bool(&self, name: &str) -> Result<bool> {
        parse_bool(name, &self.get(name)?)
    }

    /// An integer parameter.
    pub fn get_int(&self, name: &str) -> Result<u64> {
        parse_int(name, &self.get(name)?)
    }

    /// A time parameter, in seconds.
    pub fn get_time(&self, name: &str) -> Result<u64> {
        parse_time(name, &self.get(name)?)
    }

    /// Whether `mtatls_strict = yes`.
    pub fn strict(&self) -> Result<bool> {
        self.get_bool("mtatls_strict")
    }

    /// Expand `$name`, `${name}`, `$(name)`, `${name?text}`,
    /// `${name:text}`, `${name?{text}:{text}}` and `$$` in `value`.
    fn expand(&self, owner: &str, value: &str, depth: usize, ex: &mut Expansion) -> Result<String> {
        if depth > MAX_EXPANSION_DEPTH {
            return Err(Error::new(
                ErrorKind::InvalidValue,
                format!("{owner}: unreasonable macro call nesting: \"{value}\""),
            ));
        }
        if !value.contains('$') {
            return Ok(value.to_string());
        }
        let bad =
            |why: &str| Error::new(ErrorKind::InvalidValue, format!("{owner} = {value}: {why}"));
        let mut out = String::with_capacity(value.len().min(MAX_EXPANDED_LEN));
        let mut rest = value;
        while let Some(pos) = rest.find('$') {
            ex.push(owner, &mut out, &rest[..pos])?;
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                ex.push(owner, &mut out, "$")?;
                rest = tail;
                continue;
            }
            let (close, body_start) = match after.chars().next() {
                Some('{') => ('}', 1),
                Some('(') => (')', 1),
                _ => {
                    let len = after
                        .bytes()
                        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                        .count();
                    if len == 0 {
                        return Err(bad("'$' not followed by a parameter name"));
                    }
                    let piece = self.lookup_expanded(&after[..len], depth, ex)?;
                    ex.push(owner, &mut out, &piece)?;
                    rest = &after[len..];
                    continue;
                }
            };
            let end = matching_close(after, close).ok_or_else(|| bad("unbalanced '{' or '('"))?;
            let body = &after[body_start..end];
            rest = &after[end + 1..];
            let (current, op) = if body.trim_start().starts_with('{') {
                // `${{text} OP {text} ? {a} : {b}}`: a comparison stands
                // for a non-empty (true) or empty (false) value.
                let (truth, op) = self.relational(owner, body.trim_start(), depth, ex)?;
                (if truth { "1" } else { "" }.to_string(), op.trim_start())
            } else {
                let name_len = body
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                if name_len == 0 {
                    return Err(bad("missing parameter name in '${...}'"));
                }
                let (name, op) = body.split_at(name_len);
                (self.lookup_expanded(name, depth, ex)?, op)
            };
            let chosen = match op.chars().next() {
                None => {
                    ex.push(owner, &mut out, &current)?;
                    continue;
                }
                Some('?') => {
                    let text = &op[1..];
                    match split_braced_alternatives(text) {
                        Some((yes, no)) => {
                            if current.is_empty() {
                                no
                            } else {
                                yes
                            }
                        }
                        None if current.is_empty() => "",
                        None => strip_braces(text),
                    }
                }
                Some(':') => {
                    if current.is_empty() {
                        strip_braces(&op[1..])
                    } else {
                        ""
                    }
                }
                Some(_) => return Err(bad("unsupported operator in '${...}'")),
            };
            let piece = self.expand(owner, chosen, depth + 1, ex)?;
            ex.push(owner, &mut out, &piece)?;
        }
        ex.push(owner, &mut out, rest)?;
        Ok(out)
    }

    /// Evaluate `{left} OP {right}` at the start of `text` (both sides
    /// expanded; OP one of `== != < <= >= >`, numeric when both sides are
    /// digits, with the suffix `level` comparing compatibility levels);
    /// returns the truth and the text after the right operand.
    fn relational<'t>(
        &self,
        owner: &str,
        text: &'t str,
        depth: usize,
        ex: &mut Expansion,
    ) -> Result<(bool, &'t str)> {
        let bad = |why: String| Error::new(ErrorKind::InvalidValue, format!("{owner}: {why}"));
        let operand = |t: &'t str| -> Result<(&'t str, &'t str)> {
            let t = t.trim_start();
            if !t.starts_with('{') {
                return Err(bad(format!("\"{{expression}}\" expected at: \"{t}\"")));
            }
            let end = matching_close(t, '}').ok_or_else(|| bad("unbalanced '{'".into()))?;
            Ok((&t[1..end], &t[end + 1..]))
        };
        let (left, after) = operand(text)?;
        let after = after.trim_start();
        let op_len = after
            .bytes()
            .take_while(|b| b"<>!=?+-*/~&|%".contains(b))
            .count();
        let (op, after) = after.split_at(op_len);
        let suffix_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let (suffix, after) = after.split_at(suffix_len);
        if !["==", "!=", "<", "<=", ">=", ">"].contains(&op) {
            return Err(bad(format!(
                "\"==\" or \"!=\" or \"<\" or \"<=\" or \">=\" or \">\" expected at: \"...{{{left}}}>>>{op}{suffix}\""
            )));
        }
        if !suffix.is_empty() && suffix != "level" {
            return Err(bad(format!(
                "bad operator suffix at: \"...{op}>>>{suffix}\""
            )));
        }
        let (right, after) = operand(after)?;
        let left = self.expand(owner, left, depth + 1, ex)?;
        let right = self.expand(owner, right, depth + 1, ex)?;
        let ordering = if suffix == "level" {
            let level = |v: &str| {
                compat_level(v)
                    .ok_or_else(|| bad(format!("malformed compatibility level syntax: \"{v}\"")))
            };
            level(&left)?.cmp(&level(&right)?)
        } else {
            let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
            match (digits(&left), digits(&right)) {
                (true, true) => {
                    let n = |v: &str| {
                        v.parse::<u128>()
                            .map_err(|_| bad(format!("bad number: {v}")))
                    };
                    n(&left)?.cmp(&n(&right)?)
                }
                _ => left.cmp(&right),
            }
        };
        use std::cmp::Ordering::*;
        let truth = match op {
            "==" => ordering == Equal,
            "!=" => ordering != Equal,
            "<" => ordering == Less,
            "<=" => ordering != Greater,
            ">=" => ordering != Less,
            _ => ordering == Greater,
        };
        Ok((truth, after))
    }

    /// The expansion of parameter `name`, computed once per top-level
    /// `get` (a chain of `$a$a` references stays linear, not exponential).
    fn lookup_expanded(&self, name: &str, depth: usize, ex: &mut Expansion) -> Result<String> {
        if let Some(v) = ex.memo.get(name) {
            return Ok(v.clone());
        }
        let v = match self.raw(name) {
            Some(raw) => self.expand(name, raw, depth + 1, ex)?,
            None => String::new(),
        };
        ex.memo.insert(name.to_string(), v.clone());
        Ok(v)
    }
}

/// A Postfix compatibility level `major[.minor[.patch]]` as comparable
/// numbers; `None` when malformed.
fn compat_level(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.');
    let mut number = |limit: u64| -> Option<Option<u64>> {
        match parts.next() {
            None => Some(None),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u64>().ok().filter(|n| *n <= limit).map(Some)
            }
            Some(_) => None,
        }
    };
    let major = number(u64::from(u32::MAX))??;
    let minor = number(0x3ff)?.unwrap_or(0);
    let patch = number(0x3ff)?.unwrap_or(0);
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// Index in `s` (which starts with the opening bracket) of its matching close.
fn matching_close(s: &str, close: char) -> Option<usize> {
    let open = s.chars().next()?;
    let mut level = 0usize;
    for (i, c) in s.char_indices() {
        if c == open {
            level += 1;
        } else if c == close {
            level -= 1;
            if level == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// `{yes}:{no}` → (`yes`, `no`).
fn split_braced_alternatives(text: &str) -> Option<(&str, &str)> {
    let text = text.trim();
    if !text.starts_with('{') {
        return None;
    }
    let end = matching_close(text, '}')?;
    let yes = &text[1..end];
    let rest = text[end + 1..].trim_start().strip_prefix(':')?.trim_start();
    if !rest.starts_with('{') {
        return None;
    }
    let end2 = matching_close(rest, '}')?;
    if !rest[end2 + 1..].trim().is_empty() {
        return None;
    }
    Some((yes, &rest[1..end2]))
}

fn strip_braces(text: &str) -> &str {
    let t = text.trim();
    if t.starts_with('{') && matching_close(t, '}') == Some(t.len() - 1) {
        &t[1..t.len() - 1]
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_lmtp_twins() {
        let p = Params::new();
        assert_eq!(p.get("smtpd_tls_ciphers").unwrap(), "medium");
        assert_eq!(p.get("smtpd_starttls_timeout").unwrap(), "300s");
        assert_eq!(p.get_time("smtpd_starttls_timeout").unwrap(), 300);
        assert_eq!(p.get("lmtp_tls_loglevel").unwrap(), "0");
        assert_eq!(
            lookup("lmtp_tls_key_file").unwrap().default,
            "$lmtp_tls_cert_file"
        );
        assert!(lookup("lmtp_nonsense").is_none());
        assert!(lookup("smtpd_tls_loglevl").is_none());
    }

    #[test]
    fn rpk_parameters_exist_from_3_9_on() {
        for name in [
            "smtp_tls_enable_rpk",
            "lmtp_tls_enable_rpk",
            "smtpd_tls_enable_rpk",
        ] {
            for release in ["3.7.11", "3.8.5", "3.8.20"] {
                let mut p = Params::new();
                p.set("mtatls_postfix_release", release).unwrap();
                assert!(p.known(name).is_none(), "{release} {name}");
                assert!(p.raw(name).is_none(), "{release} {name}");
                assert_eq!(p.get(name).unwrap_err().kind(), ErrorKind::UnknownParameter);
                // Set anyway: an unknown TLS-looking name (warned about).
                p.set(name, "maybe").unwrap();
                let prefix = if name.starts_with("smtpd_") {
                    "smtpd"
                } else {
                    "smtp"
                };
                assert_eq!(
                    p.unused_tls_names(prefix),
                    vec![(name.to_string(), "maybe".to_string())]
                );
            }
            for release in ["3.9.0", "3.10.13", "3.11.6"] {
                let mut p = Params::new();
                p.set("mtatls_postfix_release", release).unwrap();
                assert_eq!(p.raw(name), Some("no"), "{release} {name}");
                assert!(!p.get_bool(name).unwrap());
                let e = p.set(name, "maybe").unwrap_err();
                assert_eq!(
                    e.message(),
                    format!("bad boolean configuration: {name} = maybe")
                );
            }
        }
    }

    #[test]
    fn release_selects_defaults_and_checks() {
        let mut p = Params::new();
        assert_eq!(p.release().to_string(), "3.8.5");
        assert_eq!(p.get("mtatls_postfix_release").unwrap(), "3.8.5");
        assert!(p.get("tls_medium_cipherlist").unwrap().contains("!SEED"));
        assert_eq!(p.get("tls_low_cipherlist").unwrap(), "");
        // An empty strong curve is refused by 3.8.5, allowed by 3.8.8.
        let e = p.set("tls_eecdh_strong_curve", "").unwrap_err();
        assert_eq!(
            e.message(),
            "bad string length 0 < 1: tls_eecdh_strong_curve = "
        );
        p.set("mtatls_postfix_release", "3.7.11").unwrap();
        assert_eq!(p.release(), Release::new(3, 7, 11));
        assert_eq!(
            p.get("tls_medium_cipherlist").unwrap(),
            "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH"
        );
        assert_eq!(p.get("tls_ffdhe_auto_groups").unwrap(), "");
        let e = p.set("tls_eecdh_auto_curves", "").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        assert_eq!(
            e.message(),
            "bad string length 0 < 1: tls_eecdh_auto_curves = "
        );
        // Set under one release, refused when a context reads it under another.
        p.set("mtatls_postfix_release", "3.8.8").unwrap();
        p.set("tls_eecdh_strong_curve", "").unwrap();
        p.set("tls_eecdh_auto_curves", "").unwrap();
        p.set("mtatls_postfix_release", "3.7.12").unwrap();
        assert!(p.get("tls_eecdh_auto_curves").is_err());
        p.set("mtatls_postfix_release", "3.7.13").unwrap();
        assert_eq!(p.get("tls_eecdh_auto_curves").unwrap(), "");
        // `$name` expansion sees the release's defaults.
        p.load_str("smtpd_tls_CAfile = ${tls_high_cipherlist}\n", "t")
            .unwrap();
        assert_eq!(
            p.get("smtpd_tls_CAfile").unwrap(),
            "aNULL:-aNULL:HIGH:@STRENGTH"
        );
        // A refused release names the parameter and the value, and
        // changes nothing.
        let e = p.set("mtatls_postfix_release", "3.6.4").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        assert!(
            e.message().starts_with("mtatls_postfix_release = 3.6.4: "),
            "{e}"
        );
        assert_eq!(p.release(), Release::new(3, 7, 13));
        // main.cf: the release's line decides the checks of every line.
        let mut p = Params::new();
        p.load_str(
            "tls_eecdh_auto_curves =\nmtatls_postfix_release = 3.8\n",
            "main.cf",
        )
        .unwrap();
        assert_eq!(p.release(), Release::new(3, 8, 20));
        let e = Params::new()
            .load_str(
                "tls_eecdh_auto_curves =\nmtatls_postfix_release = 3.7.11\n",
                "main.cf",
            )
            .unwrap_err();
        assert_eq!(
            e.message(),
            "main.cf, line 1: bad string length 0 < 1: tls_eecdh_auto_curves = "
        );
        let e = Params::new()
            .load_str("mtatls_postfix_release = 3.x\n", "main.cf")
            .unwrap_err();
        assert!(
            e.message()
                .starts_with("main.cf, line 1: mtatls_postfix_release = 3.x: "),
            "{e}"
        );
    }

    #[test]
    fn compatibility_level_expressions() {
        let mut p = Params::new();
        p.set("mtatls_postfix_release", "3.11.6").unwrap();
        assert_eq!(
            p.raw("smtp_tls_security_level").unwrap(),
            "${{$compatibility_level} <level {3.11} ? {} : {may}}"
        );
        assert_eq!(p.get("smtp_tls_security_level").unwrap(), "");
        assert_eq!(p.get("lmtp_tls_security_level").unwrap(), "");
        for (level, want) in [
            ("3.10", ""),
            ("3.11", "may"),
            ("3.11.1", "may"),
            ("4", "may"),
            ("2", ""),
        ] {
            p.set("compatibility_level", level).unwrap();
            assert_eq!(p.get("smtp_tls_security_level").unwrap(), want, "{level}");
        }
        p.set("mtatls_postfix_release", "3.10.13").unwrap();
        assert_eq!(p.get("smtp_tls_security_level").unwrap(), "");
        // The other comparisons.
        let mut p = Params::new();
        p.load_str(
            "a = 10\nb = 9\nc = x\n\
             smtpd_tls_CAfile = ${{$a} > {$b} ? {num}:{str}} ${{$c} == {x} ? {eq}} ${{$c} != {x} ? {ne} : {same}}\n\
             smtpd_tls_CApath = ${{$a} <= {$a}?{le}} ${{abc} < {abd} ? {lt}} ${{1} >= {2} ? {ge} : {}}\n",
            "t",
        )
        .unwrap();
        assert_eq!(p.get("smtpd_tls_CAfile").unwrap(), "num eq same");
        assert_eq!(p.get("smtpd_tls_CApath").unwrap(), "le lt ");
        for bad in [
            "${{a} =~ {b} ? {x}}",
            "${{a} ==bogus {b} ? {x}}",
            "${{a} == b ? {x}}",
            "${{x.y} <level {3} ? {x}}",
        ] {
            p.load_str(&format!("smtpd_tls_CAfile = {bad}\n"), "t")
                .unwrap();
            let e = p.get("smtpd_tls_CAfile").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidValue, "{bad}");
        }
    }

    #[test]
    fn unknown_names_are_kept_and_invalid_names_are_errors_naming_them() {
        let mut p = Params::new();
        p.set("smtpd_tls_cert_fil", "x").unwrap();
        p.set("myhostname", "mx.example").unwrap();
        p.set("smtpd_tls_auth_only", "yes").unwrap();
        p.set("lmtp_tls_policy_maps", "hash:/x").unwrap();
        p.set("lmtp_tls_bogus", "1").unwrap();
        p.set("mtatls_bogus", "1").unwrap();
        p.set("tlsproxy_tls_loglevel", "1").unwrap();
        assert_eq!(p.get("smtpd_tls_cert_fil").unwrap(), "x");
        assert_eq!(
            p.get("never_set").unwrap_err().kind(),
            ErrorKind::UnknownParameter
        );
        let server = |v: Vec<(String, String)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(
            server(p.unused_tls_names("smtpd")),
            ["mtatls_bogus", "smtpd_tls_cert_fil"]
        );
        assert_eq!(
            server(p.unused_tls_names("lmtp")),
            ["lmtp_tls_bogus", "mtatls_bogus"]
        );
        for bad in ["", "smtpd tls", "a=b", "a\u{1}b"] {
            let e = p.set(bad, "x").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnknownParameter);
            assert_eq!(
                e.message(),
                format!("bad parameter name: \"{}\"", bad.escape_debug())
            );
        }
    }

    #[test]
    fn expansion_follows_postfix() {
        let mut p = Params::new();
        p.set("smtpd_tls_cert_file", "/etc/cert.pem").unwrap();
        assert_eq!(p.get("smtpd_tls_key_file").unwrap(), "/etc/cert.pem");
        p.set("stress", "yes").unwrap();
        assert_eq!(p.get_time("smtpd_starttls_timeout").unwrap(), 10);
        p.load_str(
            "d = /x\nsmtpd_tls_CAfile = ${d}/ca.pem\nsmtpd_tls_CApath = $(d)/dir $$d\n",
            "t",
        )
        .unwrap();
        assert_eq!(p.get("smtpd_tls_CAfile").unwrap(), "/x/ca.pem");
        assert_eq!(p.get("smtpd_tls_CApath").unwrap(), "/x/dir $d");
        p.load_str(
            "smtpd_tls_dcert_file = ${d?yes-text}${nothing?no}${nothing:empty}\n",
            "t",
        )
        .unwrap();
        assert_eq!(p.get("smtpd_tls_dcert_file").unwrap(), "yes-textempty");
        p.load_str(
            "smtpd_tls_eccert_file = ${d?{a}:{b}} ${nothing?{a}:{b}}\n",
            "t",
        )
        .unwrap();
        assert_eq!(p.get("smtpd_tls_eccert_file").unwrap(), "a b");
    }

    #[test]
    fn expansion_stays_linear_and_bounded() {
        let mut p = Params::new();
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("v{i} = $v{}$v{}\n", i + 1, i + 1));
        }
        text.push_str("v40 = x\nsmtpd_tls_CAfile = $v30\nsmtpd_tls_CApath = $v0\n");
        p.load_str(&text, "t").unwrap();
        let start = std::time::Instant::now();
        assert_eq!(p.get("smtpd_tls_CAfile").unwrap().len(), 1024);
        let e = p.get("smtpd_tls_CApath").unwrap_err();
        assert!(e.message().contains("expanded value longer than"), "{e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn expansion_cap_is_enforced_while_building() {
        // 400 references to a 1 MiB value: refused at the second one.
        let mut p = Params::new();
        let big = "x".repeat(MAX_EXPANDED_LEN - 10);
        let refs = "$big ".repeat(400);
        p.load_str(&format!("big = {big}\nsmtpd_tls_CAfile = {refs}\n"), "t")
            .unwrap();
        let e = p.get("smtpd_tls_CAfile").unwrap_err();
        assert!(e.message().contains("expanded value longer than"), "{e}");
        // Many distinct names, each expanding to 1 MiB and each used only
        // as a condition: the total work is bounded too.
        let mut text = format!("big = {big}\n");
        let mut top = String::new();
        for k in 0..3000 {
            text.push_str(&format!("u{k} = $big\n"));
            top.push_str(&format!("${{u{k}?y}}"));
        }
        text.push_str(&format!("smtpd_tls_CApath = {top}\n"));
        let mut p = Params::new();
        p.load_str(&text, "t").unwrap();
        let e = p.get("smtpd_tls_CApath").unwrap_err();
        assert!(e.message().contains("more than"), "{e}");
    }

    #[test]
    fn nul_characters_are_refused() {
        let mut p = Params::new();
        let e = p.set("smtp_tls_exclude_ciphers", "RC4\0aNULL").unwrap_err();
        assert_eq!(
            e.message(),
            "smtp_tls_exclude_ciphers: value contains a NUL character"
        );
        assert!(p.load_str("tls_high_cipherlist = HIGH\0\n", "t").is_err());
    }

    #[test]
    fn expansion_loops_are_errors() {
        let mut p = Params::new();
        p.load_str("a = $b\nb = $a\nsmtpd_tls_CAfile = $a\n", "t")
            .unwrap();
        let e = p.get("smtpd_tls_CAfile").unwrap_err();
        assert!(
            e.message().contains("unreasonable macro call nesting"),
            "{e}"
        );
    }

    #[test]
    fn main_cf_syntax() {
        let mut p = Params::new();
        p.load_str(
            "# comment\n\nsmtpd_tls_exclude_ciphers = RC4,\n    aNULL\n  # indented comment\nsmtpd_tls_loglevel=2\nsmtpd_tls_loglevel = 1\n",
            "main.cf",
        )
        .unwrap();
        assert_eq!(p.get("smtpd_tls_exclude_ciphers").unwrap(), "RC4,    aNULL");
        assert_eq!(p.get("smtpd_tls_loglevel").unwrap(), "1");
        let e = p
            .load_str("good = 1\nthis line has no equals\n", "main.cf")
            .unwrap_err();
        assert_eq!(
            e.message(),
            "main.cf, line 2: missing '=' after parameter name: \"this line has no equals\""
        );
        let e = p
            .load_str("smtpd_tls_ciphers = bogus\n", "/etc/main.cf")
            .unwrap_err();
        assert_eq!(
            e.message(),
            "/etc/main.cf, line 1: smtpd_tls_ciphers = bogus: invalid cipher grade: \"bogus\""
        );
    }

    #[test]
    fn scalar_parsers() {
        assert_eq!(parse_time("t", "5m").unwrap(), 300);
        assert_eq!(parse_time("t", "2").unwrap(), 2);
        assert_eq!(
            parse_time("smtpd_starttls_timeout", "10x")
                .unwrap_err()
                .message(),
            "parameter smtpd_starttls_timeout: bad time value or unit: 10x"
        );
        assert!(parse_time("t", "").is_err());
        assert!(parse_time("t", "-1").is_err());
        assert!(parse_time("t", "99999999999999999999w").is_err());
        assert_eq!(parse_time("t", "2147483647").unwrap(), 2147483647);
        assert_eq!(
            parse_time("smtp_starttls_timeout", "18446744073709551615s")
                .unwrap_err()
                .message(),
            "parameter smtp_starttls_timeout: time value out of range: 18446744073709551615s (at most 2147483647s)"
        );
        assert!(parse_time("t", "2147483648").is_err());
        assert!(parse_time("t", "3551w").is_err());
        assert!(parse_bool("b", "YES").unwrap());
        assert!(!parse_bool("b", "false").unwrap());
        assert_eq!(
            parse_bool("smtpd_tls_received_header", "maybe")
                .unwrap_err()
                .message(),
            "bad boolean configuration: smtpd_tls_received_header = maybe"
        );
        assert_eq!(
            parse_int("smtpd_tls_ccert_verifydepth", "x")
                .unwrap_err()
                .message(),
            "bad numerical configuration: smtpd_tls_ccert_verifydepth = x"
        );
    }
}
