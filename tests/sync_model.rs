//! Lesson 09's primitives under random schedules.
//!
//! * `Queue` against a model (a `VecDeque` and a capacity): random
//!   interleavings of producers, consumers, cancels and timeouts; every
//!   item a put reported as queued comes out exactly once, in order.
//! * A "lost wake-up" test per primitive: many tasks doing random
//!   operations (with timeouts and cancels) that can all finish. If a
//!   release, a put or a notification ever failed to wake a waiter that
//!   could proceed, that waiter would wait forever and the loop would go
//!   idle with the main task unfinished: `run_until_complete` returns
//!   `TaskError::Stuck`, which fails the test (the watchdog catches a
//!   busy hang).

mod sync_support;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use sync_support::virtual_loop;
use yieldloop::{
    sleep, spawn, wait_for, yield_now, Condition, Event, JoinHandle, Lock, Queue, Semaphore,
    SyncError,
};

/// A small deterministic generator: proptest picks the seed, the test
/// draws its decisions from it (so a failure replays exactly).
struct Dice(Cell<u64>);

impl Dice {
    fn new(seed: u64) -> Rc<Dice> {
        Rc::new(Dice(Cell::new(seed | 1)))
    }

    /// A number in `0..n`.
    fn below(&self, n: u64) -> u64 {
        let mut x = self.0.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.set(x);
        x % n.max(1)
    }

    /// 0 to `max` milliseconds, often zero (a bare switch).
    fn pause(&self, max: u64) -> Duration {
        match self.below(3) {
            0 => Duration::ZERO,
            _ => Duration::from_millis(self.below(max + 1)),
        }
    }
}

/// Lets every task that can run, run: yields until any chain of wake-ups
/// (a release waking a task whose release wakes another…) of up to
/// `tasks` links has played out. The virtual clock does not move while the
/// caller is ready, so nobody's timer fires meanwhile.
fn settle(tasks: usize) {
    for _ in 0..tasks + 2 {
        let _ = yield_now();
    }
}

// ---------------------------------------------------------------- the model

/// One step the main task takes.
#[derive(Debug, Clone)]
enum Op {
    /// Spawn a task that puts the next item (waits while full).
    Put,
    /// The same within a timeout (ms).
    PutWithin(u64),
    /// Spawn a task that gets an item (waits while empty).
    Get,
    /// The same within a timeout (ms).
    GetWithin(u64),
    /// Put the next item without waiting, from the main task.
    PutNowait,
    /// Get without waiting, from the main task.
    GetNowait,
    /// Cancel the n-th task spawned so far (if it is still running).
    Cancel(usize),
    /// Let the others run: yield, or sleep some ms.
    Pause(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Put),
        2 => (1u64..30).prop_map(Op::PutWithin),
        3 => Just(Op::Get),
        2 => (1u64..30).prop_map(Op::GetWithin),
        1 => Just(Op::PutNowait),
        1 => Just(Op::GetNowait),
        3 => (0usize..64).prop_map(Op::Cancel),
        3 => (0u64..20).prop_map(Op::Pause),
    ]
}

/// What happened to the queue, in the order it happened: an item entered
/// it (a put returned `Ok`), or left it (a get returned it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    In(u32),
    Out(u32),
}

/// Replays `seen` on a model queue; returns what the model still holds.
fn replay(seen: &[Seen], capacity: usize) -> Result<VecDeque<u32>, String> {
    let mut model = VecDeque::new();
    for (step, event) in seen.iter().enumerate() {
        match *event {
            Seen::In(item) => {
                model.push_back(item);
                if capacity != 0 && model.len() > capacity {
                    return Err(format!(
                        "step {step}: {} items in a queue of {capacity}",
                        model.len()
                    ));
                }
            }
            Seen::Out(item) => match model.pop_front() {
                Some(front) if front == item => {}
                front => return Err(format!("step {step}: got {item}, the model says {front:?}")),
            },
        }
    }
    Ok(model)
}

