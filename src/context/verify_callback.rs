//! OpenSSL's certificate verification callback of every context: it
//! records the error closest to the leaf in the session's
//! [`VerifyRecord`](super::exdata::VerifyRecord) (with the release's
//! priority of hostname mismatches), logs Postfix's `depth=... verify=...`
//! lines, forces failure when trust setup failed, and never aborts the
//! handshake (the decision is made afterwards, by `verify`, as Postfix
//! does).

use std::panic::AssertUnwindSafe;

use openssl::x509::{X509StoreContext, X509StoreContextRef};

use super::exdata::{self, VerifyRecord};
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

fn on_verify(ok: bool, store: &mut X509StoreContextRef) {
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
    let mismatch_last = shared.release.hostname_mismatch_is_trusted();
    if record.must_fail {
        // Trust setup failed: fail at the leaf, log nothing more.
        if depth == 0 {
            let code = x509::V_ERR_UNSPECIFIED;
            store.set_error(x509::verify_result(code));
            keep(&mut record, store, depth, code, mismatch_last);
        }
        return;
    }
    if !ok {
        let code = store.error().as_raw();
        keep(&mut record, store, depth, code, mismatch_last);
    }
    drop(record);
    if verbose {
        let line = match store.current_cert() {
            // Postfix 3.9+ (a raw public key needs it): no depth.
            None if crate::sys::rpk::store_has_rpk(store) => {
                format!("{}: verify={} raw public key", shared.label, ok as i32)
            }
            Some(c) => format!(
                "{}: depth={depth} verify={} subject={}",
                shared.label,
                ok as i32,
                x509::name_oneline(c.subject_name())
            ),
            None if shared.release.verify_line_omits_unknown_subject() => {
                format!("{}: depth={depth} verify={}", shared.label, ok as i32)
            }
            None => format!(
                "{}: depth={depth} verify={} subject=<unknown>",
                shared.label, ok as i32
            ),
        };
        shared.logger.info(&line);
    }
}

/// Keep the error closest to the leaf, as Postfix does; with
/// `mismatch_last` (3.10.4, 3.11.0 and later) a hostname mismatch never
/// replaces another error and any other error replaces it, and the error
/// kept stays OpenSSL's result (so that a mismatch alone is what the
/// session records).
fn keep(
    record: &mut VerifyRecord,
    store: &mut X509StoreContextRef,
    depth: i32,
    code: i32,
    mismatch_last: bool,
) {
    use crate::sys::x509::codes::X509_V_ERR_HOSTNAME_MISMATCH as MISMATCH;
    if let Some(kept) = record.depth {
        let stays = if mismatch_last {
            (kept <= depth && record.code != MISMATCH) || code == MISMATCH
        } else {
            kept <= depth
        };
        if stays {
            if mismatch_last {
                store.set_error(x509::verify_result(record.code));
            }
            return;
        }
    }
    record.depth = Some(depth);
    record.code = code;
    let cert = store.current_cert();
    record.subject = cert
        .map(|c| x509::name_oneline(c.subject_name()))
        .unwrap_or_default();
    record.issuer = cert
        .map(|c| x509::name_oneline(c.issuer_name()))
        .unwrap_or_default();
}
