//! The `tls_dane_*` data functions smtp(8) and posttls-finger(1) use to
//! build the TLSA lists that `tls_client_start` receives: fingerprints
//! (private matching type 255), trust-anchor files, and DNSSEC TLSA
//! lookups through libpostfix-dns (found at run time).

use std::ffi::{c_char, c_int, c_uint, c_void};

use crate::abi::{Dane, Tlsa};
use crate::pf::{self, Sym};

/// `TLS_DANE_FLAG_*`.
const FLAG_NORRS: c_int = 1;
const FLAG_EMPTY: c_int = 2;
const FLAG_ERROR: c_int = 4;

static DANE_LOG_MASK: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Prepend a TLSA record (a copy of `data`) to `head`.
///
/// # Safety
/// `head` is NULL or a list of this module's nodes.
pub unsafe fn prepend(
    head: *mut Tlsa,
    usage: u8,
    selector: u8,
    mtype: u8,
    data: &[u8],
) -> *mut Tlsa {
    let node = pf::alloc_zeroed(std::mem::size_of::<Tlsa>()).cast::<Tlsa>();
    let len = data.len().min(u16::MAX as usize);
    let copy = pf::alloc_zeroed(len).cast::<u8>();
    std::ptr::copy_nonoverlapping(data.as_ptr(), copy, len);
    (*node).usage = usage;
    (*node).selector = selector;
    (*node).mtype = mtype;
    (*node).length = len as u16;
    (*node).data = copy;
    (*node).next = head;
    node
}

/// Free a TLSA list.
///
/// # Safety
/// `head` is NULL or a list from [`prepend`].
pub unsafe fn free_list(mut head: *mut Tlsa) {
    while !head.is_null() {
        let next = (*head).next;
        pf::free((*head).data.cast());
        pf::free(head.cast());
        head = next;
    }
}

/// Postfix's `hex_decode_opt(..., HEX_DECODE_FLAG_ALLOW_COLON)`.
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    mtatls::unstable::decode_hex_colons(text)
}

#[no_mangle]
pub extern "C" fn tls_dane_avail() -> c_int {
    1
}

#[no_mangle]
pub unsafe extern "C" fn tls_dane_loglevel(param: *const c_char, level: *const c_char) {
    let mask = crate::misc::log_mask(&pf::str_or_empty(param), &pf::str_or_empty(level));
    DANE_LOG_MASK.store(mask, std::sync::atomic::Ordering::Relaxed);
}

#[no_mangle]
pub extern "C" fn tls_dane_alloc() -> *mut Dane {
    let d = pf::alloc_zeroed(std::mem::size_of::<Dane>()).cast::<Dane>();
    // SAFETY: zeroed memory of Dane's size.
    unsafe { (*d).refs = 1 };
    d
}

#[no_mangle]
pub unsafe extern "C" fn tls_dane_free(dane: *mut Dane) {
    let Some(d) = dane.as_mut() else {
        return;
    };
    d.refs -= 1;
    if d.refs > 0 {
        return;
    }
    free_list(d.tlsa);
    pf::free(d.base_domain.cast());
    pf::free(dane.cast());
}

/// No TLSA cache is kept: nothing to flush.
#[no_mangle]
pub extern "C" fn tls_dane_flush() {}

/// `void tls_dane_add_fpt_digests(TLS_DANE *, const char *digests, const
/// char *delim, int smtp_mode)` (3.7, 3.8).
#[cfg(not(feature = "pf39"))]
#[no_mangle]
pub unsafe extern "C" fn tls_dane_add_fpt_digests(
    dane: *mut Dane,
    digests: *const c_char,
    delim: *const c_char,
    smtp_mode: c_int,
) {
    add_fpt_digests(dane, false, digests, delim, smtp_mode)
}

/// `void tls_dane_add_fpt_digests(TLS_DANE *, int pkey_only, const char
/// *digests, const char *delim, int smtp_mode)` (3.9+; `pkey_only`:
/// public-key digests only, as posttls-finger asks with raw public keys).
#[cfg(feature = "pf39")]
#[no_mangle]
pub unsafe extern "C" fn tls_dane_add_fpt_digests(
    dane: *mut Dane,
    pkey_only: c_int,
    digests: *const c_char,
    delim: *const c_char,
    smtp_mode: c_int,
) {
    add_fpt_digests(dane, pkey_only != 0, digests, delim, smtp_mode)
}

