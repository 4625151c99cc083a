//! A property test of lesson 08's cancellation against a model.
//!
//! Random trees of tasks run on the virtual clock. Every task starts its
//! children, sleeps, then joins its children one by one (so it owns them);
//! some run their body under a `wait_for` deadline, some roots are
//! cancelled from outside at a random time, and some leaves catch their
//! cancellation and clean up with a sleep of their own before returning. A small model, written from the
//! rules in `src/reactor/cancel.rs` rather than from the code, predicts for
//! every task when its cleanup runs and how it ends (finished, cancelled, or
//! timed out), and that an owner's cleanup comes after the cleanup of the
//! child it was waiting for.
//!
//! Deadlines and cancels fall on odd multiples of 10 ms and sleeps on even
//! ones, and all deadlines differ, so no two events race at the same instant.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::error::Error;
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use yieldloop::{
    now, sleep, spawn, wait_for, Builder, Cancelled, Clock, JoinHandle, SuspendError, TaskError,
    TimedOut,
};

/// One task of the tree.
#[derive(Debug, Clone)]
struct Spec {
    id: usize,
    sleep_ms: u64,
    timeout_ms: Option<u64>,
    /// A leaf that catches its cancellation, cleans up for this long (a
    /// sleep), and returns normally. Such leaves have no deadline.
    catch_ms: Option<u64>,
    children: Vec<Spec>,
}

/// How a task ended, as its joiner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Finished,
    Cancelled,
    TimedOut,
}

/// What the run (or the model) says about every task: its cleanup time
/// and its outcome.
type Ends = BTreeMap<usize, (u64, Outcome)>;

// ---- the model ----

/// Where the model found an owner interrupted while joining a child: the
/// child's cleanup must come first.
type Owners = Vec<(usize, usize)>;

/// Simulates `spec` started at time 0; `owner_cancel` is when its owner
/// cancels it (the owner was interrupted while joining it). Returns when it
/// ends, and fills `ends` for it and every task below it.
fn simulate(
    spec: &Spec,
    external: Option<u64>,
    owner_cancel: Option<u64>,
    ends: &mut Ends,
    owners: &mut Owners,
) -> u64 {
    // The first interruption wins; later ones find the task finished (only
    // leaves catch, and a leaf is interrupted at most once: by its owner,
    // or, as a root, from outside).
    let interrupt = [
        external.map(|t| (t, Outcome::Cancelled)),
        spec.timeout_ms.map(|t| (t, Outcome::TimedOut)),
        owner_cancel.map(|t| (t, Outcome::Cancelled)),
    ]
    .into_iter()
    .flatten()
    .min();
    let natural = |child: &Spec, ends: &mut Ends, owners: &mut Owners| {
        simulate(child, None, None, ends, owners)
    };
    if let (Some(cleanup), Some((at, _))) = (spec.catch_ms, interrupt) {
        if at < spec.sleep_ms {
            // Caught: the cleanup's sleep works, and the task finishes.
            ends.insert(spec.id, (at + cleanup, Outcome::Finished));
            return at + cleanup;
        }
    }
    if let Some((at, outcome)) = interrupt.filter(|&(at, _)| at < spec.sleep_ms) {
        // Interrupted in its sleep: its children are dropped, detached.
        for child in &spec.children {
            natural(child, ends, owners);
        }
        ends.insert(spec.id, (at, outcome));
        return at;
    }
    let mut t = spec.sleep_ms;
    for (index, child) in spec.children.iter().enumerate() {
        // A scratch run tells when the child would end if left alone.
        let alone = simulate(child, None, None, &mut Ends::new(), &mut Owners::new());
        if alone <= t {
            natural(child, ends, owners);
            continue;
        }
        if let Some((at, outcome)) = interrupt.filter(|&(at, _)| at < alone) {
            // Interrupted while joining it: it is cancelled and waited for;
            // the rest are dropped, detached.
            let end = simulate(child, None, Some(at), ends, owners);
            owners.push((spec.id, child.id));
            for rest in &spec.children[index + 1..] {
                natural(rest, ends, owners);
            }
            ends.insert(spec.id, (end, outcome));
            return end;
        }
        natural(child, ends, owners);
        t = alone;
    }
    ends.insert(spec.id, (t, Outcome::Finished));
    t
}

