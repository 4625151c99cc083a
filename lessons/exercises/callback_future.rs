//! # callback_future: a callback API as something a task can wait on (after lesson 07)
//!
//! Many libraries report back through a callback: "call this when the page
//! has arrived". `fetch_with_callback` below is one (it pretends to download
//! for 0.2 s, and fails for URLs containing `missing`). A task cannot wait
//! on a callback, but it can wait on a `Future`: write `fetch(url)`, which
//! starts the download and suspends the calling task until the callback has
//! run, then returns what the callback was given.
//!
//! This is asyncio's `loop.create_future()` + `fut.set_result(...)` from a
//! callback, the bridge every callback library needs.
//!
//! Check it: `cargo run --bin workshop -- check callback_future`.

// I AM NOT DONE

use std::time::Duration;

#[allow(unused_imports)] // yours to use
use yieldloop::{Future, Handle};

/// A callback API, given: after 0.2 s calls `done` with the page or an error.
pub fn fetch_with_callback(url: &str, done: impl FnOnce(Result<String, String>) + 'static) {
    let outcome = if url.contains("missing") {
        Err(format!("404 for {url}"))
    } else {
        Ok(format!("the page at {url}"))
    };
    match Handle::current() {
        Ok(handle) => {
            handle.call_later(Duration::from_millis(200), move || done(outcome));
        }
        Err(error) => done(Err(error.to_string())),
    }
}

/// Fetches `url` through `fetch_with_callback`, suspending the calling task
/// until its callback has run.
pub fn fetch(url: &str) -> Result<String, String> {
    let _ = url;
    todo!("a Future<String>, completed by the callback, waited on here")
}
