//! Child processes whose pipes and exit suspend the task, not the loop: asyncio's `create_subprocess_exec`. Introduced by lesson 10.
//!
//! A child's stdin, stdout and stderr are pipes: descriptors like sockets,
//! so the loop can wait on them the way [`crate::reactor::tcp`] waits on a
//! socket (made non-blocking, armed in the selector, retried on
//! `WouldBlock`). No thread is needed for them.
//!
//! ```text
//!   Command::new("tr").args(["a-z", "A-Z"]).stdin(piped()).stdout(piped()).spawn()
//!     └─ Child { stdin, stdout, stderr: non-blocking pipes; exit: a pidfd }
//!   child.communicate(b"hello")        three tasks, so no pipe can fill up:
//!     ├─ "stdin writer":  write_all(input), close   (EPIPE: the child did not want it)
//!     ├─ "stdout reader": read to end of file
//!     ├─ "stderr reader": read to end of file
//!     └─ wait(): the pidfd turns readable when the child exits
//! ```
//!
//! **Why three tasks.** A child that writes more than a pipe holds (64 KiB
//! on Linux) blocks until someone reads; if we were still writing its stdin
//! and it had stopped reading it, both would wait forever. Reading both
//! outputs while writing the input, concurrently, is what `communicate` is
//! for, here as in Python.
//!
//! **Waiting for the exit: a pidfd.** The classic way is `SIGCHLD`: the
//! kernel signals the parent when any child exits, a handler writes to a
//! self-pipe, the loop reads it and calls `waitpid` on every child it knows.
//! It needs a process-wide signal handler (one per process, shared with
//! whatever else handles `SIGCHLD`) and cannot tell children apart. Linux
//! 5.3 added `pidfd_open`: a descriptor for *one* process that turns
//! readable when it exits. We register it in the selector like a socket, so
//! waiting for a child is waiting for a descriptor; no signal handler, no
//! global state. Where the kernel has no pidfds (older Linux, macOS), the
//! wait runs `waitid` on an executor thread instead ([`super::run`]).
//!
//! **Cancelled while waiting** (lesson 08), `wait` and `communicate` kill
//! the child and reap it before returning `Cancelled`: nobody would ever
//! wait for it otherwise, and it would linger as a zombie.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{self, ExitStatus, Output, Stdio};

use crate::reactor::cancel::Cancelled;
use crate::reactor::io_source::{Direction, Source};
use crate::reactor::task::spawn;

use super::run::run_in_executor;

// ANCHOR: async_fd
/// A non-blocking descriptor a task can wait on: the one place this file
/// uses the reactor's readiness wait (`Source`, from
/// [`crate::reactor::io_source`]), for the child's pipes and its pidfd.
struct AsyncFd {
    source: Source<File>,
}

impl AsyncFd {
    /// Takes `fd` and makes it non-blocking.
    fn new(fd: OwnedFd) -> io::Result<AsyncFd> {
        set_nonblocking(&fd)?;
        Ok(AsyncFd {
            source: Source::new(File::from(fd)),
        })
    }

    fn read(&self, buf: &mut [u8], what: &'static str) -> io::Result<usize> {
        self.source
            .retry(Direction::Read, what, |mut file| file.read(buf))
    }

    fn write(&self, buf: &[u8], what: &'static str) -> io::Result<usize> {
        self.source
            .retry(Direction::Write, what, |mut file| file.write(buf))
    }

    /// Waits until the descriptor is readable (a pidfd: the child exited).
    fn readable(&self, what: &'static str) -> io::Result<()> {
        self.source.wait(Direction::Read, what)
    }
}
// ANCHOR_END: async_fd

/// `fcntl(fd, F_SETFL, flags | O_NONBLOCK)`.
fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `fcntl` with F_GETFL/F_SETFL only reads and sets the flags of
    // `raw`, a descriptor `fd` keeps open for the whole call.
    unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        if flags < 0 || libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A pidfd for `pid`, or `None` where the kernel has none.
