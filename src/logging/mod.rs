//! Logging: where lines go (a host callback or stderr), OpenSSL's error
//! queue as `TLS library problem:` lines, and the warn-or-fail collector
//! of context building. No global logger is ever installed.

use std::fmt;
use std::sync::Arc;

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

    /// A logger that hands every line to the `log` crate as a record of
    /// target `mtatls` (warnings at `Warn`, the rest at `Info`), for Rust
    /// hosts: whatever logger the host installed receives them. The library
    /// never installs one itself.
    pub fn to_log_crate() -> Self {
        Logger::with_sink(Arc::new(|severity: Severity, line: &str| {
            let level = match severity {
                Severity::Warning => log::Level::Warn,
                Severity::Info => log::Level::Info,
            };
            log::log!(target: "mtatls", level, "{line}");
        }))
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

pub use crate::sys::errors::{
    clear_openssl_errors, drain_openssl_errors, openssl_reasons, OpensslError,
};

/// Collects Postfix's warn-and-continue cases while a context is built:
/// logged as warnings, or, under `mtatls_strict = yes`, the first one
/// becomes the build's error.
pub struct Diag<'a> {
    logger: &'a Logger,
    strict: bool,
    error: Option<crate::error::Error>,
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
                self.error = Some(crate::error::Error::new(
                    crate::error::ErrorKind::Strict,
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

    /// `Err` with the first warning under strict mode, else `Ok`.
    pub fn finish(self) -> crate::error::Result<()> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
