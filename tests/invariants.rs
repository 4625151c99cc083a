//! The reactor's invariants that show up only as liveness: a mutation run
//! (issue 17, `scripts/mutants.sh`) planted a bug in each and no trace test
//! noticed. Each test here is named for what it protects and says which bug
//! it catches; `docs/src/mutation.md` records that each one fails with its
//! bug planted. The stack-pool invariants are in `stack_invariants.rs`, and
//! `EINTR` in a unit test of `src/reactor/tcp.rs`.
//!
//! Every test runs its loop under [`common::within`], because the usual way
//! these bugs show is a loop that never returns.

mod common;

use std::cell::{Cell, RefCell};
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::reactor::{assert_a_hopeless_wait_is_stuck, loopback_pair, virtual_loop};
use common::within;
use nix::poll::{poll, PollFd, PollFlags};
use yieldloop::{
    secs, sleep, spawn, wait, yield_now, EventLoop, Future, TaskError, TcpStream, WaitMode,
};

/// These loops finish in milliseconds; a hang is what the planted bugs cause.
const DEADLINE: Duration = Duration::from_secs(10);

/// Blocks until the bytes written to `socket`'s peer have reached `socket`.
/// On loopback they normally arrive within `write`, but a loaded machine may
/// hand them to a kernel thread to deliver a moment later; the tests below
/// are about what the loop does once they are there, so they make sure.
/// (This blocks the whole loop, for microseconds.)
fn until_readable(socket: &TcpStream) {
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
    let ready = poll(&mut fds, 5000u16).unwrap();
    assert_eq!(ready, 1, "bytes written on loopback did not arrive in 5 s");
}

/// Catches: `run_once` moving due timers to the ready queue only when the
/// queue is empty. A task that yields in a loop keeps the queue non-empty
/// for ever, so a sleeper's timer would never fire.
#[test]
fn a_task_looping_on_yield_now_does_not_starve_a_due_timer() {
    within("a yield_now loop beside a sleeper", DEADLINE, || {
        let mut event_loop = EventLoop::new().unwrap();
        let (yields, waited) = event_loop
            .run_until_complete(|| {
                let woke = Rc::new(Cell::new(false));
                let flag = woke.clone();
                drop(spawn("sleeper", move || {
                    sleep(Duration::from_millis(20)).unwrap();
                    flag.set(true);
                }));
                // Spin until the sleeper has run, or give up after 3 s: a
                // 20 ms timer is due long before that even on a loaded machine.
                let started = Instant::now();
                let mut yields = 0u64;
                while !woke.get() && started.elapsed() < Duration::from_secs(3) {
                    yield_now().unwrap();
                    yields += 1;
                }
                (yields, woke.get().then(|| started.elapsed()))
            })
            .unwrap();
        let waited = waited.unwrap_or_else(|| {
            panic!("the 20 ms sleeper never woke while main yielded {yields} times")
        });
        assert!(waited < Duration::from_secs(2), "woke after {waited:?}");
    });
}

/// Catches: `Core::wake` not decrementing `io_waiters`. The loop would then
/// believe a task still waits on a socket after the read was served: it
/// would block in `select` for ever instead of seeing it has nothing left.
#[test]
fn after_io_is_served_run_forever_returns_and_a_hopeless_wait_is_stuck() {
    within("run_forever after a served read", DEADLINE, || {
        let mut event_loop = EventLoop::new().unwrap();
        let (ours, peer) = loopback_pair();
        let got = Rc::new(RefCell::new(Vec::new()));
        let into = got.clone();
        drop(event_loop.spawn("reader", move || {
            let mut buf = [0u8; 16];
            let n = ours.read(&mut buf).unwrap(); // suspends: nothing sent yet
            into.borrow_mut().extend_from_slice(&buf[..n]);
        }));
        drop(event_loop.spawn("writer", move || {
            yield_now().unwrap(); // the reader is suspended in `read` by now
            peer.write_all(b"ping").unwrap();
        }));
        // Returns only once the loop knows nobody waits on I/O any more.
        event_loop.run_forever().unwrap();
        assert_eq!(*got.borrow(), b"ping");
        assert_eq!(event_loop.task_count(), 0);

        assert_a_hopeless_wait_is_stuck(&mut event_loop);
    });
}