fn pidfd_open(pid: u32) -> io::Result<Option<OwnedFd>> {
    #[cfg(target_os = "linux")]
    {
        let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new
        // descriptor or -1; it touches no memory of ours.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if raw < 0 {
            let error = io::Error::last_os_error();
            return match error.raw_os_error() {
                Some(libc::ENOSYS) => Ok(None), // kernel older than 5.3
                _ => Err(error),
            };
        }
        let raw = i32::try_from(raw).map_err(io::Error::other)?;
        // SAFETY: `raw` is a fresh descriptor the kernel just gave us, owned
        // by nothing else.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(raw) }))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        Ok(None)
    }
}

/// Waits on the calling thread (an executor thread) until `pid` has exited,
/// without reaping it (`WNOWAIT`), so that `Child::try_wait` still can.
fn wait_without_reaping(pid: u32) -> io::Result<()> {
    let pid = libc::id_t::from(pid);
    loop {
        // SAFETY: `info` is a zeroed `siginfo_t` that `waitid` fills in.
        let result = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if result == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

// ANCHOR: command
/// Describes a child process to start (`std::process::Command`'s builder,
/// whose `spawn` gives a [`Child`] with non-blocking pipes). By default the
/// child shares our stdin, stdout and stderr; ask for
/// [`Stdio::piped()`] to talk to it.
#[derive(Debug)]
pub struct Command {
    inner: process::Command,
}

impl Command {
    /// A command running `program` (looked up in `PATH`) with no arguments
    /// (asyncio: `create_subprocess_exec(program, …)`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            inner: process::Command::new(program),
        }
    }

    /// `sh -c command` (asyncio: `create_subprocess_shell`). The shell parses
    /// `command`: never build it from untrusted text.
    pub fn shell(command: &str) -> Command {
        let mut shell = Command::new("/bin/sh");
        shell.arg("-c").arg(command);
        shell
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// The child's stdin: [`Stdio::piped()`] to write to it.
    pub fn stdin(&mut self, stdio: Stdio) -> &mut Command {
        self.inner.stdin(stdio);
        self
    }

    /// The child's stdout: [`Stdio::piped()`] to read it.
    pub fn stdout(&mut self, stdio: Stdio) -> &mut Command {
        self.inner.stdout(stdio);
        self
    }

    /// The child's stderr: [`Stdio::piped()`] to read it.
    pub fn stderr(&mut self, stdio: Stdio) -> &mut Command {
        self.inner.stderr(stdio);
        self
    }

    /// Starts the child. Its pipes are non-blocking from here on, so reading
    /// and writing them suspends the task, and waiting for its exit does too.
    /// (The `fork`/`exec` itself is quick and happens on the loop's thread,
    /// as in asyncio.)
    pub fn spawn(&mut self) -> io::Result<Child> {
        let program = self.inner.get_program().to_string_lossy().into_owned();
        let mut inner = self.inner.spawn().map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("could not start {program:?}: {error}"),
            )
        })?;
        let stdin = inner.stdin.take().map(|pipe| pipe_end(pipe.into()));
        let stdout = inner.stdout.take().map(|pipe| pipe_end(pipe.into()));
        let stderr = inner.stderr.take().map(|pipe| pipe_end(pipe.into()));
        let exit = match pidfd_open(inner.id()) {
            Ok(Some(pidfd)) => Some(AsyncFd::new(pidfd)),
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        };
        // On any failure, do not leave a child nobody can wait for.
        let setup = (|| {
            Ok::<_, io::Error>((
                stdin.transpose()?.map(|fd| ChildStdin { fd }),
                stdout.transpose()?.map(|fd| ChildStdout { fd }),
                stderr.transpose()?.map(|fd| ChildStderr { fd }),
                exit.transpose()?,
            ))
        })();
        match setup {
            Ok((stdin, stdout, stderr, exit)) => Ok(Child {
                inner,
                stdin,
                stdout,
                stderr,
                exit,
                status: None,
            }),
            Err(error) => {
                let _ = inner.kill();
                let _ = inner.wait();
                Err(error)
            }
        }
    }
}
// ANCHOR_END: command

