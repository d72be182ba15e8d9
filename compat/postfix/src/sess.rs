//! What the init and start calls share: the application context behind
//! `TLS_APPL_STATE *`, the `TLS_SESS_STATE` Postfix reads (the series'
//! layout, in Postfix memory, with a private tail pointing at the live
//! mtatls session), the handshake loop, the VSTREAM read/write callbacks of
//! VSTREAM hooks, and `tls_session_stop`.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::{Duration, Instant};

use foreign_types::ForeignTypeRef;
use mtatls::Facts;
use mtatls::Timeout;
use mtatls::{Context, ErrorKind, Session};

use crate::abi::{self, SessState};
use crate::pf;

const APP_MAGIC: u64 = 0x6d74_6174_6c73_4150; // "mtatlsAP"
const SESS_MAGIC: u64 = 0x6d74_6174_6c73_5353; // "mtatlsSS"

/// Behind `TLS_APPL_STATE *`.
#[repr(C)]
pub struct AppState {
    magic: u64,
    /// Server (smtpd) or client (smtp, lmtp, posttls-finger).
    pub server: bool,
    /// The mtatls context (never changed once built: every per-session
    /// setting goes to the session).
    pub ctx: Arc<Context>,
    /// Postfix `TLS_LOG_*` bits in effect.
    pub log_mask: c_int,
    /// Server: the name of the tlsmgr(8) ticket key last installed.
    pub ticket_key_name: Option<[u8; 16]>,
}

// The `SSL *` of the handshake running on this thread, recorded when
// mtatls makes it (through the session's SSL setup): Postfix gets it in
// `TLS_SESS_STATE.con` (posttls-finger -P prints the chain from it), and
// this library reads what mtatls does not report on resumed sessions.
thread_local!(static LAST_SSL: std::cell::Cell<*mut openssl_sys::SSL> = const { std::cell::Cell::new(std::ptr::null_mut()) });

extern "C" {
    fn SSL_get_certificate(ssl: *const openssl_sys::SSL) -> *mut openssl_sys::X509;
    fn SSL_set_options(ssl: *mut openssl_sys::SSL, op: u64) -> u64;
}

const SSL_OP_IGNORE_UNEXPECTED_EOF: u64 = 1 << 7;

/// Forget the recorded `SSL *` (before a handshake).
pub fn clear_ssl() {
    LAST_SSL.with(|c| c.set(std::ptr::null_mut()));
}

/// The `SSL *` of the last handshake on this thread.
pub fn last_ssl() -> *mut openssl_sys::SSL {
    LAST_SSL.with(|c| c.get())
}

/// Server, resumed TLS 1.3 session: Debian's library names the signature
/// of the server's own certificate without a digest (none is negotiated).
///
/// # Safety
/// `ssl` is NULL or the live SSL of the session.
pub unsafe fn own_cert_signature(ssl: *mut openssl_sys::SSL) -> Option<mtatls::Signature> {
    if ssl.is_null() {
        return None;
    }
    let cert = SSL_get_certificate(ssl);
    if cert.is_null() {
        return None;
    }
    let key = <openssl::x509::X509Ref as foreign_types::ForeignTypeRef>::from_ptr(cert)
        .public_key()
        .ok()?;
    use openssl::pkey::Id;
    let (name, curve, bits) = match key.id() {
        Id::RSA => ("RSA-PSS".to_string(), String::new(), key.bits() as i32),
        Id::EC => {
            let curve = key
                .ec_key()
                .ok()
                .and_then(|ec| ec.group().curve_name())
                .and_then(|n| n.short_name().ok().map(str::to_string))
                .unwrap_or_default();
            ("ECDSA".to_string(), curve, key.bits() as i32)
        }
        Id::ED25519 => ("ED25519".to_string(), String::new(), 0),
        Id::ED448 => ("ED448".to_string(), String::new(), 0),
        _ => return None,
    };
    Some(mtatls::Signature {
        name,
        curve,
        bits,
        digest: String::new(),
    })
}

