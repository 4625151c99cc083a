//! The deadlines of `tests/common` really fire: a hang fails its test, in
//! time, with a message naming what hung (what CI relies on to never stall).

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{output_within, within};

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

#[test]
fn output_within_kills_a_child_that_hangs_and_says_which() {
    let started = Instant::now();
    let failure = std::panic::catch_unwind(|| {
        output_within(
            Command::new("sleep").arg("60"),
            "`sleep 60`",
            Duration::from_secs(1),
        )
    })
    .expect_err("a child past its deadline fails the test");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.starts_with("`sleep 60` did not finish within 1 s"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "killed in time"
    );
}
