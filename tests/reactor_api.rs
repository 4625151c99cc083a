//! The reactor's public API, driven on a virtual clock where time matters:
//! spawn / join / sleep / yield_now, call_soon / call_later / call_at, futures,
//! gather and wait, sockets, and the errors for calls made outside a task.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::reactor::{assert_a_hopeless_wait_is_stuck, loopback_pair, virtual_loop};
use yieldloop::reactor::selector::SelectorKind;
use yieldloop::{
    gather, secs, sleep, spawn, wait, yield_now, Builder, Clock, EventLoop, Future, TaskError,
    TcpListener, TcpStream, WaitMode,
};

/// A log of `(time in ms, text)` lines, shared by the tasks of one test.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn say(&self, clock: &Clock, text: &str) {
        let ms = clock.now().as_millis();
        self.0.borrow_mut().push(format!("{ms} {text}"));
    }
    fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

#[test]
fn the_a_b_trace_overlaps_the_sleeps() {
    common::within(
        "the_a_b_trace_overlaps_the_sleeps",
        common::LOOP_DEADLINE,
        || {
            let (mut event_loop, clock) = virtual_loop();
            let log = Log::default();
            let (l, c) = (log.clone(), clock.clone());
            event_loop
                .run_until_complete(move || {
                    let (la, ca) = (l.clone(), c.clone());
                    let a = spawn("a", move || {
                        la.say(&ca, "a enter");
                        sleep(secs(1.0)).unwrap();
                        la.say(&ca, "a exit");
                    });
                    let (lb, cb) = (l.clone(), c.clone());
                    let b = spawn("b", move || {
                        lb.say(&cb, "b enter");
                        sleep(secs(0.5)).unwrap();
                        lb.say(&cb, "b middle");
                        sleep(secs(0.5)).unwrap();
                        lb.say(&cb, "b exit");
                    });
                    gather([a, b])
                })
                .unwrap();
            assert_eq!(
                log.lines(),
                [
                    "0 a enter",
                    "0 b enter",
                    "500 b middle",
                    "1000 a exit",
                    "1000 b exit"
                ]
            );
        },
    );
}

#[test]
fn yield_now_takes_turns_in_spawn_order() {
    common::within(
        "yield_now_takes_turns_in_spawn_order",
        common::LOOP_DEADLINE,
        || {
            let mut event_loop = EventLoop::new().unwrap();
            let order = Rc::new(RefCell::new(Vec::new()));
            for name in ["x", "y"] {
                let order = order.clone();
                drop(event_loop.spawn(name, move || {
                    for i in 0..3 {
                        order.borrow_mut().push(format!("{name}{i}"));
                        yield_now().unwrap();
                    }
                }));
            }
            event_loop.run_forever().unwrap();
            assert_eq!(*order.borrow(), ["x0", "y0", "x1", "y1", "x2", "y2"]);
        },
    );
}

#[test]
fn join_returns_the_value_and_a_panic_names_its_task() {
    common::within(
        "join_returns_the_value_and_a_panic_names_its_task",
        common::LOOP_DEADLINE,
        || {
            let mut event_loop = EventLoop::new().unwrap();
            let (good, bad) = event_loop
                .run_until_complete(|| {
                    let bad = spawn("boom", || -> u32 { panic!("kaboom {}", 42) });
                    let good = spawn("fine", || {
                        yield_now().unwrap();
                        7
                    });
                    (good.join(), bad.join())
                })
                .unwrap();
            assert_eq!(good, Ok(7));
            assert_eq!(
                bad,
                Err(TaskError::Panicked {
                    task: "boom".into(),
                    message: "kaboom 42".into()
                })
            );
        },
    );
}

#[test]
fn callbacks_run_soon_later_and_can_be_cancelled() {
    common::within(
        "callbacks_run_soon_later_and_can_be_cancelled",
        common::LOOP_DEADLINE,
        || {
            let (mut event_loop, clock) = virtual_loop();
            let log = Log::default();
            let (l1, c1) = (log.clone(), clock.clone());
            let _ = event_loop.call_later(secs(0.2), move || l1.say(&c1, "later"));
            let (l2, c2) = (log.clone(), clock.clone());
            let cancelled = event_loop.call_later(secs(0.1), move || l2.say(&c2, "cancelled"));
            let (l3, c3) = (log.clone(), clock.clone());
            event_loop.call_soon(move || l3.say(&c3, "soon"));
            let (l4, c4) = (log.clone(), clock.clone());
            let _ = event_loop.call_at(secs(0.3), move || l4.say(&c4, "at"));
            assert!(cancelled.cancel());
            assert!(!cancelled.cancel());
            event_loop.run_forever().unwrap();
            assert_eq!(log.lines(), ["0 soon", "200 later", "300 at"]);
        },
    );
}

