//! `mtatls_params`: Postfix parameters set by name or read from main.cf,
//! and the log callback contexts and sessions inherit.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void};
use std::path::Path;
use std::sync::Arc;

use super::{arg_str, copy_out, ffi_guard, mtatls_result, to_cstring, ErrorText, Poison};
use crate::config::params::Params;
use crate::context::Hooks;
use crate::error::Error;
use crate::logging::{Logger, Severity};
use mtatls_result::*;

/// A set of Postfix parameter values. Not thread-safe: use from one
/// thread at a time. Create with `mtatls_params_new`, free with
/// `mtatls_params_free`.
pub struct mtatls_params {
    /// Borrowed mutably for the length of each call: a call made from
    /// inside one of this object's callbacks finds it borrowed and is
    /// refused with `MTATLS_RESULT_BAD_STATE`.
    pub(crate) inner: RefCell<HostParams>,
    pub(crate) error: RefCell<ErrorText>,
    pub(crate) poisoned: Cell<bool>,
}

impl Poison for *mut mtatls_params {
    fn poison(self) {
        // SAFETY: a non-NULL pointer here came from mtatls_params_new.
        if let Some(p) = unsafe { self.as_ref() } {
            p.poisoned.set(true);
            if let Ok(mut e) = p.error.try_borrow_mut() {
                e.set("mtatls: internal error (panic); this object can no longer be used");
            }
        }
    }
}

/// The values and the host's hooks (log callback, session store, SNI
/// selector) a `mtatls_params` holds for the contexts built from it.
#[derive(Debug, Default)]
pub(crate) struct HostParams {
    pub(crate) params: Params,
    pub(crate) hooks: Hooks,
}

/// Log callback: `level` is `MTATLS_LOG_INFO` or `MTATLS_LOG_WARNING`;
/// `line` is one NUL-terminated line without newline or process prefix,
/// valid only during the call. It may be called from any thread that
/// uses a context or session made from these parameters.
pub type mtatls_log_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: c_int, line: *const c_char)>;

/// Tests prove that a panic inside the library becomes
/// `MTATLS_RESULT_PANIC` at the C boundary: in debug builds only (the
/// ones the test suite makes; never a release build), with the
/// environment variable `MTATLS_TEST_PANIC=1`, setting the (otherwise
/// unknown) parameter `mtatls_test_panic`, or a session's server name to
/// that word, panics.
#[cfg(debug_assertions)]
pub(crate) fn test_panic_hook(name: &str) {
    if name == "mtatls_test_panic"
        && std::env::var_os("MTATLS_TEST_PANIC").is_some_and(|v| v == "1")
    {
        panic!("mtatls_test_panic: forced panic for tests");
    }
}

/// Release builds carry no test hook.
#[cfg(not(debug_assertions))]
pub(crate) fn test_panic_hook(_name: &str) {}

/// The text of a call refused because it came from inside a callback.
pub(crate) const REENTERED: &str =
    "called from inside one of this object's own callbacks (log, session cache or SNI): refused";

/// Run `f` on a live, unpoisoned params handle, keeping its error text.
/// A call from inside one of the object's callbacks (the object is then
/// busy) is refused with `MTATLS_RESULT_BAD_STATE`.
///
/// # Safety
/// `p` must be NULL or a pointer from `mtatls_params_new` not yet freed.
pub(crate) unsafe fn with_params(
    p: *mut mtatls_params,
    f: impl FnOnce(&mut HostParams) -> Result<(), Error>,
) -> mtatls_result {
    // SAFETY: guaranteed by the caller; only shared references are made.
    let Some(handle) = (unsafe { p.as_ref() }) else {
        return MTATLS_RESULT_NULL_PARAMETER;
    };
    if handle.poisoned.get() {
        return MTATLS_RESULT_PANIC;
    }
    let Ok(mut params) = handle.inner.try_borrow_mut() else {
        if let Ok(mut e) = handle.error.try_borrow_mut() {
            e.set(REENTERED);
        }
        return MTATLS_RESULT_BAD_STATE;
    };
    if let Ok(mut e) = handle.error.try_borrow_mut() {
        e.clear();
    }
    let result = f(&mut params);
    drop(params);
    let mut error = handle.error.borrow_mut();
    match result {
        Ok(()) => {
            error.clear();
            MTATLS_RESULT_OK
        }
        Err(e) => {
            error.set(e.message());
            e.kind().into()
        }
    }
}

