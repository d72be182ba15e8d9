//! The C API as a state machine: the input is a sequence of calls on up
//! to two socketpairs, each with a client and a server end — new, the
//! per-session setters, handshake, read, write, stop, free, the getters
//! — in blocking and non-blocking mode, with verification failures
//! (levels and names that cannot match), garbage written to a socket and
//! peers hanging up mixed in. After every call the invariants a host
//! relies on are checked:
//! - no panic (the target is built with panics that abort);
//! - a finished handshake's outcome never changes, and a failed or
//!   unverified handshake never later reports OK;
//! - every failure leaves a non-empty error text;
//! - every result is one of the documented codes;
//! - the library never closes a descriptor, and a freed session leaves
//!   its descriptor's status flags as they were.
#![no_main]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::fd::RawFd;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mtatls::ffi::ctx::*;
use mtatls::ffi::mtatls_result;
use mtatls::ffi::params::*;
use mtatls::ffi::session::*;
use mtatls_result::*;

#[path = "common/mod.rs"]
mod common;

/// Log lines become coverage features (see common::feature_logger).
unsafe extern "C" fn log_line(_userdata: *mut c_void, _level: c_int, line: *const c_char) {
    // SAFETY: the library passes a NUL-terminated line.
    let text = unsafe { CStr::from_ptr(line) }.to_string_lossy();
    common::feature(&text);
}

struct Contexts {
    server: usize,
    client: usize,
    /// Client context trusting the server's certificate (verify levels).
    client_ca: usize,
}

fn context(role: &str, settings: &[(&str, String)]) -> usize {
    let mut p: *mut mtatls_params = std::ptr::null_mut();
    assert_eq!(mtatls_params_new(&mut p), MTATLS_RESULT_OK);
    mtatls_params_set_log_callback(p, Some(log_line), std::ptr::null_mut());
    for (name, value) in settings {
        let (n, v) = (CString::new(*name).unwrap(), CString::new(value.as_str()).unwrap());
        assert_eq!(mtatls_params_set(p, n.as_ptr(), v.as_ptr()), MTATLS_RESULT_OK, "{name}");
    }
    let mut ctx: *mut mtatls_ctx = std::ptr::null_mut();
    let role = CString::new(role).unwrap();
    assert_eq!(mtatls_ctx_new(p, role.as_ptr(), &mut ctx), MTATLS_RESULT_OK);
    mtatls_params_free(p);
    ctx as usize
}

fn contexts() -> &'static Contexts {
    static CTX: OnceLock<Contexts> = OnceLock::new();
    CTX.get_or_init(|| {
        let f = common::files();
        Contexts {
            server: context(
                "smtpd",
                &[
                    ("smtpd_tls_security_level", "may".into()),
                    ("smtpd_tls_chain_files", f.path("rsa.pem")),
                    ("smtpd_tls_CAfile", f.path("ca.pem")),
                    ("smtpd_tls_ask_ccert", "yes".into()),
                    ("smtpd_tls_loglevel", "1".into()),
                ],
            ),
            client: context(
                "smtp",
                &[
                    ("smtp_tls_security_level", "may".into()),
                    ("smtp_tls_loglevel", "1".into()),
                ],
            ),
            client_ca: context(
                "smtp",
                &[
                    ("smtp_tls_security_level", "verify".into()),
                    ("smtp_tls_CAfile", f.path("ca.pem")),
                    ("smtp_tls_chain_files", f.path("ec.pem")),
                    ("smtp_tls_loglevel", "2".into()),
                ],
            ),
        }
    })
}

/// Reads the input a little at a time; zeros when it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.byte() as usize).min(max).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the checks remember of one session.
struct Tracked {
    handle: *mut mtatls_session,
    fd: RawFd,
    flags_before: c_int,
    /// The first outcome of a finished handshake.
    outcome: Option<mtatls_result>,
}

/// One socketpair: index 0 is the client's end, 1 the server's.
struct Pair {
    fds: [RawFd; 2],
    open: [bool; 2],
    /// The end has shut down its writing side (the other end sees EOF).
    shut: [bool; 2],
    sessions: [Option<Tracked>; 2],
}

