#!/usr/bin/env python3
"""An mdBook preprocessor that fails the build on a broken include.

mdBook renders `{{#include path:anchor}}` with a missing file or anchor as an
empty block and only logs an error, so `mdbook build` would pass with holes in
the book. This runs before mdBook's own `links` preprocessor (book.toml) and
checks every include in every chapter: the file exists, the anchor has both
`ANCHOR:` and `ANCHOR_END:` lines, and no include uses line numbers (they
drift; use an anchor). Any problem: a message per include, and exit status 1,
which makes mdBook stop. Otherwise the book goes back to mdBook unchanged.

tests/book_includes.rs checks the same from `cargo test`.
"""
import json
import pathlib
import re
import sys

INCLUDE = re.compile(r"(?<!\\)\{\{#(?:include|rustdoc_include)\s+([^}]+?)\s*\}\}")


def problems(src: pathlib.Path):
    for chapter in sorted(src.rglob("*.md")):
        text = chapter.read_text(encoding="utf-8")
        for match in INCLUDE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            where = f"{chapter}:{line}: {{{{#include {match.group(1)}}}}}"
            path, _, anchor = match.group(1).partition(":")
            target = chapter.parent / path
            if not target.is_file():
                yield f"{where}: no such file {target}"
                continue
            if not anchor:
                continue
            if anchor[0].isdigit():
                yield f"{where}: line numbers drift; mark the lines with an ANCHOR instead"
                continue
            source = target.read_text(encoding="utf-8")
            for marker in (f"ANCHOR: {anchor}", f"ANCHOR_END: {anchor}"):
                if not re.search(re.escape(marker) + r"\s*$", source, re.MULTILINE):
                    yield f"{where}: {path} has no `{marker}` line"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "supports":
        return 0  # every renderer
    context, book = json.load(sys.stdin)
    src = pathlib.Path(context["root"]) / context["config"]["book"].get("src", "src")
    found = list(problems(src))
    for problem in found:
        print(f"broken include: {problem}", file=sys.stderr)
    if found:
        return 1
    json.dump(book, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
