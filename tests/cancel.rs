//! Lesson 08's runtime: cancellation at every kind of suspension point, and
//! the semantics of `cancel`, `wait_for`, `shield` and `scope`, each pinned
//! on the virtual clock.

use std::cell::RefCell;
use std::error::Error;
use std::io::{self, Write as _};
use std::net;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use yieldloop::{
    gather, now, scope, secs, shield, sleep, spawn, wait, wait_for, yield_now, Builder,
    CancelCause, Cancelled, Clock, EventLoop, Future, SuspendError, TaskError, TcpListener,
    TcpStream, TimedOut, WaitError, WaitMode,
};

/// Fails the test (aborting the process) if it runs longer than a minute:
/// a hang must not stall CI.
fn watchdog() {
    let (done, wait) = mpsc::channel::<()>();
    thread::spawn(move || {
        if wait.recv_timeout(Duration::from_secs(60)) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("tests/cancel.rs: a test hung for 60 s");
            std::process::abort();
        }
    });
    // The sender lives as long as the test thread's local storage.
    thread_local!(static DONE: RefCell<Option<mpsc::Sender<()>>> = const { RefCell::new(None) });
    DONE.with(|slot| *slot.borrow_mut() = Some(done));
}

fn virtual_loop() -> EventLoop {
    watchdog();
    Builder::new()
        .clock(Clock::new_virtual())
        .build()
        .expect("a loop")
}

/// The log of what happened, with loop times in milliseconds.
type Log = Rc<RefCell<Vec<(u64, String)>>>;

fn ms() -> u64 {
    now().map_or(u64::MAX, |t| t.as_millis() as u64)
}

fn note(log: &Log, what: impl Into<String>) {
    log.borrow_mut().push((ms(), what.into()));
}

/// Notes "`name` cleanup" when dropped: a task's `finally`.
struct Guard(Log, &'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        note(&self.0, format!("{} cleanup", self.1));
    }
}

fn entries(log: &Log) -> Vec<(u64, String)> {
    log.borrow().clone()
}

/// Waits until 1 s, cancels `task` and joins it: what most tests here do.
fn cancel_at_1s_and_join<T: 'static>(task: yieldloop::JoinHandle<T>) -> Result<T, TaskError> {
    sleep(secs(1.0)).unwrap();
    task.cancel();
    task.join()
}

fn is_requested_cancel(result: &Result<impl Sized, TaskError>, name: &str) -> bool {
    matches!(result, Err(TaskError::Cancelled { task, cause: CancelCause::Requested(_) }) if task == name)
}

#[test]
fn cancelling_a_sleeping_task_runs_its_guards_at_once_and_removes_its_timer() {
    let mut event_loop = virtual_loop();
    let log = Log::default();
    let task_log = log.clone();
    let joined = event_loop
        .run_until_complete(move || {
            let inner = task_log.clone();
            let sleeper = spawn("sleeper", move || -> Result<(), SuspendError> {
                let _guard = Guard(inner, "sleeper");
                sleep(secs(10.0))?;
                Ok(())
            });
            sleep(secs(1.0)).unwrap();
            assert!(sleeper.cancel(), "an unfinished task can be cancelled");
            let joined = sleeper.join();
            note(&task_log, "joined");
            joined
        })
        .unwrap();
    assert!(is_requested_cancel(&joined, "sleeper"), "{joined:?}");
    assert_eq!(
        entries(&log),
        [(1000, "sleeper cleanup".into()), (1000, "joined".into())]
    );
    assert_eq!(event_loop.timer_count(), 0, "the cancelled sleep's timer");
    assert_eq!(
        event_loop.time(),
        secs(1.0),
        "nothing waited for the 10 s timer"
    );
}

#[test]
fn a_task_cancelled_before_it_starts_never_runs() {
    let mut event_loop = virtual_loop();
    let ran = Rc::new(RefCell::new(false));
    let flag = ran.clone();
    let joined = event_loop
        .run_until_complete(move || {
            let task = spawn("never", move || *flag.borrow_mut() = true);
            assert!(task.cancel());
            task.join()
        })
        .unwrap();
    assert!(is_requested_cancel(&joined, "never"), "{joined:?}");
    assert!(
        !*ran.borrow(),
        "the body of a task cancelled before its first step"
    );
}

