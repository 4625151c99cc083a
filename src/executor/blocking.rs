//! Blocking calls made harmless: DNS lookups, connecting by host name, whole-file reads and writes. Introduced by lesson 10.
//!
//! Each is a plain call inside a task that runs the blocking part through
//! [`run_in_executor`], as the slides do with `getaddrinfo`:
//!
//! * **DNS.** `getaddrinfo` (Rust: `ToSocketAddrs`) asks a resolver and may
//!   wait seconds for an answer; there is no portable non-blocking version.
//!   asyncio's `loop.getaddrinfo` runs it in the executor; so does
//!   [`resolve`], and [`TcpStream::connect`] when given a name.
//! * **Files.** A regular file is "always ready" to epoll and select (they
//!   refuse it or report it ready), yet a read may wait for a disk. So event
//!   loops hand file I/O to threads: asyncio's homework 2 (write files
//!   without blocking the loop), `aiofiles`, tokio's `fs`. [`read_file`] and
//!   [`write_file`] do it for whole files. (io_uring would make files
//!   truly asynchronous; that is another course.)

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
use std::path::{Path, PathBuf};

use crate::reactor::buffered::{StreamReader, StreamWriter};
use crate::reactor::stream::{OwnedReadHalf, OwnedWriteHalf};
use crate::reactor::tcp::TcpStream;

use super::run::run_in_executor;

// ANCHOR: resolve
/// Looks `host` up (DNS, `/etc/hosts`) on an executor thread and returns
/// its addresses with `port`; the task waits, the loop does not (asyncio:
/// `loop.getaddrinfo`). A numeric address is parsed on the spot.
///
/// ```
/// # use yieldloop::{resolve, EventLoop};
/// let mut event_loop = EventLoop::new().unwrap();
/// let addrs = event_loop.run_until_complete(|| resolve("127.0.0.1", 80)).unwrap().unwrap();
/// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
/// ```
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_string();
    let found = run_in_executor(move || (name.as_str(), port).to_socket_addrs())??;
    let addrs: Vec<SocketAddr> = found.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host:?} has no address"),
        ));
    }
    Ok(addrs)
}
// ANCHOR_END: resolve

/// An address to connect to: already numeric, or a host name still to be
/// looked up. What [`TcpStream::connect`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// Numeric: no lookup needed.
    Resolved(SocketAddr),
    /// A name and a port: looked up with [`resolve`].
    Name {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
    },
}

/// What [`TcpStream::connect`] takes: a `SocketAddr`, `(host, port)`, or
/// `"host:port"` (as `std`'s `ToSocketAddrs`, but looked up off the loop).
pub trait ToAddress {
    /// The address, parsed but not looked up.
    fn to_address(&self) -> io::Result<Address>;
}

impl ToAddress for SocketAddr {
    fn to_address(&self) -> io::Result<Address> {
        Ok(Address::Resolved(*self))
    }
}

impl ToAddress for SocketAddrV4 {
    fn to_address(&self) -> io::Result<Address> {
        Ok(Address::Resolved((*self).into()))
    }
}

impl ToAddress for SocketAddrV6 {
    fn to_address(&self) -> io::Result<Address> {
        Ok(Address::Resolved((*self).into()))
    }
}

impl ToAddress for (IpAddr, u16) {
    fn to_address(&self) -> io::Result<Address> {
        Ok(Address::Resolved((*self).into()))
    }
}

impl ToAddress for (Ipv4Addr, u16) {
    fn to_address(&self) -> io::Result<Address> {
        Ok(Address::Resolved((*self).into()))
    }
}

impl ToAddress for (Ipv6Addr, u16) {
    fn to_address(&self) -> io::Result<Address> {
        Ok(Address::Resolved((*self).into()))
    }
}