const DOCUMENTED: &[mtatls_result] = &[
    MTATLS_RESULT_OK,
    MTATLS_RESULT_NULL_PARAMETER,
    MTATLS_RESULT_INVALID_ARGUMENT,
    MTATLS_RESULT_BAD_STATE,
    MTATLS_RESULT_INVALID_VALUE,
    MTATLS_RESULT_POLICY,
    MTATLS_RESULT_CONTEXT,
    MTATLS_RESULT_HANDSHAKE,
    MTATLS_RESULT_TIMEOUT,
    MTATLS_RESULT_PEER_CLOSED,
    MTATLS_RESULT_IO,
    MTATLS_RESULT_WANT_READ,
    MTATLS_RESULT_WANT_WRITE,
    MTATLS_RESULT_NOT_VERIFIED,
    MTATLS_RESULT_INTERRUPTED,
];

fn transient(r: mtatls_result) -> bool {
    matches!(
        r,
        MTATLS_RESULT_WANT_READ | MTATLS_RESULT_WANT_WRITE | MTATLS_RESULT_INTERRUPTED
    )
}

/// I/O succeeds only after a handshake that completed (an unverified one
/// may still carry QUIT: that is by design); never after a failed one.
fn assert_completed(t: &Tracked, what: &str) {
    assert!(
        matches!(t.outcome, Some(MTATLS_RESULT_OK | MTATLS_RESULT_NOT_VERIFIED)),
        "{what} succeeded after handshake outcome {:?}",
        t.outcome
    );
}

/// Checks common to every call on a session.
fn check_result(t: &Tracked, what: &str, r: mtatls_result) {
    common::feature(&format!("{what}:{r:?}"));
    assert!(DOCUMENTED.contains(&r), "{what}: undocumented result {r:?}");
    assert_ne!(r, MTATLS_RESULT_PANIC, "{what}: panic");
    if r != MTATLS_RESULT_OK {
        // SAFETY: the handle is live.
        let text = unsafe { CStr::from_ptr(mtatls_session_error(t.handle)) };
        assert!(!text.to_bytes().is_empty(), "{what}: {r:?} without error text");
    }
}

impl Pair {
    fn new() -> Pair {
        let mut fds = [0 as c_int; 2];
        // SAFETY: fds has room for two descriptors.
        let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        assert_eq!(r, 0, "socketpair");
        Pair {
            fds,
            open: [true, true],
            shut: [false, false],
            sessions: [None, None],
        }
    }

    fn check_fds(&self) {
        for side in 0..2 {
            if self.open[side] {
                assert!(
                    common::fd_flags(self.fds[side]).is_some(),
                    "descriptor {} was closed by the library",
                    self.fds[side]
                );
            }
        }
    }

    fn session_new(&mut self, side: usize, ctx: usize) {
        if self.sessions[side].is_some() || !self.open[side] {
            return;
        }
        let fd = self.fds[side];
        let flags_before = common::status_flags(fd);
        let mut handle: *mut mtatls_session = std::ptr::null_mut();
        let label = CString::new(if side == 0 {
            "fuzz.example[127.0.0.1]:25"
        } else {
            "client.example[127.0.0.1]"
        })
        .unwrap();
        let r = mtatls_session_new(ctx as *const mtatls_ctx, fd, label.as_ptr(), &mut handle);
        common::feature(&format!("new:{r:?}"));
        assert!(r == MTATLS_RESULT_OK || r == MTATLS_RESULT_BAD_STATE, "new: {r:?}");
        if r == MTATLS_RESULT_OK {
            assert!(!handle.is_null());
            self.sessions[side] = Some(Tracked {
                handle,
                fd,
                flags_before,
                outcome: None,
            });
        } else {
            assert!(handle.is_null(), "a failed new wrote the out-pointer");
        }
    }

