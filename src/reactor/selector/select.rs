//! The select(2) selector: lesson 05's system call behind the [`Selector`] trait.
//! Introduced by lesson 06 (for comparison; the default is epoll, see [`super::SelectorKind`]).
//!
//! select(2) takes three bit sets of descriptor numbers and returns them with
//! only the ready bits left set. Two costs follow, and they are why real loops
//! moved on to epoll and kqueue:
//!
//! * **A fixed ceiling.** An `fd_set` has `FD_SETSIZE` = 1024 bits. Setting bit
//!   1024 or above writes past the end of it: undefined behaviour in C. We
//!   refuse such descriptors in [`register`](Selector::register) with an error
//!   that names the limit.
//! * **Work per call grows with what is watched.** Every call rebuilds the
//!   sets and the kernel scans every descriptor up to the highest one.
//!
//! select(2) is level-triggered: it reports a ready descriptor on every call,
//! which would make the loop spin on a socket whose task is busy elsewhere.
//! So after reporting a direction of a descriptor we disarm that direction
//! ourselves until `modify` re-arms it (one-shot). Only that direction: a
//! task may wait to write while another waits to read, and the writer's
//! interest must survive a report that woke the reader.
//!
//! Other threads wake it (lesson 10) through a **self-pipe**, lesson 05's
//! trick and asyncio's `_ssock`/`_csock`: a connected pair of sockets whose
//! reading end is always in the read set. [`Wake::wake`] writes one byte to
//! the other end; `select` sees its own end readable, returns, and empties
//! it. A byte written while nobody selects stays in the pipe, so the next
//! `select` returns at once: no wake-up is lost. The pair is made on the
//! first [`waker`](Selector::waker) call, so a loop that never needs one
//! pays nothing.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::select::{select, FdSet};

use super::{Event, Interest, Selector, Wake};

/// The highest descriptor number plus one that select(2) can watch.
pub const FD_SETSIZE: RawFd = 1024;

/// A [`Selector`] on select(2).
#[derive(Debug, Default)]
pub struct SelectSelector {
    /// Every registered descriptor, with its key and its armed interest
    /// (a direction is cleared once it has fired). Ordered so that the sets are
    /// built in the same order every time, which keeps runs reproducible.
    watched: BTreeMap<RawFd, (usize, Interest)>,
    /// The self-pipe: our reading end, and the writing end other threads
    /// hold. `None` until the first [`waker`](Selector::waker) call.
    self_pipe: Option<(UnixStream, Arc<SelfPipeWaker>)>,
}

impl SelectSelector {
    /// An empty selector (select(2) needs no kernel object).
    pub fn new() -> Self {
        SelectSelector::default()
    }
}

/// The error for a descriptor select(2) cannot hold.
fn too_large(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "descriptor {fd} is too large for select(2), which can only watch descriptors \
             below FD_SETSIZE = {FD_SETSIZE}; use an epoll selector \
             (SelectorKind::Epoll, the default on Linux, or SelectorKind::Polling), \
             which has no such limit"
        ),
    )
}

