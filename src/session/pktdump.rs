//! Postfix's loglevel 3 and 4 packet dumps: every read and write on the
//! session's socket, as "read from BIO [BUF] (N bytes => M (0xM))" and a
//! hex and ASCII dump of the bytes, in the format Postfix logs (checked
//! against real Postfix output in tests/captures/3.7.11/). Level 3
//! (`ssl-handshake-packet-dump`) dumps the handshake only; level 4
//! (`ssl-session-packet-dump`) everything until the session ends.

use std::sync::Arc;

use openssl::ssl::SslRef;

use crate::context::exdata::SessionShared;
use crate::sys::bio::{self, BioEvent};

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
fn header(event: &BioEvent<'_>) -> String {
    let op = if event.write { "write to" } else { "read from" };
    let outcome = if event.result > 0 {
        format!("{n} (0x{n:X})", n = event.result)
    } else {
        event.result.to_string()
    };
    format!(
        "{op} {:X} [{:X}] ({} bytes => {outcome})",
        event.bio, event.buf, event.len
    )
}

/// Start dumping `ssl`'s reads and writes (its socket BIO) to `shared`'s
/// logger.
pub fn start(ssl: &SslRef, shared: &Arc<SessionShared>) {
    let shared = shared.clone();
    bio::observe(
        ssl,
        Some(Arc::new(move |event: &BioEvent<'_>| {
            shared.logger.info(&header(event));
            if !event.data.is_empty() {
                for line in dump_lines(event.data) {
                    shared.logger.info(&line);
                }
            }
        })),
    );
}

/// Stop dumping (loglevel 3: the handshake is over).
pub fn stop(ssl: &SslRef) {
    bio::observe(ssl, None);
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
