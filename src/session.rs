//! One TLS session on a socket the caller owns and has already used for
//! plain SMTP: the STARTTLS handshake with a timeout, then read, write and
//! stop. The descriptor is switched to non-blocking mode while the session
//! exists, restored afterwards, and never closed.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use foreign_types::ForeignTypeRef;
use once_cell::sync::Lazy;
use openssl::ex_data::Index;
use openssl::ssl::{ErrorCode, Ssl, SslRef};

use crate::context::{Context, Role};
use crate::error::{Error, ErrorKind, Result};
use crate::level::Level;
use crate::log::{drain_openssl_errors, mask, Logger};
use crate::ossl;
use crate::summary::{self, Facts};
use crate::wait::{self, Deadline, Timeout, WaitError, Want};

/// Where the OpenSSL info callback finds the session's logger.
static LOG_INDEX: Lazy<Option<Index<Ssl, Logger>>> = Lazy::new(|| Ssl::new_ex_index().ok());

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Created; no handshake byte sent yet.
    New,
    /// Handshake started (non-blocking mode may be mid-way).
    Handshaking,
    /// Handshake done; data may flow.
    Established,
    /// The handshake or I/O failed; only free is useful.
    Failed,
    /// close_notify sent (and the session is over).
    Closed,
}

/// A TLS session on a caller-owned descriptor.
pub struct Session {
    ctx: Arc<Context>,
    ssl: Ssl,
    fd: RawFd,
    saved_flags: libc::c_int,
    label: String,
    label_lower: String,
    level: Level,
    state: State,
    facts: Option<Facts>,
    peer_closed: bool,
    truncated: bool,
    flags_restored: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("fd", &self.fd)
            .field("label", &self.label)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The OpenSSL state-machine lines of loglevel 2 (`SSL_accept:...`).
unsafe extern "C" fn info_callback(
    ssl: *const openssl_sys::SSL,
    where_: libc::c_int,
    ret: libc::c_int,
) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: OpenSSL passes the live SSL* the callback was set on.
        let ssl_ref = unsafe { SslRef::from_ptr(ssl as *mut openssl_sys::SSL) };
        let Some(index) = *LOG_INDEX else { return };
        let Some(logger) = ssl_ref.ex_data(index) else {
            return;
        };
        let side = if where_ & ossl::SSL_ST_CONNECT != 0 {
            "SSL_connect"
        } else if where_ & ossl::SSL_ST_ACCEPT != 0 {
            "SSL_accept"
        } else {
            "undefined"
        };
        let state = ssl_ref.state_string_long();
        if where_ & ossl::SSL_CB_LOOP != 0 {
            logger.info(&format!("{side}:{state}"));
        } else if where_ & ossl::SSL_CB_ALERT != 0 {
            let dir = if where_ & ossl::SSL_CB_READ != 0 {
                "read"
            } else {
                "write"
            };
            if ret & 0xff != ossl::SSL3_AD_CLOSE_NOTIFY {
                // SAFETY: both return static strings.
                let (t, d) = unsafe {
                    (
                        std::ffi::CStr::from_ptr(ossl::SSL_alert_type_string_long(ret)),
                        std::ffi::CStr::from_ptr(openssl_sys::SSL_alert_desc_string_long(ret)),
                    )
                };
                logger.info(&format!(
                    "SSL3 alert {dir}:{}:{}",
                    t.to_string_lossy(),
                    d.to_string_lossy()
                ));
            }
        } else if where_ & ossl::SSL_CB_EXIT != 0 {
            if ret == 0 {
                logger.info(&format!("{side}:failed in {state}"));
            } else if ret < 0 && unsafe { ossl::SSL_want(ssl) } == ossl::SSL_NOTHING {
                logger.info(&format!("{side}:error in {state}"));
            }
        }
    });
}

