//! # transfer: break-it, the race between a check and a write (after lesson 09)
//!
//! Lesson 09's bank: `transfer` checks that the payer has enough, writes a
//! log line (a suspension point: other tasks run there), then moves the
//! money. Two transfers of 80 from an account of 100, started at once, both
//! pass the check before either withdraws, and the account ends at -60.
//!
//! The code below has that bug. Fix it with the `lock` it is given (one
//! lock per payer): no other transfer may run between the check and the
//! withdrawal. The check starts two transfers at once and expects one to
//! succeed and the other to be refused.
//!
//! Check it: `cargo run --bin workshop -- check transfer`.

// I AM NOT DONE

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
    let _ = lock; // unused: that is the bug
    if payer.get() < amount {
        return Ok(false);
    }
    yield_now()?; // writing the log: other tasks run here
    payer.set(payer.get() - amount);
    payee.set(payee.get() + amount);
    Ok(true)
}
