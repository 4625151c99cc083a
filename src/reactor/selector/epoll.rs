//! The reactor's own epoll selector: edge-triggered, and it asks for `EPOLLRDHUP`.
//! Introduced by lesson 06 (read it after the chapter's selector part).
//!
//! [`super::PollingSelector`] is epoll too, through the `polling` crate,
//! which runs on every system. This one talks to Linux's epoll directly (on
//! `rustix`, a thin safe wrapper over the system calls), for two reasons:
//!
//! * **It reports "the peer closed its side".** We register every descriptor
//!   with `EPOLLRDHUP` beside `EPOLLIN`, so an event says when the peer's FIN
//!   has arrived ([`Event::read_closed`]), and `EPOLLHUP`/`EPOLLERR` count as
//!   closed too. `polling` never asks for it. With that bit, a stream may
//!   skip the read that would only say `WouldBlock` after a short read: see
//!   `IoWaiters` in [`crate::reactor::io_source`] for why that is sound here
//!   and was not on `polling`.
//! * **Nothing between us and the kernel.** Edge-triggered (`EPOLLET`), so a
//!   registration stays armed after it fired and re-arming for the same key
//!   and interest is no system call at all (one-shot mode would cost an
//!   `epoll_ctl` per wait). What the kernel was last told is kept in a
//!   `Vec` indexed by descriptor number, not a hash map. The wake-up from
//!   other threads is an `eventfd` registered edge-triggered: a `wake` is
//!   one `write`, and the `select` that sees it reads nothing back (each
//!   write is a new edge), where `polling` reads its eventfd and re-arms it
//!   after every wait that saw it.
//!
//! **The default on Linux** ([`super::SelectorKind::Epoll`]), because it
//! passes every test the other two pass (the selector and lost-wake-up
//! tests run on all three backends) and is never slower than `polling`:
//! the echo server makes one `recvfrom` per message instead of two and no
//! `epoll_ctl` at all, for 8–17 % less CPU per message in our (rough)
//! measurements (the Performance page). Linux only: `polling` stays the
//! portable backend (kqueue on macOS and the BSDs), and the default there.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags, Timespec};

use super::{Event, Interest, Selector, Wake};

/// How many readiness reports one `select` call can return. More ready
/// descriptors are not lost: the next call reports them.
const EVENTS_PER_CALL: usize = 1024;

/// The key the eventfd is registered under: no slot of the loop's table is
/// ever this large.
const WAKE_KEY: u64 = u64::MAX;

// ANCHOR: flags
/// The epoll flags for an interest. Reading comes with `EPOLLRDHUP`, so an
/// event tells a FIN that arrived with the last bytes; `EPOLLET` makes the
/// registration edge-triggered (it fires when new readiness *arrives*, and
/// stays armed). `EPOLLERR` and `EPOLLHUP` are always reported, unasked.
fn flags_for(interest: Interest) -> EventFlags {
    let mut flags = EventFlags::ET;
    if interest.readable {
        flags |= EventFlags::IN | EventFlags::RDHUP;
    }
    if interest.writable {
        flags |= EventFlags::OUT;
    }
    flags
}

/// What an epoll event means for the loop. A hang-up or an error counts as
/// readable and writable, so whoever waits tries the call and sees it.
fn to_event(key: usize, flags: EventFlags) -> Event {
    let failed = flags.intersects(EventFlags::ERR | EventFlags::HUP);
    Event {
        key,
        readable: failed || flags.intersects(EventFlags::IN | EventFlags::RDHUP),
        writable: failed || flags.contains(EventFlags::OUT),
        read_closed: failed || flags.contains(EventFlags::RDHUP),
    }
}
// ANCHOR_END: flags

/// A [`Selector`] on Linux's epoll, with `EPOLLRDHUP`.
pub struct EpollSelector {
    /// The epoll instance.
    epoll: OwnedFd,
    /// The kernel's reports, reused on every call.
    reports: Vec<epoll::Event>,
    /// What the kernel was last told for each descriptor, indexed by its
    /// number (descriptor numbers are small and dense): `(key, flags)`.
    armed: Vec<Option<(usize, EventFlags)>>,
    /// The eventfd other threads write to; made by the first `waker` call.
    wake_fd: Option<Arc<EventfdWaker>>,
}