/// Create an empty parameter set (every parameter at its Postfix 3.8
/// default; log lines to stderr) and store it in `*out`.
/// Returns `MTATLS_RESULT_NULL_PARAMETER` if `out` is NULL. Free the
/// result with `mtatls_params_free`.
///
/// - NULL: `out` NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_PANIC`.
/// - Memory: `*out` is owned by the caller: free it with `mtatls_params_free`.
/// - Blocking: no.
/// - Threads: thread-safe (a new object).
#[no_mangle]
pub extern "C" fn mtatls_params_new(out: *mut *mut mtatls_params) -> mtatls_result {
    ffi_guard!(MTATLS_RESULT_PANIC, {
        if out.is_null() {
            return MTATLS_RESULT_NULL_PARAMETER;
        }
        let p = Box::new(mtatls_params {
            inner: RefCell::new(HostParams::default()),
            error: RefCell::new(ErrorText::default()),
            poisoned: Cell::new(false),
        });
        // SAFETY: out is non-NULL and writable per the contract.
        unsafe { *out = Box::into_raw(p) };
        MTATLS_RESULT_OK
    })
}

/// Free a parameter set. NULL is accepted and ignored. Call at most once
/// per object. Contexts built from it stay valid. Called from inside one
/// of the object's own callbacks (during `mtatls_ctx_new`) it does
/// nothing: the object is in use.
///
/// - NULL: NULL is ignored.
/// - Returns: nothing.
/// - Memory: frees `params`; contexts built from it stay valid. Call at most
///   once; inside one of `params`'s own callbacks it does nothing.
/// - Blocking: no.
/// - Threads: not thread-safe: one thread at a time per `params`.
#[no_mangle]
pub extern "C" fn mtatls_params_free(params: *mut mtatls_params) {
    ffi_guard!((), {
        // SAFETY: params is NULL or came from mtatls_params_new.
        let busy = unsafe { params.as_ref() }.is_some_and(|h| h.inner.try_borrow_mut().is_err());
        if !params.is_null() && !busy {
            // SAFETY: params came from mtatls_params_new and is freed once.
            drop(unsafe { Box::from_raw(params) });
        }
    })
}

/// Set parameter `name` (a Postfix name such as `smtpd_tls_protocols`)
/// to `value` (Postfix syntax; `$name` references are expanded when a
/// context is built). Names follow one rule here and in a main.cf
/// (`mtatls_params_load_file`): any valid name is accepted and kept (for
/// `$name` expansion); a name this library does not know that looks like a
/// TLS parameter (`tls_*`, `*_tls_*`, `*_starttls_*`, `mtatls_*`, except
/// those Postfix's daemons read themselves, such as
/// `smtp_tls_policy_maps`) gets one warning, "unused parameter:
/// NAME=VALUE", when a context is built (an error under `mtatls_strict =
/// yes`); other unknown names are ignored. Returns
/// `MTATLS_RESULT_UNKNOWN_PARAMETER` for an invalid name (empty, white
/// space, `=` or control characters) and `MTATLS_RESULT_INVALID_VALUE` for
/// a value Postfix refuses; `mtatls_params_error` then names the name (and
/// the value). See docs/parameters.md.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`params` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC` (internal error;
///   `params` is unusable), `MTATLS_RESULT_INVALID_ARGUMENT` (text not UTF-8),
///   `MTATLS_RESULT_UNKNOWN_PARAMETER` (invalid name),
///   `MTATLS_RESULT_INVALID_VALUE`.
/// - Memory: `name` and `value` are copied; they may be freed on return.
/// - Blocking: no.
/// - Threads: not thread-safe: one thread at a time per `params`.
#[no_mangle]
pub extern "C" fn mtatls_params_set(
    params: *mut mtatls_params,
    name: *const c_char,
    value: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: pointers are valid C strings per the contract.
        unsafe {
            with_params(params, |p| {
                let name = arg_str(name, "parameter name")?;
                let value = arg_str(value, &format!("value of {name}"))?;
                test_panic_hook(name);
                p.params.set(name, value)
            })
        }
    })
}

