//! `*_tls_loglevel` values: Postfix's numeric levels and keywords as a
//! mask of what to log.

/// Postfix TLS log mask bits (what `*_tls_loglevel` enables).
pub mod mask {
    /// One summary line per handshake.
    pub const SUMMARY: u32 = 1 << 0;
    /// Trust-chain errors.
    pub const UNTRUSTED: u32 = 1 << 1;
    /// Peer certificate summary line.
    pub const PEERCERT: u32 = 1 << 2;
    /// Certificate match lines.
    pub const CERTMATCH: u32 = 1 << 3;
    /// Verbose library lines.
    pub const VERBOSE: u32 = 1 << 4;
    /// Session cache lines.
    pub const CACHE: u32 = 1 << 5;
    /// OpenSSL state machine lines.
    pub const DEBUG: u32 = 1 << 6;
    /// Hex dump of handshake packets.
    pub const TLSPKTS: u32 = 1 << 7;
    /// Hex dump of all traffic.
    pub const ALLPKTS: u32 = 1 << 8;
    /// DANE lines.
    pub const DANE: u32 = 1 << 10;
    /// mtatls's own per-session forward-secrecy line (not in Postfix; from
    /// loglevel 3 on, or the `forward-secrecy` keyword).
    pub const FORWARD_SECRECY: u32 = 1 << 11;
}

const LEVEL2: u32 = mask::SUMMARY | mask::VERBOSE | mask::CACHE | mask::DEBUG;
const LEVEL3: u32 = LEVEL2 | mask::TLSPKTS | mask::FORWARD_SECRECY;
const LEVEL4: u32 = LEVEL3 | mask::ALLPKTS;

const LOG_KEYWORDS: &[(&str, u32)] = &[
    ("0", 0),
    ("none", 0),
    ("1", mask::SUMMARY),
    ("routine", mask::SUMMARY),
    ("2", LEVEL2),
    ("debug", LEVEL2),
    ("3", LEVEL3),
    ("ssl-expert", LEVEL3),
    ("4", LEVEL4),
    ("ssl-developer", LEVEL4),
    ("5", LEVEL4),
    ("6", LEVEL4),
    ("7", LEVEL4),
    ("8", LEVEL4),
    ("9", LEVEL4),
    ("summary", mask::SUMMARY),
    ("untrusted", mask::UNTRUSTED),
    ("peercert", mask::PEERCERT),
    ("certmatch", mask::CERTMATCH),
    ("verbose", mask::VERBOSE),
    ("cache", mask::CACHE),
    ("dane", mask::DANE),
    ("forward-secrecy", mask::FORWARD_SECRECY),
    ("ssl-debug", mask::DEBUG),
    ("ssl-handshake-packet-dump", mask::TLSPKTS),
    ("ssl-session-packet-dump", mask::TLSPKTS | mask::ALLPKTS),
];

/// Parse a `*_tls_loglevel` value into a mask. An unknown keyword yields
/// `Err(warning)` with Postfix's text; the caller then logs nothing (mask 0).
pub fn parse_log_mask(param: &str, value: &str) -> Result<u32, String> {
    let mut bits = 0;
    for word in crate::config::params::split_list(value) {
        match LOG_KEYWORDS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(word))
        {
            Some((_, b)) => bits |= b,
            None => return Err(format!("unknown {param} value \"{word}\" in \"{value}\"")),
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_masks_follow_postfix_levels() {
        assert_eq!(parse_log_mask("x", "0"), Ok(0));
        assert_eq!(parse_log_mask("x", "1"), Ok(mask::SUMMARY));
        assert_eq!(parse_log_mask("x", "routine"), Ok(mask::SUMMARY));
        assert_eq!(parse_log_mask("x", "2"), Ok(LEVEL2));
        assert_eq!(parse_log_mask("x", "9"), Ok(LEVEL4));
        assert_eq!(
            parse_log_mask("x", "Summary, peercert"),
            Ok(mask::SUMMARY | mask::PEERCERT)
        );
        assert_eq!(parse_log_mask("x", ""), Ok(0));
        assert_eq!(
            parse_log_mask("smtp_tls_loglevel", "1, loud"),
            Err("unknown smtp_tls_loglevel value \"loud\" in \"1, loud\"".into())
        );
    }
}
