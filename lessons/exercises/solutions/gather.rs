//! Reference solution to the `gather` exercise.
//!
//! Joining one after the other takes only as long as the slowest task: they
//! all run meanwhile, and by the time the slow one is joined the others
//! have long finished, so their joins return at once.

use yieldloop::{JoinHandle, TaskError};

/// Waits for every task; their results in the handles' order.
pub fn gather_by_hand<T: 'static>(handles: Vec<JoinHandle<T>>) -> Result<Vec<T>, TaskError> {
    handles.into_iter().map(JoinHandle::join).collect()
}