impl Session {
    /// A session on `fd` (already connected, plain SMTP done up to
    /// STARTTLS) for the peer labelled `label` (`host[addr]:port` or
    /// `host[addr]`). A client session starts at the context's level.
    pub fn new(ctx: Arc<Context>, fd: RawFd, label: &str) -> Result<Session> {
        let saved_flags = wait::get_flags(fd).map_err(|errno| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "bad file descriptor {fd} for {label}: {}",
                    wait::strerror(errno)
                ),
            )
        })?;
        let level = ctx.level;
        let profile = ctx.profile(level);
        let mut ssl = Ssl::new(&profile.ssl).map_err(|e| {
            Error::new(
                ErrorKind::Context,
                format!("Could not allocate 'TLScontext->con' with SSL_new(): {e}"),
            )
        })?;
        if ctx.log_mask & mask::DEBUG != 0 {
            if let Some(index) = *LOG_INDEX {
                ssl.set_ex_data(index, ctx.logger.clone());
                // SAFETY: ssl is live; the callback only reads ex_data.
                unsafe { ossl::SSL_set_info_callback(ssl.as_ptr(), Some(info_callback)) };
            }
        }
        // SAFETY: ssl is live; SSL_set_fd makes a BIO_NOCLOSE socket BIO,
        // so OpenSSL never closes the caller's descriptor.
        if unsafe { ossl::SSL_set_fd(ssl.as_ptr(), fd) } != 1 {
            let dir = if ctx.role == Role::Server {
                "from"
            } else {
                "to"
            };
            return Err(Error::new(
                ErrorKind::Context,
                format!("SSL_set_fd error {dir} {label}"),
            )
            .with_detail(&crate::log::openssl_reasons()));
        }
        match ctx.role {
            Role::Server => ssl.set_accept_state(),
            Role::Client => ssl.set_connect_state(),
        }
        wait::set_flags(fd, saved_flags | libc::O_NONBLOCK);
        Ok(Session {
            ctx,
            ssl,
            fd,
            saved_flags,
            label: label.to_string(),
            label_lower: label.to_lowercase(),
            level,
            state: State::New,
            facts: None,
            peer_closed: false,
            truncated: false,
            flags_restored: false,
        })
    }

    /// The context this session was made from.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The session's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The security level in effect (server: the context's).
    pub fn level(&self) -> Level {
        self.level
    }

    /// The facts, once the handshake is done.
    pub fn facts(&self) -> Option<&Facts> {
        self.facts.as_ref()
    }

    /// The peer closed the connection (with or without close_notify).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The peer closed without close_notify (possible truncation).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The Postfix summary line (spec §3.1), once established.
    pub fn summary(&self) -> Option<String> {
        self.facts.as_ref().map(summary::summary_line)
    }

    /// The Received: header TLS comment (spec §4), once established.
    pub fn received_comment(&self) -> Option<String> {
        self.facts
            .as_ref()
            .map(|f| summary::received_comment(f, self.ctx.ask_ccert))
    }

    fn logger(&self) -> &Logger {
        &self.ctx.logger
    }

    fn timeout_or(&self, timeout: Option<Timeout>, default_secs: u64) -> Timeout {
        timeout.unwrap_or(Timeout::After(Duration::from_secs(default_secs)))
    }

    fn check_usable(&self, what: &str) -> Result<()> {
        match self.state {
            State::Established => Ok(()),
            State::Failed => Err(Error::new(
                ErrorKind::BadState,
                format!("{what}: the TLS session with {} has failed", self.label),
            )),
            State::Closed => Err(Error::new(
                ErrorKind::BadState,
                format!("{what}: the TLS session with {} is closed", self.label),
            )),
            _ => Err(Error::new(
                ErrorKind::BadState,
                format!("{what}: no TLS handshake with {} yet", self.label),
            )),
        }
    }

    /// Run the handshake. `timeout` `None` means `*_starttls_timeout`.
    pub fn handshake(&mut self, timeout: Option<Timeout>) -> Result<()> {
        match self.state {
            State::Established => return Ok(()),
            State::Failed | State::Closed => {
                return Err(Error::new(
                    ErrorKind::BadState,
                    format!("handshake: the TLS session with {} is over", self.label),
                ))
            }
            State::New => {
                if self.ctx.role == Role::Client && self.level == Level::None {
                    self.state = State::Failed;
                    return Err(Error::new(
                        ErrorKind::Policy,
                        format!(
                            "{}: TLS security level is none ({}_tls_security_level): TLS is not used",
                            self.label, self.ctx.prefix
                        ),
                    ));
                }
                if self.ctx.role == Role::Client && self.level.must_match() {
                    self.state = State::Failed;
                    return Err(Error::new(
                        ErrorKind::Policy,
                        format!(
                            "{}: TLS security level {} needs peer verification, which this version does not implement; refusing rather than connecting unauthenticated",
                            self.label, self.level
                        ),
                    ));
                }
                if self.ctx.log_mask & mask::VERBOSE != 0 {
                    let dir = if self.ctx.role == Role::Server {
                        "from"
                    } else {
                        "to"
                    };
                    self.logger()
                        .info(&format!("setting up TLS connection {dir} {}", self.label));
                    self.logger().info(&format!(
                        "{}: TLS cipher list \"{}\"",
                        self.label,
                        self.ctx.profile(self.level).cipher_list
                    ));
                }
                self.state = State::Handshaking;
            }
            State::Handshaking => {}
        }
        let deadline = Deadline::start(self.timeout_or(timeout, self.ctx.handshake_timeout));
        drain_openssl_errors();
        loop {
            wait::set_errno(0);
            // SAFETY: ssl is live and attached to our fd.
            let r = unsafe { openssl_sys::SSL_do_handshake(self.ssl.as_ptr()) };
            if r == 1 {
                break;
            }
            let errno = wait::errno();
            let code =
                ErrorCode::from_raw(unsafe { openssl_sys::SSL_get_error(self.ssl.as_ptr(), r) });
            let want = match code {
                ErrorCode::WANT_READ => Want::Read,
                ErrorCode::WANT_WRITE => Want::Write,
                _ => return Err(self.handshake_failed(r, errno)),
            };
            match deadline.wait(self.fd, want) {
                Ok(()) => continue,
                Err(WaitError::WouldBlock(Want::Read)) => {
                    return Err(Error::new(ErrorKind::WantRead, "handshake wants to read"))
                }
                Err(WaitError::WouldBlock(Want::Write)) => {
                    return Err(Error::new(ErrorKind::WantWrite, "handshake wants to write"))
                }
                Err(WaitError::TimedOut) => return Err(self.handshake_failed(-1, libc::ETIMEDOUT)),
                Err(WaitError::Os(e)) => return Err(self.handshake_failed(-1, e)),
            }
        }
        self.established();
        Ok(())
    }

    /// Log and describe a failed handshake as Postfix does (spec §3.2).
    fn handshake_failed(&mut self, ret: libc::c_int, errno: i32) -> Error {
        self.state = State::Failed;
        let op = match self.ctx.role {
            Role::Server => format!("SSL_accept error from {}", self.label),
            Role::Client => format!("SSL_connect error to {}", self.label),
        };
        let queue = drain_openssl_errors();
        let (line, kind, detail) = if !queue.is_empty() {
            let reasons: Vec<String> = queue.iter().map(|e| e.short()).collect();
            (
                format!("{op}: {ret}"),
                ErrorKind::Handshake,
                reasons.join("; "),
            )
        } else if errno != 0 {
            let kind = if errno == libc::ETIMEDOUT {
                ErrorKind::Timeout
            } else {
                ErrorKind::Io
            };
            (
                format!("{op}: {}", wait::strerror(errno)),
                kind,
                String::new(),
            )
        } else {
            (
                format!("{op}: lost connection"),
                ErrorKind::PeerClosed,
                String::new(),
            )
        };
        self.logger().info(&line);
        for e in &queue {
            self.logger()
                .warn(&format!("TLS library problem: {}", e.postfix_format()));
        }
        Error::new(kind, line).with_detail(&detail)
    }

    fn established(&mut self) {
        let am_server = self.ctx.role == Role::Server;
        let facts = crate::facts::collect(&self.ssl, &self.ctx, am_server, &self.label_lower);
        let mask_bits = self.ctx.log_mask;
        if mask_bits & (mask::PEERCERT | mask::CERTMATCH | mask::VERBOSE) != 0
            && facts.peer_status & summary::status::PRESENT != 0
        {
            let issuer_key = if am_server { "issuer" } else { "issuer_CN" };
            self.logger().info(&format!(
                "{}: subject_CN={}, {issuer_key}={}, fingerprint={}, pkey_fingerprint={}",
                self.label_lower,
                facts.peer_cn,
                facts.issuer_cn,
                facts.peer_cert_fprint,
                facts.peer_pkey_fprint
            ));
        }
        if mask_bits & mask::SUMMARY != 0 {
            self.logger().info(&summary::summary_line(&facts));
        }
        self.facts = Some(facts);
        self.state = State::Established;
    }

    /// Map a failed SSL_read/SSL_write/SSL_shutdown to an error; logs
    /// OpenSSL's reasons.
    fn io_failed(&mut self, what: &str, code: ErrorCode, errno: i32) -> Error {
        let queue = drain_openssl_errors();
        for e in &queue {
            self.logger()
                .warn(&format!("TLS library problem: {}", e.postfix_format()));
        }
        self.state = State::Failed;
        let dir = if self.ctx.role == Role::Server {
            "from"
        } else {
            "to"
        };
        if !queue.is_empty() {
            let reasons: Vec<String> = queue.iter().map(|e| e.short()).collect();
            Error::new(
                ErrorKind::Handshake,
                format!(
                    "TLS {what} error {dir} {}: {}",
                    self.label,
                    reasons.join("; ")
                ),
            )
        } else if code == ErrorCode::SYSCALL && errno != 0 {
            let kind = if errno == libc::ETIMEDOUT {
                ErrorKind::Timeout
            } else {
                ErrorKind::Io
            };
            Error::new(
                kind,
                format!(
                    "TLS {what} error {dir} {}: {}",
                    self.label,
                    wait::strerror(errno)
                ),
            )
        } else {
            Error::new(
                ErrorKind::PeerClosed,
                format!("TLS {what} error {dir} {}: lost connection", self.label),
            )
        }
    }

    fn wait_or_fail(&mut self, deadline: &Deadline, want: Want, what: &str) -> Result<()> {
        match deadline.wait(self.fd, want) {
            Ok(()) => Ok(()),
            Err(WaitError::WouldBlock(Want::Read)) => Err(Error::new(
                ErrorKind::WantRead,
                format!("{what} wants to read"),
            )),
            Err(WaitError::WouldBlock(Want::Write)) => Err(Error::new(
                ErrorKind::WantWrite,
                format!("{what} wants to write"),
            )),
            Err(WaitError::TimedOut) => {
                Err(self.io_failed(what, ErrorCode::SYSCALL, libc::ETIMEDOUT))
            }
            Err(WaitError::Os(e)) => Err(self.io_failed(what, ErrorCode::SYSCALL, e)),
        }
    }

    /// Read up to `buf.len()` bytes; `Ok(0)` when the peer closed the
    /// connection. `timeout` `None` means the role's I/O timeout.
    pub fn read(&mut self, buf: &mut [u8], timeout: Option<Timeout>) -> Result<usize> {
        self.check_usable("read")?;
        if self.peer_closed || buf.is_empty() {
            return Ok(0);
        }
        let deadline = Deadline::start(self.timeout_or(timeout, self.ctx.io_timeout));
        loop {
            let mut n: libc::size_t = 0;
            wait::set_errno(0);
            // SAFETY: buf is writable for buf.len() bytes.
            let r = unsafe {
                openssl_sys::SSL_read_ex(
                    self.ssl.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut n,
                )
            };
            if r == 1 {
                return Ok(n);
            }
            let errno = wait::errno();
            let code =
                ErrorCode::from_raw(unsafe { openssl_sys::SSL_get_error(self.ssl.as_ptr(), r) });
            match code {
                ErrorCode::ZERO_RETURN => {
                    self.peer_closed = true;
                    return Ok(0);
                }
                ErrorCode::WANT_READ => self.wait_or_fail(&deadline, Want::Read, "read")?,
                ErrorCode::WANT_WRITE => self.wait_or_fail(&deadline, Want::Write, "read")?,
                ErrorCode::SSL if unexpected_eof() => {
                    drain_openssl_errors();
                    self.peer_closed = true;
                    self.truncated = true;
                    return Ok(0);
                }
                ErrorCode::SYSCALL if errno == 0 => {
                    drain_openssl_errors();
                    self.peer_closed = true;
                    self.truncated = true;
                    return Ok(0);
                }
                _ => return Err(self.io_failed("read", code, errno)),
            }
        }
    }

    /// Write all of `data`. In non-blocking mode a "want" error means:
    /// call again with the same data.
    pub fn write(&mut self, data: &[u8], timeout: Option<Timeout>) -> Result<usize> {
        self.check_usable("write")?;
        if data.is_empty() {
            return Ok(0);
        }
        let deadline = Deadline::start(self.timeout_or(timeout, self.ctx.io_timeout));
        loop {
            let mut n: libc::size_t = 0;
            wait::set_errno(0);
            // SAFETY: data is readable for data.len() bytes.
            let r = unsafe {
                openssl_sys::SSL_write_ex(
                    self.ssl.as_ptr(),
                    data.as_ptr().cast(),
                    data.len(),
                    &mut n,
                )
            };
            if r == 1 {
                return Ok(n);
            }
            let errno = wait::errno();
            let code =
                ErrorCode::from_raw(unsafe { openssl_sys::SSL_get_error(self.ssl.as_ptr(), r) });
            match code {
                ErrorCode::WANT_READ => self.wait_or_fail(&deadline, Want::Read, "write")?,
                ErrorCode::WANT_WRITE => self.wait_or_fail(&deadline, Want::Write, "write")?,
                _ => return Err(self.io_failed("write", code, errno)),
            }
        }
    }

    /// Send close_notify (and, with `tls_fast_shutdown_enable = no`, wait
    /// for the peer's). A session that never finished its handshake or has
    /// failed sends nothing. The descriptor stays open.
    pub fn stop(&mut self, timeout: Option<Timeout>) -> Result<()> {
        if self.state != State::Established {
            self.state = State::Closed;
            self.restore_flags();
            return Ok(());
        }
        let deadline = Deadline::start(self.timeout_or(timeout, self.ctx.io_timeout));
        // At most two rounds: send ours, then (slow shutdown) read theirs.
        for _ in 0..1000 {
            wait::set_errno(0);
            // SAFETY: ssl is live.
            let r = unsafe { openssl_sys::SSL_shutdown(self.ssl.as_ptr()) };
            if r == 1 || (r == 0 && self.ctx.fast_shutdown) {
                break;
            }
            if r == 0 {
                continue;
            }
            let errno = wait::errno();
            let code =
                ErrorCode::from_raw(unsafe { openssl_sys::SSL_get_error(self.ssl.as_ptr(), r) });
            let want = match code {
                ErrorCode::WANT_READ => Want::Read,
                ErrorCode::WANT_WRITE => Want::Write,
                _ => {
                    drain_openssl_errors();
                    let _ = errno;
                    break;
                }
            };
            match deadline.wait(self.fd, want) {
                Ok(()) => {}
                Err(WaitError::WouldBlock(Want::Read)) => {
                    return Err(Error::new(ErrorKind::WantRead, "shutdown wants to read"))
                }
                Err(WaitError::WouldBlock(Want::Write)) => {
                    return Err(Error::new(ErrorKind::WantWrite, "shutdown wants to write"))
                }
                Err(_) => break,
            }
        }
        drain_openssl_errors();
        self.state = State::Closed;
        self.restore_flags();
        Ok(())
    }

    /// Give the descriptor back its original file status flags.
    fn restore_flags(&mut self) {
        if !self.flags_restored {
            wait::set_flags(self.fd, self.saved_flags);
            self.flags_restored = true;
        }
    }
}

fn unexpected_eof() -> bool {
    // SAFETY: peeking the thread's queue has no side effects.
    let code = unsafe { ossl::ERR_peek_error() };
    openssl_sys::ERR_GET_REASON(code) == ossl::SSL_R_UNEXPECTED_EOF_WHILE_READING
}

impl Drop for Session {
    fn drop(&mut self) {
        self.restore_flags();
        drain_openssl_errors();
    }
}
