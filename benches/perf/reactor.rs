//! The yieldloop side of the measurements: the same work as the baselines in
//! `micro.rs` and `sleepers.rs`, on yieldloop's reactor.

use std::time::Duration;

use crate::sleepers::SleepersResult;

const NOT_YET: &str = "the reactor API (yieldloop::spawn / yield_now / sleep) is not merged yet";

/// Two tasks each calling `yield_now` `n / 2` times: `n` switches.
pub fn switches(_n: u64) -> Result<Duration, String> {
    Err(NOT_YET.into())
}

/// `n` times: spawn an empty task and join it.
pub fn spawn_joins(_n: u64) -> Result<Duration, String> {
    Err(NOT_YET.into())
}

/// `tasks` tasks each sleeping one second, all joined.
pub fn sleepers(_tasks: u64) -> Result<SleepersResult, String> {
    Err(NOT_YET.into())
}