impl ToAddress for (&str, u16) {
    fn to_address(&self) -> io::Result<Address> {
        Ok(match self.0.parse::<IpAddr>() {
            Ok(ip) => Address::Resolved(SocketAddr::new(ip, self.1)),
            Err(_) => Address::Name {
                host: self.0.to_string(),
                port: self.1,
            },
        })
    }
}

impl ToAddress for (String, u16) {
    fn to_address(&self) -> io::Result<Address> {
        (self.0.as_str(), self.1).to_address()
    }
}

impl ToAddress for str {
    fn to_address(&self) -> io::Result<Address> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(Address::Resolved(addr));
        }
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{self:?} is not an address: expected host:port, like localhost:8080"),
            )
        };
        let (host, port) = self.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse::<u16>().map_err(|_| bad())?;
        (host, port).to_address()
    }
}

impl ToAddress for String {
    fn to_address(&self) -> io::Result<Address> {
        self.as_str().to_address()
    }
}

impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> io::Result<Address> {
        (**self).to_address()
    }
}

impl TcpStream {
    // ANCHOR: connect
    /// Connects to `addr`, suspending the task: a name is looked up with
    /// [`resolve`] on an executor thread, then each address is tried in
    /// turn with [`TcpStream::connect_addr`] until one answers (as `std`
    /// does). Numeric addresses need no lookup and no thread.
    pub fn connect(addr: impl ToAddress) -> io::Result<TcpStream> {
        let addrs = match addr.to_address()? {
            Address::Resolved(addr) => vec![addr],
            Address::Name { host, port } => resolve(&host, port)?,
        };
        let mut last_error = None;
        for addr in addrs {
            match TcpStream::connect_addr(addr) {
                Ok(stream) => return Ok(stream),
                // A cancellation is not "try the next address".
                Err(error) if crate::reactor::cancel::Cancelled::is_in(&error) => {
                    return Err(error)
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
        }))
    }
    // ANCHOR_END: connect
}

/// The reading side of [`open_connection`]: a [`StreamReader`] over a TCP read half.
pub type TcpReader = StreamReader<OwnedReadHalf<std::net::TcpStream>>;
/// The writing side of [`open_connection`]: a [`StreamWriter`] over a TCP write half.
pub type TcpWriter = StreamWriter<OwnedWriteHalf<std::net::TcpStream>>;

// ANCHOR: open_connection
/// Connects to `host:port` (a name is looked up on an executor thread) and
/// returns a buffered reader and writer over the two halves of the stream:
/// asyncio's `open_connection`. Dropping the writer shuts down our sending
/// side, so the peer sees end of file.
///
/// ```no_run
/// # use yieldloop::open_connection;
/// # fn get() -> std::io::Result<()> {
/// let (mut reader, mut writer) = open_connection("example.com", 80)?;
/// writer.write_all(b"HEAD / HTTP/1.0\r\n\r\n")?;
/// writer.flush()?;
/// let status = reader.read_line()?; // b"HTTP/1.0 200 OK\r\n"
/// # Ok(()) }
/// ```
pub fn open_connection(host: &str, port: u16) -> io::Result<(TcpReader, TcpWriter)> {
    let (read, write) = TcpStream::connect((host, port))?.into_split();
    Ok((StreamReader::new(read), StreamWriter::new(write)))
}
// ANCHOR_END: open_connection

// ANCHOR: files
/// Reads the whole file at `path` on an executor thread (`std::fs::read`);
/// the task waits, the loop does not.
pub fn read_file(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path: PathBuf = path.as_ref().to_path_buf();
    run_in_executor(move || std::fs::read(path))?
}

/// Writes `contents` to the file at `path` (created or truncated) on an
/// executor thread (`std::fs::write`); the task waits, the loop does not.
pub fn write_file(path: impl AsRef<Path>, contents: impl Into<Vec<u8>>) -> io::Result<()> {
    let path: PathBuf = path.as_ref().to_path_buf();
    let contents = contents.into();
    run_in_executor(move || std::fs::write(path, contents))?
}
// ANCHOR_END: files
