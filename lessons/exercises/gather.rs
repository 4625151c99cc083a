//! # gather: waiting for many tasks, by hand (after lesson 07)
//!
//! `yieldloop::gather` exists; write your own from `JoinHandle`s. You get
//! the handles of tasks that are already running. Return their results in
//! the order of the handles (not the order they finished), or the first
//! error in that order.
//!
//! Think before you write: if you join them one after the other, does the
//! whole wait take the sum of their times, or the longest?
//!
//! Check it: `cargo run --bin workshop -- check gather`.

// I AM NOT DONE

use yieldloop::{JoinHandle, TaskError};

/// Waits for every task; their results in the handles' order.
pub fn gather_by_hand<T: 'static>(handles: Vec<JoinHandle<T>>) -> Result<Vec<T>, TaskError> {
    let _ = handles;
    todo!("join each handle")
}
