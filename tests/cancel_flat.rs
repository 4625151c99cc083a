//! 100,000 cancel cycles — a sleep, a future wait, a wait_for deadline, a
//! scope, and every hundredth a socket read, each cancelled mid-wait —
//! leave memory, timers, selector registrations and descriptors flat.
//!
//! A file of its own, with one test: it reads process-wide figures
//! (`VmRSS`, /proc/self/fd) that tests running beside it would disturb.

use std::fs;
use std::net::SocketAddr;
use std::net::TcpListener as StdListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use yieldloop::{
    scope, secs, sleep, spawn, wait_for, yield_now, Builder, Clock, EventLoop, Future, TcpStream,
    WaitError,
};

fn rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").expect("procfs").count()
}

/// One cancel cycle of kind `n % 4`, plus a socket read every 100th.
fn cycle(n: usize, server: SocketAddr) {
    let task = match n % 4 {
        0 => spawn("sleeper", || sleep(secs(10.0)).map_err(WaitError::from)),
        1 => spawn("future waiter", || {
            Future::<(), WaitError>::new().wait() // nobody ever completes it
        }),
        2 => spawn("deadline", || {
            let _ = wait_for(secs(10.0), || sleep(secs(20.0)));
            Ok(())
        }),
        _ => spawn("scope owner", || {
            scope(|s| {
                let _ = s.spawn("child", || sleep(secs(10.0)));
            })
            .map_err(|_| WaitError::AlreadyTaken)
        }),
    };
    yield_now().expect("in a task"); // let it start and suspend
    task.cancel();
    let _ = task.join();
    if n % 100 == 0 {
        let reader = spawn("reader", move || -> std::io::Result<()> {
            let stream = TcpStream::connect(server)?;
            stream.read(&mut [0u8; 8])?; // the peer never writes
            Ok(())
        });
        sleep(secs(0.001)).expect("in a task");
        reader.cancel();
        let _ = reader.join();
    }
}

fn cycles(event_loop: &mut EventLoop, listener: &StdListener, range: std::ops::Range<usize>) {
    let server = listener.local_addr().expect("address");
    for batch in range.step_by(1000) {
        event_loop
            .run_until_complete(move || {
                for n in batch..batch + 1000 {
                    cycle(n, server);
                }
            })
            .expect("the batch runs");
        while listener.accept().is_ok() {} // the peers of this batch's readers
        assert_eq!(event_loop.task_count(), 0, "tasks left after batch {batch}");
        assert_eq!(
            event_loop.timer_count(),
            0,
            "timers left after batch {batch}"
        );
        assert_eq!(event_loop.registration_count(), 0);
        assert_eq!(event_loop.io_waiter_count(), 0);
    }
}

#[test]
fn a_hundred_thousand_cancel_cycles_leave_everything_flat() {
    let (done, watchdog) = mpsc::channel::<()>();
    thread::spawn(move || {
        // Only a timeout: a disconnect means the test ended (or failed).
        if watchdog.recv_timeout(Duration::from_secs(300)) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("cancel_flat: hung for 300 s");
            std::process::abort();
        }
    });
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let mut event_loop = Builder::new()
        .clock(Clock::new_virtual())
        .build()
        .expect("a loop");
    cycles(&mut event_loop, &listener, 0..10_000); // warm up pools and queues
    let (rss_before, fds_before) = (rss_kib(), open_fds());
    cycles(&mut event_loop, &listener, 10_000..110_000);
    let (rss_after, fds_after) = (rss_kib(), open_fds());
    assert_eq!(fds_after, fds_before, "descriptors leaked");
    assert!(
        rss_after <= rss_before + 2048,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over 100,000 cancel cycles"
    );
    let _ = done.send(());
}
