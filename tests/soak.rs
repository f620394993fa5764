//! Crash soak over HTTP: many clients send commands with idempotency keys while the real server
//! is SIGKILLed at random moments and restarted on the same data directory. After every restart:
//! every acknowledged command is in the log exactly once (same seq, same event id), nothing is
//! recorded twice, the hash chain verifies, the recovered read models equal a rebuild from seq
//! 0, and the commands that were in flight at the kill land exactly once when retried.
//!
//! `STOCKTAKE_SOAK_CYCLES` sets the number of kill cycles (default 10); `STOCKTAKE_SOAK_SEED`
//! replays a run's random delays and choices (the seed is printed).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use stocktake_tests::{all_events, stderr, stocktake, Client, Server};
use uuid::Uuid;

const CLIENTS: usize = 16;
const ACTIONS: usize = 4;

/// A small, seedable generator (xorshift64*): the soak needs only reproducible dice.
#[derive(Debug, Clone)]
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One command as sent: its key and exact body, so a retry is the same request.
#[derive(Debug, Clone)]
struct Sent {
    key: String,
    body: Value,
}

#[derive(Debug)]
enum Outcome {
    /// 200: the events it recorded (seq, event id).
    Acknowledged {
        sent: Sent,
        events: Vec<(u64, String)>,
    },
    /// 422: a rule refused it (a status change to the status it already has); nothing recorded.
    Refused { sent: Sent },
    /// No complete answer: the server died with the request in flight.
    InFlight { sent: Sent },
    /// Anything else is a failure of the test.
    Unexpected {
        sent: Sent,
        status: u16,
        text: String,
    },
}

#[derive(Debug, Default)]
struct Tally {
    acknowledged: BTreeMap<String, Vec<(u64, String)>>,
    refused: Vec<String>,
    in_flight_total: usize,
    retried_replayed: usize,
    retried_first_recording: usize,
    retried_refused: usize,
    kills: usize,
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        // Only a safety net so a wedged server cannot hang CI; no assertion depends on it.
        .timeout(Duration::from_secs(120))
        .build()
        .expect("an HTTP client")
}

/// Sends one command; `None` when no complete answer came back.
async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    sent: &Sent,
) -> Option<(u16, bool, Value, String)> {
    let response = http
        .post(format!("{base}/api/v1/commands"))
        .bearer_auth(token)
        .header("Idempotency-Key", &sent.key)
        .json(&sent.body)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let text = response.text().await.ok()?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Some((status, replayed, body, text))
}

fn event_refs(body: &Value) -> Vec<(u64, String)> {
    body["events"]
        .as_array()
        .expect("a command response lists its events")
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().expect("seq"),
                e["event_id"].as_str().expect("event_id").to_owned(),
            )
        })
        .collect()
}

/// A random command on the small plan; its note (or title) names its key, so the log can be
/// searched for it.
fn random_command(dice: &mut Dice, key: &str, plan: &str, area: &str, actions: &[String]) -> Value {
    let action = &actions[dice.below(actions.len() as u64) as usize];
    let rag = ["red", "amber", "green"][dice.below(3) as usize];
    match dice.below(10) {
        0..=5 => {
            json!({"type": "record_progress", "action_id": action, "note": format!("soak {key}"), "rag": rag})
        }
        6..=8 => {
            let status = ["in_progress", "blocked"][dice.below(2) as usize];
            json!({"type": "change_action_status", "action_id": action, "status": status, "rag": rag, "note": format!("soak {key}")})
        }
        _ => {
            json!({"type": "add_action", "action_id": Uuid::now_v7().to_string(), "plan_id": plan, "area_id": area,
                    "title": format!("soak {key}"), "owner": "Head of Workforce", "due_on": "2030-03-31"})
        }
    }
}

/// One client's share of a cycle.
#[derive(Debug)]
struct Worker {
    base: String,
    token: String,
    name: String,
    dice: Dice,
    plan: String,
    area: String,
    actions: Vec<String>,
    stop: Arc<AtomicBool>,
}

