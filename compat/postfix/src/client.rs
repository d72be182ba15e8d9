//! `tls_client_init` / `tls_client_start` for smtp(8)/lmtp(8) and
//! posttls-finger(1).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;

use mtatls::unstable::status;
use mtatls::Level;
use mtatls::Tlsa;
use mtatls::{Context, Hooks, Params, Session};

use crate::abi::{level, ClientInitProps, ClientStartProps, Dane};
use crate::pf::{self, str_or_empty};
use crate::sess::{self, AppState, Handshake, Live};

/// `int tls_mgr_policy(const char *, int *cachable, int *timeout)` as the
/// process defines it: Debian's library in LD_PRELOAD mode (tlsmgr(8)),
/// posttls-finger's own in-memory one, or this library's (no caching).
fn mgr_policy(cache_type: &str) -> Option<c_int> {
    static SYM: pf::Sym = pf::Sym::new(c"tls_mgr_policy");
    let f = SYM.get()?;
    let ct = std::ffi::CString::new(cache_type).ok()?;
    let (mut cachable, mut timeout) = (0, 0);
    // SAFETY: the process's tls_mgr_policy with Postfix's signature.
    let st = unsafe {
        let f: unsafe extern "C" fn(*const c_char, *mut c_int, *mut c_int) -> c_int =
            std::mem::transmute(f);
        f(ct.as_ptr(), &mut cachable, &mut timeout)
    };
    (st == 0 && cachable != 0 && timeout > 0).then_some(timeout)
}

/// Client sessions kept through the process's `tls_mgr_lookup/update/
/// delete` (tlsmgr(8) with Debian's library under LD_PRELOAD;
/// posttls-finger's in-memory cache), keyed as mtatls keys them.
struct MgrStore {
    cache_type: std::ffi::CString,
}

static MGR_LOOKUP: pf::Sym = pf::Sym::new(c"tls_mgr_lookup");
static MGR_UPDATE: pf::Sym = pf::Sym::new(c"tls_mgr_update");
static MGR_DELETE: pf::Sym = pf::Sym::new(c"tls_mgr_delete");
static VSTRING_ALLOC: pf::Sym = pf::Sym::new(c"vstring_alloc");
static VSTRING_FREE: pf::Sym = pf::Sym::new(c"vstring_free");

impl mtatls::SessionStore for MgrStore {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let (f, va, vf) = (MGR_LOOKUP.get()?, VSTRING_ALLOC.get()?, VSTRING_FREE.get()?);
        let id = std::ffi::CString::new(key).ok()?;
        // SAFETY: Postfix's tls_mgr_lookup(type, id, VSTRING *) and the
        // VSTRING functions of libpostfix-util; a VSTRING's data pointer
        // is at offset 8 and its write position at offset 32.
        unsafe {
            let va: unsafe extern "C" fn(isize) -> *mut c_void = std::mem::transmute(va);
            let vf: unsafe extern "C" fn(*mut c_void) -> *mut c_void = std::mem::transmute(vf);
            let f: unsafe extern "C" fn(*const c_char, *const c_char, *mut c_void) -> c_int =
                std::mem::transmute(f);
            let buf = va(1024);
            let st = f(self.cache_type.as_ptr(), id.as_ptr(), buf);
            let data = *(buf.cast::<u8>().add(8).cast::<*const u8>());
            let ptr = *(buf.cast::<u8>().add(32).cast::<*const u8>());
            let out = (st == 0 && !data.is_null() && ptr > data)
                .then(|| std::slice::from_raw_parts(data, ptr.offset_from(data) as usize).to_vec());
            vf(buf);
            out
        }
    }

    fn put(&self, key: &str, der: &[u8], _expires: u64) {
        let (Some(f), Ok(id)) = (MGR_UPDATE.get(), std::ffi::CString::new(key)) else {
            return;
        };
        // SAFETY: Postfix's tls_mgr_update(type, id, data, len).
        unsafe {
            let f: unsafe extern "C" fn(
                *const c_char,
                *const c_char,
                *const c_char,
                isize,
            ) -> c_int = std::mem::transmute(f);
            f(
                self.cache_type.as_ptr(),
                id.as_ptr(),
                der.as_ptr().cast(),
                der.len() as isize,
            );
        }
    }

    fn remove(&self, key: &str) {
        let (Some(f), Ok(id)) = (MGR_DELETE.get(), std::ffi::CString::new(key)) else {
            return;
        };
        // SAFETY: Postfix's tls_mgr_delete(type, id).
        unsafe {
            let f: unsafe extern "C" fn(*const c_char, *const c_char) -> c_int =
                std::mem::transmute(f);
            f(self.cache_type.as_ptr(), id.as_ptr());
        }
    }
}

