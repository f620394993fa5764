//! The `stocktake` binary end to end: its subcommands on temporary data directories.

use std::path::{Path, PathBuf};

use serde_json::Value;
use stocktake_tests::{stderr, stdout, stocktake, Server};

fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    (temp, dir)
}

fn path(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

fn demo(dir: &Path) {
    let output = stocktake(&["demo", "--data-dir", path(dir)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Loaded the demo journey"));
}

fn plan_json(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "--data-dir", path(dir), "--json"];
    args.extend_from_slice(extra);
    let output = stocktake(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn active_areas(plan: &Value) -> Vec<String> {
    plan["areas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["retired"] == false)
        .map(|a| a["title"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_demo_plan_can_be_read_as_of_any_day() {
    let (_temp, dir) = data_dir();
    demo(&dir);
    let before_the_refresh = plan_json(&dir, &["--as-of", "2018-07-10"]);
    assert_eq!(before_the_refresh["revision"], 1);
    assert_eq!(before_the_refresh["agreed_on"], "2017-11-20");
    let after_the_refresh = plan_json(&dir, &["--as-of", "2018-10-31"]);
    assert_eq!(after_the_refresh["revision"], 2);
    let areas = active_areas(&after_the_refresh);
    assert_eq!(areas.len(), 6, "{areas:?}");
    assert!(areas
        .iter()
        .any(|a| a.contains("Recruitment and retention of staff")));
    assert_ne!(before_the_refresh["counts"], after_the_refresh["counts"]);

    let table = stocktake(&["plan", "--data-dir", path(&dir), "--as-of", "2018-07-10"]);
    let text = stdout(&table);
    assert!(text.contains("as of 2018-07-10"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when stdout is not a terminal"
    );
}

#[test]
fn the_audit_trail_of_an_action_is_printed() {
    let (_temp, dir) = data_dir();
    demo(&dir);
    let plan = plan_json(&dir, &[]);
    let action = plan["areas"][0]["actions"][0]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let output = stocktake(&["history", "--data-dir", path(&dir), &action, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let history: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(history["entries"][0]["type"], "ActionAdded");
}

#[test]
fn a_board_report_comes_in_three_formats() {
    let (temp, dir) = data_dir();
    demo(&dir);
    let report = |format: &str| {
        let out = temp.path().join(format!("report.{format}"));
        let output = stocktake(&[
            "report",
            "--data-dir",
            path(&dir),
            "--as-of",
            "2018-09-30",
            "--since",
            "2018-07-24",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::read_to_string(out).unwrap()
    };
    let markdown = report("md");
    for heading in [
        "Summary",
        "Changes since",
        "Drift and delay",
        "Measures",
        "Monitoring visits",
    ] {
        assert!(
            markdown.contains(heading),
            "the markdown report has no {heading} section"
        );
    }
    let html = report("html");
    assert!(html.contains("<svg"), "KPI trends are drawn");
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http"));
    let csv = report("csv");
    assert!(csv.lines().count() > 10);
}

#[test]
fn an_export_imports_into_a_fresh_directory_with_the_same_head_hash() {
    let (temp, dir) = data_dir();
    demo(&dir);
    let file = temp.path().join("backup.jsonl");
    let export = stocktake(&[
        "export",
        "--data-dir",
        path(&dir),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let fresh = temp.path().join("restored");
    let import = stocktake(&["import", "--data-dir", path(&fresh), file.to_str().unwrap()]);
    assert!(import.status.success(), "{}", stderr(&import));
    let head_of = |dir: &Path| {
        let verify = stocktake(&["verify", "--data-dir", path(dir)]);
        assert!(verify.status.success(), "{}", stderr(&verify));
        stdout(&verify)
            .split("head hash ")
            .nth(1)
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(head_of(&dir), head_of(&fresh));

    // A changed line is refused with its number, and nothing is kept.
    let text = std::fs::read_to_string(&file).unwrap();
    let tampered = text.replacen("Cabinet", "Council", 1);
    assert_ne!(tampered, text);
    let bad_file = temp.path().join("tampered.jsonl");
    std::fs::write(&bad_file, tampered).unwrap();
    let empty = temp.path().join("empty");
    let refused = stocktake(&[
        "import",
        "--data-dir",
        path(&empty),
        bad_file.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(5), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("line "), "{}", stderr(&refused));
    let events = stocktake(&["verify", "--data-dir", path(&empty)]);
    assert!(
        stdout(&events).contains("ok: 0 events"),
        "{}",
        stdout(&events)
    );
}

#[test]
fn a_spreadsheet_becomes_a_plan_or_nothing() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/cli/tests/data");
    let (_temp, dir) = data_dir();
    let bad = stocktake(&[
        "import-plan",
        "--data-dir",
        path(&dir),
        data.join("plan-bad-row.csv").to_str().unwrap(),
        "--plan-title",
        "Improvement plan",
        "--organisation",
        "A council",
    ]);
    assert_eq!(bad.status.code(), Some(5), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("row 9"), "{}", stderr(&bad));
    let nothing = stocktake(&["verify", "--data-dir", path(&dir)]);
    assert!(
        stdout(&nothing).contains("ok: 0 events"),
        "the bad import kept something: {}",
        stdout(&nothing)
    );

    let good = stocktake(&[
        "import-plan",
        "--data-dir",
        path(&dir),
        data.join("plan-good.csv").to_str().unwrap(),
        "--plan-title",
        "Improvement plan",
        "--organisation",
        "A council",
    ]);
    assert!(good.status.success(), "{}", stderr(&good));
    let plan = plan_json(&dir, &[]);
    assert_eq!(plan["title"], "Improvement plan");
    assert_eq!(active_areas(&plan).len(), 6);
    assert_eq!(plan["counts"]["actions"], 15);
}

#[test]
fn verify_finds_a_changed_byte_in_the_store() {
    let (_temp, dir) = data_dir();
    demo(&dir);
    assert!(stocktake(&["verify", "--data-dir", path(&dir)])
        .status
        .success());
    // Change one byte of a stored payload behind the log's back, as someone with access to
    // the disk might: the agreeing body "Cabinet" becomes "Cabinat".
    let mut changed = 0;
    for entry in walk(&dir.join("sled")) {
        let mut bytes = std::fs::read(&entry).unwrap();
        let needle = b"\"agreed_by\":\"Cabinet\"";
        // sled may hold several copies of the page; change every one.
        while let Some(at) = find(&bytes, needle) {
            bytes[at + needle.len() - 3] = b'a';
            changed += 1;
        }
        if changed > 0 {
            std::fs::write(&entry, bytes).unwrap();
        }
    }
    assert!(
        changed > 0,
        "the payload was not found in the store's files"
    );
    let verify = stocktake(&["verify", "--data-dir", path(&dir)]);
    assert_eq!(
        verify.status.code(),
        Some(4),
        "stdout {} stderr {}",
        stdout(&verify),
        stderr(&verify)
    );
    assert!(stderr(&verify).contains("seq"), "{}", stderr(&verify));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_data_directory_held_by_a_server_is_refused_with_the_api_call_instead() {
    let server = Server::start();
    let output = stocktake(&["plan", "--data-dir", path(&server.data_dir)]);
    assert_eq!(output.status.code(), Some(3));
    let message = stderr(&output);
    assert!(
        message.contains("a Stocktake server is running"),
        "{message}"
    );
    assert!(message.contains("GET /api/v1/plans"), "{message}");
}
