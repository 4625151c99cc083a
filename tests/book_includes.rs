//! The book shows code by including it from the sources. mdBook renders an
//! include whose file or anchor is missing as an empty block, quietly; this
//! test makes it loud: every `{{#include path:anchor}}` in `docs/src` must
//! name a file that exists and an anchor it defines, with code between.

use std::fs;
use std::path::{Path, PathBuf};

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
        for piece in text.split("{{#include ").skip(1) {
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
