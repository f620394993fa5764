//! Resource faults: when the disk refuses a write, commands fail with 503, nothing half-written
//! is visible, reads go on, and once the disk takes writes again the running server reopens its
//! log and serves writes (a restarted one too), verifies, and lands every refused command
//! exactly once when it is retried.
//!
//! The disk is made to refuse writes with `RLIMIT_FSIZE` on the server process (`ulimit -f`,
//! with `SIGXFSZ` ignored, so a write past the limit fails with `EFBIG`): it needs no
//! privileges, so it runs everywhere. A full file system (`ENOSPC` on a small tmpfs) is tried
//! too where this process may mount one (root with `CAP_SYS_ADMIN`); elsewhere that test says
//! so and checks nothing more.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use stocktake_tests::{all_events, assert_problem, Client, Launch, Server};
use uuid::Uuid;

/// The largest file under `dir`, in bytes.
fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let entry = entry.expect("an entry");
        let meta = entry.metadata().expect("metadata");
        largest = largest.max(if meta.is_dir() {
            largest_file(&entry.path())
        } else {
            meta.len()
        });
    }
    largest
}

/// A plan with one area and one action in progress; returns the action.
async fn small_plan(client: &Client) -> String {
    let (plan, area, action) = (
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
        Uuid::now_v7().to_string(),
    );
    for command in [
        json!({"type": "create_plan", "plan_id": plan, "title": "Faults plan", "organisation": "London Borough of Croydon"}),
        json!({"type": "add_priority_area", "plan_id": plan, "area_id": area, "number": 1, "title": "Recruitment", "lead": "Head of Workforce"}),
        json!({"type": "add_action", "action_id": action, "plan_id": plan, "area_id": area, "title": "Recruit", "owner": "Head of Workforce", "due_on": "2030-10-31"}),
        json!({"type": "change_action_status", "action_id": action, "status": "in_progress", "rag": "green"}),
    ] {
        let reply = client.command(&command).await;
        assert_eq!(reply.status, 200, "{command}: {}", reply.text);
    }
    action
}

fn progress(action: &str, key: &str) -> Value {
    // Large notes fill the store quickly; the key makes each one findable.
    json!({"type": "record_progress", "action_id": action, "note": format!("fault {key} {}", "n".repeat(3_800))})
}

/// What the faulty server did.
struct Run {
    acknowledged: HashMap<String, Vec<u64>>,
    refused: Vec<(String, Value)>,
}

/// Sends keyed commands until the disk refuses; checks the refusals and that nothing of them
/// is visible, and that reads go on.
async fn write_until_refused(client: &Client, action: &str, max: usize) -> Run {
    let mut run = Run {
        acknowledged: HashMap::new(),
        refused: Vec::new(),
    };
    for n in 0..max {
        let key = format!("k{n}");
        let body = progress(action, &key);
        let head = client.head().await;
        let reply = client
            .command_with(&body, &[("Idempotency-Key", key.as_str())])
            .await;
        match reply.status {
            200 => {
                let seqs = reply.body["events"]
                    .as_array()
                    .expect("events")
                    .iter()
                    .map(|e| e["seq"].as_u64().expect("seq"))
                    .collect();
                run.acknowledged.insert(key, seqs);
            }
            _ => {
                assert_problem(&reply, 503);
                assert_eq!(client.head().await, head, "a refused write moved the head");
                run.refused.push((key, body));
                break;
            }
        }
    }
    assert!(
        !run.refused.is_empty(),
        "the disk took {max} commands without refusing one"
    );
    // Once the writer has failed, every further write is refused, and nothing shows.
    let head = client.head().await;
    for n in 0..3 {
        let key = format!("after-{n}");
        let body = progress(action, &key);
        let reply = client
            .command_with(&body, &[("Idempotency-Key", key.as_str())])
            .await;
        assert_problem(&reply, 503);
        run.refused.push((key, body));
    }
    assert_eq!(client.head().await, head);
    // Reads of the read models go on.
    let detail = client.get(&format!("/api/v1/actions/{action}")).await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    // Reads of the log itself go on too, unless sled's own background write was the one the
    // disk refused: sled 0.34 then fails any operation that would write, and a read may
    // consolidate a page. Either the acknowledged events, exactly, or a 503; never anything else.
    let page = client.get("/api/v1/events?after=0&limit=1000").await;
    if page.status == 200 {
        let events = page.body["events"].as_array().expect("a page of events");
        assert_eq!(events.len() as u64, head.0.min(1000));
    } else {
        assert_problem(&page, 503);
    }
    run
}

/// After a restart with room to write: the chain verifies, every acknowledged command is there
/// once, every refused one lands exactly once on retry, and new writes work.
async fn check_recovery(client: &Client, action: &str, run: &Run) {
    let verify = client.get("/api/v1/verify").await;
    assert_eq!(verify.body["ok"], true, "{}", verify.text);
    let count = |events: &[Value]| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for event in events {
            if let Some(key) = event["data"]["note"]
                .as_str()
                .and_then(|n| n.strip_prefix("fault "))
                .and_then(|n| n.split(' ').next())
            {
                *counts.entry(key.to_owned()).or_default() += 1;
            }
        }
        counts
    };
    let events = all_events(client).await;
    let counts = count(&events);
    for (key, seqs) in &run.acknowledged {
        assert_eq!(counts.get(key), Some(&1), "acknowledged {key} lost");
        for seq in seqs {
            assert!(
                events[*seq as usize - 1]["data"]["note"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&format!("fault {key} "))),
                "seq {seq} no longer holds {key}"
            );
        }
    }
    // A refused command is not in the log, even though the disk may have taken part of it
    // before refusing the rest: it was answered 503, so a client may send it again without a
    // key, and it must not then be there twice.
    for (key, _) in &run.refused {
        assert_eq!(counts.get(key), None, "refused {key} is in the log");
    }
    for (key, body) in &run.refused {
        let retry = client
            .command_with(body, &[("Idempotency-Key", key.as_str())])
            .await;
        assert_eq!(retry.status, 200, "retry of {key}: {}", retry.text);
    }
    let counts = count(&all_events(client).await);
    for (key, _) in &run.refused {
        assert_eq!(counts.get(key), Some(&1), "refused {key} after its retry");
    }
    assert!(counts.values().all(|c| *c == 1));
    let fresh = client.command(&progress(action, "fresh")).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    assert_eq!(client.get("/api/v1/verify").await.body["ok"], true);
}