#[test]
fn cancelling_a_finished_task_does_nothing_and_says_so() {
    let mut event_loop = virtual_loop();
    let (cancelled, joined) = event_loop
        .run_until_complete(|| {
            let task = spawn("quick", || 5);
            sleep(secs(0.1)).unwrap();
            (task.cancel(), task.join())
        })
        .unwrap();
    assert!(!cancelled);
    assert_eq!(joined, Ok(5));
}

#[test]
fn a_task_may_catch_the_cancellation_clean_up_with_waits_and_return_a_value() {
    let mut event_loop = virtual_loop();
    let log = Log::default();
    let task_log = log.clone();
    let joined = event_loop
        .run_until_complete(move || {
            let inner = task_log.clone();
            let task = spawn("polite", move || match sleep(secs(10.0)) {
                Err(SuspendError::Cancelled(cancelled)) => {
                    note(&inner, format!("caught: {cancelled}"));
                    drop(cancelled); // caught: the task is no longer being cancelled
                    sleep(secs(0.5)).expect("waits work again after the cancellation");
                    note(&inner, "goodbye written");
                    "cleaned up"
                }
                other => panic!("expected a cancellation, got {other:?}"),
            });
            cancel_at_1s_and_join(task)
        })
        .unwrap();
    assert_eq!(joined, Ok("cleaned up"));
    assert_eq!(
        entries(&log),
        [
            (
                1000,
                "caught: task \"polite\" was cancelled while it waited".into()
            ),
            (1500, "goodbye written".into())
        ]
    );
}

#[test]
fn two_cancels_before_delivery_are_delivered_once() {
    let mut event_loop = virtual_loop();
    let joined = event_loop
        .run_until_complete(|| {
            let task = spawn("twice", || {
                let first = sleep(secs(10.0));
                let cleanup = sleep(secs(1.0));
                (first.is_err(), cleanup.is_ok())
            });
            sleep(secs(1.0)).unwrap();
            assert!(task.cancel());
            assert!(
                task.cancel(),
                "still unfinished: true, and the same request"
            );
            task.join()
        })
        .unwrap();
    assert_eq!(joined, Ok((true, true)));
}

#[test]
fn a_cancel_during_the_cleanup_is_a_second_delivery() {
    let mut event_loop = virtual_loop();
    let joined = event_loop
        .run_until_complete(|| {
            let task = spawn("stubborn", || {
                let first = sleep(secs(10.0));
                let cleanup = sleep(secs(10.0));
                (first.is_err(), cleanup.is_err(), ms())
            });
            sleep(secs(1.0)).unwrap();
            task.cancel();
            cancel_at_1s_and_join(task)
        })
        .unwrap();
    assert_eq!(joined, Ok((true, true, 2000)));
}

#[test]
fn a_task_cancelled_while_running_gets_it_at_its_next_suspension_point() {
    let mut event_loop = virtual_loop();
    let (joined, returned) = event_loop
        .run_until_complete(|| {
            let slot = Rc::new(RefCell::new(None::<yieldloop::JoinHandle<u64>>));
            let own = slot.clone();
            let returned = Rc::new(RefCell::new(None));
            let seen = returned.clone();
            let task = spawn("self", move || {
                let cancelled_itself = own.borrow().as_ref().map(|handle| handle.cancel());
                let result = sleep(secs(1.0));
                *seen.borrow_mut() = Some((cancelled_itself, result.is_err()));
                ms() // returns a value: but its cancellation is in `result`, alive
            });
            *slot.borrow_mut() = Some(task);
            sleep(secs(2.0)).unwrap();
            let task = slot.borrow_mut().take().expect("the handle");
            let joined = task.join();
            let returned = *returned.borrow();
            (joined, returned)
        })
        .unwrap();
    assert_eq!(
        returned,
        Some((Some(true), true)),
        "delivered without suspending"
    );
    // `result` (holding the cancellation) was still alive when the closure
    // returned? No: it was moved into `seen`'s `is_err()` and dropped, so
    // the task caught it and its value stands.
    assert_eq!(joined, Ok(0));
}