fn pipe_end(fd: OwnedFd) -> io::Result<AsyncFd> {
    AsyncFd::new(fd)
}

/// A running (or finished) child process: asyncio's `Process`.
///
/// Dropping it neither kills nor waits for the child (as with
/// `std::process::Child`): a child still running goes on, and is left a
/// zombie when it ends. Call [`wait`](Child::wait) or
/// [`communicate`](Child::communicate); a cancelled one kills it.
#[derive(Debug)]
pub struct Child {
    inner: process::Child,
    /// Its stdin, if piped.
    pub stdin: Option<ChildStdin>,
    /// Its stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// Its stderr, if piped.
    pub stderr: Option<ChildStderr>,
    /// Its pidfd, readable once it has exited; `None` without pidfds.
    exit: Option<AsyncFd>,
    /// How it ended, once known.
    status: Option<ExitStatus>,
}

impl Child {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// How the child ended, as asyncio's `Process.returncode`: `None` while
    /// it runs (or before anyone waited for it), its exit code, or minus the
    /// number of the signal that killed it (`-9` for `SIGKILL`).
    pub fn returncode(&self) -> Option<i32> {
        self.status.map(returncode)
    }

    /// Kills the child with `SIGKILL` (asyncio: `Process.kill`). Does not
    /// wait for it: call [`wait`](Child::wait).
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(()); // already reaped: its pid may belong to another process now
        }
        self.inner.kill()
    }

    /// Whether it has exited, without waiting; reaps it if so.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.inner.try_wait()?;
        }
        Ok(self.status)
    }

    // ANCHOR: wait
    /// Suspends the task until the child exits and returns how it ended
    /// (asyncio: `await proc.wait()`). If the task is cancelled meanwhile,
    /// the child is killed and reaped, and the cancellation returned.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            let waited = match &self.exit {
                Some(pidfd) => pidfd.readable("Child::wait"),
                None => {
                    let pid = self.id();
                    run_in_executor(move || wait_without_reaping(pid))
                        .map_err(io::Error::from)
                        .and_then(|waited| waited)
                }
            };
            if let Err(error) = waited {
                if Cancelled::is_in(&error) {
                    self.kill_and_reap();
                }
                return Err(error);
            }
        }
    }
    // ANCHOR_END: wait

    /// Kills the child and waits for it on the spot: after `SIGKILL` the
    /// kernel ends it at once, so this blocks the loop for microseconds.
    fn kill_and_reap(&mut self) {
        if self.status.is_none() {
            let _ = self.inner.kill();
            self.status = self.inner.wait().ok();
        }
    }

    // ANCHOR: communicate
    /// Writes `input` to the child's stdin and closes it, reads its stdout
    /// and stderr to the end, all at once, then waits for it to exit
    /// (asyncio: `await proc.communicate(input)`). Outputs not piped come
    /// back empty. A child that exits without reading all its input is not
    /// an error (the write's `EPIPE` is ignored, as in asyncio).
    ///
    /// If the task is cancelled meanwhile, the child is killed and reaped,
    /// the helper tasks are stopped, and the cancellation is returned.
    pub fn communicate(&mut self, input: &[u8]) -> io::Result<Output> {
        let stdin = self.stdin.take();
        let input = input.to_vec();
        let writer = spawn("stdin writer", move || -> io::Result<()> {
            if let Some(stdin) = stdin {
                match stdin.write_all(&input) {
                    Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {}
                    other => other?,
                }
            } // dropped: the child sees end of file
            Ok(())
        });
        let stdout = self.stdout.take().map(|pipe| pipe.fd);
        let stderr = self.stderr.take().map(|pipe| pipe.fd);
        let out = spawn("stdout reader", move || read_to_end(stdout));
        let err = spawn("stderr reader", move || read_to_end(stderr));
        let flat = |joined: Result<io::Result<Vec<u8>>, crate::TaskError>| {
            joined.map_err(io::Error::other).and_then(|result| result)
        };
        let wrote = flat(writer.join().map(|r| r.map(|()| Vec::new())));
        if let Err(error) = wrote {
            // Cancelled, or the pipe failed: stop the child, so the readers
            // see end of file and finish too.
            self.kill_and_reap();
            let _ = (out.join(), err.join());
            return Err(error);
        }
        // A failed read (or a cancellation) kills the child first, so that
        // the other reader sees end of file instead of waiting for it.
        let stdout = flat(out.join());
        if stdout.is_err() {
            self.kill_and_reap();
        }
        let stderr = flat(err.join());
        let (stdout, stderr) = match (stdout, stderr) {
            (Ok(stdout), Ok(stderr)) => (stdout, stderr),
            (Err(error), _) | (_, Err(error)) => {
                self.kill_and_reap();
                return Err(error);
            }
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
    // ANCHOR_END: communicate
}

/// Reads a pipe to its end (nothing if there is no pipe).
fn read_to_end(pipe: Option<AsyncFd>) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let Some(pipe) = pipe else { return Ok(all) };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buf, "Child::communicate")? {
            0 => return Ok(all),
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// `returncode` from an exit status: the code, or minus the signal.
fn returncode(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        (None, None) => i32::MIN, // neither exited nor killed: cannot happen after wait
    }
}

