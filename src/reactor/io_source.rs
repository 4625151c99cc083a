//! One descriptor that tasks wait on: how a readiness event finds its tasks. Introduced by lesson 06.
//!
//! Every kind of I/O object the reactor offers (TCP and Unix-domain streams
//! and listeners, UDP and Unix datagram sockets, pipe ends) is a `Source`:
//! a non-blocking descriptor plus its registration with a loop's selector.
//! Every call on it follows one pattern, `Source::retry`:
//!
//! ```text
//!   loop {
//!       try the system call on the non-blocking descriptor
//!       ├─ done (data, a connection, bytes written)  → return it
//!       ├─ WouldBlock → wait for readiness (suspend the task); then retry
//!       └─ another error                             → return it
//!   }
//! ```
//!
//! ## One record per descriptor, one waiter per direction
//!
//! A descriptor is registered with the selector once, under a key of its
//! own: a slot in the loop's table of sources. That slot holds this
//! source's `IoWaiters`: the task waiting to *read* and the task waiting to
//! *write* (tokio calls this record `ScheduledIo`). An event then finds its
//! tasks by direction:
//!
//! ```text
//!   selector event { key: 5, readable, writable }
//!        │
//!        ▼  loop's sources[5] = IoWaiters { reader: task 3, writer: task 8 }
//!        ├─ readable → wake task 3 (if it still waits on I/O)
//!        └─ writable → wake task 8 (if it still waits on I/O)
//! ```
//!
//! So one task can read a socket while another writes it (a chat relay, a
//! proxy: see [`crate::reactor::stream`]'s `split`), yet two tasks waiting
//! in the *same* direction are refused with a clear error, since only one
//! of them could be woken for the same bytes.
//!
//! The descriptor is armed for the directions that have a waiter right now,
//! nothing more: the select(2) backend is level-triggered, and a direction
//! nobody waits for (a socket is nearly always writable) would make every
//! `select` return at once.
//!
//! ## Why lost and stale wake-ups cannot happen
//!
//! * The waiter is recorded *before* the descriptor is armed, and the task
//!   always tried the call until `WouldBlock` first, so readiness that
//!   arrives after the try is reported and finds the waiter.
//! * The waiter is cleared when the wait ends, however it ends (`EndOfWait`,
//!   even if the task is unwound), so an event can only name a task that is
//!   suspended in *this* wait. The loop's `wake` checks the task's state on
//!   top (`TaskState::WaitingIo`), so a report for a task already woken is
//!   ignored.
//! * The registration is removed before the descriptor closes (`Drop`), the
//!   contract of [`crate::reactor::selector::Selector::register`].

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::ptr;
use std::rc::{Rc, Weak};

use crate::reactor::event_loop::Core;
use crate::reactor::instrument::WaitOn;
use crate::reactor::selector::{Event, Interest};
use crate::reactor::task::current;

/// Which way a task waits on a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Until reading (or accepting) would not block.
    Read,
    /// Until writing (or a non-blocking `connect`) would not block.
    Write,
}

impl Direction {
    /// For the "another task is already waiting to …" error.
    fn verb(self) -> &'static str {
        match self {
            Direction::Read => "read from",
            Direction::Write => "write to",
        }
    }
}

// ANCHOR: io_waiters
/// The tasks suspended on one descriptor, by direction: what the selector
/// key of a [`Source`] leads to. Shared (`Rc`) between the source and the
/// loop's table of sources; `Cell`s, because the loop reads them while the
/// source is in use by a task.
#[derive(Debug, Default)]
pub(crate) struct IoWaiters {
    /// The task waiting until the descriptor is readable, by slab key.
    pub(crate) reader: Cell<Option<usize>>,
    /// The task waiting until the descriptor is writable, by slab key.
    pub(crate) writer: Cell<Option<usize>>,
    /// A short read emptied the receive buffer, and no readable edge has
    /// come since: the next read waits first instead of asking the kernel
    /// (which would only say `WouldBlock`). Only ever set when
    /// `may_skip_reads`, and never once `read_closed`.
    read_drained: Cell<bool>,
    /// An event said the peer closed its side (`EPOLLRDHUP`), or the
    /// connection hung up or failed. Sticky: no later event is promised.
    read_closed: Cell<bool>,
    /// Registered with a selector that is edge-triggered and reports
    /// `read_closed` ([`Selector::reports_read_closed`](crate::reactor::selector::Selector::reports_read_closed)):
    /// the only case where `read_drained` may be set.
    may_skip_reads: Cell<bool>,
}
// ANCHOR_END: io_waiters

