//! Beyond TCP (issue 18) and full duplex (issue 8, item 8): split streams,
//! UDP, Unix-domain sockets, pipes and `add_reader` / `add_writer`, on every
//! selector backend where the backend matters. Every test that runs a loop
//! has a watchdog, so a lost wake-up fails in seconds instead of hanging.

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net as std_unix;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use yieldloop::reactor::selector::SelectorKind;
use yieldloop::{
    pipe, secs, sleep, spawn, wait, yield_now, Builder, EventLoop, PipeReader, PipeWriter,
    TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream, WaitMode,
};

/// Runs `work` as a task next to a watchdog task; a hang fails the test
/// after `limit` instead of hanging it.
fn with_watchdog<T: 'static>(
    kind: SelectorKind,
    limit: f64,
    work: impl FnOnce() -> T + 'static,
) -> T {
    let mut event_loop = Builder::new().selector(kind).build().unwrap();
    event_loop
        .run_until_complete(move || {
            let work = spawn("work", move || Some(work()));
            let watchdog = spawn("watchdog", move || {
                sleep(secs(limit)).unwrap();
                None
            });
            let (done, _) = wait(vec![work, watchdog], WaitMode::FirstCompleted).unwrap();
            let first = done.into_iter().next().expect("one finished");
            first.join().expect("the work task did not panic")
        })
        .unwrap()
        .unwrap_or_else(|| panic!("watchdog: still running after {limit} s (a lost wake-up?)"))
}

/// A fresh path for a socket file, in a directory of this test's own.
fn socket_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "yieldloop-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Removes a socket path's directory when the test ends, however it ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The byte at `offset` of the stream that side `seed` sends: a pattern
/// with a prime period, so a lost, repeated or reordered chunk shows.
fn pattern(seed: u8, offset: usize) -> u8 {
    (offset % 251) as u8 ^ seed
}

const MIB: usize = 1 << 20;

/// Writes `total` bytes of `seed`'s pattern through `write_all`.
fn send_pattern(seed: u8, total: usize, mut write_all: impl FnMut(&[u8]) -> std::io::Result<()>) {
    let mut chunk = vec![0u8; 256 * 1024];
    let mut sent = 0;
    while sent < total {
        let n = chunk.len().min(total - sent);
        for (i, byte) in chunk[..n].iter_mut().enumerate() {
            *byte = pattern(seed, sent + i);
        }
        write_all(&chunk[..n]).unwrap();
        sent += n;
    }
}

/// Reads until end of file through `read`, checking every byte against
/// `seed`'s pattern; returns how many came.
fn receive_pattern(seed: u8, mut read: impl FnMut(&mut [u8]) -> std::io::Result<usize>) -> usize {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    loop {
        let n = read(&mut buf).unwrap();
        if n == 0 {
            return got;
        }
        for (i, &byte) in buf[..n].iter().enumerate() {
            assert_eq!(
                byte,
                pattern(seed, got + i),
                "byte {} of side {seed}",
                got + i
            );
        }
        got += n;
    }
}

// ---------------------------------------------------------------- split

/// A connected pair on loopback.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    (
        TcpStream::from_std(ours).unwrap(),
        TcpStream::from_std(peer).unwrap(),
    )
}

/// 64 MiB each way at once: on each side a reader task and a writer task
/// share one socket through its owned halves. Both send buffers fill, so
/// each socket has a task waiting to write *and* one waiting to read.
fn full_duplex(kind: SelectorKind) {
    const TOTAL: usize = 64 * MIB;
    let (got_a, got_b) = with_watchdog(kind, 60.0, || {
        let (a, b) = tcp_pair();
        let (a_read, a_write) = a.into_split();
        let (b_read, b_write) = b.into_split();
        let a_writer = spawn("a writes", move || {
            send_pattern(1, TOTAL, |c| a_write.write_all(c));
        }); // dropping a_write shuts down a's writing side: b reads end of file
        let b_writer = spawn("b writes", move || {
            send_pattern(2, TOTAL, |c| b_write.write_all(c));
        });
        let a_reader = spawn("a reads", move || {
            receive_pattern(2, |buf| a_read.read(buf))
        });
        let b_reader = spawn("b reads", move || {
            receive_pattern(1, |buf| b_read.read(buf))
        });
        a_writer.join().unwrap();
        b_writer.join().unwrap();
        (a_reader.join().unwrap(), b_reader.join().unwrap())
    });
    assert_eq!((got_a, got_b), (TOTAL, TOTAL));
}