async fn client_loop(worker: Worker) -> Vec<Outcome> {
    let Worker {
        base,
        token,
        name,
        mut dice,
        plan,
        area,
        actions,
        stop,
    } = worker;
    let http = http();
    let mut outcomes = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let key = format!("{name}-n{n}");
        let sent = Sent {
            body: random_command(&mut dice, &key, &plan, &area, &actions),
            key,
        };
        match post(&http, &base, &token, &sent).await {
            Some((200, _, body, _)) => outcomes.push(Outcome::Acknowledged {
                events: event_refs(&body),
                sent,
            }),
            Some((422, _, _, _)) if sent.body["type"] == "change_action_status" => {
                outcomes.push(Outcome::Refused { sent })
            }
            Some((status, _, _, text)) => {
                outcomes.push(Outcome::Unexpected { sent, status, text });
                return outcomes;
            }
            None => {
                outcomes.push(Outcome::InFlight { sent });
                return outcomes;
            }
        }
    }
    outcomes
}

/// The key a soak event carries in its note or title.
fn soak_key(event: &Value) -> Option<String> {
    let data = &event["data"];
    data["note"]
        .as_str()
        .or_else(|| data["title"].as_str())
        .and_then(|t| t.strip_prefix("soak "))
        .map(str::to_owned)
}

/// Checks the whole log against everything acknowledged so far; returns keys → count.
async fn check_log(client: &Client, tally: &Tally) -> HashMap<String, usize> {
    let events = all_events(client).await;
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            event["seq"].as_u64(),
            Some(i as u64 + 1),
            "the log has a gap or is out of order at position {i}"
        );
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut per_command: HashMap<String, usize> = HashMap::new();
    for event in &events {
        if let Some(key) = soak_key(event) {
            *counts.entry(key).or_default() += 1;
        }
    }
    for event in events.iter().filter(|e| soak_key(e).is_some()) {
        *per_command
            .entry(event["command_id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    for (key, count) in &counts {
        assert_eq!(*count, 1, "command {key} was recorded {count} times");
    }
    for (command, count) in &per_command {
        assert_eq!(
            *count, 1,
            "command id {command} recorded {count} events, every soak command records one"
        );
    }
    for (key, refs) in &tally.acknowledged {
        assert_eq!(
            counts.get(key),
            Some(&1),
            "acknowledged command {key} is missing"
        );
        for (seq, event_id) in refs {
            let stored = &events[*seq as usize - 1];
            assert_eq!(
                stored["event_id"].as_str(),
                Some(event_id.as_str()),
                "acknowledged seq {seq} of {key} now holds another event"
            );
            assert_eq!(soak_key(stored).as_deref(), Some(key.as_str()));
        }
    }
    for key in &tally.refused {
        assert_eq!(counts.get(key), None, "refused command {key} was recorded");
    }
    let verify = client.get("/api/v1/verify").await;
    assert_eq!(verify.status, 200, "{}", verify.text);
    assert_eq!(verify.body["ok"], true, "{}", verify.text);
    assert_eq!(verify.body["events"].as_u64(), Some(events.len() as u64));
    counts
}

/// The log a server opened is not empty (the soak's plan was recorded before the first kill).
async fn assert_log_not_empty(client: &Client, cycle: u64, phase: &str) {
    let health = client.with_token(None).get("/healthz").await;
    assert!(
        health.body["log"]["last_seq"].as_u64().unwrap_or(0) > 0,
        "cycle {cycle}: {phase} found an empty log: /healthz {}",
        health.text
    );
}

/// What the read models answer about the plan and its actions, pinned to the last recorded
/// moment so that two servers are asked the same question.
async fn read_models(client: &Client, plan: &str) -> Value {
    let (last_seq, _) = client.head().await;
    let page = client
        .get(&format!("/api/v1/events?after={}&limit=1", last_seq - 1))
        .await;
    let last = page.body["events"][0]["recorded_at"]
        .as_str()
        .expect("recorded_at")
        .replace('+', "%2B");
    let at = format!("as_of={last}&known_at={last}");
    let overview = client.get(&format!("/api/v1/plans/{plan}?{at}")).await;
    assert_eq!(overview.status, 200, "{}", overview.text);
    let mut answers = vec![overview.body.clone()];
    for path in [
        format!("/api/v1/plans?{at}"),
        format!("/api/v1/plans/{plan}/activity?limit=1000&{at}"),
        format!("/api/v1/plans/{plan}/drift?{at}"),
    ] {
        let reply = client.get(&path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        answers.push(reply.body);
    }
    let mut action_ids: Vec<String> = overview.body["areas"]
        .as_array()
        .expect("areas")
        .iter()
        .flat_map(|area| area["actions"].as_array().expect("actions").iter())
        .map(|a| a["action_id"].as_str().expect("action_id").to_owned())
        .collect();
    action_ids.sort();
    for action in action_ids {
        for path in [
            format!("/api/v1/actions/{action}?{at}"),
            format!("/api/v1/actions/{action}/history?{at}"),
        ] {
            let reply = client.get(&path).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text);
            answers.push(reply.body);
        }
    }
    Value::Array(answers)
}

/// The paths where two JSON values differ, with both sides.
fn differ(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (l, r) = (
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                );
                differ(&format!("{path}.{key}"), l, r, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                differ(&format!("{path}[{i}]"), l, r, out);
            }
        }
        _ if a != b => out.push(format!("{path}: recovered {a} rebuilt {b}")),
        _ => {}
    }
}

