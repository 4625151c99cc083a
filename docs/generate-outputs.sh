#!/usr/bin/env sh
# Regenerates docs/src/generated/*.txt, the lessons' printed output that the
# book's chapters include, by running each lesson. The list of lessons and
# their flags is OUTPUTS in tests/book_outputs.rs (and STEPPED: runs with --step); plain `cargo test` fails
# when a file is out of date. Review the diff before committing it.
set -eu
cd "$(dirname "$0")/.."
UPDATE_BOOK_OUTPUTS=1 cargo test --quiet --test book_outputs the_book_shows_what
# The timeline pictures, too (docs/generate-timelines.sh).
UPDATE_BOOK_OUTPUTS=1 cargo test --quiet --test book_timelines
git status --short docs/src/generated
