//! The portable selector: epoll (Linux) or kqueue (macOS, BSD) through the `polling` crate.
//! Introduced by lesson 06. The default off Linux; on Linux the default is
//! the own [`super::SelectorKind::Epoll`], which also reports `EPOLLRDHUP`.
//!
//! Unlike select(2), the kernel keeps the list of watched descriptors between
//! calls, so a call costs what is *ready*, not what is *watched*: ten thousand
//! idle connections cost nothing per wake-up.
//!
//! We register **edge-triggered**: the kernel reports a descriptor when new
//! readiness *arrives* (a segment comes in, buffer space frees up), and the
//! registration stays armed afterwards. So re-arming for the same task and
//! interest, which the loop asks for before every wait, costs no system call
//! here; we only tell the kernel when the key or the interest changes. In
//! one-shot mode (`polling`'s default) every wait would cost an `epoll_ctl`,
//! and an echo server used 15–20% more CPU per message in our measurements.
//! Edge-triggering is safe only because tasks always read or write until
//! `WouldBlock` before they wait, and the loop ignores reports for tasks that
//! are not waiting (see [`crate::reactor::io_source`]).
//!
//! One thing `polling` does not ask epoll for: `EPOLLRDHUP` (the peer shut
//! down its writing side). A FIN that arrives together with the last bytes
//! is one edge; a reader that read those bytes must read again (and get 0)
//! rather than wait, or it would wait forever. On this backend our streams
//! always retry the read first, so they do (its events never set
//! [`Event::read_closed`], so the skip in [`crate::reactor::io_source`] stays off).

use std::collections::HashMap;
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use polling::{Events, PollMode, Poller};

use super::{Event, Interest, Selector, Wake};

/// How many readiness reports one `select` call can return. More ready
/// descriptors are not lost: they are reported by the next call.
const EVENTS_PER_CALL: usize = 1024;

/// A [`Selector`] on `polling::Poller`.
pub struct PollingSelector {
    /// Shared with the [`Wake`] handles other threads hold (`Poller` is
    /// `Sync`, and `notify` is made to be called from anywhere).
    poller: Arc<Poller>,
    /// `polling`'s own event buffer, reused on every call.
    events: Events,
    /// What the kernel was last told for each registered descriptor, so
    /// that re-arming with the same key and interest can be skipped.
    armed: HashMap<RawFd, (usize, Interest)>,
    /// Edge-triggered, or one-shot where the system cannot do edges.
    mode: PollMode,
}

impl PollingSelector {
    /// Opens an epoll/kqueue instance.
    pub fn new() -> io::Result<Self> {
        let capacity = NonZeroUsize::new(EVENTS_PER_CALL).unwrap_or(NonZeroUsize::MIN);
        let poller = Poller::new()?;
        let mode = if poller.supports_edge() {
            PollMode::Edge
        } else {
            PollMode::Oneshot
        };
        Ok(PollingSelector {
            poller: Arc::new(poller),
            events: Events::with_capacity(capacity),
            armed: HashMap::new(),
            mode,
        })
    }
}

fn to_polling(key: usize, interest: Interest) -> polling::Event {
    polling::Event::new(key, interest.readable, interest.writable)
}

impl Selector for PollingSelector {
    unsafe fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let event = to_polling(key, interest);
        // SAFETY: our caller promises (this method's contract) to unregister
        // `fd` before closing it, which is what `Poller::add` requires.
        unsafe {
            self.poller
                .add_with_mode(fd.as_raw_fd(), event, self.mode)?
        };
        self.armed.insert(fd.as_raw_fd(), (key, interest));
        Ok(())
    }

    fn modify(&mut self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
        let raw = fd.as_raw_fd();
        if self.mode == PollMode::Edge && self.armed.get(&raw) == Some(&(key, interest)) {
            return Ok(()); // edge-triggered: still armed, nothing to tell the kernel
        }
        self.poller
            .modify_with_mode(fd, to_polling(key, interest), self.mode)?;
        self.armed.insert(raw, (key, interest));
        Ok(())
    }

    fn rearm(&mut self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
        // Always an `epoll_ctl(MOD)`: the kernel then checks the descriptor's
        // readiness again and reports what is already there.
        self.poller
            .modify_with_mode(fd, to_polling(key, interest), self.mode)?;
        self.armed.insert(fd.as_raw_fd(), (key, interest));
        Ok(())
    }

    fn unregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.armed.remove(&fd.as_raw_fd());
        self.poller.delete(fd)
    }

    fn select(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()> {
        events.clear();
        self.events.clear();
        match self.poller.wait(&mut self.events, timeout) {
            Ok(_) => {}
            // A signal (Ctrl-C) cut the wait short: report nothing, the loop
            // comes round again.
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(error) => return Err(error),
        }
        events.extend(self.events.iter().map(|e| Event {
            key: e.key,
            readable: e.readable,
            writable: e.writable,
            read_closed: false,
        }));
        Ok(())
    }

    fn name(&self) -> &'static str {
        "epoll/kqueue (polling)"
    }

    fn waker(&mut self) -> io::Result<Arc<dyn Wake>> {
        Ok(Arc::new(PollerWaker(self.poller.clone())))
    }
}

/// Wakes a [`PollingSelector`] through `Poller::notify`: on Linux an eventfd
/// that `polling` keeps registered in the epoll set, so a notification is a
/// readiness event the next `wait` sees even if it starts later. `wait`
/// consumes it and returns with no events for us.
struct PollerWaker(Arc<Poller>);

impl Wake for PollerWaker {
    fn wake(&self) -> io::Result<()> {
        self.0.notify()
    }
}
