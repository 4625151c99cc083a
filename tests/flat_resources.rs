//! 100,000 tasks spawned and finished, and hundreds of loops dropped with
//! tasks suspended in them, leave memory and descriptors where they were.
//!
//! A file of its own, with one test: it reads process-wide figures
//! (`VmRSS` in /proc/self/status, the entries of /proc/self/fd), which tests
//! running beside it in the same process would disturb.

mod common;

use std::fs;
use std::net::TcpListener as StdListener;
use std::time::Duration;

use yieldloop::{spawn, yield_now, EventLoop, TcpStream};

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Open descriptors of this process.
fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// `batches` × 1,000 tasks that each yield once and end, handles dropped.
fn spawn_and_finish(event_loop: &mut EventLoop, batches: usize) {
    for _ in 0..batches {
        event_loop
            .run_until_complete(|| {
                for _ in 0..1000 {
                    drop(spawn("short-lived", || yield_now().unwrap()));
                }
                yield_now().unwrap();
            })
            .unwrap();
        event_loop.run_forever().unwrap(); // until nothing is left
        assert_eq!(event_loop.task_count(), 0);
    }
}

/// `loops` loops, each dropped while 5 tasks wait to read from a peer that
/// never writes.
fn drop_loops_with_suspended_readers(listener: &StdListener, loops: usize) {
    let addr = listener.local_addr().unwrap();
    for _ in 0..loops {
        let mut event_loop = EventLoop::new().unwrap();
        for _ in 0..5 {
            drop(event_loop.spawn("reader", move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream.read(&mut [0u8; 8]).map_err(|e| e.to_string())
            }));
        }
        let mut accepted = Vec::new();
        while accepted.len() < 5 {
            // A short timer bounds each iteration's wait.
            let _ = event_loop.call_later(Duration::from_millis(1), || ());
            event_loop.run_once().unwrap();
            while let Ok((stream, _)) = listener.accept() {
                accepted.push(stream);
            }
        }
        drop(event_loop);
    }
}

#[test]
fn spawn_and_drop_cycles_leave_rss_and_descriptors_flat() {
    common::within(
        "spawn_and_drop_cycles_leave_rss_and_descriptors_flat",
        Duration::from_secs(180),
        || {
            let listener = StdListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let mut event_loop = EventLoop::new().unwrap();
            // Warm up: the stack pool fills, the slab and queues reach their size.
            spawn_and_finish(&mut event_loop, 10);
            drop_loops_with_suspended_readers(&listener, 20);
            let (rss_before, fds_before) = (rss_kib(), open_fds());

            spawn_and_finish(&mut event_loop, 100);
            drop_loops_with_suspended_readers(&listener, 200);
            let (rss_after, fds_after) = (rss_kib(), open_fds());

            assert_eq!(fds_after, fds_before, "descriptors leaked");
            assert!(
            rss_after <= rss_before + 2048,
            "RSS grew from {rss_before} KiB to {rss_after} KiB over 100,000 tasks and 200 loops"
        );
            assert!(event_loop.pooled_stacks() <= yieldloop::reactor::stacks::DEFAULT_POOL_LIMIT);
        },
    );
}
