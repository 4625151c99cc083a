//! Lesson 09's primitives, each pinned on the virtual clock: FIFO order,
//! what a waiter gets, and every cancellation case (a waiter cancelled
//! while it waits leaves the line; one cancelled after it was handed the
//! lock, a permit, an item or a notification hands it on).

mod sync_support;

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use sync_support::{at, virtual_loop, Log};
use yieldloop::{
    secs, sleep, spawn, wait_for, yield_now, BoundedSemaphore, Cancelled, Condition, Event,
    LifoQueue, Lock, PriorityQueue, Queue, QueueEmpty, QueueFull, Semaphore, SyncError,
    TaskDoneTooOften, TaskError, TooManyReleases,
};

/// Whether a task's result is a cancellation (of any shape).
fn cancelled<T, E: std::error::Error + 'static>(result: &Result<T, E>) -> bool {
    result.as_ref().err().is_some_and(|e| Cancelled::is_in(e))
}

// ---------------------------------------------------------------- Lock

#[test]
fn lock_waiters_get_it_in_the_order_they_asked() {
    let (mut event_loop, _watchdog) = virtual_loop();
    let log = Log::default();
    let order = log.clone();
    event_loop
        .run_until_complete(move || {
            let lock = Lock::named("accounts");
            let held = lock.acquire().expect("free");
            let waiters: Vec<_> = ["a", "b", "c"]
                .into_iter()
                .map(|name| {
                    let (lock, log) = (lock.clone(), log.clone());
                    spawn(name, move || {
                        let _guard = lock.acquire().expect("handed over");
                        log.note(format!("{name} holds"));
                        sleep(secs(1.0)).expect("not cancelled");
                    })
                })
                .collect();
            yield_now().expect("in a task");
            assert_eq!(lock.waiter_count(), 3);
            assert!(lock.locked());
            drop(held);
            // Handed to `a`, who has not run yet: nobody may barge in.
            assert!(lock.locked());
            assert!(lock.try_lock().is_err());
            for waiter in waiters {
                waiter.join().expect("finishes");
            }
            assert!(!lock.locked(), "the last holder unlocked it");
            assert!(lock.try_lock().is_ok());
        })
        .expect("the main task ends");
    assert_eq!(
        order.take(),
        at(&[(0, "a holds"), (1000, "b holds"), (2000, "c holds")])
    );
}

#[test]
fn a_cancelled_lock_waiter_leaves_the_line() {
    let (mut event_loop, _watchdog) = virtual_loop();
    let log = Log::default();
    let order = log.clone();
    event_loop
        .run_until_complete(move || {
            let lock = Lock::new();
            let held = lock.acquire().expect("free");
            let spawn_waiter = |name: &'static str| {
                let (lock, log) = (lock.clone(), log.clone());
                spawn(name, move || -> Result<(), SyncError> {
                    let _guard = lock.acquire()?;
                    log.note(format!("{name} holds"));
                    Ok(())
                })
            };
            let b = spawn_waiter("b");
            let c = spawn_waiter("c");
            sleep(secs(1.0)).expect("sleeps");
            assert!(b.cancel());
            yield_now().expect("b runs and leaves");
            assert_eq!(lock.waiter_count(), 1, "b left the line");
            drop(held);
            assert!(cancelled(&b.join()));
            c.join().expect("c ran").expect("c got the lock");
            assert!(!lock.locked());
        })
        .expect("the main task ends");
    assert_eq!(order.messages(), ["c holds"]);
}

#[test]
fn a_lock_handed_to_a_waiter_cancelled_before_it_ran_goes_to_the_next() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let lock = Lock::new();
            let held = lock.acquire().expect("free");
            let waiter = |lock: &Lock| {
                let lock = lock.clone();
                spawn("waiter", move || lock.acquire().map(drop))
            };
            let b = waiter(&lock);
            let c = waiter(&lock);
            yield_now().expect("both wait");
            drop(held); // handed to b, who is now on the ready queue…
            b.cancel(); // …and cancelled before it runs
            assert!(cancelled(&b.join()));
            c.join().expect("c ran").expect("c was handed the lock");
            assert!(!lock.locked(), "never held by nobody");
            assert_eq!(lock.waiter_count(), 0);
        })
        .expect("the main task ends");
}

