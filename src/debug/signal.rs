//! SIGUSR1 in the server lessons: `kill -USR1 <pid>` prints every task with
//! its backtrace (`dump_tasks`) to standard error, and the server keeps
//! serving. Introduced by lesson 11.
//!
//! A signal handler may run between any two instructions of the loop, in
//! the middle of a `RefCell` borrow or a `malloc`, so it must not do the
//! work itself. It does the one thing that is safe there: it writes a byte
//! to a pipe (`signal-hook`'s `pipe::register`, the classic self-pipe). The
//! pipe's read end is watched by the loop like any descriptor
//! (`add_reader`), so the dump runs as an ordinary callback, on the loop's
//! own stack, between two steps, with nothing borrowed.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use crate::debug::dump::{TaskDump, TaskTree};
use crate::reactor::event_loop::Handle;

/// Makes SIGUSR1 print the task tree of the loop behind `handle` to
/// standard error. Call it once, after building the loop.
///
/// ```no_run
/// let event_loop = yieldloop::EventLoop::new().unwrap();
/// yieldloop::debug::signal::dump_tasks_on_sigusr1(&event_loop.handle()).unwrap();
/// ```
// ANCHOR: sigusr1
pub fn dump_tasks_on_sigusr1(handle: &Handle) -> io::Result<()> {
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    // The handler writes one byte to `writer` (and nothing else).
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGUSR1, writer)?;
    let reader = Rc::new(reader);
    let (drain, loop_handle) = (reader.clone(), handle.clone());
    handle.add_reader(reader, move || {
        // Empty the pipe: two signals close together print one dump.
        let mut bytes = [0u8; 64];
        while matches!((&*drain).read(&mut bytes), Ok(n) if n > 0) {}
        let tasks = match loop_handle.upgrade_core() {
            Some(core) => core.snapshot_tasks(true),
            None => return,
        };
        let tree = TaskTree {
            tasks: tasks.into_iter().map(TaskDump::from).collect(),
        };
        // `write_all`, not `eprint!`: a server whose standard error has gone
        // away must go on serving, not panic in its callback.
        let dump = format!("SIGUSR1: the loop's tasks\n{tree}(end of the task tree)\n");
        let _ = io::stderr().write_all(dump.as_bytes());
    })
}
// ANCHOR_END: sigusr1