impl AppState {
    pub fn new(server: bool, ctx: Context, log_mask: c_int) -> *mut AppState {
        Box::into_raw(Box::new(AppState {
            magic: APP_MAGIC,
            server,
            ctx: Arc::new(ctx),
            log_mask,
            ticket_key_name: None,
        }))
    }

    /// The state behind a `TLS_APPL_STATE *` from this library (None, with
    /// a warning, for anything else).
    ///
    /// # Safety
    /// `p` is NULL or a pointer a Postfix caller got from an init call.
    pub unsafe fn from_ptr<'a>(p: *mut c_void, who: &str) -> Option<&'a mut AppState> {
        let app = p.cast::<AppState>();
        if app.is_null() || (*app).magic != APP_MAGIC {
            pf::warn(&format!(
                "{who}: the TLS application context does not come from this library"
            ));
            return None;
        }
        Some(&mut *app)
    }

    /// Record the caller's Postfix log mask (`tls_update_app_logmask`);
    /// sessions started from now on use it.
    pub fn set_log_mask(&mut self, mask: c_int) {
        self.log_mask = mask;
    }

    /// The mtatls log mask of a session started now: the caller's
    /// Postfix mask without SUMMARY (this library logs the summary line
    /// itself, after adjusting the facts).
    pub fn session_log_mask(&self) -> u32 {
        crate::misc::to_mtatls_mask(self.log_mask) & !mtatls::unstable::mask::SUMMARY
    }
}

/// What a session's OpenSSL object gets when mtatls makes it: recorded as
/// this thread's `SSL *`, and Debian's lost-connection behaviour for a peer
/// that closes without close_notify (3.10+ clients: Postfix's
/// verification error record too). The grade, exclusions and protocols of
/// each session are the session's own settings (see `client.rs`,
/// `server.rs`). Nothing shared is changed.
pub fn ssl_setup() -> mtatls::unstable::SslSetup {
    Box::new(move |ssl: &mut openssl::ssl::SslRef| {
        let ptr = ssl.as_ptr();
        LAST_SSL.with(|c| c.set(ptr));
        // 3.10+ client sessions: record Postfix's verification error.
        #[cfg(feature = "pf310")]
        // SAFETY: the live SSL, right after SSL_new.
        unsafe {
            crate::tlsrpt::wrap_verify(ptr)
        };
        // SAFETY: a live SSL, not yet in a handshake.
        unsafe { SSL_set_options(ptr, SSL_OP_IGNORE_UNEXPECTED_EOF) };
        Ok(())
    })
}

/// A warning about the session with `label`: `message` as it is when it
/// names the session already, else after "LABEL: ".
pub fn with_label(label: &str, message: &str) -> String {
    if message.starts_with(&format!("{label}: ")) {
        message.to_string()
    } else {
        format!("{label}: {message}")
    }
}

/// Whether `p` is an application context of this library.
///
/// # Safety
/// `p` is NULL or points at least 8 readable bytes.
pub unsafe fn is_our_app(p: *mut c_void) -> bool {
    !p.is_null() && (*p.cast::<AppState>()).magic == APP_MAGIC
}

/// Free an application context of this library.
///
/// # Safety
/// As [`AppState::from_ptr`]; the pointer is not used afterwards.
pub unsafe fn free_app(p: *mut c_void) {
    if AppState::from_ptr(p, "tls_free_app_context").is_some() {
        drop(Box::from_raw(p.cast::<AppState>()));
    }
}

/// A live session: what the private tail of a `TLS_SESS_STATE` points at.
pub struct Live {
    pub session: Session,
    pub stream: *mut c_void,
    pub fd: c_int,
}

/// `TLS_SESS_STATE` plus the private tail.
#[repr(C)]
struct Block {
    state: SessState,
    magic: u64,
    live: *mut Live,
}

/// The live session of a context made by this library.
///
/// # Safety
/// `sess` is NULL or a `TLS_SESS_STATE *` a Postfix caller holds.
pub unsafe fn live_of<'a>(sess: *mut c_void) -> Option<&'a mut Live> {
    let b = sess.cast::<Block>();
    if b.is_null() || (*b).magic != SESS_MAGIC || (*b).live.is_null() {
        return None;
    }
    Some(&mut *(*b).live)
}

