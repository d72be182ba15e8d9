//! Postfix's own util/global functions and data, found at run time with
//! `dlsym(RTLD_DEFAULT, ...)`: this library never references a Postfix
//! symbol at link time, so it loads into every daemon (cleanup, qmgr, ...
//! do not link libpostfix-dns or libpostfix-tls) and as an LD_PRELOAD.
//!
//! Outside a Postfix process (unit tests, `ldd -r`) the symbols are
//! missing: log lines then go to stderr and memory comes from libc.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A lazily resolved symbol address (0: not looked up yet, 1: missing).
pub struct Sym {
    name: &'static CStr,
    addr: AtomicUsize,
}

impl Sym {
    pub const fn new(name: &'static CStr) -> Sym {
        Sym {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The address, or None when the process has no such symbol.
    pub fn get(&self) -> Option<*mut c_void> {
        let mut a = self.addr.load(Ordering::Relaxed);
        if a == 0 {
            // SAFETY: dlsym with a NUL-terminated name.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, self.name.as_ptr()) };
            a = if p.is_null() { 1 } else { p as usize };
            self.addr.store(a, Ordering::Relaxed);
        }
        (a != 1).then_some(a as *mut c_void)
    }
}

/// `dlsym(RTLD_NEXT, name)`: the definition after ours (LD_PRELOAD mode:
/// Debian's library).
pub fn next(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with a NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

type MsgFn = unsafe extern "C" fn(*const c_char, ...);

static MSG_INFO: Sym = Sym::new(c"msg_info");
static MSG_WARN: Sym = Sym::new(c"msg_warn");
static MSG_PANIC: Sym = Sym::new(c"msg_panic");
static MYMALLOC: Sym = Sym::new(c"mymalloc");
static MYFREE: Sym = Sym::new(c"myfree");
static VSTREAM_CONTROL: Sym = Sym::new(c"vstream_control");
pub static DUMMY_READ: Sym = Sym::new(c"dummy_read");
pub static DUMMY_WRITE: Sym = Sym::new(c"dummy_write");
static GET_STR: Sym = Sym::new(c"get_mail_conf_str");
static GET_INT: Sym = Sym::new(c"get_mail_conf_int");
static GET_BOOL: Sym = Sym::new(c"get_mail_conf_bool");
static LOOKUP_EVAL: Sym = Sym::new(c"mail_conf_lookup_eval");
static VAR_PROCNAME: Sym = Sym::new(c"var_procname");

fn to_c(text: &str) -> CString {
    CString::new(text.replace('\0', "?")).unwrap_or_default()
}

fn msg(sym: &Sym, prefix: &str, line: &str) {
    let c = to_c(line);
    match sym.get() {
        Some(f) => {
            // SAFETY: msg_info/msg_warn are printf-like functions of
            // libpostfix-util; "%s" with one C string.
            unsafe {
                let f: MsgFn = std::mem::transmute::<*mut c_void, MsgFn>(f);
                f(c"%s".as_ptr(), c.as_ptr());
            }
        }
        None => eprintln!("{prefix}{line}"),
    }
}

/// Postfix `msg_info`.
pub fn info(line: &str) {
    msg(&MSG_INFO, "", line);
}

/// Postfix `msg_warn` (Postfix adds `warning: `).
pub fn warn(line: &str) {
    msg(&MSG_WARN, "warning: ", line);
}

/// With `MTATLS_POSTFIX_TRACE` in the environment (master(8) passes it on
/// when main.cf's `import_environment` names it), one info line
/// `mtatls-postfix: WHAT` per entry point: proof of which library ran.
pub fn trace(what: impl FnOnce() -> String) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("MTATLS_POSTFIX_TRACE").is_some()) {
        info(&format!("mtatls-postfix: {}", what()));
    }
}

/// Postfix `msg_panic`: logs and aborts.
pub fn panic(line: &str) -> ! {
    msg(&MSG_PANIC, "panic: ", line);
    std::process::abort();
}

/// The mtatls logger that sends every line to Postfix's msg_info/msg_warn.
/// Lines mtatls logs that Debian's Postfix 3.7.11 library does not: its
/// loglevel-2 "HOST: forward secrecy: yes, key-exchange X25519" line.
fn not_in_postfix(line: &str) -> bool {
    line.contains(": forward secrecy: ")
}

pub fn logger() -> mtatls::Logger {
    mtatls::Logger::with_sink(std::sync::Arc::new(|sev, line: &str| match sev {
        mtatls::Severity::Warning => emit_line(true, line),
        mtatls::Severity::Info if not_in_postfix(line) => {}
        mtatls::Severity::Info => emit_line(false, line),
    }))
}

fn emit_line(warning: bool, line: &str) {
    let emit = |l: &str| if warning { warn(l) } else { info(l) };
    // 3.10+: TLSRPT reports of the client session being started go with
    // the lines Postfix puts them with.
    #[cfg(feature = "pf310")]
    crate::tlsrpt::filter(warning, line, &emit);
    #[cfg(not(feature = "pf310"))]
    emit(line);
}

static MSG_VERBOSE: Sym = Sym::new(c"msg_verbose");

/// Postfix's `msg_verbose` (0 outside Postfix).
pub fn msg_verbose() -> c_int {
    match MSG_VERBOSE.get() {
        // SAFETY: `int msg_verbose` of libpostfix-util.
        Some(p) => unsafe { *(p as *const c_int) },
        None => 0,
    }
}

/// Zeroed memory Postfix's `myfree` accepts (mymalloc), at least 1 byte.
pub fn alloc_zeroed(len: usize) -> *mut c_void {
    let len = len.max(1);
    match MYMALLOC.get() {
        Some(f) => {
            // SAFETY: mymalloc(ssize_t) of libpostfix-util; it never
            // returns NULL (it exits on failure).
            unsafe {
                let f: unsafe extern "C" fn(isize) -> *mut c_void = std::mem::transmute(f);
                let p = f(len as isize);
                std::ptr::write_bytes(p.cast::<u8>(), 0, len);
                p
            }
        }
        // SAFETY: plain calloc.
        None => unsafe { libc::calloc(1, len) },
    }
}

/// Free memory from [`alloc_zeroed`] / [`strdup`].
///
/// # Safety
/// `p` is NULL or came from this module's allocators.
pub unsafe fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    match MYFREE.get() {
        Some(f) => {
            let f: unsafe extern "C" fn(*mut c_void) = std::mem::transmute(f);
            f(p)
        }
        None => libc::free(p),
    }
}

