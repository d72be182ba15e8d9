//! `tls_server_init` / `tls_server_start` for smtpd(8).

use std::ffi::{c_int, c_void};

use mtatls::{Context, Hooks, Params, Session};

use crate::abi::{ServerInitProps, ServerStartProps};
use crate::pf::{self, str_or_empty};
use crate::sess::{self, AppState, Handshake, Live};

fn yn(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn conf_bool(name: &str) -> bool {
    pf::conf_lookup(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("yes") || v.eq_ignore_ascii_case("true"))
}

/// Whether smtpd enforces TLS (level encrypt, obsolete smtpd_enforce_tls,
/// or wrapper mode), from the configuration smtpd itself read.
fn enforced() -> bool {
    let level = pf::conf_lookup("smtpd_tls_security_level").unwrap_or_default();
    let by_level = match level.to_ascii_lowercase().as_str() {
        "" => conf_bool("smtpd_enforce_tls"),
        "none" | "may" => false,
        _ => true,
    };
    by_level || conf_bool("smtpd_tls_wrappermode")
}

unsafe fn server_params(p: &ServerInitProps, mask: c_int) -> Result<Params, String> {
    let mut params = Params::new();
    crate::globals::apply(&mut params, true)?;
    let chain = str_or_empty(p.chain_files);
    let cert = str_or_empty(p.cert_file);
    let dcert = str_or_empty(p.dcert_file);
    let eccert = str_or_empty(p.eccert_file);
    // smtpd passes "" for `smtpd_tls_cert_file = none`; with no key at
    // all, that is the only way smtpd calls us.
    let certless =
        chain.trim().is_empty() && cert.is_empty() && dcert.is_empty() && eccert.is_empty();
    let enforce = enforced();
    let protocols = str_or_empty(p.protocols);
    let mut settings: Vec<(&str, String)> = vec![
        (
            "smtpd_tls_loglevel",
            sess::mask_words(crate::misc::to_mtatls_mask(mask)),
        ),
        (
            "smtpd_tls_security_level",
            (if enforce { "encrypt" } else { "may" }).into(),
        ),
        (
            "smtpd_tls_ccert_verifydepth",
            p.verifydepth.max(0).to_string(),
        ),
        (
            "smtpd_tls_always_issue_session_ids",
            yn(p.set_sessid != 0).into(),
        ),
        ("smtpd_tls_chain_files", chain.clone()),
        (
            "smtpd_tls_cert_file",
            if certless { "none".into() } else { cert },
        ),
        (
            "smtpd_tls_key_file",
            if certless {
                String::new()
            } else {
                str_or_empty(p.key_file)
            },
        ),
        ("smtpd_tls_dcert_file", dcert),
        ("smtpd_tls_dkey_file", str_or_empty(p.dkey_file)),
        ("smtpd_tls_eccert_file", eccert),
        ("smtpd_tls_eckey_file", str_or_empty(p.eckey_file)),
        ("smtpd_tls_CAfile", str_or_empty(p.CAfile)),
        ("smtpd_tls_CApath", str_or_empty(p.CApath)),
        ("smtpd_tls_protocols", protocols.clone()),
        ("smtpd_tls_mandatory_protocols", protocols),
        ("smtpd_tls_eecdh_grade", str_or_empty(p.eecdh_grade)),
        (
            "smtpd_tls_dh1024_param_file",
            str_or_empty(p.dh1024_param_file),
        ),
        (
            "smtpd_tls_dh512_param_file",
            str_or_empty(p.dh512_param_file),
        ),
        ("smtpd_tls_ask_ccert", yn(p.ask_ccert != 0).into()),
        // Required client certificates: only with enforced TLS (smtpd
        // warns about the other case itself).
        (
            "smtpd_tls_req_ccert",
            yn(enforce && conf_bool("smtpd_tls_req_ccert")).into(),
        ),
        ("smtpd_tls_fingerprint_digest", str_or_empty(p.mdalg)),
    ];
    for name in ["smtpd_tls_session_cache_timeout", "stress"] {
        if let Some(v) = pf::conf_lookup(name) {
            settings.push((name, v));
        }
    }
    if settings
        .iter()
        .any(|(n, v)| *n == "smtpd_tls_eecdh_grade" && v.is_empty())
    {
        settings.retain(|(n, _)| *n != "smtpd_tls_eecdh_grade");
    }
    for (name, value) in settings {
        params
            .set(name, &value)
            .map_err(|e| format!("{}: disabling TLS support", e.message()))?;
    }
    Ok(params)
}

/// `TLS_APPL_STATE *tls_server_init(const TLS_SERVER_INIT_PROPS *)`:
/// called as root before chroot; every key, certificate and CA file is
/// read now.
#[no_mangle]
pub unsafe extern "C" fn tls_server_init(props: *const ServerInitProps) -> *mut c_void {
    #[cfg(feature = "preload")]
    if crate::preload::foreign_process() {
        return crate::preload::forward_server_init(props);
    }
    crate::guard("tls_server_init", std::ptr::null_mut(), || {
        if crate::tlsproxy_process() {
            pf::warn("tls_server_init: tlsproxy(8) drives OpenSSL's SSL object directly, which this TLS library (mtatls) does not expose: TLS proxy server role disabled");
            return std::ptr::null_mut();
        }
        let Some(p) = props.as_ref() else {
            return std::ptr::null_mut();
        };
        if !crate::release::matches("tls_server_init") {
            return std::ptr::null_mut();
        }
        pf::trace(|| format!("tls_server_init in {}", pf::procname()));
        let mask = crate::misc::log_mask(&str_or_empty(p.log_param), &str_or_empty(p.log_level));
        let params = match server_params(p, mask) {
            Ok(params) => params,
            Err(why) => {
                pf::warn(&why);
                return std::ptr::null_mut();
            }
        };
        match Context::with_hooks(&params, "smtpd", &Hooks::with_logger(pf::logger())) {
            Ok(ctx) => AppState::new(true, ctx, mask).cast(),
            Err(e) => {
                pf::warn(e.message());
                std::ptr::null_mut()
            }
        }
    })
}

/// Postfix's `TLS_TICKET_KEY`: a 16-byte name, 32 bytes of cipher key and
/// 32 of HMAC key (mtatls's 80-byte ticket key, in the same order), and
/// the time after which the key no longer encrypts new tickets.
#[repr(C)]
struct PostfixTicketKey {
    bytes: [u8; mtatls::TICKET_KEY_LEN],
    tout: libc::time_t,
}

/// `TLS_TICKET_KEY *tls_mgr_key(unsigned char *name, int timeout)`.
static MGR_KEY: pf::Sym = pf::Sym::new(c"tls_mgr_key");

/// Encrypt session tickets with tlsmgr(8)'s current key, as Debian's smtpd
/// does, so that every smtpd process of the instance resumes every other's
/// tickets (tlsmgr rotates the key; the previous one still decrypts). Only
/// where the process has a working tlsmgr client: Debian's library under
/// the LD_PRELOAD shim. The full replacement's `tls_mgr_key` answers NULL,
/// and so does an unreachable tlsmgr: mtatls's per-process keys stay.
unsafe fn use_tlsmgr_ticket_key(app: &mut AppState) {
    let Some(keys) = app.ctx.ticket_keys().cloned() else {
        return;
    };
    let Some(addr) = MGR_KEY.get() else {
        return;
    };
    // SAFETY: the process's tls_mgr_key, with Postfix's signature.
    let mgr_key: unsafe extern "C" fn(*mut u8, c_int) -> *const PostfixTicketKey =
        std::mem::transmute(addr);
    let timeout = keys.lifetime().min(c_int::MAX as u64) as c_int;
    // SAFETY: NULL name asks for the current key; the result is NULL or
    // tls_mgr's cached key, valid until its next call.
    let Some(k) = mgr_key(std::ptr::null_mut(), timeout).as_ref() else {
        return;
    };
    let mut name = [0u8; 16];
    name.copy_from_slice(&k.bytes[..16]);
    if app.ticket_key_name == Some(name) {
        return;
    }
    if let Some(key) = mtatls::TicketKey::from_bytes(&k.bytes, k.tout.max(0) as u64) {
        keys.install(key);
        app.ticket_key_name = Some(name);
        pf::trace(|| "session ticket key from tlsmgr installed".to_string());
    }
}

/// `TLS_SESS_STATE *tls_server_start(const TLS_SERVER_START_PROPS *)`:
/// the server handshake on the client stream; on success the stream is
/// hooked and a filled context returned, else NULL (smtpd hangs up).
#[no_mangle]
pub unsafe extern "C" fn tls_server_start(props: *const ServerStartProps) -> *mut c_void {
    #[cfg(feature = "preload")]
    if crate::preload::foreign_process() {
        return crate::preload::forward_server_start(props);
    }
    crate::guard("tls_server_start", std::ptr::null_mut(), || {
        let Some(p) = props.as_ref() else {
            return std::ptr::null_mut();
        };
        let Some(app) = AppState::from_ptr(p.ctx, "tls_server_start") else {
            return std::ptr::null_mut();
        };
        if p.stream.is_null() {
            pf::warn("tls_server_start: no VSTREAM: the event-driven mode of tlsproxy(8) needs OpenSSL's SSL object, which this TLS library (mtatls) does not expose");
            return std::ptr::null_mut();
        }
        let fd = if p.fd >= 0 {
            p.fd
        } else {
            crate::abi::stream_fd(p.stream)
        };
        let namaddr = str_or_empty(p.namaddr);
        pf::trace(|| format!("tls_server_start {namaddr}"));
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
        use_tlsmgr_ticket_key(app);
        let mut session = match Session::new(app.ctx.clone(), fd, &namaddr) {
            Ok(s) => s,
            Err(e) => {
                pf::warn(e.message());
                return std::ptr::null_mut();
            }
        };
        let setup = session
            .set_log_mask(app.session_log_mask())
            .and_then(|()| session.set_ssl_setup(sess::ssl_setup(ciphers, None)));
        if let Err(e) = setup {
            pf::warn(&format!("{namaddr}: {}", e.message()));
            return std::ptr::null_mut();
        }
        sess::clear_ssl();
        match sess::handshake(&mut session, fd, p.timeout, true, &namaddr) {
            Handshake::Failed => return std::ptr::null_mut(),
            Handshake::Done(_) => {}
        }
        let con = sess::last_ssl();
        let Some(facts) = sess::postfix_facts(&mut session, con) else {
            return std::ptr::null_mut();
        };
        let live = Live {
            session,
            stream: p.stream,
            fd,
        };
        let state = sess::new_state(
            &facts,
            0,
            facts.peer_status,
            true,
            live,
            &str_or_empty(p.mdalg),
            std::ptr::null(),
            con,
        );
        sess::hook(p.stream, state);
        sess::log_summary(&facts, app.log_mask);
        state
    })
}
