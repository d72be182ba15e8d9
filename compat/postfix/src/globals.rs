//! The library-wide `tls_*` parameters: read once from Postfix's
//! configuration (main.cf plus the service's `-o` overrides) with
//! `get_mail_conf_*`, with the running release's defaults and limits, as
//! its `tls_param_init()` does; and the `var_tls_*` data symbols `postconf`
//! imports from libpostfix-tls.so (their names and sizes are the series').

#[cfg(not(feature = "preload"))]
use std::ffi::c_char;
use std::ffi::c_int;
use std::sync::OnceLock;

use crate::pf;

/// The `tls_*` parameters in effect.
#[derive(Debug, Clone)]
pub struct Globals {
    pub high_clist: String,
    pub medium_clist: String,
    pub low_clist: String,
    pub export_clist: String,
    pub null_clist: String,
    pub eecdh_auto: String,
    pub eecdh_strong: String,
    pub eecdh_ultra: String,
    /// `tls_ffdhe_auto_groups` (3.8+; empty in 3.7, which has none).
    pub ffdhe_auto: String,
    pub bug_tweaks: String,
    pub ssl_options: String,
    pub dane_digests: String,
    pub mgr_service: String,
    pub tkt_cipher: String,
    pub openssl_path: String,
    pub cnf_file: String,
    pub cnf_name: String,
    pub server_sni_maps: String,
    pub daemon_rand_bytes: c_int,
    pub append_def_ca: bool,
    pub bc_pkey_fprint: bool,
    pub preempt_clist: bool,
    pub multi_wildcard: bool,
    pub fast_shutdown: bool,
}

static GLOBALS: OnceLock<Globals> = OnceLock::new();

/// Cipher-list exclusions of the 3.8+ defaults.
const TLS_EXCL: &str = "!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5";

/// Load the `tls_*` parameters (once per process) and return them.
pub fn get() -> &'static Globals {
    GLOBALS.get_or_init(|| {
        let s = |name: &str, def: &str, min: c_int| pf::conf_str(name, def, min, 0);
        // 3.8.0: default cipher lists with exclusions, the low and export
        // grades ignored (= medium), an FFDHE group list, and group lists
        // that may be empty.
        let pf38 = cfg!(feature = "pf38");
        // 3.7.13 / 3.8.8 / 3.9.2 / 3.10.0: the strong and ultra curves
        // may be empty; 3.7.13 also the automatic curve list.
        let may_be_empty = crate::release::has(&["3.7.13", "3.8.8", "3.9.2", "3.10.0"]);
        let empty_ok = |b: bool| if b { 0 } else { 1 };
        let (high, medium, null) = if pf38 {
            (
                format!("aNULL:-aNULL:HIGH:{TLS_EXCL}:@STRENGTH"),
                format!("aNULL:-aNULL:HIGH:MEDIUM:{TLS_EXCL}:+RC4:@STRENGTH"),
                "eNULL:!kDH:!kECDH:!aDSS:!MD5:!aNULL".to_string(),
            )
        } else {
            (
                "aNULL:-aNULL:HIGH:@STRENGTH".to_string(),
                "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH".to_string(),
                "eNULL:!aNULL".to_string(),
            )
        };
        // 3.10.0 changed the order of the automatic curves.
        let auto = if cfg!(feature = "pf310") {
            "X25519 X448 prime256v1 secp384r1 secp521r1"
        } else {
            "X25519 X448 prime256v1 secp521r1 secp384r1"
        };
        let high_clist = s("tls_high_cipherlist", &high, 1);
        let medium_clist = s("tls_medium_cipherlist", &medium, 1);
        let (low_clist, export_clist) = if pf38 {
            (
                s("tls_low_cipherlist", "", 0),
                s("tls_export_cipherlist", "", 0),
            )
        } else {
            (
                s(
                    "tls_low_cipherlist",
                    "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH",
                    1,
                ),
                s(
                    "tls_export_cipherlist",
                    "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH",
                    1,
                ),
            )
        };
        let g = Globals {
            high_clist,
            medium_clist,
            low_clist,
            export_clist,
            null_clist: s("tls_null_cipherlist", &null, 1),
            eecdh_auto: s(
                "tls_eecdh_auto_curves",
                auto,
                empty_ok(pf38 || may_be_empty),
            ),
            eecdh_strong: s(
                "tls_eecdh_strong_curve",
                "prime256v1",
                empty_ok(may_be_empty),
            ),
            eecdh_ultra: s("tls_eecdh_ultra_curve", "secp384r1", empty_ok(may_be_empty)),
            ffdhe_auto: if pf38 {
                s("tls_ffdhe_auto_groups", "ffdhe2048 ffdhe3072", 0)
            } else {
                String::new()
            },
            bug_tweaks: s("tls_disable_workarounds", "", 0),
            ssl_options: s("tls_ssl_options", "", 0),
            dane_digests: s("tls_dane_digests", "sha512 sha256", 1),
            mgr_service: s("tlsmgr_service_name", "tlsmgr", 1),
            tkt_cipher: s("tls_session_ticket_cipher", "aes-256-cbc", 0),
            openssl_path: s("openssl_path", "openssl", 1),
            cnf_file: s("tls_config_file", "default", 0),
            cnf_name: s("tls_config_name", "", 0),
            server_sni_maps: s("tls_server_sni_maps", "", 0),
            daemon_rand_bytes: pf::conf_int("tls_daemon_random_bytes", 32, 1, 0),
            append_def_ca: pf::conf_bool("tls_append_default_CA", false),
            // Ignored from 3.9.0 (public-key fingerprints are always over
            // the SubjectPublicKeyInfo), gone in 3.11.0.
            bc_pkey_fprint: !cfg!(feature = "pf39")
                && pf::conf_bool("tls_legacy_public_key_fingerprints", false),
            preempt_clist: pf::conf_bool("tls_preempt_cipherlist", false),
            multi_wildcard: pf::conf_bool("tls_wildcard_matches_multiple_labels", true),
            fast_shutdown: pf::conf_bool("tls_fast_shutdown_enable", true),
        };
        #[cfg(not(feature = "preload"))]
        exports::publish(&g);
        g
    })
}

