//! # select_loop: Beazley's loop with `to_read` and `to_write` (after lesson 05)
//!
//! Tasks are generators that yield `Request::Read(fd)` ("wake me when this
//! socket can be read") or `Request::Write(fd)` ("... written"), and
//! finally return. Write the loop that serves them, as Beazley does it live:
//!
//! - a `ready` queue of tasks that can go on now (all of them, at first);
//! - `to_read` and `to_write`: the tasks parked on a descriptor;
//! - each turn, resume every ready task once and park it where it asks;
//! - when nothing is ready, ask `wait_ready` (given: poll(2) as one call)
//!   which parked descriptors are ready, and move their tasks back to
//!   `ready`.
//!
//! Return when every task has returned. A task that yields `Sleep` is not
//! part of this exercise: return an `io::Error` saying so.
//!
//! Check it: `cargo run --bin workshop -- check select_loop`.

// I AM NOT DONE

use std::io;

use yieldloop::select::ready::wait_ready;
use yieldloop::Generator;
use yieldloop::Request;

/// A task: sent nothing, yields what it waits for.
pub type Task = Generator<(), Request>;

/// Runs `tasks` until all have returned.
pub fn run(tasks: Vec<Task>) -> io::Result<()> {
    let _ = (tasks, wait_ready);
    todo!("ready, to_read, to_write, and a wait_ready when nothing is ready")
}