/// Whether `sess` was made by this library.
///
/// # Safety
/// As [`live_of`].
pub unsafe fn is_ours(sess: *mut c_void) -> bool {
    let b = sess.cast::<Block>();
    !b.is_null() && (*b).magic == SESS_MAGIC
}

fn opt_dup(text: &str) -> *const c_char {
    if text.is_empty() {
        std::ptr::null()
    } else {
        pf::strdup(text)
    }
}

/// The `TLS_SESS_STATE` of a context of this library, for the client's
/// 3.10+ fields.
///
/// # Safety
/// `sess` came from [`new_state`] and is alive.
pub unsafe fn state_mut<'a>(sess: *mut c_void) -> &'a mut SessState {
    &mut (*sess.cast::<Block>()).state
}

/// A `TLS_SESS_STATE` for an established session, filled as Postfix's
/// library fills it (strings in Postfix memory; TLS 1.3-only fields NULL
/// for older protocols).
#[allow(clippy::too_many_arguments)]
pub fn new_state(
    facts: &Facts,
    level: c_int,
    peer_status: u32,
    am_server: bool,
    live: Live,
    mdalg: &str,
    dane: *const abi::Dane,
    con: *mut openssl_sys::SSL,
) -> *mut c_void {
    let b = pf::alloc_zeroed(std::mem::size_of::<Block>()).cast::<Block>();
    // SAFETY: b is zeroed memory of Block's size; every field is a
    // pointer or an integer, for which zero is valid.
    unsafe {
        let s = &mut (*b).state;
        s.peer_CN = pf::strdup(&facts.peer_cn);
        s.issuer_CN = pf::strdup(&facts.issuer_cn);
        s.peer_sni = if facts.peer_sni.is_empty() {
            std::ptr::null_mut()
        } else {
            pf::strdup(&facts.peer_sni)
        };
        s.peer_cert_fprint = pf::strdup(&facts.peer_cert_fprint);
        s.peer_pkey_fprint = pf::strdup(&facts.peer_pkey_fprint);
        s.level = level;
        s.peer_status = peer_status as c_int;
        s.protocol = pf::strdup(&facts.protocol);
        s.cipher_name = pf::strdup(&facts.cipher_name);
        s.cipher_usebits = facts.cipher_usebits;
        s.cipher_algbits = facts.cipher_algbits;
        if facts.protocol == "TLSv1.3" {
            s.kex_name = opt_dup(&facts.kex_name);
            s.kex_curve = opt_dup(&facts.kex_curve);
            s.kex_bits = facts.kex_bits;
            let sig = |sig: &mtatls::Signature| {
                (
                    opt_dup(&sig.name),
                    opt_dup(&sig.curve),
                    sig.bits,
                    opt_dup(&sig.digest),
                )
            };
            (
                s.clnt_sig_name,
                s.clnt_sig_curve,
                s.clnt_sig_bits,
                s.clnt_sig_dgst,
            ) = sig(&facts.client_sig);
            (
                s.srvr_sig_name,
                s.srvr_sig_curve,
                s.srvr_sig_bits,
                s.srvr_sig_dgst,
            ) = sig(&facts.server_sig);
        }
        s.con = con.cast();
        s.namaddr = pf::strdup(&facts.peer_label);
        s.session_reused = facts.reused as c_int;
        s.am_server = am_server as c_int;
        s.mdalg = pf::strdup(mdalg);
        s.stream = live.stream;
        s.dane = dane;
        s.log_mask = 0;
        // 3.9+: which side sent a raw public key (only with an OpenSSL
        // of 3.2 or later; always 0 with the system's 3.0);
        // 3.10+: rpt_reported and ffail_type are set by the client.
        #[cfg(feature = "pf39")]
        {
            s.ctos_rpk = facts.ctos_rpk as c_int;
            s.stoc_rpk = facts.stoc_rpk as c_int;
        }
        (*b).magic = SESS_MAGIC;
        (*b).live = Box::into_raw(Box::new(live));
    }
    b.cast()
}

