//! Postfix TLS security levels: names, order, and what each requires.

use std::fmt;

/// A client security level, in Postfix's internal order (none < may <
/// encrypt < fingerprint < halfdane < dane < dane-only < verify < secure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Level {
    /// No TLS.
    None = 0,
    /// Opportunistic TLS.
    May = 1,
    /// Mandatory TLS, no authentication.
    Encrypt = 2,
    /// Certificate or public-key fingerprint match.
    Fingerprint = 3,
    /// DANE with an insecure MX lookup (output only).
    HalfDane = 4,
    /// Opportunistic DANE.
    Dane = 5,
    /// Mandatory DANE.
    DaneOnly = 6,
    /// PKI verification with `*_tls_verify_cert_match` names.
    Verify = 7,
    /// PKI verification with `*_tls_secure_cert_match` names.
    Secure = 8,
}

const NAMES: &[(&str, Level)] = &[
    ("none", Level::None),
    ("may", Level::May),
    ("encrypt", Level::Encrypt),
    ("fingerprint", Level::Fingerprint),
    ("halfdane", Level::HalfDane),
    ("dane", Level::Dane),
    ("dane-only", Level::DaneOnly),
    ("verify", Level::Verify),
    ("secure", Level::Secure),
];

impl Level {
    /// Postfix's name of the level.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, l)| *l == self)
            .map(|(n, _)| *n)
            .unwrap_or("none")
    }

    /// Parse a client level as `smtp_tls_security_level` does
    /// (case-insensitive; `halfdane` is output-only).
    pub fn parse_client(value: &str) -> Result<Level, String> {
        NAMES
            .iter()
            .find(|(n, l)| *l != Level::HalfDane && n.eq_ignore_ascii_case(value))
            .map(|(_, l)| *l)
            .ok_or_else(|| format!("Invalid TLS level \"{value}\""))
    }

    /// TLS is required (above `may`).
    pub fn required(self) -> bool {
        self > Level::May
    }

    /// The peer must be authenticated (above `encrypt`).
    pub fn must_match(self) -> bool {
        self > Level::Encrypt
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Result of parsing `smtpd_tls_security_level`: the level and, for the
/// client-only levels Postfix downgrades to `encrypt`, its warning.
pub fn parse_server_level(value: &str) -> Result<(Level, Option<String>), String> {
    let lower = value.to_ascii_lowercase();
    match lower.as_str() {
        "" | "none" => Ok((Level::None, None)),
        "may" => Ok((Level::May, None)),
        "encrypt" => Ok((Level::Encrypt, None)),
        "fingerprint" | "verify" | "secure" => Ok((
            Level::Encrypt,
            Some(format!(
                "smtpd_tls_security_level: unsupported TLS level \"{value}\", using \"encrypt\""
            )),
        )),
        _ => Err(format!("Invalid TLS level \"{value}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_levels() {
        assert_eq!(Level::parse_client("Secure"), Ok(Level::Secure));
        assert_eq!(Level::parse_client("dane-only"), Ok(Level::DaneOnly));
        assert!(Level::parse_client("halfdane").is_err());
        assert_eq!(
            Level::parse_client("bogus"),
            Err("Invalid TLS level \"bogus\"".into())
        );
        assert!(Level::Encrypt.required() && !Level::May.required());
        assert!(Level::Fingerprint.must_match() && !Level::Encrypt.must_match());
        assert_eq!(Level::DaneOnly.to_string(), "dane-only");
    }

    #[test]
    fn server_levels() {
        assert_eq!(parse_server_level("MAY"), Ok((Level::May, None)));
        let (l, w) = parse_server_level("verify").unwrap();
        assert_eq!(l, Level::Encrypt);
        assert_eq!(
            w.unwrap(),
            "smtpd_tls_security_level: unsupported TLS level \"verify\", using \"encrypt\""
        );
        assert_eq!(
            parse_server_level("x"),
            Err("Invalid TLS level \"x\"".into())
        );
    }
}
