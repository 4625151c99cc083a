//! `kill -USR1 <pid>` on a running server prints its tasks (lessons 06 and
//! the delay-server: the task tree with backtraces; lesson 05: the select
//! loop's `to_read`, `to_write` and sleepers) to standard error, and the
//! server keeps serving (lesson 11). Every wait has a deadline.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long the dump, or any answer, may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// A server started on `--port 0`, its standard error collected as it comes.
struct Server {
    child: common::TimedChild,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(binary: &str) -> Server {
        let mut command = Command::new(binary);
        command
            .args(["--port", "0", "--seconds", "60"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = common::spawn_within(&mut command, binary, Duration::from_secs(90));
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = lines
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("{binary} printed no first line"));
        // Keep reading, or the server would block once a pipe is full.
        thread::spawn(move || lines.for_each(drop));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut from, into) = (child.stderr.take().expect("piped stderr"), stderr.clone());
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = from.read(&mut buffer) {
                into.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line was {first:?}"))
            .parse()
            .expect("HOST:PORT");
        Server {
            child,
            addr,
            stderr,
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        stream
    }

    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, signal).expect("kill");
    }

    /// Waits until standard error contains `text`; returns all of it.
    fn wait_for_stderr(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let stderr = self.stderr.lock().unwrap().clone();
            if stderr.contains(text) {
                return stderr;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{text:?} not on stderr within {DEADLINE:?}:\n{stderr}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-C, and a clean exit.
    fn stop(mut self) {
        self.signal(Signal::SIGINT);
        let status = self.child.wait();
        assert!(status.success(), "{status}");
    }
}

/// One upper-cased echo.
fn echo(client: &mut TcpStream, message: &[u8]) {
    client.write_all(message).unwrap();
    let mut back = vec![0; message.len()];
    client.read_exact(&mut back).expect("the echo");
    assert_eq!(back, message.to_ascii_uppercase());
}

#[test]
fn lesson_06_prints_its_task_tree_with_backtraces_and_keeps_serving() {
    let server = Server::start(env!("CARGO_BIN_EXE_06-reactor"));
    let mut client = server.connect();
    echo(&mut client, b"before");
    server.signal(Signal::SIGUSR1);
    let dump = server.wait_for_stderr("(end of the task tree)");
    for line in [
        "SIGUSR1: the loop's tasks",
        "task 1 \"main\" (parent none): timer at",
        "  task 2 \"server\" (parent 1): fd ",
        "      at yieldloop::reactor::tcp::TcpListener::accept",
        "      at _06_reactor::accept_connections",
        "\"client\" (parent 2): fd ",
        "at _06_reactor::handle_client",
    ] {
        assert!(dump.contains(line), "{line:?} missing from:\n{dump}");
    }
    // Still serving: the same client, and a new one.
    echo(&mut client, b"after");
    echo(&mut server.connect(), b"new");
    // A second signal, a second dump.
    server.signal(Signal::SIGUSR1);
    let started = Instant::now();
    while server
        .stderr
        .lock()
        .unwrap()
        .matches("(end of the task tree)")
        .count()
        < 2
    {
        assert!(started.elapsed() < DEADLINE, "no second dump");
        thread::sleep(Duration::from_millis(20));
    }
    drop(client);
    server.stop();
}

#[test]
fn the_delay_server_prints_its_task_tree_and_keeps_serving() {
    let server = Server::start(env!("CARGO_BIN_EXE_delay-server"));
    server.signal(Signal::SIGUSR1);
    let dump = server.wait_for_stderr("(end of the task tree)");
    for line in [
        "task 1 \"accept\"",
        "task 2 \"ctrl-c\"",
        "at delay_server::accept_connections",
    ] {
        assert!(dump.contains(line), "{line:?} missing from:\n{dump}");
    }
    let mut client = server.connect();
    client
        .write_all(b"GET /stats HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop();
}

#[test]
fn lesson_05_prints_what_its_select_loop_waits_for_and_keeps_serving() {
    let server = Server::start(env!("CARGO_BIN_EXE_05-select-echo"));
    let mut client = server.connect();
    echo(&mut client, b"before");
    server.signal(Signal::SIGUSR1);
    let dump = server.wait_for_stderr("timeout:");
    for line in [
        "SIGUSR1: the select loop's state",
        "timers:   ",
        " task \"ticker\"\n",
        "selector: fd ",
        " read  task \"stop_on_ctrl_c\"\n",
        " read  task \"server\"\n",
    ] {
        assert!(dump.contains(line), "{line:?} missing from:\n{dump}");
    }
    // Three descriptors to read: Ctrl-C's pipe, the listener, the client.
    assert_eq!(dump.matches(" read  task ").count(), 3, "{dump}");
    echo(&mut client, b"after");
    drop(client);
    server.stop();
}
