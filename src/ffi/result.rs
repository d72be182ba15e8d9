//! Result codes of the C API: explicit values, grouped by hundreds, never
//! reused. The detail text of a failure is on the object involved.

use std::ffi::c_char;

use super::ffi_guard;
use crate::error::ErrorKind;

/// What a call returns. Values are stable across releases; new codes are
/// only ever added. 1-99: calling mistakes; 100-199: parameters;
/// 200-299: contexts; 300-399: sessions.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mtatls_result {
    /// Success.
    MTATLS_RESULT_OK = 0,
    /// A required pointer argument was NULL.
    MTATLS_RESULT_NULL_PARAMETER = 1,
    /// The library panicked (a bug); the object involved is now unusable.
    MTATLS_RESULT_PANIC = 2,
    /// An argument was malformed (not UTF-8, bad descriptor, bad role name).
    MTATLS_RESULT_INVALID_ARGUMENT = 3,
    /// The call does not fit the object's state (e.g. read before handshake).
    MTATLS_RESULT_BAD_STATE = 4,
    /// A parameter name this library does not know.
    MTATLS_RESULT_UNKNOWN_PARAMETER = 100,
    /// A parameter value Postfix would refuse.
    MTATLS_RESULT_INVALID_VALUE = 101,
    /// A main.cf file could not be read or parsed.
    MTATLS_RESULT_CONFIG_FILE = 102,
    /// A Postfix warning, made an error by `mtatls_strict = yes`.
    MTATLS_RESULT_STRICT = 103,
    /// Certificate, key or chain files could not be used.
    MTATLS_RESULT_CERTIFICATE = 200,
    /// The CA file or directory could not be loaded.
    MTATLS_RESULT_CA_STORE = 201,
    /// OpenSSL refused a context setting.
    MTATLS_RESULT_CONTEXT = 202,
    /// The configured security level rules the request out (e.g. `none`).
    MTATLS_RESULT_POLICY = 203,
    /// The TLS handshake (or a later TLS record) failed.
    MTATLS_RESULT_HANDSHAKE = 300,
    /// The call did not finish within its timeout.
    MTATLS_RESULT_TIMEOUT = 301,
    /// The peer closed the connection.
    MTATLS_RESULT_PEER_CLOSED = 302,
    /// A system call on the socket failed.
    MTATLS_RESULT_IO = 303,
    /// Non-blocking mode: call again once the socket is readable.
    MTATLS_RESULT_WANT_READ = 304,
    /// Non-blocking mode: call again once the socket is writable.
    MTATLS_RESULT_WANT_WRITE = 305,
    /// The handshake completed, but the peer failed the security level's
    /// authentication (client: "Server certificate not verified"; server
    /// with a required client certificate: "Client certificate not
    /// trusted"). The session stays usable to end the SMTP dialogue (QUIT).
    MTATLS_RESULT_NOT_VERIFIED = 306,
    /// A signal interrupted the wait (EINTR), as a blocking system call
    /// would be; nothing is lost: repeat the call to continue.
    MTATLS_RESULT_INTERRUPTED = 307,
}

use mtatls_result::*;

impl From<ErrorKind> for mtatls_result {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::NullParameter => MTATLS_RESULT_NULL_PARAMETER,
            ErrorKind::InvalidArgument => MTATLS_RESULT_INVALID_ARGUMENT,
            ErrorKind::UnknownParameter => MTATLS_RESULT_UNKNOWN_PARAMETER,
            ErrorKind::InvalidValue => MTATLS_RESULT_INVALID_VALUE,
            ErrorKind::ConfigFile => MTATLS_RESULT_CONFIG_FILE,
            ErrorKind::Strict => MTATLS_RESULT_STRICT,
            ErrorKind::Certificate => MTATLS_RESULT_CERTIFICATE,
            ErrorKind::CaStore => MTATLS_RESULT_CA_STORE,
            ErrorKind::Context => MTATLS_RESULT_CONTEXT,
            ErrorKind::Policy => MTATLS_RESULT_POLICY,
            ErrorKind::Handshake => MTATLS_RESULT_HANDSHAKE,
            ErrorKind::Timeout => MTATLS_RESULT_TIMEOUT,
            ErrorKind::PeerClosed => MTATLS_RESULT_PEER_CLOSED,
            ErrorKind::Io => MTATLS_RESULT_IO,
            ErrorKind::WantRead => MTATLS_RESULT_WANT_READ,
            ErrorKind::WantWrite => MTATLS_RESULT_WANT_WRITE,
            ErrorKind::BadState => MTATLS_RESULT_BAD_STATE,
            ErrorKind::NotVerified => MTATLS_RESULT_NOT_VERIFIED,
            ErrorKind::Interrupted => MTATLS_RESULT_INTERRUPTED,
        }
    }
}