/// Set the `tls_*` parameters of an mtatls parameter set to the values in
/// effect (Postfix 3.7 has no FFDHE groups list: empty; from 3.8 the low
/// and export lists are the medium one), and the library's release
/// selector.
pub fn apply(params: &mut mtatls::Params, server: bool) -> Result<(), String> {
    let g = get();
    let yn = |b: bool| if b { "yes" } else { "no" };
    let mut set = |name: &str, value: &str| {
        params
            .set(name, value)
            .map_err(|e| format!("{}: disabling TLS support", e.message()))
    };
    // Postfix peeks at the socket for pipelined input (smtpd's "improper
    // command pipelining", smtp's early MAIL reply): records stay there
    // until read, one at a time, as with Postfix's own TLS layer.
    set("mtatls_read_ahead", "no")?;
    set("tls_high_cipherlist", &g.high_clist)?;
    set("tls_medium_cipherlist", &g.medium_clist)?;
    let (low, export) = if cfg!(feature = "pf38") {
        (&g.medium_clist, &g.medium_clist)
    } else {
        (&g.low_clist, &g.export_clist)
    };
    set("tls_low_cipherlist", low)?;
    set("tls_export_cipherlist", export)?;
    set("tls_null_cipherlist", &g.null_clist)?;
    set("tls_eecdh_auto_curves", &g.eecdh_auto)?;
    set("tls_ffdhe_auto_groups", &g.ffdhe_auto)?;
    set("tls_eecdh_strong_curve", &g.eecdh_strong)?;
    set("tls_eecdh_ultra_curve", &g.eecdh_ultra)?;
    set("tls_preempt_cipherlist", yn(g.preempt_clist))?;
    set("tls_disable_workarounds", &g.bug_tweaks)?;
    set("tls_ssl_options", &g.ssl_options)?;
    set("tls_append_default_CA", yn(g.append_def_ca))?;
    set("tls_session_ticket_cipher", &g.tkt_cipher)?;
    set("tls_legacy_public_key_fingerprints", yn(g.bc_pkey_fprint))?;
    set("tls_fast_shutdown_enable", yn(g.fast_shutdown))?;
    set("tls_wildcard_matches_multiple_labels", yn(g.multi_wildcard))?;
    set("tls_dane_digests", &g.dane_digests)?;
    set("tls_daemon_random_bytes", &g.daemon_rand_bytes.to_string())?;
    set("tls_config_file", &g.cnf_file)?;
    set("tls_config_name", &g.cnf_name)?;
    if server {
        set("tls_server_sni_maps", &g.server_sni_maps)?;
    }
    crate::release::select(params)
}

#[cfg(not(feature = "preload"))]
pub mod exports {
    //! The data symbols of Debian's library (`postconf` imports them; it
    //! assigns them itself). Sizes match: `char *` 8, `int` 4.
    #![allow(non_upper_case_globals)]
    use super::*;

