//! TCP sockets whose calls suspend the calling task, not the thread. Introduced by lesson 06.
//!
//! These are the talk's `loop.sock_accept` / `loop.sock_recv`, with the loop
//! hidden: `listener.accept()` and `stream.read(&mut buf)` look exactly like
//! their blocking `std::net` cousins, and a task calling them reads top to
//! bottom. Underneath, every call follows one pattern:
//!
//! ```text
//!   loop {
//!       try the system call on the non-blocking socket
//!       ├─ done (data, a connection, bytes written)  → return it
//!       ├─ WouldBlock → arm the selector for this task, suspend; then retry
//!       └─ another error                             → return it
//!   }
//! ```
//!
//! Two caveats the pattern handles, worth knowing for any event loop:
//!
//! * **Readiness is a hint.** A wake-up can be spurious (the data was taken,
//!   or the event was for another of the task's sockets), so after waking we
//!   *retry*, and may wait again.
//! * **Writes can be partial.** `write` may take only part of the buffer when
//!   the kernel's send buffer is nearly full; `write_all` loops until every
//!   byte is taken, waiting for writability in between. A peer that never
//!   reads therefore suspends only its own task: the server does not buffer
//!   for it without bound, and everyone else is served.
//!
//! A socket registers with the selector the first time it must wait (under
//! the waiting task's key) and unregisters when dropped, before its
//! descriptor closes: the contract of [`crate::reactor::selector::Selector::register`].
//! One task at a time may wait on a socket; a second gets an error instead
//! of silently stealing the first one's wake-ups.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr;
use std::rc::Weak;

use socket2::{Domain, Protocol, Socket, Type};

use crate::reactor::event_loop::Core;
use crate::reactor::selector::Interest;
use crate::reactor::task::{current, TaskState};

/// A non-blocking descriptor plus its registration with a loop's selector.
struct Source<S: AsFd> {
    io: S,
    /// The loop whose selector knows this descriptor, if any: it must be told
    /// to forget it before the descriptor closes.
    registered_in: RefCell<Option<Weak<Core>>>,
    /// The task suspended on this descriptor right now, if any. A descriptor
    /// has one registration, under one task's key, so a second task waiting
    /// at the same time would silently take the first one's wake-ups; we
    /// refuse it instead (asyncio refuses two concurrent `sock_recv`s too).
    waiting: Cell<Option<usize>>,
}

/// Clears [`Source::waiting`] when the wait ends, however it ends (even if
/// the task is unwound while suspended).
struct EndOfWait<'a>(&'a Cell<Option<usize>>);

impl Drop for EndOfWait<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

impl<S: AsFd> Source<S> {
    fn new(io: S) -> Self {
        Source {
            io,
            registered_in: RefCell::new(None),
            waiting: Cell::new(None),
        }
    }

    // ANCHOR: wait_io
    /// Suspends the calling task until the descriptor may be ready for
    /// `interest`; `what` names the caller for the outside-a-task error.
    fn wait(&self, interest: Interest, what: &'static str) -> io::Result<()> {
        let task = current(what)?;
        if self.waiting.get().is_some() {
            return Err(io::Error::other(format!(
                "{what}: another task is already waiting on this socket; \
                 a socket is waited on by one task at a time"
            )));
        }
        let core = task.core();
        let fd = self.io.as_fd();
        let mut registered_in = self.registered_in.borrow_mut();
        let first_time = match registered_in.as_ref() {
            Some(weak) if ptr::eq(weak.as_ptr(), core) => false,
            Some(other_loop) => {
                if let Some(other_loop) = other_loop.upgrade() {
                    other_loop.unregister(fd);
                }
                true
            }
            None => true,
        };
        // SAFETY: `Drop for Source` unregisters the descriptor before `io`,
        // which owns it, is dropped and closes it.
        unsafe { core.arm(fd, task.key(), interest, first_time)? };
        if first_time {
            *registered_in = Some(core.weak());
        }
        drop(registered_in);
        self.waiting.set(Some(task.key()));
        let _end = EndOfWait(&self.waiting);
        task.suspend(TaskState::WaitingIo);
        Ok(())
    }
    // ANCHOR_END: wait_io
}

impl<S: AsFd> Drop for Source<S> {
    fn drop(&mut self) {
        if let Some(core) = self.registered_in.get_mut().take() {
            if let Some(core) = core.upgrade() {
                core.unregister(self.io.as_fd());
            }
        }
    }
}