const NAMES: &[(mtatls_result, &std::ffi::CStr)] = &[
    (MTATLS_RESULT_OK, c"MTATLS_RESULT_OK"),
    (
        MTATLS_RESULT_NULL_PARAMETER,
        c"MTATLS_RESULT_NULL_PARAMETER",
    ),
    (MTATLS_RESULT_PANIC, c"MTATLS_RESULT_PANIC"),
    (
        MTATLS_RESULT_INVALID_ARGUMENT,
        c"MTATLS_RESULT_INVALID_ARGUMENT",
    ),
    (MTATLS_RESULT_BAD_STATE, c"MTATLS_RESULT_BAD_STATE"),
    (
        MTATLS_RESULT_UNKNOWN_PARAMETER,
        c"MTATLS_RESULT_UNKNOWN_PARAMETER",
    ),
    (MTATLS_RESULT_INVALID_VALUE, c"MTATLS_RESULT_INVALID_VALUE"),
    (MTATLS_RESULT_CONFIG_FILE, c"MTATLS_RESULT_CONFIG_FILE"),
    (MTATLS_RESULT_STRICT, c"MTATLS_RESULT_STRICT"),
    (MTATLS_RESULT_CERTIFICATE, c"MTATLS_RESULT_CERTIFICATE"),
    (MTATLS_RESULT_CA_STORE, c"MTATLS_RESULT_CA_STORE"),
    (MTATLS_RESULT_CONTEXT, c"MTATLS_RESULT_CONTEXT"),
    (MTATLS_RESULT_POLICY, c"MTATLS_RESULT_POLICY"),
    (MTATLS_RESULT_HANDSHAKE, c"MTATLS_RESULT_HANDSHAKE"),
    (MTATLS_RESULT_TIMEOUT, c"MTATLS_RESULT_TIMEOUT"),
    (MTATLS_RESULT_PEER_CLOSED, c"MTATLS_RESULT_PEER_CLOSED"),
    (MTATLS_RESULT_IO, c"MTATLS_RESULT_IO"),
    (MTATLS_RESULT_WANT_READ, c"MTATLS_RESULT_WANT_READ"),
    (MTATLS_RESULT_WANT_WRITE, c"MTATLS_RESULT_WANT_WRITE"),
    (MTATLS_RESULT_NOT_VERIFIED, c"MTATLS_RESULT_NOT_VERIFIED"),
    (MTATLS_RESULT_INTERRUPTED, c"MTATLS_RESULT_INTERRUPTED"),
];

/// The constant's name for a result value (`"MTATLS_RESULT_TIMEOUT"`), or
/// `"MTATLS_RESULT_UNKNOWN"`. Static string; never NULL; thread-safe.
///
/// - NULL: no pointer arguments.
/// - Returns: a static string; `"MTATLS_RESULT_UNKNOWN"` for an unknown value.
/// - Memory: the string is static.
/// - Blocking: no.
/// - Threads: thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_result_name(result: u32) -> *const c_char {
    ffi_guard!(c"MTATLS_RESULT_UNKNOWN".as_ptr(), {
        NAMES
            .iter()
            .find(|(r, _)| *r as u32 == result)
            .map(|(_, n)| n.as_ptr())
            .unwrap_or(c"MTATLS_RESULT_UNKNOWN".as_ptr())
    })
}