// ---- the real thing ----

type Log = Rc<RefCell<Vec<(usize, u64)>>>;
type Results = Rc<RefCell<Ends>>;

fn ms() -> u64 {
    now().map_or(u64::MAX, |t| t.as_millis() as u64)
}

/// Notes the task's cleanup time when dropped.
struct Cleanup(Log, usize);

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.0.borrow_mut().push((self.1, ms()));
    }
}

fn name(id: usize) -> String {
    format!("n{id}")
}

/// The task's own cancellation, as its joiner reports it.
fn is_mine(error: &TaskError, id: usize) -> bool {
    matches!(error, TaskError::Cancelled { task, .. } if *task == name(id))
}

/// What a task of the tree returns.
type TaskResult = Result<(), Box<dyn Error>>;

fn run_task(spec: Spec, log: Log, results: Results) -> TaskResult {
    let _cleanup = Cleanup(log.clone(), spec.id);
    let handles: Vec<JoinHandle<TaskResult>> = spec
        .children
        .iter()
        .map(|child| {
            let (child, log, results) = (child.clone(), log.clone(), results.clone());
            spawn(name(child.id), move || run_task(child, log, results))
        })
        .collect();
    let id = spec.id;
    let body = move || -> Result<(), Box<dyn Error>> {
        match (sleep(Duration::from_millis(spec.sleep_ms)), spec.catch_ms) {
            (Err(SuspendError::Cancelled(caught)), Some(cleanup)) => {
                drop(caught); // caught: no longer being cancelled
                sleep(Duration::from_millis(cleanup))?;
                return Ok(());
            }
            (slept, _) => slept?,
        }
        for handle in handles {
            match handle.join() {
                Err(error) if is_mine(&error, id) => return Err(error.into()),
                _ => {} // a child's own ending is its own business
            }
        }
        Ok(())
    };
    let result = match spec.timeout_ms {
        Some(deadline) => wait_for(Duration::from_millis(deadline), body)
            .map_err(Box::<dyn Error>::from)
            .and_then(|result| result),
        None => body(),
    };
    let outcome = match &result {
        Ok(()) => Outcome::Finished,
        Err(error) if error.downcast_ref::<TimedOut>().is_some() => Outcome::TimedOut,
        Err(error) if Cancelled::find(error.as_ref()).is_some_and(|c| c.task() == name(id)) => {
            Outcome::Cancelled
        }
        Err(error) => panic!("n{id}: unexpected error {error}"),
    };
    results.borrow_mut().insert(id, (u64::MAX, outcome));
    result
}

/// Runs the forest; returns every task's (cleanup time, outcome), the
/// cleanup order, and the roots' outcomes as their joiners saw them.
fn run(roots: &[(Spec, Option<u64>)]) -> (Ends, Vec<usize>, Vec<Outcome>) {
    let mut event_loop = Builder::new()
        .clock(Clock::new_virtual())
        .build()
        .expect("a loop");
    let log = Log::default();
    let results = Results::default();
    let roots = roots.to_vec();
    let (task_log, task_results) = (log.clone(), results.clone());
    let joined = event_loop
        .run_until_complete(move || {
            let keepers: Vec<_> = roots
                .into_iter()
                .map(|(spec, cancel_at)| {
                    let (log, results) = (task_log.clone(), task_results.clone());
                    let root = spawn(name(spec.id), move || run_task(spec, log, results));
                    spawn("keeper", move || {
                        if let Some(at) = cancel_at {
                            sleep(Duration::from_millis(at)).expect("the keeper is not cancelled");
                            root.cancel();
                        }
                        match root.join() {
                            Ok(Ok(())) => Outcome::Finished,
                            Ok(Err(error)) if error.downcast_ref::<TimedOut>().is_some() => {
                                Outcome::TimedOut
                            }
                            Err(TaskError::Cancelled { .. }) => Outcome::Cancelled,
                            other => panic!("a root ended with {other:?}"),
                        }
                    })
                })
                .collect();
            let joined: Vec<Outcome> = keepers
                .into_iter()
                .map(|keeper| keeper.join().expect("keepers finish"))
                .collect();
            sleep(Duration::from_secs(100)).expect("main is not cancelled"); // detached ones finish
            joined
        })
        .expect("the run finishes");
    assert_eq!(event_loop.timer_count(), 0, "timers left behind");
    assert_eq!(event_loop.task_count(), 0, "tasks left behind");
    let order: Vec<usize> = log.borrow().iter().map(|&(id, _)| id).collect();
    let mut ends = Ends::new();
    for &(id, at) in log.borrow().iter() {
        let outcome = results.borrow().get(&id).map(|&(_, o)| o);
        // No recorded outcome: cancelled before it ever started.
        ends.insert(id, (at, outcome.unwrap_or(Outcome::Cancelled)));
    }
    (ends, order, joined)
}

