//! The executor's threads start lazily and end with the loop: counted in
//! `/proc/self/task` by name. One test in its own binary, so that no other
//! test's loop starts executor threads meanwhile.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use yieldloop::{executor_thread_count, run_in_executor, secs, sleep, spawn, Builder};

/// Threads of this process named like executor threads (`comm` holds the
/// first 15 bytes of a thread's name).
fn executor_threads_alive() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux: /proc/self/task lists this process's threads")
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("yieldloop-exec"))
        .count()
}

#[test]
fn a_dropped_loop_with_work_in_flight_leaves_no_thread() {
    let (done, wait) = mpsc::channel::<()>();
    thread::spawn(move || {
        if wait.recv_timeout(Duration::from_secs(60)) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("tests/executor_threads.rs: the test hung for 60 s");
            std::process::abort();
        }
    });
    let mut event_loop = Builder::new().executor_threads(4).build().unwrap();
    assert_eq!(executor_threads_alive(), 0, "no thread before any work");
    let started_lazily = event_loop
        .run_until_complete(|| {
            run_in_executor(|| ()).unwrap();
            executor_thread_count().unwrap()
        })
        .unwrap();
    assert_eq!(started_lazily, 1, "one call starts one thread");
    assert_eq!(executor_threads_alive(), 1);

    // Ten slow calls in flight (four running, six queued) when the loop goes.
    event_loop
        .run_until_complete(|| {
            for i in 0..10 {
                let _detached = spawn(format!("slow {i}"), || {
                    run_in_executor(|| thread::sleep(Duration::from_millis(300)))
                });
            }
            sleep(secs(0.05)).unwrap();
        })
        .unwrap();
    assert_eq!(executor_threads_alive(), 4, "at most executor_threads");
    let dropping = Instant::now();
    drop(event_loop);
    let took = dropping.elapsed();
    assert_eq!(executor_threads_alive(), 0, "every executor thread ended");
    // It waited for the four running calls, not for the six queued ones.
    assert!(took < Duration::from_millis(1000), "the drop took {took:?}");
    drop(done);
}
