//! Session resumption. Server: RFC 5077 session tickets encrypted with
//! `tls_session_ticket_cipher` under keys made in-process and rotated every
//! `smtpd_tls_session_cache_timeout` (the previous key still decrypts for
//! one more period, as Postfix does), or under keys the host installs.
//! Client: a session cache keyed by the caller's server id, in memory or in
//! a store of the host's (get / put / remove callbacks).

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Arc;

use crate::sys::sync::PMutex;
use std::time::{SystemTime, UNIX_EPOCH};

use foreign_types::ForeignTypeRef;
use libc::{c_int, c_uchar};
use once_cell::sync::Lazy;
use openssl::ex_data::Index;
use openssl::ssl::{SslContext, SslContextRef, SslRef, SslSession};

use crate::context::exdata;
use crate::logging::mask;
use crate::sys::ossl;

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Length of a ticket key in the host format: 16-byte key name, 32 bytes
/// of cipher key (the cipher uses as many as it needs), 32 bytes of
/// HMAC-SHA256 key.
pub const TICKET_KEY_LEN: usize = 80;

/// One session ticket key.
#[derive(Clone)]
pub struct TicketKey {
    /// Sent in the clear in each ticket to find the key again.
    pub name: [u8; 16],
    /// Cipher key (first `key_len` bytes used).
    pub cipher_key: [u8; 32],
    /// HMAC-SHA256 key.
    pub hmac_key: [u8; 32],
    /// When the key stops encrypting new tickets (Unix seconds); it still
    /// decrypts for one more lifetime after that.
    pub expires: u64,
}

impl TicketKey {
    /// A key from the 80-byte host format.
    pub fn from_bytes(bytes: &[u8], expires: u64) -> Option<TicketKey> {
        if bytes.len() != TICKET_KEY_LEN {
            return None;
        }
        let mut k = TicketKey {
            name: [0; 16],
            cipher_key: [0; 32],
            hmac_key: [0; 32],
            expires,
        };
        k.name.copy_from_slice(&bytes[..16]);
        k.cipher_key.copy_from_slice(&bytes[16..48]);
        k.hmac_key.copy_from_slice(&bytes[48..80]);
        Some(k)
    }

    fn random(expires: u64) -> Option<TicketKey> {
        let mut bytes = [0u8; TICKET_KEY_LEN];
        openssl::rand::rand_bytes(&mut bytes).ok()?;
        TicketKey::from_bytes(&bytes, expires)
    }
}

