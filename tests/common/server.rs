//! Driving an echo-server lesson from a test: start it on `--port 0`, read
//! the port from its first line, keep its log, talk to it, stop it.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use socket2::SockRef;

/// How long any single read or write in these tests may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server binary, killed when dropped.
pub struct EchoServer {
    child: Child,
    /// The binary's path, for messages.
    binary: String,
    /// Where it listens, from its first line.
    pub addr: SocketAddr,
    /// Every later line of its standard output (the trace), as it comes.
    log: Arc<Mutex<Vec<String>>>,
    /// The thread that fills `log`; it ends at the server's end of output.
    reader: thread::JoinHandle<()>,
}

impl EchoServer {
    /// Starts `binary --port 0 extra…` and waits (up to [`IO_TIMEOUT`]) for
    /// `listening on …`; a server that never says it fails the test.
    pub fn start(binary: &str, extra: &[&str]) -> EchoServer {
        let mut child = Command::new(binary)
            .args(["--port", "0"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let into = log.clone();
        let (first_line, first) = mpsc::channel();
        // Keep reading, or the server would block once the pipe is full.
        let reader = thread::spawn(move || {
            let _ = first_line.send(lines.next());
            for line in lines {
                let Ok(line) = line else { break };
                into.lock().unwrap().push(line);
            }
        });
        let first = match first.recv_timeout(IO_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(other) => {
                let _ = child.kill();
                panic!("{binary} printed no first line: {other:?}")
            }
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "{binary} did not print `listening on …` within {} s: it hangs",
                    IO_TIMEOUT.as_secs()
                );
            }
        };
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line was {first:?}"))
            .parse()
            .expect("HOST:PORT");
        EchoServer {
            child,
            binary: binary.to_string(),
            addr,
            log,
            reader,
        }
    }

