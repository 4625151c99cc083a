//! Printing to standard output that ends quietly when the reader goes away.
//! Introduced by lesson 01, for `cargo run --bin 01-blocking | head -3`.
//!
//! When a lesson's output is piped into `head` or a pager that quits early,
//! the pipe closes and the next write fails with `BrokenPipe` (EPIPE). A C
//! program would be killed silently by SIGPIPE; Rust ignores that signal, so
//! std's `println!` sees the error and panics: `failed printing to stdout:
//! Broken pipe`, exit status 101. Nobody is left to read the rest, so the
//! right thing is what `cat` does: stop, quietly, with status 0.
//!
//! Everything the lessons print goes through [`write_stdout`]: the crate's
//! [`println!`](crate::println) (a lesson opts in with `use yieldloop::println;`,
//! which shadows std's), the trace printer ([`quiet_stdout`]) and the timeline.

use std::fmt;
use std::io::{self, Write};

/// Writes `bytes` to standard output. If the reader has gone away
/// (`BrokenPipe`), ends the process at once with status 0; any other failure
/// (a full disk, say) ends it with a message and status 1. Never panics.
pub fn write_stdout(bytes: &[u8]) {
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        stop_on_write_error(&error);
    }
}

/// What [`write_stdout`] does when a write fails: it does not return.
fn stop_on_write_error(error: &io::Error) -> ! {
    if error.kind() == io::ErrorKind::BrokenPipe {
        // `| head` has read all it wanted: the run is over, and that is fine.
        std::process::exit(0);
    }
    eprintln!("cannot write to standard output: {error}");
    std::process::exit(1);
}

/// One line, formatted: what the crate's [`println!`](crate::println) calls.
pub fn print_line(args: fmt::Arguments<'_>) {
    write_stdout(format!("{args}\n").as_bytes());
}

/// Standard output for the trace printer (`tracing-subscriber`'s
/// `with_writer`), stopping quietly on a closed pipe like [`write_stdout`].
/// (`tracing-subscriber` itself drops write errors, so a server whose reader
/// had gone would otherwise run on, printing into nothing.)
pub fn quiet_stdout() -> QuietStdout {
    QuietStdout
}

/// The writer [`quiet_stdout`] makes.
#[derive(Debug, Clone, Copy)]
pub struct QuietStdout;

impl Write for QuietStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_stdout(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // `write_stdout` flushes every write
    }
}

/// std's `println!`, except that a closed pipe (`| head`) ends the program
/// quietly with status 0 instead of a panic. Lessons bring it in with
/// `use yieldloop::println;`, which takes precedence over std's.
///
/// ```
/// use yieldloop::println;
/// println!("{} and {}", 1, 2);
/// ```
#[macro_export]
macro_rules! println {
    () => {
        $crate::course::output::print_line(::std::format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::course::output::print_line(::std::format_args!($($arg)*))
    };
}
