//! A newcomer's first hour (issue 9), from the outside: what a learner types
//! wrong, or pipes into `head`, gets a clear answer and a clean end.
//!
//! Every binary started here has a deadline (`common::run_bin_unchecked`,
//! `common::spawn_within`), so a hang fails the test in seconds, naming the
//! binary, instead of holding up the run.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::server::{round_trip, EchoServer};
use common::{command_line, spawn_within, BIN_DEADLINE};

const BLOCKING: &str = env!("CARGO_BIN_EXE_01-blocking");
const GENERATORS: &str = env!("CARGO_BIN_EXE_02-generators");
const RUN_LOOP: &str = env!("CARGO_BIN_EXE_03-run-loop");
const SLEEP: &str = env!("CARGO_BIN_EXE_04-sleep");
const SELECT_ECHO: &str = env!("CARGO_BIN_EXE_05-select-echo");
const REACTOR: &str = env!("CARGO_BIN_EXE_06-reactor");
const TASKS: &str = env!("CARGO_BIN_EXE_07-tasks");
const CLIENT: &str = env!("CARGO_BIN_EXE_echo-client");

/// Runs `binary args` with stdin closed; returns what it printed, whatever
/// its status (killed, and the test failed, after `BIN_DEADLINE`).
fn run(binary: &str, args: &[&str]) -> Output {
    common::run_bin_unchecked(binary, args, &[])
}

/// Runs `binary args`, which must fail with status 2 (clap's "bad usage"),
/// and returns its stderr.
fn refused(binary: &str, args: &[&str]) -> String {
    let out = run(binary, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{binary} {args:?} was accepted:\n{err}"
    );
    assert!(!err.contains("panicked"), "{binary} {args:?}: {err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening on"),
        "{binary} {args:?} started listening before refusing"
    );
    err
}

/// Runs `binary args`, which must fail with status 1 after saying why; returns stderr.
fn fails(binary: &str, args: &[&str]) -> String {
    let out = run(binary, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{binary} {args:?}: {err}");
    assert!(!err.contains("panicked"), "{binary} {args:?}: {err}");
    err
}

// ---- item 1: numbers of seconds ------------------------------------------

#[test]
fn seconds_that_are_not_a_time_are_refused_with_the_allowed_range() {
    for server in [SELECT_ECHO, REACTOR] {
        for bad in ["inf", "nan", "1e300", "18446744073709551615", "-inf"] {
            let err = refused(server, &["--port", "0", &format!("--seconds={bad}")]);
            assert!(err.contains("from 0 to 1000000"), "{bad}: {err}");
        }
        for negative in [["--seconds=-1"].as_slice(), &["--seconds", "-1"]] {
            let args = [&["--port", "0"], negative].concat();
            let err = refused(server, &args);
            assert!(err.contains("must not be negative"), "{args:?}: {err}");
            assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
        }
    }
}

#[test]
fn ports_out_of_range_are_refused_with_the_range() {
    for (binary, rest) in [(SELECT_ECHO, &[][..]), (REACTOR, &[]), (CLIENT, &["hi"])] {
        let err = refused(binary, &[&["--port", "-1"], rest].concat());
        assert!(err.contains("must not be negative"), "{err}");
        let err = refused(binary, &[&["--port", "70000"], rest].concat());
        assert!(err.contains("from 0 to 65535"), "{err}");
    }
}

#[test]
fn echo_client_refuses_a_timeout_that_could_not_work() {
    for bad in ["inf", "nan", "1e300", "0"] {
        let err = refused(CLIENT, &["--timeout", bad, "hi"]);
        assert!(err.contains("1000000"), "{bad}: {err}");
    }
    let err = refused(CLIENT, &["--timeout", "-1", "hi"]);
    assert!(err.contains("must not be negative"), "{err}");
}

#[test]
fn echo_client_reports_a_real_timeout_as_one() {
    // Accepts (the kernel does, from the backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let started = Instant::now();
    let err = fails(CLIENT, &["--port", &port, "--timeout", "0.5", "hello?"]);
    assert!(err.contains("timed out after 0.5 s"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

// ---- item 2: errors that name what failed ----------------------------------

#[test]
fn server_errors_name_the_address_and_the_way_out() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for server in [SELECT_ECHO, REACTOR] {
        let err = fails(server, &["--host", "no.such.host.invalid"]);
        assert!(err.contains("\"no.such.host.invalid\""), "{err}");
        assert!(err.contains("--host 127.0.0.1"), "{err}");

        let err = fails(server, &["--host", "192.0.2.1", "--port", "0"]);
        assert!(err.contains("cannot listen on 192.0.2.1:0"), "{err}");
        assert!(err.contains("not an address of this machine"), "{err}");

        let err = fails(server, &["--port", &port]);
        assert!(
            err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
            "{err}"
        );
        assert!(err.contains("--port 0"), "{err}");
        assert!(err.contains("lessons 05 and 06"), "{err}");
    }
}

#[test]
fn echo_client_names_both_servers_when_nothing_listens() {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port().to_string()
    };
    let err = fails(CLIENT, &["--port", &port, "hello"]);
    assert!(err.contains("connection refused"), "{err}");
    assert!(err.contains("05-select-echo"), "{err}");
    assert!(err.contains("06-reactor"), "{err}");
    assert!(err.contains(&format!("--port {port}")), "{err}");
}

// ---- item 3: `| head` -----------------------------------------------------

/// Starts `binary args` with its stdout a pipe whose reading end closes
/// after `lines` lines have been read, as `| head -n lines` does; the
/// binary must then stop by itself, quietly, with status 0.
fn assert_quiet_when_head_stops_reading(binary: &str, args: &[&str], lines: usize) {
    let mut child = spawn_within(
        Command::new(binary)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        &command_line(binary, args),
        BIN_DEADLINE,
    );
    // Read stderr all along: a child blocked on a full stderr pipe would
    // never notice that its stdout reader left.
    let mut stderr = child.stderr.take().expect("piped");
    let stderr = thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        err
    });
    // A child that hangs before printing is killed at the deadline, which
    // ends these reads (EOF) and makes `wait` fail the test naming it.
    let mut reader = BufReader::new(child.stdout.take().expect("piped"));
    for _ in 0..lines {
        reader.read_line(&mut String::new()).expect("a line");
    }
    drop(reader); // `head` exits: the pipe's reading end is closed
    let status = child.wait();
    let err = stderr.join().expect("the stderr reader");
    assert!(
        status.success(),
        "{binary} {args:?}: {status} after the reader left; stderr:\n{err}"
    );
    assert!(!err.contains("Broken pipe"), "{binary} {args:?}: {err}");
    // Lesson 04 panics on purpose (its backtrace is the lesson); whether that
    // happens before the closed pipe stops it depends on timing. Any other
    // panic is a failure.
    let unexpected = err
        .split("panicked at ")
        .skip(1)
        .any(|panic| !DELIBERATE_PANICS.iter().any(|m| panic.contains(m)));
    assert!(!unexpected, "{binary} {args:?}: {err}");
}

