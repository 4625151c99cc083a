//! `add_reader` / `add_writer`: asyncio's callback-level API on the loop's selector.
//! Introduced by lesson 06 (its `unix` part; the book's "Beyond TCP" section).
//!
//! Tasks wait on descriptors through [`crate::reactor::io_source`]. Some code
//! has no task and wants a callback instead: "call this each time that
//! descriptor is readable", asyncio's `loop.add_reader(fd, callback)`. This
//! module is the record the loop keeps for such a descriptor; the API is on
//! [`crate::EventLoop`] and [`crate::Handle`].
//!
//! ## Level-triggered, like asyncio
//!
//! asyncio's selectors are level-triggered: while the descriptor stays
//! readable, the callback runs in every iteration of the loop. Our epoll
//! backend is edge-triggered and our select(2) backend one-shot (see
//! [`crate::reactor::selector`]), so after every run of a callback the loop
//! **re-arms** the descriptor ([`crate::reactor::selector::Selector::rearm`]),
//! which makes the kernel look again: still readable, and it is reported
//! again in the next iteration. A callback that does not read what is there
//! therefore runs again and again, exactly as in asyncio; one that reads
//! until `WouldBlock` runs once per arrival.
//!
//! ## The ownership rule: the loop holds the descriptor while it watches it
//!
//! asyncio's rule is "keep the descriptor open until you remove it"; break
//! it and the selector watches a closed number, or a new file that reused
//! it. Here the rule is enforced instead of stated: `add_reader` takes the
//! descriptor's owner *by value* (an `OwnedFd`, a socket, a pipe end, or an
//! `Rc` of one to keep using it elsewhere) and keeps it until
//! `remove_reader`. While it is registered nobody can close it: the loop
//! holds an owner. A borrowed descriptor (`BorrowedFd<'_>`) is refused at
//! compile time (it is not `'static`), and removing drops the loop's owner
//! only *after* the descriptor is unregistered.
//!
//! Only a raw `close(2)` on the number gets past this. Even then nothing is
//! undefined: the select(2) backend fails with an error naming the closed
//! descriptor, and epoll forgets a closed descriptor by itself (the callback
//! just never runs again).

use std::cell::RefCell;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::rc::{Rc, Weak};

use crate::reactor::event_loop::Core;
use crate::reactor::io_source::Direction;
use crate::reactor::selector::{Event, Interest};

/// One callback watching one descriptor in one direction.
pub(crate) struct FdWatch {
    /// An owner of the descriptor: while this exists the descriptor is open,
    /// which is what keeps the selector's registration valid.
    holder: Box<dyn AsFd>,
    /// Runs each time the descriptor is ready. `FnMut` in a `RefCell`
    /// because it runs many times; `Rc` so that a queued run survives a
    /// `remove_reader` made before it runs.
    callback: Rc<RefCell<dyn FnMut()>>,
}

impl FdWatch {
    pub(crate) fn new(holder: Box<dyn AsFd>, callback: impl FnMut() + 'static) -> FdWatch {
        FdWatch {
            holder,
            callback: Rc::new(RefCell::new(callback)),
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.holder.as_fd()
    }

    /// Whether this is the watch whose callback is `callback`.
    pub(crate) fn runs(&self, callback: &Rc<RefCell<dyn FnMut()>>) -> bool {
        Rc::ptr_eq(&self.callback, callback)
    }
}

/// What the loop keeps for a descriptor watched with callbacks: its number,
/// and a reader and a writer callback (either may be absent, not both).
pub(crate) struct Watchers {
    /// The descriptor's number, to find the record by in `remove_reader`.
    pub(crate) fd: RawFd,
    pub(crate) reader: Option<FdWatch>,
    pub(crate) writer: Option<FdWatch>,
}

impl Watchers {
    /// The callback watching in `direction`, if any.
    pub(crate) fn watch_mut(&mut self, direction: Direction) -> &mut Option<FdWatch> {
        match direction {
            Direction::Read => &mut self.reader,
            Direction::Write => &mut self.writer,
        }
    }

    /// The directions somebody watches.
    pub(crate) fn interest(&self) -> Interest {
        Interest {
            readable: self.reader.is_some(),
            writable: self.writer.is_some(),
        }
    }

    /// An owner of the descriptor (there is at least one while the record exists).
    pub(crate) fn any_fd(&self) -> Option<BorrowedFd<'_>> {
        self.reader
            .as_ref()
            .or(self.writer.as_ref())
            .map(FdWatch::fd)
    }

    // ANCHOR: ready
    /// The runs to queue for `event`: each ready direction's callback, then
    /// a re-arm, so that readiness still there is reported again next time
    /// (level-triggered, as in asyncio).
    pub(crate) fn ready(
        &self,
        event: &Event,
        slot: usize,
        core: Weak<Core>,
    ) -> Vec<Box<dyn FnOnce()>> {
        let ready = [
            (event.readable, Direction::Read, &self.reader),
            (event.writable, Direction::Write, &self.writer),
        ];
        let mut runs: Vec<Box<dyn FnOnce()>> = Vec::new();
        for (is_ready, direction, watch) in ready {
            let (true, Some(watch)) = (is_ready, watch) else {
                continue;
            };
            let callback = watch.callback.clone();
            let rearm = Rearm {
                core: core.clone(),
                slot,
                fd: self.fd,
            };
            runs.push(Box::new(move || run_once(rearm, direction, callback)));
        }
        runs
    }
    // ANCHOR_END: ready
}

/// One queued run of a callback, then the re-arm.
fn run_once(rearm: Rearm, direction: Direction, callback: Rc<RefCell<dyn FnMut()>>) {
    // Removed (or replaced) since this run was queued, by a callback that
    // ran before it in this iteration: as in asyncio, it does not run.
    let current = rearm
        .core
        .upgrade()
        .is_some_and(|core| core.watch_is_current(rearm.slot, direction, &callback));
    // Busy only if this callback is already running further up the stack
    // (it ran a nested loop): skip this turn.
    if let (true, Ok(mut callback)) = (current, callback.try_borrow_mut()) {
        callback();
    }
    drop(rearm); // after the callback, even if it panicked (unwinding drops it)
}

/// Re-arms a watched descriptor when dropped: after its callback ran.
struct Rearm {
    core: Weak<Core>,
    slot: usize,
    fd: RawFd,
}

impl Drop for Rearm {
    fn drop(&mut self) {
        if let Some(core) = self.core.upgrade() {
            core.rearm_watch(self.slot, self.fd);
        }
    }
}
