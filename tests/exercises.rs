//! The workshop's exercises: every stub fails its check and every reference
//! solution passes it (rustlings' `--require-solutions`), here in one test
//! binary that cargo compiles with every stub and every solution in it.
//!
//! The runner (`cargo run --bin workshop -- check NAME`) runs the same
//! checks, from `lessons/exercises/checks/`, on the learner's copy in
//! `exercises/`; `tests/workshop.rs` tests the runner itself. With
//! `--features learner`, this file also checks your own copies (see the
//! last test).

// Each exercise file is a small public API; a check uses only its part.
#![allow(dead_code)]

#[path = "../lessons/workshop/catalog.rs"]
mod catalog;
#[path = "../lessons/exercises/checks/mod.rs"]
mod checks;

use checks::report::{Failure, Outcome};

// `#[path]` inside an inline module would be resolved from tests/stubs/,
// a folder that does not exist, so the files are modules here and the two
// groups are re-exported below.
#[path = "../lessons/exercises/solutions/async_write.rs"]
mod solution_async_write;
#[path = "../lessons/exercises/solutions/averager.rs"]
mod solution_averager;
#[path = "../lessons/exercises/solutions/backtrace.rs"]
mod solution_backtrace;
#[path = "../lessons/exercises/solutions/bounded_fetch.rs"]
mod solution_bounded_fetch;
#[path = "../lessons/exercises/solutions/call_later.rs"]
mod solution_call_later;
#[path = "../lessons/exercises/solutions/callback_future.rs"]
mod solution_callback_future;
#[path = "../lessons/exercises/solutions/countdown.rs"]
mod solution_countdown;
#[path = "../lessons/exercises/solutions/find_the_blocker.rs"]
mod solution_find_the_blocker;
#[path = "../lessons/exercises/solutions/forgotten_cancel.rs"]
mod solution_forgotten_cancel;
#[path = "../lessons/exercises/solutions/gather.rs"]
mod solution_gather;
#[path = "../lessons/exercises/solutions/grep.rs"]
mod solution_grep;
#[path = "../lessons/exercises/solutions/lost_wakeup.rs"]
mod solution_lost_wakeup;
#[path = "../lessons/exercises/solutions/run.rs"]
mod solution_run;
#[path = "../lessons/exercises/solutions/run_once.rs"]
mod solution_run_once;
#[path = "../lessons/exercises/solutions/select_loop.rs"]
mod solution_select_loop;
#[path = "../lessons/exercises/solutions/starved_socket.rs"]
mod solution_starved_socket;
#[path = "../lessons/exercises/solutions/transfer.rs"]
mod solution_transfer;
#[path = "../lessons/exercises/solutions/wait_for.rs"]
mod solution_wait_for;
#[path = "../lessons/exercises/async_write.rs"]
mod stub_async_write;
#[path = "../lessons/exercises/averager.rs"]
mod stub_averager;
#[path = "../lessons/exercises/backtrace.rs"]
mod stub_backtrace;
#[path = "../lessons/exercises/bounded_fetch.rs"]
mod stub_bounded_fetch;
#[path = "../lessons/exercises/call_later.rs"]
mod stub_call_later;
#[path = "../lessons/exercises/callback_future.rs"]
mod stub_callback_future;
#[path = "../lessons/exercises/countdown.rs"]
mod stub_countdown;
#[path = "../lessons/exercises/find_the_blocker.rs"]
mod stub_find_the_blocker;
#[path = "../lessons/exercises/forgotten_cancel.rs"]
mod stub_forgotten_cancel;
#[path = "../lessons/exercises/gather.rs"]
mod stub_gather;
#[path = "../lessons/exercises/grep.rs"]
mod stub_grep;
#[path = "../lessons/exercises/lost_wakeup.rs"]
mod stub_lost_wakeup;
#[path = "../lessons/exercises/run.rs"]
mod stub_run;
#[path = "../lessons/exercises/run_once.rs"]
mod stub_run_once;
#[path = "../lessons/exercises/select_loop.rs"]
mod stub_select_loop;
#[path = "../lessons/exercises/starved_socket.rs"]
mod stub_starved_socket;
#[path = "../lessons/exercises/transfer.rs"]
mod stub_transfer;
#[path = "../lessons/exercises/wait_for.rs"]
mod stub_wait_for;

/// The stubs, as a learner first sees them.
mod stubs {
    pub(crate) use super::stub_async_write as async_write;
    pub(crate) use super::stub_averager as averager;
    pub(crate) use super::stub_backtrace as backtrace;
    pub(crate) use super::stub_bounded_fetch as bounded_fetch;
    pub(crate) use super::stub_call_later as call_later;
    pub(crate) use super::stub_callback_future as callback_future;
    pub(crate) use super::stub_countdown as countdown;
    pub(crate) use super::stub_find_the_blocker as find_the_blocker;
    pub(crate) use super::stub_forgotten_cancel as forgotten_cancel;
    pub(crate) use super::stub_gather as gather;
    pub(crate) use super::stub_grep as grep;
    pub(crate) use super::stub_lost_wakeup as lost_wakeup;
    pub(crate) use super::stub_run as run;
    pub(crate) use super::stub_run_once as run_once;
    pub(crate) use super::stub_select_loop as select_loop;
    pub(crate) use super::stub_starved_socket as starved_socket;
    pub(crate) use super::stub_transfer as transfer;
    pub(crate) use super::stub_wait_for as wait_for;
}