/// Panics the lessons show on purpose.
const DELIBERATE_PANICS: &[&str] = &["header of 15 bytes is over the limit"];

#[test]
fn every_lesson_ends_quietly_when_its_reader_goes_away() {
    let runs: [(&str, &[&str]); 12] = [
        (BLOCKING, &["--virtual"]),
        (GENERATORS, &[]),
        (RUN_LOOP, &["--virtual"]),
        (SLEEP, &["--virtual"]),
        (REACTOR, &["ab", "--virtual"]),
        (REACTOR, &["callbacks", "--virtual"]),
        (TASKS, &["--virtual"]),
        (env!("CARGO_BIN_EXE_08-cancel"), &["--virtual"]),
        (env!("CARGO_BIN_EXE_09-sync"), &["--virtual"]),
        (env!("CARGO_BIN_EXE_12-async-await"), &["--virtual"]),
        (
            env!("CARGO_BIN_EXE_12-async-await"),
            &["cancel", "--virtual"],
        ),
        // A server: its next trace line finds the pipe closed.
        (SELECT_ECHO, &["--port", "0", "--seconds", "5"]),
    ];
    for (binary, args) in runs {
        assert_quiet_when_head_stops_reading(binary, args, 0);
        assert_quiet_when_head_stops_reading(binary, args, 1);
    }
    assert_quiet_when_head_stops_reading(REACTOR, &["--port", "0", "--seconds", "5"], 1);
    // `cargo run`, the course's front door, too.
    assert_quiet_when_head_stops_reading(env!("CARGO_BIN_EXE_yieldloop"), &[], 0);
}

// ---- item 4: `RUST_LOG=off` leaves the timeline ----------------------------

#[test]
fn rust_log_off_prints_only_the_timeline() {
    let out = common::run_bin_with(BLOCKING, &["--virtual"], &[("RUST_LOG", "off")]);
    let out = common::stdout(&out);
    assert!(common::trace(&out).is_empty(), "{out}");
    assert!(out.contains("a  ●─────────●\n"), "{out}");
    assert!(out.contains("b            ●────●────●\n"), "{out}");
}

// ---- item 8: echo-client sends any bytes -----------------------------------

#[test]
fn echo_client_sends_hex_and_standard_input_byte_for_byte() {
    let server = EchoServer::start(SELECT_ECHO, &[]);
    let port = server.addr.port().to_string();
    let out = common::run_bin(CLIENT, &["--port", &port, "--hex", "80 ff", "61"]);
    assert_eq!(common::stdout(&out), "80 ff 41\n");

    let mut child = spawn_within(
        Command::new(CLIENT)
            .args(["--port", &port])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
        "echo-client from stdin",
        BIN_DEADLINE,
    );
    let sent = b"a\x80b\xe2\x82 not UTF-8\n";
    child.stdin.take().unwrap().write_all(sent).unwrap(); // dropped: end of input
    let mut echoed = Vec::new();
    // Ends at the client's exit, or when the watchdog kills a hung client.
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut echoed)
        .unwrap();
    assert!(child.wait().success());
    assert_eq!(echoed, sent.to_ascii_uppercase());

    let err = refused(CLIENT, &["--port", &port, "--hex", "8g"]);
    assert!(err.contains("pairs of hex digits"), "{err}");
}