unsafe fn client_params(
    p: &ClientInitProps,
    prefix: &str,
    mask: c_int,
    cache_timeout: Option<c_int>,
) -> Result<Params, String> {
    let mut params = Params::new();
    crate::globals::apply(&mut params, false)?;
    // Session caching as the process's tls_mgr_policy says (tlsmgr(8) or
    // posttls-finger); without that, with a cache database configured, in
    // this process's memory; else none (as Debian's smtp without one).
    let cache_timeout = match cache_timeout {
        Some(t) => t.to_string(),
        None if pf::conf_lookup(&format!("{prefix}_tls_session_cache_database"))
            .is_some_and(|v| !v.trim().is_empty()) =>
        {
            pf::conf_lookup(&format!("{prefix}_tls_session_cache_timeout"))
                .unwrap_or_else(|| "3600s".into())
        }
        None => "0".into(),
    };
    let settings: Vec<(String, String)> = vec![
        (
            "tls_loglevel".into(),
            sess::mask_words(crate::misc::to_mtatls_mask(mask)),
        ),
        ("tls_security_level".into(), "may".into()),
        (
            "tls_scert_verifydepth".into(),
            p.verifydepth.max(0).to_string(),
        ),
        ("tls_chain_files".into(), str_or_empty(p.chain_files)),
        ("tls_cert_file".into(), str_or_empty(p.cert_file)),
        ("tls_key_file".into(), str_or_empty(p.key_file)),
        ("tls_dcert_file".into(), str_or_empty(p.dcert_file)),
        ("tls_dkey_file".into(), str_or_empty(p.dkey_file)),
        ("tls_eccert_file".into(), str_or_empty(p.eccert_file)),
        ("tls_eckey_file".into(), str_or_empty(p.eckey_file)),
        ("tls_CAfile".into(), str_or_empty(p.CAfile)),
        ("tls_CApath".into(), str_or_empty(p.CApath)),
        ("tls_fingerprint_digest".into(), str_or_empty(p.mdalg)),
        ("tls_session_cache_timeout".into(), cache_timeout),
        ("tls_servername".into(), String::new()),
    ];
    for (suffix, value) in settings {
        let name = format!("{prefix}_{suffix}");
        params
            .set(&name, &value)
            .map_err(|e| format!("{}: disabling TLS support", e.message()))?;
    }
    Ok(params)
}

/// `TLS_APPL_STATE *tls_client_init(const TLS_CLIENT_INIT_PROPS *)`:
/// called before chroot; client key and CA files are read now.
#[no_mangle]
pub unsafe extern "C" fn tls_client_init(props: *const ClientInitProps) -> *mut c_void {
    #[cfg(feature = "preload")]
    if crate::preload::foreign_process() {
        return crate::preload::forward_client_init(props);
    }
    crate::guard("tls_client_init", std::ptr::null_mut(), || {
        if crate::tlsproxy_process() {
            pf::warn("tls_client_init: tlsproxy(8) drives OpenSSL's SSL object directly, which this TLS library (mtatls) does not expose: TLS proxy client role disabled");
            return std::ptr::null_mut();
        }
        let Some(p) = props.as_ref() else {
            return std::ptr::null_mut();
        };
        if !crate::release::matches("tls_client_init") {
            return std::ptr::null_mut();
        }
        let log_param = str_or_empty(p.log_param);
        let cache_type = str_or_empty(p.cache_type);
        let prefix = if cache_type == "lmtp" || log_param.starts_with("lmtp_") {
            "lmtp"
        } else {
            "smtp"
        };
        pf::trace(|| format!("tls_client_init in {}", pf::procname()));
        let mask = crate::misc::log_mask(&log_param, &str_or_empty(p.log_level));
        let policy = mgr_policy(&cache_type);
        let params = match client_params(p, prefix, mask, policy) {
            Ok(params) => params,
            Err(why) => {
                pf::warn(&why);
                return std::ptr::null_mut();
            }
        };
        // The session cache in tlsmgr(8) (or posttls-finger's) as the
        // process's policy says; its lifetime is the timeout set above.
        let mut hooks = Hooks {
            logger: pf::logger(),
            ..Hooks::default()
        };
        if let (Some(_), Ok(ct)) = (policy, std::ffi::CString::new(cache_type.clone())) {
            hooks.session_store = Some(Arc::new(MgrStore { cache_type: ct }));
            hooks.cache_name = Some(cache_type);
        }
        match Context::with_hooks(&params, prefix, &hooks) {
            Ok(ctx) => AppState::new(false, ctx, mask).cast(),
            Err(e) => {
                pf::warn(e.message());
                std::ptr::null_mut()
            }
        }
    })
}

