//! The client session cache: sessions kept under the caller's server id
//! (plus a digest of the settings), in memory or in the host's store
//! (get / put / remove callbacks), for resumption.
//!
//! In memory the cache keeps OpenSSL's session objects themselves
//! (reference-counted: a lookup takes a reference, no decoding), with the
//! same key, lifetime and bound as the DER stores; the host's store gets
//! and returns DER, as Postfix's external cache does.

use std::collections::HashMap;
use std::sync::Arc;

use openssl::ssl::{SslRef, SslSession, SslSessionRef};

use crate::config::loglevel::mask;
use crate::context::exdata;
use crate::sys::ssl::{session_dup, session_is_resumable, set_session};
use crate::sys::sync::PMutex;
use crate::sys::wait::unix_time;

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
            Some((der, expires)) if *expires > unix_time() => Some(der.clone()),
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
                make_room(&mut map);
            }
            map.insert(key.to_string(), (der.to_vec(), expires));
        }
    }

    fn remove(&self, key: &str) {
        self.entries.lock().remove(key);
    }
}

/// Make room in a full in-process cache (`MEMORY_CACHE_MAX` entries):
/// drop the expired entries, then, if none was, the one expiring first.
fn make_room<V>(map: &mut HashMap<String, (V, u64)>) {
    let t = unix_time();
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

/// The in-process client cache: OpenSSL session objects with their expiry
/// time, bounded as [`MemoryStore`]. The cache keeps its own copy of a
/// new session and hands each connection a copy of its own (cheap: the
/// certificates are shared by reference, nothing is decoded), so no
/// connection sees another's changes, as with DER: OpenSSL marks the
/// session a TLS 1.3 client resumed not resumable at the end of the
/// handshake (tickets meant for one use), and any session after a fatal
/// alert; a shared object would resume once.
#[derive(Default)]
pub struct ObjectStore {
    entries: PMutex<HashMap<String, (SslSession, u64)>>,
}

impl ObjectStore {
    /// A copy of the session under `key`, unless expired.
    pub fn get(&self, key: &str) -> Option<SslSession> {
        let mut map = self.entries.lock();
        match map.get(key) {
            Some((session, expires)) if *expires > unix_time() => session_dup(session),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keep a copy of `session` under `key` until `expires` (Unix seconds).
    pub fn put(&self, key: &str, session: &SslSessionRef, expires: u64) {
        let Some(session) = session_dup(session) else {
            return;
        };
        let old = {
            let mut map = self.entries.lock();
            if map.len() >= MEMORY_CACHE_MAX && !map.contains_key(key) {
                make_room(&mut map);
            }
            map.insert(key.to_string(), (session, expires))
        };
        // The replaced session is released outside the lock.
        drop(old);
    }

    /// Forget `key`.
    pub fn remove(&self, key: &str) {
        let old = self.entries.lock().remove(key);
        drop(old);
    }

    /// How many sessions are kept (expired ones included until looked up).
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// True when no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a client context keeps its sessions.
pub enum Backend {
    /// In this process, as OpenSSL session objects.
    Objects(ObjectStore),
    /// In a store that keeps DER (the host's callbacks).
    Der(Arc<dyn SessionStore>),
}

/// A client context's session cache.
pub struct ClientCache {
    /// `smtp` or `lmtp` (cache name in log lines).
    pub name: String,
    /// Lifetime of cached sessions (`*_tls_session_cache_timeout`).
    pub timeout: u64,
    /// Where sessions go.
    pub backend: Backend,
}

impl ClientCache {
    /// Load the session for `key` into `ssl`; logs at the `cache` mask.
    pub fn load(&self, ssl: &mut SslRef, key: &str, log_mask: u32, log: &crate::logging::Logger) {
        if log_mask & mask::CACHE != 0 {
            log.info(&format!("looking for session {key} in {} cache", self.name));
        }
        let session = match &self.backend {
            Backend::Objects(objects) => match objects.get(key) {
                Some(session) => session,
                None => return,
            },
            Backend::Der(store) => {
                let Some(der) = store.get(key) else {
                    return;
                };
                let Ok(session) = SslSession::from_der(&der) else {
                    store.remove(key);
                    return;
                };
                session
            }
        };
        // The session was made by this library for a context of the same
        // role and method (the key includes the settings).
        if set_session(ssl, &session) && log_mask & mask::CACHE != 0 {
            log.info(&format!("reloaded session {key} from {} cache", self.name));
        }
        crate::logging::clear_openssl_errors();
    }

    /// Forget `key` (after a failed handshake).
    pub fn remove(&self, key: &str, log_mask: u32, log: &crate::logging::Logger) {
        match &self.backend {
            Backend::Objects(objects) => objects.remove(key),
            Backend::Der(store) => store.remove(key),
        }
        if log_mask & mask::CACHE != 0 {
            log.info(&format!("remove session {key} from client cache"));
        }
    }
}

/// OpenSSL's new-session callback on client contexts: store the session
/// under the session's cache key (from Postfix 3.11 on only the first of a
/// connection).
pub fn on_new_client_session(ssl: &mut SslRef, session: SslSession) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(shared) = exdata::get(ssl) else {
            return;
        };
        let (Some(cache), Some(key)) = (&shared.cache, &shared.cache_key) else {
            return;
        };
        let log = || {
            if shared.log_mask & mask::CACHE != 0 {
                shared
                    .logger
                    .info(&format!("save session {key} to {} cache", cache.name));
            }
        };
        let resumable = session_is_resumable(&session);
        let save = |session: SslSession| {
            let expires = unix_time() + cache.timeout;
            match &cache.backend {
                Backend::Objects(objects) => objects.put(key, &session, expires),
                Backend::Der(store) => {
                    if let Ok(der) = session.to_der() {
                        store.put(key, &der, expires);
                    }
                }
            }
        };
        if shared.release.saves_first_ticket_only() {
            // Postfix 3.11 and later: the first ticket of a connection only.
            use std::sync::atomic::Ordering::Relaxed;
            if resumable && !shared.ticketed.swap(true, Relaxed) {
                log();
                save(session);
            }
        } else {
            // Before: every ticket the server sends is logged and stored.
            log();
            if resumable {
                save(session);
            }
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_expires_and_is_bounded() {
        let store = MemoryStore::default();
        store.put("a", b"x", unix_time() + 100);
        store.put("b", b"y", unix_time().saturating_sub(1));
        assert_eq!(store.get("a"), Some(b"x".to_vec()));
        assert_eq!(store.get("b"), None);
        for i in 0..(MEMORY_CACHE_MAX + 10) {
            store.put(&format!("k{i}"), b"z", unix_time() + 100 + i as u64);
        }
        assert!(store.entries.lock().len() <= MEMORY_CACHE_MAX);
        store.remove("a");
        assert_eq!(store.get("a"), None);
    }
}