/// The reference solutions.
mod solutions {
    pub(crate) use super::solution_async_write as async_write;
    pub(crate) use super::solution_averager as averager;
    pub(crate) use super::solution_backtrace as backtrace;
    pub(crate) use super::solution_bounded_fetch as bounded_fetch;
    pub(crate) use super::solution_call_later as call_later;
    pub(crate) use super::solution_callback_future as callback_future;
    pub(crate) use super::solution_countdown as countdown;
    pub(crate) use super::solution_find_the_blocker as find_the_blocker;
    pub(crate) use super::solution_forgotten_cancel as forgotten_cancel;
    pub(crate) use super::solution_gather as gather;
    pub(crate) use super::solution_grep as grep;
    pub(crate) use super::solution_lost_wakeup as lost_wakeup;
    pub(crate) use super::solution_run as run;
    pub(crate) use super::solution_run_once as run_once;
    pub(crate) use super::solution_select_loop as select_loop;
    pub(crate) use super::solution_starved_socket as starved_socket;
    pub(crate) use super::solution_transfer as transfer;
    pub(crate) use super::solution_wait_for as wait_for;
}

crate::impl_mini_loop!(stubs::run_once::MiniLoop);
crate::impl_mini_loop!(solutions::run_once::MiniLoop);
crate::impl_io_loop!(stubs::starved_socket::IoLoop);
crate::impl_io_loop!(solutions::starved_socket::IoLoop);
crate::impl_flag!(stubs::lost_wakeup::Flag);
crate::impl_flag!(solutions::lost_wakeup::Flag);

/// Each exercise's check, on the stub (`$kind` = `stubs`) or the solution.
macro_rules! outcome {
    ($kind:ident, $name:expr) => {
        match $name {
            "grep" => checks::grep::check($kind::grep::grep),
            "averager" => checks::averager::check($kind::averager::averager),
            "run" => checks::run::check($kind::run::run),
            "countdown" => checks::countdown::check($kind::countdown::countdown),
            "backtrace" => checks::backtrace::check($kind::backtrace::frames),
            "select_loop" => checks::select_loop::check($kind::select_loop::run),
            "call_later" => checks::call_later::check($kind::call_later::nap),
            "run_once" => checks::run_once::check::<$kind::run_once::MiniLoop>(),
            "starved_socket" => checks::starved_socket::check::<$kind::starved_socket::IoLoop>(),
            "gather" => checks::gather::check($kind::gather::gather_by_hand),
            "callback_future" => checks::callback_future::check($kind::callback_future::fetch),
            "lost_wakeup" => checks::lost_wakeup::check::<$kind::lost_wakeup::Flag>(),
            "wait_for" => {
                checks::wait_for::check(|timeout, work| $kind::wait_for::my_wait_for(timeout, work))
            }
            "forgotten_cancel" => {
                checks::forgotten_cancel::check($kind::forgotten_cancel::download)
            }
            "transfer" => checks::transfer::check($kind::transfer::transfer),
            "bounded_fetch" => checks::bounded_fetch::check($kind::bounded_fetch::fetch_all),
            "async_write" => checks::async_write::check($kind::async_write::save),
            "find_the_blocker" => {
                checks::find_the_blocker::check($kind::find_the_blocker::dashboard)
            }
            other => panic!("tests/exercises.rs does not know the exercise `{other}`: add it"),
        }
    };
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Ok(()) => "passed".into(),
        Err(Failure::NotAttempted(text)) => format!("not attempted: {text}"),
        Err(Failure::Wrong(text)) => format!("wrong:\n{text}"),
    }
}

#[test]
fn every_reference_solution_passes_its_check() {
    for exercise in catalog::EXERCISES {
        let outcome = outcome!(solutions, exercise.name);
        assert!(
            outcome.is_ok(),
            "solution of {}: {}",
            exercise.name,
            describe(&outcome)
        );
    }
}

#[test]
fn every_stub_fails_its_check() {
    for exercise in catalog::EXERCISES {
        let outcome = outcome!(stubs, exercise.name);
        assert!(
            outcome.is_err(),
            "the stub of {} passes its own check",
            exercise.name
        );
    }
}