#[test]
fn stop_from_a_callback_ends_run_forever() {
    common::within(
        "stop_from_a_callback_ends_run_forever",
        common::LOOP_DEADLINE,
        || {
            let (mut event_loop, clock) = virtual_loop();
            let handle = event_loop.handle();
            drop(event_loop.spawn("forever", || loop {
                sleep(secs(0.1)).unwrap();
            }));
            let _ = event_loop.call_later(secs(1.0), move || handle.stop());
            event_loop.run_forever().unwrap();
            assert_eq!(clock.now(), secs(1.0));
            assert_eq!(event_loop.task_count(), 1);
        },
    );
}

#[test]
fn a_future_turns_a_callback_into_a_return_value() {
    common::within(
        "a_future_turns_a_callback_into_a_return_value",
        common::LOOP_DEADLINE,
        || {
            let (mut event_loop, _clock) = virtual_loop();
            let handle = event_loop.handle();
            let got = event_loop
                .run_until_complete(move || {
                    let future: Future<u32, TaskError> = Future::new();
                    let setter = future.clone();
                    let seen = Rc::new(RefCell::new(None));
                    let seen2 = seen.clone();
                    future.add_done_callback(move |r| *seen2.borrow_mut() = Some(r.clone()));
                    let _ = handle.call_later(secs(0.5), move || setter.set_result(5).unwrap());
                    let value = future.wait();
                    let seen_by_callback = seen.borrow().clone();
                    (value, seen_by_callback, future.set_result(6).is_err())
                })
                .unwrap();
            assert_eq!(got, (Ok(5), Some(Ok(5)), true));
        },
    );
}

#[test]
fn wait_first_completed_returns_early_and_all_completed_waits() {
    common::within(
        "wait_first_completed_returns_early_and_all_completed_waits",
        common::LOOP_DEADLINE,
        || {
            let (mut event_loop, clock) = virtual_loop();
            let c = clock.clone();
            let (first, all) = event_loop
                .run_until_complete(move || {
                    let handles: Vec<_> = [0.3, 0.1, 0.2]
                        .into_iter()
                        .map(|s| spawn("sleeper", move || sleep(secs(s)).map(|_| s)))
                        .collect();
                    let (done, pending) = wait(handles, WaitMode::FirstCompleted).unwrap();
                    let first = (c.now(), done.len(), pending.len());
                    // The other tasks sleep on; this one must not be woken early by them.
                    sleep(secs(1.0)).unwrap();
                    let t_after_sleep = c.now();
                    let (done2, pending2) = wait(pending, WaitMode::AllCompleted).unwrap();
                    let results: Vec<_> = gather(done.into_iter().chain(done2))
                        .into_iter()
                        .map(|r| r.unwrap().unwrap())
                        .collect();
                    (first, (t_after_sleep, pending2.len(), results))
                })
                .unwrap();
            assert_eq!(first, (secs(0.1), 1, 2));
            assert_eq!(all, (secs(1.1), 0, vec![0.1, 0.3, 0.2]));
        },
    );
}

#[test]
fn waiting_outside_a_task_is_an_error_that_says_so() {
    common::within(
        "waiting_outside_a_task_is_an_error_that_says_so",
        common::LOOP_DEADLINE,
        || {
            let error = sleep(secs(1.0)).unwrap_err();
            assert!(error.to_string().contains("outside a task"), "{error}");
            assert!(yield_now().is_err());
            let joined = spawn("orphan", || ()).join();
            assert!(matches!(joined, Err(TaskError::NotInTask(_))), "{joined:?}");
            let future: Future<(), TaskError> = Future::new();
            assert!(matches!(future.wait(), Err(TaskError::NotInTask(_))));
        },
    );
}

#[test]
fn a_task_waiting_on_nothing_is_reported_stuck() {
    common::within(
        "a_task_waiting_on_nothing_is_reported_stuck",
        common::LOOP_DEADLINE,
        || {
            let mut event_loop = EventLoop::new().unwrap();
            assert_a_hopeless_wait_is_stuck(&mut event_loop);
        },
    );
}

#[test]
fn no_stack_is_a_clear_error_not_a_crash() {
    common::within(
        "no_stack_is_a_clear_error_not_a_crash",
        common::LOOP_DEADLINE,
        || {
            // 2^50 bytes is more than a 47-bit address space: the mapping must fail.
            let mut event_loop = Builder::new().stack_size(1 << 50).build().unwrap();
            let result = event_loop.run_until_complete(|| ());
            let Err(TaskError::NoStack { task, reason }) = result else {
                panic!("expected NoStack, got {result:?}");
            };
            assert_eq!(task, "main");
            assert!(reason.to_string().contains("vm.max_map_count"), "{reason}");
        },
    );
}