// ANCHOR: skip_soundness
// Why skipping the read after a short one is sound, and only here.
//
// A read that returns fewer bytes than the buffer holds has emptied the
// socket's receive buffer (`recv` copies everything that is there, up to
// the buffer's size; it stops short of that only at TCP urgent data, which
// we never ask for, as tokio relies on too). Reading again would cost a `recvfrom` that says
// `WouldBlock`; tokio skips it, and so do we, by setting `read_drained`.
// That is a bet that *an event will come* for whatever arrives next, and it
// holds when the three things below hold:
//
// 1. Every byte or FIN that arrives after the short read wakes the socket's
//    wait queue, and an edge-triggered epoll registration with `EPOLLIN`
//    turns each such wake-up into a report (it queues the descriptor again
//    even if it was reported before). `dispatch` records every report for
//    the descriptor in `saw`, whether or not a task waits at that moment,
//    and clears `read_drained`. Clearing happens only right after the read
//    system call, in the same step of the task, with no `select` in
//    between, so no report can fall between the read and the clear. (And
//    if the mask lost `EPOLLIN` meanwhile, because the task waited only to
//    write, getting it back is an `epoll_ctl(MOD)`, which makes the kernel
//    look again and report data already there.)
// 2. What arrived *before* the short read woke the queue before it, so its
//    report may already be behind us. Bytes are no problem: the short read
//    took them. The FIN is: it can come in the same segment, or just
//    before, as the last bytes, and that one wake-up is the last that will
//    ever come. If we then waited, we would wait forever. So a selector
//    that reports `EPOLLRDHUP` sets `read_closed` (sticky) from that report,
//    and once it is set we never skip: the next read asks the kernel and
//    gets end of file. If the report with the FIN has not been processed
//    yet when the short read happens, it is still queued, and (1) wakes us.
// 3. The loop runs one task at a time on one thread, so nothing else reads
//    this socket between our read and our wait (a second reader is refused
//    by `wait`).
//
// `polling` does not ask for `EPOLLRDHUP` and select(2) is level-triggered
// and one-shot and cannot tell a FIN from data, so on those backends
// `may_skip_reads` stays false and a stream reads until `WouldBlock`, the
// textbook way.
// ANCHOR_END: skip_soundness

impl IoWaiters {
    fn waiter(&self, direction: Direction) -> &Cell<Option<usize>> {
        match direction {
            Direction::Read => &self.reader,
            Direction::Write => &self.writer,
        }
    }

    /// What to arm the descriptor for: the directions somebody waits in.
    fn interest(&self) -> Interest {
        Interest {
            readable: self.reader.get().is_some(),
            writable: self.writer.get().is_some(),
        }
    }

    /// The loop saw a report for this descriptor: new data may be there.
    pub(crate) fn saw(&self, event: &Event) {
        if event.readable {
            self.read_drained.set(false);
        }
        if event.read_closed {
            self.read_closed.set(true);
        }
    }

    /// (Re)registered, or left the selector: start from "may be readable",
    /// skipping only if the new selector allows it.
    fn reset_read_state(&self, may_skip: bool) {
        self.read_drained.set(false);
        self.may_skip_reads.set(may_skip);
    }

    /// After a read that returned `got` of `asked` bytes: remember that the
    /// buffer is empty, if that is safe to act on (see above).
    fn after_read(&self, got: usize, asked: usize) {
        if got > 0 && got < asked && self.may_skip_reads.get() && !self.read_closed.get() {
            self.read_drained.set(true);
        }
    }
}

/// Where a source is registered: which loop, under which key.
struct Registered {
    /// The loop whose selector knows this descriptor: it must be told to
    /// forget it before the descriptor closes.
    core: Weak<Core>,
    /// The key in that loop's selector and table of sources.
    slot: usize,
}

/// A non-blocking descriptor plus its registration with a loop's selector.
pub(crate) struct Source<S: AsFd> {
    /// The socket, listener or pipe end itself.
    pub(crate) io: S,
    /// Who waits on it, by direction (also held by the loop's table).
    waiters: Rc<IoWaiters>,
    /// Registered on the first wait, in the loop of the waiting task.
    registered: RefCell<Option<Registered>>,
}

/// Clears a direction's waiter when the wait ends, however it ends (even if
/// the task is unwound while suspended, when its loop is dropped).
struct EndOfWait<'a>(&'a Cell<Option<usize>>);

impl Drop for EndOfWait<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

impl<S: AsFd> Source<S> {
    /// Wraps a descriptor that is already non-blocking.
    pub(crate) fn new(io: S) -> Self {
        Source {
            io,
            waiters: Rc::default(),
            registered: RefCell::new(None),
        }
    }

    // ANCHOR: wait_io
    /// Suspends the calling task until the descriptor may be ready in
    /// `direction`; `what` names the caller for errors. The one place where
    /// a task suspends on a descriptor.
    pub(crate) fn wait(&self, direction: Direction, what: &'static str) -> io::Result<()> {
        let task = current(what)?;
        let waiter = self.waiters.waiter(direction);
        if waiter.get().is_some() {
            return Err(io::Error::other(format!(
                "{what}: another task is already waiting to {} this descriptor; one task \
                 at a time may wait in each direction (split a stream to read in one task \
                 and write in another)",
                direction.verb()
            )));
        }
        // Record the waiter before arming, so that an event finds it.
        waiter.set(Some(task.key()));
        let _end = EndOfWait(waiter);
        self.arm(task.core())?;
        let on = WaitOn::Io {
            fd: self.io.as_fd().as_raw_fd(),
            readable: direction == Direction::Read,
        };
        if let Err(cancelled) = task.suspend(on) {
            // Cancelled (lesson 08): stop waiting in this direction only. The
            // descriptor stays armed for a task waiting the other way (a
            // split stream's other half), or leaves the selector when nobody
            // waits, so it cannot wake anyone for a wait nobody does.
            waiter.set(None);
            self.release_or_rearm(task.core());
            return Err(cancelled.into());
        }
        Ok(())
    }
    // ANCHOR_END: wait_io