/// The writing end of a child's stdin.
#[derive(Debug)]
pub struct ChildStdin {
    fd: AsyncFd,
}

impl ChildStdin {
    /// Writes some of `buf`, waiting until the pipe takes at least a byte.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.write(buf, "ChildStdin::write")
    }

    /// Writes all of `buf` (std's `Write::write_all`, over [`write`](Self::write)).
    /// Fails with `BrokenPipe` if the child closed its stdin (or exited) first.
    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(&mut &*self, buf)
    }
}

/// `std::io::Write`, so `write!` and friends work in a task; no buffer, so
/// `flush` does nothing.
impl Write for &ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        ChildStdin::write(self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading end of a child's stdout.
#[derive(Debug)]
pub struct ChildStdout {
    fd: AsyncFd,
}

/// The reading end of a child's stderr.
#[derive(Debug)]
pub struct ChildStderr {
    fd: AsyncFd,
}

macro_rules! reading_end {
    ($name:ident, $what:literal) => {
        impl $name {
            /// Reads what the child wrote, waiting if nothing is there yet;
            /// `Ok(0)` at the end (the child closed it or exited).
            pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.fd.read(buf, $what)
            }

            /// Reads to the end.
            pub fn read_to_end(self) -> io::Result<Vec<u8>> {
                read_to_end(Some(self.fd))
            }
        }
    };
}

reading_end!(ChildStdout, "ChildStdout::read");
reading_end!(ChildStderr, "ChildStderr::read");

impl std::fmt::Debug for AsyncFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsyncFd({})", self.source.io.as_fd().as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallback for kernels without pidfds: `waitid(WNOWAIT)` returns
    /// once the child has exited but leaves it for `try_wait` to reap.
    #[test]
    fn waiting_without_reaping_leaves_the_status_to_collect() {
        let mut child = process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .expect("sh starts");
        wait_without_reaping(child.id()).expect("waitid");
        let status = child.try_wait().expect("try_wait").expect("exited");
        assert_eq!(returncode(status), 7);
    }

    #[test]
    fn returncode_is_minus_the_signal() {
        assert_eq!(returncode(ExitStatus::from_raw(9)), -9); // killed by SIGKILL
        assert_eq!(returncode(ExitStatus::from_raw(3 << 8)), 3); // exit(3)
    }
}
