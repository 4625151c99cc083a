//! The workshop's checks, one module per exercise, and how they report.
//!
//! Each check takes the learner's function (or type) and returns a
//! [`report::Outcome`]. Two programs compile these: `tests/exercises.rs`
//! (with every stub and every reference solution, to prove the stubs fail
//! and the solutions pass) and the small program the runner
//! (`cargo run --bin workshop -- check NAME`) builds around one learner's
//! file. Introduced by the workshop (docs/src/workshop.md).

pub mod report;

pub mod async_write;
pub mod averager;
pub mod backtrace;
pub mod bounded_fetch;
pub mod call_later;
pub mod callback_future;
pub mod countdown;
pub mod find_the_blocker;
pub mod forgotten_cancel;
pub mod gather;
pub mod grep;
pub mod lost_wakeup;
pub mod run;
pub mod run_once;
pub mod select_loop;
pub mod starved_socket;
pub mod transfer;
pub mod wait_for;