    fn free(&mut self, side: usize) {
        if let Some(t) = self.sessions[side].take() {
            mtatls_session_free(t.handle);
            assert!(common::fd_flags(t.fd).is_some(), "free closed the descriptor");
            assert_eq!(
                common::status_flags(t.fd),
                t.flags_before,
                "free did not restore the descriptor's flags"
            );
        }
    }

    fn handshake(&mut self, side: usize, timeout: c_int) {
        let Some(t) = self.sessions[side].as_mut() else {
            return;
        };
        let r = mtatls_session_handshake(t.handle, timeout);
        check_result(t, "handshake", r);
        match t.outcome {
            Some(first) => assert_eq!(r, first, "a finished handshake changed its outcome"),
            None if !transient(r) && r != MTATLS_RESULT_BAD_STATE => t.outcome = Some(r),
            None => {}
        }
        // The facts exist exactly when the handshake completed.
        let facts = mtatls_session_get_facts(t.handle);
        let completed = matches!(t.outcome, Some(MTATLS_RESULT_OK | MTATLS_RESULT_NOT_VERIFIED));
        if !facts.is_null() {
            assert!(completed, "facts without a completed handshake");
        }
    }

    fn read(&mut self, side: usize, len: usize, timeout: c_int) {
        let Some(t) = self.sessions[side].as_ref() else {
            return;
        };
        let mut buf = vec![0u8; len];
        let mut n = usize::MAX;
        let r = mtatls_session_read(t.handle, buf.as_mut_ptr(), len, timeout, &mut n);
        check_result(t, "read", r);
        if r == MTATLS_RESULT_OK {
            assert!(n <= len);
            assert_completed(t, "read");
        }
    }

    fn write(&mut self, side: usize, data: &[u8], timeout: c_int) {
        let Some(t) = self.sessions[side].as_ref() else {
            return;
        };
        let mut n = usize::MAX;
        let r = mtatls_session_write(t.handle, data.as_ptr(), data.len(), timeout, &mut n);
        check_result(t, "write", r);
        if r == MTATLS_RESULT_OK {
            assert_eq!(n, data.len());
            assert_completed(t, "write");
        }
    }

    fn stop(&mut self, side: usize, timeout: c_int) {
        let Some(t) = self.sessions[side].as_ref() else {
            return;
        };
        let r = mtatls_session_stop(t.handle, timeout);
        check_result(t, "stop", r);
    }

    fn getters(&self, side: usize) {
        let Some(t) = self.sessions[side].as_ref() else {
            return;
        };
        let mut buf = [0 as c_char; 512];
        let n = mtatls_session_summary(t.handle, buf.as_mut_ptr(), buf.len());
        let completed = matches!(t.outcome, Some(MTATLS_RESULT_OK | MTATLS_RESULT_NOT_VERIFIED));
        assert!(n == 0 || completed, "a summary without a completed handshake");
        let _ = mtatls_session_received_comment(t.handle, buf.as_mut_ptr(), buf.len());
        let _ = mtatls_session_truncated(t.handle);
    }

