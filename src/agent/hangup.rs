//! SIGHUP for the reload task ([`super::reload`]), taken with one thread wake-up.
//!
//! The agent blocks SIGHUP in its main thread before it starts any other
//! ([`block_in_this_thread`]); every thread it starts inherits the mask, so the kernel
//! queues the signal for the process and wakes the runtime's poller straight from the
//! sender's `kill`, through a signalfd. A handler runs in whichever thread the signal is
//! delivered to, and that thread must then wake the runtime: two wake-ups where one
//! does, and the first often lands on an idle CPU (tens of microseconds on a VM).
//!
//! A thread that does not block SIGHUP (the agent starts none; tests do) still has
//! signal-hook's handler, which writes to a socket pair watched the same way: a SIGHUP
//! is never lost and never ends the process. Child processes do not inherit the block
//! (the standard library clears the signal mask before it executes a program).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The SIGHUPs since the last look, from the signalfd or the handler.
pub struct Hangups {
    /// SIGHUP queued for the process (or for the thread that reads it).
    queued: AsyncFd<File>,
    /// Written by the handler when a thread that does not block SIGHUP took it.
    handled: tokio::net::UnixStream,
}

/// `{SIGHUP}`.
fn hangup_set() -> libc::sigset_t {
    // SAFETY: `sigemptyset` initialises the set before `sigaddset` reads it; both only
    // write the set they are given.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks (`block`) or unblocks SIGHUP in the calling thread; threads it starts
/// afterwards inherit the mask.
fn mask_in_this_thread(block: bool) -> io::Result<()> {
    let how = if block {
        libc::SIG_BLOCK
    } else {
        libc::SIG_UNBLOCK
    };
    let set = hangup_set();
    // SAFETY: a valid, initialised set; the old mask is not asked for (null).
    let rc = unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Blocks SIGHUP in the calling thread; call it before the runtime starts its threads.
pub fn block_in_this_thread() -> io::Result<()> {
    mask_in_this_thread(true)
}

impl Hangups {
    /// Opens the signalfd and installs the fallback handler (from here on SIGHUP no
    /// longer ends the process). Must run inside the runtime that will wait on it.
    pub fn register() -> io::Result<Hangups> {
        let (read, write) = std::os::unix::net::UnixStream::pair()?;
        read.set_nonblocking(true)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGHUP, write)?;
        let handled = tokio::net::UnixStream::from_std(read)?;
        let set = hangup_set();
        // SAFETY: a valid set; -1 asks for a new descriptor, owned right below.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // SAFETY: the File owns the descriptor and is only read through a shared
        // reference (`get_ref`), never closed or replaced while the AsyncFd holds it.
        let queued = unsafe { AsyncFd::register_with_interest(file, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Hangups { queued, handled })
    }

    /// Waits for the next SIGHUP; those that came since the last call count as one.
    /// `None` once the handler's end is closed or the signalfd fails.
    pub async fn recv(&mut self) -> Option<()> {
        loop {
            // Both are read each time: a signal taken either way counts once.
            let queued = take_queued(self.queued.get_ref())?;
            let handled = take_handled(&self.handled)?;
            if queued || handled {
                return Some(());
            }
            tokio::select! {
                r = self.queued.readable() => {
                    // Cleared before the read above runs again: a signal queued after
                    // the read raises readiness anew, none is missed.
                    r.ok()?.clear_ready();
                }
                r = self.handled.readable() => r.ok()?,
            }
        }
    }
}

/// Reads every queued SIGHUP without waiting: whether there was one; `None` on an error.
fn take_queued(mut fd: &File) -> Option<bool> {
    drain(|buf| fd.read(buf))
}

/// Reads what the handler wrote without waiting: whether it wrote; `None` once closed.
fn take_handled(s: &tokio::net::UnixStream) -> Option<bool> {
    drain(|buf| s.try_read(buf))
}

/// Reads with `read` until it would block: whether anything came; `None` at the end of
/// the stream or on an error.
fn drain(mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) -> Option<bool> {
    // Room for several `signalfd_siginfo` records (128 bytes each).
    let mut buf = [0u8; 1024];
    let mut got = false;
    loop {
        match read(&mut buf) {
            Ok(0) => return None,
            Ok(_) => got = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(got),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn quiet(hup: &mut Hangups) -> bool {
        let wait = tokio::time::timeout(Duration::from_millis(200), hup.recv());
        wait.await.is_err()
    }

    fn raise() {
        // Directed at this thread (the test's runtime runs on it).
        signal_hook::low_level::raise(signal_hook::consts::SIGHUP).expect("raise");
    }

    /// Raises `signals` SIGHUPs while `recv` waits: whether it wakes.
    async fn woken_by(hup: &mut Hangups, signals: usize) -> bool {
        let wait = tokio::time::timeout(Duration::from_secs(10), hup.recv());
        let later = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            (0..signals).for_each(|_| raise());
        };
        let (got, ()) = tokio::join!(wait, later);
        got == Ok(Some(()))
    }

    /// One signal, then two, each sent while `recv` waits: one wake-up each time.
    async fn one_wake_per_look(hup: &mut Hangups, how: &str) {
        assert!(quiet(hup).await, "{how}: nothing before a signal");
        assert!(woken_by(hup, 1).await, "{how}: a signal wakes it");
        assert!(quiet(hup).await, "{how}: one signal, one wake-up");
        assert!(woken_by(hup, 2).await, "{how}: two signals wake it");
        assert!(
            quiet(hup).await,
            "{how}: two signals before a look count as one"
        );
    }

    // Both cases in one test: the handler is process-wide and the mask per thread, so
    // the order is fixed here (the current-thread runtime runs on the test's thread).
    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_sighup_comes_through_the_signalfd_and_an_unblocked_one_through_the_handler()
    {
        let mut hup = Hangups::register().expect("SIGHUP handler and signalfd");
        // As in the agent: blocked, so queued for the signalfd (the handler never runs).
        block_in_this_thread().expect("block SIGHUP");
        raise();
        assert_eq!(
            take_handled(&hup.handled),
            Some(false),
            "the handler did not run"
        );
        assert_eq!(take_queued(hup.queued.get_ref()), Some(true), "queued");
        one_wake_per_look(&mut hup, "blocked").await;
        mask_in_this_thread(false).expect("unblock SIGHUP");
        // A thread that does not block it: the handler writes to the socket pair.
        one_wake_per_look(&mut hup, "unblocked").await;
    }
}