impl Selector for SelectSelector {
    unsafe fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let raw = fd.as_raw_fd();
        if raw >= FD_SETSIZE {
            return Err(too_large(raw));
        }
        if self.watched.insert(raw, (key, interest)).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("descriptor {raw} is already registered"),
            ));
        }
        Ok(())
    }

    fn modify(&mut self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
        match self.watched.get_mut(&fd.as_raw_fd()) {
            Some(entry) => {
                *entry = (key, interest);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("descriptor {} is not registered", fd.as_raw_fd()),
            )),
        }
    }

    fn unregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.watched.remove(&fd.as_raw_fd());
        Ok(())
    }

    fn select(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()> {
        events.clear();
        let mut readers = FdSet::new();
        let mut writers = FdSet::new();
        for (&raw, &(_, interest)) in &self.watched {
            // SAFETY: `register`'s contract keeps every watched descriptor open
            // until it is unregistered, and `raw < FD_SETSIZE` was checked there,
            // so `FdSet::insert` stays inside the set.
            let fd = unsafe { BorrowedFd::borrow_raw(raw) };
            if interest.readable {
                readers.insert(fd);
            }
            if interest.writable {
                writers.insert(fd);
            }
        }
        if let Some((reader, _)) = &self.self_pipe {
            readers.insert(reader.as_fd());
        }
        let mut timeval = timeout.map(crate::select::select_loop::timeval);
        match select(None, &mut readers, &mut writers, None, timeval.as_mut()) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(()),
            Err(nix::errno::Errno::EBADF) => return Err(self.closed_while_registered()),
            Err(errno) => return Err(errno.into()),
        }
        if let Some((reader, _)) = &self.self_pipe {
            if readers.contains(reader.as_fd()) {
                drain(reader);
            }
        }
        for (&raw, entry) in self.watched.iter_mut() {
            // SAFETY: as above; the descriptor is still registered, so still open.
            let fd = unsafe { BorrowedFd::borrow_raw(raw) };
            let readable = entry.1.readable && readers.contains(fd);
            let writable = entry.1.writable && writers.contains(fd);
            if readable || writable {
                events.push(Event {
                    key: entry.0,
                    readable,
                    writable,
                    // select(2) cannot say why a descriptor is readable.
                    read_closed: false,
                });
                // One-shot: disarm what fired until `modify` re-arms it.
                entry.1.readable &= !readable;
                entry.1.writable &= !writable;
            }
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "select(2)"
    }

    fn waker(&mut self) -> io::Result<Arc<dyn Wake>> {
        if let Some((_, waker)) = &self.self_pipe {
            return Ok(waker.clone());
        }
        let (reader, writer) = UnixStream::pair()?;
        if reader.as_raw_fd() >= FD_SETSIZE {
            return Err(too_large(reader.as_raw_fd()));
        }
        // Neither end may block the loop: a full pipe already holds a
        // wake-up, so a writer that would block has nothing left to say.
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let waker = Arc::new(SelfPipeWaker(writer));
        self.self_pipe = Some((reader, waker.clone()));
        Ok(waker)
    }
}

/// Reads every wake-up byte, so the pipe is not readable again until the
/// next one.
fn drain(mut reader: &UnixStream) {
    let mut buf = [0u8; 64];
    while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
}

/// The writing end of a [`SelectSelector`]'s self-pipe.
#[derive(Debug)]
struct SelfPipeWaker(UnixStream);

impl Wake for SelfPipeWaker {
    fn wake(&self) -> io::Result<()> {
        match (&self.0).write(&[1]) {
            Ok(_) => Ok(()),
            // Full: the loop has bytes enough to wake it already.
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(error) => Err(error),
        }
    }
}

impl SelectSelector {
    /// select(2) said `EBADF`: a watched descriptor was closed while still
    /// registered, which the reactor's own sources never do (they unregister
    /// first) and `add_reader` prevents (the loop owns what it watches), so
    /// only a raw `close` behind the loop's back gets here. Name the
    /// descriptors, instead of a bare "Bad file descriptor".
    fn closed_while_registered(&self) -> io::Error {
        let closed: Vec<String> = self
            .watched
            .keys()
            .filter(|&&raw| {
                nix::fcntl::fcntl(raw, nix::fcntl::FcntlArg::F_GETFD)
                    == Err(nix::errno::Errno::EBADF)
            })
            .map(|raw| raw.to_string())
            .collect();
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "select(2) failed: descriptor {} was closed while still registered with \
                 the loop; unregister it first (remove_reader / remove_writer)",
                closed.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    use std::os::unix::net::UnixStream;

    #[test]
    fn refuses_a_descriptor_at_fd_setsize_with_a_clear_error() {
        let (a, _b) = UnixStream::pair().unwrap();
        // Duplicate `a` to the lowest free number at or above 1024.
        let raw = nix::fcntl::fcntl(a.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD(FD_SETSIZE))
            .expect("this test needs more than 1024 descriptors allowed");
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let high = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut selector = SelectSelector::new();
        // SAFETY: `high` stays open for the whole test.
        let error = unsafe { selector.register(high.as_fd(), 1, Interest::READABLE) }
            .expect_err("select(2) cannot watch it");
        let message = error.to_string();
        assert!(message.contains("FD_SETSIZE = 1024"), "{message}");
        assert!(message.contains(&raw.to_string()), "{message}");
        // Nothing was registered, so select still works on the others.
        let mut events = Vec::new();
        selector.select(Some(Duration::ZERO), &mut events).unwrap();
        assert!(events.is_empty());
    }
}
