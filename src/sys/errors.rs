//! OpenSSL's per-thread error queue: drained into values (never left for
//! the host), in the form Postfix logs and in a short form for messages.

use std::ffi::CStr;

use super::ossl;

/// `ERR_error_string_n` as a Rust string: `error:XXXXXXXX:lib::reason`.
pub fn error_string(code: libc::c_ulong) -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: buf is writable for its whole length; OpenSSL NUL-terminates.
    unsafe {
        ossl::ERR_error_string_n(code, buf.as_mut_ptr(), buf.len());
        CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    }
}

/// `SSL_R_PROTOCOL_IS_SHUTDOWN`: a write after the peer's close_notify.
pub const SSL_R_PROTOCOL_IS_SHUTDOWN: libc::c_int = ossl::SSL_R_PROTOCOL_IS_SHUTDOWN;

/// Whether the oldest queued error says the peer closed without
/// close_notify (`SSL_R_UNEXPECTED_EOF_WHILE_READING`); the queue is kept.
pub fn unexpected_eof_pending() -> bool {
    // SAFETY: peeking the thread's queue has no side effects.
    let code = unsafe { ossl::ERR_peek_error() };
    openssl_sys::ERR_GET_REASON(code) == ossl::SSL_R_UNEXPECTED_EOF_WHILE_READING
}

/// One entry of OpenSSL's error queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpensslError {
    /// The reason code (`ERR_GET_REASON`).
    pub reason: libc::c_int,
    /// `error:XXXXXXXX:lib::reason` (`ERR_error_string_n`).
    pub text: String,
    /// Source file that raised it.
    pub file: String,
    /// Source line.
    pub line: i32,
    /// Extra text the raiser attached, if any.
    pub data: Option<String>,
}

impl OpensslError {
    /// `TEXT:FILE:LINE:[DATA:]`, the form Postfix logs after
    /// `TLS library problem: `.
    pub fn postfix_format(&self) -> String {
        match &self.data {
            Some(d) => format!("{}:{}:{}:{}:", self.text, self.file, self.line, d),
            None => format!("{}:{}:{}:", self.text, self.file, self.line),
        }
    }

    /// The text, with the attached data when there is some.
    pub fn short(&self) -> String {
        match &self.data {
            Some(d) if !d.is_empty() => format!("{} ({d})", self.text),
            _ => self.text.clone(),
        }
    }
}

/// Empty the calling thread's OpenSSL error queue without reading it
/// (where its entries would be thrown away: no text is made for them).
pub fn clear_openssl_errors() {
    // SAFETY: ERR_clear_error only touches this thread's error queue.
    unsafe { openssl_sys::ERR_clear_error() }
}

/// Empty the calling thread's OpenSSL error queue, oldest entry first.
pub fn drain_openssl_errors() -> Vec<OpensslError> {
    let mut out = Vec::new();
    // Bounded: the queue holds at most ERR_NUM_ERRORS (16) entries.
    for _ in 0..64 {
        let mut file: *const libc::c_char = std::ptr::null();
        let mut line: libc::c_int = 0;
        let mut data: *const libc::c_char = std::ptr::null();
        let mut flags: libc::c_int = 0;
        // SAFETY: all out-pointers are valid for writes; OpenSSL returns
        // pointers to static or thread-owned strings valid until the next call.
        let code = unsafe {
            openssl_sys::ERR_get_error_all(
                &mut file,
                &mut line,
                std::ptr::null_mut(),
                &mut data,
                &mut flags,
            )
        };
        if code == 0 {
            break;
        }
        out.push(OpensslError {
            reason: openssl_sys::ERR_GET_REASON(code),
            text: error_string(code),
            file: cstr_or_empty(file),
            line,
            data: (flags & openssl_sys::ERR_TXT_STRING != 0).then(|| cstr_or_empty(data)),
        });
    }
    out
}

/// The OpenSSL reasons in the queue, short form, joined by "; " (queue emptied).
pub fn openssl_reasons() -> String {
    drain_openssl_errors()
        .iter()
        .map(OpensslError::short)
        .collect::<Vec<_>>()
        .join("; ")
}

fn cstr_or_empty(p: *const libc::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: non-NULL pointers from OpenSSL are NUL-terminated strings.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_queue_is_drained_in_postfix_format() {
        // Provoke a real OpenSSL error: an impossible cipher list.
        let mut b = openssl::ssl::SslContext::builder(openssl::ssl::SslMethod::tls()).unwrap();
        assert!(b.set_cipher_list("NO-SUCH-CIPHER").is_err());
        // The crate consumed its own copy; make a fresh one.
        // SAFETY: b wraps a live SSL_CTX; the string is NUL-terminated.
        let r =
            unsafe { openssl_sys::SSL_CTX_set_cipher_list(b.as_ptr(), c"NO-SUCH-CIPHER".as_ptr()) };
        assert_eq!(r, 0);
        let lines: Vec<String> = drain_openssl_errors()
            .iter()
            .map(|e| e.postfix_format())
            .collect();
        assert!(!lines.is_empty());
        assert!(
            lines[0].starts_with("error:0A0000B9:SSL routines::no cipher match:"),
            "{lines:?}"
        );
        assert!(lines[0].ends_with(':'));
        assert!(drain_openssl_errors().is_empty());
    }
}
