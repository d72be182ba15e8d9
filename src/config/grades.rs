//! Cipher grades and exclusions, protocol lists (Postfix's syntax) and the
//! OpenSSL option names of `tls_disable_workarounds` / `tls_ssl_options`,
//! turned into OpenSSL settings.

use crate::config::params::{split_list, split_list_colon};

/// A Postfix cipher grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    /// `null`: authentication without encryption.
    Null,
    /// `export`: since Postfix 3.8 the same list as `medium`
    /// (3.7: `tls_export_cipherlist`).
    Export,
    /// `low`: since Postfix 3.8 the same list as `medium` (3.7:
    /// `tls_low_cipherlist`).
    Low,
    /// `medium` (the default).
    Medium,
    /// `high`.
    High,
}

impl Grade {
    /// Postfix's name of the grade.
    pub fn name(self) -> &'static str {
        match self {
            Grade::Null => "null",
            Grade::Export => "export",
            Grade::Low => "low",
            Grade::Medium => "medium",
            Grade::High => "high",
        }
    }

    /// The parameter holding the grade's base cipher list (Postfix 3.8
    /// and later: `low` and `export` use the medium list).
    pub fn base_list_param(self) -> &'static str {
        self.list_param(true)
    }

    /// The parameter holding the grade's base cipher list;
    /// `legacy_grades_use_medium` false: Postfix 3.7's own lists for `low`
    /// and `export`.
    pub fn list_param(self, legacy_grades_use_medium: bool) -> &'static str {
        match self {
            Grade::High => "tls_high_cipherlist",
            Grade::Null => "tls_null_cipherlist",
            Grade::Low if !legacy_grades_use_medium => "tls_low_cipherlist",
            Grade::Export if !legacy_grades_use_medium => "tls_export_cipherlist",
            Grade::Medium | Grade::Low | Grade::Export => "tls_medium_cipherlist",
        }
    }
}

/// Parse a grade name (case-insensitive).
pub fn parse_grade(value: &str) -> Option<Grade> {
    [
        Grade::Null,
        Grade::Export,
        Grade::Low,
        Grade::Medium,
        Grade::High,
    ]
    .into_iter()
    .find(|g| g.name().eq_ignore_ascii_case(value))
}

/// Check a cipher exclusion list: no token may start with `! + - @`.
pub fn check_exclusions(value: &str) -> Result<(), String> {
    for token in split_list_colon(value) {
        if token.starts_with(['!', '+', '-', '@']) {
            return Err(format!("invalid unary '!+-@' in cipher exclusion: {token}"));
        }
    }
    Ok(())
}

/// TLS protocol versions Postfix knows, lowest first, with their names.
const PROTOCOLS: &[(&str, u16)] = &[
    ("SSLv2", 0x0002),
    ("SSLv3", 0x0300),
    ("TLSv1", 0x0301),
    ("TLSv1.1", 0x0302),
    ("TLSv1.2", 0x0303),
    ("TLSv1.3", 0x0304),
];

/// The name of a wire protocol version (`TLSv1.2`).
pub fn protocol_name(version: u16) -> &'static str {
    PROTOCOLS
        .iter()
        .find(|(_, v)| *v == version)
        .map(|(n, _)| *n)
        .unwrap_or("unknown")
}

/// A parsed protocol list: excluded versions and optional bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProtocolRange {
    /// Bit `i` set: `PROTOCOLS[i]` is excluded.
    pub excluded: u32,
    /// `>=` bound (wire version), if any.
    pub floor: Option<u16>,
    /// `<=` bound (wire version), if any.
    pub ceiling: Option<u16>,
}

fn protocol_index(name: &str) -> Option<usize> {
    PROTOCOLS
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn parse_bound(text: &str) -> Option<Option<u16>> {
    if text.eq_ignore_ascii_case("None") {
        return Some(None);
    }
    if let Some(i) = protocol_index(text) {
        if i == 0 {
            return None; // SSLv2 is not a valid bound.
        }
        return Some(Some(PROTOCOLS[i].1));
    }
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if hex.is_empty() || hex.len() > 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(hex, 16).ok().map(Some)
}

/// Parse a protocol list (`>=TLSv1.2`, `!SSLv2, !SSLv3`, `TLSv1.2 TLSv1.3`,
/// both syntaxes mixed). Any unknown token makes the whole list invalid.
pub fn parse_protocols(value: &str) -> Result<ProtocolRange, String> {
    let invalid = || format!("Invalid TLS protocol list \"{value}\"");
    let mut range = ProtocolRange::default();
    let mut included = 0u32;
    for token in split_list_colon(value) {
        if let Some(v) = token.strip_prefix(">=") {
            range.floor = parse_bound(v).ok_or_else(invalid)?;
        } else if let Some(v) = token.strip_prefix("<=") {
            range.ceiling = parse_bound(v).ok_or_else(invalid)?;
        } else if let Some(name) = token.strip_prefix('!') {
            range.excluded |= 1 << protocol_index(name).ok_or_else(invalid)?;
        } else {
            included |= 1 << protocol_index(token).ok_or_else(invalid)?;
        }
    }
    if included != 0 {
        range.excluded |= !included & ((1 << PROTOCOLS.len()) - 1);
    }
    Ok(range)
}

impl ProtocolRange {
    /// The versions this range allows among those OpenSSL 3 can speak
    /// (SSLv3 and up), lowest first.
    pub fn allowed(&self) -> Vec<u16> {
        PROTOCOLS
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(i, (_, v))| {
                self.excluded & (1 << i) == 0
                    && self.floor.is_none_or(|f| *v >= f)
                    && self.ceiling.is_none_or(|c| *v <= c)
            })
            .map(|(_, (_, v))| *v)
            .collect()
    }
}