#[test]
fn cancel_in_a_future_wait_leaves_the_waiter_list() {
    let mut event_loop = virtual_loop();
    let future: Future<u32, WaitError> = Future::new();
    let waited = future.clone();
    let (count_while_waiting, joined) = event_loop
        .run_until_complete(move || {
            let task = spawn("waiter", move || waited.wait());
            sleep(secs(0.1)).unwrap();
            let count = future.waiter_count();
            task.cancel();
            let joined = task.join();
            (count, (joined, future.waiter_count()))
        })
        .unwrap();
    assert_eq!(count_while_waiting, 1);
    assert!(is_requested_cancel(&joined.0, "waiter"), "{:?}", joined.0);
    assert_eq!(joined.1, 0, "the cancelled wait left the waiter list");
}

#[test]
fn a_cancelled_sleep_is_never_woken_by_its_old_timer() {
    // Caught at 1 s, the cleanup sleeps 20 s. Had the 10 s timer stayed, it
    // would wake the cleanup at 10 s instead of 21 s.
    let mut event_loop = virtual_loop();
    let ended = event_loop
        .run_until_complete(|| {
            let task = spawn("cleaner", || {
                let _ = sleep(secs(10.0));
                sleep(secs(20.0)).unwrap();
                ms()
            });
            cancel_at_1s_and_join(task)
        })
        .unwrap();
    assert_eq!(ended, Ok(21_000));
}

#[test]
fn joining_owns_the_task_and_shield_opts_out() {
    let mut event_loop = virtual_loop();
    let log = Log::default();
    let task_log = log.clone();
    event_loop
        .run_until_complete(move || {
            for shielded in [false, true] {
                let inner = task_log.clone();
                let worker = spawn("worker", move || {
                    let _guard = Guard(inner, if shielded { "shielded" } else { "owned" });
                    sleep(secs(2.0))
                });
                let worker = if shielded { shield(worker) } else { worker };
                let waiter = spawn("waiter", move || worker.join());
                sleep(secs(1.0)).unwrap();
                waiter.cancel();
                let joined = waiter.join();
                assert!(is_requested_cancel(&joined, "waiter"), "{joined:?}");
                note(&task_log, "waiter joined");
                sleep(secs(2.0)).unwrap();
            }
        })
        .unwrap();
    assert_eq!(
        entries(&log),
        [
            (1000, "owned cleanup".into()),
            (1000, "waiter joined".into()),
            (4000, "waiter joined".into()),
            (5000, "shielded cleanup".into()),
        ]
    );
}

#[test]
fn grandfather_father_son_are_cancelled_innermost_first_at_the_moment_of_the_cancel() {
    let mut event_loop = virtual_loop();
    let log = Log::default();
    let task_log = log.clone();
    let joined = event_loop
        .run_until_complete(move || {
            let (g, f, s) = (task_log.clone(), task_log.clone(), task_log.clone());
            let grandfather = spawn("grandfather", move || -> Result<(), TaskError> {
                let _guard = Guard(g, "grandfather");
                spawn("father", move || -> Result<(), TaskError> {
                    let _guard = Guard(f, "father");
                    spawn("son", move || -> Result<(), SuspendError> {
                        let _guard = Guard(s, "son");
                        sleep(secs(10.0))
                    })
                    .join()??;
                    Ok(())
                })
                .join()??;
                Ok(())
            });
            cancel_at_1s_and_join(grandfather)
        })
        .unwrap();
    assert!(is_requested_cancel(&joined, "grandfather"), "{joined:?}");
    assert_eq!(
        entries(&log),
        [
            (1000, "son cleanup".into()),
            (1000, "father cleanup".into()),
            (1000, "grandfather cleanup".into())
        ]
    );
}

#[test]
fn gather_and_wait_cancel_what_they_own() {
    let mut event_loop = virtual_loop();
    let (gathered, after_gather, waited) = event_loop
        .run_until_complete(|| {
            let gatherer = spawn("gatherer", || {
                let results =
                    gather((0..3).map(|n| spawn("part", move || sleep(secs(n as f64 + 1.0)))));
                // The gatherer's own cancellation comes back at the next wait.
                let next = sleep(secs(1.0));
                (
                    results.iter().filter(|r| r.is_err()).count(),
                    next.is_err(),
                    ms(),
                )
            });
            let waiter = spawn("waiter", || {
                let handles = (0..3).map(|_| spawn("part", || sleep(secs(5.0)))).collect();
                wait(handles, WaitMode::AllCompleted).map(|_| ())
            });
            sleep(secs(1.5)).unwrap();
            gatherer.cancel();
            waiter.cancel();
            let gathered = gatherer.join().unwrap();
            (gathered, ms(), waiter.join())
        })
        .unwrap();
    // The first part finished at 1 s; the other two were cancelled at 1.5 s.
    assert_eq!(gathered, (2, true, 1500));
    assert_eq!(after_gather, 1500);
    // `wait` returned the waiter's cancellation, which it propagated.
    assert!(is_requested_cancel(&waited, "waiter"), "{waited:?}");
    assert_eq!(event_loop.timer_count(), 0);
    assert_eq!(event_loop.task_count(), 0);
}