fn run_queue_script(capacity: usize, script: Vec<Op>) -> Result<(), String> {
    let (mut event_loop, _watchdog) = virtual_loop();
    let outcome = event_loop.run_until_complete(move || -> Result<(), String> {
        let queue: Queue<u32> = Queue::named(capacity, "model");
        let seen: Rc<RefCell<Vec<Seen>>> = Rc::default();
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        let mut next = 0u32;
        for op in script {
            match op {
                Op::Put | Op::PutWithin(_) => {
                    next += 1;
                    let (item, queue, seen) = (next, queue.clone(), seen.clone());
                    tasks.push(spawn("producer", move || {
                        let put = match op {
                            Op::PutWithin(ms) => {
                                wait_for(Duration::from_millis(ms), || queue.put(item)).unwrap_or(
                                    Err(SyncError::Closed {
                                        primitive: "timeout".into(),
                                    }),
                                )
                            }
                            _ => queue.put(item),
                        };
                        if put.is_ok() {
                            seen.borrow_mut().push(Seen::In(item));
                        }
                    }));
                }
                Op::Get | Op::GetWithin(_) => {
                    let (queue, seen) = (queue.clone(), seen.clone());
                    tasks.push(spawn("consumer", move || {
                        let got = match op {
                            Op::GetWithin(ms) => {
                                wait_for(Duration::from_millis(ms), || queue.get()).ok()
                            }
                            _ => Some(queue.get()),
                        };
                        if let Some(Ok(item)) = got {
                            seen.borrow_mut().push(Seen::Out(item));
                        }
                    }));
                }
                Op::PutNowait => {
                    next += 1;
                    if queue.put_nowait(next).is_ok() {
                        seen.borrow_mut().push(Seen::In(next));
                    }
                }
                Op::GetNowait => {
                    if let Ok(item) = queue.get_nowait() {
                        seen.borrow_mut().push(Seen::Out(item));
                    }
                }
                Op::Cancel(n) => {
                    if !tasks.is_empty() {
                        tasks[n % tasks.len()].cancel();
                    }
                }
                Op::Pause(0) => yield_now().map_err(|e| e.to_string())?,
                Op::Pause(ms) => {
                    sleep(Duration::from_millis(ms)).map_err(|e| e.to_string())?;
                    // Quiet now: nobody may wait for what is there to take.
                    settle(tasks.len());
                    let (size, getters, putters) =
                        (queue.qsize(), queue.getter_count(), queue.putter_count());
                    if getters > 0 && size > 0 {
                        return Err(format!("{getters} getters wait beside {size} items"));
                    }
                    if putters > 0 && size < capacity {
                        return Err(format!("{putters} putters wait, {size} of {capacity} used"));
                    }
                }
            }
            let model = replay(&seen.borrow(), capacity)?;
            if queue.qsize() != model.len() {
                return Err(format!(
                    "qsize {} but the model holds {:?}",
                    queue.qsize(),
                    model
                ));
            }
        }
        // The end: stop whoever still waits, then drain what is left.
        for task in &tasks {
            task.cancel();
        }
        for task in tasks {
            let _ = task.join();
        }
        let mut left = replay(&seen.borrow(), capacity)?;
        while let Ok(item) = queue.get_nowait() {
            if left.pop_front() != Some(item) {
                return Err(format!(
                    "drained {item} out of order; the model holds {left:?}"
                ));
            }
        }
        if !left.is_empty() {
            return Err(format!("lost from the queue: {left:?}"));
        }
        if queue.getter_count() + queue.putter_count() != 0 {
            return Err("a finished waiter is still on a list".into());
        }
        Ok(())
    });
    outcome.map_err(|e| e.to_string())?
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_queue_loses_duplicates_and_reorders_nothing(
        capacity in 0usize..4,
        script in proptest::collection::vec(op(), 1..60),
    ) {
        prop_assert_eq!(run_queue_script(capacity, script), Ok(()));
    }
}

// ---------------------------------------------------------------- lost wake-ups

/// Spawns `count` workers running `work(n)`. Meanwhile, at random moments
/// (on a 5 ms grid, so that they often coincide with the workers' own),
/// lets the loop settle and runs `quiet_check` (a lost wake-up shows as a
/// waiter beside what it waits for), and cancels a random worker if `chaos`
/// is set. Then joins them all; returns how many finished uncancelled.
fn crowd(
    dice: &Rc<Dice>,
    count: usize,
    chaos: bool,
    quiet_check: impl Fn(),
    work: impl Fn(usize) -> Box<dyn FnOnce() -> Result<(), SyncError>>,
) -> usize {
    let workers: Vec<JoinHandle<Result<(), SyncError>>> = (0..count)
        .map(|n| spawn(format!("worker{n}"), work(n)))
        .collect();
    for _ in 0..count / 2 {
        let _ = sleep(Duration::from_millis(5 * dice.below(4)));
        if chaos {
            workers[dice.below(count as u64) as usize].cancel();
        }
        settle(3 * count);
        quiet_check();
    }
    workers
        .into_iter()
        .map(JoinHandle::join)
        .filter(|joined| matches!(joined, Ok(Ok(()))))
        .count()
}