// ---- item 9: lesson 06's flags ---------------------------------------------

#[test]
fn lesson_06_puts_each_flag_where_it_belongs() {
    let err = refused(REACTOR, &["--virtual"]);
    assert!(err.contains("06-reactor ab --virtual"), "{err}");
    let err = refused(REACTOR, &["--seconds", "1", "ab", "--virtual"]);
    assert!(err.contains("--seconds is a flag of the server"), "{err}");
    let err = refused(REACTOR, &["--port", "0", "callbacks"]);
    assert!(err.contains("--port is a flag of the server"), "{err}");
    // `costs` shows real blocking: the virtual clock cannot apply to it.
    let err = refused(REACTOR, &["--virtual", "costs"]);
    assert!(err.contains("does not apply to `costs`"), "{err}");
    // `--virtual` before the demo's name works as well as after it.
    let out = common::run_bin(REACTOR, &["--virtual", "ab"]);
    assert_eq!(common::trace(&common::stdout(&out)), common::ab_trace());
    let help = common::stdout(&common::run_bin(REACTOR, &["--help"]));
    assert!(help.contains("Which flags go where"), "{help}");
    assert!(help.contains("06-reactor ab [--virtual]"), "{help}");
}

// ---- item 10: the hidden --first-client-fd ---------------------------------

#[test]
fn first_client_fd_is_checked_before_listening() {
    let err = refused(SELECT_ECHO, &["--port", "0", "--first-client-fd=-1"]);
    assert!(err.contains("must not be negative"), "{err}");
    let err = refused(SELECT_ECHO, &["--port", "0", "--first-client-fd", "-1"]);
    assert!(err.contains("must not be negative"), "{err}");
    let out = run(SELECT_ECHO, &["--port", "0", "--first-client-fd=999999"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("open-files limit"), "{err}");
    assert!(err.contains("ask for at most"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening on"),
        "it listened first"
    );
}

// ---- item 12: Ctrl-C, again and again --------------------------------------

/// Starts `server`, optionally connects clients, echoes through each and
/// keeps one of them busy, sends SIGINT, and checks the server is gone,
/// cleanly, within 2 s.
fn ctrl_c_once(server: &str, clients: usize) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let mut child = spawn_within(
        Command::new(server)
            .args(["--port", "0"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
        &command_line(server, &["--port", "0"]),
        BIN_DEADLINE,
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    let addr = first.trim_end().strip_prefix("listening on ").unwrap();
    // Keep reading, so the server never blocks on a full pipe.
    let rest = thread::spawn(move || {
        let mut log = String::new();
        let _ = lines.read_to_string(&mut log);
        log
    });
    let mut connected: Vec<TcpStream> = Vec::new();
    for i in 0..clients {
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(BIN_DEADLINE)).unwrap();
        let message = format!("client {i}");
        assert_eq!(
            round_trip(&mut client, message.as_bytes()),
            message.to_uppercase().as_bytes()
        );
        connected.push(client);
    }
    // Load: one client keeps echoing as fast as it can until the server
    // goes away, so the signal lands while the loop is busy.
    let chatter = connected.pop().map(|mut client| {
        thread::spawn(move || {
            let message = [b'x'; 512];
            let mut echoed = [0u8; 512];
            while client.write_all(&message).is_ok() && client.read_exact(&mut echoed).is_ok() {}
        })
    });
    // Sent the moment the server says it listens (clients == 0), or with
    // clients connected and one busy: either way it must stop.
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGINT).unwrap();
    let status = child.wait_within(Duration::from_secs(2), "Ctrl-C");
    let log = rest.join().unwrap();
    if let Some(chatter) = chatter {
        chatter.join().unwrap(); // the server closed its connection
    }
    assert!(status.success(), "{server}: {status} after Ctrl-C\n{log}");
    assert!(log.contains("Ctrl-C: stopping"), "{server}:\n{log}");
    assert!(log.trim_end().ends_with("stopped"), "{server}:\n{log}");
}

#[test]
fn ctrl_c_stops_lesson_05_every_time() {
    for run in 0..30 {
        ctrl_c_once(SELECT_ECHO, run % 3 * 2); // 0, 2 or 4 clients
    }
}

#[test]
fn ctrl_c_stops_lesson_06_every_time() {
    for run in 0..10 {
        ctrl_c_once(REACTOR, run % 2 * 3);
    }
}
