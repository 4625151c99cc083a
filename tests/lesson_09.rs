//! Lesson 09 runs as a learner runs it, on the virtual clock: its whole
//! trace is pinned, so each part's story (where the race switches tasks,
//! who waits for the lock, when the producer waits, when each job ends) is
//! checked line by line.

mod common;

use common::{expected, run_bin, stdout, trace};

const SYNC: &str = env!("CARGO_BIN_EXE_09-sync");

#[test]
fn lesson_09_prints_each_parts_story_at_exact_times() {
    let out = stdout(&run_bin(SYNC, &["--virtual"]));
    assert_eq!(
        trace(&out),
        expected(&[
            (0, "part 1: two transfers of 80 from alice's 100, no lock"),
            (0, "t1 check: alice has 100, needs 80"),
            (
                0,
                "t1 log: transfer 80 from alice (waits for the log server)"
            ),
            (0, "t2 check: alice has 100, needs 80"),
            (
                0,
                "t2 log: transfer 80 from alice (waits for the log server)"
            ),
            (100, "t1 withdrew 80: alice 20, bob 80"),
            (100, "t2 withdrew 80: alice -60, bob 160"),
            (
                100,
                "balances: alice -60, bob 160, total 100: alice is overdrawn!"
            ),
            (
                100,
                "part 2: the same, holding alice's lock around each transfer"
            ),
            (100, "t1 check: alice has 100, needs 80"),
            (
                100,
                "t1 log: transfer 80 from alice (waits for the log server)"
            ),
            (100, "t2 waits for alice's lock"),
            (200, "t1 withdrew 80: alice 20, bob 80"),
            (200, "t2 check: alice has 20, needs 80"),
            (200, "t2: insufficient funds"),
            (200, "balances: alice 20, bob 80, total 100: they add up"),
            (200, "part 3: a producer and a consumer over a queue of two"),
            (200, "producer put job 1"),
            (200, "producer put job 2"),
            (200, "producer waits: the queue is full (2 jobs)"),
            (200, "consumer got job 1"),
            (200, "producer put job 3"),
            (200, "producer waits: the queue is full (2 jobs)"),
            (500, "consumer finished job 1"),
            (500, "consumer got job 2"),
            (500, "producer put job 4"),
            (500, "producer waits: the queue is full (2 jobs)"),
            (800, "consumer finished job 2"),
            (800, "consumer got job 3"),
            (800, "producer put job 5"),
            (
                800,
                "producer: all put; join waits until every job is finished"
            ),
            (1100, "consumer finished job 3"),
            (1100, "consumer got job 4"),
            (1400, "consumer finished job 4"),
            (1400, "consumer got job 5"),
            (1700, "consumer finished job 5"),
            (
                1700,
                "producer: every job finished; cancelling the idle consumer"
            ),
            (1700, "part 4: five one-second jobs, two at a time"),
            (1700, "job1 start"),
            (1700, "job2 start"),
            (1700, "job3 waits for a slot"),
            (1700, "job4 waits for a slot"),
            (1700, "job5 waits for a slot"),
            (2700, "job1 end, 1.0 s after part 4 began"),
            (2700, "job2 end, 1.0 s after part 4 began"),
            (2700, "job3 start"),
            (2700, "job4 start"),
            (3700, "job3 end, 2.0 s after part 4 began"),
            (3700, "job4 end, 2.0 s after part 4 began"),
            (3700, "job5 start"),
            (4700, "job5 end, 3.0 s after part 4 began"),
        ])
    );
}

#[test]
fn lesson_09_draws_the_bounded_jobs_on_a_timeline() {
    let out = stdout(&run_bin(SYNC, &["--virtual"]));
    let picture: Vec<&str> = out
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("1.7s"))
        .take(6)
        .collect();
    assert_eq!(
        picture,
        [
            "      1.7s      2.7s      3.7s      4.7s",
            "job1  ●─────────●",
            "job2  ●─────────●",
            "job3  ●─────────●─────────●",
            "job4  ●─────────●─────────●",
            "job5  ●───────────────────●─────────●",
        ],
        "{out}"
    );
}

#[test]
fn lesson_09_explains_its_flags() {
    let out = stdout(&run_bin(SYNC, &["--help"]));
    assert!(out.contains("--virtual"), "{out}");
    assert!(out.contains("transfer race"), "{out}");
    for part in ["race", "lock", "queue", "semaphore"] {
        assert!(out.contains(part), "{out}");
    }
}

#[test]
fn lesson_09_runs_one_part_alone_from_time_zero() {
    let out = stdout(&run_bin(SYNC, &["semaphore", "--virtual"]));
    let ends: Vec<(std::time::Duration, String)> = trace(&out)
        .into_iter()
        .filter(|(_, line)| line.contains(" end"))
        .collect();
    assert_eq!(
        ends,
        expected(&[
            (1000, "job1 end, 1.0 s after part 4 began"),
            (1000, "job2 end, 1.0 s after part 4 began"),
            (2000, "job3 end, 2.0 s after part 4 began"),
            (2000, "job4 end, 2.0 s after part 4 began"),
            (3000, "job5 end, 3.0 s after part 4 began"),
        ])
    );
    assert!(!out.contains("part 1"), "{out}");
}
