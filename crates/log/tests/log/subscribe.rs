use std::time::Duration;

use stocktake_log::{ExpectedVersion, LogError};
use uuid::Uuid;

use crate::support::{open, request_n, runtime};

/// Generous: only reached if the subscription hangs.
const HANG: Duration = Duration::from_secs(60);

#[test]
fn a_subscription_catches_up_then_follows_live_appends_without_gaps_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    for _ in 0..5 {
        log.append_blocking(request_n(Uuid::new_v4(), ExpectedVersion::Any, 1))
            .unwrap();
    }
    runtime().block_on(async {
        let mut from_start = log.subscribe(0);
        let mut from_two = log.subscribe_as_stored(2);
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let log = log.clone();
                tokio::spawn(async move {
                    for _ in 0..25 {
                        log.append(request_n(Uuid::new_v4(), ExpectedVersion::Any, 2))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();

        for (sub, first) in [(&mut from_start, 1), (&mut from_two, 3)] {
            let mut expected = first;
            while expected <= 205 {
                let event = tokio::time::timeout(HANG, sub.next())
                    .await
                    .expect("subscription hung")
                    .unwrap();
                assert_eq!(event.seq, expected);
                expected += 1;
            }
            assert_eq!(sub.position(), 205);
        }
        for w in writers {
            w.await.unwrap();
        }
    });
}

#[test]
fn a_subscription_ends_with_closed_after_the_last_event_once_the_log_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append_blocking(request_n(Uuid::new_v4(), ExpectedVersion::Any, 2))
        .unwrap();
    let mut sub = log.subscribe(0);
    drop(log);
    runtime().block_on(async {
        assert_eq!(sub.next().await.unwrap().seq, 1);
        assert_eq!(sub.next().await.unwrap().seq, 2);
        assert!(matches!(
            tokio::time::timeout(HANG, sub.next()).await.unwrap(),
            Err(LogError::Closed)
        ));
    });
}

#[test]
fn a_waiting_subscription_survives_being_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    runtime().block_on(async {
        let mut sub = log.subscribe(0);
        // Nothing there yet: the select takes the ready branch and drops
        // the pending `next` future.
        tokio::select! {
            biased;
            _ = std::future::ready(()) => {}
            _ = sub.next() => panic!("no event was appended yet"),
        }
        log.append(request_n(Uuid::new_v4(), ExpectedVersion::Any, 1))
            .await
            .unwrap();
        assert_eq!(
            tokio::time::timeout(HANG, sub.next())
                .await
                .unwrap()
                .unwrap()
                .seq,
            1
        );
    });
}

#[test]
fn a_head_watch_wakes_on_each_new_head_and_ends_with_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append_blocking(request_n(Uuid::new_v4(), ExpectedVersion::Any, 2))
        .unwrap();
    let mut watch = log.watch_head();
    runtime().block_on(async {
        // The head when the watch was made counts as seen.
        tokio::select! {
            biased;
            _ = watch.changed() => panic!("nothing was appended since the watch was made"),
            _ = std::future::ready(()) => {}
        }
        log.append(request_n(Uuid::new_v4(), ExpectedVersion::Any, 3))
            .await
            .unwrap();
        assert_eq!(
            tokio::time::timeout(HANG, watch.changed())
                .await
                .unwrap()
                .unwrap(),
            5
        );
        drop(log);
        assert!(matches!(
            tokio::time::timeout(HANG, watch.changed()).await.unwrap(),
            Err(LogError::Closed)
        ));
    });
}
