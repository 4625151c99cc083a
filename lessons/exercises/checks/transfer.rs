//! Check for the `transfer` exercise: two transfers of 80 from 100 at once.

use std::cell::Cell;
use std::error::Error;
use std::rc::Rc;

use yieldloop::{spawn, Lock};

use super::report::{guarded, task_failed, virtual_loop, wrong, Outcome};

type Transfer = fn(i64, &Cell<i64>, &Cell<i64>, &Lock) -> Result<bool, Box<dyn Error>>;

pub fn check(transfer: Transfer) -> Outcome {
    let mut event_loop = virtual_loop()?;
    let (answers, alice, bob) = guarded("your transfer()", || {
        event_loop.run_until_complete(move || {
            let alice = Rc::new(Cell::new(100));
            let bob = Rc::new(Cell::new(0));
            let lock = Rc::new(Lock::new());
            let tasks: Vec<_> = ["first", "second"]
                .into_iter()
                .map(|name| {
                    let (alice, bob, lock) = (alice.clone(), bob.clone(), lock.clone());
                    spawn(name, move || {
                        transfer(80, &alice, &bob, &lock).map_err(|e| e.to_string())
                    })
                })
                .collect();
            let answers: Vec<_> = tasks
                .into_iter()
                .map(|task| task.join().map_err(|e| e.to_string()).and_then(|a| a))
                .collect();
            (answers, alice.get(), bob.get())
        })
    })?
    .map_err(task_failed)?;
    let answers: Vec<bool> = answers
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|error| wrong(format!("a transfer failed: {error}")))?;
    match (&answers[..], alice, bob) {
        ([true, false], 20, 80) => Ok(()),
        ([true, true], ..) => Err(wrong(format!(
            "both transfers of 80 went through, from an account of 100: alice ends at \
             {alice}, bob at {bob}. Both passed the balance check before either withdrew: \
             hold the lock from the check to the withdrawal."
        ))),
        (other, ..) => Err(wrong(format!(
            "expected the first transfer to succeed and the second to be refused \
             (alice 20, bob 80); got {other:?}, alice {alice}, bob {bob}"
        ))),
    }
}
