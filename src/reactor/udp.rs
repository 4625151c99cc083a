//! UDP sockets whose sends and receives suspend the task. Introduced by lesson 06 (its `udp` part).
//!
//! TCP carries a stream of bytes: a `read` may return part of what was sent,
//! or two writes glued together. UDP carries **datagrams**: each `send_to` is
//! one message, and each `recv_from` returns exactly one message, whole,
//! never split and never glued to the next. What UDP does not promise is
//! delivery or order: a datagram may be lost (on loopback, only when the
//! receiver's buffer is full) or overtaken.
//!
//! **A datagram larger than the buffer is truncated**: the kernel copies
//! what fits and throws the rest away, and the next `recv_from` returns the
//! *next* datagram. [`UdpSocket::recv_from`] cannot tell (it returns the
//! bytes copied, as `std` does); [`UdpSocket::recv_datagram`] asks the kernel
//! for the datagram's real size too (`MSG_TRUNC` on Linux) and says whether
//! anything was cut off. A buffer of 65,536 bytes holds any UDP datagram.
//!
//! Every call tries once and waits for readiness on `WouldBlock`, like the
//! streams (see [`crate::reactor::io_source`]); one task may wait to receive
//! while another waits to send.

use std::io;
use std::mem::MaybeUninit;
use std::net::{self, SocketAddr, ToSocketAddrs};

use socket2::SockRef;

use crate::reactor::io_source::{descriptor_of_source, Direction, Source};

/// A UDP socket whose `send_to` / `recv_from` suspend the task (asyncio:
/// `loop.sock_sendto` / `loop.sock_recvfrom`).
pub struct UdpSocket {
    source: Source<net::UdpSocket>,
}

/// One datagram received by [`UdpSocket::recv_datagram`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// How many bytes were copied into the buffer.
    pub len: usize,
    /// How long the datagram really was; more than `len` if it was truncated.
    pub size: usize,
    /// Who sent it.
    pub from: SocketAddr,
}

impl Datagram {
    /// Whether the datagram was larger than the buffer, and its tail lost.
    pub fn is_truncated(&self) -> bool {
        self.size > self.len
    }
}

impl UdpSocket {
    /// A socket bound to `addr` (port 0 picks a free one), non-blocking.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        UdpSocket::from_std(net::UdpSocket::bind(addr)?)
    }

    /// Wraps a bound socket; it is made non-blocking.
    pub fn from_std(socket: net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            source: Source::new(socket),
        })
    }

    /// Sets the default peer for [`send`](UdpSocket::send) and accepts
    /// datagrams from it only. Never waits: UDP has no handshake.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.source.io.connect(addr)
    }

    /// Sends `buf` as one datagram to `addr`, waiting while the send buffer
    /// is full. All of it or nothing: a datagram is never split (one too big
    /// for UDP, over 65,507 bytes, is an error).
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = first_address(addr)?;
        self.source
            .retry(Direction::Write, "UdpSocket::send_to", |s| {
                s.send_to(buf, addr)
            })
    }

    // ANCHOR: recv_from
    /// Waits for one datagram and copies it into `buf`: the bytes copied and
    /// the sender. A datagram longer than `buf` is truncated silently; use
    /// [`recv_datagram`](UdpSocket::recv_datagram) to find out.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source
            .retry(Direction::Read, "UdpSocket::recv_from", |s| {
                s.recv_from(buf)
            })
    }
    // ANCHOR_END: recv_from

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.source
            .retry(Direction::Write, "UdpSocket::send", |s| s.send(buf))
    }

    /// Waits for one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source
            .retry(Direction::Read, "UdpSocket::recv", |s| s.recv(buf))
    }

    // ANCHOR: recv_datagram
    /// Like [`recv_from`](UdpSocket::recv_from), and also says how long the
    /// datagram really was, so a truncated one is detected
    /// ([`Datagram::is_truncated`]). On Linux, `recvfrom` with `MSG_TRUNC`
    /// returns the real length even when less was copied.
    pub fn recv_datagram(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        let len = buf.len();
        // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and the kernel
        // only writes initialised bytes into the buffer, so it stays a valid
        // `[u8]` (socket2's own `Read` impl makes the same cast).
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        let (size, from) = self
            .source
            .retry(Direction::Read, "UdpSocket::recv_datagram", |s| {
                SockRef::from(s).recv_from_with_flags(&mut *uninit, libc::MSG_TRUNC)
            })?;
        let from = from.as_socket().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "a datagram from a non-IP address",
            )
        })?;
        Ok(Datagram {
            len: size.min(len),
            size,
            from,
        })
    }
    // ANCHOR_END: recv_datagram

    /// The address it is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.io.local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.io.peer_addr()
    }

    /// The socket itself, for options this type does not wrap.
    pub fn get_ref(&self) -> &net::UdpSocket {
        &self.source.io
    }
}

/// The first address `addr` resolves to, or an error saying there was none.
fn first_address(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to send to"))
}

descriptor_of_source!(UdpSocket);
