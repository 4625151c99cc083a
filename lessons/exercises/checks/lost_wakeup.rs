//! Check for the `lost_wakeup` exercise: wait-then-set and set-then-wait.

use std::error::Error;
use std::rc::Rc;

use yieldloop::{secs, sleep, spawn, wait_for};

use super::report::{compare_traces, guarded, task_failed, virtual_loop, Log, Outcome};

/// What the check needs of the learner's `Flag`.
pub trait FlagLike: 'static {
    /// `Flag::new()`.
    fn make() -> Self;
    /// `set`.
    fn raise(&self);
    /// `wait`.
    fn wait_up(&self) -> Result<(), Box<dyn Error>>;
}

/// Implements [`FlagLike`] for the exercise's `Flag`.
#[macro_export]
macro_rules! impl_flag {
    ($flag:path) => {
        impl $crate::checks::lost_wakeup::FlagLike for $flag {
            fn make() -> Self {
                <$flag>::new()
            }
            fn raise(&self) {
                self.set()
            }
            fn wait_up(&self) -> Result<(), Box<dyn std::error::Error>> {
                self.wait()
            }
        }
    };
}

/// One waiter that comes early, one that comes after the flag was set.
pub fn check<F: FlagLike>() -> Outcome {
    let mut event_loop = virtual_loop()?;
    let log = Log::default();
    let flag = Rc::new(F::make());
    let waiter = |name: &'static str, arrives: f64| {
        let (flag, log) = (flag.clone(), log.clone());
        move || {
            let _ = sleep(secs(arrives));
            log.now(&format!("{name} waits"));
            // A watchdog: a lost wake-up would otherwise hang the check.
            match wait_for(secs(1.0), || flag.wait_up()) {
                Ok(_) => log.now(&format!("{name} woke")),
                Err(_) => log.now(&format!("{name} gave up after 1 s")),
            }
        }
    };
    let (early, late) = (waiter("early", 0.0), waiter("late", 0.2));
    let setter = {
        let (flag, log) = (flag.clone(), log.clone());
        move || {
            let _ = sleep(secs(0.1));
            log.now("set");
            flag.raise();
        }
    };
    guarded("your Flag", || {
        event_loop.run_until_complete(move || {
            let handles = [
                spawn("early", early),
                spawn("setter", setter),
                spawn("late", late),
            ];
            for handle in handles {
                let _ = handle.join();
            }
        })
    })?
    .map_err(task_failed)?;
    let expected: Vec<String> = [
        "0.000 early waits",
        "0.100 set",
        "0.100 early woke",
        "0.200 late waits",
        "0.200 late woke",
    ]
    .iter()
    .map(|l| l.to_string())
    .collect();
    compare_traces(&expected, &log.lines(), |want, _| match want {
        Some(w) if w.contains("late woke") => {
            "the flag was set at 0.100, before `late` began to wait at 0.200. \
             Nobody was waiting then, so what did `set` leave behind for a later waiter?"
                .into()
        }
        _ => "a waiter that is already waiting must still wake when the flag is set".into(),
    })
}
