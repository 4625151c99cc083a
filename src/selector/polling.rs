//! The default selector: epoll (Linux) or kqueue (macOS, BSD) through the `polling` crate.
//! Introduced by lesson 06.
//!
//! Unlike select(2), the kernel keeps the list of watched descriptors between
//! calls, so a call costs what is *ready*, not what is *watched*: ten thousand
//! idle connections cost nothing per wake-up. `polling` registers in one-shot
//! mode by default, which is exactly the [`Selector`] contract.

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use polling::{Events, Poller};

use super::{Event, Interest, Selector};

/// How many readiness reports one `select` call can return. More ready
/// descriptors are not lost: they are reported by the next call.
const EVENTS_PER_CALL: usize = 1024;

/// A [`Selector`] on `polling::Poller`.
pub struct PollingSelector {
    poller: Poller,
    /// `polling`'s own event buffer, reused on every call.
    events: Events,
}

impl PollingSelector {
    /// Opens an epoll/kqueue instance.
    pub fn new() -> io::Result<Self> {
        let capacity = NonZeroUsize::new(EVENTS_PER_CALL).unwrap_or(NonZeroUsize::MIN);
        Ok(PollingSelector {
            poller: Poller::new()?,
            events: Events::with_capacity(capacity),
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
        // SAFETY: our caller promises (this method's contract) to unregister
        // `fd` before closing it, which is what `Poller::add` requires.
        unsafe { self.poller.add(fd.as_raw_fd(), to_polling(key, interest)) }
    }

    fn modify(&mut self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
        self.poller.modify(fd, to_polling(key, interest))
    }

    fn unregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
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
        }));
        Ok(())
    }

    fn name(&self) -> &'static str {
        "epoll/kqueue (polling)"
    }
}