/// Read a main.cf file as Postfix does (comments, continuation lines,
/// later lines win). Names follow the rule of `mtatls_params_set`: unknown
/// names are kept for `$name` expansion; those that look like TLS
/// parameters get one "unused parameter: NAME=VALUE" warning when a
/// context is built, the others (a real main.cf has hundreds) are ignored.
/// Returns `MTATLS_RESULT_CONFIG_FILE` if the file cannot be read or
/// parsed or has an invalid name, `MTATLS_RESULT_INVALID_VALUE` for a bad
/// value (the message gives file, line and parameter).
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`params` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC` (internal error;
///   `params` is unusable), `MTATLS_RESULT_INVALID_ARGUMENT` (path not UTF-8),
///   `MTATLS_RESULT_CONFIG_FILE`, `MTATLS_RESULT_INVALID_VALUE`.
/// - Memory: `path` is copied; the file is read during the call.
/// - Blocking: reads the file (local I/O).
/// - Threads: not thread-safe: one thread at a time per `params`.
#[no_mangle]
pub extern "C" fn mtatls_params_load_file(
    params: *mut mtatls_params,
    path: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: path is a valid C string per the contract.
        unsafe {
            with_params(params, |p| {
                let path = arg_str(path, "main.cf path")?;
                p.params.load_file(Path::new(path))
            })
        }
    })
}

/// Read main.cf text (see `mtatls_params_load_file`); `origin` names the
/// text in messages and may be NULL.
///
/// - NULL: `params` or `text` NULL: `MTATLS_RESULT_NULL_PARAMETER`; `origin`
///   may be NULL.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`params` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC` (internal error;
///   `params` is unusable), `MTATLS_RESULT_INVALID_ARGUMENT` (text not UTF-8),
///   `MTATLS_RESULT_CONFIG_FILE`, `MTATLS_RESULT_INVALID_VALUE`.
/// - Memory: `text` and `origin` are copied.
/// - Blocking: no.
/// - Threads: not thread-safe: one thread at a time per `params`.
#[no_mangle]
pub extern "C" fn mtatls_params_load_string(
    params: *mut mtatls_params,
    text: *const c_char,
    origin: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: text/origin are valid C strings (origin may be NULL).
        unsafe {
            with_params(params, |p| {
                let text = arg_str(text, "main.cf text")?;
                let origin = if origin.is_null() {
                    "main.cf text"
                } else {
                    arg_str(origin, "origin")?
                };
                p.params.load_str(text, origin)
            })
        }
    })
}

/// Copy the expanded value of parameter `name` (a known one, or any name
/// that was set) into `buf` (`len` bytes,
/// snprintf-style: truncated and always NUL-terminated when `len > 0`) and
/// store the full length, excluding the NUL, in `*needed` (may be NULL).
/// `buf` may be NULL when `len` is 0.
///
/// - NULL: `params` or `name` NULL, or `buf` NULL with `len > 0`:
///   `MTATLS_RESULT_NULL_PARAMETER`; `needed` may be NULL.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`params` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC` (internal error;
///   `params` is unusable), `MTATLS_RESULT_INVALID_ARGUMENT`,
///   `MTATLS_RESULT_UNKNOWN_PARAMETER` (a name this library does not know
///   that was never set), `MTATLS_RESULT_INVALID_VALUE` (the expanded
///   value is invalid).
/// - Memory: the value is copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: not thread-safe: one thread at a time per `params`.
#[no_mangle]
pub extern "C" fn mtatls_params_get(
    params: *mut mtatls_params,
    name: *const c_char,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe {
            with_params(params, |p| {
                let name = arg_str(name, "parameter name")?;
                if buf.is_null() && len > 0 {
                    return Err(Error::new(crate::error::ErrorKind::NullParameter, "buf is NULL but len > 0"));
                }
                let value = p.params.get(name)?;
                let n = copy_out(&value, buf, len);
                if !needed.is_null() {
                    *needed = n;
                }
                Ok(())
            })
        }
    })
}