// ---- wait_for ----

#[test]
fn wait_for_times_out_a_slow_task_after_its_cleanup_and_passes_a_fast_one() {
    let mut event_loop = virtual_loop();
    let log = Log::default();
    let task_log = log.clone();
    let (slow, fast) = event_loop
        .run_until_complete(move || {
            let inner = task_log.clone();
            let slow = wait_for(secs(1.0), move || -> Result<(), SuspendError> {
                let _guard = Guard(inner, "slow");
                sleep(secs(5.0))?;
                Ok(())
            });
            note(&task_log, "slow returned");
            let fast = wait_for(secs(1.0), || {
                sleep(secs(0.5))?;
                Ok::<_, SuspendError>(42)
            });
            note(&task_log, "fast returned");
            (slow, fast)
        })
        .unwrap();
    assert_eq!(slow, Err(TimedOut { after: secs(1.0) }));
    assert_eq!(fast, Ok(Ok(42)));
    assert_eq!(
        entries(&log),
        [
            (1000, "slow cleanup".into()),
            (1000, "slow returned".into()),
            (1500, "fast returned".into())
        ]
    );
    assert_eq!(
        event_loop.timer_count(),
        0,
        "the fast one's deadline is gone"
    );
}

#[test]
fn nested_wait_for_inner_deadline_first_reports_to_the_inner_caller() {
    let mut event_loop = virtual_loop();
    let (outer, at) = event_loop
        .run_until_complete(|| {
            let outer = wait_for(secs(5.0), || {
                let inner = wait_for(secs(1.0), || sleep(secs(10.0)));
                assert_eq!(inner, Err(TimedOut { after: secs(1.0) }));
                sleep(secs(1.0)).map(|()| "inner timed out, outer went on")
            });
            (outer, ms())
        })
        .unwrap();
    assert_eq!(outer, Ok(Ok("inner timed out, outer went on")));
    assert_eq!(at, 2000);
}

#[test]
fn nested_wait_for_outer_deadline_first_reports_to_the_outer_caller() {
    let mut event_loop = virtual_loop();
    let (outer, at) = event_loop
        .run_until_complete(|| {
            let outer = wait_for(secs(1.0), || {
                let inner = wait_for(secs(5.0), || sleep(secs(10.0)));
                // Not the inner deadline: the inner call says "finished", and
                // what it returns is the outer cancellation, on its way up.
                assert!(
                    matches!(inner, Ok(Err(SuspendError::Cancelled(_)))),
                    "{inner:?}"
                );
                inner
            });
            (outer, ms())
        })
        .unwrap();
    assert_eq!(outer, Err(TimedOut { after: secs(1.0) }));
    assert_eq!(at, 1000);
}

#[test]
fn a_cancel_during_wait_for_cleanup_is_not_lost() {
    // The deadline cancels the work at 1 s; its cleanup sleeps 2 s; at 1.5 s
    // the task is cancelled from outside. wait_for reports its timeout, and
    // the outside cancellation reaches the task's next wait.
    let mut event_loop = virtual_loop();
    let joined = event_loop
        .run_until_complete(|| {
            let task = spawn("timed", || -> Result<u64, Box<dyn Error>> {
                let timed = wait_for(secs(1.0), || match sleep(secs(10.0)) {
                    Err(deadline) => {
                        let cleanup = sleep(secs(2.0));
                        (deadline, cleanup, ms())
                    }
                    Ok(()) => panic!("the deadline must interrupt the sleep"),
                });
                assert_eq!(timed, Err(TimedOut { after: secs(1.0) }));
                assert_eq!(ms(), 1500, "the cleanup was interrupted at 1.5 s");
                sleep(secs(1.0))?; // the outside cancellation arrives here
                Ok(ms())
            });
            sleep(secs(1.5)).unwrap();
            task.cancel();
            task.join()
        })
        .unwrap();
    assert!(is_requested_cancel(&joined, "timed"), "{joined:?}");
}

