//! `wait_timeout`: asyncio's `asyncio.wait(tasks, timeout=t)`. Running out
//! of time returns the pending handles still running; nothing is cancelled,
//! and the wait leaves no timer behind.

mod common;

use std::time::Duration;

use yieldloop::{
    now, secs, sleep, spawn, wait_timeout, Builder, Clock, EventLoop, TaskError, WaitError,
    WaitMode,
};

fn virtual_loop() -> EventLoop {
    Builder::new()
        .clock(Clock::new_virtual())
        .build()
        .expect("a loop")
}

#[test]
fn the_time_limit_returns_the_pending_still_running() {
    common::within(
        "the_time_limit_returns_the_pending_still_running",
        common::LOOP_DEADLINE,
        || {
            let mut event_loop = virtual_loop();
            let (split, waited, late) = event_loop
                .run_until_complete(|| {
                    let fast = spawn("fast", || sleep(secs(0.1)).map(|()| 1));
                    let slow = spawn("slow", || sleep(secs(5.0)).map(|()| 2));
                    let (done, pending) =
                        wait_timeout(vec![fast, slow], WaitMode::AllCompleted, secs(1.0))
                            .expect("in a task");
                    let waited = now().expect("in a task");
                    let split = (done.len(), pending.len());
                    // Not cancelled: the slow one finishes on its own, later.
                    let late: Vec<_> = pending
                        .into_iter()
                        .map(|handle| handle.join().expect("ran").expect("slept"))
                        .collect();
                    (split, waited, (late, now().expect("in a task")))
                })
                .expect("main finishes");
            assert_eq!(split, (1, 1));
            assert_eq!(waited, Duration::from_secs(1), "returned at the time limit");
            assert_eq!(late, (vec![2], Duration::from_secs(5)));
            assert_eq!(event_loop.timer_count(), 0, "no timer left behind");
        },
    );
}

#[test]
fn done_before_the_limit_returns_at_once_and_removes_the_timer() {
    common::within(
        "done_before_the_limit_returns_at_once_and_removes_the_timer",
        common::LOOP_DEADLINE,
        || {
            let mut event_loop = virtual_loop();
            let (all, first) = event_loop
                .run_until_complete(|| {
                    let a = spawn("a", || sleep(secs(0.2)));
                    let b = spawn("b", || sleep(secs(0.3)));
                    let (done, pending) =
                        wait_timeout(vec![a, b], WaitMode::AllCompleted, secs(10.0))
                            .expect("in a task");
                    let all = (done.len(), pending.len(), now().expect("in a task"));
                    let c = spawn("c", || sleep(secs(0.1)));
                    let d = spawn("d", || sleep(secs(0.4)));
                    let (done, pending) =
                        wait_timeout(vec![c, d], WaitMode::FirstCompleted, secs(10.0))
                            .expect("in a task");
                    let first = (done.len(), pending.len(), now().expect("in a task"));
                    for handle in pending {
                        let _ = handle.join();
                    }
                    (all, first)
                })
                .expect("main finishes");
            assert_eq!(all, (2, 0, Duration::from_millis(300)));
            assert_eq!(first, (1, 1, Duration::from_millis(400)));
            assert_eq!(event_loop.timer_count(), 0, "no timer left behind");
        },
    );
}

#[test]
fn outside_a_task_an_unfinished_wait_is_an_error() {
    let event_loop = virtual_loop();
    let handle = event_loop.spawn("never run", || ());
    let result = wait_timeout(vec![handle], WaitMode::AllCompleted, secs(1.0));
    assert!(
        matches!(result, Err(WaitError::NotInTask(_))),
        "{:?}",
        result.map(|_| ())
    );
}

#[test]
fn a_waiter_cancelled_mid_wait_leaves_no_timer_and_cancels_what_it_owns() {
    common::within(
        "a_waiter_cancelled_mid_wait_leaves_no_timer_and_cancels_what_it_owns",
        common::LOOP_DEADLINE,
        || {
            let mut event_loop = virtual_loop();
            let (waiter, at) = event_loop
                .run_until_complete(|| {
                    let waiter = spawn("waiter", || {
                        let slow = spawn("slow", || sleep(secs(5.0)));
                        wait_timeout(vec![slow], WaitMode::AllCompleted, secs(2.0)).map(|_| ())
                    });
                    sleep(secs(0.5)).expect("main is not cancelled");
                    assert!(waiter.cancel(), "the waiter was still waiting");
                    (waiter.join(), now().expect("in a task"))
                })
                .expect("main finishes");
            assert!(
                // The wait's error carries the cancellation up and out of
                // the task, so its joiner sees the task cancelled.
                matches!(waiter, Err(TaskError::Cancelled { .. })),
                "{waiter:?}"
            );
            assert_eq!(at, Duration::from_millis(500), "cancelled at once");
            assert_eq!(event_loop.timer_count(), 0, "the wait's timer is gone");
            assert_eq!(
                event_loop.task_count(),
                0,
                "the owned task was cancelled too"
            );
        },
    );
}