/// The message of the last failed call on these parameters, including
/// `mtatls_ctx_new` failures ("" after a successful call). Borrowed: valid
/// until the next call on `params` or its free. NULL `params` gives "".
///
/// - NULL: NULL `params` gives "".
/// - Returns: the text; never NULL.
/// - Memory: borrowed from `params`: valid until its next call or its free.
/// - Blocking: no.
/// - Threads: not thread-safe: one thread at a time per `params`.
#[no_mangle]
pub extern "C" fn mtatls_params_error(params: *const mtatls_params) -> *const c_char {
    ffi_guard!(c"".as_ptr(), {
        // SAFETY: params is NULL or valid per the contract.
        match unsafe { params.as_ref() }.map(|p| p.error.try_borrow()) {
            Some(Ok(e)) => e.as_ptr(),
            _ => c"".as_ptr(),
        }
    })
}

/// Send log lines of contexts and sessions made from now on to `callback`
/// with `userdata` (NULL `callback`: back to stderr). The callback must
/// stay callable, and `userdata` valid, as long as any such context or
/// session exists; it must be thread-safe if they are used from several
/// threads.
///
/// - NULL: `params` NULL: `MTATLS_RESULT_NULL_PARAMETER`; `callback` NULL
///   means stderr; `userdata` may be NULL.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`params` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC` (internal error;
///   `params` is unusable).
/// - Memory: `callback` and `userdata` are borrowed: they must stay valid
///   while contexts or sessions made from these parameters exist.
/// - Blocking: no.
/// - Threads: not thread-safe: one thread at a time per `params`. The callback
///   itself is called from every thread that uses such a context or session.
#[no_mangle]
pub extern "C" fn mtatls_params_set_log_callback(
    params: *mut mtatls_params,
    callback: mtatls_log_callback,
    userdata: *mut c_void,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: params is NULL or valid per the contract.
        unsafe {
            with_params(params, |p| {
                let logger = match callback {
                    None => Logger::default(),
                    Some(f) => {
                        let userdata = userdata as usize;
                        Logger::with_sink(Arc::new(move |severity: Severity, line: &str| {
                            let c = to_cstring(line);
                            // SAFETY: the host promised f and userdata stay valid.
                            f(userdata as *mut c_void, severity as c_int, c.as_ptr());
                        }))
                    }
                };
                p.hooks.logger = logger;
                Ok(())
            })
        }
    })
}

