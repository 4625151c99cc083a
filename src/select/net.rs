//! Listening sockets for the course's servers. Introduced by lesson 05.
//!
//! Why not `std::net::TcpListener::bind`? It asks the kernel for a backlog of
//! 128 pending connections. When a thousand clients connect at once, the rest
//! of their SYNs are dropped and retried a second or more later, and the
//! server looks slow for reasons that have nothing to do with its loop. We
//! build the socket with `socket2` instead and ask for [`BACKLOG`].

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel may queue for us (capped by
/// `net.core.somaxconn`, which is 4096 on current Linux).
pub const BACKLOG: i32 = 1024;

/// Binds a non-blocking listener on `host:port` (port 0 picks a free one) with
/// `SO_REUSEADDR`, so a restarted lesson can bind the same port at once.
pub fn listen(host: &str, port: u16) -> io::Result<TcpListener> {
    let addr = resolve(host, port)?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The first address `host:port` names, or an error that says which host.
pub fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{host:?} does not name an address"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_on_a_free_port_without_blocking() {
        let listener = listen("127.0.0.1", 0).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert_ne!(port, 0);
        let err = listener.accept().expect_err("nobody is connecting");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_bad_host_is_a_clear_error() {
        let err = listen("no such host.invalid", 0).expect_err("bad host");
        assert!(!err.to_string().is_empty());
    }
}
