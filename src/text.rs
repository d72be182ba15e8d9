//! Small text helpers every layer uses: hex in Postfix's forms, and the
//! text of an operating-system error without Rust's `(os error N)` tail.

/// Upper-case hex byte pairs joined by `:` (`2E:9C:...:4F`).
pub fn colon_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Upper-case hex without separators.
pub fn hex(bytes: &[u8]) -> String {
    colon_hex(bytes).replace(':', "")
}

/// Bytes of a hex string (either case, no separators); `None` when the
/// text is empty, odd in length or not hex.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Bytes of hex digit pairs optionally separated by single colons
/// (`2E:9C04`, as Postfix's `hex_decode` with colons allowed); `None` when
/// malformed or empty.
pub fn decode_hex_colons(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2);
    let mut i = 0;
    while i < b.len() {
        if i + 1 >= b.len() {
            return None;
        }
        let hi = (b[i] as char).to_digit(16)?;
        let lo = (b[i + 1] as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
        i += 2;
        if i < b.len() && b[i] == b':' {
            i += 1;
            if i == b.len() {
                return None;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// An I/O error's text as strerror(3) gives it (no `(os error N)`).
pub fn os_error_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(colon_hex(&[0x2e, 0x9c, 4]), "2E:9C:04");
        assert_eq!(hex(&[0x2e, 0x9c, 4]), "2E9C04");
        assert_eq!(decode_hex("2e9C04"), Some(vec![0x2e, 0x9c, 4]));
        for bad in ["", "2", "2G", "é1"] {
            assert_eq!(decode_hex(bad), None, "{bad}");
        }
        assert_eq!(decode_hex_colons("2e:9C04"), Some(vec![0x2e, 0x9c, 4]));
        for bad in ["", "2e:", ":2e", "2e::9c", "2"] {
            assert_eq!(decode_hex_colons(bad), None, "{bad}");
        }
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(os_error_text(&e), "No such file or directory");
    }
}
