//! # bounded_fetch: at most `limit` requests in flight (the fetcher, part 1; after lesson 09)
//!
//! The seminar's homework: `fetcher -c 10 urls.txt` downloads every URL,
//! never more than 10 at once. Write its heart: call `fetch(url)` for every
//! URL, each in a task of its own, with at most `limit` calls running at
//! the same time, and return each URL with what its fetch returned (in any
//! order). A `yieldloop::Semaphore` is the tool (lesson 09).
//!
//! The check runs your code on the virtual clock with fetches of one second
//! each, and counts how many are in flight at once: exactly `limit`, never
//! more, never fewer while there is work waiting.
//!
//! Check it: `cargo run --bin workshop -- check bounded_fetch`.

// I AM NOT DONE

use std::rc::Rc;

#[allow(unused_imports)] // yours to use
use yieldloop::{spawn, Semaphore, SuspendError};

/// One download: the number of bytes it brought (it suspends the task).
pub type Fetch = Rc<dyn Fn(&str) -> Result<usize, SuspendError>>;

/// Fetches every URL, at most `limit` at once: (url, bytes) for each.
pub fn fetch_all(
    urls: Vec<String>,
    limit: usize,
    fetch: Fetch,
) -> Result<Vec<(String, usize)>, Box<dyn std::error::Error>> {
    let _ = (urls, limit, fetch);
    todo!("a Semaphore of `limit` permits, a task per URL that holds one while it fetches")
}
