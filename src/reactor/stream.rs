//! Byte streams whose calls suspend the task: one type for TCP and Unix-domain sockets,
//! and its read and write halves. Introduced by lesson 06.
//!
//! [`TcpStream`](crate::TcpStream) and [`UnixStream`](crate::UnixStream) are
//! the same [`Stream`], over a different kind of socket: reading, writing and
//! splitting are written once, here, and only connecting and addresses differ
//! (in [`crate::reactor::tcp`] and [`crate::reactor::unix`]). Each call is
//! the talk's `loop.sock_recv` / `loop.sock_sendall` with the loop hidden:
//! `stream.read(&mut buf)` looks like `std::net`'s blocking call and
//! suspends only the calling task.
//!
//! Two caveats worth knowing for any event loop:
//!
//! * **Readiness is a hint.** A wake-up can be spurious, so after waking a
//!   call *retries*, and may wait again.
//! * **Writes can be partial.** `write` may take only part of the buffer when
//!   the kernel's send buffer is nearly full; `write_all` loops until every
//!   byte is taken, waiting for writability in between. A peer that never
//!   reads therefore suspends only its own task: the server does not buffer
//!   for it without bound, and everyone else is served.
//!
//! ## Full duplex: split
//!
//! A chat relay or a proxy reads a socket in one task while another task
//! writes to it. Each stream keeps one waiter per direction (see
//! [`crate::reactor::io_source`]), so that works; [`Stream::split`] (borrowed
//! halves) and [`Stream::into_split`] (owned halves, to move into two tasks)
//! make the intent plain and the types say which task does what:
//!
//! ```no_run
//! use yieldloop::{spawn, TcpStream};
//!
//! fn relay(stream: TcpStream) -> std::io::Result<()> {
//!     let (reader, writer) = stream.into_split();
//!     let printer = spawn("printer", move || {
//!         let mut buf = [0; 4096];
//!         while let Ok(n @ 1..) = reader.read(&mut buf) {
//!             println!("{}", String::from_utf8_lossy(&buf[..n]));
//!         }
//!     });
//!     writer.write_all(b"hello\n")?; // meanwhile, from this task
//!     drop(writer); // shuts down our writing side: the peer sees end of file
//!     let _ = printer.join();
//!     Ok(())
//! }
//! ```
//!
//! Two tasks waiting in the *same* direction are still refused with an
//! error: only one of them could be woken for the same bytes.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{self, Shutdown};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net as unix;
use std::rc::Rc;

use socket2::{SockAddr, Socket};

use crate::reactor::io_source::{Direction, Source};

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::TcpStream {}
    impl Sealed for std::os::unix::net::UnixStream {}
}

/// The kinds of socket a [`Stream`] can be: `std::net::TcpStream` and
/// `std::os::unix::net::UnixStream` (sealed: no others).
pub trait StreamSocket: AsFd + fmt::Debug + From<Socket> + sealed::Sealed {
    /// What errors call a read on this kind of stream: `"TcpStream::read"`.
    const READ: &'static str;
    /// What errors call a write on it: `"TcpStream::write"`.
    const WRITE: &'static str;
    /// `read(2)` on the non-blocking socket: may say `WouldBlock`.
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// `write(2)` on the non-blocking socket: may say `WouldBlock`.
    fn write_now(&self, buf: &[u8]) -> io::Result<usize>;
    /// `shutdown(2)`.
    fn shutdown_now(&self, how: Shutdown) -> io::Result<()>;
    /// `O_NONBLOCK` on or off.
    fn set_nonblocking_now(&self, nonblocking: bool) -> io::Result<()>;
}

/// Both kinds of socket have the same methods under the same names; one
/// macro says so for each.
macro_rules! stream_socket {
    ($socket:ty, $name:literal) => {
        impl StreamSocket for $socket {
            const READ: &'static str = concat!($name, "::read");
            const WRITE: &'static str = concat!($name, "::write");
            fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
                (&*self).read(buf)
            }
            fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
                (&*self).write(buf)
            }
            fn shutdown_now(&self, how: Shutdown) -> io::Result<()> {
                self.shutdown(how)
            }
            fn set_nonblocking_now(&self, nonblocking: bool) -> io::Result<()> {
                self.set_nonblocking(nonblocking)
            }
        }
    };
}
stream_socket!(net::TcpStream, "TcpStream");
stream_socket!(unix::UnixStream, "UnixStream");

/// A connected byte stream whose reads and writes suspend the task
/// (asyncio: `loop.sock_recv` / `loop.sock_sendall`). Use it as
/// [`TcpStream`](crate::TcpStream) or [`UnixStream`](crate::UnixStream).
pub struct Stream<S: StreamSocket> {
    pub(crate) source: Source<S>,
}

impl<S: StreamSocket> Stream<S> {
    /// Wraps a socket that is already non-blocking.
    pub(crate) fn from_nonblocking(socket: S) -> Self {
        Stream {
            source: Source::new(socket),
        }
    }

    /// Wraps a connected socket; it is made non-blocking.
    pub fn from_std(socket: S) -> io::Result<Self> {
        socket.set_nonblocking_now(true)?;
        Ok(Stream::from_nonblocking(socket))
    }

