//! The deadlines of `tests/common` really fire: a hang fails its test, in
//! time, with a message naming what hung (what CI relies on to never stall).

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{output_within, spawn_within, within};

#[test]
#[should_panic(expected = "a deliberate hang did not finish within 1 s")]
fn within_fails_a_body_that_hangs() {
    within("a deliberate hang", Duration::from_secs(1), || loop {
        thread::sleep(Duration::from_secs(60));
    });
}

#[test]
#[should_panic(expected = "the body's own message")]
fn within_passes_a_panic_of_the_body_on() {
    within("a panicking body", Duration::from_secs(10), || {
        panic!("the body's own message")
    });
}

#[test]
fn within_returns_what_the_body_returns() {
    assert_eq!(within("a quick body", Duration::from_secs(10), || 42), 42);
}

/// Runs `body`, which must fail the test, in time (well before the 20 s a
/// real deadline would take), with a message starting with `expected`.
fn assert_fails_in_time<T>(expected: &str, body: impl FnOnce() -> T + std::panic::UnwindSafe) {
    let started = Instant::now();
    let failure = std::panic::catch_unwind(body)
        .map(drop)
        .expect_err("a child past its deadline fails the test");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.starts_with(expected), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "killed in time"
    );
}

#[test]
fn output_within_kills_a_child_that_hangs_and_says_which() {
    assert_fails_in_time("`sleep 60` did not finish within 1 s", || {
        output_within(
            Command::new("sleep").arg("60"),
            "`sleep 60`",
            Duration::from_secs(1),
        )
    });
}

#[test]
fn spawn_within_kills_a_child_that_hangs_which_ends_a_blocked_read() {
    assert_fails_in_time("`sleep 60` did not finish within 1 s", || {
        let mut child = spawn_within(
            Command::new("sleep").arg("60").stdout(Stdio::piped()),
            "`sleep 60`",
            Duration::from_secs(1),
        );
        // Blocks until the child prints (never) or is killed: then EOF.
        let mut printed = Vec::new();
        let _ = child.stdout.take().unwrap().read_to_end(&mut printed);
        child.wait()
    });
}

#[test]
fn spawn_within_waits_a_short_limit_and_returns_a_prompt_exit() {
    let mut quick = spawn_within(&mut Command::new("true"), "`true`", Duration::from_secs(20));
    assert!(quick.wait().success());
    // Fails after the 200 ms asked for, not at the 20 s deadline.
    assert_fails_in_time(
        "`sleep 60` was still running 200ms after a deliberate Ctrl-C",
        || {
            let mut slow = spawn_within(
                Command::new("sleep").arg("60"),
                "`sleep 60`",
                Duration::from_secs(20),
            );
            slow.wait_within(Duration::from_millis(200), "a deliberate Ctrl-C")
        },
    );
}