#[test]
fn full_duplex_64_mib_both_ways_at_once_on_own_epoll() {
    full_duplex(SelectorKind::Epoll);
}

#[test]
fn full_duplex_64_mib_both_ways_at_once_on_epoll() {
    full_duplex(SelectorKind::Polling);
}

#[test]
fn full_duplex_64_mib_both_ways_at_once_on_select() {
    full_duplex(SelectorKind::Select);
}

#[test]
fn borrowed_halves_read_and_write_in_two_tasks() {
    let echoed = with_watchdog(SelectorKind::Polling, 20.0, || {
        let (a, b) = tcp_pair();
        let a = Rc::new(a);
        let reader_side = a.clone();
        let reader = spawn("reader", move || {
            let (read_half, _) = reader_side.split();
            let mut all = Vec::new();
            let mut buf = [0; 1024];
            while all.len() < 6 {
                let n = read_half.read(&mut buf).unwrap();
                all.extend_from_slice(&buf[..n]);
            }
            all
        });
        let (_, write_half) = a.split();
        write_half.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        let mut got = 0;
        while got < 4 {
            got += b.read(&mut buf[got..]).unwrap();
        }
        b.write_all(b"pong!!").unwrap();
        (buf, reader.join().unwrap())
    });
    assert_eq!(echoed, (*b"ping", b"pong!!".to_vec()));
}

#[test]
fn a_second_task_reading_through_the_same_half_gets_a_clear_error() {
    let (second, first) = with_watchdog(SelectorKind::Polling, 20.0, || {
        let (a, b) = tcp_pair();
        let (read_half, write_half) = a.into_split();
        let read_half = Rc::new(read_half);
        let first_reader = read_half.clone();
        let first = spawn("first reader", move || {
            let mut buf = [0u8; 1];
            first_reader.read(&mut buf).map_err(|e| e.to_string())
        });
        yield_now().unwrap(); // the first reader is now suspended in read
                              // Writing in the meantime is fine: another direction.
        write_half.write_all(b"w").unwrap();
        let mut buf = [0u8; 1];
        let second = read_half.read(&mut buf).map_err(|e| e.to_string());
        b.write_all(b"x").unwrap();
        (second, first.join().unwrap())
    });
    let message = second.unwrap_err();
    assert!(
        message.contains("another task is already waiting to read from"),
        "{message}"
    );
    assert!(message.starts_with("TcpStream::read:"), "{message}");
    assert_eq!(first, Ok(1));
}

// ---------------------------------------------------------------- UDP

/// 10,000 datagrams from one task to another. The sender keeps fewer than
/// `WINDOW` unacknowledged, so the receiver's buffer never overflows (UDP
/// drops what does not fit, even on loopback); then none may be lost. The
/// order is not assumed: each number must arrive exactly once.
#[test]
fn ten_thousand_udp_datagrams_none_lost_below_the_buffer_size() {
    const COUNT: u32 = 10_000;
    const WINDOW: u32 = 100;
    const ACK_EVERY: u32 = 50;
    let seen = with_watchdog(SelectorKind::Polling, 60.0, || {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = receiver.local_addr().unwrap();
        let receiving = spawn("receiver", move || {
            let mut seen = vec![0u32; COUNT as usize];
            let mut buf = [0u8; 64];
            for received in 1..=COUNT {
                let (n, from) = receiver.recv_from(&mut buf).unwrap();
                assert_eq!(n, 32, "a datagram arrives whole");
                let number = u32::from_be_bytes(buf[..4].try_into().unwrap());
                assert!(buf[4..32].iter().all(|&b| b == number as u8));
                seen[number as usize] += 1;
                if received % ACK_EVERY == 0 {
                    receiver.send_to(&received.to_be_bytes(), from).unwrap();
                }
            }
            seen
        });
        let mut acked = 0;
        let mut datagram = [0u8; 32];
        for number in 0..COUNT {
            while number - acked >= WINDOW {
                let mut ack = [0u8; 4];
                assert_eq!(sender.recv(&mut ack).unwrap(), 4);
                acked = u32::from_be_bytes(ack);
            }
            datagram[..4].copy_from_slice(&number.to_be_bytes());
            datagram[4..].fill(number as u8);
            assert_eq!(sender.send_to(&datagram, to).unwrap(), 32);
        }
        receiving.join().unwrap()
    });
    assert!(
        seen.iter().all(|&times| times == 1),
        "lost or doubled datagrams"
    );
}