impl EpollSelector {
    /// Opens an epoll instance.
    pub fn new() -> io::Result<Self> {
        Ok(EpollSelector {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            reports: Vec::with_capacity(EVENTS_PER_CALL),
            armed: Vec::new(),
            wake_fd: None,
        })
    }

    /// The record slot for descriptor `fd`, grown as needed.
    fn slot(&mut self, fd: BorrowedFd<'_>) -> &mut Option<(usize, EventFlags)> {
        // A borrowed descriptor is open, so never negative.
        let index = usize::try_from(fd.as_raw_fd()).unwrap_or(0);
        if index >= self.armed.len() {
            self.armed.resize(index + 1, None);
        }
        &mut self.armed[index]
    }
}

impl Selector for EpollSelector {
    unsafe fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let flags = flags_for(interest);
        epoll::add(&self.epoll, fd, EventData::new_u64(key as u64), flags)?;
        *self.slot(fd) = Some((key, flags));
        Ok(())
    }

    fn modify(&mut self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
        let flags = flags_for(interest);
        if *self.slot(fd) == Some((key, flags)) {
            // Edge-triggered: still armed, nothing to tell the kernel. (The
            // flags never left this mask since the last `epoll_ctl`, so every
            // edge since then was queued: none is missed.)
            return Ok(());
        }
        self.rearm(fd, key, interest)
    }

    fn rearm(&mut self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
        // `EPOLL_CTL_MOD` makes the kernel poll the descriptor again with the
        // new mask and queue an event for readiness that is already there.
        let flags = flags_for(interest);
        epoll::modify(&self.epoll, fd, EventData::new_u64(key as u64), flags)?;
        *self.slot(fd) = Some((key, flags));
        Ok(())
    }

    fn unregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        *self.slot(fd) = None;
        Ok(epoll::delete(&self.epoll, fd)?)
    }

    fn select(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()> {
        events.clear();
        self.reports.clear();
        // A timeout too long for a `Timespec` (centuries) is no timeout.
        let timeout = timeout.and_then(|t| Timespec::try_from(t).ok());
        let buffer = rustix::buffer::spare_capacity(&mut self.reports);
        match epoll::wait(&self.epoll, buffer, timeout.as_ref()) {
            Ok(_) => {}
            // A signal (Ctrl-C) cut the wait short: report nothing.
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        events.extend(
            self.reports
                .iter()
                .filter(|report| report.data.u64() != WAKE_KEY)
                .map(|report| to_event(report.data.u64() as usize, report.flags)),
        );
        Ok(())
    }

    fn name(&self) -> &'static str {
        "epoll (own, with EPOLLRDHUP)"
    }

    fn reports_read_closed(&self) -> bool {
        true
    }

    fn waker(&mut self) -> io::Result<Arc<dyn Wake>> {
        if let Some(waker) = &self.wake_fd {
            return Ok(waker.clone());
        }
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        // Edge-triggered: every `write` is a new edge, reported once, so the
        // counter need never be read back (it would take 2^64 wake-ups to fill).
        let flags = EventFlags::IN | EventFlags::ET;
        epoll::add(&self.epoll, &fd, EventData::new_u64(WAKE_KEY), flags)?;
        let waker = Arc::new(EventfdWaker(fd));
        self.wake_fd = Some(waker.clone());
        Ok(waker)
    }
}

/// Wakes an [`EpollSelector`]: adds one to its eventfd, which the epoll
/// instance watches. A write while nobody selects is an edge still queued
/// for the next `select`, so no wake-up is lost.
struct EventfdWaker(OwnedFd);

impl Wake for EventfdWaker {
    fn wake(&self) -> io::Result<()> {
        match rustix::io::write(self.0.as_fd(), &1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            // The counter is full: the selector has a wake-up pending anyway.
            Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}
