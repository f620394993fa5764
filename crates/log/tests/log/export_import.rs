use std::path::Path;

use stocktake_log::{ExpectedVersion, ImportError, Log};
use uuid::Uuid;

use crate::support::{open, request_n};

fn history(log: &Log) {
    let streams: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    for i in 0..20 {
        log.append_blocking(request_n(streams[i % 5], ExpectedVersion::Any, 1 + i % 3))
            .unwrap();
    }
}

fn export_lines(log: &Log) -> Vec<String> {
    let mut out = Vec::new();
    log.export(&mut out, &mut |_| {}).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn import_lines(dir: &Path, lines: &[String]) -> Result<stocktake_log::Head, ImportError> {
    let log = open(dir);
    let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    log.import(&mut text.as_bytes(), &mut |_| {})
}

fn assert_empty(dir: &Path) {
    let log = open(dir);
    assert_eq!(log.head().last_seq, 0);
    assert!(log.read_all(0, 10).unwrap().is_empty());
    drop(log);
    let db = crate::support::open_sled(dir);
    let keys: Vec<Vec<u8>> = db.iter().keys().map(|k| k.unwrap().to_vec()).collect();
    assert_eq!(
        keys,
        [b"Mformat".to_vec()],
        "only the format marker may remain"
    );
}

#[test]
fn export_then_import_gives_the_identical_log() {
    let source_dir = tempfile::tempdir().unwrap();
    let source = open(source_dir.path());
    history(&source);
    let mut file = Vec::new();
    let mut exported = Vec::new();
    let head = source
        .export(&mut file, &mut |seq| exported.push(seq))
        .unwrap();
    assert_eq!(head, source.head());
    assert_eq!(exported, (1..=head.last_seq).collect::<Vec<_>>());

    let target_dir = tempfile::tempdir().unwrap();
    let target = open(target_dir.path());
    let mut imported = 0;
    let imported_head = target
        .import(&mut file.as_slice(), &mut |seq| imported = seq)
        .unwrap();
    assert_eq!(imported_head, head);
    assert_eq!(target.head(), head);
    assert_eq!(imported, head.last_seq);
    assert!(target.verify(&mut |_| {}).unwrap().ok);
    assert_eq!(export_lines(&target), export_lines(&source));

    // Indexes are rebuilt: streams, versions, and command ids.
    let first = source.read_all_as_stored(0, 1).unwrap().remove(0);
    assert_eq!(
        target.stream_version(first.stream_id).unwrap(),
        source.stream_version(first.stream_id).unwrap()
    );
    assert_eq!(
        target.read_stream(first.stream_id, 1).unwrap().len(),
        source.read_stream(first.stream_id, 1).unwrap().len()
    );
    assert_eq!(
        target.command(first.command_id).unwrap(),
        source.command(first.command_id).unwrap()
    );

    // And the imported log carries on.
    drop(target);
    let target = open(target_dir.path());
    assert_eq!(target.head(), head);
    let next = target
        .append_blocking(request_n(first.stream_id, ExpectedVersion::Any, 1))
        .unwrap();
    assert_eq!(next.events[0].seq, head.last_seq + 1);
    assert!(target.verify(&mut |_| {}).unwrap().ok);
}

#[test]
fn importing_into_a_log_with_events_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    history(&log);
    let mut file = Vec::new();
    log.export(&mut file, &mut |_| {}).unwrap();
    let head = log.head();
    assert!(matches!(
        log.import(&mut file.as_slice(), &mut |_| {}),
        Err(ImportError::NotEmpty { .. })
    ));
    assert_eq!(log.head(), head);
}

fn exported() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    history(&log);
    export_lines(&log)
}

fn refused_at(dir: &Path, lines: &[String]) -> u64 {
    match import_lines(dir, lines) {
        Err(ImportError::Line { line, .. }) => line,
        other => panic!("expected a refused line, got {other:?}"),
    }
}

#[test]
fn an_export_with_a_changed_byte_is_refused_at_that_line_and_nothing_is_kept() {
    let lines = exported();
    assert!(lines.len() > 30);
    let line = &lines[24];
    // In the payload, the actor, a timestamp, the hash, and a field name.
    let targets = [
        line.find("step").unwrap(),
        line.find("director").unwrap() + 2,
        line.find("recorded_at").unwrap() + 16,
        line.rfind("\"hash\"").unwrap() + 10,
        line.find("schema_version").unwrap() + 1,
        line.len() - 1,
    ];
    for pos in targets {
        let mut damaged = lines.clone();
        let mut bytes = damaged[24].clone().into_bytes();
        bytes[pos] = if bytes[pos] == b'1' { b'2' } else { b'1' };
        damaged[24] = String::from_utf8(bytes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            refused_at(dir.path(), &damaged),
            25,
            "byte {pos} of {}",
            lines[24]
        );
        assert_empty(dir.path());
    }
}

#[test]
fn an_export_with_a_removed_line_is_refused_at_the_gap() {
    let mut lines = exported();
    lines.remove(9);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(refused_at(dir.path(), &lines), 10);
    assert_empty(dir.path());
}

#[test]
fn an_export_with_swapped_lines_is_refused_at_the_first() {
    let mut lines = exported();
    lines.swap(4, 30);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(refused_at(dir.path(), &lines), 5);
    assert_empty(dir.path());
}

#[test]
fn an_export_whose_lines_are_reformatted_is_refused() {
    let mut lines = exported();
    lines[2] = lines[2].replace("\",\"", "\", \"");
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(refused_at(dir.path(), &lines), 3);
    assert_empty(dir.path());
}

#[test]
fn after_a_refused_import_the_log_takes_appends_and_a_good_import() {
    let lines = exported();
    let dir = tempfile::tempdir().unwrap();
    let mut broken = lines.clone();
    broken.truncate(35);
    broken.push("not json".to_owned());
    assert_eq!(refused_at(dir.path(), &broken), 36);
    let head = import_lines(dir.path(), &lines).unwrap();
    assert_eq!(head.last_seq, lines.len() as u64);
    let log = open(dir.path());
    assert!(log.verify(&mut |_| {}).unwrap().ok);
}

#[test]
fn an_import_interrupted_by_a_crash_is_discarded_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let lines = exported();
    import_lines(dir.path(), &lines).unwrap();
    // What a crash between two import chunks leaves: events and the marker.
    {
        let db = crate::support::open_sled(dir.path());
        db.insert(b"Mimporting", &b"1"[..]).unwrap();
        db.flush().unwrap();
    }
    assert_empty(dir.path());
}