unsafe fn add_fpt_digests(
    dane: *mut Dane,
    pkey_only: bool,
    digests: *const c_char,
    delim: *const c_char,
    smtp_mode: c_int,
) {
    let Some(d) = dane.as_mut() else {
        return;
    };
    static SMTP_COMPAT: Sym = Sym::new(c"warn_compat_break_smtp_tls_fpt_dgst");
    static LMTP_COMPAT: Sym = Sym::new(c"warn_compat_break_lmtp_tls_fpt_dgst");
    let (flag, param) = if smtp_mode != 0 {
        (&SMTP_COMPAT, "smtp_tls_fingerprint_digest")
    } else {
        (&LMTP_COMPAT, "lmtp_tls_fingerprint_digest")
    };
    if let Some(p) = flag.get() {
        if *(p as *const c_int) != 0 {
            pf::info(&format!(
                "using backwards-compatible default setting {param}=md5 to compute certificate fingerprints"
            ));
        }
    }
    let text = pf::str_or_empty(digests);
    let delim = pf::str_or_empty(delim);
    for token in text
        .split(|c: char| delim.contains(c))
        .filter(|t| !t.is_empty())
    {
        if token.len() > 3 * 64 {
            let head: String = token.chars().take(100).collect();
            pf::warn(&format!("malformed fingerprint value: {head}..."));
            continue;
        }
        let Some(raw) = hex_decode(token) else {
            let head: String = token.chars().take(384).collect();
            pf::warn(&format!("malformed fingerprint value: {head}"));
            continue;
        };
        if !pkey_only {
            d.tlsa = prepend(d.tlsa, 3, 0, 255, &raw);
        }
        d.tlsa = prepend(d.tlsa, 3, 1, 255, &raw);
    }
}

#[no_mangle]
pub unsafe extern "C" fn tls_dane_load_trustfile(dane: *mut Dane, tafile: *const c_char) -> c_int {
    let Some(file) = pf::opt_str(tafile).filter(|f| !f.is_empty()) else {
        return 1;
    };
    let Some(d) = dane.as_mut() else {
        return 0;
    };
    let data = match std::fs::read(&file) {
        Ok(d) => d,
        Err(e) => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or("");
            pf::warn(&format!("error opening trust anchor file: {file}: {text}"));
            return 0;
        }
    };
    let mut count = 0;
    // Every PEM object in order: certificates become (2,0,0)+(3,0,0),
    // public keys (2,1,0)+(3,1,0), with the DER as data, as Postfix does
    // (so that a trust anchor may also match the leaf directly).
    let text = String::from_utf8_lossy(&data);
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(dash) = after.find("-----") else {
            break;
        };
        let label = after[..dash].to_string();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = after.find(&end_marker) else {
            pf::warn(&format!(
                "error reading: {file}: malformed trust-anchor {}",
                if label.contains("KEY") {
                    "pkey"
                } else {
                    "cert"
                }
            ));
            return 0;
        };
        let block = &rest[start..start + 11 + end + end_marker.len()];
        rest = &after[end + end_marker.len()..];
        let selector = match label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" => 0u8,
            "PUBLIC KEY" => 1u8,
            _ => continue,
        };
        let der = if selector == 0 {
            openssl::x509::X509::from_pem(block.as_bytes()).and_then(|c| c.to_der())
        } else {
            openssl::pkey::PKey::public_key_from_pem(block.as_bytes())
                .and_then(|k| k.public_key_to_der())
        };
        let der = match der {
            Ok(der) => der,
            Err(_) => {
                pf::warn(&format!(
                    "error reading: {file}: malformed trust-anchor {}",
                    if selector == 0 { "cert" } else { "pkey" }
                ));
                return 0;
            }
        };
        d.tlsa = prepend(d.tlsa, 2, selector, 0, &der);
        d.tlsa = prepend(d.tlsa, 3, selector, 0, &der);
        count += 1;
    }
    (count > 0) as c_int
}

// --- DNSSEC TLSA lookups through libpostfix-dns (smtp links it) -------

/// The `DNS_RR` offsets of this build's series.
use crate::abi::dns_rr as rr;

unsafe fn field<T: Copy>(rr: *const c_void, off: usize) -> T {
    *(rr.cast::<u8>().add(off).cast::<T>())
}

static DNS_LOOKUP_X: Sym = Sym::new(c"dns_lookup_x");
static DNS_RR_FREE: Sym = Sym::new(c"dns_rr_free");
static VSTRING_ALLOC: Sym = Sym::new(c"vstring_alloc");
static EVENT_TIME: Sym = Sym::new(c"event_time");

