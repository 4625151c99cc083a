//! `delay-server`, driven by a plain std `TcpStream` client: each endpoint,
//! bad requests, resets, slow clients, and `/stats`' count of the most
//! requests it saw at once.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::server::EchoServer;
use socket2::SockRef;

const SERVER: &str = env!("CARGO_BIN_EXE_delay-server");

/// Sends `request` as it is, reads the whole answer: (status, body).
fn exchange(server: &EchoServer, request: &[u8]) -> (u16, String) {
    let mut client = server.connect();
    client.write_all(request).unwrap();
    read_answer(&mut client)
}

fn read_answer(client: &mut TcpStream) -> (u16, String) {
    let mut answer = Vec::new();
    client
        .read_to_end(&mut answer)
        .expect("the answer, then the end of the connection");
    let answer = String::from_utf8(answer).expect("UTF-8");
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{head}"));
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head}"));
    assert_eq!(body.len(), length, "Content-Length matches the body");
    (status, body.to_string())
}

fn get(server: &EchoServer, path: &str) -> (u16, String) {
    exchange(
        server,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// `max_in_flight` from `/stats`.
fn max_in_flight(server: &EchoServer) -> u64 {
    let (status, body) = get(server, "/stats");
    assert_eq!(status, 200);
    let after = body
        .split("\"max_in_flight\": ")
        .nth(1)
        .unwrap_or_else(|| panic!("{body}"));
    after
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or_else(|_| panic!("{body}"))
}

#[test]
fn delay_answers_with_the_name_after_the_delay() {
    let server = EchoServer::start(SERVER, &[]);
    let started = Instant::now();
    assert_eq!(
        get(&server, "/delay/300/alpha"),
        (200, "alpha\n".to_string())
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(get(&server, "/delay/0/b?x=1"), (200, "b\n".to_string()));
    server.wait_for_line("GET /delay/300/alpha 200");
}

#[test]
fn status_answers_with_that_status_and_stats_is_json() {
    let server = EchoServer::start(SERVER, &[]);
    assert_eq!(get(&server, "/status/404").0, 404);
    assert_eq!(get(&server, "/status/500").0, 500);
    assert_eq!(
        get(&server, "/status/200"),
        (200, "status 200\n".to_string())
    );
    let (status, body) = get(&server, "/stats");
    assert_eq!(status, 200);
    assert!(
        body.starts_with("{\"requests\": 4, \"in_flight\": 1, \"max_in_flight\": 1}"),
        "{body}"
    );
}

#[test]
fn bad_requests_get_a_400_or_the_right_refusal() {
    let server = EchoServer::start(SERVER, &[]);
    let (status, body) = exchange(&server, b"hello there\r\n\r\n");
    assert_eq!(status, 400);
    assert!(body.contains("GET /path HTTP/1.1"), "{body}");
    assert_eq!(
        exchange(&server, b"GET /delay/soon/a HTTP/1.1\r\n\r\n").0,
        400
    );
    assert_eq!(
        exchange(&server, b"GET /delay/99999999/a HTTP/1.1\r\n\r\n").0,
        400
    );
    assert_eq!(exchange(&server, b"GET /status/99 HTTP/1.1\r\n\r\n").0, 400);
    assert_eq!(
        exchange(&server, b"GET /status/abc HTTP/1.1\r\n\r\n").0,
        400
    );
    assert_eq!(exchange(&server, b"GET /\xff\xfe HTTP/1.1\r\n\r\n").0, 400);
    assert_eq!(exchange(&server, b"POST /stats HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(get(&server, "/nowhere").0, 404);
    let huge = format!(
        "GET /stats HTTP/1.1\r\nX-Long: {}\r\n\r\n",
        "x".repeat(20_000)
    );
    assert_eq!(exchange(&server, huge.as_bytes()).0, 431);
    // Still serving.
    assert_eq!(get(&server, "/delay/0/ok").0, 200);
}

#[test]
fn resets_and_slow_clients_hold_up_only_themselves() {
    let server = EchoServer::start(SERVER, &[]);
    // A client that resets mid-request.
    let reset = server.connect();
    (&reset).write_all(b"GET /delay/50").unwrap();
    SockRef::from(&reset)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(reset);
    // A client that resets while its delay runs.
    let mut waiting = server.connect();
    waiting
        .write_all(b"GET /delay/200/gone HTTP/1.1\r\n\r\n")
        .unwrap();
    SockRef::from(&waiting)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(waiting);
    // A slow client: half a request head, then nothing.
    let mut slow = server.connect();
    slow.write_all(b"GET /delay/0/slow HT").unwrap();
    // Everyone else is served meanwhile.
    let started = Instant::now();
    assert_eq!(get(&server, "/delay/100/fine"), (200, "fine\n".to_string()));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "held up: {:?}",
        started.elapsed()
    );
    // The slow one finishes its head and is answered.
    slow.write_all(b"TP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut slow), (200, "slow\n".to_string()));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(get(&server, "/stats").0, 200);
}

#[test]
fn stats_counts_the_most_requests_in_flight_at_once() {
    let server = EchoServer::start(SERVER, &[]);
    assert_eq!(max_in_flight(&server), 1, "the stats request itself");
    let server = Arc::new(server);
    let start_together = Arc::new(Barrier::new(5));
    let clients: Vec<_> = (0..5)
        .map(|i| {
            let (server, start_together) = (server.clone(), start_together.clone());
            thread::spawn(move || {
                start_together.wait();
                get(&server, &format!("/delay/1500/c{i}"))
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        assert_eq!(client.join().unwrap(), (200, format!("c{i}\n")));
    }
    // Five at once (their 1.5 s overlap); the stats request came after them.
    assert_eq!(max_in_flight(&server), 5);
}

#[test]
fn ctrl_c_stops_it_cleanly() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let mut server = EchoServer::start(SERVER, &[]);
    assert_eq!(get(&server, "/status/200").0, 200);
    kill(
        Pid::from_raw(i32::try_from(server.pid()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    assert!(server.wait().success());
    server.wait_for_line("stopped");
}

#[test]
fn help_and_bad_flags() {
    let help = std::process::Command::new(SERVER)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--host") && text.contains("--port"), "{text}");
    let bad = std::process::Command::new(SERVER)
        .args(["--port", "99999"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(!String::from_utf8_lossy(&bad.stderr).contains("panicked"));
}

#[test]
fn a_request_head_that_never_ends_gets_a_408() {
    let server = EchoServer::start(SERVER, &[]);
    let mut stalled = server.connect();
    stalled.write_all(b"GET /stats HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let (status, _) = read_answer(&mut stalled);
    assert_eq!(status, 408);
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
}