/// Retries `op` until it does not say `WouldBlock`, waiting for `interest`
/// in between: the pattern in the module comment.
fn retry<S: AsFd, T>(
    source: &Source<S>,
    interest: Interest,
    what: &'static str,
    mut op: impl FnMut(&S) -> io::Result<T>,
) -> io::Result<T> {
    loop {
        match op(&source.io) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                source.wait(interest, what)?
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// A listening socket whose `accept` suspends the task (asyncio:
/// `loop.sock_accept`).
pub struct TcpListener {
    source: Source<net::TcpListener>,
}

impl TcpListener {
    /// Listens on `host:port` (port 0 picks a free one) with a backlog of
    /// 1,024, through [`crate::select::net::listen`].
    pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
        Ok(TcpListener::from_std(crate::select::net::listen(
            host, port,
        )?))
    }

    /// Wraps a listener; it is made non-blocking.
    pub fn from_std(listener: net::TcpListener) -> TcpListener {
        // Cannot fail on a valid listening socket; if it did, `accept`
        // would block the whole loop, so we log it.
        if let Err(error) = listener.set_nonblocking(true) {
            tracing::error!("could not make a listener non-blocking: {error}");
        }
        TcpListener {
            source: Source::new(listener),
        }
    }

    // ANCHOR: accept
    /// Waits for a connection and returns it, non-blocking, with the peer's
    /// address.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let what = "TcpListener::accept";
        let (stream, peer) = retry(&self.source, Interest::READABLE, what, |l| l.accept())?;
        stream.set_nonblocking(true)?;
        Ok((TcpStream::from_nonblocking(stream), peer))
    }
    // ANCHOR_END: accept

    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.io.local_addr()
    }
}

/// A TCP connection whose reads and writes suspend the task (asyncio:
/// `loop.sock_recv` / `loop.sock_sendall`).
pub struct TcpStream {
    source: Source<net::TcpStream>,
}

impl TcpStream {
    fn from_nonblocking(stream: net::TcpStream) -> TcpStream {
        TcpStream {
            source: Source::new(stream),
        }
    }

    /// Wraps a connected stream; it is made non-blocking.
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream::from_nonblocking(stream))
    }

    /// Connects to `addr`, suspending the task until the connection is made
    /// or refused (a non-blocking `connect` says "in progress"; the socket
    /// turns writable when it is done, and `SO_ERROR` says how it went).
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addr = addr.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
        })?;
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        let in_progress = match socket.connect(&addr.into()) {
            Ok(()) => false,
            Err(error) if error.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {
                true
            }
            Err(error) => return Err(error),
        };
        let stream = TcpStream::from_nonblocking(socket.into());
        if in_progress {
            stream
                .source
                .wait(Interest::WRITABLE, "TcpStream::connect")?;
            if let Some(error) = stream.source.io.take_error()? {
                return Err(error);
            }
        }
        Ok(stream)
    }

    // ANCHOR: read
    /// Reads what has arrived into `buf`, waiting if nothing has. `Ok(0)`
    /// means the peer closed its side (end of file).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        retry(
            &self.source,
            Interest::READABLE,
            "TcpStream::read",
            |mut s| s.read(buf),
        )
    }
    // ANCHOR_END: read

    /// Writes some of `buf`, waiting until the kernel takes at least a byte.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        retry(
            &self.source,
            Interest::WRITABLE,
            "TcpStream::write",
            |mut s| s.write(buf),
        )
    }

    // ANCHOR: write_all
    /// Writes all of `buf`, however many partial writes and waits it takes.
    pub fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }
    // ANCHOR_END: write_all

    /// Closes the reading, writing, or both halves (`shutdown(2)`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.io.shutdown(how)
    }

    /// Turns off Nagle's algorithm (send small writes at once).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.source.io.set_nodelay(nodelay)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.io.peer_addr()
    }

    /// Our end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.io.local_addr()
    }
}

/// `std::io::Read` so that `BufReader`, `read_to_end` and friends work in a task.
impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::read(self, buf)
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::read(self, buf)
    }
}

/// `std::io::Write`; there is no user-space buffer, so `flush` does nothing.
impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::write(self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::write(self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.io.as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.source.io.as_raw_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.source.io.as_raw_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.source.io.fmt(f)
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.source.io.fmt(f)
    }
}

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
        let result = retry(&source, Interest::READABLE, "test", |_| {
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
