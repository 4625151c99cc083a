#!/usr/bin/env sh
# Regenerates docs/src/generated/timeline-*.svg, the task timelines the book
# shows (lesson 01 beside lesson 03, lesson 08's cancel chain, lesson 09's
# semaphore, the fetcher's --sync-writes against executor writes), by running
# each lesson with --timeline-svg. The list is in tests/book_timelines.rs,
# which plain `cargo test` (and so CI) runs to fail when a picture on the
# virtual clock is out of date, or when the fetcher's real-clock pictures no
# longer have the shape the book describes. Look at the pictures before
# committing them.
set -eu
cd "$(dirname "$0")/.."
UPDATE_BOOK_OUTPUTS=1 cargo test --quiet --test book_timelines
git status --short docs/src/generated