#[test]
fn a_lock_is_released_when_its_holder_is_cancelled_or_panics() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let lock = Lock::named("shared");
            let holder = spawn("holder", {
                let lock = lock.clone();
                move || -> Result<(), Box<dyn std::error::Error>> {
                    let _guard = lock.acquire()?;
                    sleep(secs(10.0))?; // cancelled here: `?` drops the guard
                    Ok(())
                }
            });
            let panicker = spawn("panicker", {
                let lock = lock.clone();
                move || {
                    let _guard = lock.acquire().expect("handed over");
                    panic!("while holding the lock");
                }
            });
            sleep(secs(1.0)).expect("sleeps");
            assert!(lock.locked());
            holder.cancel();
            assert!(cancelled(&holder.join()));
            assert!(matches!(panicker.join(), Err(TaskError::Panicked { .. })));
            assert!(!lock.locked(), "the unwinding guard released it");
        })
        .expect("the main task ends");
}

#[test]
fn a_sync_error_carries_its_cancellation_into_task_error() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let lock = Lock::new();
            let held = lock.acquire().expect("free");
            let waiter = spawn("waiter", {
                let lock = lock.clone();
                move || -> Result<(), TaskError> {
                    let _guard = lock.acquire()?;
                    Ok(())
                }
            });
            yield_now().expect("it waits");
            waiter.cancel();
            assert!(matches!(waiter.join(), Err(TaskError::Cancelled { .. })));
            drop(held);
            let cond = Condition::new();
            let failed = spawn("unlocked", move || -> Result<(), TaskError> {
                cond.wait()?;
                Ok(())
            });
            let error = failed
                .join()
                .expect("it ran")
                .expect_err("not locked")
                .to_string();
            assert!(error.contains("\"unlocked\" failed"), "{error}");
            assert!(error.contains("needs the condition's lock held"), "{error}");
        })
        .expect("the main task ends");
}

#[test]
fn waiting_outside_a_task_is_an_error_not_a_hang() {
    let lock = Lock::new();
    let guard = lock.try_lock().expect("free");
    assert!(matches!(lock.acquire(), Err(SyncError::NotInTask(_))));
    drop(guard);
    assert!(lock.acquire().is_ok(), "a free lock needs no task");
    let queue: Queue<u8> = Queue::new(1);
    assert!(matches!(queue.get(), Err(SyncError::NotInTask(_))));
    queue.put(1).expect("room, no wait");
    assert!(matches!(queue.put(2), Err(SyncError::NotInTask(_))));
    let error = Event::new().wait().expect_err("not set, no task");
    assert!(error
        .to_string()
        .contains("Event::wait was called outside a task"));
}

// ---------------------------------------------------------------- Event

#[test]
fn setting_an_event_wakes_every_waiter() {
    let (mut event_loop, _watchdog) = virtual_loop();
    let log = Log::default();
    let woke = log.clone();
    event_loop
        .run_until_complete(move || {
            let ready = Event::named("ready");
            let waiters: Vec<_> = (0..3)
                .map(|n| {
                    let (ready, log) = (ready.clone(), log.clone());
                    spawn("waiter", move || {
                        ready.wait().expect("set");
                        log.note(format!("waiter {n} woke"));
                    })
                })
                .collect();
            let doomed = spawn("doomed", {
                let ready = ready.clone();
                move || ready.wait()
            });
            sleep(secs(1.0)).expect("sleeps");
            assert_eq!(ready.waiter_count(), 4);
            doomed.cancel();
            assert!(cancelled(&doomed.join()));
            assert_eq!(ready.waiter_count(), 3, "the cancelled waiter left");
            ready.set();
            ready.clear(); // too late to stop them: they were woken by set
            for waiter in waiters {
                waiter.join().expect("finishes");
            }
            assert!(!ready.is_set());
            ready.set();
            ready.wait().expect("set: returns at once");
        })
        .expect("the main task ends");
    assert_eq!(
        woke.take(),
        at(&[
            (1000, "waiter 0 woke"),
            (1000, "waiter 1 woke"),
            (1000, "waiter 2 woke")
        ])
    );
}

