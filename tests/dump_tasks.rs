//! Lesson 11's `EventLoop::dump_tasks`: the task tree by parent, what each
//! task waits on, and the backtrace of its suspended stack, captured without
//! disturbing its wait.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use yieldloop::{now, secs, sleep, spawn, Builder, Clock, WaitOn};

#[inline(never)]
fn outer_helper() -> Duration {
    middle_helper()
}

#[inline(never)]
fn middle_helper() -> Duration {
    inner_helper()
}

#[inline(never)]
fn inner_helper() -> Duration {
    sleep(secs(5.0)).unwrap();
    now().unwrap()
}

/// Runs `test` on its own thread under a watchdog.
fn with_watchdog(test: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the test hung or panicked");
}

#[test]
fn a_task_three_helpers_deep_shows_them_innermost_first() {
    with_watchdog(|| {
        let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
        let parent = event_loop.spawn("parent", || {
            let deep = spawn("deep", outer_helper);
            deep.join().unwrap()
        });
        event_loop
            .run_until_complete(|| sleep(secs(1.0)))
            .unwrap()
            .unwrap();

        let tree = event_loop.dump_tasks();
        let deep = tree.tasks.iter().find(|t| t.name == "deep").expect("deep");
        let parent_dump = tree.tasks.iter().find(|t| t.name == "parent").unwrap();
        assert_eq!(deep.parent, Some(parent_dump.id));
        assert_eq!(
            deep.waits_on,
            WaitOn::Timer {
                deadline: secs(5.0)
            }
        );
        assert_eq!(deep.since, Duration::ZERO);
        assert_eq!(parent_dump.waits_on, WaitOn::Join { task: deep.id });
        let helpers: Vec<&str> = deep
            .frames
            .iter()
            .filter_map(|frame| {
                ["inner_helper", "middle_helper", "outer_helper"]
                    .into_iter()
                    .find(|helper| frame.ends_with(&format!("dump_tasks::{helper}")))
            })
            .collect();
        assert_eq!(
            helpers,
            ["inner_helper", "middle_helper", "outer_helper"],
            "{:#?}",
            deep.frames
        );
        // The waiting function itself is the innermost frame shown.
        assert!(deep.frames[0].contains("sleep"), "{:#?}", deep.frames);

        // Printed, the child is indented under its parent.
        let printed = tree.to_string();
        let parent_line = format!("task {} \"parent\" (parent none)", parent_dump.id);
        let deep_line = format!("  task {} \"deep\" (parent {})", deep.id, parent_dump.id);
        assert!(printed.contains(&parent_line), "{printed}");
        assert!(printed.contains(&deep_line), "{printed}");
        assert!(
            printed.contains("at dump_tasks::middle_helper"),
            "{printed}"
        );

        // The capture did not disturb the wait: the timer still wakes it at
        // 5.000 exactly, and only then.
        let woke_at = event_loop
            .run_until_complete(move || parent.join())
            .unwrap()
            .unwrap();
        assert_eq!(woke_at, secs(5.0));
        assert!(event_loop.dump_tasks().tasks.is_empty());
    });
}

#[test]
fn a_task_that_has_not_started_has_no_frames() {
    with_watchdog(|| {
        let event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
        let _waiting = event_loop.spawn("not yet", || ());
        let tree = event_loop.dump_tasks();
        assert_eq!(tree.tasks.len(), 1);
        assert!(tree.tasks[0].frames.is_empty());
        assert!(tree.to_string().contains("(not started)"));
    });
}
