//! One error type for the whole library, with a kind that maps to a stable
//! numeric result code at the C boundary and a message that names the
//! parameter, file or peer involved (and carries the OpenSSL reason).

use std::fmt;

/// What went wrong, coarse enough to act on programmatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A required pointer argument was NULL (C API only).
    NullParameter,
    /// A malformed argument: not UTF-8, a bad descriptor, an unknown role.
    InvalidArgument,
    /// An invalid parameter name (empty, white space, `=`, control
    /// characters), or a lookup of a name this library does not know that
    /// was never set. (Unknown valid names are accepted: see `Params::set`.)
    UnknownParameter,
    /// A parameter value Postfix would refuse.
    InvalidValue,
    /// A main.cf file that cannot be read or parsed.
    ConfigFile,
    /// A Postfix warning turned into an error by `mtatls_strict = yes`.
    Strict,
    /// Certificate, key or chain problems while building a context.
    Certificate,
    /// The CA file or directory could not be loaded.
    CaStore,
    /// Any other failure while building a context (OpenSSL refused a setting).
    Context,
    /// The TLS handshake failed (protocol error, no shared cipher, ...).
    Handshake,
    /// A handshake, read, write or shutdown did not finish in time.
    Timeout,
    /// The peer closed the connection.
    PeerClosed,
    /// A system call failed on the caller's socket.
    Io,
    /// A signal interrupted the wait; the call may be repeated.
    Interrupted,
    /// Non-blocking mode: call again when the socket is readable.
    WantRead,
    /// Non-blocking mode: call again when the socket is writable.
    WantWrite,
    /// The call does not fit the session's state (e.g. read before handshake).
    BadState,
    /// The session's security level cannot be used (e.g. `none`).
    Policy,
    /// The handshake completed but the peer failed the level's
    /// authentication requirement (Postfix defers with 4.7.5).
    NotVerified,
}

/// An error with its kind and a complete, human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Make an error of `kind` with the full message text.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// An invalid value for parameter `name`.
    pub fn invalid(name: &str, value: &str, why: impl fmt::Display) -> Self {
        Error::new(ErrorKind::InvalidValue, format!("{name} = {value}: {why}"))
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with more text appended (e.g. OpenSSL reasons).
    pub fn with_detail(mut self, detail: &str) -> Self {
        if !detail.is_empty() {
            self.message.push_str(": ");
            self.message.push_str(detail);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Library-wide result alias.
pub type Result<T> = std::result::Result<T, Error>;