    /// Bytes written by the other end around the TLS layer.
    fn inject(&mut self, side: usize, data: &[u8]) {
        let other = 1 - side;
        if self.open[other] && !data.is_empty() {
            // SAFETY: writing a buffer we own to our own socket.
            unsafe {
                libc::send(
                    self.fds[other],
                    data.as_ptr().cast(),
                    data.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
        }
    }

    /// The peer of `side` hangs up: half-close, or close (freeing its
    /// session first: a caller frees before closing).
    fn hang_up(&mut self, side: usize, full: bool) {
        let other = 1 - side;
        if !self.open[other] {
            return;
        }
        if full {
            self.free(other);
            // SAFETY: closing our own descriptor.
            unsafe { libc::close(self.fds[other]) };
            self.open[other] = false;
        } else {
            // SAFETY: shutdown on our own socket.
            unsafe { libc::shutdown(self.fds[other], libc::SHUT_WR) };
            self.shut[other] = true;
        }
    }

    fn client_setting(&mut self, op: u8, input: &mut Input) {
        let Some(t) = self.sessions[0].as_ref() else {
            return;
        };
        let text = |v: &str| CString::new(v).unwrap();
        let r = match op % 6 {
            0 => {
                let level = ["may", "encrypt", "fingerprint", "verify", "secure", "dane", "bogus", ""]
                    [input.byte() as usize % 8];
                mtatls_session_set_level(t.handle, text(level).as_ptr())
            }
            1 => {
                let host = ["fuzz.example", "wrong.example", ""][input.byte() as usize % 3];
                let (h, n) = (text(host), text("fuzz.example"));
                mtatls_session_set_peer_names(t.handle, h.as_ptr(), n.as_ptr())
            }
            2 => {
                let raw = input.bytes(64);
                let list = String::from_utf8_lossy(&raw).replace('\0', "");
                mtatls_session_set_match(t.handle, text(&list).as_ptr())
            }
            3 => {
                let data = input.bytes(64);
                let (u, s, m) = (input.byte() % 4, input.byte() % 2, input.byte() % 3);
                mtatls_session_add_tlsa(t.handle, u, s, m, data.as_ptr(), data.len())
            }
            4 => {
                let name = ["hostname", "nexthop", "fuzz.example", "", "bad name!"][input.byte() as usize % 5];
                mtatls_session_set_servername(t.handle, text(name).as_ptr())
            }
            _ => mtatls_session_set_serverid(t.handle, text("[fuzz.example]:25").as_ptr()),
        };
        check_result(t, "setter", r);
        if t.outcome.is_some() {
            assert_ne!(r, MTATLS_RESULT_OK, "a setter took effect after the handshake");
        }
    }

    fn close_all(&mut self) {
        self.free(0);
        self.free(1);
        self.check_fds();
        for side in 0..2 {
            if self.open[side] {
                // SAFETY: closing our own descriptor.
                unsafe { libc::close(self.fds[side]) };
                self.open[side] = false;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let ctxs = contexts();
    let mut input = Input(data);
    let mut pairs = [Pair::new(), Pair::new()];
    for _ in 0..64 {
        if input.done() {
            break;
        }
        let op = input.byte();
        let pair = &mut pairs[(op >> 7) as usize];
        let side = ((op >> 6) & 1) as usize;
        // A blocking call (one-second budget) where its peer has hung up,
        // so it ends at once; with a live, silent peer it would only wait
        // its second out (the C harnesses cover that), so it is made
        // non-blocking there to keep the rate up.
        let peer_gone = !pair.open[1 - side] || pair.shut[1 - side];
        let timeout = || if input_blocking(op) && peer_gone { 1 } else { 0 };
        match op & 0x0f {
            0 => pair.session_new(
                side,
                if side == 1 {
                    ctxs.server
                } else if op & 0x20 != 0 {
                    ctxs.client_ca
                } else {
                    ctxs.client
                },
            ),
            1 | 2 | 3 => {
                let t = timeout();
                pair.handshake(side, t)
            }
            4 => {
                let len = input.byte() as usize;
                let t = timeout();
                pair.read(side, len, t)
            }
            5 => {
                let bytes = input.bytes(200);
                let t = timeout();
                pair.write(side, &bytes, t)
            }
            6 => {
                let t = timeout();
                pair.stop(side, t)
            }
            7 => pair.free(side),
            8 | 9 => {
                let sub = input.byte();
                pair.client_setting(sub, &mut input)
            }
            10 => {
                let bytes = input.bytes(255);
                pair.inject(side, &bytes)
            }
            11 => pair.hang_up(side, op & 0x20 != 0),
            12 | 13 => pair.getters(side),
            _ => {
                // Both handshakes, non-blocking, a few rounds: gets most
                // inputs past the handshake.
                for _ in 0..8 {
                    pair.handshake(0, 0);
                    pair.handshake(1, 0);
                }
            }
        }
        pair.check_fds();
    }
    for p in &mut pairs {
        p.close_all();
    }
});

/// Calls whose op byte has bit 4 set block (with a one-second budget).
fn input_blocking(op: u8) -> bool {
    op & 0x10 != 0
}
