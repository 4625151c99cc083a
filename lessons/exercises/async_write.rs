//! # async_write: the disk write off the loop (the fetcher, part 2; after lesson 10)
//!
//! The homework's second part: write each downloaded body to disk *without
//! blocking the loop*, and without a third-party async-file library. A
//! regular file is always "ready" to epoll, yet a write may wait for the
//! disk; while it waits, every other task waits too.
//!
//! `save` below works, but it runs `write` (a blocking call) right here, on
//! the loop's thread. Make the loop go on while the write happens: run it on
//! the executor (lesson 10) and wait for it there.
//!
//! The check gives `save` a write that takes 0.3 s, while a heartbeat task
//! ticks every 50 ms: the heartbeat must keep ticking, and the write must
//! run on another thread.
//!
//! Check it: `cargo run --bin workshop -- check async_write`.

// I AM NOT DONE

use std::io;

#[allow(unused_imports)] // yours to use
use yieldloop::run_in_executor;

/// A blocking write, to run somewhere.
pub type Write = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// Runs `write` and returns its result, without blocking the loop.
pub fn save(write: Write) -> io::Result<()> {
    write() // blocks the loop's thread: every other task waits for the disk
}
