//! Buffered streams over real sockets: `open_connection` by host name, a
//! line and an exact read across pieces the peer sent apart, the size limit
//! of `read_to_end`, and the writer's flush. Each loop runs under a
//! watchdog: a hang fails the test instead of stalling the suite.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use yieldloop::{open_connection, EventLoop, StreamReader, TooLong, UnixStream};

/// Runs `work` in a loop on a thread of its own; fails if it takes too long.
fn with_watchdog<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(work());
    });
    result
        .recv_timeout(Duration::from_secs(20))
        .expect("the loop finished within 20 s")
}

#[test]
fn open_connection_reads_lines_and_lengths_across_pieces() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = thread::spawn(move || {
        let (mut peer, _) = listener.accept().expect("accept");
        let mut request = [0; 6];
        peer.read_exact(&mut request).expect("the request");
        // The answer in awkward pieces: mid-line, mid-body.
        for piece in [&b"HTTP/1.1 2"[..], b"00 OK\r\nhel", b"lo", b" world"] {
            peer.write_all(piece).expect("a piece");
            peer.flush().expect("flush");
            thread::sleep(Duration::from_millis(20));
        }
        request
    });
    let (status, exact, rest) = with_watchdog(move || {
        let mut event_loop = EventLoop::new().expect("a loop");
        event_loop
            .run_until_complete(move || {
                let (mut reader, mut writer) = open_connection("localhost", port)?;
                writer.write_all(b"PING\r\n")?;
                writer.flush()?;
                let status = reader.read_line()?;
                let exact = reader.read_exact(5)?;
                let rest = reader.read_to_end(100)?;
                Ok::<_, std::io::Error>((status, exact, rest))
            })
            .expect("the task ran")
            .expect("no I/O error")
    });
    assert_eq!(server.join().expect("server"), *b"PING\r\n");
    assert_eq!(status, b"HTTP/1.1 200 OK\r\n");
    assert_eq!(exact, b"hello");
    assert_eq!(rest, b" world");
}

#[test]
fn read_to_end_past_its_limit_is_a_clear_error_on_a_unix_stream() {
    let message = with_watchdog(|| {
        let mut event_loop = EventLoop::new().expect("a loop");
        event_loop
            .run_until_complete(|| {
                let (ours, theirs) = UnixStream::pair().expect("a pair");
                let (read, _write) = ours.into_split();
                let mut reader = StreamReader::new(read);
                theirs.write_all(&[b'x'; 3000]).expect("write");
                drop(theirs);
                let error = reader.read_to_end(1000).expect_err("over the limit");
                let inner = error.get_ref().and_then(|e| e.downcast_ref::<TooLong>());
                assert_eq!(inner.map(|too_long| too_long.limit), Some(1000));
                error.to_string()
            })
            .expect("the task ran")
    });
    assert_eq!(
        message,
        "the whole stream is longer than the limit of 1000 bytes"
    );
}