// ---- scope ----

#[test]
fn scope_returns_when_every_child_succeeded_and_cancels_none() {
    let mut event_loop = virtual_loop();
    let log = Log::default();
    let task_log = log.clone();
    let (result, at) = event_loop
        .run_until_complete(move || {
            let result = scope(|s| {
                for (name, delay) in [("a", 1.0), ("b", 3.0), ("c", 2.0)] {
                    let log = task_log.clone();
                    let _ = s.spawn(name, move || {
                        let slept = sleep(secs(delay));
                        note(&log, format!("{name}: {slept:?}"));
                        slept
                    });
                }
                sleep(secs(0.5)).map(|()| "body done")
            });
            (result.map_err(|e| e.to_string()), ms())
        })
        .unwrap();
    assert_eq!(result, Ok(Ok("body done")));
    assert_eq!(at, 3000, "scope returned when the last child did");
    assert_eq!(
        entries(&log),
        [
            (1000, "a: Ok(())".into()),
            (2000, "c: Ok(())".into()),
            (3000, "b: Ok(())".into())
        ]
    );
}

#[test]
fn scope_with_a_failing_child_cancels_the_siblings_and_the_body_and_returns_the_error() {
    for panics in [false, true] {
        let mut event_loop = virtual_loop();
        let log = Log::default();
        let task_log = log.clone();
        let (result, at) = event_loop
            .run_until_complete(move || {
                let result = scope(|s| {
                    let log = task_log.clone();
                    let _ = s.spawn("sibling", move || {
                        let _guard = Guard(log, "sibling");
                        sleep(secs(10.0))
                    });
                    let _ = s.spawn("broken", move || -> Result<(), Box<dyn Error>> {
                        sleep(secs(1.0))?;
                        if panics {
                            panic!("the disk is on fire");
                        }
                        Err("the disk is full".into())
                    });
                    let body = sleep(secs(10.0));
                    note(&task_log, format!("body: {}", body.is_err()));
                });
                (result.map_err(|e| e.to_string()), ms())
            })
            .unwrap();
        let expected = if panics {
            "task \"broken\" panicked: the disk is on fire"
        } else {
            "the disk is full"
        };
        assert_eq!(result, Err(expected.to_string()));
        assert_eq!(at, 1000);
        assert_eq!(
            entries(&log),
            [
                (1000, "sibling cleanup".into()),
                (1000, "body: true".into())
            ]
        );
        assert_eq!(event_loop.timer_count(), 0);
        assert_eq!(event_loop.task_count(), 0);
    }
}

#[test]
fn scope_cancelled_from_outside_cancels_and_waits_for_every_child() {
    let mut event_loop = virtual_loop();
    let log = Log::default();
    let task_log = log.clone();
    let joined = event_loop
        .run_until_complete(move || {
            let inner = task_log.clone();
            let owner = spawn("owner", move || {
                let log = inner.clone();
                scope(move |s| {
                    for name in ["one", "two"] {
                        let log = log.clone();
                        let _ = s.spawn(name, move || -> Result<(), SuspendError> {
                            let _guard = Guard(log.clone(), name);
                            sleep(secs(10.0))?;
                            Ok(())
                        });
                    }
                })
            });
            sleep(secs(1.0)).unwrap();
            owner.cancel();
            let joined = owner.join();
            note(&task_log, "owner joined");
            joined
        })
        .unwrap();
    assert!(is_requested_cancel(&joined, "owner"), "{joined:?}");
    let mut log = entries(&log);
    let last = log.pop();
    log.sort();
    assert_eq!(
        log,
        [(1000, "one cleanup".into()), (1000, "two cleanup".into())]
    );
    assert_eq!(last, Some((1000, "owner joined".into())));
    assert_eq!(event_loop.task_count(), 0);
}

// ---- sockets ----

fn pair() -> (TcpStream, net::TcpStream) {
    let listener = net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (TcpStream::from_std(server).expect("non-blocking"), client)
}

