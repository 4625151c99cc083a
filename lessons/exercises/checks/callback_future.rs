//! Check for the `callback_future` exercise: pages, an error, and timing.

use std::time::Duration;

use yieldloop::spawn;

use super::report::{compare_traces, guarded, line, virtual_loop, Log, Outcome};

/// Two fetches at once (one fails), each noted with the time it returned.
pub fn check(fetch: fn(&str) -> Result<String, String>) -> Outcome {
    let mut event_loop = virtual_loop()?;
    let log = Log::default();
    let fetcher = |url: &'static str| {
        let log = log.clone();
        move || match fetch(url) {
            Ok(page) => log.now(&format!("got {page}")),
            Err(error) => log.now(&format!("error {error}")),
        }
    };
    let (first, second) = (fetcher("http://a/"), fetcher("http://a/missing"));
    guarded("your fetch()", || {
        event_loop.run_until_complete(move || {
            let one = spawn("one", first);
            let two = spawn("two", second);
            one.join().and(two.join())
        })
    })?
    .and_then(|joined| joined)
    .map_err(super::report::task_failed)?;
    let at = Duration::from_millis(200);
    let expected = vec![
        line(at, "got the page at http://a/"),
        line(at, "error 404 for http://a/missing"),
    ];
    compare_traces(&expected, &log.lines(), |want, got| {
        match (want, got) {
        (Some(_), None) => "a fetch never returned: does the callback complete the future the task waits on?".into(),
        (Some(w), Some(g)) if w[..5] != g[..5] => {
            "fetch returned at the wrong time: it should suspend until the callback runs, 0.2 s later".into()
        }
        _ => "fetch should return exactly what the callback was given: Ok(page) or Err(error)".into(),
    }
    })
}