/// The TLSA records of a `TLS_DANE`, in list order.
unsafe fn tlsa_records(dane: *const Dane) -> Vec<Tlsa> {
    let mut out = vec![];
    let Some(d) = dane.as_ref() else {
        return out;
    };
    let mut t = d.tlsa;
    let mut guard = 0;
    while let Some(r) = t.as_ref() {
        let data = if r.data.is_null() {
            vec![]
        } else {
            std::slice::from_raw_parts(r.data, r.length as usize).to_vec()
        };
        out.push(Tlsa {
            usage: r.usage,
            selector: r.selector,
            mtype: r.mtype,
            data,
        });
        t = r.next;
        guard += 1;
        if guard > 100_000 {
            break;
        }
    }
    out
}

use mtatls::unstable::hex;

fn mtatls_level(l: c_int) -> Option<Level> {
    Some(match l {
        level::MAY => Level::May,
        level::ENCRYPT => Level::Encrypt,
        level::FPRINT => Level::Fingerprint,
        level::HALF_DANE | level::DANE => Level::Dane,
        level::DANE_ONLY => Level::DaneOnly,
        level::VERIFY => Level::Verify,
        level::SECURE => Level::Secure,
        _ => return None,
    })
}

/// The words of an `ARGV`.
unsafe fn argv_words(a: *const crate::abi::Argv) -> Vec<String> {
    let mut out = vec![];
    if let Some(a) = a.as_ref() {
        if !a.argv.is_null() {
            for i in 0..a.argc.max(0) as usize {
                let w = *a.argv.add(i);
                if w.is_null() {
                    break;
                }
                out.push(CStr::from_ptr(w).to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// `TLS_SESS_STATE *tls_client_start(const TLS_CLIENT_START_PROPS *)`:
/// the client handshake; returns a context even when the server is not
/// authenticated (smtp judges `peer_status`/`level`), NULL only when no
/// TLS session was established.
#[no_mangle]
pub unsafe extern "C" fn tls_client_start(props: *const ClientStartProps) -> *mut c_void {
    #[cfg(feature = "preload")]
    if crate::preload::foreign_process() {
        return crate::preload::forward_client_start(props);
    }
    crate::guard("tls_client_start", std::ptr::null_mut(), || {
        let Some(p) = props.as_ref() else {
            return std::ptr::null_mut();
        };
        let Some(app) = AppState::from_ptr(p.ctx, "tls_client_start") else {
            return std::ptr::null_mut();
        };
        let namaddr = str_or_empty(p.namaddr);
        pf::trace(|| format!("tls_client_start {namaddr}"));
        let fd = if p.fd >= 0 {
            p.fd
        } else if !p.stream.is_null() {
            crate::abi::stream_fd(p.stream)
        } else {
            pf::warn(&format!(
                "{namaddr}: tls_client_start: no stream and no file descriptor"
            ));
            return std::ptr::null_mut();
        };
        let Some(lev) = mtatls_level(p.tls_level) else {
            pf::warn(&format!(
                "{namaddr}: tls_client_start: invalid TLS security level {}",
                p.tls_level
            ));
            return std::ptr::null_mut();
        };
        let protocols = str_or_empty(p.protocols);
        if mtatls::unstable::parse_protocols(&protocols).is_err() {
            pf::warn(&format!(
                "{namaddr}: Invalid TLS protocol list \"{protocols}\": aborting TLS session"
            ));
            return std::ptr::null_mut();
        }
        let ciphers = match crate::globals::cipher_string(
            "TLS",
            &str_or_empty(p.cipher_grade),
            &str_or_empty(p.cipher_exclusions),
        ) {
            Ok(c) => c,
            Err(w) => {
                pf::warn(&w);
                return std::ptr::null_mut();
            }
        };
        let records = tlsa_records(p.dane);
        // 3.10+: TLSRPT reports of this session's TLS engine, and Postfix's
        // verification error record (see crate::tlsrpt).
        #[cfg(feature = "pf310")]
        crate::tlsrpt::arm(p.tlsrpt, pf::opt_str(p.ffail_type));
        let state = start_session(app, p, fd, &namaddr, lev, protocols, ciphers, &records);
        #[cfg(feature = "pf310")]
        crate::tlsrpt::disarm();
        state
    })
}

/// The part of `tls_client_start` after the props were checked: set up the
/// session, run the handshake, make the `TLS_SESS_STATE`.
#[allow(clippy::too_many_arguments)]
unsafe fn start_session(
    app: &mut AppState,
    p: &ClientStartProps,
    fd: c_int,
    namaddr: &str,
    lev: Level,
    protocols: String,
    ciphers: String,
    records: &[Tlsa],
) -> *mut c_void {
    {
        let namaddr = namaddr.to_string();
        let mut session = match Session::new(app.ctx.clone(), fd, &namaddr) {
            Ok(s) => s,
            Err(e) => {
                pf::warn(e.message());
                return std::ptr::null_mut();
            }
        };
        let host = str_or_empty(p.host);
        let nexthop = str_or_empty(p.nexthop);
        let setup = (|| -> mtatls::Result<()> {
            session.set_log_mask(app.session_log_mask())?;
            session.set_ssl_setup(sess::ssl_setup(ciphers, Some(protocols)))?;
            // Trust anchors (smtp_tls_trust_anchor_file, policy "tafile"):
            // DANE-TA(2) records with full data, at the PKIX levels.
            if matches!(lev, Level::Verify | Level::Secure) {
                let anchors: Vec<(u8, Vec<u8>)> = records
                    .iter()
                    .filter(|r| r.usage == 2 && r.mtype == 0)
                    .map(|r| (r.selector, r.data.clone()))
                    .collect();
                if anchors != app.ctx.trust_anchors() {
                    session.set_trust_anchors(anchors)?;
                }
            }
            session.set_level(lev.name())?;
            session.set_peer_names(&host, &nexthop)?;
            session.set_servername(&str_or_empty(p.sni))?;
            match lev {
                Level::Fingerprint => {
                    // smtp prepends each digest twice (SPKI, cert):
                    // recover the configured order without duplicates.
                    let mut fps: Vec<Vec<u8>> = vec![];
                    for r in records.iter().filter(|r| r.mtype == 255) {
                        if !fps.contains(&r.data) {
                            fps.push(r.data.clone());
                        }
                    }
                    fps.reverse();
                    let list: Vec<String> = fps.iter().map(|d| hex(d)).collect();
                    session.set_match(&list.join(" "))?;
                }
                Level::Verify | Level::Secure => {
                    let words = argv_words(p.matchargv);
                    if !words.is_empty() {
                        session.set_match(&words.join(" "))?;
                    }
                }
                Level::Dane | Level::DaneOnly => {
                    for r in records
                        .iter()
                        .filter(|r| r.mtype != 255 && (r.usage == 2 || r.usage == 3))
                    {
                        session.add_tlsa(r.clone())?;
                    }
                    if let Some(d) = p.dane.as_ref() {
                        if let Some(base) = pf::opt_str(d.base_domain) {
                            session.set_tlsa_base(&base)?;
                        }
                    }
                }
                _ => {}
            }
            if app.ctx.has_session_cache() {
                session.set_serverid(&str_or_empty(p.serverid))?;
            }
            Ok(())
        })();
        if let Err(e) = setup {
            pf::warn(&format!("{namaddr}: {}", e.message()));
            return std::ptr::null_mut();
        }
        sess::clear_ssl();
        match sess::handshake(&mut session, fd, p.timeout, false, &namaddr) {
            Handshake::Failed => {
                #[cfg(feature = "pf310")]
                crate::tlsrpt::handshake_failed();
                return std::ptr::null_mut();
            }
            Handshake::Done(_) => {}
        }
        let con = sess::last_ssl();
        let Some(mut facts) = sess::postfix_facts(&mut session, con) else {
            return std::ptr::null_mut();
        };
        if p.tls_level == level::HALF_DANE {
            // Half-DANE: matched, but never "secured".
            facts.peer_status &= !status::SECURED;
        }
        let out_level = if (level::HALF_DANE..=level::DANE_ONLY).contains(&p.tls_level)
            && session.level() < Level::Dane
        {
            level::ENCRYPT
        } else {
            p.tls_level
        };
        // 3.10.4 and 3.11.0: at a level that must match, a certificate
        // whose only verification error is a host name mismatch is
        // trusted (smtp then reports a TLSRPT host mismatch, not an
        // untrusted certificate).
        #[cfg(feature = "pf310")]
        if out_level > level::ENCRYPT
            && crate::release::has(&["3.10.4", "3.11.0"])
            && matches!(crate::tlsrpt::recorded_error(), Some((_, 62)))
        {
            facts.peer_status |= status::TRUSTED;
        }
        let live = Live {
            session,
            stream: p.stream,
            fd,
        };
        let state = sess::new_state(
            &facts,
            out_level,
            facts.peer_status,
            false,
            live,
            &str_or_empty(p.mdalg),
            p.dane,
            con,
        );
        sess::hook(p.stream, state);
        sess::log_summary(&facts, app.log_mask);
        #[cfg(feature = "pf310")]
        {
            let s = sess::state_mut(state);
            s.rpt_reported = crate::tlsrpt::rpt_reported(facts.reused) as c_int;
            if let Some(f) = pf::opt_str(p.ffail_type) {
                s.ffail_type = pf::strdup(&f);
            }
        }
        state
    }
}
