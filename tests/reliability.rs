//! The reactor under things that go wrong: tasks that panic, loops dropped
//! with tasks still suspended in them, descriptors select(2) cannot hold.

mod common;

use std::cell::Cell;
use std::io::Read;
use std::net::TcpListener as StdListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use yieldloop::reactor::selector::SelectorKind;
use yieldloop::{gather, secs, sleep, spawn, yield_now, Builder, EventLoop, TaskError, TcpStream};

#[test]
fn panicking_tasks_are_isolated_and_the_rest_keep_their_results() {
    common::within(
        "panicking_tasks_are_isolated_and_the_rest_keep_their_results",
        common::LOOP_DEADLINE,
        || {
            let mut event_loop = EventLoop::new().unwrap();
            let results = event_loop
                .run_until_complete(|| {
                    let handles: Vec<_> = (0..30u32)
                        .map(|n| {
                            spawn(format!("task {n}"), move || {
                                yield_now().unwrap();
                                if n % 3 == 0 {
                                    panic!("task {n} gives up");
                                }
                                yield_now().unwrap();
                                n
                            })
                        })
                        .collect();
                    gather(handles)
                })
                .unwrap();
            for (n, result) in results.into_iter().enumerate() {
                let n = n as u32;
                if n % 3 == 0 {
                    assert_eq!(
                        result,
                        Err(TaskError::Panicked {
                            task: format!("task {n}"),
                            message: format!("task {n} gives up")
                        })
                    );
                } else {
                    assert_eq!(result, Ok(n));
                }
            }
            // The loop itself is fine: it runs the next thing.
            assert_eq!(event_loop.run_until_complete(|| 5), Ok(5));
        },
    );
}

/// Counts its drops: stands in for any cleanup (`finally:`).
struct Guard(Rc<Cell<u32>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn dropping_the_loop_unwinds_suspended_tasks_and_closes_their_sockets() {
    common::within(
        "dropping_the_loop_unwinds_suspended_tasks_and_closes_their_sockets",
        common::LOOP_DEADLINE,
        || {
            let peer_side = StdListener::bind("127.0.0.1:0").unwrap();
            let addr = peer_side.local_addr().unwrap();
            let dropped = Rc::new(Cell::new(0));
            let mut event_loop = EventLoop::new().unwrap();
            let mut handles = Vec::new();
            for n in 0..3 {
                let guard = Guard(dropped.clone());
                handles.push(event_loop.spawn(format!("reader {n}"), move || {
                    let _guard = guard;
                    let stream = TcpStream::connect(addr).unwrap();
                    let mut buf = [0u8; 16];
                    stream.read(&mut buf).map_err(|e| e.to_string()) // suspends for ever: the peer never writes
                }));
            }
            let guard = Guard(dropped.clone());
            handles.push(event_loop.spawn("sleeper", move || {
                let _guard = guard;
                sleep(secs(3600.0)).map(|_| 0).map_err(|e| e.to_string())
            }));
            // Run until the readers have connected and suspended in `read`. A
            // short timer before each iteration keeps `run_once` from blocking on
            // the hour-long sleeper.
            let mut accepted = Vec::new();
            peer_side.set_nonblocking(true).unwrap();
            for _ in 0..1000 {
                let _ = event_loop.call_later(Duration::from_millis(1), || ());
                event_loop.run_once().unwrap();
                if let Ok((stream, _)) = peer_side.accept() {
                    accepted.push(stream);
                }
                if accepted.len() == 3 && event_loop.task_count() == 4 {
                    break;
                }
            }
            assert_eq!(accepted.len(), 3);
            assert_eq!(dropped.get(), 0);
            let guard = Guard(dropped.clone());
            let never_started = event_loop.spawn("never started", move || drop(guard));
            assert_eq!(event_loop.task_count(), 5);

            drop(event_loop);

            assert_eq!(dropped.get(), 5, "every guard ran, started or not");
            for mut stream in accepted {
                stream.set_nonblocking(false).unwrap();
                let mut rest = Vec::new();
                assert_eq!(
                    stream.read_to_end(&mut rest).unwrap(),
                    0,
                    "the socket was closed"
                );
            }
            for handle in handles {
                assert!(matches!(handle.join(), Err(TaskError::Cancelled { .. })));
            }
            assert!(matches!(
                never_started.join(),
                Err(TaskError::Cancelled { .. })
            ));
        },
    );
}

/// A guard that sleeps while the loop's shutdown unwinds its task returns at
/// once, with `Ok` (issue 8): the loop will never run again, so there is
/// nothing to wait for, and an error there is usually unwrapped, which would
/// be a panic during unwinding: an abort. It must not suspend either.
#[test]
fn a_guard_that_tries_to_wait_while_unwinding_returns_at_once_not_a_crash() {
    common::within(
        "a_guard_that_tries_to_wait_while_unwinding_returns_at_once_not_a_crash",
        common::LOOP_DEADLINE,
        || {
            struct WaitsInDrop(Rc<Cell<bool>>);
            impl Drop for WaitsInDrop {
                fn drop(&mut self) {
                    sleep(secs(1.0)).expect("cut short at shutdown, not an error");
                    self.0.set(true);
                }
            }
            let finished = Rc::new(Cell::new(false));
            let flag = finished.clone();
            let mut event_loop = EventLoop::new().unwrap();
            drop(event_loop.spawn("waits in drop", move || {
                let _guard = WaitsInDrop(flag);
                sleep(secs(3600.0))
            }));
            event_loop.run_once().unwrap(); // runs the task up to its sleep; no timer is due yet
            drop(event_loop);
            assert!(finished.get());
        },
    );
}

#[test]
fn on_select_a_descriptor_past_fd_setsize_is_an_error_for_that_task_only() {
    common::within(
        "on_select_a_descriptor_past_fd_setsize_is_an_error_for_that_task_only",
        common::LOOP_DEADLINE,
        || {
            let peer_side = StdListener::bind("127.0.0.1:0").unwrap();
            let near = std::net::TcpStream::connect(peer_side.local_addr().unwrap()).unwrap();
            // Move the socket to a number select(2) cannot hold.
            let raw =
                nix::fcntl::fcntl(near.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD(1024)).unwrap();
            // SAFETY: `raw` is a fresh duplicate that nothing else owns.
            let far = unsafe { OwnedFd::from_raw_fd(raw) };
            drop(near);
            let far = TcpStream::from_std(std::net::TcpStream::from(far)).unwrap();
            let mut event_loop = Builder::new()
                .selector(SelectorKind::Select)
                .build()
                .unwrap();
            let (far_result, other) = event_loop
                .run_until_complete(move || {
                    let other = spawn("other", || {
                        sleep(secs(0.01)).unwrap();
                        "still running"
                    });
                    let mut buf = [0u8; 8];
                    (far.read(&mut buf).map_err(|e| e.to_string()), other.join())
                })
                .unwrap();
            let error = far_result.unwrap_err();
            assert!(error.contains("FD_SETSIZE = 1024"), "{error}");
            assert_eq!(other, Ok("still running"));
        },
    );
}