/// Free a `TLS_SESS_STATE` of this library (the live session included).
///
/// # Safety
/// `sess` came from [`new_state`] and is not used afterwards.
pub unsafe fn free_state(sess: *mut c_void) {
    let b = sess.cast::<Block>();
    if !(*b).live.is_null() {
        drop(Box::from_raw((*b).live));
        (*b).live = std::ptr::null_mut();
    }
    let s = &mut (*b).state;
    for p in [
        s.peer_CN,
        s.issuer_CN,
        s.peer_sni,
        s.peer_cert_fprint,
        s.peer_pkey_fprint,
        s.protocol as *mut c_char,
        s.cipher_name as *mut c_char,
        s.kex_name as *mut c_char,
        s.kex_curve as *mut c_char,
        s.clnt_sig_name as *mut c_char,
        s.clnt_sig_curve as *mut c_char,
        s.clnt_sig_dgst as *mut c_char,
        s.srvr_sig_name as *mut c_char,
        s.srvr_sig_curve as *mut c_char,
        s.srvr_sig_dgst as *mut c_char,
        s.cache_type,
        s.serverid,
        s.namaddr,
        s.mdalg as *mut c_char,
    ] {
        pf::free(p.cast());
    }
    #[cfg(feature = "pf310")]
    pf::free(s.ffail_type.cast());
    (*b).magic = 0;
    pf::free(b.cast());
}

/// Wait until `fd` is ready (`POLLIN`/`POLLOUT`) for at most `ms`
/// milliseconds (None: without limit), with the library's wait. Err:
/// errno (ETIMEDOUT on timeout); a signal just waits on.
fn poll_fd(fd: c_int, events: libc::c_short, ms: Option<u128>) -> Result<(), i32> {
    use mtatls::unstable::{Deadline, WaitError, Want};
    let want = if events == libc::POLLOUT {
        Want::Write
    } else {
        Want::Read
    };
    let budget = match ms {
        Some(ms) => Duration::from_millis(ms.min(u64::MAX as u128) as u64),
        None => Duration::from_secs(u64::MAX / 4),
    };
    let deadline = Deadline::start(Timeout::After(budget));
    // Bounded: each round either ends or was interrupted by a signal.
    loop {
        match deadline.wait(fd, want) {
            Ok(()) => return Ok(()),
            Err(WaitError::Interrupted) => continue,
            Err(WaitError::TimedOut) => return Err(libc::ETIMEDOUT),
            Err(WaitError::Os(e)) => return Err(e),
            Err(WaitError::WouldBlock(_)) => return Err(libc::EAGAIN),
        }
    }
}