// ---- the property ----

fn tree() -> impl Strategy<Value = Spec> {
    // Cleanups last 20k + 5 ms: they end off the 10 ms grid of every other
    // event, so they never tie with one.
    let catch = proptest::option::weighted(0.3, (0u64..5).prop_map(|k| 20 * k + 5));
    let leaf =
        (1u64..8, proptest::option::of(0u64..20), catch).prop_map(|(sleep, timeout, catch)| Spec {
            id: 0,
            sleep_ms: sleep * 20,
            timeout_ms: if catch.is_some() {
                None
            } else {
                timeout.map(|k| (2 * k + 1) * 10)
            },
            catch_ms: catch,
            children: Vec::new(),
        });
    leaf.prop_recursive(3, 12, 3, |inner| {
        (
            1u64..8,
            proptest::option::of(0u64..20),
            proptest::collection::vec(inner, 0..3),
        )
            .prop_map(|(sleep, timeout, children)| Spec {
                id: 0,
                sleep_ms: sleep * 20,
                timeout_ms: timeout.map(|k| (2 * k + 1) * 10),
                catch_ms: None,
                children,
            })
    })
}

/// Numbers the tasks depth-first and lists every odd-time event.
fn number(spec: &mut Spec, next: &mut usize, odd: &mut Vec<u64>) {
    spec.id = *next;
    *next += 1;
    odd.extend(spec.timeout_ms);
    for child in &mut spec.children {
        number(child, next, odd);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn cancellation_and_timeouts_follow_the_model(
        forest in proptest::collection::vec((tree(), proptest::option::of(0u64..20)), 1..3)
    ) {
        let mut next = 0;
        let mut odd = Vec::new();
        let mut roots = Vec::new();
        for (mut spec, cancel) in forest {
            number(&mut spec, &mut next, &mut odd);
            let cancel_at = cancel.map(|k| (2 * k + 1) * 10);
            odd.extend(cancel_at);
            roots.push((spec, cancel_at));
        }
        let mut distinct = odd.clone();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assume!(distinct.len() == odd.len());

        let mut predicted = Ends::new();
        let mut owners = Owners::new();
        let predicted_roots: Vec<Outcome> = roots
            .iter()
            .map(|(spec, cancel_at)| {
                simulate(spec, *cancel_at, None, &mut predicted, &mut owners);
                let (end, outcome) = predicted[&spec.id];
                // A cancel from outside that arrives while a timed-out root
                // is still cleaning up (waiting for the child its deadline
                // cancelled) is never delivered at a wait, but it is still
                // in flight when the root returns: its joiner sees the task
                // cancelled, as asyncio's `_must_cancel` makes a task that
                // returns right after `cancel()` end cancelled. The root's
                // own view (its `ends` entry) stays `TimedOut`.
                match cancel_at {
                    Some(at) if outcome == Outcome::TimedOut && *at < end => Outcome::Cancelled,
                    _ => outcome,
                }
            })
            .collect();

        let (ends, order, joined) = run(&roots);
        prop_assert_eq!(&ends, &predicted);
        prop_assert_eq!(joined, predicted_roots);
        for (owner, child) in owners {
            let position = |id| order.iter().position(|&x| x == id);
            prop_assert!(
                position(child) < position(owner),
                "n{}'s cleanup must come before its owner n{}'s: {:?}", child, owner, order
            );
        }
    }
}