// ---------------------------------------------------------------- Semaphore

#[test]
fn a_semaphore_of_two_runs_five_jobs_two_at_a_time_in_order() {
    let (mut event_loop, _watchdog) = virtual_loop();
    let log = Log::default();
    let ends = log.clone();
    event_loop
        .run_until_complete(move || {
            let slots = Semaphore::named(2, "slots");
            let jobs: Vec<_> = (1..=5)
                .map(|n| {
                    let (slots, log) = (slots.clone(), log.clone());
                    spawn(format!("job{n}"), move || {
                        let _slot = slots.acquire().expect("a permit");
                        sleep(secs(1.0)).expect("sleeps");
                        log.note(format!("job{n} end"));
                    })
                })
                .collect();
            for job in jobs {
                job.join().expect("finishes");
            }
            assert_eq!(slots.value(), 2, "every permit came back");
        })
        .expect("the main task ends");
    assert_eq!(
        ends.take(),
        at(&[
            (1000, "job1 end"),
            (1000, "job2 end"),
            (2000, "job3 end"),
            (2000, "job4 end"),
            (3000, "job5 end"),
        ])
    );
}

#[test]
fn a_permit_handed_to_a_cancelled_waiter_is_passed_on_not_leaked() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let slots = Semaphore::new(1);
            let held = slots.acquire().expect("free");
            let waiter = |slots: &Semaphore| {
                let slots = slots.clone();
                spawn("waiter", move || slots.acquire().map(drop))
            };
            let (b, c, d) = (waiter(&slots), waiter(&slots), waiter(&slots));
            yield_now().expect("all wait");
            c.cancel(); // cancelled while waiting
            drop(held); // handed to b…
            b.cancel(); // …cancelled before it ran
            assert!(cancelled(&b.join()));
            assert!(cancelled(&c.join()));
            d.join().expect("d ran").expect("d got the permit");
            assert_eq!(slots.value(), 1, "no permit leaked");
            assert_eq!(slots.waiter_count(), 0);
        })
        .expect("the main task ends");
}

#[test]
fn wait_for_around_acquire_times_out_and_leaks_nothing() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let slots = Semaphore::new(1);
            let held = slots.acquire().expect("free");
            let timed_out = wait_for(secs(1.0), || slots.acquire());
            assert!(timed_out.is_err(), "the acquire timed out");
            assert_eq!(slots.waiter_count(), 0, "and left the line");
            drop(held);
            assert_eq!(slots.value(), 1);
            let lock = Lock::new();
            let guard = lock.acquire().expect("free");
            assert!(wait_for(secs(1.0), || lock.acquire()).is_err());
            drop(guard);
            assert!(!lock.locked());
        })
        .expect("the main task ends");
}

#[test]
fn a_bounded_semaphore_refuses_a_release_above_its_start_value() {
    let slots = BoundedSemaphore::named(2, "downloads");
    let error = slots.release().expect_err("already at 2");
    assert_eq!(
        error,
        TooManyReleases {
            primitive: "BoundedSemaphore \"downloads\"".into(),
            bound: 2
        }
    );
    let permit = slots.try_acquire().expect("free");
    permit.forget();
    assert_eq!(slots.value(), 1);
    slots.release().expect("back to 2");
    assert!(slots.release().is_err());
    // A guard coming back after an extra release cannot take it above 2.
    let permit = slots.acquire().expect("free, no wait");
    slots.release().expect("an extra release: back to 2");
    drop(permit); // refused (and logged): still 2
    assert_eq!(slots.value(), 2);
    assert!(slots.semaphore().try_acquire().is_ok());
    let plain = Semaphore::new(0);
    plain.release(); // an unbounded semaphore may grow
    assert_eq!(plain.value(), 1);
}

// ---------------------------------------------------------------- Condition

