//! Reference solution to the `bounded_fetch` exercise.

use std::rc::Rc;

use yieldloop::{spawn, Semaphore, SuspendError};

/// One download: the number of bytes it brought (it suspends the task).
pub type Fetch = Rc<dyn Fn(&str) -> Result<usize, SuspendError>>;

/// Fetches every URL, at most `limit` at once: (url, bytes) for each.
pub fn fetch_all(
    urls: Vec<String>,
    limit: usize,
    fetch: Fetch,
) -> Result<Vec<(String, usize)>, Box<dyn std::error::Error>> {
    let permits = Semaphore::new(limit);
    let mut tasks = Vec::new();
    for url in urls {
        // Taken before spawning: never more than `limit` tasks alive.
        let permit = permits.acquire()?;
        let fetch = fetch.clone();
        tasks.push(spawn("fetch", move || {
            let bytes = fetch(&url);
            drop(permit); // the next URL may start
            bytes.map(|bytes| (url, bytes))
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        match task.join() {
            Ok(result) => results.push(result?),
            Err(error) => panic!("a fetch task failed: {error}"),
        }
    }
    Ok(results)
}