fn set_errno(e: i32) {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

fn strerror(e: i32) -> String {
    std::io::Error::from_raw_os_error(e)
        .to_string()
        .split(" (os error")
        .next()
        .unwrap_or("")
        .to_string()
}

/// How a handshake ended.
pub enum Handshake {
    /// Established; the error is the authentication failure the caller
    /// judges itself (mtatls `NotVerified`), if any.
    Done(Option<mtatls::Error>),
    /// Failed (already logged).
    Failed,
}

/// Run the handshake in non-blocking steps, waiting up to `timeout`
/// seconds for each readiness event as Debian's library does (≤0: no
/// limit). Timeouts and poll errors are logged as Postfix logs them.
pub fn handshake(
    session: &mut Session,
    fd: c_int,
    timeout: c_int,
    server: bool,
    label: &str,
) -> Handshake {
    loop {
        let events = match session.handshake(Some(Timeout::NonBlocking)) {
            Ok(()) => return Handshake::Done(None),
            Err(e) => match e.kind() {
                ErrorKind::WantRead => libc::POLLIN,
                ErrorKind::WantWrite => libc::POLLOUT,
                ErrorKind::Interrupted => continue,
                ErrorKind::NotVerified => return Handshake::Done(Some(e)),
                _ => return Handshake::Failed,
            },
        };
        let ms = (timeout > 0).then(|| timeout as u128 * 1000);
        if let Err(errno) = poll_fd(fd, events, ms) {
            let op = if server {
                "SSL_accept error from"
            } else {
                "SSL_connect error to"
            };
            pf::info(&format!(
                "{op} {}: {}",
                label.to_lowercase(),
                strerror(errno)
            ));
            return Handshake::Failed;
        }
    }
}

/// Read/write on a live session with VSTREAM's timeout rules: exactly -1
/// and errno on error, ETIMEDOUT on timeout; with the stream's deadline
/// flag the timeout is a budget for the whole call, else for each wait.
fn io_loop(
    live: &mut Live,
    timeout: c_int,
    mut op: impl FnMut(&mut Session) -> mtatls::Result<usize>,
) -> isize {
    // SAFETY: the stream is the live VSTREAM this session is hooked to.
    let deadline = !live.stream.is_null() && unsafe { abi::stream_has_deadline(live.stream) };
    let budget_end =
        (timeout > 0 && deadline).then(|| Instant::now() + Duration::from_secs(timeout as u64));
    loop {
        let events = match op(&mut live.session) {
            Ok(n) => return n as isize,
            Err(e) => match e.kind() {
                ErrorKind::WantRead => libc::POLLIN,
                ErrorKind::WantWrite => libc::POLLOUT,
                ErrorKind::Interrupted => continue,
                ErrorKind::Timeout => {
                    set_errno(libc::ETIMEDOUT);
                    return -1;
                }
                ErrorKind::PeerClosed => {
                    set_errno(libc::ECONNRESET);
                    return -1;
                }
                _ => {
                    set_errno(libc::EIO);
                    return -1;
                }
            },
        };
        let ms = if timeout <= 0 {
            None
        } else if let Some(end) = budget_end {
            let now = Instant::now();
            if now >= end {
                set_errno(libc::ETIMEDOUT);
                return -1;
            }
            Some((end - now).as_millis().max(1))
        } else {
            Some(timeout as u128 * 1000)
        };
        if let Err(errno) = poll_fd(live.fd, events, ms) {
            set_errno(errno);
            return -1;
        }
    }
}

/// The VSTREAM read function hooked onto a TLS stream.
pub unsafe extern "C" fn vstream_read(
    _fd: c_int,
    buf: *mut c_void,
    len: usize,
    timeout: c_int,
    context: *mut c_void,
) -> isize {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(live) = live_of(context) else {
            set_errno(libc::EBADF);
            return -1;
        };
        if len == 0 {
            return 0;
        }
        let slice = std::slice::from_raw_parts_mut(buf.cast::<u8>(), len);
        io_loop(live, timeout, |s| s.read(slice, Some(Timeout::NonBlocking)))
    }));
    r.unwrap_or_else(|_| {
        set_errno(libc::EIO);
        -1
    })
}

/// The VSTREAM write function hooked onto a TLS stream.
pub unsafe extern "C" fn vstream_write(
    _fd: c_int,
    buf: *mut c_void,
    len: usize,
    timeout: c_int,
    context: *mut c_void,
) -> isize {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(live) = live_of(context) else {
            set_errno(libc::EBADF);
            return -1;
        };
        if len == 0 {
            return 0;
        }
        let slice = std::slice::from_raw_parts(buf.cast::<u8>().cast_const(), len);
        io_loop(live, timeout, |s| {
            s.write(slice, Some(Timeout::NonBlocking))
        })
    }));
    r.unwrap_or_else(|_| {
        set_errno(libc::EIO);
        -1
    })
}

/// Hook the VSTREAM onto the session (as Postfix's tls_stream_start).
///
/// # Safety
/// `stream` is NULL or a live VSTREAM; `sess` a context of this library.
pub unsafe fn hook(stream: *mut c_void, sess: *mut c_void) {
    if !stream.is_null() {
        let rd: pf::RwFn = vstream_read;
        let wr: pf::RwFn = vstream_write;
        if !pf::vstream_hook(stream, rd as *mut c_void, wr as *mut c_void, sess) {
            pf::warn("vstream_control not found: TLS stream not hooked");
        }
    }
}

