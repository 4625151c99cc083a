//! # Lesson 09 — Synchronisation between tasks: locks, queues, semaphores
//!
//! One thread runs every task, so two tasks never touch memory at the same
//! time: there are no data races. But every call that may suspend is a
//! point where *another task runs*, so a check and the action it guards can
//! be split apart: a logic race. asyncio marks those points with `await`;
//! a stackful task does not mark them at all, so any innocent-looking call
//! (here a `log` that writes to a log server) can be one. Read
//! `src/sync/` beside this: its primitives are asyncio's `Lock`, `Event`,
//! `Semaphore`, `Condition` and `Queue`, built on lesson 06's tasks and
//! cancellable like lesson 08's waits.
//!
//! Run it:
//!
//! ```text
//! cargo run --bin 09-sync              # real time: about 5 s
//! cargo run --bin 09-sync -- --virtual # virtual time: instant, exact times
//! cargo run --bin 09-sync -- race --virtual   # one part: race, lock, queue, semaphore
//! RUST_LOG=info,yieldloop::sync=debug cargo run --bin 09-sync -- --virtual
//!                                      # also: who waits on which primitive
//! ```
//!
//! Look for, part by part: both transfers passing the balance check before
//! either withdraws, because `log` let the other one run in between (part
//! 1); the same with the account's lock held around the whole transfer, so
//! the second one sees the first one's withdrawal (part 2); a producer
//! waiting while a bounded queue is full, and `join` returning when the
//! consumer has finished every item (part 3); five one-second jobs, two at
//! a time, ending at 1, 1, 2, 2 and 3 s (part 4, drawn).
//!
//! Next: the workshop, whose fetcher's `-c N` is part 4's semaphore.

use std::cell::Cell;
use std::error::Error;
use std::process::ExitCode;
use std::rc::Rc;

use clap::{Parser, ValueEnum};
use tracing::info;
use yieldloop::course::cli::{ClockArgs, ObserveArgs};
use yieldloop::course::timeline::Timeline;
use yieldloop::course::trace;
use yieldloop::{now, secs, sleep, spawn, Builder, Clock, Lock, Queue, Semaphore};

/// What the lesson's functions return.
type Result<T = (), E = Box<dyn Error>> = std::result::Result<T, E>;

// ANCHOR: account
/// A bank account. `hold` is its lock: the slide's `payer.hold(amount)`.
struct Account {
    name: &'static str,
    balance: Cell<i64>,
    hold: Lock,
}

impl Account {
    fn new(name: &'static str, balance: i64) -> Rc<Account> {
        Rc::new(Account {
            name,
            balance: Cell::new(balance),
            hold: Lock::named(name),
        })
    }
}

/// Writes a line to the log server: it waits for the server's answer, so
/// it *suspends the calling task*, although nothing at the call says so.
fn log(who: &str, line: &str) -> Result {
    info!("{who} log: {line} (waits for the log server)");
    sleep(secs(0.1))?;
    Ok(())
}
// ANCHOR_END: account

// ANCHOR: transfer
/// The slide's `transfer(amount, payer, payee)`: check, log, withdraw.
fn transfer(who: &str, amount: i64, payer: &Account, payee: &Account) -> Result {
    let balance = payer.balance.get();
    info!("{who} check: {} has {balance}, needs {amount}", payer.name);
    if balance < amount {
        info!("{who}: insufficient funds");
        return Ok(());
    }
    log(who, &format!("transfer {amount} from {}", payer.name))?; // ← another task runs here
    payer.balance.set(payer.balance.get() - amount);
    payee.balance.set(payee.balance.get() + amount);
    info!(
        "{who} withdrew {amount}: {} {}, {} {}",
        payer.name,
        payer.balance.get(),
        payee.name,
        payee.balance.get()
    );
    Ok(())
}
// ANCHOR_END: transfer

// ANCHOR: held
/// The fix: hold the payer's lock around the whole transfer. A second
/// transfer from the same account waits at `acquire` until the first has
/// withdrawn; the guard releases the lock on every way out (`?` included).
fn transfer_held(who: &str, amount: i64, payer: &Account, payee: &Account) -> Result {
    if payer.hold.locked() {
        info!("{who} waits for {}'s lock", payer.name);
    }
    let _held = payer.hold.acquire()?;
    transfer(who, amount, payer, payee)
}
// ANCHOR_END: held

