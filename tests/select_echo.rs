//! Lesson 05's server, from the outside: each test starts the binary on
//! `--port 0`, does one thing a real client might do (well or badly), checks
//! what came back and what the server logged, and ends by checking that a
//! fresh client is still served. Plus the `echo-client` tool.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::server::{peer_name, round_trip, run_load, EchoServer};

const SERVER: &str = env!("CARGO_BIN_EXE_05-select-echo");
const CLIENT: &str = env!("CARGO_BIN_EXE_echo-client");

fn start() -> EchoServer {
    EchoServer::start(SERVER, &[])
}

#[test]
fn echoes_upper_cased_and_logs_who_comes_and_goes() {
    let server = start();
    let mut client = server.connect();
    let name = peer_name(&client);
    assert_eq!(
        round_trip(&mut client, b"hello, World 123\n"),
        b"HELLO, WORLD 123\n"
    );
    assert_eq!(round_trip(&mut client, b"again"), b"AGAIN");
    server.wait_for_line(&format!("{name} connected"));
    drop(client);
    let gone = server.wait_for_line(&format!("{name} disconnected"));
    assert!(
        gone.ends_with("disconnected"),
        "a clean close is no error: {gone}"
    );
    server.assert_serves_fresh_client();
}

#[test]
fn the_ticker_ticks_while_a_client_is_connected() {
    let server = start();
    let mut client = server.connect();
    assert_eq!(round_trip(&mut client, b"before"), b"BEFORE");
    let tick = server.wait_for_line("tick 1");
    // The trace time of the first tick: a second after the start, or a
    // little more on a busy machine, never less.
    let at: f64 = tick.split(' ').next().unwrap().parse().unwrap();
    assert!((1.0..3.0).contains(&at), "{tick}");
    assert_eq!(round_trip(&mut client, b"after"), b"AFTER");
    server.assert_serves_fresh_client();
}

#[test]
fn a_client_that_resets_mid_message_does_not_hurt_the_server() {
    start().assert_survives_a_reset_mid_message();
}

#[test]
fn a_client_that_closes_after_half_a_message_gets_that_half_back() {
    start().assert_half_close_gets_its_half_back();
}

#[test]
fn binary_bytes_come_back_with_only_ascii_letters_changed() {
    let server = start();
    let mut client = server.connect();
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 20).collect();
    let echoed = round_trip(&mut client, &every_byte);
    for (sent, got) in every_byte.iter().zip(&echoed) {
        assert_eq!(*got, sent.to_ascii_uppercase(), "byte {sent:#04x}");
    }
    // Not valid UTF-8 on purpose: a lone continuation byte and a cut sequence.
    assert_eq!(
        round_trip(&mut client, b"\x80ok\xe2\x82"),
        b"\x80OK\xe2\x82"
    );
    server.assert_serves_fresh_client();
}

#[test]
fn empty_writes_are_harmless() {
    let server = start();
    let mut client = server.connect();
    for _ in 0..10 {
        assert_eq!(client.write(b"").unwrap(), 0);
    }
    assert_eq!(round_trip(&mut client, b"x"), b"X");
    server.assert_serves_fresh_client();
    assert_eq!(round_trip(&mut client, b"still here"), b"STILL HERE");
}

#[test]
fn a_client_that_sends_nothing_holds_up_nobody() {
    let server = start();
    let silent = server.connect();
    let name = peer_name(&silent);
    server.wait_for_line(&format!("{name} connected"));
    server.assert_serves_fresh_client();
    // The silent client is still connected: nothing to read, no end of file.
    silent
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let err = (&silent).read(&mut [0u8; 1]).expect_err("nothing was sent");
    assert!(matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ));
    drop(silent);
    server.wait_for_line(&format!("{name} disconnected"));
    server.assert_serves_fresh_client();
}

#[test]
fn a_client_that_never_reads_is_not_buffered_without_bound() {
    start().assert_a_peer_that_never_reads_stalls_only_itself();
}

#[test]
fn nine_hundred_clients_at_once_each_get_every_byte_back() {
    yieldloop::select::descriptors::raise_open_files_limit(4096).unwrap();
    let server = start();
    run_load(server.addr, 900, 50, 64);
    server.assert_serves_fresh_client();
}

/// Measures the 900-client run, in release mode:
///
/// ```text
/// cargo test --release --test select_echo -- --ignored --nocapture
/// ```
#[test]
#[ignore = "a measurement, not a check: run it in release mode"]
fn measure_nine_hundred_clients() {
    yieldloop::select::descriptors::raise_open_files_limit(4096).unwrap();
    let server = start();
    let (clients, messages) = (900, 50);
    let took = run_load(server.addr, clients, messages, 64);
    let total = clients * messages;
    println!(
        "{clients} clients x {messages} messages of 64 bytes: {total} echoes in {:.3} s = {:.0} msgs/s",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );
}

