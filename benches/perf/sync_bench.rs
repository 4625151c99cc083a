//! Section `sync` (lesson 09): a contended lock and a bounded queue, on
//! yieldloop, tokio (`current_thread`) and asyncio, doing the same work.
//!
//! * **Lock:** two tasks take turns: lock, `yield_now` while holding it,
//!   unlock. Every acquire but the first finds the lock held by the other
//!   task and waits, so each op is a wait, a hand-off and a wake-up
//!   (tokio: `tokio::sync::Mutex<()>`; asyncio: `asyncio.Lock`).
//! * **Queue:** one producer puts `n` integers into a queue bounded at 64,
//!   one consumer gets them (tokio: `mpsc::channel(64)`; asyncio:
//!   `asyncio.Queue(64)`). The figure is per item.

use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use yieldloop::{spawn, yield_now, Lock, Queue};

use crate::micro::tokio_runtime;
use crate::python;
use crate::reactor::on_a_fresh_loop;

/// The queue bound all three runtimes use.
const BOUND: usize = 64;

/// The asyncio side: `python3 -c SCRIPT lock|queue N` prints ns per op.
const SCRIPT: &str = r#"
import asyncio, sys, time

async def turns(lock, n):
    for _ in range(n):
        async with lock:
            await asyncio.sleep(0)

async def lock(n):
    lock = asyncio.Lock()
    start = time.perf_counter()
    await asyncio.gather(turns(lock, n // 2), turns(lock, n // 2))
    return (time.perf_counter() - start) / n * 1e9

async def produce(queue, n):
    for i in range(n):
        await queue.put(i)

async def consume(queue, n):
    for _ in range(n):
        await queue.get()

async def queue(n):
    q = asyncio.Queue(64)
    start = time.perf_counter()
    await asyncio.gather(produce(q, n), consume(q, n))
    return (time.perf_counter() - start) / n * 1e9

mode, n = sys.argv[1], int(sys.argv[2])
print(asyncio.run({"lock": lock, "queue": queue}[mode](n)))
"#;

/// asyncio's figure for `mode` (`lock` or `queue`), ns per op.
pub fn asyncio_ns(mode: &str, n: u64) -> Result<f64, String> {
    python::parse_ns(&python::run_script(SCRIPT, mode, n)?)
}

/// Two yieldloop tasks, `n / 2` turns each: lock, yield, unlock.
pub fn yieldloop_lock(n: u64) -> Result<Duration, String> {
    on_a_fresh_loop(move || {
        let lock = Lock::new();
        let turns = |lock: Lock| {
            move || -> Result<(), String> {
                for _ in 0..n / 2 {
                    let _held = lock.acquire().map_err(|e| e.to_string())?;
                    yield_now().map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        };
        let start = Instant::now();
        let a = spawn("a", turns(lock.clone()));
        let b = spawn("b", turns(lock));
        let (a, b) = (a.join(), b.join());
        let elapsed = start.elapsed();
        a.and(b).map_err(|e| e.to_string())??;
        Ok(elapsed)
    })?
}

/// One yieldloop producer and one consumer, `n` items through `Queue(64)`.
pub fn yieldloop_queue(n: u64) -> Result<Duration, String> {
    on_a_fresh_loop(move || {
        let queue: Queue<u64> = Queue::new(BOUND);
        let start = Instant::now();
        let producer = spawn("producer", {
            let queue = queue.clone();
            move || {
                (0..n)
                    .try_for_each(|i| queue.put(i))
                    .map_err(|e| e.to_string())
            }
        });
        let consumer = spawn("consumer", move || {
            (0..n)
                .try_for_each(|_| {
                    queue.get().map(|i| {
                        black_box(i);
                    })
                })
                .map_err(|e| e.to_string())
        });
        let (p, c) = (producer.join(), consumer.join());
        let elapsed = start.elapsed();
        p.and(c).map_err(|e| e.to_string())??;
        Ok(elapsed)
    })?
}

/// Two tokio tasks, `n / 2` turns each on a `tokio::sync::Mutex`.
pub fn tokio_lock(n: u64) -> Duration {
    tokio_runtime().block_on(async move {
        let lock = Rc::new(tokio::sync::Mutex::new(()));
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let turns = |lock: Rc<tokio::sync::Mutex<()>>| async move {
                    for _ in 0..n / 2 {
                        let _held = lock.lock().await;
                        tokio::task::yield_now().await;
                    }
                };
                let start = Instant::now();
                let a = tokio::task::spawn_local(turns(lock.clone()));
                let b = tokio::task::spawn_local(turns(lock));
                let _ = a.await;
                let _ = b.await;
                start.elapsed()
            })
            .await
    })
}

/// One tokio producer and one consumer, `n` items through `mpsc::channel(64)`.
pub fn tokio_queue(n: u64) -> Duration {
    tokio_runtime().block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(BOUND);
        let start = Instant::now();
        let producer = tokio::spawn(async move {
            for i in 0..n {
                if tx.send(i).await.is_err() {
                    break;
                }
            }
        });
        let consumer = tokio::spawn(async move {
            for _ in 0..n {
                black_box(rx.recv().await);
            }
        });
        let _ = producer.await;
        let _ = consumer.await;
        start.elapsed()
    })
}
