//! Lessons 06 and 07 run as a learner runs them. Lesson 06's server is driven
//! from the outside, well and badly: each misbehaving-peer test ends by
//! checking that a fresh client is still served.

mod common;

use common::server::{peer_name, round_trip, run_load, EchoServer};
use common::{assert_ab_run, expected, run_bin, stdout, trace};

const REACTOR: &str = env!("CARGO_BIN_EXE_06-reactor");
const TASKS: &str = env!("CARGO_BIN_EXE_07-tasks");

fn start() -> EchoServer {
    EchoServer::start(REACTOR, &[])
}

#[test]
fn lesson_06_replays_the_a_b_trace_on_the_reactor() {
    let out = stdout(&run_bin(REACTOR, &["ab", "--virtual"]));
    assert_ab_run(&out);
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
    let name = peer_name(&client);
    assert_eq!(round_trip(&mut client, b"hi"), b"HI");
    server.assert_exits_cleanly("1.5 s are up: stopping", client);
    let log = server.log();
    assert!(log.iter().any(|l| l.ends_with(" tick 1")), "{log:?}");
    // The server's scope cancelled the connected client and waited for it
    // before `main` went on: the client ended first, not with the loop's drop.
    let ends = |text: String| log.iter().position(|l| l.ends_with(&text));
    let client_ended = ends(format!("{name} disconnected: the server is stopping"));
    let stopping = ends("1.5 s are up: stopping".to_string());
    assert!(client_ended.is_some() && client_ended > stopping, "{log:?}");
}

#[test]
fn lesson_06_stops_cleanly_on_ctrl_c() {
    start().assert_ctrl_c_stops_cleanly();
}

#[test]
fn a_peer_that_resets_mid_message_does_not_hurt_the_server() {
    start().assert_survives_a_reset_mid_message();
}

/// The clients are children of one scope, where a child's error would
/// cancel its siblings: a reset must be handled inside its own client task.
#[test]
fn a_peer_that_resets_does_not_cancel_the_other_clients() {
    let server = start();
    let mut before = server.connect();
    let name = peer_name(&before);
    assert_eq!(round_trip(&mut before, b"before"), b"BEFORE");
    server.assert_survives_a_reset_mid_message();
    // The client connected before the reset is still served...
    assert_eq!(round_trip(&mut before, b"still here"), b"STILL HERE");
    drop(before);
    // ...and it ended as a peer that leaves, not as one the server stopped.
    let line = server.wait_for_line(&format!("{name} disconnected"));
    assert!(line.ends_with(&format!("{name} disconnected")), "{line}");
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

/// Parts 4 to 6 mix timers with real loopback I/O, so their times are
/// checked loosely (on the virtual clock too: the clock can only jump past
/// I/O the kernel has not delivered yet). Part 4 fetches one page after
/// another (about 1.0 s); parts 5 and 6 overlap the fetches (about 0.2 s).
/// Part 5, the slide's `call_soon(update_cache(result))`, updates the cache
/// *before* `update_index` returns; part 6, fixed, after.
fn assert_update_index_overlapped(out: &str) {
    let messages: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("5 pages from http://127.0.0.1:"))
        .map(|l| l.split_once(' ').map_or(l, |(_, message)| message))
        .collect();
    let part = |title: &str| -> Vec<&str> {
        let start = messages
            .iter()
            .position(|m| m.starts_with(title))
            .unwrap_or_else(|| panic!("no {title:?} in:\n{out}"));
        messages[start + 1..]
            .iter()
            .take_while(|m| !m.starts_with("part "))
            .copied()
            .collect()
    };
    let pages_in_order: Vec<String> = (1..=5)
        .map(|n| format!("got /page/{n}: 59 bytes"))
        .collect();
    let seconds = |line: &str, how: &str| -> f64 {
        line.strip_prefix(&format!("fetched 5 pages {how} in "))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{line:?} in:\n{out}"))
    };

    let one_by_one = part("part 4: update_index, one page after another");
    // One after another: the pages come in the order they were asked for.
    assert_eq!(one_by_one[..5], pages_in_order, "{out}");
    // Five 0.2 s pages in a row take 1.0 s; overlapped, about 0.2 s. The
    // bounds are loose on purpose: they tell overlap from sequence, not speed.
    assert!(seconds(one_by_one[5], "one after another") > 0.9, "{out}");
    assert_eq!(
        one_by_one[6..],
        [
            "process_data: 14 distinct words",
            "update_database: 14 words stored",
            "update_cache: 14 words cached",
        ],
        "{out}"
    );

    for (title, tail) in [
        (
            "part 5: update_index with tasks, and the slide's call_soon line",
            ["update_cache: 14 words cached", "update_index returns"],
        ),
        (
            "part 6: update_index with tasks, call_soon fixed",
            ["update_index returns", "update_cache: 14 words cached"],
        ),
    ] {
        let lines = part(title);
        let mut pages = lines[..5].to_vec();
        pages.sort();
        assert_eq!(pages, pages_in_order, "{out}");
        assert!(seconds(lines[5], "concurrently") < 0.6, "{out}");
        assert_eq!(
            lines[6..8],
            [
                "process_data: 14 distinct words",
                "update_database: 14 words stored"
            ],
            "{out}"
        );
        assert_eq!(lines[8..], tail, "{title}: {out}");
    }
}

