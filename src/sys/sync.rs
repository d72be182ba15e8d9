//! A mutex built on the C library's `pthread_mutex_t`, for state that
//! threads share through a context (ticket keys, the in-memory session
//! cache). Unlike Rust's futex-based `std::sync::Mutex`, valgrind's race
//! detectors (helgrind, drd) understand it, so the C harnesses can be
//! checked for data races.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

/// A mutual-exclusion lock around a `T`.
pub struct PMutex<T> {
    lock: Box<UnsafeCell<libc::pthread_mutex_t>>,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by the pthread mutex.
unsafe impl<T: Send> Send for PMutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for PMutex<T> {}

impl<T> PMutex<T> {
    /// A new, unlocked mutex (boxed so the pthread object never moves).
    pub fn new(value: T) -> PMutex<T> {
        let lock = Box::new(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));
        // SAFETY: the boxed mutex object is valid and not yet in use.
        unsafe { libc::pthread_mutex_init(lock.get(), std::ptr::null()) };
        PMutex {
            lock,
            value: UnsafeCell::new(value),
        }
    }

    /// Lock (blocking) and return a guard that unlocks when dropped.
    pub fn lock(&self) -> PGuard<'_, T> {
        // SAFETY: the mutex was initialized and never moves; locking a
        // default (non-error-checking) mutex from an unlocked state is fine.
        unsafe { libc::pthread_mutex_lock(self.lock.get()) };
        PGuard {
            mutex: self,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl<T: Default> Default for PMutex<T> {
    fn default() -> Self {
        PMutex::new(T::default())
    }
}

/// A [`PMutex`] for a `static`: statically initialized (no first-use
/// race that valgrind's race detectors would report), never destroyed.
pub struct StaticPMutex<T> {
    lock: UnsafeCell<libc::pthread_mutex_t>,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by the pthread mutex.
unsafe impl<T: Send> Send for StaticPMutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for StaticPMutex<T> {}

impl<T> StaticPMutex<T> {
    /// A new, unlocked mutex.
    pub const fn new(value: T) -> StaticPMutex<T> {
        StaticPMutex {
            lock: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
            value: UnsafeCell::new(value),
        }
    }

    /// Lock (blocking) and run `f` on the value.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        struct Unlock<'a>(&'a UnsafeCell<libc::pthread_mutex_t>);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                // SAFETY: this thread locked it below.
                unsafe { libc::pthread_mutex_unlock(self.0.get()) };
            }
        }
        // SAFETY: a statically initialized mutex in a static never moves.
        unsafe { libc::pthread_mutex_lock(self.lock.get()) };
        let _unlock = Unlock(&self.lock);
        // SAFETY: the lock is held until `_unlock` is dropped.
        f(unsafe { &mut *self.value.get() })
    }
}

impl<T> Drop for PMutex<T> {
    fn drop(&mut self) {
        // SAFETY: no guard can exist while we are dropped (&mut self).
        unsafe { libc::pthread_mutex_destroy(self.lock.get()) };
    }
}

/// Access to the value while the lock is held. Not `Send`: a pthread
/// mutex must be unlocked by the thread that locked it.
pub struct PGuard<'a, T> {
    mutex: &'a PMutex<T>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl<T> Deref for PGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held for the guard's lifetime.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for PGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above; the guard is unique.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for PGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the lock.
        unsafe { libc::pthread_mutex_unlock(self.mutex.lock.get()) };
    }
}

/// A value made once, at first use, by whichever thread asks first, for
/// state made lazily and then shared (a profile's deferred OpenSSL
/// context). Guarded by a [`PMutex`] rather than std's futex-based
/// `OnceLock`, so that valgrind's race detectors see the hand-over from
/// the thread that made it to the others. Every call takes the lock.
pub struct PLazy<T> {
    cell: PMutex<Option<T>>,
}

impl<T> PLazy<T> {
    /// An empty cell.
    pub fn new() -> PLazy<T> {
        PLazy {
            cell: PMutex::new(None),
        }
    }

    /// The value, made now by `make` if no thread has made it yet (`make`
    /// runs with the lock held: it must not use this cell).
    pub fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        let mut guard = self.cell.lock();
        let value: *const T = guard.get_or_insert_with(make);
        drop(guard);
        // The value was written under the lock this thread has since taken.
        // SAFETY: once set, it is never replaced, moved or dropped before
        // `self` is, so a reference for the lifetime of `&self` stays valid.
        unsafe { &*value }
    }
}

impl<T> Default for PLazy<T> {
    fn default() -> Self {
        PLazy::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// `IS_SEND` is true only for `Send` types (the inherent constant
    /// wins over the trait's when its bound holds).
    struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
    trait NotSend {
        const IS_SEND: bool = false;
    }
    impl<T: ?Sized> NotSend for Probe<T> {}
    impl<T: ?Sized + Send> Probe<T> {
        const IS_SEND: bool = true;
    }

    // Checked when the tests compile: a guard stays on its thread.
    const _: () = {
        assert!(Probe::<u32>::IS_SEND, "the probe itself works");
        assert!(Probe::<PMutex<u32>>::IS_SEND);
        assert!(!Probe::<PGuard<'static, u32>>::IS_SEND);
    };

    #[test]
    fn counts_under_contention() {
        let m = Arc::new(PMutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 40_000);
    }

    /// Threads asking at once get one value, made once.
    #[test]
    fn plazy_makes_its_value_once() {
        let cell = Arc::new(PLazy::new());
        let made = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cell, made) = (cell.clone(), made.clone());
                std::thread::spawn(move || {
                    let v: &u64 = cell.get_or_init(|| {
                        made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        42
                    });
                    *v
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 42);
        }
        assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