#[test]
fn notify_wakes_waiters_first_come_first_served() {
    let (mut event_loop, _watchdog) = virtual_loop();
    let log = Log::default();
    let woke = log.clone();
    event_loop
        .run_until_complete(move || {
            let cond = Condition::named("stock");
            let waiters: Vec<_> = ["a", "b", "c"]
                .into_iter()
                .map(|name| {
                    let (cond, log) = (cond.clone(), log.clone());
                    spawn(name, move || {
                        let _guard = cond.acquire().expect("lock");
                        cond.wait().expect("notified");
                        assert!(cond.locked(), "wait took the lock back");
                        log.note(format!("{name} woke"));
                    })
                })
                .collect();
            sleep(secs(1.0)).expect("sleeps");
            assert_eq!(cond.waiter_count(), 3);
            assert!(!cond.underlying_lock().locked(), "wait released the lock");
            let guard = cond.acquire().expect("lock");
            assert_eq!(cond.notify(1), 1);
            drop(guard);
            sleep(secs(1.0)).expect("sleeps");
            let guard = cond.acquire().expect("lock");
            assert_eq!(cond.notify_all(), 2);
            drop(guard);
            for waiter in waiters {
                waiter.join().expect("finishes");
            }
        })
        .expect("the main task ends");
    assert_eq!(
        woke.take(),
        at(&[(1000, "a woke"), (2000, "b woke"), (2000, "c woke")])
    );
}

#[test]
fn wait_for_a_predicate_and_a_notification_passed_on_past_a_cancelled_waiter() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let cond = Condition::new();
            let stock = Rc::new(Cell::new(0));
            let buyer = |cond: &Condition| {
                let (cond, stock) = (cond.clone(), stock.clone());
                spawn("buyer", move || -> Result<(), SyncError> {
                    let _guard = cond.acquire()?;
                    cond.wait_for(|| stock.get() > 0)?;
                    stock.set(stock.get() - 1);
                    Ok(())
                })
            };
            let (b, c) = (buyer(&cond), buyer(&cond));
            yield_now().expect("both wait");
            let guard = cond.acquire().expect("lock");
            stock.set(1);
            cond.notify(1); // to b…
            b.cancel(); // …who is cancelled before it runs: c must get it
            drop(guard);
            assert!(cancelled(&b.join()));
            c.join().expect("c ran").expect("c bought");
            assert_eq!(stock.get(), 0);
            assert!(
                matches!(cond.wait(), Err(SyncError::NotLocked { .. })),
                "waiting without the lock is refused"
            );
        })
        .expect("the main task ends");
}

#[test]
fn a_cancelled_condition_wait_takes_the_lock_back_before_it_returns() {
    let (mut event_loop, _watchdog) = virtual_loop();
    let log = Log::default();
    let seen = log.clone();
    event_loop
        .run_until_complete(move || {
            let cond = Condition::with_lock(Lock::named("shared"));
            let waiter = spawn("waiter", {
                let (cond, log) = (cond.clone(), log.clone());
                move || -> Result<(), SyncError> {
                    let _guard = cond.acquire()?;
                    let waited = cond.wait();
                    log.note(format!("waiter back, lock held: {}", cond.locked()));
                    waited
                }
            });
            yield_now().expect("it waits, the lock free");
            let guard = cond.acquire().expect("free while it waits");
            waiter.cancel();
            sleep(secs(1.0)).expect("sleeps"); // the waiter waits for the lock
            log.note("main releases");
            drop(guard);
            assert!(cancelled(&waiter.join()));
            assert!(!cond.locked(), "the waiter's guard released it");
            assert_eq!(cond.waiter_count(), 0);
        })
        .expect("the main task ends");
    assert_eq!(
        seen.take(),
        at(&[
            (1000, "main releases"),
            (1000, "waiter back, lock held: true")
        ])
    );
}

// ---------------------------------------------------------------- Queue