/// Runs `body` to completion; a lost wake-up makes this `Stuck`.
fn must_finish(body: impl FnOnce() + 'static) -> Result<(), String> {
    let (mut event_loop, _watchdog) = virtual_loop();
    event_loop
        .run_until_complete(body)
        .map_err(|error| format!("the loop went idle with a waiter left behind: {error}"))
}

/// Either a plain wait, or the same within a random timeout (which may
/// give up: the caller tries again).
fn maybe_within<T>(
    dice: &Dice,
    wait: impl FnOnce() -> Result<T, SyncError>,
) -> Option<Result<T, SyncError>> {
    match dice.below(3) {
        0 => wait_for(dice.pause(15), wait).ok(),
        _ => Some(wait()),
    }
}

fn lock_crowd(seed: u64) -> Result<(), String> {
    must_finish(move || {
        let dice = Dice::new(seed);
        let lock = Lock::named("crowd");
        let inside = Rc::new(Cell::new(0));
        let check = || {
            assert!(
                lock.locked() || lock.waiter_count() == 0,
                "waiters on a free lock"
            );
        };
        crowd(&dice, 12, true, check, |_| {
            let (dice, lock, inside) = (dice.clone(), lock.clone(), inside.clone());
            Box::new(move || {
                for _ in 0..4 {
                    let Some(guard) = maybe_within(&dice, || lock.acquire()) else {
                        continue;
                    };
                    let _guard = guard?;
                    inside.set(inside.get() + 1);
                    assert_eq!(inside.get(), 1, "two tasks inside the lock");
                    let held = sleep(dice.pause(10));
                    inside.set(inside.get() - 1);
                    held.map_err(|e| SyncError::Closed {
                        primitive: e.to_string(),
                    })?;
                }
                Ok(())
            })
        });
        assert!(!lock.locked(), "held by nobody at the end");
        assert_eq!(lock.waiter_count(), 0);
    })
}

fn semaphore_crowd(seed: u64) -> Result<(), String> {
    must_finish(move || {
        let dice = Dice::new(seed);
        let slots = Semaphore::named(3, "crowd");
        let inside = Rc::new(Cell::new(0));
        let check = || {
            assert!(
                slots.value() == 0 || slots.waiter_count() == 0,
                "waiters beside permits"
            );
        };
        crowd(&dice, 12, true, check, |_| {
            let (dice, slots, inside) = (dice.clone(), slots.clone(), inside.clone());
            Box::new(move || {
                for _ in 0..4 {
                    let Some(permit) = maybe_within(&dice, || slots.acquire()) else {
                        continue;
                    };
                    let _permit = permit?;
                    inside.set(inside.get() + 1);
                    assert!(inside.get() <= 3, "more tasks than permits");
                    let held = sleep(dice.pause(10));
                    inside.set(inside.get() - 1);
                    held.map_err(|e| SyncError::Closed {
                        primitive: e.to_string(),
                    })?;
                }
                Ok(())
            })
        });
        assert_eq!(slots.value(), 3, "every permit came back");
        assert_eq!(slots.waiter_count(), 0);
    })
}

fn event_crowd(seed: u64) -> Result<(), String> {
    must_finish(move || {
        let dice = Dice::new(seed);
        let event = Event::named("crowd");
        let setter = spawn("setter", {
            let (dice, event) = (dice.clone(), event.clone());
            move || {
                for _ in 0..6 {
                    let _ = sleep(dice.pause(10));
                    match dice.below(2) {
                        0 => event.set(),
                        _ => event.clear(),
                    }
                }
                event.set(); // for good: every waiter can now proceed
            }
        });
        let check = || {
            assert!(
                !event.is_set() || event.waiter_count() == 0,
                "waiters on a set event"
            );
        };
        crowd(&dice, 10, true, check, |_| {
            let (dice, event) = (dice.clone(), event.clone());
            Box::new(move || {
                for _ in 0..3 {
                    while maybe_within(&dice, || event.wait()).is_none() {}
                    let _ = sleep(dice.pause(5));
                }
                Ok(())
            })
        });
        let _ = setter.join();
        assert_eq!(event.waiter_count(), 0);
    })
}