/// A copy of `text` in Postfix memory (NUL bytes become `?`).
pub fn strdup(text: &str) -> *mut c_char {
    let bytes = text.as_bytes();
    let p = alloc_zeroed(bytes.len() + 1).cast::<u8>();
    for (i, b) in bytes.iter().enumerate() {
        // SAFETY: p has bytes.len() + 1 zeroed bytes.
        unsafe { *p.add(i) = if *b == 0 { b'?' } else { *b } };
    }
    p.cast()
}

/// A C string argument as Rust text (NULL: None; invalid UTF-8 is
/// replaced).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub unsafe fn opt_str(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
}

/// As [`opt_str`], NULL becoming "".
///
/// # Safety
/// As [`opt_str`].
pub unsafe fn str_or_empty(p: *const c_char) -> String {
    opt_str(p).unwrap_or_default()
}

/// `VSTREAM_RW_FN`.
pub type RwFn = unsafe extern "C" fn(c_int, *mut c_void, usize, c_int, *mut c_void) -> isize;

/// `vstream_control(stream, READ_FN, rd, WRITE_FN, wr, CONTEXT, ctx, END)`.
/// False when the process has no VSTREAM library.
///
/// # Safety
/// `stream` is a live VSTREAM.
pub unsafe fn vstream_hook(
    stream: *mut c_void,
    rd: *mut c_void,
    wr: *mut c_void,
    context: *mut c_void,
) -> bool {
    let Some(f) = VSTREAM_CONTROL.get() else {
        return false;
    };
    let f: unsafe extern "C" fn(*mut c_void, c_int, ...) = std::mem::transmute(f);
    const READ_FN: c_int = 1;
    const WRITE_FN: c_int = 2;
    const CONTEXT: c_int = 10;
    const END: c_int = 0;
    f(stream, READ_FN, rd, WRITE_FN, wr, CONTEXT, context, END);
    true
}

/// `get_mail_conf_str(name, def, min, max)`: the evaluated value (main.cf
/// and `-o` overrides), `def` outside Postfix.
pub fn conf_str(name: &str, def: &str, min: c_int, max: c_int) -> String {
    let (n, d) = (to_c(name), to_c(def));
    match GET_STR.get() {
        Some(f) => unsafe {
            // SAFETY: libpostfix-global's get_mail_conf_str; it returns a
            // mystrdup'ed string that the configuration keeps.
            let f: unsafe extern "C" fn(*const c_char, *const c_char, c_int, c_int) -> *mut c_char =
                std::mem::transmute(f);
            str_or_empty(f(n.as_ptr(), d.as_ptr(), min, max))
        },
        None => def.to_string(),
    }
}

/// `get_mail_conf_int(name, def, min, max)`.
pub fn conf_int(name: &str, def: c_int, min: c_int, max: c_int) -> c_int {
    let n = to_c(name);
    match GET_INT.get() {
        Some(f) => unsafe {
            // SAFETY: libpostfix-global's get_mail_conf_int.
            let f: unsafe extern "C" fn(*const c_char, c_int, c_int, c_int) -> c_int =
                std::mem::transmute(f);
            f(n.as_ptr(), def, min, max)
        },
        None => def,
    }
}

/// `get_mail_conf_bool(name, def)`.
pub fn conf_bool(name: &str, def: bool) -> bool {
    let n = to_c(name);
    match GET_BOOL.get() {
        Some(f) => unsafe {
            // SAFETY: libpostfix-global's get_mail_conf_bool.
            let f: unsafe extern "C" fn(*const c_char, c_int) -> c_int = std::mem::transmute(f);
            f(n.as_ptr(), def as c_int) != 0
        },
        None => def,
    }
}

/// `mail_conf_lookup_eval(name)`: the evaluated value of a parameter set
/// in main.cf or with `-o`, None when it has no explicit value.
pub fn conf_lookup(name: &str) -> Option<String> {
    let n = to_c(name);
    let f = LOOKUP_EVAL.get()?;
    // SAFETY: libpostfix-global's mail_conf_lookup_eval; the result is
    // owned by the configuration dictionary.
    unsafe {
        let f: unsafe extern "C" fn(*const c_char) -> *const c_char = std::mem::transmute(f);
        opt_str(f(n.as_ptr()))
    }
}

/// The process name Postfix set (`var_procname`, e.g. `smtpd`), or the
/// executable's base name.
pub fn procname() -> String {
    if let Some(p) = VAR_PROCNAME.get() {
        // SAFETY: var_procname is a `char *` of libpostfix-global.
        let s = unsafe { *(p as *const *const c_char) };
        // SAFETY: NULL or a string Postfix owns.
        if let Some(s) = unsafe { opt_str(s) } {
            return s;
        }
    }
    std::env::args()
        .next()
        .and_then(|a| a.rsplit('/').next().map(str::to_string))
        .unwrap_or_default()
}