impl Drop for TicketKey {
    fn drop(&mut self) {
        // Best effort: do not leave key material in freed memory.
        for b in self.cipher_key.iter_mut().chain(self.hmac_key.iter_mut()) {
            // SAFETY: writing through a valid &mut u8.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

struct KeyRing {
    /// Newest first; at most two are kept (current and previous).
    keys: Vec<TicketKey>,
    /// The host installs keys; no automatic rotation.
    external: bool,
}

/// The ticket keys of one server context (shared by its threads).
pub struct TicketKeys {
    cipher: CString,
    lifetime: u64,
    ring: PMutex<KeyRing>,
}

impl TicketKeys {
    /// Keys for `cipher` (an OpenSSL cipher name) living `lifetime` seconds.
    pub fn new(cipher: &str, lifetime: u64) -> Option<TicketKeys> {
        Some(TicketKeys {
            cipher: CString::new(cipher).ok()?,
            lifetime: lifetime.max(1),
            ring: PMutex::new(KeyRing {
                keys: Vec::new(),
                external: false,
            }),
        })
    }

    /// How long a key encrypts new tickets (`smtpd_tls_session_cache_timeout`).
    pub fn lifetime(&self) -> u64 {
        self.lifetime
    }

    /// Install a key from the host (it becomes the current key; automatic
    /// rotation stops: the host rotates from now on).
    pub fn install(&self, key: TicketKey) {
        let mut ring = self.ring.lock();
        ring.external = true;
        ring.keys.retain(|k| k.name != key.name);
        ring.keys.insert(0, key);
        ring.keys.truncate(2);
    }

    /// The key to encrypt a new ticket with, rotating an expired one.
    fn current(&self, now: u64) -> Option<TicketKey> {
        let mut ring = self.ring.lock();
        let expired = ring.keys.first().is_none_or(|k| k.expires <= now);
        if expired && !ring.external {
            let key = TicketKey::random(now + self.lifetime)?;
            ring.keys.insert(0, key);
            ring.keys.truncate(2);
        }
        ring.keys.first().cloned()
    }

    /// The key named `name` if it may still decrypt, and whether it is the
    /// current one.
    fn find(&self, name: &[u8], now: u64) -> Option<(TicketKey, bool)> {
        let ring = self.ring.lock();
        ring.keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.name == name && k.expires.saturating_add(self.lifetime) > now)
            .map(|(i, k)| (k.clone(), i == 0 && k.expires > now))
    }
}

static TICKET_INDEX: Lazy<Option<Index<SslContext, Arc<TicketKeys>>>> =
    Lazy::new(|| SslContext::new_ex_index().ok());

/// Attach `keys` to a server context being built and install the callback.
pub fn enable_tickets(b: &mut openssl::ssl::SslContextBuilder, keys: Arc<TicketKeys>) -> bool {
    let Some(index) = *TICKET_INDEX else {
        return false;
    };
    b.set_ex_data(index, keys);
    // SAFETY: b wraps a live SSL_CTX; the callback catches panics.
    unsafe { ossl::SSL_CTX_set_tlsext_ticket_key_evp_cb(b.as_ptr(), Some(ticket_callback)) == 1 }
}

/// The ticket keys of a server context, if tickets are on.
pub fn ticket_keys(ctx: &SslContextRef) -> Option<&Arc<TicketKeys>> {
    TICKET_INDEX.as_ref().and_then(|i| ctx.ex_data(*i))
}

unsafe extern "C" fn ticket_callback(
    ssl: *mut openssl_sys::SSL,
    key_name: *mut c_uchar,
    iv: *mut c_uchar,
    cctx: *mut openssl_sys::EVP_CIPHER_CTX,
    hctx: *mut openssl_sys::EVP_MAC_CTX,
    enc: c_int,
) -> c_int {
    std::panic::catch_unwind(|| {
        // SAFETY: OpenSSL passes live objects and 16-byte name/IV buffers.
        unsafe { ticket(ssl, key_name, iv, cctx, hctx, enc) }
    })
    .unwrap_or(-1)
}

unsafe fn ticket(
    ssl: *mut openssl_sys::SSL,
    key_name: *mut c_uchar,
    iv: *mut c_uchar,
    cctx: *mut openssl_sys::EVP_CIPHER_CTX,
    hctx: *mut openssl_sys::EVP_MAC_CTX,
    enc: c_int,
) -> c_int {
    let ssl_ref = SslRef::from_ptr(ssl);
    let Some(keys) = ticket_keys(ssl_ref.ssl_context()) else {
        return -1;
    };
    let cipher = openssl_sys::EVP_get_cipherbyname(keys.cipher.as_ptr());
    if cipher.is_null() {
        return -1;
    }
    let now = now();
    let log = |what: &str, expires: u64| {
        if let Some(shared) = exdata::get(ssl_ref) {
            if shared.log_mask & mask::CACHE != 0 {
                shared.logger.info(&format!(
                    "{}: {what} session ticket, key expiration: {expires}",
                    shared.label
                ));
            }
        }
    };
    let (key, status) = if enc == 1 {
        let Some(key) = keys.current(now) else {
            return -1;
        };
        let iv_len = ossl::EVP_CIPHER_get_iv_length(cipher).clamp(0, 16) as usize;
        let iv_slice = std::slice::from_raw_parts_mut(iv, iv_len);
        if openssl::rand::rand_bytes(iv_slice).is_err() {
            return -1;
        }
        std::ptr::copy_nonoverlapping(key.name.as_ptr(), key_name, 16);
        if openssl_sys::EVP_EncryptInit_ex(
            cctx,
            cipher,
            std::ptr::null_mut(),
            key.cipher_key.as_ptr(),
            iv,
        ) != 1
        {
            return -1;
        }
        log("Issuing", key.expires);
        (key, 1)
    } else {
        let name = std::slice::from_raw_parts(key_name, 16);
        let Some((key, current)) = keys.find(name, now) else {
            // Unknown or retired key: a full handshake, then a new ticket.
            return 0;
        };
        if openssl_sys::EVP_DecryptInit_ex(
            cctx,
            cipher,
            std::ptr::null_mut(),
            key.cipher_key.as_ptr(),
            iv,
        ) != 1
        {
            return -1;
        }
        log("Decrypting", key.expires);
        if let Some(shared) = exdata::get(ssl_ref) {
            shared
                .ticketed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        // 2: valid, but issue a fresh ticket under the current key.
        (key, if current { 1 } else { 2 })
    };
    let mut hmac_key = key.hmac_key;
    let params = [
        ossl::OSSL_PARAM_construct_utf8_string(c"digest".as_ptr(), c"SHA256".as_ptr() as *mut _, 0),
        openssl_sys::OSSL_PARAM_construct_octet_string(
            c"key".as_ptr(),
            hmac_key.as_mut_ptr().cast(),
            hmac_key.len(),
        ),
        openssl_sys::OSSL_PARAM_construct_end(),
    ];
    let ok = openssl_sys::EVP_MAC_CTX_set_params(hctx, params.as_ptr()) == 1;
    hmac_key.fill(0);
    if ok {
        status
    } else {
        -1
    }
}

/// Where a client keeps sessions for resumption (the host's store, or
/// memory). Keys are `SERVERID&HEX` strings; values DER sessions.
pub trait SessionStore: Send + Sync {
    /// The session stored under `key`, if any.
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Store `der` under `key` until `expires` (Unix seconds).
    fn put(&self, key: &str, der: &[u8], expires: u64);
    /// Forget `key`.
    fn remove(&self, key: &str);
}

/// Most sessions the in-memory store keeps.
const MEMORY_CACHE_MAX: usize = 1000;

/// An in-process session store with expiry.
pub struct MemoryStore {
    entries: PMutex<HashMap<String, (Vec<u8>, u64)>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            entries: PMutex::new(HashMap::new()),
        }
    }
}

impl SessionStore for MemoryStore {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut map = self.entries.lock();
        match map.get(key) {
            Some((der, expires)) if *expires > now() => Some(der.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: &str, der: &[u8], expires: u64) {
        {
            let mut map = self.entries.lock();
            if map.len() >= MEMORY_CACHE_MAX {
                let t = now();
                map.retain(|_, (_, e)| *e > t);
                if map.len() >= MEMORY_CACHE_MAX {
                    if let Some(oldest) = map
                        .iter()
                        .min_by_key(|(_, (_, e))| *e)
                        .map(|(k, _)| k.clone())
                    {
                        map.remove(&oldest);
                    }
                }
            }
            map.insert(key.to_string(), (der.to_vec(), expires));
        }
    }

    fn remove(&self, key: &str) {
        self.entries.lock().remove(key);
    }
}

/// A client context's session cache.
pub struct ClientCache {
    /// `smtp` or `lmtp` (cache name in log lines).
    pub name: String,
    /// Lifetime of cached sessions (`*_tls_session_cache_timeout`).
    pub timeout: u64,
    /// Where sessions go.
    pub store: Arc<dyn SessionStore>,
}

impl ClientCache {
    /// Load the session for `key` into `ssl`; logs at the `cache` mask.
    pub fn load(&self, ssl: &mut SslRef, key: &str, log_mask: u32, log: &crate::logging::Logger) {
        if log_mask & mask::CACHE != 0 {
            log.info(&format!("looking for session {key} in {} cache", self.name));
        }
        let Some(der) = self.store.get(key) else {
            return;
        };
        let Ok(session) = SslSession::from_der(&der) else {
            self.store.remove(key);
            return;
        };
        // SAFETY: the session was made by this library for a context of
        // the same role and method (the key includes the settings).
        if unsafe { ssl.set_session(&session) }.is_ok() && log_mask & mask::CACHE != 0 {
            log.info(&format!("reloaded session {key} from {} cache", self.name));
        }
        crate::logging::drain_openssl_errors();
    }

