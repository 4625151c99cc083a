//! Reference solution to the `transfer` exercise.

use std::cell::Cell;
use std::error::Error;

use yieldloop::{yield_now, Lock};

/// Moves `amount` from `payer` to `payee` if the payer has enough:
/// `Ok(true)` if it moved, `Ok(false)` if refused.
pub fn transfer(
    amount: i64,
    payer: &Cell<i64>,
    payee: &Cell<i64>,
    lock: &Lock,
) -> Result<bool, Box<dyn Error>> {
    // Held from the check to the withdrawal: a second transfer waits here,
    // and then sees the balance the first one left.
    let _held = lock.acquire()?;
    if payer.get() < amount {
        return Ok(false);
    }
    yield_now()?; // writing the log: other tasks run here, but not transfers
    payer.set(payer.get() - amount);
    payee.set(payee.get() + amount);
    Ok(true)
}
