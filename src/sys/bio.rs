//! The BIO under every session: reads and writes the caller's socket
//! directly, writing with `send(..., MSG_NOSIGNAL)` so that a peer that
//! vanished makes a write fail with `EPIPE` instead of raising SIGPIPE in
//! the host. It behaves like OpenSSL's socket BIO otherwise (retry flags,
//! end of file, `BIO_get_fd`), and never closes the descriptor.

use std::os::fd::RawFd;
use std::sync::Arc;

use foreign_types::ForeignTypeRef;
use libc::{c_char, c_int, c_long, c_void};
use once_cell::sync::Lazy;
use openssl::ssl::SslRef;
use openssl_sys::{BIO, BIO_METHOD};

use crate::sys::ossl;

/// One read or write of the socket, as a packet dump shows it.
#[derive(Debug)]
pub struct BioEvent<'a> {
    /// A write (else a read).
    pub write: bool,
    /// The BIO's address (Postfix prints it).
    pub bio: usize,
    /// The buffer's address (Postfix prints it).
    pub buf: usize,
    /// Bytes asked for.
    pub len: usize,
    /// The system call's result: bytes moved, 0 at end of file, or -1.
    pub result: isize,
    /// The bytes moved.
    pub data: &'a [u8],
}

/// Sees every read and write of a session's socket (packet dumps).
pub type Observer = Arc<dyn Fn(&BioEvent<'_>) + Send + Sync>;

/// What the BIO keeps: the descriptor and what reading has seen.
struct SocketState {
    fd: RawFd,
    /// `send(2)` works on it (else `write(2)`: a pipe or a file).
    is_socket: bool,
    /// A read returned end of file (`BIO_eof`).
    eof: bool,
    /// Told of every read and write, when set.
    observer: Option<Observer>,
}

/// The method table, made once and never freed.
struct Method(*mut BIO_METHOD, c_int);

// SAFETY: the method table is immutable once built; OpenSSL only reads it.
unsafe impl Send for Method {}
// SAFETY: as above.
unsafe impl Sync for Method {}

static METHOD: Lazy<Option<Method>> = Lazy::new(|| {
    // SAFETY: plain OpenSSL calls building a method table; every function
    // set here has the signature OpenSSL expects.
    unsafe {
        let index = ossl::BIO_get_new_index();
        if index < 0 {
            return None;
        }
        let kind = index | ossl::BIO_TYPE_SOURCE_SINK | ossl::BIO_TYPE_DESCRIPTOR;
        let m = openssl_sys::BIO_meth_new(kind, c"mtatls socket".as_ptr());
        if m.is_null() {
            return None;
        }
        let ok = ossl::BIO_meth_set_write(m, Some(bio_write)) == 1
            && ossl::BIO_meth_set_read(m, Some(bio_read)) == 1
            && ossl::BIO_meth_set_ctrl(m, Some(bio_ctrl)) == 1
            && ossl::BIO_meth_set_create(m, Some(bio_create)) == 1
            && ossl::BIO_meth_set_destroy(m, Some(bio_destroy)) == 1;
        if !ok {
            openssl_sys::BIO_meth_free(m);
            return None;
        }
        Some(Method(m, kind))
    }
});

/// Make the method table now, while a context is built (not first in a
/// session thread: valgrind's race detectors cannot see once_cell's
/// synchronisation).
pub fn prepare() {
    Lazy::force(&METHOD);
}

/// Attach a new socket BIO on `fd` to `ssl` for both directions
/// (`is_socket`: write with `send(2)`, else `write(2)`). False when OpenSSL
/// could not allocate it (the error queue says why).
pub fn attach(ssl: &mut SslRef, fd: RawFd, is_socket: bool) -> bool {
    let Some(method) = METHOD.as_ref() else {
        return false;
    };
    let ssl = ssl.as_ptr();
    // SAFETY: the method table is valid; a new BIO gets its state below;
    // ssl is live.
    unsafe {
        let bio = openssl_sys::BIO_new(method.0);
        if bio.is_null() {
            return false;
        }
        let state = Box::new(SocketState {
            fd,
            is_socket,
            eof: false,
            observer: None,
        });
        openssl_sys::BIO_set_data(bio, Box::into_raw(state).cast());
        openssl_sys::BIO_set_init(bio, 1);
        // The same BIO reads and writes: SSL_set_bio takes one reference.
        openssl_sys::SSL_set_bio(ssl, bio, bio);
    }
    true
}

/// Tell `observer` (or, with `None`, no one any more) of every read and
/// write of `ssl`'s socket BIO. False when `ssl` has no BIO of this kind.
pub fn observe(ssl: &SslRef, observer: Option<Observer>) -> bool {
    let Some(method) = METHOD.as_ref() else {
        return false;
    };
    // SAFETY: ssl is live; its read BIO (also its write BIO) lives as long
    // as ssl; the state is touched only when the BIO is of our method.
    unsafe {
        let bio = openssl_sys::SSL_get_rbio(ssl.as_ptr());
        if bio.is_null() || ossl::BIO_method_type(bio) != method.1 {
            return false;
        }
        match state(bio) {
            Some(st) => {
                st.observer = observer;
                true
            }
            None => false,
        }
    }
}

/// The state of `bio`, if it has one.
///
/// # Safety
/// `bio` must be a BIO of this method.
unsafe fn state<'a>(bio: *mut BIO) -> Option<&'a mut SocketState> {
    // SAFETY: the data is NULL or the Box set in `attach`, owned by the BIO.
    unsafe { (openssl_sys::BIO_get_data(bio) as *mut SocketState).as_mut() }
}

/// An errno after which the call may be repeated when the socket is ready.
fn should_retry(errno: i32) -> bool {
    errno == libc::EAGAIN || errno == libc::EWOULDBLOCK || errno == libc::EINTR
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Run a callback body; a panic (none is expected) becomes `fail`
/// instead of unwinding into OpenSSL.
fn catch_unwind_or<T>(fail: T, body: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(fail)
}

unsafe extern "C" fn bio_write(bio: *mut BIO, buf: *const c_char, len: c_int) -> c_int {
    catch_unwind_or(-1, || {
        // SAFETY: OpenSSL passes its live BIO and a buffer of len bytes.
        unsafe {
            openssl_sys::BIO_clear_flags(
                bio,
                openssl_sys::BIO_FLAGS_RWS | openssl_sys::BIO_FLAGS_SHOULD_RETRY,
            );
            let Some(st) = state(bio) else { return -1 };
            if buf.is_null() || len <= 0 {
                return 0;
            }
            let n = if st.is_socket {
                libc::send(st.fd, buf.cast(), len as usize, libc::MSG_NOSIGNAL)
            } else {
                libc::write(st.fd, buf.cast(), len as usize)
            };
            if let Some(observer) = &st.observer {
                let saved = errno();
                let moved = if n > 0 { n as usize } else { 0 };
                observer(&BioEvent {
                    write: true,
                    bio: bio as usize,
                    buf: buf as usize,
                    len: len as usize,
                    result: n,
                    data: std::slice::from_raw_parts(buf.cast::<u8>(), moved),
                });
                super::wait::set_errno(saved);
            }
            if n < 0 && should_retry(errno()) {
                openssl_sys::BIO_set_flags(
                    bio,
                    openssl_sys::BIO_FLAGS_WRITE | openssl_sys::BIO_FLAGS_SHOULD_RETRY,
                );
            }
            n as c_int
        }
    })
}

unsafe extern "C" fn bio_read(bio: *mut BIO, buf: *mut c_char, len: c_int) -> c_int {
    catch_unwind_or(-1, || {
        // SAFETY: OpenSSL passes its live BIO and a buffer of len bytes.
        unsafe {
            openssl_sys::BIO_clear_flags(
                bio,
                openssl_sys::BIO_FLAGS_RWS | openssl_sys::BIO_FLAGS_SHOULD_RETRY,
            );
            let Some(st) = state(bio) else { return -1 };
            if buf.is_null() || len <= 0 {
                return 0;
            }
            let n = libc::read(st.fd, buf.cast(), len as usize);
            if let Some(observer) = &st.observer {
                let saved = errno();
                let moved = if n > 0 { n as usize } else { 0 };
                observer(&BioEvent {
                    write: false,
                    bio: bio as usize,
                    buf: buf as usize,
                    len: len as usize,
                    result: n,
                    data: std::slice::from_raw_parts(buf.cast::<u8>().cast_const(), moved),
                });
                super::wait::set_errno(saved);
            }
            if n == 0 {
                st.eof = true;
            } else if n < 0 && should_retry(errno()) {
                openssl_sys::BIO_set_flags(
                    bio,
                    openssl_sys::BIO_FLAGS_READ | openssl_sys::BIO_FLAGS_SHOULD_RETRY,
                );
            }
            n as c_int
        }
    })
}

unsafe extern "C" fn bio_ctrl(
    bio: *mut BIO,
    cmd: c_int,
    _larg: c_long,
    parg: *mut c_void,
) -> c_long {
    catch_unwind_or(0, || {
        // SAFETY: OpenSSL passes its live BIO; parg is what the command takes.
        unsafe {
            let Some(st) = state(bio) else { return 0 };
            match cmd {
                openssl_sys::BIO_CTRL_EOF => c_long::from(st.eof),
                ossl::BIO_C_GET_FD => {
                    if !parg.is_null() {
                        *(parg as *mut c_int) = st.fd;
                    }
                    st.fd as c_long
                }
                // Never closes the descriptor, whatever is asked.
                ossl::BIO_CTRL_GET_CLOSE => 0,
                ossl::BIO_CTRL_SET_CLOSE => 1,
                openssl_sys::BIO_CTRL_FLUSH | ossl::BIO_CTRL_DUP => 1,
                _ => 0,
            }
        }
    })
}

unsafe extern "C" fn bio_create(bio: *mut BIO) -> c_int {
    catch_unwind_or(0, || {
        // SAFETY: a new BIO of this method; no state yet.
        unsafe { openssl_sys::BIO_set_data(bio, std::ptr::null_mut()) };
        1
    })
}

unsafe extern "C" fn bio_destroy(bio: *mut BIO) -> c_int {
    catch_unwind_or(0, || {
        if bio.is_null() {
            return 0;
        }
        // SAFETY: the data is NULL or the Box made in `attach`, freed once here.
        unsafe {
            let data = openssl_sys::BIO_get_data(bio) as *mut SocketState;
            if !data.is_null() {
                drop(Box::from_raw(data));
                openssl_sys::BIO_set_data(bio, std::ptr::null_mut());
            }
            openssl_sys::BIO_set_init(bio, 0);
        }
        1
    })
}