/// Recursion that keeps `depth` KiB-sized frames alive at once.
fn deep(depth: u32) -> u64 {
    let frame = [depth as u8; 1024];
    if depth == 0 {
        return frame[0] as u64;
    }
    std::hint::black_box(&frame);
    deep(depth - 1) + frame[1] as u64
}

#[test]
fn the_default_stack_survives_a_deep_call_in_a_debug_build() {
    common::within(
        "the_default_stack_survives_a_deep_call_in_a_debug_build",
        common::LOOP_DEADLINE,
        || {
            let mut event_loop = EventLoop::new().unwrap();
            // ~100 frames of over a KiB each: far deeper than any lesson goes.
            let sum = event_loop.run_until_complete(|| deep(100)).unwrap();
            assert_eq!(sum, (1..=100).sum::<u64>());
        },
    );
}

/// One client and one server task in one loop: the client's bytes come back upper-cased.
fn echo_once(kind: SelectorKind, text: &'static [u8]) -> Vec<u8> {
    let mut event_loop = Builder::new().selector(kind).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1", 0).unwrap();
    let addr = listener.local_addr().unwrap();
    event_loop
        .run_until_complete(move || {
            let server = spawn("server", move || {
                let (stream, _) = listener.accept().unwrap();
                let mut buf = [0; 64];
                let n = stream.read(&mut buf).unwrap();
                stream.write_all(&buf[..n].to_ascii_uppercase()).unwrap();
            });
            let client = TcpStream::connect(addr).unwrap();
            client.write_all(text).unwrap();
            let mut buf = [0; 64];
            let n = client.read(&mut buf).unwrap();
            server.join().unwrap();
            buf[..n].to_vec()
        })
        .unwrap()
}

#[test]
fn the_own_epoll_backend_runs_the_same_echo() {
    common::within(
        "the_own_epoll_backend_runs_the_same_echo",
        common::LOOP_DEADLINE,
        || {
            assert_eq!(echo_once(SelectorKind::Epoll, b"epoll"), b"EPOLL");
        },
    );
}

#[test]
fn echo_over_loopback_inside_one_loop() {
    common::within(
        "echo_over_loopback_inside_one_loop",
        common::LOOP_DEADLINE,
        || {
            assert_eq!(echo_once(SelectorKind::Polling, b"hello"), b"HELLO");
        },
    );
}

#[test]
fn the_select_backend_runs_the_same_echo() {
    common::within(
        "the_select_backend_runs_the_same_echo",
        common::LOOP_DEADLINE,
        || {
            assert_eq!(echo_once(SelectorKind::Select, b"select"), b"SELECT");
        },
    );
}

#[test]
fn virtual_time_does_not_jump_while_a_task_is_ready_even_with_io_waiting() {
    common::within(
        "virtual_time_does_not_jump_while_a_task_is_ready_even_with_io_waiting",
        common::LOOP_DEADLINE,
        || {
            let (mut event_loop, clock) = virtual_loop();
            let listener = TcpListener::bind("127.0.0.1", 0).unwrap();
            // A task waiting on I/O that never comes, and a timer in the future.
            drop(event_loop.spawn("acceptor", move || listener.accept().map(|_| ())));
            let c = clock.clone();
            let times = event_loop
                .run_until_complete(move || {
                    drop(spawn("sleeper", || sleep(secs(5.0))));
                    yield_now().unwrap();
                    let after_yield = c.now();
                    sleep(secs(1.0)).unwrap();
                    (after_yield, c.now())
                })
                .unwrap();
            assert_eq!(times, (secs(0.0), secs(1.0)));
        },
    );
}