#[tokio::test]
async fn a_write_past_the_file_size_limit_is_a_503_and_nothing_half_written_shows() {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let data_dir = temp.path().join("data");
    let mut setup = Server::start_on(&data_dir, &[]);
    let action = small_plan(&setup.client()).await;
    assert!(setup.terminate());

    // Room for the files as they are and a little more: the next new sled segment fails.
    let limit = largest_file(&data_dir) + 1024 * 1024;
    let (mut limited, stderr) = Server::launch(
        &data_dir,
        &Launch {
            file_size_blocks: Some(limit.div_ceil(512)),
            capture_stderr: true,
            ..Launch::default()
        },
    );
    let run = write_until_refused(&limited.client(), &action, 5_000).await;
    assert!(
        limited.is_running(),
        "the server died at the file size limit"
    );
    limited.kill();
    let said = stderr.text();
    // Each refusal is logged with what names the request: its id, method and path.
    let refusal = said
        .lines()
        .find(|line| line.contains("request failed"))
        .unwrap_or_else(|| panic!("no refused request was logged; the server said: {said}"));
    eprintln!(
        "faults (RLIMIT_FSIZE {limit} bytes): {} acknowledged, then 503; the server said: {}; \
         and of a refused request: {refusal}",
        run.acknowledged.len(),
        said.lines().next().unwrap_or_default()
    );
    // The first refusal comes from the stage that met the failure, the later ones (`after-*`)
    // from the writer turning appends away; each names the cause once. (A read of the log may
    // fail too, with sled's own error; only the refused commands are counted here.)
    let refusals: Vec<&str> = said
        .lines()
        .filter(|line| line.contains("request failed") && line.contains("method=POST"))
        .collect();
    assert!(
        refusals.len() > run.refused.len() / 2,
        "{} refused requests, {} logged",
        run.refused.len(),
        refusals.len()
    );
    for line in refusals {
        assert_eq!(
            line.matches("stopped accepting writes").count(),
            1,
            "the refusal names its cause once: {line}"
        );
    }
    for part in [
        "request_id=",
        "method=POST",
        "path=/api/v1/commands",
        "status=503",
    ] {
        assert!(refusal.contains(part), "{part} is missing from: {refusal}");
    }
    assert!(
        !refusal.contains("request_id= "),
        "the request id is empty: {refusal}"
    );

    let restarted = Server::start_on(&data_dir, &[]);
    check_recovery(&restarted.client(), &action, &run).await;
}

/// A tmpfs of `size` mounted at `at`, unmounted on drop; `None` where mounting is not allowed.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` up to `leave` free bytes with a ballast file.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let ballast = dir.join("ballast");
    let free = {
        let output = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(dir)
            .output()
            .expect("df runs");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<u64>().ok())
            .expect("df prints the free bytes")
    };
    let size = free.saturating_sub(leave);
    std::fs::write(&ballast, vec![0u8; size as usize]).expect("the ballast fits");
    ballast
}

#[tokio::test]
async fn a_full_file_system_is_a_503_until_space_returns_then_the_server_writes_again() {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let Some(mount) = Tmpfs::mount(&temp.path().join("disk"), "16m") else {
        eprintln!(
            "faults: cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN); \
             the RLIMIT_FSIZE test covers a refused write"
        );
        return;
    };
    let data_dir = mount.0.join("data");
    let mut setup = Server::start_on(&data_dir, &[]);
    let action = small_plan(&setup.client()).await;
    assert!(setup.terminate());

    let ballast = fill(&mount.0, 1280 * 1024);
    let (mut full, stderr) = Server::launch(
        &data_dir,
        &Launch {
            capture_stderr: true,
            ..Launch::default()
        },
    );
    let client = full.client();
    let run = write_until_refused(&client, &action, 5_000).await;
    assert!(full.is_running(), "the server died on a full disk");

    // Space returns. The log does not retry in place (after a failed write or fsync it trusts
    // nothing it has not read back, "fsyncgate"); the server notices that the disk takes
    // writes again and reopens the log, as a restart would, without being restarted.
    std::fs::remove_file(&ballast).expect("the ballast goes");
    let started = std::time::Instant::now();
    let back = progress(&action, "back");
    loop {
        let reply = client
            .command_with(&back, &[("Idempotency-Key", "back")])
            .await;
        if reply.status == 200 {
            break;
        }
        assert_problem(&reply, 503);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the server did not write again within two minutes of space returning"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    eprintln!(
        "faults (tmpfs full): {} acknowledged, then 503; the server said: {}; writes again {:.1} s after space returned",
        run.acknowledged.len(),
        stderr.text().lines().next().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    assert!(full.is_running());
    check_recovery(&client, &action, &run).await;
    full.kill();

    // And a restart finds the same log.
    let restarted = Server::start_on(&data_dir, &[]);
    let verify = restarted.client().get("/api/v1/verify").await;
    assert_eq!(verify.body["ok"], true, "{}", verify.text);
    drop(restarted);
}