/// select(2) cannot watch descriptor 1024. The server holds dummy
/// descriptors so that its clients' sockets get 1020, 1021, 1022, 1023 and
/// then 1024: four are served, the fifth is refused with a message naming the
/// limit, and the others carry on.
#[test]
fn a_client_past_fd_setsize_is_closed_and_the_others_are_served() {
    let server = EchoServer::start(SERVER, &["--first-client-fd", "1020"]);
    let mut served: Vec<TcpStream> = Vec::new();
    for i in 0..4 {
        let mut client = server.connect();
        let message = format!("client {i}");
        assert_eq!(
            round_trip(&mut client, message.as_bytes()),
            message.to_uppercase().as_bytes()
        );
        served.push(client);
    }
    let refused = server.connect();
    let name = peer_name(&refused);
    let mut buf = [0u8; 16];
    let end = (&refused).read(&mut buf);
    assert!(
        matches!(end, Ok(0)) || end.is_err(),
        "the fifth client was not closed: {end:?}"
    );
    let why = server.wait_for_line(&format!("{name} disconnected"));
    assert!(why.contains("descriptor 1024"), "{why}");
    assert!(why.contains("FD_SETSIZE = 1024"), "{why}");
    assert!(why.contains("epoll"), "{why}");
    for (i, client) in served.iter_mut().enumerate() {
        assert_eq!(round_trip(client, b"still served"), b"STILL SERVED", "{i}");
    }
    // Free descriptor 1020; the next client gets it and is served.
    let first = served.remove(0);
    let first_name = peer_name(&first);
    drop(first);
    server.wait_for_line(&format!("{first_name} disconnected"));
    server.assert_serves_fresh_client();
}

#[test]
fn seconds_stops_the_server_by_itself() {
    let mut server = EchoServer::start(SERVER, &["--seconds", "1.2"]);
    server.assert_serves_fresh_client();
    let client = server.connect();
    server.assert_exits_cleanly("1.2 s are up: stopping", client);
    let log = server.log();
    assert!(log.iter().any(|l| l.ends_with("tick 1")), "{log:?}");
}

#[test]
fn ctrl_c_stops_the_server_cleanly() {
    start().assert_ctrl_c_stops_cleanly();
}

#[test]
fn echo_client_prints_the_upper_cased_reply() {
    let server = start();
    let port = server.addr.port().to_string();
    let out = common::run_bin(CLIENT, &["--port", &port, "hello"]);
    assert_eq!(common::stdout(&out), "HELLO\n");
    let out = common::run_bin(
        CLIENT,
        &["--host", "127.0.0.1", "--port", &port, "two", "words"],
    );
    assert_eq!(common::stdout(&out), "TWO WORDS\n");
    server.assert_serves_fresh_client();
}

#[test]
fn echo_client_says_clearly_when_nothing_listens() {
    // A port that was free a moment ago; nobody listens on it now.
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let out = common::run_bin_unchecked(CLIENT, &["--port", &port.to_string(), "hello"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// How long client 2 waited for its answer, and whether it was answered
/// before client 1 left, in a starting-point run of lesson 05.
fn second_client_wait(part: &str) -> (f64, bool) {
    let out = common::stdout(&common::run_bin(SERVER, &[part]));
    let lines = common::trace(&out);
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|(_, message)| message.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{out}"))
    };
    let answered = position("client 2: got \"TWO\" after ");
    let waited: f64 = lines[answered]
        .1
        .rsplit(' ')
        .nth(1)
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    (waited, answered < position("client 1: leaves"))
}

#[test]
fn lesson_05_blocking_server_makes_the_second_client_wait_for_the_first() {
    let (waited, before_client_1_left) = second_client_wait("blocking");
    // Client 1 stays 0.5 s and client 2 comes at 0.1 s: about 0.4 s in line.
    assert!(waited >= 0.3, "waited {waited} s");
    assert!(!before_client_1_left);
}

#[test]
fn lesson_05_threads_callbacks_and_coroutines_serve_both_clients_at_once() {
    for part in ["threads", "callbacks", "coroutines"] {
        let (waited, before_client_1_left) = second_client_wait(part);
        assert!(waited < 0.25, "{part}: waited {waited} s");
        assert!(before_client_1_left, "{part}");
    }
}