    /// Forget `key` (after a failed handshake).
    pub fn remove(&self, key: &str, log_mask: u32, log: &crate::logging::Logger) {
        self.store.remove(key);
        if log_mask & mask::CACHE != 0 {
            log.info(&format!("remove session {key} from client cache"));
        }
    }
}

/// OpenSSL's new-session callback on client contexts: store the session
/// under the session's cache key.
pub fn on_new_client_session(ssl: &mut SslRef, session: SslSession) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(shared) = exdata::get(ssl) else {
            return;
        };
        let (Some(cache), Some(key)) = (&shared.cache, &shared.cache_key) else {
            return;
        };
        // SAFETY: session is a live SSL_SESSION.
        if unsafe { ossl::SSL_SESSION_is_resumable(session.as_ptr()) } != 1 {
            return;
        }
        let Ok(der) = session.to_der() else { return };
        cache.store.put(key, &der, now() + cache.timeout);
        if shared.log_mask & mask::CACHE != 0 {
            shared
                .logger
                .info(&format!("save session {key} to {} cache", cache.name));
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_rotate_and_the_previous_one_decrypts_for_one_period() {
        let keys = TicketKeys::new("aes-256-cbc", 100).unwrap();
        let k1 = keys.current(1000).unwrap();
        assert_eq!(k1.expires, 1100);
        assert_eq!(keys.current(1099).unwrap().name, k1.name);
        let k2 = keys.current(1100).unwrap();
        assert_ne!(k2.name, k1.name);
        assert_eq!(k2.expires, 1200);
        // The old key still decrypts (asking for a fresh ticket) ...
        let (found, current) = keys.find(&k1.name, 1150).unwrap();
        assert_eq!(found.name, k1.name);
        assert!(!current);
        assert!(keys.find(&k2.name, 1150).unwrap().1);
        // ... for one period after it stopped encrypting.
        assert!(keys.find(&k1.name, 1200).is_none());
        // A third key retires the first entirely.
        let k3 = keys.current(1200).unwrap();
        assert!(keys.find(&k1.name, 1200).is_none());
        assert!(keys.find(&k3.name, 1200).is_some());
    }

    #[test]
    fn host_keys_stop_automatic_rotation() {
        let keys = TicketKeys::new("aes-256-cbc", 100).unwrap();
        let host = TicketKey::from_bytes(&[7u8; TICKET_KEY_LEN], 500).unwrap();
        keys.install(host);
        // Even past its expiry the host's key stays current: the host rotates.
        assert_eq!(keys.current(600).unwrap().name, [7u8; 16]);
        assert!(TicketKey::from_bytes(&[0u8; 79], 1).is_none());
    }

    #[test]
    fn memory_store_expires_and_is_bounded() {
        let store = MemoryStore::default();
        store.put("a", b"x", now() + 100);
        store.put("b", b"y", now().saturating_sub(1));
        assert_eq!(store.get("a"), Some(b"x".to_vec()));
        assert_eq!(store.get("b"), None);
        for i in 0..(MEMORY_CACHE_MAX + 10) {
            store.put(&format!("k{i}"), b"z", now() + 100 + i as u64);
        }
        assert!(store.entries.lock().len() <= MEMORY_CACHE_MAX);
        store.remove("a");
        assert_eq!(store.get("a"), None);
    }
}
