//! Helpers shared by the integration tests: run a lesson binary, read its
//! trace, and make sure no test can hang.
//!
//! # No test may hang CI
//!
//! A liveness bug in the reactor (a lost wake-up, a loop that never yields
//! to the selector) does not make a test fail: it makes it wait forever, and
//! CI stalls until its own time limit with no clue which test hung. So every
//! test that runs a lesson binary or a loop goes through one of these:
//!
//! * **A lesson binary**: [`run_bin`] / [`run_bin_with`] (must succeed) or
//!   [`run_bin_unchecked`] (any exit status). Each kills the child after
//!   [`BIN_DEADLINE`] and fails with `` `07-tasks --virtual` did not finish
//!   within 20 s ``. For a hand-built `Command`, use [`output_within`]; for
//!   a child the test talks to while it runs (reads its first lines, feeds
//!   its stdin, signals it), [`spawn_within`].
//! * **A loop in the test process**: wrap the test's body in [`within`]:
//!
//!   ```ignore
//!   #[test]
//!   fn my_test() {
//!       common::within("my_test's loop", common::LOOP_DEADLINE, || {
//!           let mut event_loop = EventLoop::new().unwrap();
//!           // …
//!       });
//!   }
//!   ```
//!
//!   The body runs on a thread of its own (build the loop inside it: a loop
//!   is `!Send`), and the test fails with `my_test's loop did not finish
//!   within 30 s` if it has not returned by then; a panic in the body fails
//!   the test as usual. The stuck thread is left behind and ends with the
//!   test process.
//! * **Where the body cannot move to a thread**: a [`Watchdog`] guard, which
//!   aborts the whole test process with a named message when it expires. A
//!   loop spinning on this thread cannot be interrupted any other way.
//!
//! Servers driven over TCP (`server.rs`) have deadlines of their own on every
//! read, write, wait and start.

#![allow(dead_code)] // each test file uses its own subset

pub mod model;
pub mod reactor;
pub mod server;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a lesson binary may run in a test. Every lesson finishes in a
/// second or two, even in a debug build on a loaded machine.
pub const BIN_DEADLINE: Duration = Duration::from_secs(20);

/// How long an in-process loop may run in a test (see [`within`]).
pub const LOOP_DEADLINE: Duration = Duration::from_secs(30);

/// Runs a lesson binary to completion with `args`, with `RUST_BACKTRACE`
/// unset unless the test sets it, and returns what it printed. Fails the test
/// if it exits with an error, or if it does not finish within
/// [`BIN_DEADLINE`] (then it is killed).
pub fn run_bin(path: &str, args: &[&str]) -> Output {
    run_bin_with(path, args, &[])
}