    /// After a cancelled wait: arm the descriptor for the directions that
    /// still have a waiter, or take it out of the selector if none has.
    fn release_or_rearm(&self, core: &Core) {
        let fd = self.io.as_fd();
        let interest = self.waiters.interest();
        let mut registered = self.registered.borrow_mut();
        if interest.is_armed() {
            if let Some(here) = registered.as_ref() {
                // Failing here only means the kernel forgot it already.
                let _ = core.modify(fd, here.slot, interest);
            }
        } else if let Some(here) = registered.take() {
            self.waiters.reset_read_state(false);
            if let Some(owner) = here.core.upgrade() {
                owner.forget(fd, here.slot);
            }
        }
    }

    /// Arms the descriptor in `core`'s selector for the directions that have
    /// a waiter: registering it there first if this is its first wait in
    /// that loop (and forgetting it in another loop it was used in before).
    fn arm(&self, core: &Core) -> io::Result<()> {
        let fd = self.io.as_fd();
        let interest = self.waiters.interest();
        let mut registered = self.registered.borrow_mut();
        if let Some(here) = registered.as_ref() {
            if ptr::eq(here.core.as_ptr(), core) {
                return core.modify(fd, here.slot, interest);
            }
        }
        if let Some(elsewhere) = registered.take() {
            if let Some(other_loop) = elsewhere.core.upgrade() {
                other_loop.forget(fd, elsewhere.slot);
            }
        }
        // SAFETY: `Drop for Source` calls `forget` (which unregisters the
        // descriptor) before `io`, which owns the descriptor, closes it.
        let slot = unsafe { core.register_waiters(fd, self.waiters.clone(), interest)? };
        self.waiters.reset_read_state(core.reports_read_closed);
        *registered = Some(Registered {
            core: core.weak(),
            slot,
        });
        Ok(())
    }

    // ANCHOR: retry
    /// Runs `op` until it does not say `WouldBlock`, waiting in `direction`
    /// in between: the pattern in the module comment.
    pub(crate) fn retry<T>(
        &self,
        direction: Direction,
        what: &'static str,
        mut op: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        loop {
            match op(&self.io) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(direction, what)?
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }
    // ANCHOR_END: retry

    // ANCHOR: read_retry
    /// [`retry`](Source::retry) for stream reads into a buffer of `asked`
    /// bytes, with the skip after a short read: when the last read emptied
    /// the buffer and the selector can be trusted to say so (see
    /// `skip_soundness` above), wait for the next edge *before* reading
    /// instead of paying a read that says `WouldBlock`.
    pub(crate) fn read_retry(
        &self,
        what: &'static str,
        asked: usize,
        mut op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        loop {
            if self.waiters.read_drained.get() {
                self.wait(Direction::Read, what)?;
                continue; // an event cleared `read_drained`; else wait again
            }
            match op(&self.io) {
                Ok(got) => {
                    self.waiters.after_read(got, asked);
                    return Ok(got);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(Direction::Read, what)?
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
    // ANCHOR_END: read_retry

    /// The descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl<S: AsFd> Drop for Source<S> {
    fn drop(&mut self) {
        if let Some(registered) = self.registered.get_mut().take() {
            if let Some(core) = registered.core.upgrade() {
                core.forget(self.io.as_fd(), registered.slot);
            }
        }
    }
}

/// `AsFd` and `AsRawFd` for a type whose descriptor is its `source`.
macro_rules! descriptor_of_source {
    ($($kind:ty),*) => {$(
        impl std::os::fd::AsFd for $kind {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.source.fd()
            }
        }
        impl std::os::fd::AsRawFd for $kind {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.source.fd())
            }
        }
        impl std::fmt::Debug for $kind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.source.io.fmt(f)
            }
        }
    )*};
}
pub(crate) use descriptor_of_source;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    /// `EINTR` ("a signal arrived first") is retried, not returned. This is a
    /// unit test of `retry` with a made-up operation because no public call
    /// can produce it: our sockets are non-blocking, and the kernel reports a
    /// signal as `EINTR` only from a call that was *sleeping*, which a
    /// non-blocking call never does (it answers `EAGAIN` at once). The retry
    /// is there for systems and descriptor kinds where that is not so.
    #[test]
    fn an_interrupted_call_is_retried() {
        let (ours, _peer) = UnixStream::pair().unwrap();
        let source = Source::new(ours);
        let mut calls = 0;
        let result = source.retry(Direction::Read, "test", |_| {
            calls += 1;
            if calls == 1 {
                Err(io::ErrorKind::Interrupted.into())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(result.unwrap(), 2, "retried once after EINTR");
    }
}