/// Make a new RSA-2048 key and self-signed certificate for
/// `common_name`, write both (PEM, mode 0600) to the file `path`, and set
/// `smtpd_tls_chain_files` to it: a server default when no certificate is
/// configured. Takes about 0.1 s (key generation).
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`params` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC` (internal error;
///   `params` is unusable), `MTATLS_RESULT_INVALID_ARGUMENT` (not UTF-8, or
///   `path` is a symlink, directory, FIFO, device or socket),
///   `MTATLS_RESULT_INVALID_VALUE` (bad common name),
///   `MTATLS_RESULT_CERTIFICATE` (cannot write), `MTATLS_RESULT_CONTEXT`
///   (the OpenSSL configuration file of `tls_config_file` /
///   `tls_config_name` cannot be loaded, or OpenSSL is already configured
///   otherwise in this process; OpenSSL is initialised with them first).
/// - Memory: `common_name` and `path` are copied.
/// - Blocking: about 0.1 s of key generation, then a local file write.
/// - Threads: not thread-safe: one thread at a time per `params`.
#[no_mangle]
pub extern "C" fn mtatls_params_self_signed(
    params: *mut mtatls_params,
    common_name: *const c_char,
    path: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid C strings per the contract.
        unsafe {
            with_params(params, |p| {
                let cn = arg_str(common_name, "common name")?;
                let path = arg_str(path, "path")?;
                // OpenSSL is initialised with these parameters'
                // tls_config_file before the key is made.
                crate::context::init_openssl(&p.params)?;
                crate::context::selfsigned::write_self_signed(cn, Path::new(path))?;
                p.params.set("smtpd_tls_chain_files", path)
            })
        }
    })
}

/// Session store callback: copy the session stored under `key` into `buf`
/// (`len` bytes) and return its full length; 0 when there is none. When
/// the return value exceeds `len`, the library calls again with a larger
/// buffer.
pub type mtatls_cache_get_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        key: *const c_char,
        buf: *mut u8,
        len: usize,
    ) -> usize,
>;
/// Session store callback: keep `len` bytes of `data` under `key` until
/// `expires` (Unix time).
pub type mtatls_cache_put_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        key: *const c_char,
        data: *const u8,
        len: usize,
        expires: u64,
    ),
>;
/// Session store callback: forget `key`.
pub type mtatls_cache_remove_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, key: *const c_char)>;

struct HostStore {
    get: unsafe extern "C" fn(*mut c_void, *const c_char, *mut u8, usize) -> usize,
    put: unsafe extern "C" fn(*mut c_void, *const c_char, *const u8, usize, u64),
    remove: unsafe extern "C" fn(*mut c_void, *const c_char),
    userdata: usize,
}

/// Largest session the library accepts from the host's store.
const MAX_SESSION_DER: usize = 64 * 1024;

impl crate::context::cache::SessionStore for HostStore {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let k = to_cstring(key);
        let mut buf = vec![0u8; 4096];
        for _ in 0..2 {
            // SAFETY: the host promised the callback and userdata stay valid.
            let n = unsafe {
                (self.get)(
                    self.userdata as *mut c_void,
                    k.as_ptr(),
                    buf.as_mut_ptr(),
                    buf.len(),
                )
            };
            if n == 0 {
                return None;
            }
            if n <= buf.len() {
                buf.truncate(n);
                return Some(buf);
            }
            if n > MAX_SESSION_DER {
                return None;
            }
            buf.resize(n, 0);
        }
        None
    }

    fn put(&self, key: &str, der: &[u8], expires: u64) {
        let k = to_cstring(key);
        // SAFETY: as above.
        unsafe {
            (self.put)(
                self.userdata as *mut c_void,
                k.as_ptr(),
                der.as_ptr(),
                der.len(),
                expires,
            )
        };
    }

    fn remove(&self, key: &str) {
        let k = to_cstring(key);
        // SAFETY: as above.
        unsafe { (self.remove)(self.userdata as *mut c_void, k.as_ptr()) };
    }
}

/// Client session cache in the host's store (for example shared between
/// processes) instead of process memory, for contexts made from now on.
/// All three callbacks or none (NULL: back to memory). They are called
/// from the threads running handshakes and must be thread-safe; `userdata`
/// must stay valid as long as such contexts exist. Keys are NUL-terminated
/// strings; values are DER-encoded sessions.
///
/// - NULL: `params` NULL, or some but not all callbacks NULL:
///   `MTATLS_RESULT_NULL_PARAMETER`; all three NULL: back to memory.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`params` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC` (internal error;
///   `params` is unusable).
/// - Memory: callbacks and `userdata` are borrowed while contexts made from
///   these parameters exist; keys and values passed to the callbacks are valid
///   only during the call.
/// - Blocking: no (the callbacks are called during handshakes).
/// - Threads: not thread-safe: one thread at a time per `params`. The
///   callbacks must be thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_params_set_session_cache(
    params: *mut mtatls_params,
    get: mtatls_cache_get_callback,
    put: mtatls_cache_put_callback,
    remove: mtatls_cache_remove_callback,
    userdata: *mut c_void,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: params is NULL or valid per the contract.
        unsafe {
            with_params(params, |p| {
                match (get, put, remove) {
                    (None, None, None) => p.hooks.session_store = None,
                    (Some(get), Some(put), Some(remove)) => p.hooks.session_store = Some(Arc::new(HostStore {
                        get,
                        put,
                        remove,
                        userdata: userdata as usize,
                    })),
                    _ => {
                        return Err(Error::new(
                            crate::error::ErrorKind::NullParameter,
                            "session cache: give all three callbacks, or none",
                        ))
                    }
                }
                Ok(())
            })
        }
    })
}

