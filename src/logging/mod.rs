//! Logging: where lines go (a host callback or stderr), Postfix's TLS log
//! masks (`*_tls_loglevel`), and draining OpenSSL's error queue into
//! `TLS library problem:` lines. No global logger is ever installed.

use std::ffi::CStr;
use std::fmt;
use std::sync::Arc;

use crate::sys::ossl;

/// Severity of a log line, numbered as syslog(3) priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Severity {
    /// Postfix `msg_warn`: the host should prefix `warning: `.
    Warning = 4,
    /// Postfix `msg_info`.
    Info = 6,
}

/// A destination for log lines: called with the severity and one line
/// (no trailing newline, no process prefix).
pub type SinkFn = dyn Fn(Severity, &str) + Send + Sync;

/// A cheap, cloneable handle on the log destination. Without a sink, lines
/// go to stderr (errors writing them are ignored), warnings prefixed
/// with `warning: `.
#[derive(Clone, Default)]
pub struct Logger {
    sink: Option<Arc<SinkFn>>,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.sink.is_some() {
            "Logger(callback)"
        } else {
            "Logger(stderr)"
        })
    }
}

impl Logger {
    /// A logger that sends every line to `sink`.
    pub fn with_sink(sink: Arc<SinkFn>) -> Self {
        Logger { sink: Some(sink) }
    }

    /// Log one line at `severity`. The thread's errno is kept as it was:
    /// a line logged from inside an OpenSSL call must not change how the
    /// call's failure is read afterwards.
    pub fn log(&self, severity: Severity, line: &str) {
        let saved = crate::sys::wait::errno();
        match &self.sink {
            Some(sink) => sink(severity, line),
            None => {
                let prefix = if severity == Severity::Warning {
                    "warning: "
                } else {
                    ""
                };
                let text = format!("{prefix}{line}\n");
                crate::sys::wait::write_stderr(text.as_bytes());
            }
        }
        crate::sys::wait::set_errno(saved);
    }

    /// Log an informational line.
    pub fn info(&self, line: &str) {
        self.log(Severity::Info, line);
    }

    /// Log a warning line.
    pub fn warn(&self, line: &str) {
        self.log(Severity::Warning, line);
    }

    /// Log every entry of OpenSSL's error queue as Postfix does, emptying it.
    pub fn openssl_errors(&self) {
        for e in drain_openssl_errors() {
            self.warn(&format!("TLS library problem: {}", e.postfix_format()));
        }
    }
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
            text: ossl::error_string(code),
            file: cstr_or_empty(file),
            line,
            data: (flags & openssl_sys::ERR_TXT_STRING != 0).then(|| cstr_or_empty(data)),
        });
    }
    out
}

/// The entries of an error stack the `openssl` crate already took from
/// the queue, in the same form as [`drain_openssl_errors`].
pub fn from_error_stack(stack: &openssl::error::ErrorStack) -> Vec<OpensslError> {
    stack
        .errors()
        .iter()
        .map(|e| OpensslError {
            reason: openssl_sys::ERR_GET_REASON(e.code() as libc::c_ulong),
            text: ossl::error_string(e.code() as libc::c_ulong),
            file: e.file().to_string(),
            line: e.line() as i32,
            data: e.data().map(str::to_string),
        })
        .collect()
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

/// Collects Postfix's warn-and-continue cases while a context is built:
/// logged as warnings, or, under `mtatls_strict = yes`, the first one
/// becomes the build's error.
pub struct Diag<'a> {
    logger: &'a Logger,
    strict: bool,
    error: Option<crate::Error>,
}

impl<'a> Diag<'a> {
    /// A collector logging to `logger`; `strict` turns warnings into errors.
    pub fn new(logger: &'a Logger, strict: bool) -> Self {
        Diag {
            logger,
            strict,
            error: None,
        }
    }

    /// A Postfix warning.
    pub fn warn(&mut self, line: String) {
        if self.strict {
            if self.error.is_none() {
                self.error = Some(crate::Error::new(
                    crate::ErrorKind::Strict,
                    format!("{line} (an error because mtatls_strict = yes)"),
                ));
            }
        } else {
            self.logger.warn(&line);
        }
    }

    /// OpenSSL's queued errors, as `TLS library problem:` warnings.
    pub fn openssl_errors(&mut self) {
        self.library_problems(drain_openssl_errors());
    }

    /// These OpenSSL errors, as `TLS library problem:` warnings.
    pub fn library_problems(&mut self, errors: Vec<OpensslError>) {
        for e in errors {
            self.warn(format!("TLS library problem: {}", e.postfix_format()));
        }
    }

    /// The logger warnings go to.
    pub fn logger(&self) -> &Logger {
        self.logger
    }

    /// `Err` with the first warning under strict mode, else `Ok`.
    pub fn finish(self) -> crate::Result<()> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
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

    #[test]
    fn openssl_queue_is_drained_in_postfix_format() {
        // Provoke a real OpenSSL error: an impossible cipher list.
        let mut b = openssl::ssl::SslContext::builder(openssl::ssl::SslMethod::tls()).unwrap();
        assert!(b.set_cipher_list("NO-SUCH-CIPHER").is_err());
        // The crate consumed its own copy; make a fresh one.
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
