//! Pipes whose reads and writes suspend the task. Introduced by lesson 06 (book: "Beyond TCP").
//!
//! A pipe is the oldest Unix channel: a kernel buffer (64 KiB on Linux) with
//! a write end and a read end, what a shell's `|` is made of. [`pipe`] makes
//! one with both ends non-blocking, so a task writing to a full pipe, or
//! reading an empty one, suspends until the other side catches up:
//! back-pressure, with nothing lost and nothing buffered without bound.
//!
//! Pipes connect tasks of one loop, and a loop to a **child process**: wrap
//! the ends `std::process` gives you (`ChildStdin`, `ChildStdout`,
//! `ChildStderr`) with [`PipeWriter::from_owned_fd`] /
//! [`PipeReader::from_owned_fd`], or hand an end of your own [`pipe`] to the
//! child with `into_blocking_fd` (a child expects a blocking descriptor).
//!
//! ```no_run
//! use std::process::{Command, Stdio};
//! use yieldloop::PipeReader;
//!
//! # fn task() -> std::io::Result<()> {
//! let mut child = Command::new("ls").stdout(Stdio::piped()).spawn()?;
//! let stdout = PipeReader::from_owned_fd(child.stdout.take().expect("piped"))?;
//! let mut buf = [0; 4096];
//! let n = stdout.read(&mut buf)?; // suspends this task, not the loop
//! # Ok(()) }
//! ```
//!
//! Writing to a pipe whose read end is closed fails with "broken pipe"
//! (`EPIPE`; Rust programs ignore the `SIGPIPE` that would kill a C program).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use crate::reactor::io_source::{descriptor_of_source, Direction, Source};
use crate::reactor::stream::write_all;

/// The read end of a pipe; reads suspend the task.
pub struct PipeReader {
    source: Source<File>,
}

/// The write end of a pipe; writes suspend the task while the pipe is full.
pub struct PipeWriter {
    source: Source<File>,
}

// ANCHOR: pipe
/// A new pipe, both ends non-blocking and closed on `exec` (a child gets an
/// end only when given it). Asyncio's `os.pipe()` plus `connect_read_pipe`.
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
    Ok((
        PipeReader {
            source: Source::new(File::from(read)),
        },
        PipeWriter {
            source: Source::new(File::from(write)),
        },
    ))
}
// ANCHOR_END: pipe

/// Turns `O_NONBLOCK` on or off for the open file behind `fd`.
fn set_nonblocking(fd: &OwnedFd, nonblocking: bool) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    let flags = if nonblocking {
        flags | OFlag::O_NONBLOCK
    } else {
        flags - OFlag::O_NONBLOCK
    };
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
    Ok(())
}

/// A pipe end we were given, made non-blocking, ready to wait on.
fn nonblocking_source(fd: OwnedFd) -> io::Result<Source<File>> {
    set_nonblocking(&fd, true)?;
    Ok(Source::new(File::from(fd)))
}

/// A blocking duplicate of `fd`, for a child process; `fd` is then closed.
fn into_blocking(fd: &File) -> io::Result<OwnedFd> {
    // The duplicate shares the open file (and its O_NONBLOCK flag) with ours,
    // which closes when its owner is dropped, right after this.
    let duplicate = OwnedFd::from(fd.try_clone()?);
    set_nonblocking(&duplicate, false)?;
    Ok(duplicate)
}

impl PipeReader {
    /// Wraps the read end of a pipe (or a `ChildStdout` / `ChildStderr`,
    /// which convert into an `OwnedFd`); it is made non-blocking.
    pub fn from_owned_fd(fd: impl Into<OwnedFd>) -> io::Result<PipeReader> {
        let source = nonblocking_source(fd.into())?;
        Ok(PipeReader { source })
    }

    /// Reads what is in the pipe, waiting while it is empty. `Ok(0)`: every
    /// write end is closed (end of file).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source
            .retry(Direction::Read, "PipeReader::read", |mut f| f.read(buf))
    }

    /// This end as a blocking descriptor, to give to a child process
    /// (`Stdio::from(fd)`): a child's plain `read` must not see `EAGAIN`.
    pub fn into_blocking_fd(self) -> io::Result<OwnedFd> {
        into_blocking(&self.source.io)
    }
}

impl PipeWriter {
    /// Wraps the write end of a pipe (or a `ChildStdin`); it is made
    /// non-blocking.
    pub fn from_owned_fd(fd: impl Into<OwnedFd>) -> io::Result<PipeWriter> {
        let source = nonblocking_source(fd.into())?;
        Ok(PipeWriter { source })
    }

    /// Writes some of `buf`, waiting while the pipe is full.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.source
            .retry(Direction::Write, "PipeWriter::write", |mut f| f.write(buf))
    }

    /// Writes all of `buf`, waiting for the reader as often as it takes.
    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        write_all(buf, |rest| self.write(rest))
    }

    /// This end as a blocking descriptor, to give to a child process.
    pub fn into_blocking_fd(self) -> io::Result<OwnedFd> {
        into_blocking(&self.source.io)
    }
}

impl Read for &PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        PipeReader::read(self, buf)
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        PipeReader::read(self, buf)
    }
}

impl Write for &PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        PipeWriter::write(self, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        PipeWriter::write(self, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

descriptor_of_source!(PipeReader, PipeWriter);
