//! Child processes: a server under test, or a one-shot measurement.
//!
//! Why a separate process? Two reasons. The load client and the server must
//! not share a descriptor table: 10,000 client sockets plus 10,000 server
//! sockets would not fit in one process's limit of 20,000 open files. And a
//! child's CPU time can be read from `/proc/PID/stat` without counting the
//! client's work.
//!
//! The contract with the child is the course's server contract
//! (`yieldloop::course::cli`): its first line of standard output is exactly
//! `listening on HOST:PORT`. After that line we keep reading and discarding
//! its output, so a server that logs every connection never blocks on a full
//! pipe.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a server may take to print its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server child. Dropping it kills the child and reaps it, so no
/// server outlives the benchmark, even when a measurement fails.
pub struct ServerProcess {
    child: Child,
    /// Where it listens, from its first line.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `command` (which must print `listening on HOST:PORT` first) and
    /// waits for that line.
    pub fn start(mut command: Command) -> io::Result<ServerProcess> {
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = command.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("child has no stdout"))?;
        let (first_line, receiver) = mpsc::channel();
        // The reading thread outlives this function: it drains the pipe until
        // the child exits (end of file), then ends by itself.
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = first_line.send(reader.read_line(&mut line).map(|_| line));
            let _ = io::copy(&mut reader, &mut io::sink());
        });
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = receiver
            .recv_timeout(STARTUP_TIMEOUT)
            .map_err(|_| io::Error::other("server printed no first line in time"))??;
        server.addr = parse_listening_line(&line)?;
        Ok(server)
    }

    /// The child's process id, for `/proc/PID/stat`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // It may have exited already (`--seconds`); both calls then fail
        // harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `listening on 127.0.0.1:40123` → the address.
pub fn parse_listening_line(line: &str) -> io::Result<SocketAddr> {
    line.trim()
        .strip_prefix("listening on ")
        .and_then(|addr| addr.parse().ok())
        .ok_or_else(|| io::Error::other(format!("expected `listening on HOST:PORT`, got {line:?}")))
}

/// Runs `command` to completion and returns its standard output, killing it
/// if it takes longer than `timeout`: a stuck child must not hang the bench.
pub fn output_within(mut command: Command, timeout: Duration) -> Result<String, String> {
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("child has no stdout")?;
    // Read on a thread: the child could fill the pipe and block before exiting.
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed after {timeout:?}"));
            }
            Err(e) => return Err(format!("wait failed: {e}")),
        }
    };
    let text = reader.join().unwrap_or_default();
    if status.success() {
        Ok(text)
    } else {
        Err(format!("exited with {status}"))
    }
}