/// The name of the client session cache in log lines (`looking for
/// session ... in NAME cache`), as Postfix names its cache by type
/// (`smtp`, `lmtp`, `memory` for posttls-finger's); default: the role
/// prefix. For contexts made from now on.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_INVALID_ARGUMENT` (empty, not UTF-8, or not one word of
///   printable characters), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC`.
/// - Memory: `name` is copied.
/// - Blocking: no.
/// - Threads: not thread-safe: one thread at a time per `params`.
#[no_mangle]
pub extern "C" fn mtatls_params_set_session_cache_name(
    params: *mut mtatls_params,
    name: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: params is NULL or valid per the contract.
        unsafe {
            with_params(params, |p| {
                let name = arg_str(name, "session cache name")?;
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(Error::new(
                        crate::error::ErrorKind::InvalidArgument,
                        format!("session cache name \"{name}\": expected one word of printable characters"),
                    ));
                }
                p.hooks.cache_name = Some(name.to_string());
                Ok(())
            })
        }
    })
}

/// SNI selector callback: `servername` is the name the client asked for
/// (already checked to be a valid host name). Write the key of the
/// `tls_server_sni_maps` entry to use into `key` (`len` bytes, NUL-terminated)
/// and return true; return false to keep the default chain.
pub type mtatls_sni_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        servername: *const c_char,
        key: *mut c_char,
        len: usize,
    ) -> bool,
>;

/// Server: let the host pick the `tls_server_sni_maps` entry for each SNI
/// name instead of Postfix's lookup (the name, then its parent domains),
/// for contexts made from now on. The chains themselves still come from
/// `tls_server_sni_maps` and are all loaded when the context is built.
/// NULL `callback`: back to Postfix's lookup. The callback runs on the
/// threads doing handshakes and must be thread-safe; `userdata` must stay
/// valid while such contexts exist.
///
/// - NULL: `params` NULL: `MTATLS_RESULT_NULL_PARAMETER`; `callback` NULL:
///   Postfix's lookup.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`params` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC` (internal error;
///   `params` is unusable).
/// - Memory: the callback and `userdata` are borrowed while contexts made from
///   these parameters exist.
/// - Blocking: no (the callback is called during handshakes).
/// - Threads: not thread-safe: one thread at a time per `params`. The callback
///   must be thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_params_set_sni_callback(
    params: *mut mtatls_params,
    callback: mtatls_sni_callback,
    userdata: *mut c_void,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: params is NULL or valid per the contract.
        unsafe {
            with_params(params, |p| {
                let selector: Option<Arc<crate::context::sni::SniSelector>> = callback.map(|f| {
                    let userdata = userdata as usize;
                    Arc::new(move |name: &str| {
                        let c = to_cstring(name);
                        let mut buf = [0 as c_char; 256];
                        // SAFETY: the host promised f and userdata stay valid.
                        let ok = f(userdata as *mut c_void, c.as_ptr(), buf.as_mut_ptr(), buf.len());
                        buf[buf.len() - 1] = 0;
                        ok.then(|| std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
                    }) as Arc<crate::context::sni::SniSelector>
                });
                p.hooks.sni_selector = selector;
                Ok(())
            })
        }
    })
}