fn condition_crowd(seed: u64) -> Result<(), String> {
    must_finish(move || {
        let dice = Dice::new(seed);
        let cond = Condition::named("crowd");
        let stock = Rc::new(Cell::new(0u32));
        const BUYERS: usize = 6;
        const EACH: u32 = 3;
        // Sellers are never cancelled: they put in exactly what the buyers
        // take out, so every buyer can finish.
        let sellers: Vec<_> = (0..3)
            .map(|_| {
                let (dice, cond, stock) = (dice.clone(), cond.clone(), stock.clone());
                spawn("seller", move || {
                    for _ in 0..(BUYERS as u32 * EACH / 3) {
                        let _ = sleep(Duration::from_millis(5 * dice.below(4)));
                        let guard = cond.acquire()?;
                        stock.set(stock.get() + 1);
                        cond.notify(1);
                        drop(guard);
                    }
                    Ok::<_, SyncError>(())
                })
            })
            .collect();
        // Every unit of stock was announced with a notify: a buyer waiting
        // beside stock missed its notification.
        let check = || {
            assert!(
                stock.get() == 0 || cond.waiter_count() == 0,
                "a buyer waits beside stock"
            );
        };
        crowd(&dice, BUYERS, true, check, |_| {
            let (dice, cond, stock) = (dice.clone(), cond.clone(), stock.clone());
            Box::new(move || {
                let mut bought = 0;
                while bought < EACH {
                    let _guard = cond.acquire()?;
                    // A timeout gives up this wait (and passes on any
                    // notification it was given); try again.
                    let waited = match dice.below(3) {
                        0 => wait_for(dice.pause(15), || cond.wait_for(|| stock.get() > 0)).ok(),
                        _ => Some(cond.wait_for(|| stock.get() > 0)),
                    };
                    if let Some(waited) = waited {
                        waited?;
                        stock.set(stock.get() - 1);
                        bought += 1;
                    }
                }
                Ok(())
            })
        });
        for seller in sellers {
            let _ = seller.join();
        }
        settle(3 * BUYERS);
        check();
    })
}

fn queue_crowd(seed: u64) -> Result<(), String> {
    must_finish(move || {
        let dice = Dice::new(seed);
        let queue: Queue<u32> = Queue::named(2, "crowd");
        const PER_TASK: u32 = 5;
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let (dice, queue) = (dice.clone(), queue.clone());
                spawn("producer", move || {
                    let mut put = 0;
                    while put < PER_TASK {
                        let _ = sleep(dice.pause(5));
                        if let Some(done) = maybe_within(&dice, || queue.put(put)) {
                            done?;
                            put += 1;
                        }
                    }
                    Ok::<_, SyncError>(())
                })
            })
            .collect();
        let check = || {
            let size = queue.qsize();
            assert!(
                size == 0 || queue.getter_count() == 0,
                "getters wait beside items"
            );
            assert!(
                size == 2 || queue.putter_count() == 0,
                "putters wait beside room"
            );
        };
        let got = crowd(&dice, 4, false, check, |_| {
            let (dice, queue) = (dice.clone(), queue.clone());
            Box::new(move || {
                let mut got = 0;
                while got < PER_TASK {
                    let _ = sleep(dice.pause(5));
                    if let Some(item) = maybe_within(&dice, || queue.get()) {
                        item?;
                        got += 1;
                    }
                }
                Ok(())
            })
        });
        for producer in producers {
            let _ = producer.join();
        }
        assert_eq!(got, 4);
        assert_eq!(queue.qsize(), 0);
    })
}

/// One property test per primitive: its crowd finishes, whatever the seed.
macro_rules! no_lost_wake_up {
    ($($test:ident: $crowd:ident),* $(,)?) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            $(
                #[test]
                fn $test(seed in any::<u64>()) {
                    prop_assert_eq!($crowd(seed), Ok(()));
                }
            )*
        }
    };
}

no_lost_wake_up! {
    no_lost_wake_up_on_a_lock: lock_crowd,
    no_lost_wake_up_on_a_semaphore: semaphore_crowd,
    no_lost_wake_up_on_an_event: event_crowd,
    no_lost_wake_up_on_a_condition: condition_crowd,
    no_lost_wake_up_on_a_queue: queue_crowd,
}
