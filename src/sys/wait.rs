//! Waiting on the caller's socket: deadlines as a total time budget,
//! `poll(2)` for readiness, and switching the descriptor to non-blocking
//! mode for the life of a session (restored afterwards; never closed).

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// How long a call may block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Do not wait: return "want read/write" instead (non-blocking mode).
    NonBlocking,
    /// Wait at most this long in total.
    After(Duration),
}

/// Which readiness a call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The socket must become readable.
    Read,
    /// The socket must become writable.
    Write,
}

/// Outcome of a wait that did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitError {
    /// Non-blocking mode: the caller must poll and call again.
    WouldBlock(Want),
    /// The deadline passed.
    TimedOut,
    /// A signal arrived (EINTR): the caller may check its flags and retry.
    Interrupted,
    /// `poll(2)` failed with this errno.
    Os(i32),
}

/// A point in time by which a call must finish, or non-blocking mode.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// Start the budget of `timeout` now.
    pub fn start(timeout: Timeout) -> Deadline {
        match timeout {
            Timeout::NonBlocking => Deadline(None),
            // A budget past what the clock can represent never ends.
            Timeout::After(d) => Deadline(Some(
                Instant::now().checked_add(d).unwrap_or_else(far_future),
            )),
        }
    }

    /// Wait until `fd` is ready for `want`, within the budget.
    pub fn wait(&self, fd: RawFd, want: Want) -> Result<(), WaitError> {
        let Some(end) = self.0 else {
            return Err(WaitError::WouldBlock(want));
        };
        let events = match want {
            Want::Read => libc::POLLIN,
            Want::Write => libc::POLLOUT,
        };
        loop {
            let now = Instant::now();
            if now >= end {
                return Err(WaitError::TimedOut);
            }
            let left = end - now;
            // Round up so that a sub-millisecond remainder still waits.
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            let mut pfd = libc::pollfd {
                fd,
                events,
                revents: 0,
            };
            // SAFETY: pfd is one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n > 0 {
                return Ok(());
            }
            if n < 0 {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if errno == libc::EINTR {
                    return Err(WaitError::Interrupted);
                }
                return Err(WaitError::Os(errno));
            }
        }
    }
}

/// An instant no deadline will reach (about 30 years from now).
fn far_future() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(1 << 30)).unwrap_or(now)
}

/// The open sockets (by device and inode, so that `dup`ed descriptors
/// count as one) that have a live session: two sessions on one socket
/// would share its file status flags and its bytes. Split by inode into
/// shards, each with its own lock, so that threads making and freeing
/// sessions at once (both ends in one process, or many connections) do
/// not wait for one lock.
static CLAIMED: [Shard; CLAIM_SHARDS] =
    [const { Shard::new(std::collections::BTreeSet::new()) }; CLAIM_SHARDS];

/// One shard of [`CLAIMED`].
type Shard = crate::sys::sync::StaticPMutex<std::collections::BTreeSet<(u64, u64)>>;

/// How many shards [`CLAIMED`] has (sockets' inodes are consecutive
/// numbers, so the low bits spread them).
const CLAIM_SHARDS: usize = 16;

/// The shard of `key`.
fn shard(key: (u64, u64)) -> &'static Shard {
    &CLAIMED[(key.1 ^ key.0) as usize % CLAIM_SHARDS]
}

/// A descriptor's registration as the socket of one live session.
#[derive(Debug)]
pub struct FdClaim(Option<(u64, u64)>, bool);

impl FdClaim {
    /// Register `fd`; `None` when its socket already has a live session.
    pub fn take(fd: RawFd) -> Option<FdClaim> {
        // SAFETY: fstat writes into a zeroed stat buffer we own.
        let stat = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            (libc::fstat(fd, &mut st) == 0).then_some(st)
        };
        let Some(st) = stat else {
            // Not a descriptor fstat can describe: nothing to share.
            return Some(FdClaim(None, false));
        };
        let key = (st.st_dev, st.st_ino);
        let socket = (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK;
        shard(key)
            .with(|claimed| claimed.insert(key))
            // Lazily: a claim made and dropped here would release the key.
            .then(|| FdClaim(Some(key), socket))
    }

    /// The descriptor is a socket (from the same `fstat`: one system call
    /// per session for both questions).
    pub fn is_socket(&self) -> bool {
        self.1
    }
}

impl Drop for FdClaim {
    fn drop(&mut self) {
        if let Some(key) = self.0 {
            shard(key).with(|claimed| claimed.remove(&key));
        }
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The local and remote addresses of socket `fd` (`getsockname`,
/// `getpeername`), each `None` when the call fails or `fd` is not an
/// IP socket. The descriptor stays open.
pub fn socket_addrs(fd: RawFd) -> (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>) {
    use std::os::fd::FromRawFd;
    // SAFETY: the stream only borrows `fd` for the two calls; ManuallyDrop
    // keeps it from closing the caller's descriptor.
    let stream = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    (stream.local_addr().ok(), stream.peer_addr().ok())
}

/// File status flags of `fd`, or the errno.
pub fn get_flags(fd: RawFd) -> Result<libc::c_int, i32> {
    // SAFETY: F_GETFL on any integer is harmless.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EBADF))
    } else {
        Ok(flags)
    }
}

/// Set the file status flags of `fd` (best effort).
pub fn set_flags(fd: RawFd, flags: libc::c_int) {
    // SAFETY: F_SETFL on the caller's descriptor with flags it had or we derived.
    unsafe {
        libc::fcntl(fd, libc::F_SETFL, flags);
    }
}

/// Text of an errno value, as strerror(3) prints it.
pub fn strerror(errno: i32) -> String {
    crate::text::os_error_text(&std::io::Error::from_raw_os_error(errno))
}

/// Set the thread's errno (to clear it before an OpenSSL I/O call).
pub fn set_errno(value: i32) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = value };
}

/// The thread's errno.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Write `bytes` to standard error (fd 2) as one piece where the system
/// allows, ignoring every failure: a log line must never change an
/// outcome. SIGPIPE is blocked in this thread for the write, and one the
/// write itself raised (a pipe with no reader) is consumed before it is
/// unblocked, so the host never receives it.
pub fn write_stderr(bytes: &[u8]) {
    // SAFETY: signal-set calls on sets we own; write(2) on fd 2 with a
    // valid buffer; the old mask is restored before returning.
    unsafe {
        let mut pipe_set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe_set);
        libc::sigaddset(&mut pipe_set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe_set, &mut old);
        libc::sigemptyset(&mut pending);
        libc::sigpending(&mut pending);
        let was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let mut rest = bytes;
        let mut broken_pipe = false;
        // Bounded: a few partial writes at most, or an error.
        for _ in 0..64 {
            if rest.is_empty() {
                break;
            }
            let n = libc::write(2, rest.as_ptr().cast(), rest.len());
            if n > 0 {
                rest = &rest[n as usize..];
                continue;
            }
            let e = errno();
            if n < 0 && e == libc::EINTR {
                continue;
            }
            broken_pipe = n < 0 && e == libc::EPIPE;
            break;
        }
        if broken_pipe && !was_pending {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&pipe_set, std::ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}
