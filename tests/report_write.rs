//! Writing reports: `--format` parsing, the file names, and atomic replacement (a reader never
//! sees a half-written file; no temp file is left behind, also when the write fails).

mod common;

use std::path::Path;

use kgents_gate::report::write::{UnknownFormat, write_atomic};
use kgents_gate::report::{Format, parse_json, render_json, write_reports};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn parses_format_lists() {
    assert_eq!(
        Format::parse_list("terminal,markdown,json,junit").unwrap(),
        vec![Format::Terminal, Format::Markdown, Format::Json, Format::Junit]
    );
    assert_eq!(Format::parse_list(" json , junit,json").unwrap(), vec![Format::Json, Format::Junit]);
    let err = Format::parse_list("json,html").unwrap_err();
    assert_eq!(err, UnknownFormat("html".into()));
    assert_eq!(
        err.to_string(),
        "unknown report format `html`; expected a comma-separated list of: terminal, markdown, json, junit"
    );
    assert!(Format::parse_list("").is_err(), "an empty list names no format");
}

#[test]
fn writes_each_file_format_into_a_new_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports/ci");
    let report = common::sample();
    let all = [Format::Terminal, Format::Markdown, Format::Json, Format::Junit];
    let written = write_reports(&report, &all, &out).unwrap();
    assert_eq!(
        written,
        vec![
            out.join("kgents-gate-report.md"),
            out.join("kgents-gate-report.json"),
            out.join("kgents-gate-report.xml")
        ]
    );
    assert_eq!(names(&out), vec!["kgents-gate-report.json", "kgents-gate-report.md", "kgents-gate-report.xml"]);
    let json = std::fs::read_to_string(out.join("kgents-gate-report.json")).unwrap();
    assert_eq!(parse_json(&json).unwrap(), report);
    assert!(std::fs::read_to_string(out.join("kgents-gate-report.xml")).unwrap().starts_with("<?xml"));
    // Only what was asked for.
    let only = tmp.path().join("only-json");
    assert_eq!(write_reports(&report, &[Format::Json], &only).unwrap().len(), 1);
    assert_eq!(names(&only), vec!["kgents-gate-report.json"]);
}

#[test]
fn replacing_is_atomic_for_a_concurrent_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kgents-gate-report.json");
    // Two large, different complete versions: a reader must only ever see one or the other.
    let mut a = common::sample();
    let mut b = common::sample();
    for i in 0..400 {
        let mut item = a.items[1].clone();
        item.id = format!("bulk.item-{i}");
        a.items.push(item.clone());
        item.message = "x".repeat(200);
        b.items.push(item);
    }
    let (ja, jb) = (render_json(&a), render_json(&b));
    write_atomic(&path, ja.as_bytes()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop, ja, jb) = (path.clone(), stop.clone(), ja.clone(), jb.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let seen = std::fs::read_to_string(&path).unwrap();
                assert!(seen == ja || seen == jb, "a reader saw a partial file of {} bytes", seen.len());
                reads += 1;
            }
            reads
        })
    };
    for n in 0..60 {
        write_atomic(&path, if n % 2 == 0 { jb.as_bytes() } else { ja.as_bytes() }).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    assert_eq!(names(tmp.path()), vec!["kgents-gate-report.json"], "no temp file left behind");
}

#[test]
fn failed_write_leaves_no_temp_file_and_no_partial_report() {
    let tmp = tempfile::tempdir().unwrap();
    // A directory where the JUnit file should go makes the final rename fail.
    std::fs::create_dir(tmp.path().join("kgents-gate-report.xml")).unwrap();
    std::fs::write(tmp.path().join("kgents-gate-report.xml/keep"), "x").unwrap();
    let err = write_reports(&common::sample(), &[Format::Junit], tmp.path()).unwrap_err();
    assert!(err.to_string().contains("kgents-gate-report.xml"), "{err}");
    assert_eq!(names(tmp.path()), vec!["kgents-gate-report.xml"], "the temp file was removed");
    assert!(tmp.path().join("kgents-gate-report.xml").is_dir());
}

#[cfg(unix)]
#[test]
fn unwritable_directory_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    assert!(write_reports(&common::sample(), &[Format::Markdown], &file.join("sub")).is_err());
}