/// A stub with a `todo!()` is told it is not attempted; a break-it stub
/// (working code with a bug) is told what is wrong.
#[test]
fn stubs_are_told_kindly_what_they_are() {
    for exercise in catalog::EXERCISES {
        let stub =
            std::fs::read_to_string(format!("lessons/exercises/{}.rs", exercise.name)).unwrap();
        assert!(
            stub.contains("// I AM NOT DONE"),
            "{} has no marker",
            exercise.name
        );
        let outcome = outcome!(stubs, exercise.name);
        if stub.contains("todo!(") {
            assert!(
                matches!(outcome, Err(Failure::NotAttempted(_))),
                "{}: {}",
                exercise.name,
                describe(&outcome)
            );
        } else {
            assert!(
                matches!(outcome, Err(Failure::Wrong(_))),
                "{}: {}",
                exercise.name,
                describe(&outcome)
            );
        }
    }
}

/// A scheduler's wrong answer is explained with both traces and the first
/// difference marked, in the words the issue asks for.
#[test]
fn a_wrong_run_is_shown_beside_the_expected_trace() {
    use yieldloop::generators::run::Coroutine;
    use yieldloop::{Clock, GeneratorState};
    // Round robin: ignores the wake-up times altogether.
    fn round_robin(clock: &Clock, mut coroutines: Vec<Coroutine>) {
        let _ = clock;
        while !coroutines.is_empty() {
            coroutines.retain_mut(|c| matches!(c.send(()), Ok(GeneratorState::Yielded(_))));
            clock.sleep(std::time::Duration::from_millis(500));
        }
    }
    let Err(Failure::Wrong(text)) = checks::run::check(round_robin) else {
        panic!("round robin passed the run check");
    };
    assert!(text.contains("<-- first difference"), "{text}");
    assert!(text.contains("expected `"), "{text}");
    assert!(!text.contains("(Duration"), "no Debug tuples: {text}");
}

/// The issue's own example: a loop that takes the coroutines in turn
/// instead of by wake-up time is told "expected `0.500 b middle`, got
/// `1.000 a exit`: did `run` pick the earliest wake-up?".
#[test]
fn a_run_that_ignores_the_earliest_wake_up_is_asked_about_it() {
    use yieldloop::generators::run::Coroutine;
    use yieldloop::{Clock, GeneratorState, Request};
    fn in_turn(clock: &Clock, coroutines: Vec<Coroutine>) {
        let mut wakes: Vec<_> = coroutines.into_iter().map(|c| (clock.now(), c)).collect();
        let mut i = 0;
        while !wakes.is_empty() {
            i %= wakes.len();
            clock.sleep_until(wakes[i].0.max(clock.now()));
            match wakes[i].1.send(()) {
                Ok(GeneratorState::Yielded(Request::Sleep(d))) => {
                    wakes[i].0 = clock.now() + d;
                    i += 1;
                }
                _ => drop(wakes.remove(i)),
            }
        }
    }
    let Err(Failure::Wrong(text)) = checks::run::check(in_turn) else {
        panic!("an in-turn loop passed the run check");
    };
    assert!(
        text.contains(
            "expected `0.500 b middle`, got `1.000 a exit`: did `run` pick the earliest wake-up?"
        ),
        "{text}"
    );
}

/// Every exercise has a section on its group's page, and every page is in
/// the book's Workshop part.
#[test]
fn every_exercise_is_in_the_book() {
    let summary = std::fs::read_to_string("docs/src/SUMMARY.md").unwrap();
    let overview = std::fs::read_to_string("docs/src/workshop.md").unwrap();
    for exercise in catalog::EXERCISES {
        let page = std::fs::read_to_string(format!("docs/src/{}", exercise.page))
            .unwrap_or_else(|e| panic!("{}: page {}: {e}", exercise.name, exercise.page));
        assert!(
            page.contains(&format!("## `{}`", exercise.name)),
            "{} has no section on {}",
            exercise.name,
            exercise.page
        );
        assert!(
            summary.contains(&format!("({})", exercise.page)),
            "{} is not in SUMMARY.md",
            exercise.page
        );
        assert!(
            overview.contains(&format!("| `{}` |", exercise.name)),
            "{} is not in workshop.md's table",
            exercise.name
        );
    }
}

/// With `--features learner`: the learner's own copies, each checked by the
/// runner as `cargo run --bin workshop -- check NAME` would. All must pass.
#[cfg(feature = "learner")]
#[test]
fn your_copies_pass_their_checks() {
    let mut failing = Vec::new();
    for exercise in catalog::EXERCISES {
        let ran = std::process::Command::new(env!("CARGO_BIN_EXE_workshop"))
            .args(["check", exercise.name])
            .output()
            .expect("the runner starts");
        if !ran.status.success() {
            failing.push(format!(
                "{}\n{}",
                exercise.name,
                String::from_utf8_lossy(&ran.stdout)
            ));
        }
    }
    assert!(
        failing.is_empty(),
        "not passing yet:\n\n{}",
        failing.join("\n")
    );
}