    /// A connected client with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
    }

    /// The log so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) for a log line containing `needle`; returns it.
    pub fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?} in:\n{}",
                self.log().join("\n")
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// A new client is served: every byte comes back as the lesson promises.
    pub fn assert_serves_fresh_client(&self) {
        let mut client = self.connect();
        let message = "fresh client: héllo\u{0}!".as_bytes();
        client.write_all(message).unwrap();
        let mut echoed = vec![0; message.len()];
        client.read_exact(&mut echoed).expect("the echo");
        assert_eq!(echoed, message.to_ascii_uppercase());
    }

    /// A peer that resets the connection (RST) mid-message ends only its own
    /// conversation: the server logs it and serves the next client.
    pub fn assert_survives_a_reset_mid_message(&self) {
        let client = self.connect();
        let name = peer_name(&client);
        (&client).write_all(b"half a mess").unwrap();
        // SO_LINGER 0: closing sends a reset (RST) instead of a polite FIN.
        SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
        self.wait_for_line(&format!("{name} disconnected"));
        self.assert_serves_fresh_client();
    }

    /// A peer that sends half a message and closes its writing side gets that
    /// half back, then the end of the stream.
    pub fn assert_half_close_gets_its_half_back(&self) {
        let mut client = self.connect();
        let name = peer_name(&client);
        let whole: Vec<u8> = (0..64).map(|i| b'a' + (i % 26)).collect();
        client.write_all(&whole[..32]).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut echoed = Vec::new();
        client.read_to_end(&mut echoed).unwrap();
        assert_eq!(echoed, whole[..32].to_ascii_uppercase());
        self.wait_for_line(&format!("{name} disconnected"));
        self.assert_serves_fresh_client();
    }

    /// Ctrl-C (SIGINT) ends the server cleanly.
    pub fn assert_ctrl_c_stops_cleanly(mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;

        let mut client = self.connect();
        assert_eq!(round_trip(&mut client, b"hi"), b"HI");
        let pid = Pid::from_raw(i32::try_from(self.pid()).unwrap());
        kill(pid, Signal::SIGINT).unwrap();
        self.assert_exits_cleanly("Ctrl-C: stopping", client);
    }

    /// Waits for the server to exit and checks that it did so cleanly: exit
    /// status 0, a log line ending with `reason`, `stopped` last, and the
    /// connected `client` sees its connection end.
    pub fn assert_exits_cleanly(&mut self, reason: &str, mut client: TcpStream) {
        assert!(self.wait().success(), "{reason}: should be a clean exit");
        let log = self.log();
        assert!(log.iter().any(|l| l.ends_with(reason)), "{log:?}");
        assert!(
            log.last().is_some_and(|l| l.ends_with("stopped")),
            "{log:?}"
        );
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).unwrap(), 0);
    }

    /// A peer that sends and never reads must not make the server buffer
    /// without bound (its task waits to write instead), nor hold up anyone
    /// else; once it reads, every byte it sent comes back upper-cased.
    pub fn assert_a_peer_that_never_reads_stalls_only_itself(&self) {
        let hog = self.connect();
        // Small buffers on the hog's side, so the stall comes soon.
        SockRef::from(&hog).set_recv_buffer_size(64 * 1024).unwrap();
        SockRef::from(&hog).set_send_buffer_size(64 * 1024).unwrap();
        hog.set_nonblocking(true).unwrap();
        // Push until the server stops taking bytes (no progress for half a
        // second). If it read on while its echo could not be sent, it would
        // have to keep the echo somewhere, and we would reach the cap.
        const CAP: usize = 64 << 20;
        let chunk = [b'q'; 64 * 1024];
        let (mut pushed, mut progress) = (0usize, Instant::now());
        while pushed < CAP && progress.elapsed() < Duration::from_millis(500) {
            match (&hog).write(&chunk) {
                Ok(n) => (pushed, progress) = (pushed + n, Instant::now()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("writing to the server: {e}"),
            }
        }
        assert!(
            pushed < CAP,
            "the server took {pushed} bytes from a client that reads nothing"
        );
        // Meanwhile everyone else is served.
        self.assert_serves_fresh_client();
        // The hog's task was waiting to write, not dropped: now that the hog
        // reads, the upper-cased echo flows, every byte of it.
        hog.set_nonblocking(false).unwrap();
        hog.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut echoed = vec![0u8; pushed];
        (&hog).read_exact(&mut echoed).unwrap();
        assert!(echoed.iter().all(|&b| b == b'Q'));
        drop(hog);
        self.assert_serves_fresh_client();
    }

    /// Waits up to 10 s for the server to exit by itself.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The server has exited, but its last lines may still be on
                // their way through the pipe to the reader thread: wait for
                // it to reach the end of the output, so that `log()` is
                // whole (it once missed the final "stopped").
                while !self.reader.is_finished() {
                    assert!(
                        Instant::now() < deadline,
                        "{}'s output did not end within 10 s of its exit",
                        self.binary
                    );
                    thread::sleep(Duration::from_millis(5));
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop within 10 s: it hangs",
                self.binary
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `message` and reads back exactly as many bytes.
pub fn round_trip(client: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    client.write_all(message).unwrap();
    let mut echoed = vec![0; message.len()];
    client.read_exact(&mut echoed).expect("the echo");
    echoed
}

/// The `HOST:PORT` a server logs for this client.
pub fn peer_name(client: &TcpStream) -> String {
    client.local_addr().unwrap().to_string()
}

/// The byte client `c` sends at offset `k` of message `m`: every value 0–255
/// turns up, ASCII letters of both cases among them.
pub fn load_byte(c: usize, m: usize, k: usize) -> u8 {
    ((c * 31 + m * 7 + k) % 256) as u8
}

/// `clients` connections open at once, each sending `messages` messages of
/// `size` bytes and checking every echoed byte before its next message.
/// Driven by up to 30 threads, each taking its connections in turn.
/// Returns how long the messages took (connecting excluded).
pub fn run_load(addr: SocketAddr, clients: usize, messages: usize, size: usize) -> Duration {
    let threads = clients.clamp(1, 30);
    let connected = Arc::new(std::sync::Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let connected = connected.clone();
            thread::spawn(move || {
                let mine: Vec<usize> = (t..clients).step_by(threads).collect();
                let socks: std::io::Result<Vec<TcpStream>> = mine
                    .iter()
                    .map(|_| {
                        let s = TcpStream::connect(addr)?;
                        s.set_read_timeout(Some(IO_TIMEOUT))?;
                        s.set_write_timeout(Some(IO_TIMEOUT))?;
                        s.set_nodelay(true)?;
                        Ok(s)
                    })
                    .collect();
                connected.wait(); // even on failure, or the main thread would wait forever
                let mut socks = socks.expect("connect");
                let mut echoed = vec![0u8; size];
                for m in 0..messages {
                    for (&c, sock) in mine.iter().zip(&mut socks) {
                        let message: Vec<u8> = (0..size).map(|k| load_byte(c, m, k)).collect();
                        sock.write_all(&message).expect("send");
                    }
                    for (&c, sock) in mine.iter().zip(&mut socks) {
                        sock.read_exact(&mut echoed).expect("echo");
                        for (k, &byte) in echoed.iter().enumerate() {
                            let sent = load_byte(c, m, k);
                            assert_eq!(
                                byte,
                                sent.to_ascii_uppercase(),
                                "client {c} message {m} byte {k}"
                            );
                        }
                    }
                }
            })
        })
        .collect();
    connected.wait();
    let start = Instant::now();
    for worker in workers {
        worker.join().expect("a load thread failed");
    }
    start.elapsed()
}
