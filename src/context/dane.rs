//! `tls_dane_digests`: which digest each DANE TLSA matching type means,
//! and which is preferred, as Postfix's `tls_dane_digest_init` configures
//! OpenSSL (`SSL_CTX_dane_mtype_set`) for a client context.
//!
//! The value is a list of `name` or `name=number` entries, most preferred
//! first. Matching types 1 (`sha256`) and 2 (`sha512`) are enabled only
//! when listed; other numbers (3 to 254) name any digest OpenSSL knows;
//! `=number` with an empty name disables that type. The private type 255
//! is the fingerprint digest (fingerprint security level). Entries Postfix
//! rejects get its warnings and are skipped.

use openssl::hash::MessageDigest;

use crate::config::params::split_list;

/// The parameter's name in messages.
const PARAM: &str = "tls_dane_digests";

/// One matching type: its number, digest (`None`: disabled) and the
/// ordinal OpenSSL prefers by (higher first).
#[derive(Clone)]
pub struct MatchingType {
    /// The TLSA matching type (1 to 255).
    pub mtype: u8,
    /// Its digest; `None` disables the type.
    pub digest: Option<MessageDigest>,
    /// Preference: a TLSA RRset's records of the highest-ordinal type
    /// present are the ones used.
    pub ordinal: u8,
}

/// Parse a matching-type number as Postfix does (`strtoul`, base 10):
/// `None` for anything that is not a number below 255.
fn parse_number(text: &str) -> Option<u64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    // strtoul negates: any "-N" other than "-0" wraps to a huge value.
    let n = if negative && n != 0 { u64::MAX } else { n };
    (n < 255).then_some(n)
}

/// The matching types of `value` (`tls_dane_digests`) with `fingerprint`
/// (`*_tls_fingerprint_digest`) as type 255, in the order Postfix sets
/// them (1 up to the highest number used, then 255). Postfix's warnings go
/// to `warn`.
pub fn matching_types(
    value: &str,
    fingerprint: MessageDigest,
    warn: &mut dyn FnMut(String),
) -> Vec<MatchingType> {
    let mut digest: Vec<Option<MessageDigest>> = vec![None; 256];
    let mut order = [0u8; 256];
    digest[255] = Some(fingerprint);
    let mut max_type: usize = 2;
    let mut count: u8 = 0;
    for entry in split_list(value) {
        let (name, code) = match entry.split_once('=') {
            Some((n, c)) => (n, Some(c)),
            None => (entry, None),
        };
        let mut number: Option<usize> = None;
        if let Some(code) = code.filter(|c| !c.is_empty()) {
            match parse_number(code) {
                None => {
                    warn(format!(
                        "Invalid matching type number in {PARAM}: {name}={code}"
                    ));
                    continue;
                }
                Some(0) => {
                    warn(format!(
                        "Reserved matching type number in {PARAM}: {name}={code}"
                    ));
                    continue;
                }
                Some(n) => number = Some(n as usize),
            }
        }
        if let Some(n) = number {
            max_type = max_type.max(n);
        }
        if name.is_empty() {
            // `=N`: type N disabled (it is unless enabled).
            if let Some(n) = number {
                digest[n] = None;
            }
            continue;
        }
        let (n, name) = match number {
            None if name.eq_ignore_ascii_case("sha256") => (1, "sha256"),
            None if name.eq_ignore_ascii_case("sha512") => (2, "sha512"),
            None => {
                warn(format!(
                    "{PARAM}: digest algorithm {name} needs an explicit number"
                ));
                continue;
            }
            Some(1) if !name.eq_ignore_ascii_case("sha256") => {
                warn(format!("{PARAM}: matching type 1 can only be sha256"));
                continue;
            }
            Some(1) => (1, "sha256"),
            Some(2) if !name.eq_ignore_ascii_case("sha512") => {
                warn(format!("{PARAM}: matching type 2 can only be sha512"));
                continue;
            }
            Some(2) => (2, "sha512"),
            Some(n) => (n, name),
        };
        if order[n] != 0 {
            warn(format!(
                "{PARAM}: matching type {n} specified more than once"
            ));
            continue;
        }
        count += 1;
        order[n] = count;
        digest[n] = MessageDigest::from_name(name);
        if digest[n].is_none() {
            crate::logging::clear_openssl_errors();
            warn(format!("{PARAM}: digest algorithm \"{name}\"({n}) unknown"));
        }
    }
    // OpenSSL prefers higher ordinals; the list gives the most preferred
    // first: the last listed gets 1, the one before 2, ...
    (1..=max_type)
        .chain(std::iter::once(255))
        .map(|m| MatchingType {
            mtype: m as u8,
            digest: digest[m],
            ordinal: count.wrapping_sub(order[m]).wrapping_add(1),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (matching type, digest name, ordinal).
    type Row = (u8, Option<&'static str>, u8);

    fn run(value: &str) -> (Vec<Row>, Vec<String>) {
        let mut warnings = Vec::new();
        let types = matching_types(value, MessageDigest::sha256(), &mut |w| warnings.push(w));
        let named = types
            .iter()
            .map(|t| {
                let d = t.digest.map(|d| {
                    if d.type_() == MessageDigest::sha256().type_() {
                        "sha256"
                    } else if d.type_() == MessageDigest::sha512().type_() {
                        "sha512"
                    } else {
                        "other"
                    }
                });
                (t.mtype, d, t.ordinal)
            })
            .collect();
        (named, warnings)
    }

    #[test]
    fn postfix_default_prefers_sha512() {
        let (t, w) = run("sha512 sha256");
        assert!(w.is_empty());
        assert_eq!(
            t,
            [
                (1, Some("sha256"), 1),
                (2, Some("sha512"), 2),
                (255, Some("sha256"), 3)
            ]
        );
    }

    #[test]
    fn unlisted_types_are_disabled_and_mistakes_warned() {
        let (t, _) = run("sha256");
        assert_eq!(t[1], (2, None, 2));
        let (t, w) = run("sha1 md5=1 sha256=0 sha256=255 x=y sha512=2 sha512 =3 sha384=4");
        assert_eq!(
            w,
            [
                "tls_dane_digests: digest algorithm sha1 needs an explicit number",
                "tls_dane_digests: matching type 1 can only be sha256",
                "Reserved matching type number in tls_dane_digests: sha256=0",
                "Invalid matching type number in tls_dane_digests: sha256=255",
                "Invalid matching type number in tls_dane_digests: x=y",
                "tls_dane_digests: matching type 2 specified more than once",
            ]
        );
        assert_eq!(t.len(), 5);
        assert_eq!(t[0].1, None);
        assert_eq!(t[1].1, Some("sha512"));
        assert_eq!(t[3].1, Some("other"));
    }
}
