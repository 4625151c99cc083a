//! Check for the `forgotten_cancel` exercise: no heartbeat after the download.

use std::rc::Rc;

use yieldloop::{secs, sleep, SuspendError};

use super::report::{compare_traces, guarded, task_failed, virtual_loop, wrong, Log, Outcome};

type Download = fn(Rc<dyn Fn(&str)>) -> Result<String, SuspendError>;

/// Downloads, then lets the loop run one more second and watches.
pub fn check(download: Download) -> Outcome {
    let mut event_loop = virtual_loop()?;
    let log = Log::default();
    let say: Rc<dyn Fn(&str)> = {
        let log = log.clone();
        Rc::new(move |what: &str| log.now(what))
    };
    let page = guarded("your download()", || {
        event_loop.run_until_complete(move || {
            let page = download(say);
            let _ = sleep(secs(1.0)); // the caller moves on; the loop keeps running
            page
        })
    })?
    .map_err(task_failed)?;
    if page.as_deref() != Ok("the page") {
        return Err(wrong("download() must still return Ok(\"the page\")"));
    }
    let expected: Vec<String> = [
        "0.300 still working",
        "0.600 still working",
        "0.900 still working",
        "1.000 downloaded",
    ]
    .iter()
    .map(|l| l.to_string())
    .collect();
    compare_traces(&expected, &log.lines(), |want, got| match (want, got) {
        (None, Some(_)) => "the heartbeat went on after the download returned: \
                            who stops it? Dropping its JoinHandle does not."
            .into(),
        _ => "the heartbeat should say `still working` every 0.3 s while the download runs".into(),
    })?;
    if event_loop.task_count() != 0 {
        return Err(wrong(format!(
            "{} task(s) still on the loop after download returned and the caller finished",
            event_loop.task_count()
        )));
    }
    Ok(())
}