#[test]
fn queues_hand_out_items_fifo_smallest_first_or_newest_first() {
    let fifo = Queue::unbounded();
    let priority = PriorityQueue::new(0);
    let lifo = LifoQueue::new(0);
    for n in [3, 1, 2] {
        fifo.put_nowait(n).expect("unbounded");
        priority.put_nowait(n).expect("unbounded");
        lifo.put_nowait(n).expect("unbounded");
    }
    let drain = |get: &dyn Fn() -> Result<i32, QueueEmpty>| {
        std::iter::from_fn(|| get().ok()).collect::<Vec<_>>()
    };
    assert_eq!(drain(&|| fifo.get_nowait()), [3, 1, 2]);
    assert_eq!(drain(&|| priority.get_nowait()), [1, 2, 3]);
    assert_eq!(drain(&|| lifo.get_nowait()), [2, 1, 3]);
    assert_eq!(fifo.get_nowait(), Err(QueueEmpty));
}

#[test]
fn nowait_calls_say_full_and_empty_and_give_the_item_back() {
    let queue = Queue::named(1, "jobs");
    assert_eq!(queue.maxsize(), 1);
    queue.put_nowait("first").expect("room");
    assert!(queue.full());
    assert_eq!(queue.put_nowait("second"), Err(QueueFull("second")));
    assert_eq!(queue.qsize(), 1);
    assert_eq!(queue.get_nowait(), Ok("first"));
    assert_eq!(queue.get_nowait(), Err(QueueEmpty));
    assert!(QueueEmpty.to_string().contains("empty"));
    assert!(QueueFull(()).to_string().contains("full"));
    queue.task_done().expect("one was put");
    assert_eq!(queue.task_done(), Err(TaskDoneTooOften));
}

#[test]
fn put_waits_while_full_get_waits_while_empty_and_join_waits_for_task_done() {
    let (mut event_loop, _watchdog) = virtual_loop();
    let log = Log::default();
    let seen = log.clone();
    event_loop
        .run_until_complete(move || {
            let queue = Queue::named(1, "jobs");
            let consumer = spawn("consumer", {
                let (queue, log) = (queue.clone(), log.clone());
                move || {
                    for _ in 0..3 {
                        sleep(secs(1.0)).expect("sleeps");
                        let job: u32 = queue.get().expect("an item");
                        log.note(format!("got {job}"));
                        queue.task_done().expect("was put");
                    }
                    let late = queue.get().expect("waits for it");
                    log.note(format!("got {late}"));
                }
            });
            for job in 1..=3 {
                queue.put(job).expect("room, eventually");
                log.note(format!("put {job}"));
            }
            queue.join().expect("all done");
            log.note("joined");
            sleep(secs(1.0)).expect("sleeps");
            queue.put(4).expect("room");
            consumer.join().expect("finishes");
        })
        .expect("the main task ends");
    assert_eq!(
        seen.take(),
        at(&[
            (0, "put 1"),
            (1000, "got 1"),
            (1000, "put 2"),
            (2000, "got 2"),
            (2000, "put 3"),
            (3000, "got 3"),
            (3000, "joined"),
            (4000, "got 4"),
        ])
    );
}

#[test]
fn a_getter_cancelled_before_an_item_is_put_does_not_take_it() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let queue: Queue<&str> = Queue::new(0);
            let getter = |queue: &Queue<&'static str>| {
                let queue = queue.clone();
                spawn("getter", move || queue.get())
            };
            let (b, c) = (getter(&queue), getter(&queue));
            yield_now().expect("both wait");
            b.cancel();
            assert!(cancelled(&b.join()));
            assert_eq!(queue.getter_count(), 1);
            queue.put("item").expect("unbounded");
            assert_eq!(c.join().expect("c ran"), Ok("item"));
            // And with nobody else waiting, the item simply stays queued.
            let d = getter(&queue);
            yield_now().expect("d waits");
            d.cancel();
            assert!(cancelled(&d.join()));
            queue.put("kept").expect("unbounded");
            assert_eq!(queue.get_nowait(), Ok("kept"));
        })
        .expect("the main task ends");
}

