//! Postfix's loglevel 3 and 4 packet dumps: every read and write on the
//! session's socket, as "read from BIO [BUF] (N bytes => M (0xM))" and a
//! hex and ASCII dump of the bytes, in the format Postfix logs (checked
//! against real Postfix output in tests/captures/3.7.11/). Level 3
//! (`ssl-handshake-packet-dump`) dumps the handshake only; level 4
//! (`ssl-session-packet-dump`) everything until the session ends.

use foreign_types::ForeignTypeRef;
use libc::{c_char, c_int, c_long, size_t};
use openssl::ssl::SslRef;
use openssl_sys::BIO;

use crate::exdata::SessionShared;
use crate::ossl;

const BIO_CB_READ: c_int = 0x02;
const BIO_CB_WRITE: c_int = 0x03;
const BIO_CB_RETURN: c_int = 0x80;

/// The dump lines of `data`: 16 bytes a line (`|` after the eighth), then
/// the printable ASCII; trailing spaces and NULs are not dumped but
/// counted in a last "OFFSET - <SPACES/NULLS>" line.
pub fn dump_lines(data: &[u8]) -> Vec<String> {
    let end = data
        .iter()
        .rposition(|b| *b != 0 && *b != b' ')
        .map_or(0, |i| i + 1);
    let mut lines = Vec::with_capacity(end / 16 + 2);
    for (n, chunk) in data[..end].chunks(16).enumerate() {
        let mut line = format!("{:04x}", n * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => {
                    line.push(if j == 8 { '|' } else { ' ' });
                    line.push_str(&format!("{b:02x}"));
                }
                None => line.push_str("   "),
            }
        }
        line.push_str("  ");
        for (j, b) in chunk.iter().enumerate() {
            if j == 8 {
                line.push(' ');
            }
            line.push(if (0x20..0x7f).contains(b) {
                *b as char
            } else {
                '.'
            });
        }
        lines.push(line);
    }
    if end < data.len() {
        lines.push(format!("{end:04x} - <SPACES/NULLS>"));
    }
    lines
}

/// The line before a dump: what was asked for and what came of it.
fn header(
    write: bool,
    bio: *const BIO,
    buf: *const c_char,
    len: usize,
    got: Option<usize>,
    ret: c_int,
) -> String {
    let op = if write { "write to" } else { "read from" };
    let outcome = match got {
        Some(n) => format!("{n} (0x{n:X})"),
        None => ret.to_string(),
    };
    format!(
        "{op} {:X} [{:X}] ({len} bytes => {outcome})",
        bio as usize, buf as usize
    )
}

/// OpenSSL's BIO callback: log each read and write when it returns. Only
/// those two operations touch the callback argument (the session's shared
/// data, alive while its `SSL` is); a BIO being freed is not looked at.
unsafe extern "C" fn bio_callback(
    bio: *mut BIO,
    oper: c_int,
    argp: *const c_char,
    len: size_t,
    _argi: c_int,
    _argl: c_long,
    ret: c_int,
    processed: *mut size_t,
) -> c_long {
    let write = oper == (BIO_CB_WRITE | BIO_CB_RETURN);
    if !write && oper != (BIO_CB_READ | BIO_CB_RETURN) {
        return ret as c_long;
    }
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the argument is the SessionShared the session attached,
        // kept alive by the session as long as its SSL and BIO exist.
        let Some(shared) =
            (unsafe { ossl::BIO_get_callback_arg(bio) as *const SessionShared }).as_ref()
        else {
            return;
        };
        let got = (ret > 0 && !processed.is_null()).then(|| unsafe { *processed });
        shared.logger.info(&header(write, bio, argp, len, got, ret));
        if let Some(n) = got.filter(|n| *n > 0 && !argp.is_null()) {
            // SAFETY: OpenSSL read into / wrote from argp n bytes.
            let data = unsafe { std::slice::from_raw_parts(argp.cast::<u8>(), n) };
            for line in dump_lines(data) {
                shared.logger.info(&line);
            }
        }
    });
    ret as c_long
}

/// Start dumping `ssl`'s reads and writes (its socket BIO) to `shared`'s
/// logger. `shared` must stay alive as long as `ssl`.
pub fn start(ssl: &SslRef, shared: &SessionShared) {
    // SAFETY: ssl is live; its read BIO (the socket BIO, also used for
    // writing) lives as long as ssl.
    unsafe {
        let bio = openssl_sys::SSL_get_rbio(ssl.as_ptr());
        if !bio.is_null() {
            ossl::BIO_set_callback_arg(bio, (shared as *const SessionShared).cast_mut().cast());
            ossl::BIO_set_callback_ex(bio, Some(bio_callback));
        }
    }
}

/// Stop dumping (loglevel 3: the handshake is over).
pub fn stop(ssl: &SslRef) {
    // SAFETY: ssl is live.
    unsafe {
        let bio = openssl_sys::SSL_get_rbio(ssl.as_ptr());
        if !bio.is_null() {
            ossl::BIO_set_callback_ex(bio, None);
            ossl::BIO_set_callback_arg(bio, std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_pad_the_hex_and_split_the_ascii() {
        assert_eq!(
            dump_lines(&[0x16, 0x03, 0x03, 0x00, 0x7a]),
            ["0000 16 03 03 00 7a                                   ....z"]
        );
        let ten = [0xff, 0x95, 0x96, 0x57, 0x6b, 0x96, 0x47, 0x8a, 0x6d, 0x54];
        assert_eq!(
            dump_lines(&ten),
            ["0000 ff 95 96 57 6b 96 47 8a|6d 54                    ...Wk.G. mT"]
        );
    }

    #[test]
    fn trailing_nuls_and_spaces_are_counted_not_dumped() {
        assert_eq!(
            dump_lines(&[0x16, 0x03, 0x01, 0x02, 0x00]),
            [
                "0000 16 03 01 02                                      ....",
                "0004 - <SPACES/NULLS>"
            ]
        );
        assert_eq!(dump_lines(&[0, 0]), ["0000 - <SPACES/NULLS>"]);
    }
}