/// Like [`run_bin`], with extra environment variables.
pub fn run_bin_with(path: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = run_bin_unchecked(path, args, env);
    assert!(
        output.status.success(),
        "{path} {args:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Like [`run_bin_with`], but any exit status is fine (for tests of how a
/// lesson fails); only a hang fails the test.
pub fn run_bin_unchecked(path: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(path);
    command
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    output_within(&mut command, &command_line(path, args), BIN_DEADLINE)
}

/// `` `07-tasks --virtual` ``: a binary and its arguments as a learner
/// would type them, to name it in a failure.
pub fn command_line(path: &str, args: &[&str]) -> String {
    let name = Path::new(path)
        .file_name()
        .map_or(path.into(), |name| name.to_string_lossy());
    let line = [name.as_ref()]
        .into_iter()
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    format!("`{line}`")
}

/// Runs `command` to completion (stdin empty, stdout and stderr captured)
/// and returns what it printed; if it is still running after `deadline`,
/// kills it and fails the test with "`what` did not finish within …",
/// showing what it printed so far.
pub fn output_within(command: &mut Command, what: &str, deadline: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{what} does not start: {error}"));
    // Read both pipes on threads: a child that fills one blocks until it is read.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "{what} did not finish within {} s: it hangs (killed it)\nstdout so far:\n{}\nstderr so far:\n{}",
            deadline.as_secs(),
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A child process that a test talks to while it runs (reads its first
/// lines, feeds its standard input, sends it a signal), started by
/// [`spawn_within`]. A watchdog thread kills it if it is still running after
/// its deadline: its pipes then close, so a test blocked reading them wakes
/// up, and [`TimedChild::wait`] fails the test with "`what` did not finish
/// within …". Dropped early (the test failed), it kills the child, so no
/// process outlives its test.
pub struct TimedChild {
    /// The child's standard input, output and error, if they were piped
    /// (taken out of the `Child`, so that reading them needs no lock).
    pub stdin: Option<std::process::ChildStdin>,
    pub stdout: Option<std::process::ChildStdout>,
    pub stderr: Option<std::process::ChildStderr>,
    /// Shared with the watchdog, which kills it through `Child::kill`: that
    /// never signals a process that was already waited for, so a reused
    /// process id is never hit.
    child: Arc<Mutex<Child>>,
    /// Set by the watchdog when it had to kill the child.
    killed: Arc<AtomicBool>,
    what: String,
    deadline: Duration,
    /// Dropping it tells the watchdog that the child was waited for.
    _disarm: mpsc::Sender<()>,
}

/// Starts `command` (its stdio as the caller set it up) and arms a watchdog
/// that kills it after `deadline`; see [`TimedChild`]. For a child that
/// only needs running to the end, [`output_within`] is simpler.
pub fn spawn_within(command: &mut Command, what: &str, deadline: Duration) -> TimedChild {
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("{what} does not start: {error}"));
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let child = Arc::new(Mutex::new(child));
    let killed = Arc::new(AtomicBool::new(false));
    let (disarm, disarmed) = mpsc::channel::<()>();
    let (watched, kill_flag) = (child.clone(), killed.clone());
    thread::spawn(move || {
        if disarmed.recv_timeout(deadline) == Err(mpsc::RecvTimeoutError::Timeout) {
            let mut child = watched.lock().unwrap_or_else(PoisonError::into_inner);
            if matches!(child.try_wait(), Ok(None)) {
                kill_flag.store(true, Ordering::SeqCst);
                let _ = child.kill();
            }
        }
    });
    TimedChild {
        stdin,
        stdout,
        stderr,
        child,
        killed,
        what: what.to_string(),
        deadline,
        _disarm: disarm,
    }
}

impl TimedChild {
    /// The child's process id (to send it a signal).
    pub fn id(&self) -> u32 {
        self.lock().id()
    }

    /// Waits for the child to exit; fails the test if the watchdog had to
    /// kill it.
    pub fn wait(&mut self) -> ExitStatus {
        self.wait_within(self.deadline, "it started")
    }

    /// Waits at most `limit` (from now) for the child to exit, e.g. a server
    /// that must stop within 2 s of Ctrl-C; kills it and fails the test,
    /// naming `after`, if it is still running then, or if the watchdog
    /// killed it first.
    pub fn wait_within(&mut self, limit: Duration, after: &str) -> ExitStatus {
        let started = Instant::now();
        loop {
            let status = self.lock().try_wait().expect("waiting for a child");
            if self.killed.load(Ordering::SeqCst) {
                panic!(
                    "{} did not finish within {} s: it hangs (killed it)",
                    self.what,
                    self.deadline.as_secs()
                );
            }
            if let Some(status) = status {
                return status;
            }
            if started.elapsed() > limit {
                self.kill();
                panic!(
                    "{} was still running {limit:?} after {after} (killed it)",
                    self.what
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&self) {
        let mut child = self.lock();
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for TimedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `body` on a thread of its own and returns what it returns; fails the
/// test with "`what` did not finish within …" if it has not returned after
/// `deadline`. A panic in `body` fails the test with its own message.
///
/// Build the loop *inside* `body` (a loop is `!Send`). If `body` hangs, its
/// thread is left behind, blocked or spinning, until the test process ends:
/// a thread cannot be killed, but the test fails in time and says what hung.
pub fn within<T: Send + 'static>(
    what: &str,
    deadline: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, finished) = mpsc::channel();
    let runner = thread::Builder::new()
        .name(what.to_string())
        .spawn(move || {
            // Sends on return and on unwind alike (the guard is dropped then).
            let _signal = done;
            body()
        })
        .expect("a thread for the test body");
    match finished.recv_timeout(deadline) {
        // Disconnected: the body returned or panicked; `join` tells which.
        Err(mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Ok(()) => unreachable!("nothing is sent: the channel only closes"),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "{what} did not finish within {} s: it hangs (a lost wake-up, or a \
             loop that never returns?)",
            deadline.as_secs()
        ),
    }
}

/// Aborts the whole test process, naming `what`, unless dropped within its
/// deadline. For a loop that must run on the test's own thread (prefer
/// [`within`], which fails only the one test):
///
/// ```ignore
/// let _watchdog = common::Watchdog::arm("the drop of a loop", Duration::from_secs(30));
/// ```
pub struct Watchdog {
    /// Dropping it tells the watchdog thread that we finished in time.
    _disarm: mpsc::Sender<()>,
}

impl Watchdog {
    /// Starts counting `deadline` down.
    pub fn arm(what: &str, deadline: Duration) -> Watchdog {
        let (disarm, disarmed) = mpsc::channel::<()>();
        let what = what.to_string();
        thread::spawn(move || {
            if disarmed.recv_timeout(deadline) == Err(mpsc::RecvTimeoutError::Timeout) {
                eprintln!(
                    "watchdog: {what} did not finish within {} s: it hangs; aborting the test process",
                    deadline.as_secs()
                );
                std::process::abort();
            }
        });
        Watchdog { _disarm: disarm }
    }
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("lessons print UTF-8")
}

/// The trace lines (`0.500 b middle`) of `text`, as (time, message).
pub fn trace(text: &str) -> Vec<(Duration, String)> {
    text.lines()
        .filter_map(|line| {
            let (time, message) = line.split_once(' ')?;
            let (secs, millis) = time.split_once('.')?;
            if millis.len() != 3 {
                return None;
            }
            let at = Duration::from_secs(secs.parse().ok()?)
                + Duration::from_millis(millis.parse().ok()?);
            Some((at, message.to_string()))
        })
        .collect()
}

/// `[(0, "a enter"), (1000, "a exit")]` → the trace it describes.
pub fn expected(lines: &[(u64, &str)]) -> Vec<(Duration, String)> {
    lines
        .iter()
        .map(|&(ms, message)| (Duration::from_millis(ms), message.to_string()))
        .collect()
}

/// The slides' a/b trace, which lessons 03 and 06 both print.
pub fn ab_trace() -> Vec<(Duration, String)> {
    expected(&[
        (0, "a enter"),
        (0, "b enter"),
        (500, "b middle"),
        (1000, "a exit"),
        (1000, "b exit"),
    ])
}

/// Asserts that `out` is the slides' a/b run on overlapping waits, as
/// lessons 03, 06 and 12 print it: the exact trace, then the timeline whose
/// two rows lie on top of each other.
pub fn assert_ab_run(out: &str) {
    assert_eq!(trace(out), ab_trace(), "{out}");
    assert!(out.contains("a  ●─────────●\n"), "{out}");
    assert!(out.contains("b  ●────●────●\n"), "{out}");
}

/// Asserts that `actual` has the messages of `wanted` in order, each within
/// `tolerance` of its time: how the real clock is checked.
pub fn assert_trace_near(
    actual: &[(Duration, String)],
    wanted: &[(Duration, String)],
    tolerance: Duration,
) {
    let messages: Vec<&str> = actual.iter().map(|(_, m)| m.as_str()).collect();
    let wanted_messages: Vec<&str> = wanted.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(messages, wanted_messages);
    for ((at, message), (want, _)) in actual.iter().zip(wanted) {
        let off = at.abs_diff(*want);
        assert!(
            off <= tolerance,
            "{message:?} at {at:?}, wanted {want:?} ± {tolerance:?}"
        );
    }
}