/// Runs `wait` (which must block on `stream`) in a task, cancels it after
/// 0.1 s, and returns whether the error was a cancellation; the stream
/// stays alive, so only the cancel can have unregistered it.
fn cancel_socket_wait<S: 'static>(
    event_loop: &mut EventLoop,
    socket: Rc<S>,
    wait: impl FnOnce(&S) -> io::Result<()> + 'static,
) -> bool {
    let joined = event_loop
        .run_until_complete(move || {
            let task = spawn("io", move || wait(&socket));
            sleep(secs(0.1)).unwrap();
            task.cancel();
            task.join()
        })
        .unwrap();
    matches!(joined, Err(TaskError::Cancelled { .. }))
}

#[test]
fn cancelled_socket_waits_unregister_their_descriptor() {
    let mut event_loop = virtual_loop();
    let (stream, _peer) = pair();
    let stream = Rc::new(stream);
    assert!(cancel_socket_wait(&mut event_loop, stream.clone(), |s| {
        let mut buf = [0; 16];
        s.read(&mut buf).map(drop)
    }));
    assert_eq!(event_loop.registration_count(), 0, "after a cancelled read");
    assert_eq!(event_loop.io_waiter_count(), 0);

    let big = vec![7u8; 64 << 20]; // more than any socket buffer: write_all must wait
    assert!(cancel_socket_wait(
        &mut event_loop,
        stream.clone(),
        move |s| s.write_all(&big)
    ));
    assert_eq!(
        event_loop.registration_count(),
        0,
        "after a cancelled write"
    );

    let listener = Rc::new(TcpListener::bind("127.0.0.1", 0).expect("bind"));
    assert!(cancel_socket_wait(&mut event_loop, listener, |l| l
        .accept()
        .map(drop)));
    assert_eq!(
        event_loop.registration_count(),
        0,
        "after a cancelled accept"
    );

    // Still usable after a cancelled read: the next wait registers again.
    let (reader, mut peer) = pair();
    let reader = Rc::new(reader);
    assert!(cancel_socket_wait(&mut event_loop, reader.clone(), |s| {
        s.read(&mut [0; 4]).map(drop)
    }));
    peer.write_all(b"ping").expect("peer writes");
    let read = event_loop
        .run_until_complete(move || {
            let mut buf = [0; 4];
            reader.read(&mut buf).map(|n| buf[..n].to_vec())
        })
        .unwrap()
        .unwrap();
    assert_eq!(read, b"ping");
}

/// A listener whose accept queue is full: Linux drops further SYNs, so a
/// connect to it stays "in progress" until it is cancelled.
fn full_listener() -> (socket2::Socket, Vec<socket2::Socket>, std::net::SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("an address");
    listener.bind(&any.into()).expect("bind");
    listener.listen(0).expect("listen");
    let addr = listener
        .local_addr()
        .expect("address")
        .as_socket()
        .expect("inet");
    let fillers = (0..4)
        .map(|_| {
            let filler = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
            filler.set_nonblocking(true).expect("non-blocking");
            let _ = filler.connect(&addr.into()); // in progress or done: either fills the queue
            filler
        })
        .collect();
    thread::sleep(Duration::from_millis(50)); // let the handshakes land
    (listener, fillers, addr)
}

#[test]
fn a_cancelled_connect_leaves_nothing_behind() {
    let mut event_loop = virtual_loop();
    let (_listener, _fillers, addr) = full_listener();
    let joined = event_loop
        .run_until_complete(move || {
            let task = spawn("connect", move || TcpStream::connect(addr).map(drop));
            sleep(secs(0.1)).unwrap();
            let waiting = !task.is_finished();
            task.cancel();
            (waiting, task.join())
        })
        .unwrap();
    assert!(joined.0, "the connect was still in progress when cancelled");
    assert!(
        matches!(joined.1, Err(TaskError::Cancelled { .. })),
        "{:?}",
        joined.1
    );
    assert_eq!(event_loop.registration_count(), 0);
    assert_eq!(event_loop.io_waiter_count(), 0);
}