/// Give the VSTREAM back its harmless dummies (as Postfix's tls_stream_stop).
///
/// # Safety
/// `stream` is NULL or a live VSTREAM.
pub unsafe fn unhook(stream: *mut c_void) {
    if stream.is_null() {
        return;
    }
    match (pf::DUMMY_READ.get(), pf::DUMMY_WRITE.get()) {
        (Some(rd), Some(wr)) => {
            pf::vstream_hook(stream, rd, wr, std::ptr::null_mut());
        }
        _ => pf::warn("dummy_read/dummy_write not found: TLS stream not unhooked"),
    }
}

/// `void tls_session_stop(TLS_APPL_STATE *, VSTREAM *, int timeout, int
/// failure, TLS_SESS_STATE *)`.
///
/// # Safety
/// Postfix's contract: `sess` is a context from a start call of this
/// library, not used afterwards; `stream` the stream it was hooked to.
pub unsafe fn session_stop(stream: *mut c_void, timeout: c_int, failure: c_int, sess: *mut c_void) {
    if sess.is_null() {
        pf::panic("tls_session_stop: null TLScontext");
    }
    if !is_ours(sess) {
        pf::warn("tls_session_stop: the TLS session context does not come from this library; not stopped");
        unhook(stream);
        return;
    }
    pf::trace(|| format!("tls_session_stop failure={failure}"));
    if let Some(live) = live_of(sess) {
        if failure == 0 {
            let t = if timeout > 0 {
                Timeout::After(Duration::from_secs(timeout as u64))
            } else {
                Timeout::After(Duration::from_secs(300))
            };
            let _ = live.session.stop(Some(t));
        }
    }
    free_state(sess);
    unhook(stream);
}

/// The words of an mtatls log mask (for the `*_tls_loglevel` value given
/// to mtatls, so that its context logs what Postfix's would).
pub fn mask_words(bits: u32) -> String {
    use mtatls::unstable::mask as m;
    let mut words = vec![];
    for (b, w) in [
        (m::SUMMARY, "summary"),
        (m::UNTRUSTED, "untrusted"),
        (m::PEERCERT, "peercert"),
        (m::CERTMATCH, "certmatch"),
        (m::VERBOSE, "verbose"),
        (m::CACHE, "cache"),
        (m::DEBUG, "ssl-debug"),
        (m::TLSPKTS, "ssl-handshake-packet-dump"),
        (m::ALLPKTS, "ssl-session-packet-dump"),
        (m::DANE, "dane"),
    ] {
        if bits & b != 0 {
            words.push(w);
        }
    }
    if words.is_empty() {
        "0".to_string()
    } else {
        words.join(", ")
    }
}

/// Log a Postfix summary line for `facts` if the mask asks for one
/// (resumed sessions as Postfix 3.7 logs them: with the signature
/// algorithms that are known).
pub fn log_summary(facts: &Facts, log_mask: c_int) {
    if log_mask & abi::logbits::SUMMARY != 0 {
        let mut f = facts.clone();
        f.reused = false;
        pf::info(&mtatls::unstable::summary_line(&f));
    }
}

/// The facts of an established session as Debian's library reports them.
///
/// # Safety
/// `ssl` is NULL or the session's live SSL.
pub unsafe fn postfix_facts(session: &mut Session, ssl: *mut openssl_sys::SSL) -> Option<Facts> {
    let mut facts = session.facts()?.clone();
    // Resumed TLS 1.3 sessions: 3.7.13, 3.8.8, 3.9.2 and 3.10.0 stopped
    // naming signatures (none was made), in the log and in TLS_SESS_STATE.
    if facts.reused
        && facts.protocol == "TLSv1.3"
        && crate::release::has(&["3.7.13", "3.8.8", "3.9.2", "3.10.0"])
    {
        facts.client_sig = mtatls::Signature::default();
        facts.server_sig = mtatls::Signature::default();
        return Some(facts);
    }
    if facts.reused
        && facts.am_server
        && facts.protocol == "TLSv1.3"
        && facts.server_sig.name.is_empty()
    {
        if let Some(sig) = own_cert_signature(ssl) {
            facts.server_sig = sig;
        }
    }
    Some(facts)
}
