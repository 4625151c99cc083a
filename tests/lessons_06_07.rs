//! Lessons 06 and 07 run as a learner runs them. Lesson 06's server is driven
//! from the outside, well and badly: each misbehaving-peer test ends by
//! checking that a fresh client is still served.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::server::{run_load, EchoServer};
use common::{expected, run_bin, stdout, trace};
use socket2::SockRef;

const REACTOR: &str = env!("CARGO_BIN_EXE_06-reactor");
const TASKS: &str = env!("CARGO_BIN_EXE_07-tasks");

fn start() -> EchoServer {
    EchoServer::start(REACTOR, &[])
}

/// Sends `message` and reads back exactly as many bytes.
fn round_trip(client: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    client.write_all(message).unwrap();
    let mut echoed = vec![0; message.len()];
    client.read_exact(&mut echoed).expect("the echo");
    echoed
}

#[test]
fn lesson_06_replays_the_a_b_trace_on_the_reactor() {
    let out = stdout(&run_bin(REACTOR, &["ab", "--virtual"]));
    assert_eq!(
        trace(&out),
        expected(&[
            (0, "a enter"),
            (0, "b enter"),
            (500, "b middle"),
            (1000, "a exit"),
            (1000, "b exit"),
        ])
    );
    assert!(out.contains("a  ●─────────●\n"), "{out}");
    assert!(out.contains("b  ●────●────●\n"), "{out}");
}

#[test]
fn lesson_06_callbacks_run_in_time_order_and_a_cancelled_one_never() {
    let out = stdout(&run_bin(REACTOR, &["callbacks", "--virtual"]));
    assert_eq!(
        trace(&out),
        expected(&[
            (
                0,
                "call_soon ran, first: it was ready before any timer was due"
            ),
            (0, "cancelling the 0.3 s timer: true"),
            (200, "call_later(0.2) ran"),
            (500, "call_at(0.5) ran"),
        ])
    );
}

#[test]
fn lesson_06_echoes_upper_cased_bytes_and_logs_who_comes_and_goes() {
    let server = start();
    let mut client = server.connect();
    let name = client.local_addr().unwrap().to_string();
    assert_eq!(
        round_trip(&mut client, b"hello, World 1\n"),
        b"HELLO, WORLD 1\n"
    );
    // Not text: every byte value goes through; only a-z change.
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(round_trip(&mut client, &all), all.to_ascii_uppercase());
    server.wait_for_line(&format!("{name} connected"));
    drop(client);
    server.wait_for_line(&format!("{name} disconnected"));
    server.assert_serves_fresh_client();
}