/// Names of `tls_disable_workarounds` and their `SSL_OP_*` bits (0 where
/// OpenSSL 3 made the work-around obsolete).
pub const WORKAROUNDS: &[(&str, u64)] = &[
    ("MICROSOFT_SESS_ID_BUG", 0),
    ("NETSCAPE_CHALLENGE_BUG", 0),
    ("LEGACY_SERVER_CONNECT", 1 << 2),
    ("NETSCAPE_REUSE_CIPHER_CHANGE_BUG", 0),
    ("CVE-2010-4180", 0),
    ("SSLREF2_REUSE_CERT_TYPE_BUG", 0),
    ("MICROSOFT_BIG_SSLV3_BUFFER", 0),
    ("MSIE_SSLV2_RSA_PADDING", 0),
    ("CVE-2005-2969", 0),
    ("SSLEAY_080_CLIENT_DH_BUG", 0),
    ("TLS_D5_BUG", 0),
    ("TLS_BLOCK_PADDING_BUG", 0),
    ("TLS_ROLLBACK_BUG", 1 << 23),
    ("DONT_INSERT_EMPTY_FRAGMENTS", 1 << 11),
    ("CRYPTOPRO_TLSEXT_BUG", 1 << 31),
    ("TLSEXT_PADDING", 1 << 4),
];

/// Names of `tls_ssl_options` and their `SSL_OP_*` bits.
pub const SSL_OPTIONS: &[(&str, u64)] = &[
    ("LEGACY_SERVER_CONNECT", 1 << 2),
    ("NO_TICKET", 1 << 14),
    ("NO_COMPRESSION", 1 << 17),
    ("NO_RENEGOTIATION", 1 << 30),
    ("NO_SESSION_RESUMPTION_ON_RENEGOTIATION", 1 << 16),
    ("PRIORITIZE_CHACHA", 1 << 21),
    ("ENABLE_MIDDLEBOX_COMPAT", 1 << 20),
];

/// Option bits Postfix manages itself: server preference, ignore
/// unexpected EOF, and every protocol-disable bit.
pub const MANAGED_BITS: u64 = (1 << 22) | (1 << 7) | (0x1f << 25);

pub fn parse_option_names(
    param: &str,
    value: &str,
    table: &[(&str, u64)],
    warn: &mut dyn FnMut(String),
) -> u64 {
    let mut bits = 0u64;
    for token in split_list(value) {
        if let Some(hex) = token
            .strip_prefix("0x")
            .or_else(|| token.strip_prefix("0X"))
        {
            match u64::from_str_radix(hex, 16) {
                Ok(v) => bits |= v,
                Err(_) => warn(format!("{param}: bad hexadecimal value \"{token}\"")),
            }
            continue;
        }
        match table.iter().find(|(n, _)| n.eq_ignore_ascii_case(token)) {
            Some((_, b)) => bits |= b,
            None => warn(format!("unknown {param} value \"{token}\" in \"{value}\"")),
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lists_both_syntaxes() {
        let r = parse_protocols(">=TLSv1.2").unwrap();
        assert_eq!(r.allowed(), vec![0x0303, 0x0304]);
        let r = parse_protocols("!SSLv2, !SSLv3").unwrap();
        assert_eq!(r.allowed(), vec![0x0301, 0x0302, 0x0303, 0x0304]);
        let r = parse_protocols("TLSv1.2 TLSv1.3").unwrap();
        assert_eq!(r.allowed(), vec![0x0303, 0x0304]);
        let r = parse_protocols(">=TLSv1.2, <=TLSv1.2").unwrap();
        assert_eq!(r.allowed(), vec![0x0303]);
        let r = parse_protocols(">=0x0301:<=0303:!tlsv1.1").unwrap();
        assert_eq!(r.allowed(), vec![0x0301, 0x0303]);
        let r = parse_protocols(">=None,<=None").unwrap();
        assert_eq!(r.allowed().len(), 5);
        assert_eq!(parse_protocols("").unwrap().allowed().len(), 5);
        let r = parse_protocols(">=TLSv1.3 <=TLSv1.2").unwrap();
        assert!(r.allowed().is_empty());
        for bad in [
            "TLSv9",
            ">=TLSv9",
            "<=",
            ">= TLSv1",
            ">=0x12345",
            "!bogus",
            ">=SSLv2",
        ] {
            assert_eq!(
                parse_protocols(bad),
                Err(format!("Invalid TLS protocol list \"{bad}\"")),
                "{bad}"
            );
        }
    }
}