async fn setup(client: &Client) -> (String, String, Vec<String>) {
    let (plan, area) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let actions: Vec<String> = (0..ACTIONS).map(|_| Uuid::now_v7().to_string()).collect();
    let mut commands = vec![
        json!({"type": "create_plan", "plan_id": plan, "title": "Soak plan", "organisation": "London Borough of Croydon"}),
        json!({"type": "add_priority_area", "plan_id": plan, "area_id": area, "number": 1, "title": "Recruitment and retention of staff", "lead": "Head of Workforce"}),
    ];
    for (i, action) in actions.iter().enumerate() {
        commands.push(json!({"type": "add_action", "action_id": action, "plan_id": plan, "area_id": area,
                             "title": format!("Action {i}"), "owner": "Head of Workforce", "due_on": "2030-03-31"}));
        commands.push(json!({"type": "change_action_status", "action_id": action, "status": "in_progress", "rag": "green"}));
    }
    for command in commands {
        let reply = client.command(&command).await;
        assert_eq!(reply.status, 200, "{command}: {}", reply.text);
    }
    (plan, area, actions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let cycles = env_number("STOCKTAKE_SOAK_CYCLES").unwrap_or(10).max(1);
    let seed = env_number("STOCKTAKE_SOAK_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1
    });
    eprintln!("soak: {cycles} cycles, STOCKTAKE_SOAK_SEED={seed}");
    let mut dice = Dice(seed);
    let temp = tempfile::tempdir().expect("a temporary directory");
    // STOCKTAKE_SOAK_DIR keeps the data directory (and a copy of it as it was before each
    // open) for a post-mortem; otherwise it is a temporary one.
    let keep = std::env::var_os("STOCKTAKE_SOAK_DIR").map(std::path::PathBuf::from);
    let root = keep.clone().unwrap_or_else(|| temp.path().to_owned());
    let data_dir = root.join("data");
    let before_open = |phase: &str| {
        if keep.is_some() {
            let copy = root.join(format!("before-{phase}"));
            let _ = std::fs::remove_dir_all(&copy);
            let status = std::process::Command::new("cp")
                .arg("-a")
                .arg(&data_dir)
                .arg(&copy)
                .status()
                .expect("cp runs");
            assert!(status.success(), "cp -a {}", data_dir.display());
        }
    };
    let mut server = Server::start_on(&data_dir, &[]);
    let (plan, area, actions) = setup(&server.client()).await;
    let mut tally = Tally::default();
    let mut in_flight: Vec<Sent> = Vec::new();

    for cycle in 1..=cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|t| {
                tokio::spawn(client_loop(Worker {
                    base: server.base.clone(),
                    token: server.token.clone(),
                    name: format!("c{cycle}-t{t}"),
                    dice: Dice(dice.next() | 1),
                    plan: plan.clone(),
                    area: area.clone(),
                    actions: actions.clone(),
                    stop: stop.clone(),
                }))
            })
            .collect();
        // A random moment: sometimes at once, mostly while the group commits are busy.
        let delay = Duration::from_millis(dice.below(500));
        tokio::time::sleep(delay).await;
        server.kill();
        stop.store(true, Ordering::SeqCst);
        tally.kills += 1;
        for task in tasks {
            for outcome in task.await.expect("a client task") {
                match outcome {
                    Outcome::Acknowledged { sent, events } => {
                        tally.acknowledged.insert(sent.key, events);
                    }
                    Outcome::Refused { sent } => tally.refused.push(sent.key),
                    Outcome::InFlight { sent } => in_flight.push(sent),
                    Outcome::Unexpected { sent, status, text } => {
                        panic!("cycle {cycle}: {} answered {status}: {text}", sent.body)
                    }
                }
            }
        }
        tally.in_flight_total += in_flight.len();

        // Restart on the same data directory: the log recovers, the read models catch up.
        before_open("restart");
        let recovered = Server::start_on(&data_dir, &[]);
        let client = recovered.client();
        assert_log_not_empty(&client, cycle, "the restart after the kill").await;
        let counts = check_log(&client, &tally).await;

        // Retry what was in flight: same key, same body. The original outcome or a first
        // recording; a status change may now be refused by the rules. Never twice.
        let http = http();
        for sent in in_flight.drain(..) {
            let before = counts.get(&sent.key).copied().unwrap_or(0);
            let (status, replayed, body, text) =
                post(&http, &recovered.base, &recovered.token, &sent)
                    .await
                    .expect("the restarted server answers");
            match status {
                200 => {
                    assert_eq!(
                        replayed,
                        before == 1,
                        "{}: replayed {replayed} but the log held it {before} times",
                        sent.key
                    );
                    if replayed {
                        tally.retried_replayed += 1;
                    } else {
                        tally.retried_first_recording += 1;
                    }
                    tally.acknowledged.insert(sent.key, event_refs(&body));
                }
                422 if sent.body["type"] == "change_action_status" && before == 0 => {
                    tally.retried_refused += 1;
                    tally.refused.push(sent.key);
                }
                other => panic!("retry of {} answered {other}: {text}", sent.body),
            }
        }
        // (The next cycle's first check, or the final one, sees the retries in the log.)

        // The recovered read models (checkpoint plus catch-up after a kill) equal a rebuild
        // from seq 0 on the stopped directory.
        let recovered_models = read_models(&client, &plan).await;
        let mut recovered = recovered;
        recovered.kill();
        before_open("rebuild");
        let rebuild = stocktake(&["rebuild", "--data-dir", data_dir.to_str().expect("UTF-8")]);
        assert!(rebuild.status.success(), "rebuild: {}", stderr(&rebuild));
        before_open("start");
        server = Server::start_on(&data_dir, &[]);
        assert_log_not_empty(&server.client(), cycle, "the start after the rebuild").await;
        let rebuilt_models = read_models(&server.client(), &plan).await;
        let mut differences = Vec::new();
        differ("", &recovered_models, &rebuilt_models, &mut differences);
        assert!(
            differences.is_empty(),
            "cycle {cycle}: the recovered read models differ from a rebuild:\n{}",
            differences.join("\n")
        );
        eprintln!(
            "soak cycle {cycle}: killed after {} ms; {} acknowledged so far, {} in flight retried",
            delay.as_millis(),
            tally.acknowledged.len(),
            tally.in_flight_total
        );
    }
    let final_counts = check_log(&server.client(), &tally).await;
    let lost = tally
        .acknowledged
        .keys()
        .filter(|k| final_counts.get(*k) != Some(&1))
        .count();
    let duplicated = final_counts.values().filter(|c| **c > 1).count();
    assert_eq!((lost, duplicated), (0, 0));
    eprintln!(
        "soak summary: seed {seed}; kill cycles survived {}; acknowledged commands {}; refused by rules {}; \
         in flight at a kill {} (on retry: {} already recorded, {} recorded first time, {} refused); \
         lost 0; duplicates 0; events in log {}",
        tally.kills,
        tally.acknowledged.len(),
        tally.refused.len(),
        tally.in_flight_total,
        tally.retried_replayed,
        tally.retried_first_recording,
        tally.retried_refused,
        all_events(&server.client()).await.len(),
    );
}
