//! Unix-domain sockets whose calls suspend the task. Introduced by lesson 06 (its `unix` part).
//!
//! A Unix-domain socket is a socket on a *path* instead of an IP address and
//! port: both ends on one machine, no network stack in between, and access
//! controlled by file permissions. Docker, PostgreSQL and systemd talk this
//! way. Two kinds, as with IP:
//!
//! * **Stream** ([`UnixListener`], [`UnixStream`]): like TCP. A
//!   `UnixStream` is the reactor's [`Stream`], the very type behind
//!   [`crate::TcpStream`], so reading, writing and `split` are the same code
//!   (in [`crate::reactor::stream`]); only connecting and addresses differ.
//! * **Datagram** ([`UnixDatagram`]): like UDP, each message whole, but
//!   reliable and in order (it is one kernel, nothing is lost on a wire).
//!
//! ## The socket file
//!
//! `bind` creates a file at the path; it stays after the socket closes, and
//! a later `bind` to the same path then fails with "address in use". So the
//! [`UnixListener`] (and a bound [`UnixDatagram`]) removes its file when
//! dropped, if the file is still the one it made. A file left behind by a
//! server that crashed ("stale") gives an error naming the path and the fix,
//! instead of the bare `EADDRINUSE`: we try to connect to it, and if nobody
//! answers, nobody owns it.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{self as unix, SocketAddr};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::reactor::io_source::{descriptor_of_source, Direction, Source};
use crate::reactor::stream::Stream;

/// A Unix-domain stream connection whose reads and writes suspend the task:
/// the same [`Stream`] as [`crate::TcpStream`], on a path.
pub type UnixStream = Stream<unix::UnixStream>;

/// The file `bind` made, removed on drop if it is still that file.
struct SocketFile {
    path: PathBuf,
    /// Device and inode of the file we made: if someone removed it and put
    /// another there, that one is not ours to delete.
    identity: Option<(u64, u64)>,
}

impl SocketFile {
    fn made_at(path: &Path) -> SocketFile {
        let identity = fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        SocketFile {
            path: path.to_path_buf(),
            identity,
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let now = fs::metadata(&self.path).ok().map(|m| (m.dev(), m.ino()));
        if now.is_some() && now == self.identity {
            let _ = fs::remove_file(&self.path);
        }
    }
}

// ANCHOR: bind_error
/// Turns `bind`'s "address in use" into an error that names the path and
/// what to do: a stale socket file (nobody answers on it) can be removed; a
/// live one belongs to another server; anything else is not a socket.
fn explain_bind_error(error: io::Error, path: &Path, what: &str) -> io::Error {
    if error.kind() != io::ErrorKind::AddrInUse {
        return io::Error::new(error.kind(), format!("{what} {}: {error}", path.display()));
    }
    let shown = path.display();
    let is_socket = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    // Knock: a live server accepts (and sees a client come and go at once);
    // a stale file refuses. Stream first, then datagram, for either kind.
    let message = if !is_socket {
        format!(
            "{what} {shown}: the path already exists and is not a socket; \
             choose another path, or remove that file if it is yours"
        )
    } else if unix::UnixStream::connect(path).is_ok()
        || unix::UnixDatagram::unbound()
            .and_then(|probe| probe.connect(path))
            .is_ok()
    {
        format!(
            "{what} {shown}: another server is listening on this socket file; choose another path"
        )
    } else {
        format!(
            "{what} {shown}: a stale socket file is in the way (left by a server that \
             did not remove it, e.g. one that crashed; nobody listens on it). Remove it \
             (`rm {shown}`) and bind again"
        )
    };
    io::Error::new(io::ErrorKind::AddrInUse, message)
}
// ANCHOR_END: bind_error

/// A Unix-domain listening socket whose `accept` suspends the task. Its
/// socket file is removed when it is dropped.
pub struct UnixListener {
    source: Source<unix::UnixListener>,
    _file: SocketFile,
}

impl UnixListener {
    /// Listens on `path`, creating the socket file there. A stale socket
    /// file at the path is an error that says to remove it.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let listener = unix::UnixListener::bind(path)
            .map_err(|e| explain_bind_error(e, path, "UnixListener::bind"))?;
        let file = SocketFile::made_at(path);
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            source: Source::new(listener),
            _file: file,
        })
    }

    /// Waits for a connection and returns it, non-blocking, with the peer's
    /// address (usually unnamed: clients rarely bind).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let what = "UnixListener::accept";
        let (stream, peer) = self.source.retry(Direction::Read, what, |l| l.accept())?;
        Ok((UnixStream::from_std(stream)?, peer))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.io.local_addr()
    }
}

impl Stream<unix::UnixStream> {
    /// Connects to the listener at `path`, suspending the task until it
    /// is done.
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        let addr = SockAddr::unix(path)?;
        Stream::connect_socket(socket, &addr, "UnixStream::connect").map_err(|error| {
            // A Unix listener with a full backlog refuses a non-blocking
            // connect with EAGAIN; no readiness event says when to retry.
            let hint = if error.kind() == io::ErrorKind::WouldBlock {
                " (the listener's backlog is full; try again later)"
            } else {
                ""
            };
            io::Error::new(
                error.kind(),
                format!("UnixStream::connect {}: {error}{hint}", path.display()),
            )
        })
    }

    /// Two connected streams (`socketpair(2)`): no path, no listener.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = unix::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
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

/// A Unix-domain datagram socket whose sends and receives suspend the task.
/// Each message arrives whole; unlike UDP, none is lost or reordered. A
/// bound socket removes its file when dropped.
pub struct UnixDatagram {
    source: Source<unix::UnixDatagram>,
    _file: Option<SocketFile>,
}

impl UnixDatagram {
    /// A socket bound to `path` (creating the socket file there).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let path = path.as_ref();
        let socket = unix::UnixDatagram::bind(path)
            .map_err(|e| explain_bind_error(e, path, "UnixDatagram::bind"))?;
        let file = SocketFile::made_at(path);
        UnixDatagram::wrap(socket, Some(file))
    }

    /// A socket bound to no path: it can send, and receive answers only if
    /// it is connected or its peer answers through `pair`.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::wrap(unix::UnixDatagram::unbound()?, None)
    }

    /// Two connected sockets (`socketpair(2)`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = unix::UnixDatagram::pair()?;
        Ok((UnixDatagram::wrap(a, None)?, UnixDatagram::wrap(b, None)?))
    }

    fn wrap(socket: unix::UnixDatagram, file: Option<SocketFile>) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram {
            source: Source::new(socket),
            _file: file,
        })
    }

    /// Sets the default peer for [`send`](UnixDatagram::send).
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.source.io.connect(path)
    }

    /// Sends `buf` as one message to the socket at `path`, waiting while
    /// the receiver's queue is full.
    pub fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.source
            .retry(Direction::Write, "UnixDatagram::send_to", |s| {
                s.send_to(buf, path)
            })
    }

    /// Waits for one message; a longer one than `buf` is truncated.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source
            .retry(Direction::Read, "UnixDatagram::recv_from", |s| {
                s.recv_from(buf)
            })
    }

    /// Sends one message to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.source
            .retry(Direction::Write, "UnixDatagram::send", |s| s.send(buf))
    }

    /// Waits for one message from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source
            .retry(Direction::Read, "UnixDatagram::recv", |s| s.recv(buf))
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.io.local_addr()
    }
}

descriptor_of_source!(UnixListener, UnixDatagram);