/// The lines of `out` from the one that starts with `from` up to the next
/// `(x)` part title, as (time, message).
fn costs_part(out: &str, from: &str) -> Vec<(std::time::Duration, String)> {
    trace(out)
        .into_iter()
        .skip_while(|(_, message)| !message.starts_with(from))
        .skip(1)
        .take_while(|(_, message)| !message.starts_with('('))
        .collect()
}

/// The messages strictly between the lines starting with `start` and `end`.
fn between(part: &[(std::time::Duration, String)], start: &str, end: &str) -> Vec<String> {
    part.iter()
        .map(|(_, message)| message.clone())
        .skip_while(|message| !message.starts_with(start))
        .skip(1)
        .take_while(|message| !message.starts_with(end))
        .collect()
}

#[test]
fn lesson_06_costs_shows_what_stackful_coroutines_cost() {
    let out = stdout(&run_bin(REACTOR, &["costs"]));
    // (a) Both transfers passed the check before either withdrew: the wait
    // inside audit_log is invisible at the call site.
    let transfers = costs_part(&out, "(a) invisible switch points");
    let order: Vec<&str> = transfers.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        order,
        [
            "audit: alice has sufficient funds for 80",
            "alice -> bob: paid 80",
            "audit: alice has sufficient funds for 80",
            "alice -> carol: paid 80",
            "balances: {\"alice\": -60, \"bob\": 80, \"carol\": 80}",
        ],
        "{out}"
    );
    // (b) and (c): while the task blocks or computes, nothing else runs: no
    // tick, and the line after it comes a whole 0.3 s later.
    for (title, start, end) in [
        (
            "(b) std::thread::sleep in a task",
            "task: std::thread::sleep",
            "task: awake",
        ),
        (
            "(c) a task that never waits",
            "task: 0.3 s of work",
            "task: done",
        ),
    ] {
        let part = costs_part(&out, title);
        assert_eq!(between(&part, start, end), Vec::<String>::new(), "{out}");
        let at = |prefix: &str| {
            part.iter()
                .find(|(_, m)| m.starts_with(prefix))
                .map(|(t, _)| *t)
                .unwrap_or_else(|| panic!("no {prefix:?} in {out}"))
        };
        assert!(
            at(end) - at(start) >= std::time::Duration::from_millis(290),
            "{out}"
        );
        // The ticker ticked before and after: it was frozen, not dead.
        assert!(
            part.iter().filter(|(_, m)| m.starts_with("tick")).count() >= 3,
            "{out}"
        );
    }
    // The fix: with yield_now() between pieces, the ticker goes on.
    let fixed = costs_part(&out, "(c) fixed");
    let ticks_during = between(&fixed, "task: 0.3 s of work", "task: done");
    assert!(ticks_during.iter().any(|m| m.starts_with("tick")), "{out}");
    // (d) Outside a task, sleep says so through its Result.
    assert!(
        out.contains(
            " sleep outside a task: Err(NotInTask): yieldloop::sleep was called outside a task\n"
        ),
        "{out}"
    );
    // (e) The borrow held across sleep() makes the second task panic.
    assert!(
        out.contains("task \"second visit\" panicked: ") && out.contains(" visits counted: 1\n"),
        "{out}"
    );
}

/// "Do not spawn without finalization": lessons 06 and 07 wait for every
/// task they start (a scope, a join, gather), except one detached spawn kept
/// as the bad example, labelled in the code and in its chapter, which links
/// to lesson 08 where the fix is taught.
#[test]
fn lessons_06_and_07_detach_exactly_one_task_the_labelled_bad_example() {
    let mut detached = Vec::new();
    for file in ["lessons/06_reactor.rs", "lessons/07_tasks.rs"] {
        let source = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let unnamed = code.trim_start().strip_prefix("let _ = ");
            let thrown_away = unnamed.is_some_and(|rest| {
                ["spawn(", "event_loop.spawn(", "handle.spawn("]
                    .iter()
                    .any(|call| rest.starts_with(call))
            });
            if thrown_away || (code.contains("drop(") && code.contains("spawn(")) {
                let comment_above = lines[..at]
                    .iter()
                    .rev()
                    .take_while(|l| l.trim_start().starts_with("//"))
                    .any(|l| l.contains("BAD EXAMPLE"));
                detached.push((file, line.trim().to_string(), comment_above));
            }
        }
    }
    assert_eq!(detached.len(), 1, "{detached:?}");
    let (file, line, labelled) = &detached[0];
    assert!(labelled, "{file}: `{line}` needs a BAD EXAMPLE comment");
    let chapter = std::fs::read_to_string("docs/src/lesson-07-tasks.md").unwrap();
    assert!(chapter.contains("{{#include ../../lessons/07_tasks.rs:detached}}"));
    let section = &chapter[chapter
        .find("### The bad example")
        .expect("a bad-example section")..];
    assert!(section.contains("(lesson-08-cancel.md)"), "{section}");
}
