//! Lessons 06 and 07 run as a learner runs them. Lesson 06's server is driven
//! from the outside, well and badly: each misbehaving-peer test ends by
//! checking that a fresh client is still served.

mod common;

use common::server::{peer_name, round_trip, run_load, EchoServer};
use common::{ab_trace, expected, run_bin, stdout, trace};

const REACTOR: &str = env!("CARGO_BIN_EXE_06-reactor");
const TASKS: &str = env!("CARGO_BIN_EXE_07-tasks");

fn start() -> EchoServer {
    EchoServer::start(REACTOR, &[])
}

#[test]
fn lesson_06_replays_the_a_b_trace_on_the_reactor() {
    let out = stdout(&run_bin(REACTOR, &["ab", "--virtual"]));
    assert_eq!(trace(&out), ab_trace());
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
fn lesson_06_unix_runs_the_tcp_echo_over_a_unix_socket() {
    let out = stdout(&run_bin(REACTOR, &["unix", "--virtual"]));
    assert_eq!(
        trace(&out),
        expected(&[
            (0, "listening on a Unix socket: echo.sock"),
            (0, "client: sent \"hello\""),
            (0, "server: a client connected"),
            (0, "client: got \"HELLO\""),
            (0, "client: sent \"over a Unix socket\""),
            (0, "client: got \"OVER A UNIX SOCKET\""),
            (0, "server: the client closed its side; closing ours"),
            (0, "client: the server closed the connection"),
        ])
    );
}

#[test]
fn lesson_06_udp_echoes_whole_datagrams_and_notices_a_truncated_one() {
    let out = stdout(&run_bin(REACTOR, &["udp", "--virtual"]));
    assert_eq!(
        trace(&out),
        expected(&[
            (0, "client: sent \"hello\""),
            (0, "client: got \"HELLO\""),
            (0, "client: sent \"datagrams\""),
            (0, "client: got \"DATAGRAMS\""),
            (0, "client: sent \"a datagram longer than sixteen bytes\""),
            (
                0,
                "server: a 36-byte datagram did not fit in 16 bytes: the rest is lost"
            ),
            (0, "client: got \"A DATAGRAM LONGE\""),
            (0, "server: bye"),
        ])
    );
}

#[test]
fn lesson_06_echoes_upper_cased_bytes_and_logs_who_comes_and_goes() {
    let server = start();
    let mut client = server.connect();
    let name = peer_name(&client);
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
    server.assert_exits_cleanly("1.5 s are up: stopping", client);
    let log = server.log();
    assert!(log.iter().any(|l| l.ends_with(" tick 1")), "{log:?}");
}

#[test]
fn lesson_06_stops_cleanly_on_ctrl_c() {
    start().assert_ctrl_c_stops_cleanly();
}

#[test]
fn a_peer_that_resets_mid_message_does_not_hurt_the_server() {
    start().assert_survives_a_reset_mid_message();
}

#[test]
fn a_half_closed_peer_gets_its_echo_and_then_the_end() {
    start().assert_half_close_gets_its_half_back();
}

#[test]
fn a_peer_that_never_reads_stalls_only_itself() {
    start().assert_a_peer_that_never_reads_stalls_only_itself();
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
    let lines = trace(&out);
    // Parts 1 to 3 only wait on timers: their times are exact.
    assert_eq!(
        lines[..11],
        expected(&[
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
            (
                800,
                "lookup(nowhere.invalid) failed: no address for \"nowhere.invalid\"",
            ),
        ])
    );
    assert_update_index_overlapped(&out);
}

#[test]
fn lesson_07_on_the_real_clock_overlaps_the_fetches() {
    assert_update_index_overlapped(&stdout(&run_bin(TASKS, &[])));
}

/// Part 4 mixes timers with real loopback I/O, so its times are checked
/// loosely (on the virtual clock too: the clock can only jump past I/O the
/// kernel has not delivered yet): every page arrives, then the processing
/// steps, and the fetches overlapped.
fn assert_update_index_overlapped(out: &str) {
    let part_4: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("part 4: update_index, 5 pages from http://127.0.0.1:"))
        .map(|l| l.split_once(' ').map_or(l, |(_, message)| message))
        .collect();
    let mut pages = part_4[1..6].to_vec();
    pages.sort();
    let want: Vec<String> = (1..=5)
        .map(|n| format!("got /page/{n}: 59 bytes"))
        .collect();
    assert_eq!(pages, want, "{out}");
    assert_eq!(
        part_4[7..],
        [
            "process_data: 14 distinct words",
            "update_database: 14 words stored",
            "update_cache: 14 words cached",
        ],
        "{out}"
    );
    let took: f64 = part_4[6]
        .strip_prefix("fetched 5 pages in ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // Five 0.2 s pages one after another take 1.0 s; overlapped, about 0.2 s.
    // The bound is loose on purpose: it tells overlap from sequence, not speed.
    assert!(took < 0.6, "{out}");
}
