//! Initialising OpenSSL for this process, once, with the configuration
//! file that Postfix's `tls_config_file` and `tls_config_name` select.
//!
//! Postfix (`tls_library_init`, OpenSSL 1.1.1b and later) makes one
//! `OPENSSL_init_ssl` call before anything else uses OpenSSL: `none` sets
//! `OPENSSL_INIT_NO_LOAD_CONFIG`; `default` loads OpenSSL's default file
//! leniently (a missing file, section or failing module is ignored) with
//! the application name, if one is set, falling back to `openssl_conf`; an
//! absolute path is loaded strictly, with no fallback section. With
//! `default` and no name it leaves OpenSSL's automatic initialisation
//! alone, which loads the default file in the same lenient way.
//!
//! OpenSSL runs its configuration step once per process, on whichever
//! initialising call comes first (the `openssl` crate makes one before
//! most of its functions), and remembers a failure for good. So this
//! module always makes the first call itself, with
//! `OPENSSL_INIT_NO_LOAD_CONFIG`, then loads the selected file with
//! `CONF_modules_load_file` and the flags Postfix gives OpenSSL: the same
//! file, section and strictness, but a bad file does not disable OpenSSL
//! for every other context of the process. The first configuration
//! applied is the process's; a later context that selects another one is
//! refused (OpenSSL has no way to unload one).

use std::ffi::CString;
use std::sync::{Mutex, Once};

use super::ossl::{CONF_modules_load_file, NCONF_load};

/// `OPENSSL_INIT_NO_LOAD_CONFIG`.
const OPENSSL_INIT_NO_LOAD_CONFIG: u64 = 0x0000_0080;
/// `CONF_MFLAGS_IGNORE_RETURN_CODES`.
const CONF_MFLAGS_IGNORE_RETURN_CODES: libc::c_ulong = 0x2;
/// `CONF_MFLAGS_SILENT`.
const CONF_MFLAGS_SILENT: libc::c_ulong = 0x4;
/// `CONF_MFLAGS_IGNORE_MISSING_FILE`.
const CONF_MFLAGS_IGNORE_MISSING_FILE: libc::c_ulong = 0x10;
/// `CONF_MFLAGS_DEFAULT_SECTION`.
const CONF_MFLAGS_DEFAULT_SECTION: libc::c_ulong = 0x20;

/// The configuration applied to this process: (`tls_config_file`,
/// `tls_config_name`), `none` with an empty name.
static APPLIED: Mutex<Option<(String, String)>> = Mutex::new(None);

/// The first OpenSSL initialisation of the process: no configuration file.
fn init_without_config() {
    static FIRST: Once = Once::new();
    FIRST.call_once(|| {
        // SAFETY: a plain library call with no settings object.
        unsafe {
            openssl_sys::OPENSSL_init_ssl(
                OPENSSL_INIT_NO_LOAD_CONFIG
                    | openssl_sys::OPENSSL_INIT_LOAD_SSL_STRINGS
                    | openssl_sys::OPENSSL_INIT_NO_ATEXIT,
                std::ptr::null(),
            );
        }
        // The openssl crate's own initialisation now finds the
        // configuration step done and loads nothing.
        openssl_sys::init();
    });
}

/// How one (`tls_config_file`, `tls_config_name`) pair is named in messages.
fn describe(file: &str, name: &str) -> String {
    if name.is_empty() {
        format!("tls_config_file = {file}")
    } else {
        format!("tls_config_file = {file}, tls_config_name = {name}")
    }
}

/// Check that `path` can be read and parsed as an OpenSSL configuration
/// file, without applying it. `Err`: Postfix's text and OpenSSL's reasons.
fn check_file(path: &CString, file: &str, name: &str) -> std::result::Result<(), String> {
    let mut eline: libc::c_long = 0;
    // SAFETY: NCONF_new(NULL) makes a default-method CONF or NULL; path is
    // a valid C string; the CONF is freed before returning.
    let ok = unsafe {
        let conf = openssl_sys::NCONF_new(std::ptr::null_mut());
        if conf.is_null() {
            0
        } else {
            let ok = NCONF_load(conf, path.as_ptr(), &mut eline);
            openssl_sys::NCONF_free(conf);
            ok
        }
    };
    if ok > 0 {
        super::errors::clear_openssl_errors();
        Ok(())
    } else {
        Err(load_error(file, name))
    }
}

/// Postfix's warning for a configuration that cannot be loaded, with
/// OpenSSL's reasons.
fn load_error(file: &str, name: &str) -> String {
    let reasons = super::errors::openssl_reasons();
    format!(
        "error loading the '{}' settings from the {file} OpenSSL configuration file, disabling TLS support{}",
        if name.is_empty() { "global" } else { name },
        if reasons.is_empty() {
            String::new()
        } else {
            format!(": {reasons}")
        }
    )
}

/// Initialise OpenSSL for this process with `tls_config_file = file` and
/// `tls_config_name = name`, as Postfix does (see the module comment).
/// Call before anything else in the process uses OpenSSL; later calls
/// with the same pair do nothing. `Err`: the text to report (the file
/// cannot be loaded, or the process already uses another configuration).
pub fn init_openssl(file: &str, name: &str) -> std::result::Result<(), String> {
    if file != "default" && file != "none" && !file.starts_with('/') {
        return Err(format!(
            "non-default tls_config_file = {file} is not an absolute pathname, disabling TLS support"
        ));
    }
    let want = (
        file.to_string(),
        if file == "none" { "" } else { name }.to_string(),
    );
    init_without_config();
    let mut applied = APPLIED.lock().unwrap_or_else(|e| e.into_inner());
    let c_name = CString::new(name).map_err(|_| "tls_config_name contains a NUL".to_string())?;
    let c_path = if file.starts_with('/') {
        let c = CString::new(file).map_err(|_| "tls_config_file contains a NUL".to_string())?;
        check_file(&c, file, name)?;
        Some(c)
    } else {
        None
    };
    if let Some(have) = applied.as_ref() {
        if *have == want {
            return Ok(());
        }
        return Err(format!(
            "{}: this process's OpenSSL library is already configured with {} (OpenSSL has one configuration per process), disabling TLS support",
            describe(&want.0, &want.1),
            describe(&have.0, &have.1)
        ));
    }
    let app = if name.is_empty() {
        std::ptr::null()
    } else {
        c_name.as_ptr()
    };
    let ok = match &c_path {
        // `none`: nothing to load.
        None if file == "none" => 1,
        // `default`: the default file, leniently, falling back to the
        // `openssl_conf` section when the application has none.
        None => {
            // SAFETY: NULL selects the default file; app is NULL or a
            // valid C string.
            unsafe {
                CONF_modules_load_file(
                    std::ptr::null(),
                    app,
                    CONF_MFLAGS_IGNORE_MISSING_FILE
                        | CONF_MFLAGS_DEFAULT_SECTION
                        | CONF_MFLAGS_IGNORE_RETURN_CODES
                        | CONF_MFLAGS_SILENT,
                )
            }
        }
        // A path: strictly, the named section or `openssl_conf` only
        // when no name is set.
        // SAFETY: both strings are valid for the call.
        Some(path) => unsafe { CONF_modules_load_file(path.as_ptr(), app, 0) },
    };
    if ok <= 0 {
        return Err(load_error(file, name));
    }
    super::errors::clear_openssl_errors();
    *applied = Some(want);
    Ok(())
}
