//! OpenSSL's certificate verification callback of every context: it
//! records the error closest to the leaf in the session's
//! [`VerifyRecord`](super::exdata::VerifyRecord), logs Postfix's
//! `depth=... verify=...` lines, forces failure when trust setup failed,
//! and never aborts the handshake (the decision is made afterwards, by
//! `verify`, as Postfix does).

use std::panic::AssertUnwindSafe;

use openssl::x509::{X509StoreContext, X509StoreContextRef};

use super::exdata;
use crate::config::loglevel::mask;
use crate::sys::x509;

/// OpenSSL's certificate verification callback for every context: record
/// the error closest to the leaf, log `depth=... verify=...` lines, force
/// failure when trust setup failed, and never abort the handshake (the
/// decision is made afterwards, as Postfix does).
pub fn record(ok: bool, store: &mut X509StoreContextRef) -> bool {
    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| on_verify(ok, store)));
    true
}

fn on_verify(mut ok: bool, store: &mut X509StoreContextRef) {
    let Ok(ssl_idx) = X509StoreContext::ssl_idx() else {
        return;
    };
    let Some(shared) = store.ex_data(ssl_idx).and_then(exdata::get).cloned() else {
        return;
    };
    let depth = store.error_depth() as i32;
    let verbose = shared.log_mask & mask::VERBOSE != 0;
    let Ok(mut record) = shared.verify.lock() else {
        return;
    };
    let mut code = store.error().as_raw();
    if record.must_fail {
        if depth == 0 {
            code = x509::V_ERR_UNSPECIFIED;
            store.set_error(x509::verify_result(code));
        }
        ok = false;
    }
    let record_it = !ok && record.depth.is_none_or(|d| depth < d);
    // Names are formatted only when they are recorded or logged.
    let subject = if record_it || verbose {
        store
            .current_cert()
            .map(|c| x509::name_oneline(c.subject_name()))
            .unwrap_or_default()
    } else {
        String::new()
    };
    if record_it {
        record.depth = Some(depth);
        record.code = code;
        record.subject = subject.clone();
        record.issuer = store
            .current_cert()
            .map(|c| x509::name_oneline(c.issuer_name()))
            .unwrap_or_default();
    }
    drop(record);
    if verbose {
        shared.logger.info(&format!(
            "{}: depth={depth} verify={} subject={subject}",
            shared.label, ok as i32
        ));
    }
}
