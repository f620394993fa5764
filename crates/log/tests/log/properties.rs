//! Property tests: random workloads, checked against what was acknowledged.

use std::collections::BTreeMap;

use proptest::prelude::*;
use stocktake_log::{AppendError, AppendOutcome, ExpectedVersion};
use uuid::Uuid;

use crate::support::{open, request_n, runtime};

fn config() -> ProptestConfig {
    // Every case opens a real store and fsyncs each group; a few dozen
    // cases explore plenty while keeping the suite quick.
    ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// N tasks race to extend one stream, each always expecting the version
    /// it last saw. Every version has exactly one winner, versions and seqs
    /// have no gaps, and the log holds exactly the acknowledged appends.
    #[test]
    fn racing_appenders_get_one_winner_per_version(tasks in 2usize..10, wins_each in 1usize..5, batch in 1usize..4) {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        let stream = Uuid::new_v4();
        let outcomes: Vec<AppendOutcome> = runtime().block_on(async {
            let racers: Vec<_> = (0..tasks).map(|_| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut won = Vec::new();
                    let mut conflicts = 0;
                    while won.len() < wins_each {
                        let seen = log.stream_version(stream).unwrap();
                        match log.append(request_n(stream, ExpectedVersion::Exactly(seen), batch)).await {
                            Ok(outcome) => {
                                assert_eq!(outcome.events[0].stream_version, seen + 1);
                                won.push(outcome);
                            }
                            Err(AppendError::Conflict { expected, current, .. }) => {
                                assert_eq!(expected, seen);
                                assert!(current > seen);
                                conflicts += 1;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    (won, conflicts)
                })
            }).collect();
            let mut all = Vec::new();
            for r in racers {
                all.extend(r.await.unwrap().0);
            }
            all
        });

        let total = (tasks * wins_each * batch) as u64;
        let mut by_version = BTreeMap::new();
        let mut by_seq = BTreeMap::new();
        for o in &outcomes {
            for e in &o.events {
                prop_assert!(by_version.insert(e.stream_version, e.event_id).is_none(), "two winners of version {}", e.stream_version);
                prop_assert!(by_seq.insert(e.seq, e.event_id).is_none());
            }
        }
        prop_assert_eq!(by_version.keys().copied().collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>());
        prop_assert_eq!(by_seq.keys().copied().collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>());
        let stored: Vec<(u64, Uuid)> = log.read_all(0, usize::MAX).unwrap().iter().map(|e| (e.seq, e.event_id)).collect();
        prop_assert_eq!(stored, by_seq.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(log.stream_version(stream).unwrap(), total);
        let report = log.verify(&mut |_| {}).unwrap();
        prop_assert!(report.ok, "{:?}", report);
    }

    /// A random mix of good appends, stale ones, and retries (some after a
    /// restart): the global log equals the acknowledged, non-duplicate
    /// appends in order, and refused ones leave no trace.
    #[test]
    fn the_log_is_exactly_the_acknowledged_appends(ops in proptest::collection::vec((0usize..3, 1usize..4, 0u8..10), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let streams: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let mut log = open(dir.path());
        let mut acknowledged: Vec<(u64, Uuid)> = Vec::new();
        let mut sent = Vec::new();
        for (stream_ix, n, action) in ops {
            let stream = streams[stream_ix];
            let version = log.stream_version(stream).unwrap();
            match action {
                // A stale expected version: refused, nothing written.
                0 | 1 if version > 0 => {
                    let head = log.head();
                    let stale = request_n(stream, ExpectedVersion::Exactly(version - 1), n);
                    let refused = log.append_blocking(stale.clone());
                    let conflict = matches!(refused, Err(AppendError::Conflict { current, .. }) if current == version);
                    prop_assert!(conflict);
                    prop_assert_eq!(log.head(), head);
                    prop_assert_eq!(log.command(stale.command_id).unwrap(), None);
                }
                // Retry an earlier command: same answer, nothing written.
                2 | 3 if !sent.is_empty() => {
                    let (request, original): &(stocktake_log::AppendRequest, AppendOutcome) = &sent[usize::from(action) % sent.len()];
                    let head = log.head();
                    let again = log.append_blocking(request.clone()).unwrap();
                    prop_assert!(again.duplicate);
                    prop_assert_eq!(&again.events, &original.events);
                    prop_assert_eq!(&again.head_hash, &original.head_hash);
                    prop_assert_eq!(log.head(), head);
                }
                // Restart.
                4 => {
                    drop(log);
                    log = open(dir.path());
                }
                _ => {
                    let expected = if action % 2 == 0 { ExpectedVersion::Any } else { ExpectedVersion::Exactly(version) };
                    let request = request_n(stream, expected, n);
                    let outcome = log.append_blocking(request.clone()).unwrap();
                    prop_assert!(!outcome.duplicate);
                    prop_assert_eq!(outcome.head_hash.clone(), log.head().head_hash);
                    acknowledged.extend(outcome.events.iter().map(|e| (e.seq, e.event_id)));
                    sent.push((request, outcome));
                }
            }
        }
        let stored: Vec<(u64, Uuid)> = log.read_all(0, usize::MAX).unwrap().iter().map(|e| (e.seq, e.event_id)).collect();
        prop_assert_eq!(&stored, &acknowledged);
        prop_assert_eq!(stored.iter().map(|s| s.0).collect::<Vec<_>>(), (1..=stored.len() as u64).collect::<Vec<_>>());
        let report = log.verify(&mut |_| {}).unwrap();
        prop_assert!(report.ok, "{:?}", report);
    }

    /// Any history survives export and import with the same head hash.
    #[test]
    fn export_then_import_keeps_the_head_hash(commands in proptest::collection::vec((0usize..4, 1usize..5), 0..30)) {
        let source_dir = tempfile::tempdir().unwrap();
        let source = open(source_dir.path());
        let streams: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        for (s, n) in commands {
            source.append_blocking(request_n(streams[s], ExpectedVersion::Any, n)).unwrap();
        }
        let mut file = Vec::new();
        let head = source.export(&mut file, &mut |_| {}).unwrap();
        let target_dir = tempfile::tempdir().unwrap();
        let target = open(target_dir.path());
        let imported = target.import(&mut file.as_slice(), &mut |_| {}).unwrap();
        prop_assert_eq!(&imported, &head);
        prop_assert_eq!(target.head(), head);
        for s in streams {
            prop_assert_eq!(target.stream_version(s).unwrap(), source.stream_version(s).unwrap());
        }
    }
}