#[test]
fn a_udp_datagram_larger_than_the_buffer_is_truncated_and_detected() {
    let (plain, plain_next, checked, too_big) = with_watchdog(SelectorKind::Polling, 20.0, || {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let big: Vec<u8> = (0..1000).map(|i| (i % 256) as u8).collect();
        let mut small = [0u8; 100];
        // recv_from: the first 100 bytes; the other 900 are gone, so the
        // next call returns the next datagram.
        a.send_to(&big, to).unwrap();
        a.send_to(b"next", to).unwrap();
        let (n, _) = b.recv_from(&mut small).unwrap();
        let plain = (n, small.to_vec() == big[..100]);
        let (n, _) = b.recv_from(&mut small).unwrap();
        let plain_next = small[..n].to_vec();
        // recv_datagram says how big it really was.
        a.send_to(&big, to).unwrap();
        let datagram = b.recv_datagram(&mut small).unwrap();
        let checked = (datagram.len, datagram.size, datagram.is_truncated());
        // A datagram never splits: one over UDP's limit is an error.
        let too_big = a.send_to(&vec![0u8; 70_000], to).is_err();
        (plain, plain_next, checked, too_big)
    });
    assert_eq!(plain, (100, true));
    assert_eq!(plain_next, b"next");
    assert_eq!(checked, (100, 1000, true));
    assert!(too_big);
}

#[test]
fn udp_connected_send_and_recv() {
    let got = with_watchdog(SelectorKind::Select, 20.0, || {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        let echo = spawn("echo", move || {
            let mut buf = [0u8; 16];
            let n = b.recv(&mut buf).unwrap();
            b.send(&buf[..n].to_ascii_uppercase()).unwrap();
        });
        a.send(b"hi").unwrap();
        let mut buf = [0u8; 16];
        let n = a.recv(&mut buf).unwrap();
        echo.join().unwrap();
        buf[..n].to_vec()
    });
    assert_eq!(got, b"HI");
}

// ---------------------------------------------------------------- Unix sockets

/// An upper-casing echo server on `listener`, one task per client (the
/// lesson 06 server over a Unix socket), in a loop on a thread of its own.
/// Returns how many clients it has seen leave, for the tests to wait on.
fn unix_echo_server(path: PathBuf) -> std::sync::Arc<AtomicUsize> {
    let left = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = left.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut event_loop = EventLoop::new().unwrap();
        let listener = UnixListener::bind(&path).unwrap();
        ready_tx.send(()).unwrap();
        let _ = event_loop.run_until_complete(move || loop {
            let (client, _) = listener.accept().unwrap();
            let counter = counter.clone();
            drop(spawn("client", move || {
                let mut buf = [0u8; 4096];
                let _ = (|| -> std::io::Result<()> {
                    loop {
                        let n = client.read(&mut buf)?;
                        if n == 0 {
                            return Ok(());
                        }
                        client.write_all(&buf[..n].to_ascii_uppercase())?;
                    }
                })();
                counter.fetch_add(1, Ordering::SeqCst);
            }));
        });
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server starts");
    left
}

