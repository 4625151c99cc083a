//! TCP sockets whose calls suspend the calling task, not the thread. Introduced by lesson 06.
//!
//! These are the talk's `loop.sock_accept` / `loop.sock_recv`, with the loop
//! hidden: `listener.accept()` and `stream.read(&mut buf)` look exactly like
//! their blocking `std::net` cousins, and a task calling them reads top to
//! bottom. A [`TcpStream`] is the reactor's [`Stream`] over a TCP socket:
//! reading, writing and splitting live in [`crate::reactor::stream`], shared
//! with Unix-domain streams; this file adds what is TCP's own (connecting to
//! an IP address, Nagle, addresses). The try-wait-retry pattern every call
//! follows, and how an event finds the waiting task, are in
//! [`crate::reactor::io_source`].

use std::io;
use std::net::{self, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use crate::reactor::io_source::{descriptor_of_source, Direction, Source};
use crate::reactor::stream::Stream;

/// A TCP connection whose reads and writes suspend the task (asyncio:
/// `loop.sock_recv` / `loop.sock_sendall`). See [`Stream`] for reading,
/// writing and `split`.
pub type TcpStream = Stream<net::TcpStream>;

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
        let (stream, peer) = self.source.retry(Direction::Read, what, |l| l.accept())?;
        Ok((TcpStream::from_std(stream)?, peer))
    }
    // ANCHOR_END: accept

    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.io.local_addr()
    }
}

impl Stream<net::TcpStream> {
    /// Connects to `addr`, suspending the task until the connection is made
    /// or refused (a non-blocking `connect` says "in progress"; the socket
    /// turns writable when it is done, and `SO_ERROR` says how it went).
    ///
    /// The address is numeric. [`TcpStream::connect`] (lesson 10, in
    /// `src/executor/blocking.rs`) also takes host names: it looks them up
    /// on the executor's threads, because `getaddrinfo` blocks, and then
    /// calls this.
    pub fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        Stream::connect_socket(socket, &addr.into(), "TcpStream::connect")
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

descriptor_of_source!(TcpListener);