/// Catches: `Core::wake` not checking that the task still waits for what
/// the report is about. A socket's record names the task waiting to read it
/// until that task runs again, so a report can come for a task that is no
/// longer waiting: here the reader is cancelled (woken at once) while data
/// is on its way, and `select` reports the data before the task runs. That
/// stale report must be ignored; waking the task a second time would put it
/// on the ready queue twice, and the second turn would end the 5 s sleep it
/// moved on to at once. A second task waiting on another socket keeps
/// `select` in use (with no I/O waiter the loop would not look at the
/// selector at all).
#[test]
fn a_stale_io_event_does_not_wake_a_task_that_moved_on_to_sleep() {
    within("a sleeper with a stale I/O event", DEADLINE, || {
        let (mut event_loop, clock) = virtual_loop();
        let times = event_loop
            .run_until_complete(move || {
                let (x, x_peer) = loopback_pair();
                let (y, y_peer) = loopback_pair();
                let x = Rc::new(x);
                let x_seen_from_main = x.clone();
                let c = clock.clone();
                let sleeper = spawn("sleeper", move || {
                    let mut buf = [0u8; 16];
                    // Registers x with this task as its reader, and is
                    // cancelled there: the task catches it and moves on.
                    let cancelled = x.read(&mut buf).expect_err("cancelled, not served");
                    drop(cancelled);
                    let before = c.now();
                    sleep(secs(5.0)).unwrap();
                    (before, c.now())
                });
                // Keeps `io_waiters` above zero while the sleeper sleeps.
                let other_waiter = spawn("other waiter", move || {
                    let mut buf = [0u8; 16];
                    y.read(&mut buf).unwrap()
                });
                yield_now().unwrap(); // both are suspended in `read` now
                x_peer.write_all(b"late").unwrap(); // the next `select` reports x
                until_readable(&x_seen_from_main);
                // Wakes the sleeper now: it is queued, still named as x's
                // reader, when the report on x comes.
                assert!(sleeper.cancel());
                let times = sleeper.join().unwrap();
                // The other waiter stays suspended; dropping the loop unwinds it.
                drop((other_waiter, y_peer));
                times
            })
            .unwrap();
        assert_eq!(times, (secs(0.0), secs(5.0)), "the sleep ended early");
    });
}

/// Catches: `add_done_callback` doing nothing on a future that is already
/// done. Its doc promises the callback runs at once; no loop is needed.
#[test]
fn add_done_callback_on_a_finished_future_runs_at_once() {
    let future: Future<u32, TaskError> = Future::new();
    future.set_result(7).unwrap();
    let seen = Rc::new(Cell::new(None));
    let into = seen.clone();
    future.add_done_callback(move |result| into.set(Some(*result.as_ref().unwrap())));
    assert_eq!(seen.get(), Some(7), "the callback did not run at once");
}

/// Catches: the virtual clock jumping to the next timer even though `select`
/// just reported I/O. The read below is served at t = 0: the data was there
/// at once, and a 5 s sleeper pending beside it must not move the clock.
#[test]
fn on_a_virtual_clock_a_read_served_at_once_logs_t0_despite_a_pending_timer() {
    within("a read beside a 5 s sleeper", DEADLINE, || {
        let (mut event_loop, clock) = virtual_loop();
        let (read_at, ended_at) = event_loop
            .run_until_complete(move || {
                let (ours, peer) = loopback_pair();
                let ours = Rc::new(ours);
                let ours_seen_by_writer = ours.clone();
                let sleeper = spawn("sleeper", || sleep(secs(5.0)));
                let c = clock.clone();
                let reader = spawn("reader", move || {
                    let mut buf = [0u8; 16];
                    ours.read(&mut buf).unwrap(); // suspends: nothing sent yet
                    c.now()
                });
                let writer = spawn("writer", move || {
                    peer.write_all(b"now").unwrap();
                    until_readable(&ours_seen_by_writer);
                    peer
                });
                let read_at = reader.join().unwrap();
                let _peer = writer.join().unwrap();
                sleeper.join().unwrap().unwrap();
                (read_at, clock.now())
            })
            .unwrap();
        assert_eq!(read_at, secs(0.0), "the clock jumped past an I/O event");
        assert_eq!(ended_at, secs(5.0));
    });
}

/// Catches: `wait(AllCompleted)` returning as soon as any handle is done.
/// Called while all three tasks are still running, it must return only when
/// the slowest has finished, with nothing pending.
#[test]
fn wait_all_completed_called_early_waits_for_every_task() {
    within("wait(AllCompleted)", DEADLINE, || {
        let (mut event_loop, clock) = virtual_loop();
        let (at, done, pending) = event_loop
            .run_until_complete(move || {
                let handles: Vec<_> = [0.3, 0.1, 0.2]
                    .into_iter()
                    .map(|s| spawn("sleeper", move || sleep(secs(s))))
                    .collect();
                assert!(handles.iter().all(|h| !h.is_finished()));
                let (done, pending) = wait(handles, WaitMode::AllCompleted).unwrap();
                (clock.now(), done.len(), pending.len())
            })
            .unwrap();
        assert_eq!((at, done, pending), (secs(0.3), 3, 0));
    });
}