    // ANCHOR: connect
    /// Connects `socket` (non-blocking) to `addr`, suspending the task until
    /// the connection is made or refused: a non-blocking `connect` says "in
    /// progress", the socket turns writable when it is done, and `SO_ERROR`
    /// says how it went.
    pub(crate) fn connect_socket(
        socket: Socket,
        addr: &SockAddr,
        what: &'static str,
    ) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let in_progress = match socket.connect(addr) {
            Ok(()) => false,
            Err(error) if error.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {
                true
            }
            Err(error) => return Err(error),
        };
        let stream = Stream::from_nonblocking(S::from(socket));
        if in_progress {
            stream.source.wait(Direction::Write, what)?;
            if let Some(error) = socket2::SockRef::from(&stream.source.io).take_error()? {
                return Err(error);
            }
        }
        Ok(stream)
    }
    // ANCHOR_END: connect

    // ANCHOR: read
    /// Reads what has arrived into `buf`, waiting if nothing has. `Ok(0)`
    /// means the peer closed its side (end of file).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let asked = buf.len();
        self.source.read_retry(S::READ, asked, |s| s.read_now(buf))
    }
    // ANCHOR_END: read

    /// Writes some of `buf`, waiting until the kernel takes at least a byte.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.source
            .retry(Direction::Write, S::WRITE, |s| s.write_now(buf))
    }

    /// Writes all of `buf`, however many partial writes and waits it takes.
    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        write_all(buf, |rest| self.write(rest))
    }

    /// Closes the reading, writing, or both halves (`shutdown(2)`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.io.shutdown_now(how)
    }

    // ANCHOR: split
    /// Borrowed halves: one task may read through the first while another
    /// writes through the second (both tasks must end before the stream is
    /// dropped, which the borrow makes sure of when they are scoped; to move
    /// the halves into spawned tasks, use [`into_split`](Stream::into_split)).
    pub fn split(&self) -> (ReadHalf<'_, S>, WriteHalf<'_, S>) {
        (ReadHalf { stream: self }, WriteHalf { stream: self })
    }

    /// Owned halves, to move into two tasks. The socket closes when both are
    /// dropped; dropping the write half first shuts down the writing side, so
    /// the peer reads end of file while we can still read its answer.
    pub fn into_split(self) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
        let stream = Rc::new(self);
        (
            OwnedReadHalf {
                stream: stream.clone(),
            },
            OwnedWriteHalf { stream },
        )
    }
    // ANCHOR_END: split

    /// The socket itself, for options this type does not wrap.
    pub fn get_ref(&self) -> &S {
        &self.source.io
    }
}

// ANCHOR: write_all
/// Writes all of `buf` through `write` (which may take only part of it),
/// however many partial writes and waits it takes.
pub(crate) fn write_all(
    mut buf: &[u8],
    mut write: impl FnMut(&[u8]) -> io::Result<usize>,
) -> io::Result<()> {
    while !buf.is_empty() {
        match write(buf)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}
// ANCHOR_END: write_all

/// The reading half of a [`Stream::split`].
pub struct ReadHalf<'a, S: StreamSocket> {
    stream: &'a Stream<S>,
}

/// The writing half of a [`Stream::split`].
pub struct WriteHalf<'a, S: StreamSocket> {
    stream: &'a Stream<S>,
}

/// The reading half of a [`Stream::into_split`].
pub struct OwnedReadHalf<S: StreamSocket> {
    stream: Rc<Stream<S>>,
}

/// The writing half of a [`Stream::into_split`]. Dropping it shuts down the
/// stream's writing side (the peer reads end of file).
pub struct OwnedWriteHalf<S: StreamSocket> {
    stream: Rc<Stream<S>>,
}

/// The read methods of a half: `read`, and `std::io::Read`.
macro_rules! read_half {
    ($half:ty) => {
        impl<S: StreamSocket> $half {
            /// See [`Stream::read`].
            pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.stream.read(buf)
            }
        }
        impl<S: StreamSocket> Read for $half {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.stream.read(buf)
            }
        }
    };
}

/// The write methods of a half: `write`, `write_all`, `shutdown`, and
/// `std::io::Write`.
macro_rules! write_half {
    ($half:ty) => {
        impl<S: StreamSocket> $half {
            /// See [`Stream::write`].
            pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
                self.stream.write(buf)
            }
            /// See [`Stream::write_all`].
            pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
                self.stream.write_all(buf)
            }
            /// Shuts down the writing side: the peer reads end of file.
            pub fn shutdown(&self) -> io::Result<()> {
                self.stream.shutdown(Shutdown::Write)
            }
        }
        impl<S: StreamSocket> Write for $half {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.stream.write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
    };
}

read_half!(ReadHalf<'_, S>);
read_half!(OwnedReadHalf<S>);
write_half!(WriteHalf<'_, S>);
write_half!(OwnedWriteHalf<S>);

impl<S: StreamSocket> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        // Already closed by the peer, or shut down by hand: nothing to do.
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// `std::io::Read` so that `BufReader`, `read_to_end` and friends work in a task.
impl<S: StreamSocket> Read for &Stream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Stream::read(self, buf)
    }
}

impl<S: StreamSocket> Read for Stream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Stream::read(self, buf)
    }
}

/// `std::io::Write`; there is no user-space buffer, so `flush` does nothing.
impl<S: StreamSocket> Write for &Stream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Stream::write(self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: StreamSocket> Write for Stream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Stream::write(self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: StreamSocket> AsFd for Stream<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.fd()
    }
}

impl<S: StreamSocket> AsRawFd for Stream<S> {
    fn as_raw_fd(&self) -> RawFd {
        self.source.fd().as_raw_fd()
    }
}

impl<S: StreamSocket> fmt::Debug for Stream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.source.io.fmt(f)
    }
}

impl<S: StreamSocket> fmt::Debug for ReadHalf<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadHalf").field(self.stream).finish()
    }
}

impl<S: StreamSocket> fmt::Debug for WriteHalf<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteHalf").field(self.stream).finish()
    }
}

impl<S: StreamSocket> fmt::Debug for OwnedReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedReadHalf").field(&self.stream).finish()
    }
}

impl<S: StreamSocket> fmt::Debug for OwnedWriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedWriteHalf").field(&self.stream).finish()
    }
}
