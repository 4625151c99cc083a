//! The book shows code by including it from the sources. mdBook renders an
//! include whose file or anchor is missing as an empty block, quietly; this
//! test makes it loud: every `{{#include path:anchor}}` in `docs/src` must
//! name a file that exists and an anchor it defines, with code between.

use std::fs;
use std::path::{Path, PathBuf};

use yieldloop::course::ladder::LESSONS;

/// (chapter, included path relative to the chapter, anchor if any)
fn includes() -> Vec<(PathBuf, String, Option<String>)> {
    let mut found = Vec::new();
    let dir = Path::new("docs/src");
    for entry in fs::read_dir(dir).expect("docs/src exists") {
        let chapter = entry.expect("readable entry").path();
        if chapter.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = fs::read_to_string(&chapter).expect("chapter is text");
        let mut pieces = text.split("{{#include ");
        let mut escaped = pieces.next().is_some_and(|before| before.ends_with('\\'));
        for piece in pieces {
            // `\{{#include …}}` is mdBook's way to show an include, not do it.
            let skip = escaped;
            escaped = piece.ends_with('\\');
            if skip {
                continue;
            }
            let target = piece.split("}}").next().unwrap_or("").trim();
            let (path, anchor) = match target.split_once(':') {
                Some((path, anchor)) => (path.to_string(), Some(anchor.to_string())),
                None => (target.to_string(), None),
            };
            found.push((chapter.clone(), path, anchor));
        }
    }
    found
}

#[test]
fn every_include_names_a_real_file_and_anchor() {
    let all = includes();
    assert!(!all.is_empty(), "the book includes no code at all?");
    for (chapter, path, anchor) in all {
        let source = chapter.parent().expect("chapter dir").join(&path);
        let text = fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: includes {path}: {e}", chapter.display()));
        let Some(anchor) = anchor else { continue };
        // Line-number ranges (`file.rs:10:20`) would drift; we use anchors only.
        assert!(
            !anchor.starts_with(|c: char| c.is_ascii_digit()),
            "{}: include {path}:{anchor} uses line numbers; use an ANCHOR",
            chapter.display()
        );
        let start = format!("ANCHOR: {anchor}\n");
        let end = format!("ANCHOR_END: {anchor}\n");
        let (Some(from), Some(to)) = (text.find(&start), text.find(&end)) else {
            panic!("{}: {path} has no anchor {anchor:?}", chapter.display());
        };
        let body = &text[from + start.len()..to];
        assert!(
            body.lines().filter(|l| !l.trim().is_empty()).count() > 1,
            "{}: anchor {anchor:?} in {path} is (nearly) empty",
            chapter.display()
        );
    }
}

/// The lines of `text` that are prose: not in a fenced code block, not a
/// heading, table row or quote, with inline code and existing links removed.
fn prose_lines(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut prose = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with(['#', '|', '>']) {
            continue;
        }
        // Drop `code` and [text](target): what is left must not name a lesson.
        let mut kept = String::new();
        let mut rest = line;
        while let Some(at) = rest.find(['`', '[']) {
            kept.push_str(&rest[..at]);
            let (open, after) = rest[at..].split_at(1);
            let close = if open == "`" { "`" } else { ")" };
            match after.find(close) {
                Some(end) => rest = &after[end + 1..],
                None => {
                    rest = after;
                }
            }
        }
        kept.push_str(rest);
        prose.push(kept);
    }
    prose
}

/// Prose that says "lesson 06" or "the performance page" links there, so a
/// reader can follow it (its own chapter excepted).
#[test]
fn every_mention_of_another_lesson_in_prose_is_a_link() {
    for entry in fs::read_dir("docs/src").expect("docs/src exists") {
        let chapter = entry.expect("readable entry").path();
        let name = chapter.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".md") || name == "SUMMARY.md" {
            continue;
        }
        let own = name.strip_prefix("lesson-").map(|rest| &rest[..2]);
        for line in prose_lines(&fs::read_to_string(&chapter).unwrap()) {
            let lower = line.to_lowercase();
            assert!(
                !lower.contains("performance page"),
                "{name}: link \"performance page\" to performance.md: {line}"
            );
            for (at, _) in lower.match_indices("lesson ") {
                let number: String = lower[at + 7..].chars().take(2).collect();
                let has_chapter = LESSONS
                    .iter()
                    .any(|lesson| lesson.chapter.starts_with(&format!("lesson-{number}-")));
                if has_chapter && Some(number.as_str()) != own {
                    panic!("{name}: make \"lesson {number}\" a link to its chapter: {line}");
                }
            }
        }
    }
}

/// The build itself fails on a broken include: `mdbook build` runs
/// `docs/check-includes.py` as a preprocessor (book.toml). Fed a book with
/// a good and a broken include, it must pass the first and stop on the second.
#[test]
fn the_book_build_fails_on_a_broken_include() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let root = std::env::temp_dir().join(format!("yieldloop-book-{}", std::process::id()));
    let src = root.join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("code.rs"),
        "// ANCHOR: here\nfn a() {}\n// ANCHOR_END: here\n",
    )
    .unwrap();
    let check = |chapter: &str| {
        fs::write(src.join("chapter.md"), chapter).unwrap();
        let mut child = Command::new("python3")
            .arg(Path::new("docs/check-includes.py").canonicalize().unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (mdbook build needs it too)");
        let context = format!(
            r#"[{{"root": {:?}, "config": {{"book": {{"src": "src"}}}}}}, {{"items": []}}]"#,
            root.to_str().unwrap()
        );
        child
            .stdin
            .take()
            .unwrap()
            .write_all(context.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let good = check("{{#include code.rs:here}}\n");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&good.stdout), r#"{"items": []}"#);
    for broken in [
        "{{#include code.rs:there}}",
        "{{#include gone.rs:here}}",
        "{{#include code.rs:1:2}}",
    ] {
        let out = check(broken);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{broken} passed");
        assert!(
            err.contains("broken include") && err.contains("chapter.md:1"),
            "{err}"
        );
    }
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn before_you_start_comes_before_the_lessons() {
    let summary = fs::read_to_string("docs/src/SUMMARY.md").unwrap();
    let setup = summary.find("(setup.md)").expect("setup.md in SUMMARY.md");
    let first_lesson = summary
        .find("(lesson-01-")
        .expect("lesson 01 in SUMMARY.md");
    assert!(setup < first_lesson);
    let readme = fs::read_to_string("README.md").unwrap();
    for needed in [
        "## Before you start",
        "WSL",
        "1.85",
        "mdbook",
        "nc",
        "echo-client",
    ] {
        assert!(readme.contains(needed), "README's setup lacks {needed:?}");
    }
}
