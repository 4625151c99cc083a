//! `run` against a model (see `tests/common/model.rs`): random coroutines
//! with random sleeps, on the virtual clock, must be resumed in wake-up order
//! and at exactly the right times.

mod common;

use proptest::prelude::*;

proptest! {
    #[test]
    fn resumes_follow_the_wake_up_order(all_sleeps in common::model::sleeps()) {
        common::model::check(yieldloop::generators::run::run, &all_sleeps)?;
    }
}