const T_CNAME: c_uint = 5;
const T_TLSA: c_uint = 52;
const RES_USE_DNSSEC: c_uint = 0x0080_0000;
const DNS_OK: c_int = 0;
const DNS_NOTFOUND: c_int = rr::NOTFOUND;

/// One `dns_lookup` with RES_USE_DNSSEC: Ok(list or NULL for
/// NOTFOUND) or Err(reason).
unsafe fn lookup(name: &str, rtype: c_uint) -> Result<*mut c_void, String> {
    let (Some(f), Some(va)) = (DNS_LOOKUP_X.get(), VSTRING_ALLOC.get()) else {
        return Err("libpostfix-dns is not loaded in this process".into());
    };
    type LookupFn = unsafe extern "C" fn(
        *const c_char,
        c_uint,
        c_uint,
        *mut *mut c_void,
        *mut c_void,
        *mut c_void,
        *mut c_int,
        c_uint,
    ) -> c_int;
    let f: LookupFn = std::mem::transmute(f);
    let va: unsafe extern "C" fn(isize) -> *mut c_void = std::mem::transmute(va);
    thread_local!(static WHY: std::cell::Cell<*mut c_void> = const { std::cell::Cell::new(std::ptr::null_mut()) });
    let why = WHY.with(|w| {
        if w.get().is_null() {
            w.set(va(10));
        }
        w.get()
    });
    let c = std::ffi::CString::new(name).map_err(|_| "bad name".to_string())?;
    let mut rrs: *mut c_void = std::ptr::null_mut();
    match f(
        c.as_ptr(),
        rtype,
        RES_USE_DNSSEC,
        &mut rrs,
        std::ptr::null_mut(),
        why,
        std::ptr::null_mut(),
        0,
    ) {
        DNS_OK => Ok(rrs),
        DNS_NOTFOUND => Ok(std::ptr::null_mut()),
        _ => {
            // VSTRING: the text pointer is at offset 8 (VBUF.data).
            let text = pf::str_or_empty(*(why.cast::<u8>().add(8).cast::<*const c_char>()));
            Err(text)
        }
    }
}

/// The `len` data bytes of a `DNS_RR` (inline in 3.7, behind a pointer
/// from 3.8 on).
///
/// # Safety
/// `r` is a live `DNS_RR` with at least `len` bytes of data.
unsafe fn rr_data<'a>(r: *const c_void, len: usize) -> &'a [u8] {
    let p = if rr::DATA_IS_POINTER {
        field::<*const u8>(r, rr::DATA)
    } else {
        r.cast::<u8>().add(rr::DATA)
    };
    if p.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(p, len)
    }
}

unsafe fn rr_free(rrs: *mut c_void) {
    if let (false, Some(f)) = (rrs.is_null(), DNS_RR_FREE.get()) {
        let f: unsafe extern "C" fn(*mut c_void) = std::mem::transmute(f);
        f(rrs);
    }
}

fn now() -> i64 {
    match EVENT_TIME.get() {
        // SAFETY: libpostfix-util's event_time(void) -> time_t.
        Some(f) => unsafe {
            let f: unsafe extern "C" fn() -> libc::time_t = std::mem::transmute(f);
            f()
        },
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    }
}

/// TLSA records of `_PORT._PROTO.HOST` (DNSSEC-validated only).
unsafe fn resolve_host(host: &str, proto: &str, port: u16) -> *mut Dane {
    let dane = tls_dane_alloc();
    let qname = format!("_{port}._{proto}.{host}");
    match lookup(&qname, T_TLSA) {
        Ok(rrs) if rrs.is_null() => {
            (*dane).flags |= FLAG_NORRS;
            (*dane).expires = now() + 2;
        }
        Ok(rrs) => {
            let ttl: u32 = field(rrs, rr::TTL);
            (*dane).expires = 1 + now() + ttl.clamp(1, 100) as i64;
            if field::<c_int>(rrs, rr::DNSSEC_VALID) != 0 {
                let mut n = 0;
                let mut r = rrs;
                while !r.is_null() {
                    let rtype: u16 = field(r, rr::TYPE);
                    let len: usize = field(r, rr::DATA_LEN);
                    if rtype == T_TLSA as u16 && len >= 3 {
                        let data = rr_data(r, len);
                        let (usage, selector, mtype) = (data[0], data[1], data[2]);
                        let rname = pf::str_or_empty(field(r, rr::RNAME));
                        if !(usage == 2 || usage == 3) {
                            pf::warn(&format!("{rname}: unsupported TLSA certificate usage: {usage} {selector} {mtype} ..."));
                        } else if mtype == 255 {
                            pf::warn(&format!("{rname}: reserved private-use matching type: {usage} {selector} {mtype} ..."));
                        } else {
                            (*dane).tlsa =
                                prepend((*dane).tlsa, usage, selector, mtype, &data[3..]);
                            n += 1;
                        }
                    }
                    r = field(r, rr::NEXT);
                }
                if n == 0 {
                    (*dane).flags |= FLAG_EMPTY;
                }
            } else {
                (*dane).flags |= FLAG_NORRS;
            }
            rr_free(rrs);
        }
        Err(why) => {
            pf::warn(&format!("DANE TLSA lookup problem: {why}"));
            (*dane).flags |= FLAG_ERROR;
        }
    }
    if (*dane).base_domain.is_null() {
        (*dane).base_domain = pf::strdup(host);
    }
    dane
}