/// The real ceiling of the per-stack mappings (the fallback allocator): more
/// sleeping tasks than `vm.max_map_count` allows.
/// Maps ~32,000 stacks (about 130 MB of touched pages), so it is not part of
/// the default run: `cargo test --release --test reactor_api -- --ignored`.
#[test]
#[ignore = "maps ~32,000 stacks (~130 MB): run it by hand, in release mode"]
fn past_the_map_count_ceiling_spawn_fails_cleanly_and_the_rest_run() {
    common::within(
        "past_the_map_count_ceiling_spawn_fails_cleanly_and_the_rest_run",
        std::time::Duration::from_secs(600),
        || {
            let ceiling = yieldloop::reactor::stacks::stack_ceiling();
            if ceiling == usize::MAX {
                return; // no /proc: nothing to check here
            }
            let tasks = ceiling + 100;
            // The per-stack mappings have the ceiling; guard-page stacks
            // (the default on Linux 6.13+) do not.
            let mut event_loop = Builder::new()
                .stack_allocator(yieldloop::reactor::stacks::StackAllocator::Mappings)
                .build()
                .unwrap();
            let (ok, refused, message) = event_loop
                .run_until_complete(move || {
                    let handles: Vec<_> = (0..tasks)
                        .map(|_| spawn("sleeper", || sleep(secs(0.1))))
                        .collect();
                    let results = gather(handles);
                    let ok = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
                    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
                    (ok, refused.len(), refused.first().map(|e| e.to_string()))
                })
                .unwrap();
            assert!(ok > 30_000 || ok + 1 >= ceiling, "only {ok} ran");
            assert!(refused >= 100);
            assert!(message.unwrap().contains("vm.max_map_count"));
        },
    );
}

/// More sleeping tasks alive at once than per-stack mappings allow (about
/// 32,700 with `vm.max_map_count` = 65,530), all joined. The process's
/// mappings stay few: a region holds up to a thousand stacks.
#[test]
fn forty_thousand_sleeping_tasks_live_at_once_on_guard_pages() {
    if !yieldloop::reactor::carved_stacks::guard_pages_supported() {
        eprintln!("skipped: this kernel has no MADV_GUARD_INSTALL (Linux 6.13+)");
        return;
    }
    const TASKS: usize = 40_000;
    common::within(
        "40,000 sleeping tasks",
        std::time::Duration::from_secs(120),
        || {
            let mut event_loop = Builder::new()
                .stack_allocator(yieldloop::reactor::stacks::StackAllocator::GuardPages)
                .stack_size(64 * 1024)
                .clock(Clock::new_virtual())
                .build()
                .unwrap();
            let (joined, mappings_while_alive) = event_loop
                .run_until_complete(|| {
                    let handles: Vec<_> = (0..TASKS)
                        .map(|_| spawn("sleeper", || sleep(secs(1.0))))
                        .collect();
                    // Every task has started and sleeps: all 40,000 are alive.
                    sleep(secs(0.5)).unwrap();
                    let mappings = std::fs::read_to_string("/proc/self/maps")
                        .map_or(0, |maps| maps.lines().count());
                    let joined = handles
                        .into_iter()
                        .map(|handle| handle.join())
                        .filter(|result| matches!(result, Ok(Ok(()))))
                        .count();
                    (joined, mappings)
                })
                .unwrap();
            assert_eq!(joined, TASKS);
            assert!(
                mappings_while_alive < 10_000,
                "{mappings_while_alive} mappings for {TASKS} stacks"
            );
        },
    );
}

#[test]
fn small_stacks_work_for_shallow_tasks() {
    common::within(
        "small_stacks_work_for_shallow_tasks",
        common::LOOP_DEADLINE,
        || {
            for size in [4096, 16 * 1024, 64 * 1024] {
                let mut event_loop = Builder::new().stack_size(size).build().unwrap();
                let sum = event_loop
                    .run_until_complete(|| {
                        let handles: Vec<_> = (0..100u64)
                            .map(|n| {
                                spawn("small", move || {
                                    yield_now().unwrap();
                                    n
                                })
                            })
                            .collect();
                        gather(handles).into_iter().map(Result::unwrap).sum::<u64>()
                    })
                    .unwrap();
                assert_eq!(sum, 4950, "stack size {size}");
            }
        },
    );
}

#[test]
fn a_second_task_waiting_on_the_same_socket_is_refused() {
    common::within(
        "a_second_task_waiting_on_the_same_socket_is_refused",
        common::LOOP_DEADLINE,
        || {
            let mut event_loop = EventLoop::new().unwrap();
            let listener = TcpListener::bind("127.0.0.1", 0).unwrap();
            let addr = listener.local_addr().unwrap();
            let (second, first) = event_loop
                .run_until_complete(move || {
                    let server = spawn("server", move || {
                        let (stream, _) = listener.accept().unwrap();
                        sleep(secs(0.05)).unwrap();
                        stream.write_all(b"x").unwrap();
                        sleep(secs(0.05)).unwrap();
                    });
                    let client = Rc::new(TcpStream::connect(addr).unwrap());
                    let reader = client.clone();
                    let first = spawn("first reader", move || {
                        let mut buf = [0u8; 1];
                        reader.read(&mut buf).map_err(|e| e.to_string())
                    });
                    yield_now().unwrap(); // the first reader is now suspended in read
                    let mut buf = [0u8; 1];
                    let second = client.read(&mut buf).map_err(|e| e.to_string());
                    let first = first.join().unwrap();
                    server.join().unwrap();
                    (second, first)
                })
                .unwrap();
            assert!(second
                .unwrap_err()
                .contains("another task is already waiting"));
            assert_eq!(first, Ok(1));
        },
    );
}