    macro_rules! strvars {
        ($($n:ident),*) => { $( #[no_mangle] pub static mut $n: *mut c_char = std::ptr::null_mut(); )* };
    }
    macro_rules! intvars {
        ($($n:ident),*) => { $( #[no_mangle] pub static mut $n: c_int = 0; )* };
    }
    /// Postfix's boolean parameters: `int` up to 3.10, C23 `bool` (one
    /// byte) in 3.11.
    #[cfg(not(feature = "pf311"))]
    pub type PfBool = c_int;
    #[cfg(feature = "pf311")]
    pub type PfBool = bool;

    /// A Rust `bool` as this series' Postfix boolean.
    pub const fn pf_bool(b: bool) -> PfBool {
        #[cfg(not(feature = "pf311"))]
        return b as c_int;
        #[cfg(feature = "pf311")]
        return b;
    }

    /// A Postfix boolean of this series as the `int` of a struct member.
    #[allow(clippy::unnecessary_cast)]
    pub const fn pf_int(b: PfBool) -> c_int {
        b as c_int
    }

    macro_rules! boolvars {
        ($($n:ident),*) => { $( #[no_mangle] pub static mut $n: PfBool = pf_bool(false); )* };
    }
    strvars!(
        var_tls_cnf_file,
        var_tls_cnf_name,
        var_tls_high_clist,
        var_tls_medium_clist,
        var_tls_null_clist,
        var_tls_eecdh_auto,
        var_tls_eecdh_strong,
        var_tls_eecdh_ultra,
        var_tls_bug_tweaks,
        var_tls_ssl_options,
        var_tls_dane_digests,
        var_tls_mgr_service,
        var_tls_tkt_cipher,
        var_openssl_path,
        var_tls_server_sni_maps
    );
    // 3.7: the low and export cipher lists; 3.8+: read but ignored, and
    // the FFDHE group list.
    #[cfg(not(feature = "pf38"))]
    strvars!(var_tls_low_clist, var_tls_export_clist);
    #[cfg(feature = "pf38")]
    strvars!(
        var_tls_low_ignored,
        var_tls_export_ignored,
        var_tls_ffdhe_auto
    );
    intvars!(var_tls_daemon_rand_bytes);
    boolvars!(
        var_tls_append_def_CA,
        var_tls_preempt_clist,
        var_tls_multi_wildcard,
        var_tls_fast_shutdown
    );
    // Gone in 3.11.
    #[cfg(not(feature = "pf311"))]
    intvars!(var_tls_bc_pkey_fprint);

    /// `int TLScontext_index = -1` (an OpenSSL ex_data index in Debian's
    /// library; unused here).
    #[no_mangle]
    pub static mut TLScontext_index: c_int = -1;

    /// `NAME_CODE` entry.
    #[repr(C)]
    pub struct NameCode {
        pub name: *const c_char,
        pub code: c_int,
    }
    /// The cipher grade table (7 entries, 112 bytes).
    #[repr(transparent)]
    pub struct GradeTable(pub [NameCode; 7]);
    // SAFETY: immutable static data.
    unsafe impl Sync for GradeTable {}
    #[no_mangle]
    pub static tls_cipher_grade_table: GradeTable = GradeTable([
        NameCode {
            name: c"high".as_ptr(),
            code: 5,
        },
        NameCode {
            name: c"medium".as_ptr(),
            code: 4,
        },
        NameCode {
            name: c"low".as_ptr(),
            code: 3,
        },
        NameCode {
            name: c"export".as_ptr(),
            code: 2,
        },
        NameCode {
            name: c"null".as_ptr(),
            code: 1,
        },
        NameCode {
            name: c"invalid".as_ptr(),
            code: 0,
        },
        NameCode {
            name: std::ptr::null(),
            code: 0,
        },
    ]);

    /// Store the loaded values in the data symbols, as Debian's
    /// `tls_param_init()` does.
    pub fn publish(g: &Globals) {
        // SAFETY: Postfix daemons are single-threaded; these are plain
        // data words nobody else writes in a process that calls us.
        unsafe {
            var_tls_cnf_file = pf::strdup(&g.cnf_file);
            var_tls_cnf_name = pf::strdup(&g.cnf_name);
            var_tls_high_clist = pf::strdup(&g.high_clist);
            var_tls_medium_clist = pf::strdup(&g.medium_clist);
            #[cfg(not(feature = "pf38"))]
            {
                var_tls_low_clist = pf::strdup(&g.low_clist);
                var_tls_export_clist = pf::strdup(&g.export_clist);
            }
            #[cfg(feature = "pf38")]
            {
                var_tls_low_ignored = pf::strdup(&g.low_clist);
                var_tls_export_ignored = pf::strdup(&g.export_clist);
                var_tls_ffdhe_auto = pf::strdup(&g.ffdhe_auto);
            }
            var_tls_null_clist = pf::strdup(&g.null_clist);
            var_tls_eecdh_auto = pf::strdup(&g.eecdh_auto);
            var_tls_eecdh_strong = pf::strdup(&g.eecdh_strong);
            var_tls_eecdh_ultra = pf::strdup(&g.eecdh_ultra);
            var_tls_bug_tweaks = pf::strdup(&g.bug_tweaks);
            var_tls_ssl_options = pf::strdup(&g.ssl_options);
            var_tls_dane_digests = pf::strdup(&g.dane_digests);
            var_tls_mgr_service = pf::strdup(&g.mgr_service);
            var_tls_tkt_cipher = pf::strdup(&g.tkt_cipher);
            var_openssl_path = pf::strdup(&g.openssl_path);
            var_tls_server_sni_maps = pf::strdup(&g.server_sni_maps);
            var_tls_daemon_rand_bytes = g.daemon_rand_bytes;
            var_tls_append_def_CA = pf_bool(g.append_def_ca);
            #[cfg(not(feature = "pf311"))]
            {
                var_tls_bc_pkey_fprint = g.bc_pkey_fprint as c_int;
            }
            var_tls_preempt_clist = pf_bool(g.preempt_clist);
            var_tls_multi_wildcard = pf_bool(g.multi_wildcard);
            var_tls_fast_shutdown = pf_bool(g.fast_shutdown);
        }
    }
}