/// `TLS_DANE *tls_dane_resolve(unsigned port, const char *proto, DNS_RR
/// *hostrr, int forcetlsa)`: as Debian's, without its cache.
#[no_mangle]
pub unsafe extern "C" fn tls_dane_resolve(
    port: c_uint,
    proto: *const c_char,
    hostrr: *const c_void,
    forcetlsa: c_int,
) -> *mut Dane {
    crate::guard("tls_dane_resolve", std::ptr::null_mut(), || {
        if hostrr.is_null() {
            return std::ptr::null_mut();
        }
        let qname = pf::str_or_empty(field(hostrr, rr::QNAME));
        let rname = pf::str_or_empty(field(hostrr, rr::RNAME));
        let proto = pf::str_or_empty(proto);
        let port = u16::from_be(port as u16);
        let iscname = !qname.eq_ignore_ascii_case(&rname);
        let host_valid = field::<c_int>(hostrr, rr::DNSSEC_VALID) != 0;
        let mut isvalid = true;
        if forcetlsa == 0 && !host_valid {
            isvalid = false;
            if iscname {
                match lookup(&qname, T_CNAME) {
                    Ok(rrs) if !rrs.is_null() => {
                        isvalid = field::<c_int>(rrs, rr::DNSSEC_VALID) != 0;
                        rr_free(rrs);
                    }
                    Ok(_) => {
                        pf::warn(&format!(
                            "DNSSEC status lookup error for {qname}: no longer a CNAME"
                        ));
                        return std::ptr::null_mut();
                    }
                    Err(why) => {
                        pf::warn(&format!("DNSSEC status lookup error for {qname}: {why}"));
                        return std::ptr::null_mut();
                    }
                }
            }
        }
        if !isvalid {
            let d = tls_dane_alloc();
            (*d).flags = FLAG_NORRS;
            return d;
        }
        let mut dane = std::ptr::null_mut();
        if host_valid {
            dane = resolve_host(&rname, &proto, port);
            if iscname && (*dane).flags & FLAG_NORRS != 0 {
                tls_dane_free(dane);
                dane = std::ptr::null_mut();
            }
        }
        if dane.is_null() {
            dane = resolve_host(&qname, &proto, port);
        }
        if (*dane).flags & FLAG_ERROR != 0 {
            tls_dane_free(dane);
            return std::ptr::null_mut();
        }
        dane
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_lists() {
        assert_eq!(hex_decode("2E:9c:04"), Some(vec![0x2e, 0x9c, 0x04]));
        assert_eq!(hex_decode("2e9C04"), Some(vec![0x2e, 0x9c, 0x04]));
        assert_eq!(hex_decode("2E:"), None);
        assert_eq!(hex_decode("2G"), None);
        let d = tls_dane_alloc();
        unsafe {
            add_fpt_digests(d, false, c"AB:CD, 0102".as_ptr(), c", ".as_ptr(), 1);
            let mut seen = vec![];
            let mut t = (*d).tlsa;
            while let Some(r) = t.as_ref() {
                seen.push((
                    r.usage,
                    r.selector,
                    r.mtype,
                    std::slice::from_raw_parts(r.data, r.length as usize).to_vec(),
                ));
                t = r.next;
            }
            assert_eq!(
                seen,
                vec![
                    (3, 1, 255, vec![1, 2]),
                    (3, 0, 255, vec![1, 2]),
                    (3, 1, 255, vec![0xab, 0xcd]),
                    (3, 0, 255, vec![0xab, 0xcd]),
                ]
            );
            tls_dane_free(d);
        }
    }
}