#[test]
fn lesson_06_ticks_with_call_later_and_stops_after_seconds() {
    let mut server = EchoServer::start(REACTOR, &["--seconds", "1.5"]);
    let mut client = server.connect();
    assert_eq!(round_trip(&mut client, b"hi"), b"HI");
    assert!(server.wait().success());
    let log = server.log();
    assert!(log.iter().any(|l| l.ends_with(" tick 1")), "{log:?}");
    assert!(
        log.iter().any(|l| l.ends_with("1.5 s are up: stopping")),
        "{log:?}"
    );
    assert!(
        log.last().is_some_and(|l| l.ends_with("stopped")),
        "{log:?}"
    );
    // Dropping the loop unwound the client's task, which closed its socket.
    let mut rest = Vec::new();
    assert_eq!(client.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn lesson_06_stops_cleanly_on_ctrl_c() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let mut server = start();
    let mut client = server.connect();
    assert_eq!(round_trip(&mut client, b"hi"), b"HI");
    kill(Pid::from_raw(server.pid() as i32), Signal::SIGINT).unwrap();
    assert!(server.wait().success(), "Ctrl-C should be a clean exit");
    let log = server.log();
    assert!(
        log.iter().any(|l| l.ends_with("Ctrl-C: stopping")),
        "{log:?}"
    );
    let mut rest = Vec::new();
    assert_eq!(client.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn a_peer_that_resets_mid_message_does_not_hurt_the_server() {
    let server = start();
    let mut client = server.connect();
    let name = client.local_addr().unwrap().to_string();
    client.write_all(b"half a mess").unwrap();
    // Linger 0: close sends RST instead of FIN.
    SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    server.wait_for_line(&format!("{name} disconnected"));
    server.assert_serves_fresh_client();
}

#[test]
fn a_half_closed_peer_gets_its_echo_and_then_the_end() {
    let server = start();
    let mut client = server.connect();
    client.write_all(b"last words").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"LAST WORDS");
    server.assert_serves_fresh_client();
}

#[test]
fn a_peer_that_never_reads_stalls_only_itself() {
    let server = start();
    let hog = server.connect();
    SockRef::from(&hog).set_recv_buffer_size(64 * 1024).unwrap();
    SockRef::from(&hog).set_send_buffer_size(64 * 1024).unwrap();
    hog.set_nonblocking(true).unwrap();
    // Push until the server stops taking bytes. If it kept reading while its
    // echo could not be sent, it would have to buffer, and we would hit CAP.
    const CAP: usize = 64 << 20;
    let chunk = [b'q'; 64 * 1024];
    let (mut pushed, mut progress) = (0usize, Instant::now());
    while pushed < CAP && progress.elapsed() < Duration::from_millis(500) {
        match (&hog).write(&chunk) {
            Ok(n) => (pushed, progress) = (pushed + n, Instant::now()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("writing to the server: {e}"),
        }
    }
    assert!(
        pushed < CAP,
        "the server took {pushed} bytes from a peer that reads nothing"
    );
    server.assert_serves_fresh_client();
    // Its task was suspended in write_all, not lost: now the echo flows.
    hog.set_nonblocking(false).unwrap();
    hog.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut echoed = vec![0u8; pushed];
    (&hog).read_exact(&mut echoed).unwrap();
    assert!(echoed.iter().all(|&b| b == b'Q'));
}

#[test]
fn a_peer_that_connects_and_says_nothing_holds_up_nobody() {
    let server = start();
    let _silent = server.connect();
    server.assert_serves_fresh_client();
}

#[test]
fn two_hundred_clients_at_once_each_get_every_byte_back() {
    let server = start();
    run_load(server.addr, 200, 20, 64);
    server.assert_serves_fresh_client();
}

#[test]
fn lesson_07_on_the_virtual_clock_prints_exact_times() {
    let out = stdout(&run_bin(TASKS, &["--virtual"]));
    let mut lines = trace(&out);
    // The server's port differs per run.
    for (_, message) in &mut lines {
        if message.starts_with("part 4: update_index") {
            *message = "part 4: update_index, 5 pages from http://…".into();
        }
    }
    let mut want = expected(&[
        (0, "part 1: spawn, join, gather"),
        (100, "join(answer) = 42"),
        (400, "gather(squares) = [1, 4, 9]"),
        (400, "part 2: a task that panics"),
        (
            400,
            "join(faulty): task \"faulty\" panicked: index out of bounds: the len is 0 but the index is 3",
        ),
        (500, "worker 1 finished"),
        (600, "worker 2 finished"),
        (600, "the loop went on: 2 of 2 workers finished"),
        (600, "part 3: a callback API as straight-line code"),
        (700, "lookup(example.org) = 93.184.215.14"),
        (800, "lookup(nowhere.invalid) failed: no address for \"nowhere.invalid\""),
        (800, "part 4: update_index, 5 pages from http://…"),
    ]);
    for page in 1..=5 {
        want.extend(expected(&[(1000, &format!("got /page/{page}: 59 bytes"))]));
    }
    want.extend(expected(&[
        (1000, "fetched 5 pages in 0.2 s (one after another: 1.0 s)"),
        (1000, "process_data: 14 distinct words"),
        (1050, "update_database: 14 words stored"),
        (1050, "update_cache: 14 words cached"),
    ]));
    // The fetches finish in whatever order the sockets become ready.
    lines[12..17].sort();
    assert_eq!(lines, want);
}

#[test]
fn lesson_07_on_the_real_clock_overlaps_the_fetches() {
    let out = stdout(&run_bin(TASKS, &[]));
    let line = out
        .lines()
        .find(|l| l.contains("fetched 5 pages in"))
        .unwrap_or_else(|| panic!("{out}"));
    let took: f64 = line
        .split("fetched 5 pages in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // Five 0.2 s pages one after another take 1.0 s; overlapped, about 0.2 s.
    // The bound is loose on purpose: it tells overlap from sequence, not speed.
    assert!(took < 0.6, "{line}");
    assert!(out.contains("update_cache: 14 words cached"), "{out}");
}