#[test]
fn an_item_handed_to_a_getter_cancelled_before_it_ran_is_not_lost() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let queue: Queue<u32> = Queue::new(0);
            let getter = |queue: &Queue<u32>| {
                let queue = queue.clone();
                spawn("getter", move || queue.get())
            };
            let (b, c) = (getter(&queue), getter(&queue));
            yield_now().expect("both wait");
            queue.put(1).expect("unbounded"); // reserved for b…
            assert_eq!(queue.get_nowait(), Err(QueueEmpty), "nobody barges in");
            b.cancel(); // …who is cancelled before it runs
            assert!(cancelled(&b.join()));
            assert_eq!(c.join().expect("c ran"), Ok(1));
            // Alone: the item stays queued.
            let d = getter(&queue);
            yield_now().expect("d waits");
            queue.put(2).expect("unbounded"); // reserved for d, the only getter
            assert_eq!(queue.get_nowait(), Err(QueueEmpty), "nobody barges in");
            d.cancel();
            assert!(cancelled(&d.join()));
            assert_eq!(queue.qsize(), 1);
            assert_eq!(queue.get_nowait(), Ok(2));
        })
        .expect("the main task ends");
}

#[test]
fn wait_for_around_get_and_put_times_out_and_loses_nothing() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let queue: Queue<u32> = Queue::new(1);
            assert!(wait_for(secs(1.0), || queue.get()).is_err());
            assert_eq!(queue.getter_count(), 0);
            queue.put(1).expect("room");
            assert!(wait_for(secs(1.0), || queue.put(2)).is_err(), "full");
            assert_eq!(queue.putter_count(), 0);
            assert_eq!(queue.qsize(), 1);
            assert_eq!(wait_for(secs(1.0), || queue.get()), Ok(Ok(1)));
            assert_eq!(queue.qsize(), 0);
        })
        .expect("the main task ends");
}

#[test]
fn a_slot_handed_to_a_putter_cancelled_before_it_ran_goes_to_the_next() {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(|| {
            let queue: Queue<u32> = Queue::new(1);
            queue.put(0).expect("room");
            let putter = |n: u32| {
                let queue = queue.clone();
                spawn("putter", move || queue.put(n))
            };
            let (b, c) = (putter(1), putter(2));
            yield_now().expect("both wait");
            assert_eq!(queue.get_nowait(), Ok(0)); // the slot goes to b…
            assert!(queue.put_nowait(9).is_err(), "reserved: nobody barges in");
            b.cancel(); // …cancelled before it ran
            assert!(cancelled(&b.join()));
            c.join().expect("c ran").expect("c put");
            assert_eq!(queue.get_nowait(), Ok(2));
            assert_eq!(queue.qsize(), 0);
            // A lone putter's reserved slot is not taken by put_nowait either.
            queue.put(3).expect("room");
            let d = putter(4);
            yield_now().expect("d waits");
            assert_eq!(queue.get_nowait(), Ok(3)); // the slot goes to d
            assert_eq!(queue.put_nowait(9), Err(QueueFull(9)), "reserved for d");
            d.join().expect("d ran").expect("d put");
            assert_eq!(queue.get_nowait(), Ok(4));
        })
        .expect("the main task ends");
}

// ---------------------------------------------------------------- trace

/// Collects what a `tracing` subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_waiting_task_is_named_in_a_debug_event_with_the_primitive() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let (mut event_loop, _watchdog) = virtual_loop();
        event_loop
            .run_until_complete(|| {
                let lock = Lock::named("accounts");
                let guard = lock.acquire().expect("free");
                let waiter = spawn("teller", {
                    let lock = lock.clone();
                    move || lock.acquire().map(drop)
                });
                yield_now().expect("it waits");
                drop(guard);
                waiter.join().expect("ran").expect("got it");
            })
            .expect("the main task ends");
    });
    let text = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("UTF-8");
    let line = text
        .lines()
        .find(|line| line.contains("waits on"))
        .unwrap_or_else(|| panic!("no wait event in:\n{text}"));
    assert!(line.contains("Lock \"accounts\""), "{line}");
    assert!(line.contains("teller"), "{line}");
}