fn client(path: &PathBuf) -> std_unix::UnixStream {
    let stream = std_unix::UnixStream::connect(path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

fn assert_serves_fresh_client(path: &PathBuf) {
    let mut fresh = client(path);
    fresh.write_all(b"fresh: h\xc3\xa9llo").unwrap();
    let mut echoed = [0u8; 13];
    fresh.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"FRESH: H\xc3\xa9LLO");
}

fn wait_until_left(left: &AtomicUsize, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while left.load(Ordering::SeqCst) < count {
        assert!(
            std::time::Instant::now() < deadline,
            "the client task never ended"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The lesson's misbehaving peers, over a Unix socket. A Unix socket has no
/// RST; its "reset" is a peer that closes with our echo still unsent or its
/// own bytes unread, which the server sees as EPIPE or ECONNRESET.
#[test]
fn a_unix_echo_server_survives_a_peer_that_vanishes_mid_message() {
    let path = socket_path("echo.sock");
    let _cleanup = Cleanup(path.clone());
    let left = unix_echo_server(path.clone());
    let mut vanishing = client(&path);
    vanishing.write_all(&[b'a'; 100_000]).unwrap_or(());
    drop(vanishing);
    wait_until_left(&left, 1);
    assert_serves_fresh_client(&path);
}

#[test]
fn a_half_closed_unix_peer_gets_its_echo_and_then_the_end() {
    let path = socket_path("echo.sock");
    let _cleanup = Cleanup(path.clone());
    let left = unix_echo_server(path.clone());
    let mut half = client(&path);
    half.write_all(b"half a message").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    half.read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed, b"HALF A MESSAGE");
    wait_until_left(&left, 1);
    assert_serves_fresh_client(&path);
}

#[test]
fn a_unix_peer_that_never_reads_stalls_only_itself() {
    let path = socket_path("echo.sock");
    let _cleanup = Cleanup(path.clone());
    let _left = unix_echo_server(path.clone());
    let hog = client(&path);
    hog.set_nonblocking(true).unwrap();
    const CAP: usize = 64 * MIB;
    let chunk = [b'q'; 64 * 1024];
    let (mut pushed, mut progress) = (0usize, std::time::Instant::now());
    while pushed < CAP && progress.elapsed() < Duration::from_millis(500) {
        match (&hog).write(&chunk) {
            Ok(n) => (pushed, progress) = (pushed + n, std::time::Instant::now()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("writing to the server: {e}"),
        }
    }
    assert!(
        pushed < CAP,
        "the server took {pushed} bytes from a client that reads nothing"
    );
    assert_serves_fresh_client(&path);
    hog.set_nonblocking(false).unwrap();
    let mut echoed = vec![0u8; pushed];
    (&hog).read_exact(&mut echoed).unwrap();
    assert!(echoed.iter().all(|&b| b == b'Q'));
    drop(hog);
    assert_serves_fresh_client(&path);
}

#[test]
fn a_stale_socket_file_is_a_clear_error_naming_the_path_and_the_fix() {
    let path = socket_path("stale.sock");
    let _cleanup = Cleanup(path.clone());
    // std's listener leaves its file behind when dropped: a stale file.
    drop(std_unix::UnixListener::bind(&path).unwrap());
    let error = UnixListener::bind(&path).unwrap_err();
    let message = error.to_string();
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("stale socket file"), "{message}");
    assert!(
        message.contains(&format!("rm {}", path.display())),
        "{message}"
    );
    // Doing what it says works.
    std::fs::remove_file(&path).unwrap();
    let listener = UnixListener::bind(&path).unwrap();
    // A live listener is not called stale.
    let message = UnixListener::bind(&path).unwrap_err().to_string();
    assert!(message.contains("another server is listening"), "{message}");
    // Ours removes its file when dropped.
    drop(listener);
    assert!(!path.exists(), "the socket file is removed on drop");
}

#[test]
fn connecting_to_a_missing_unix_socket_names_the_path() {
    let path = socket_path("nobody-here.sock");
    let _cleanup = Cleanup(path.clone());
    let error = UnixStream::connect(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn unix_stream_connects_by_path_and_splits_like_tcp() {
    let path = socket_path("split.sock");
    let _cleanup = Cleanup(path.clone());
    let p = path.clone();
    let got = with_watchdog(SelectorKind::Select, 20.0, move || {
        let listener = UnixListener::bind(&p).unwrap();
        let server = spawn("server", move || {
            let (stream, _) = listener.accept().unwrap();
            let (reader, writer) = stream.into_split();
            let mut buf = [0u8; 64];
            let n = reader.read(&mut buf).unwrap();
            writer.write_all(&buf[..n].to_ascii_uppercase()).unwrap();
        });
        let stream = UnixStream::connect(&p).unwrap();
        stream.write_all(b"over a path").unwrap();
        let mut got = Vec::new();
        (&stream).read_to_end(&mut got).unwrap(); // the write half's drop ends it
        server.join().unwrap();
        got
    });
    assert_eq!(got, b"OVER A PATH");
}

/// The halves are the same code for a Unix stream: 8 MiB each way at once
/// over a socket pair, on the select backend.
#[test]
fn a_unix_stream_pair_splits_for_full_duplex_too() {
    const TOTAL: usize = 8 * MIB;
    let got = with_watchdog(SelectorKind::Select, 60.0, || {
        let (a, b) = UnixStream::pair().unwrap();
        let (a_read, a_write) = a.into_split();
        let (b_read, b_write) = b.into_split();
        let a_writer = spawn("a writes", move || {
            send_pattern(5, TOTAL, |c| a_write.write_all(c))
        });
        let b_writer = spawn("b writes", move || {
            send_pattern(6, TOTAL, |c| b_write.write_all(c))
        });
        let a_reader = spawn("a reads", move || {
            receive_pattern(6, |buf| a_read.read(buf))
        });
        let got_b = receive_pattern(5, |buf| b_read.read(buf));
        a_writer.join().unwrap();
        b_writer.join().unwrap();
        (a_reader.join().unwrap(), got_b)
    });
    assert_eq!(got, (TOTAL, TOTAL));
}

#[test]
fn unix_datagrams_arrive_whole_and_the_bound_file_goes_on_drop() {
    let path = socket_path("dgram.sock");
    let _cleanup = Cleanup(path.clone());
    let p = path.clone();
    let got = with_watchdog(SelectorKind::Polling, 20.0, move || {
        let server = UnixDatagram::bind(&p).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        let first = spawn("server", move || {
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            for _ in 0..3 {
                let (n, _) = server.recv_from(&mut buf).unwrap();
                got.push(buf[..n].to_vec());
            }
            got
        });
        for message in [&b"one"[..], b"two", b"three"] {
            client.send_to(message, &p).unwrap();
        }
        first.join().unwrap()
    });
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    assert!(!path.exists());
}

// ---------------------------------------------------------------- pipes

/// 64 MiB through a pipe to a reader that naps between reads: the writer
/// must wait (the pipe holds 64 KiB), never run ahead of the reader by more
/// than the pipe holds, and every byte must come out in order.
#[test]
fn sixty_four_mib_through_a_pipe_with_a_slow_reader() {
    const TOTAL: usize = 64 * MIB;
    let (got, most_ahead) = with_watchdog(SelectorKind::Polling, 120.0, || {
        let (reader, writer) = pipe().unwrap();
        let written = Rc::new(Cell::new(0usize));
        let written_by_writer = written.clone();
        let writing = spawn("writer", move || {
            send_pattern(7, TOTAL, |mut chunk| {
                while !chunk.is_empty() {
                    let n = writer.write(chunk)?;
                    written_by_writer.set(written_by_writer.get() + n);
                    chunk = &chunk[n..];
                }
                Ok(())
            });
        }); // the writer is dropped: the reader sees end of file
        let mut most_ahead = 0;
        let mut read_so_far = 0;
        let mut reads = 0;
        let got = receive_pattern(7, |buf| {
            reads += 1;
            if reads % 64 == 0 {
                sleep(Duration::from_millis(1)).unwrap(); // slow
            }
            most_ahead = most_ahead.max(written.get() - read_so_far);
            let n = reader.read(buf)?;
            read_so_far += n;
            Ok(n)
        });
        writing.join().unwrap();
        (got, most_ahead)
    });
    assert_eq!(got, TOTAL);
    assert!(
        most_ahead <= MIB,
        "the writer ran {most_ahead} bytes ahead: no back-pressure"
    );
}

#[test]
fn a_pipe_to_and_from_a_child_process() {
    let (from_cat, from_echo) = with_watchdog(SelectorKind::Polling, 60.0, || {
        // `cat` copies its stdin to its stdout: we feed 1 MiB from one task
        // and read it back in another, both through the child's own pipes.
        let mut child = std::process::Command::new("cat")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = PipeWriter::from_owned_fd(child.stdin.take().unwrap()).unwrap();
        let stdout = PipeReader::from_owned_fd(child.stdout.take().unwrap()).unwrap();
        let feeding = spawn("feed cat", move || {
            send_pattern(3, MIB, |c| stdin.write_all(c))
        });
        let from_cat = receive_pattern(3, |buf| stdout.read(buf));
        feeding.join().unwrap();
        child.wait().unwrap();
        // Our own pipe, its write end given to a child as its stdout.
        let (reader, writer) = pipe().unwrap();
        let mut echo = std::process::Command::new("echo")
            .arg("from the child")
            .stdout(writer.into_blocking_fd().unwrap())
            .spawn()
            .unwrap();
        let mut text = Vec::new();
        (&reader).read_to_end(&mut text).unwrap();
        echo.wait().unwrap();
        (from_cat, String::from_utf8(text).unwrap())
    });
    assert_eq!(from_cat, MIB);
    assert_eq!(from_echo, "from the child\n");
}

// ---------------------------------------------------------------- add_reader

/// The callback fires once per arrival when it reads everything, keeps
/// firing every iteration while data is left unread (level-triggered, as in
/// asyncio), and never again after `remove_reader`.
fn add_reader_semantics(kind: SelectorKind) {
    let mut event_loop = Builder::new().selector(kind).build().unwrap();
    let (ours, mut peer) = std_unix::UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let ours = Rc::new(ours);
    let fired = Rc::new(Cell::new(0));
    let drain = Rc::new(Cell::new(true));
    let (reader, count, draining) = (ours.clone(), fired.clone(), drain.clone());
    event_loop
        .add_reader(ours.clone(), move || {
            count.set(count.get() + 1);
            if draining.get() {
                let mut buf = [0u8; 64];
                while (&*reader).read(&mut buf).is_ok_and(|n| n > 0) {}
            }
        })
        .unwrap();
    // Nothing to read: it does not fire.
    for _ in 0..3 {
        tick(&mut event_loop);
    }
    assert_eq!(fired.get(), 0, "fired with nothing to read");
    // One arrival, read whole: one run.
    peer.write_all(b"one").unwrap();
    run_until(&mut event_loop, || fired.get() == 1);
    for _ in 0..3 {
        tick(&mut event_loop);
    }
    assert_eq!(fired.get(), 1, "fired again with nothing new");
    // Left unread: it fires in every iteration (level-triggered).
    drain.set(false);
    peer.write_all(b"two").unwrap();
    run_until(&mut event_loop, || fired.get() == 2);
    for _ in 0..5 {
        tick(&mut event_loop);
    }
    assert_eq!(
        fired.get(),
        7,
        "level-triggered: once per iteration while readable"
    );
    // Removed: never again, though data is waiting.
    assert!(event_loop.remove_reader(ours.as_raw_fd()));
    assert!(
        !event_loop.remove_reader(ours.as_raw_fd()),
        "already removed"
    );
    peer.write_all(b"three").unwrap();
    for _ in 0..3 {
        tick(&mut event_loop);
    }
    assert_eq!(fired.get(), 7, "fired after remove_reader");
    // With nothing watched, run_forever returns at once (nothing can run).
    event_loop.run_forever().unwrap();
}

/// Runs single iterations until `done`, at most for a few seconds.
fn run_until(event_loop: &mut EventLoop, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "watchdog: the callback never fired"
        );
        tick(event_loop);
    }
}

/// One iteration that cannot block for long: a timer bounds the wait
/// (with a descriptor watched and nothing else to do, the loop would wait
/// for I/O without limit, as asyncio does).
fn tick(event_loop: &mut EventLoop) {
    let _ = event_loop.call_later(Duration::from_millis(10), || {});
    event_loop.run_once().unwrap();
}

#[test]
fn add_reader_fires_on_readiness_and_stops_after_remove_reader_on_own_epoll() {
    add_reader_semantics(SelectorKind::Epoll);
}

#[test]
fn add_reader_fires_on_readiness_and_stops_after_remove_reader_on_epoll() {
    add_reader_semantics(SelectorKind::Polling);
}

#[test]
fn add_reader_fires_on_readiness_and_stops_after_remove_reader_on_select() {
    add_reader_semantics(SelectorKind::Select);
}

#[test]
fn add_writer_fires_while_writable_and_both_directions_share_a_descriptor() {
    let mut event_loop = EventLoop::new().unwrap();
    let (ours, mut peer) = std_unix::UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let ours = Rc::new(ours);
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l, w, handle) = (log.clone(), ours.clone(), event_loop.handle());
    event_loop
        .add_writer(ours.clone(), move || {
            l.borrow_mut().push("writable");
            (&*w).write_all(b"hello").unwrap();
            handle.remove_writer(w.as_raw_fd()); // one message, then stop
        })
        .unwrap();
    let (l, r, handle) = (log.clone(), ours.clone(), event_loop.handle());
    event_loop
        .add_reader(ours.clone(), move || {
            l.borrow_mut().push("readable");
            handle.remove_reader(r.as_raw_fd());
        })
        .unwrap();
    peer.write_all(b"x").unwrap();
    event_loop.run_forever().unwrap(); // ends when both are removed
    let mut seen = log.borrow().clone();
    seen.sort();
    assert_eq!(seen, ["readable", "writable"]);
    let mut buf = [0u8; 5];
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
}

/// Two descriptors ready in the same iteration, each callback removing
/// both: whichever runs first cancels the other's queued run, as
/// asyncio's `remove_reader` cancels its handle.
#[test]
fn remove_reader_cancels_a_run_already_queued() {
    for kind in SelectorKind::ALL {
        let mut event_loop = Builder::new().selector(kind).build().unwrap();
        let (x, mut x_peer) = std_unix::UnixStream::pair().unwrap();
        let (y, mut y_peer) = std_unix::UnixStream::pair().unwrap();
        let (x_raw, y_raw) = (x.as_raw_fd(), y.as_raw_fd());
        let runs = Rc::new(Cell::new(0));
        for fd in [x, y] {
            let (runs, handle) = (runs.clone(), event_loop.handle());
            event_loop
                .add_reader(fd, move || {
                    runs.set(runs.get() + 1);
                    handle.remove_reader(x_raw);
                    handle.remove_reader(y_raw);
                })
                .unwrap();
        }
        x_peer.write_all(b"x").unwrap();
        y_peer.write_all(b"y").unwrap();
        for _ in 0..3 {
            tick(&mut event_loop);
        }
        assert_eq!(runs.get(), 1, "{kind:?}: the removed callback still ran");
    }
}

/// `fd` duplicated to the lowest free number at or above `base`, the
/// original closed. Tests that check a number is closed use one of these:
/// other test threads open and close low numbers all the time, and could
/// reuse ours between the close and the check.
fn high_fd(fd: impl Into<OwnedFd>, base: RawFd) -> OwnedFd {
    let fd: OwnedFd = fd.into();
    let raw =
        nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(base)).unwrap();
    // SAFETY: `raw` is a fresh descriptor from F_DUPFD that nothing else owns.
    unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) }
}