#[test]
fn cancellation_is_found_through_io_error_and_box_dyn_error() {
    let mut event_loop = virtual_loop();
    let (io_error, boxed) = event_loop
        .run_until_complete(|| {
            let as_io = spawn("io", || -> io::Result<()> { Ok(sleep(secs(5.0))?) });
            let as_box = spawn("boxed", || -> Result<(), Box<dyn Error>> {
                Ok(sleep(secs(5.0))?)
            });
            sleep(secs(1.0)).unwrap();
            as_io.cancel();
            as_box.cancel();
            (as_io.join(), as_box.join())
        })
        .unwrap();
    // Both propagated their cancellation, so both ended cancelled.
    assert!(is_requested_cancel(&io_error, "io"), "{io_error:?}");
    assert!(is_requested_cancel(&boxed, "boxed"), "{boxed:?}");
    let error: io::Error = Cancelled::find(&io_error.unwrap_err())
        .cloned()
        .expect("a cancellation")
        .into();
    assert_eq!(Cancelled::find(&error).map(Cancelled::task), Some("io"));
    assert_eq!(
        error.kind(),
        io::ErrorKind::Other,
        "never Interrupted: std retries those"
    );
}

#[test]
fn scope_children_may_return_unit_and_be_joined_by_the_body() {
    let mut event_loop = virtual_loop();
    let (result, at) = event_loop
        .run_until_complete(|| {
            let result = scope(|s| {
                let _ = s.spawn("unit", || {
                    let _ = sleep(secs(2.0));
                });
                let worth = s.spawn("value", || -> Result<u32, SuspendError> {
                    sleep(secs(1.0))?;
                    Ok(7)
                });
                worth.join().map(|n| n * 6)
            });
            (result.map_err(|e| e.to_string()), ms())
        })
        .unwrap();
    assert_eq!(result, Ok(Ok(42)));
    assert_eq!(at, 2000, "the scope still waited for the unit child");
}

#[test]
fn a_failed_childs_handle_says_failed_and_outside_a_task_scope_refuses() {
    let mut event_loop = virtual_loop();
    let joined = event_loop
        .run_until_complete(|| {
            let mut handle = None;
            let result = scope(|s| {
                let broken = s.spawn("broken", || -> Result<(), Box<dyn Error>> {
                    Err("no disk".into())
                });
                handle = Some(broken);
            });
            assert_eq!(result.map_err(|e| e.to_string()), Err("no disk".into()));
            handle.map(|broken| broken.join())
        })
        .unwrap();
    assert_eq!(
        joined,
        Some(Err(TaskError::Failed {
            task: "broken".into(),
            message: "no disk".into()
        }))
    );
    let outside = scope(|_| ());
    assert!(outside.is_err_and(|e| e.to_string().contains("outside a task")));
}

#[test]
fn a_scopes_own_cancellation_stays_inside_the_scope() {
    // The failure cancels the body while it joins; the body keeps that
    // cancellation in a variable that outlives the scope. It belonged to the
    // scope, so the task around it is not "being cancelled" afterwards.
    let mut event_loop = virtual_loop();
    let (kept, after) = event_loop
        .run_until_complete(|| {
            let mut kept = None;
            let _ = scope(|s| {
                let broken = s.spawn("broken", || -> Result<(), Box<dyn Error>> {
                    sleep(secs(1.0))?;
                    Err("no disk".into())
                });
                kept = Some(broken.join());
            });
            (kept, sleep(secs(1.0)))
        })
        .unwrap();
    assert!(is_requested_cancel(&kept.expect("joined"), "main"));
    assert_eq!(after, Ok(()), "the next wait is not cancelled");
}

#[test]
fn a_task_spinning_on_yield_now_is_cancelled_at_its_next_yield() {
    let mut event_loop = virtual_loop();
    let joined = event_loop
        .run_until_complete(|| {
            let spinner = spawn("spinner", || -> Result<(), SuspendError> {
                loop {
                    yield_now()?;
                }
            });
            for _ in 0..10 {
                yield_now().unwrap();
            }
            spinner.cancel();
            spinner.join()
        })
        .unwrap();
    assert!(is_requested_cancel(&joined, "spinner"), "{joined:?}");
    assert_eq!(event_loop.task_count(), 0);
}

#[test]
fn a_task_cancelled_from_outside_the_loop_before_it_runs_never_starts() {
    let mut event_loop = virtual_loop();
    let started = Rc::new(RefCell::new(false));
    let flag = started.clone();
    let task = event_loop.spawn("early", move || *flag.borrow_mut() = true);
    assert!(task.cancel(), "cancelled from plain code, outside any task");
    let joined = event_loop.run_until_complete(move || task.join()).unwrap();
    assert!(is_requested_cancel(&joined, "early"), "{joined:?}");
    assert!(!*started.borrow());
}
