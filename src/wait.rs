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
            Timeout::After(d) => Deadline(Some(Instant::now() + d)),
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
    crate::certs::strip_os_error(&std::io::Error::from_raw_os_error(errno))
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