/// Whether `fd` is an open descriptor of this process.
fn is_open(fd: RawFd) -> bool {
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok()
}

/// The loop holds the descriptor it watches: however the caller drops its
/// own handles, the descriptor stays open (and watched) until
/// `remove_reader`, which closes it then. (Closing a borrowed one while
/// registered is refused at compile time: see `EventLoop::add_reader`'s
/// `compile_fail` example.) A descriptor a reactor socket already waits on
/// is refused with an error, not registered twice.
#[test]
fn a_registered_descriptor_cannot_be_closed_until_it_is_removed() {
    let mut event_loop = EventLoop::new().unwrap();
    let (ours, mut peer) = std_unix::UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let ours = high_fd(ours, 700);
    let raw = ours.as_raw_fd();
    let fired = Rc::new(Cell::new(0));
    let count = fired.clone();
    // Handed over for good: the caller keeps only the number.
    event_loop
        .add_reader(ours, move || count.set(count.get() + 1))
        .unwrap();
    assert!(is_open(raw), "the loop keeps it open");
    peer.write_all(b"x").unwrap();
    run_until(&mut event_loop, || fired.get() >= 1);
    assert!(event_loop.remove_reader(raw));
    assert!(!is_open(raw), "removing drops the loop's owner, closing it");

    // Already waited on by a reactor socket of this loop: refused, reported.
    let (a, _b) = tcp_pair();
    let a = Rc::new(a);
    let waiter = a.clone();
    drop(event_loop.spawn("reader", move || {
        let mut buf = [0u8; 1];
        let _ = waiter.read(&mut buf);
    }));
    event_loop.run_once().unwrap(); // the task waits: `a` is registered
                                    // What it was given is dropped with no borrow of the loop held: a
                                    // holder whose `Drop` calls the loop must not find it "already borrowed".
    struct CallsTheLoopOnDrop(Rc<TcpStream>, yieldloop::Handle);
    impl std::os::fd::AsFd for CallsTheLoopOnDrop {
        fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
            self.0.as_fd()
        }
    }
    impl Drop for CallsTheLoopOnDrop {
        fn drop(&mut self) {
            assert!(!self.1.remove_reader(self.0.as_raw_fd()));
        }
    }
    let holder = CallsTheLoopOnDrop(a.clone(), event_loop.handle());
    let error = event_loop.add_reader(holder, || {}).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AlreadyExists);
    assert!(error.to_string().contains("already registered"), "{error}");
}