/// Runs two `transfer(80)`s from alice (100) to bob at once, with or
/// without the lock, and prints the balances.
fn two_transfers(held: bool) -> Result {
    let alice = Account::new("alice", 100);
    let bob = Account::new("bob", 0);
    let tasks: Vec<_> = ["t1", "t2"]
        .into_iter()
        .map(|who| {
            let (alice, bob) = (alice.clone(), bob.clone());
            spawn(who, move || -> Result<(), String> {
                let done = match held {
                    false => transfer(who, 80, &alice, &bob),
                    true => transfer_held(who, 80, &alice, &bob),
                };
                done.map_err(|error| error.to_string())
            })
        })
        .collect();
    for task in tasks {
        task.join()??;
    }
    let (a, b) = (alice.balance.get(), bob.balance.get());
    let verdict = if a < 0 {
        "alice is overdrawn!"
    } else {
        "they add up"
    };
    info!("balances: alice {a}, bob {b}, total {}: {verdict}", a + b);
    Ok(())
}

// ANCHOR: queue
/// Part 3: a producer faster than its consumer, over a queue of two.
fn producer_consumer() -> Result {
    let queue = Queue::named(2, "jobs");
    let consumer = spawn("consumer", {
        let queue = queue.clone();
        move || -> Result<(), String> {
            loop {
                let job: u32 = queue.get().map_err(|e| e.to_string())?;
                info!("consumer got job {job}");
                sleep(secs(0.3)).map_err(|e| e.to_string())?;
                info!("consumer finished job {job}");
                queue.task_done().map_err(|e| e.to_string())?;
            }
        }
    });
    for job in 1..=5 {
        if queue.full() {
            info!("producer waits: the queue is full ({} jobs)", queue.qsize());
        }
        queue.put(job)?;
        info!("producer put job {job}");
    }
    info!("producer: all put; join waits until every job is finished");
    queue.join()?;
    info!("producer: every job finished; cancelling the idle consumer");
    consumer.cancel();
    let _ = consumer.join(); // it was waiting in get: cancelled there
    Ok(())
}
// ANCHOR_END: queue

// ANCHOR: semaphore
/// Part 4: five one-second jobs, at most two at a time.
fn bounded_jobs(timeline: &Timeline) -> Result {
    let start = now()?;
    timeline.restart(start);
    let slots = Semaphore::named(2, "slots");
    let jobs: Vec<_> = (1..=5)
        .map(|n| {
            let slots = slots.clone();
            spawn(format!("job{n}"), move || -> Result<(), String> {
                if slots.locked() {
                    info!("job{n} waits for a slot");
                }
                let _slot = slots.acquire().map_err(|e| e.to_string())?;
                info!("job{n} start");
                sleep(secs(1.0)).map_err(|e| e.to_string())?;
                let took = now().map_err(|e| e.to_string())? - start;
                info!("job{n} end, {:.1} s after part 4 began", took.as_secs_f64());
                Ok(())
            }) // the permit goes back here, to the first waiting job
        })
        .collect();
    for job in jobs {
        job.join()??;
    }
    timeline.print();
    Ok(())
}
// ANCHOR_END: semaphore

/// Lesson 09: the transfer race, a lock, a bounded queue, a semaphore.
#[derive(Parser)]
struct Args {
    /// Run only this part (all four if not given).
    #[arg(value_enum)]
    part: Option<Part>,
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

/// The lesson's four parts.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Part 1: two transfers race past the balance check.
    Race,
    /// Part 2: the account's lock held around each transfer.
    Lock,
    /// Part 3: producer and consumer over a bounded queue.
    Queue,
    /// Part 4: a semaphore runs five one-second jobs two at a time.
    Semaphore,
}

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    args.observe.install_stepper(); // lesson 11's `--step`
    let parts = match args.part {
        Some(part) => vec![part],
        None => vec![Part::Race, Part::Lock, Part::Queue, Part::Semaphore],
    };
    if let Err(error) = run(args.clock.clock(), parts, &args.observe) {
        eprintln!("09-sync: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run(clock: Clock, parts: Vec<Part>, observe: &ObserveArgs) -> Result {
    let observer = trace::init_observed(&clock, observe)?;
    let timeline = observer.timeline().clone();
    let mut event_loop = Builder::new().clock(clock).build()?;
    event_loop.run_until_complete(move || -> Result {
        for part in parts {
            match part {
                Part::Race => {
                    info!("part 1: two transfers of 80 from alice's 100, no lock");
                    two_transfers(false)?;
                }
                Part::Lock => {
                    info!("part 2: the same, holding alice's lock around each transfer");
                    two_transfers(true)?;
                }
                Part::Queue => {
                    info!("part 3: a producer and a consumer over a queue of two");
                    producer_consumer()?;
                }
                Part::Semaphore => {
                    info!("part 4: five one-second jobs, two at a time");
                    bounded_jobs(&timeline)?;
                }
            }
        }
        Ok(())
    })??;
    observer.finish()?; // --timeline and friends (lesson 11)
    Ok(())
}
// ANCHOR_END: main