/// Wake-ups that are easy to lose. Data arrives on `x` while the task waits
/// on `y`; then two writes arrive while the task waits on nothing; then the
/// last bytes and the peer's FIN arrive together, in one edge.
///
/// The last case is why `TcpStream::read` copies tokio's trick of skipping
/// the read after a short one ("the buffer is empty, wait for an event
/// first") only on the own epoll selector: the `polling` crate does not ask
/// epoll for `EPOLLRDHUP`, so nothing tells the loop that the FIN is already
/// waiting, no new event will come, and a task that waited first would wait
/// forever. (Tried on `polling`; lesson 07 and this test hung.) The own
/// selector reports the FIN, and a read after it never skips. A lost wake-up
/// hangs, so a watchdog turns a hang into a failure.
fn no_wake_up_is_lost(kind: SelectorKind) {
    let mut event_loop = Builder::new().selector(kind).build().unwrap();
    let result = event_loop
        .run_until_complete(move || {
            let (x, x_peer) = loopback_pair();
            let (y, y_peer) = loopback_pair();
            let reader = spawn("reader", move || {
                let mut buf = [0u8; 64];
                let mut got = Vec::new();
                let n = x.read(&mut buf).unwrap(); // short: "one"
                got.push(buf[..n].to_vec());
                let n = y.read(&mut buf).unwrap(); // "two" reaches x meanwhile
                got.push(buf[..n].to_vec());
                let n = x.read(&mut buf).unwrap();
                got.push(buf[..n].to_vec());
                // Not waiting on any socket while "three" and "four" arrive.
                sleep(secs(0.05)).unwrap();
                let mut rest = Vec::new();
                while rest.len() < b"threefour".len() {
                    let n = x.read(&mut buf).unwrap();
                    rest.extend_from_slice(&buf[..n]);
                }
                got.push(rest);
                // "five" and the FIN, together: a short read, then end of file.
                let n = x.read(&mut buf).unwrap();
                got.push(buf[..n].to_vec());
                let n = x.read(&mut buf).unwrap();
                got.push(buf[..n].to_vec());
                got
            });
            let writer = spawn("writer", move || {
                x_peer.write_all(b"one").unwrap();
                sleep(secs(0.02)).unwrap();
                x_peer.write_all(b"two").unwrap();
                sleep(secs(0.02)).unwrap();
                y_peer.write_all(b"y").unwrap();
                sleep(secs(0.02)).unwrap();
                x_peer.write_all(b"three").unwrap();
                yield_now().unwrap();
                x_peer.write_all(b"four").unwrap();
                sleep(secs(0.05)).unwrap();
                x_peer.write_all(b"five").unwrap();
                drop(x_peer); // the FIN follows "five" at once
                y_peer // keep y open until the reader is done
            });
            let watchdog = spawn("watchdog", || {
                sleep(secs(5.0)).unwrap();
                Vec::new() // an empty answer: the reader hung
            });
            let (done, _) = wait(vec![reader, watchdog], WaitMode::FirstCompleted).unwrap();
            let _peers = writer.join();
            done.into_iter().next().unwrap().join()
        })
        .unwrap();
    let got: Vec<Vec<u8>> = result.unwrap();
    assert_eq!(
        got,
        [
            b"one".to_vec(),
            b"y".to_vec(),
            b"two".to_vec(),
            b"threefour".to_vec(),
            b"five".to_vec(),
            b"".to_vec()
        ]
    );
}

#[test]
fn no_wake_up_is_lost_on_own_epoll() {
    common::within(
        "no_wake_up_is_lost_on_own_epoll",
        common::LOOP_DEADLINE,
        || {
            no_wake_up_is_lost(SelectorKind::Epoll);
        },
    );
}

#[test]
fn no_wake_up_is_lost_on_epoll() {
    common::within("no_wake_up_is_lost_on_epoll", common::LOOP_DEADLINE, || {
        no_wake_up_is_lost(SelectorKind::Polling);
    });
}

#[test]
fn no_wake_up_is_lost_on_select() {
    common::within(
        "no_wake_up_is_lost_on_select",
        common::LOOP_DEADLINE,
        || {
            no_wake_up_is_lost(SelectorKind::Select);
        },
    );
}