/// A holder that does *not* own its descriptor: the misuse `add_reader`'s
/// signature prevents, built by hand with `unsafe` to see what happens.
struct NotOwned(RawFd);

impl std::os::fd::AsFd for NotOwned {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: deliberately broken by the test below (it closes the
        // descriptor while registered); the loop only passes the number to
        // select(2) and epoll_ctl, which report a closed one as EBADF.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.0) }
    }
}

/// Closing a registered descriptor behind the loop's back (only possible
/// with a raw `close`) is reported, not undefined: select(2) names it; epoll
/// forgets a closed descriptor by itself, so the callback just never runs.
#[test]
fn a_descriptor_closed_behind_the_loops_back_is_reported() {
    for kind in SelectorKind::ALL {
        let mut event_loop = Builder::new().selector(kind).build().unwrap();
        let (ours, _peer) = std_unix::UnixStream::pair().unwrap();
        // A high number, so no other test thread reuses it once closed.
        let raw = high_fd(ours, 900).into_raw_fd();
        let fired = Rc::new(Cell::new(0));
        let count = fired.clone();
        event_loop
            .add_reader(NotOwned(raw), move || count.set(count.get() + 1))
            .unwrap();
        nix::unistd::close(raw).unwrap(); // the misuse
        let _ = event_loop.call_later(Duration::from_millis(10), || {});
        let result = event_loop.run_once();
        match kind {
            SelectorKind::Select => {
                let message = result.unwrap_err().to_string();
                assert!(
                    message.contains(&format!(
                        "descriptor {raw} was closed while still registered"
                    )),
                    "{message}"
                );
            }
            SelectorKind::Polling | SelectorKind::Epoll => result.unwrap(),
        }
        assert_eq!(fired.get(), 0);
        assert!(event_loop.remove_reader(raw));
    }
}

#[test]
fn a_handle_to_a_dropped_loop_refuses_to_watch() {
    let event_loop = EventLoop::new().unwrap();
    let handle = event_loop.handle();
    drop(event_loop);
    let (ours, _peer) = std_unix::UnixStream::pair().unwrap();
    let ours = high_fd(ours, 800);
    let raw = ours.as_raw_fd();
    let error = handle.add_reader(ours, || {}).unwrap_err();
    assert!(
        error.to_string().contains("the event loop is gone"),
        "{error}"
    );
    assert!(!is_open(raw), "what it was given is dropped");
    assert!(!handle.remove_reader(raw));
}

#[test]
fn dropping_the_loop_closes_what_it_watched() {
    let (ours, _peer) = std_unix::UnixStream::pair().unwrap();
    let ours = high_fd(ours, 750);
    let raw = ours.as_raw_fd();
    let event_loop = EventLoop::new().unwrap();
    event_loop.add_reader(ours, || {}).unwrap();
    assert!(is_open(raw));
    drop(event_loop);
    assert!(!is_open(raw));
}
