//! Reference solution to the `async_write` exercise.

use std::io;

use yieldloop::run_in_executor;

/// A blocking write, to run somewhere.
pub type Write = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// Runs `write` and returns its result, without blocking the loop.
pub fn save(write: Write) -> io::Result<()> {
    // On an executor thread; this task waits, the loop goes on. The outer
    // `?` is the executor's own failure (cancelled, no loop), the inner
    // result the write's.
    run_in_executor(write)?
}
