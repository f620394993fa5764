//! The HTTP API end to end: the real server on port 0 and a temporary data directory.

use std::collections::HashSet;

use futures_util::StreamExt;
use serde_json::{json, Value};
use stocktake_tests::{add_token, assert_problem, Client, Launch, Reply, Server};
use uuid::Uuid;

fn id() -> String {
    Uuid::now_v7().to_string()
}

/// A plan with one area and one action, in progress; returns (plan, area, action).
async fn plan_with_action(client: &Client) -> (String, String, String) {
    let (plan, area, action) = (id(), id(), id());
    for command in [
        json!({"type": "create_plan", "plan_id": plan, "title": "Children's services improvement plan", "organisation": "London Borough of Croydon", "effective_at": "2018-01-01"}),
        json!({"type": "add_priority_area", "plan_id": plan, "area_id": area, "number": 4, "title": "Recruitment and retention of staff", "lead": "Head of Workforce", "effective_at": "2018-01-02"}),
        json!({"type": "add_action", "action_id": action, "plan_id": plan, "area_id": area, "title": "Recruit newly qualified social workers", "owner": "Head of Workforce", "start_on": "2018-06-01", "due_on": "2018-10-31", "effective_at": "2018-06-01"}),
        json!({"type": "change_action_status", "action_id": action, "status": "in_progress", "rag": "green", "effective_at": "2018-06-02"}),
    ] {
        let reply = client.command(&command).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    (plan, area, action)
}

#[tokio::test]
async fn every_command_is_recorded_and_every_read_model_answers() {
    let server = Server::start();
    let client = server.client();
    let (plan, area, action) = plan_with_action(&client).await;
    let (measure, visit, finding, evidence) = (id(), id(), id(), id());
    for command in [
        json!({"type": "agree_plan", "plan_id": plan, "agreed_on": "2017-11-20", "agreed_by": "Cabinet"}),
        json!({"type": "revise_plan", "plan_id": plan, "kind": "refresh", "reason": "Refreshed around six priority areas"}),
        json!({"type": "record_milestone", "plan_id": plan, "kind": "funding", "title": "£10.9m added to base budgets", "occurred_on": "2018-09-17"}),
        json!({"type": "rebaseline_action", "action_id": action, "due_on": "2018-12-31", "reason": "HR checks slowed the October cohort"}),
        json!({"type": "assign_action_owner", "action_id": action, "owner": "Director of Early Help and Children's Social Care"}),
        json!({"type": "record_progress", "action_id": action, "note": "Nine of twelve in post", "rag": "amber"}),
        json!({"type": "attach_evidence", "action_id": action, "evidence_id": evidence, "title": "NQSW cohort list", "reference": "HR report, October 2018"}),
        json!({"type": "change_action_status", "action_id": action, "status": "completed", "note": "Twelve in post"}),
        json!({"type": "confirm_impact", "action_id": action, "note": "Caseloads in assessment fell"}),
        json!({"type": "reopen_action", "action_id": action, "reason": "Two left within three months", "rag": "amber"}),
        json!({"type": "define_measure", "measure_id": measure, "plan_id": plan, "name": "Average caseload", "unit": "cases per worker", "direction": "lower_is_better", "target": 16, "tolerance": 2}),
        json!({"type": "record_measure", "measure_id": measure, "value": 19, "period_end": "2018-03-31", "source": "Ofsted visit 2 letter"}),
        json!({"type": "record_measure", "measure_id": measure, "value": 14.2, "period_end": "2019-10-31", "source": "Ofsted visit 8 letter"}),
        json!({"type": "record_visit", "visit_id": visit, "plan_id": plan, "number": 3, "started_on": "2018-07-10", "ended_on": "2018-07-11", "theme": "Help and protection"}),
        json!({"type": "record_finding", "visit_id": visit, "finding_id": finding, "kind": "area_for_improvement", "text": "The pace of change has been too slow"}),
        json!({"type": "link_finding", "visit_id": visit, "finding_id": finding, "action_ids": [action]}),
        json!({"type": "publish_visit_letter", "visit_id": visit, "published_on": "2018-08-02"}),
    ] {
        let reply = client.command(&command).await;
        assert_eq!(reply.status, 200, "{command}: {}", reply.text);
        assert!(reply.body["events"][0]["seq"].as_u64().unwrap() > 0);
        assert_eq!(reply.body["head_hash"].as_str().unwrap().len(), 64);
    }

    let overview = client.get(&format!("/api/v1/plans/{plan}")).await;
    assert_eq!(overview.status, 200);
    let line = &overview.body["areas"][0]["actions"][0];
    assert_eq!(line["action_id"], action.as_str());
    assert_eq!(line["status"], "in_progress");
    assert_eq!(line["rag"], "amber");
    assert_eq!(line["due_on"], "2018-12-31");
    assert_eq!(line["overdue"], true, "due in 2018 and still open now");
    assert_eq!(
        line["owner"],
        "Director of Early Help and Children's Social Care"
    );
    assert_eq!(overview.body["revision"], 2);

    let detail = client.get(&format!("/api/v1/actions/{action}")).await;
    assert_eq!(detail.status, 200);
    let version = detail.body["version"].as_u64().unwrap();
    assert_eq!(detail.headers["etag"], format!("\"{version}\"").as_str());

    let history = client
        .get(&format!("/api/v1/actions/{action}/history"))
        .await;
    let entries = history.body["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, version);
    for field in [
        "seq",
        "version",
        "type",
        "recorded_at",
        "effective_at",
        "actor",
        "data",
    ] {
        assert!(!entries[0][field].is_null(), "history entry lacks {field}");
    }
    assert_eq!(entries[0]["actor"], "director");
    let rebaseline = entries
        .iter()
        .find(|e| e["type"] == "ActionRebaselined")
        .unwrap();
    assert_eq!(
        rebaseline["data"]["reason"],
        "HR checks slowed the October cohort"
    );

    let since = client
        .get(&format!("/api/v1/plans/{plan}/changes?since=2018-06-01"))
        .await;
    assert_eq!(since.status, 200);
    assert!(since.body["changes"].as_array().unwrap().len() >= 10);

    let drift = client.get(&format!("/api/v1/plans/{plan}/drift")).await;
    assert_eq!(drift.body["overdue"][0]["action_id"], action.as_str());

    let kpi = client.get(&format!("/api/v1/measures/{measure}")).await;
    let readings = kpi.body["readings"].as_array().unwrap();
    assert_eq!(readings.len(), 2);
    assert_eq!(
        (readings[0]["value"].as_f64(), readings[0]["rag"].as_str()),
        (Some(19.0), Some("red"))
    );
    assert_eq!(readings[1]["period_end"], "2019-10-31");
    assert_eq!(readings[1]["rag"], "green");

    let visit_view = client.get(&format!("/api/v1/visits/{visit}")).await;
    assert_eq!(
        visit_view.body["findings"][0]["actions"][0]["action_id"],
        action.as_str()
    );
    assert_eq!(visit_view.body["letter_published_on"], "2018-08-02");

    let events = client.get("/api/v1/events?after=0&limit=5").await;
    assert_eq!(events.body["events"].as_array().unwrap().len(), 5);
    assert_eq!(events.body["next_after"], 5);
    assert_eq!(events.body["events"][0]["seq"], 1);
    assert!(events.body["events"][0]["hash"].is_string());

    let verify = client.get("/api/v1/verify").await;
    assert_eq!(verify.body["ok"], true);
    assert_eq!(verify.body["head_hash"], client.head().await.1.as_str());

    let plans = client.get("/api/v1/plans").await;
    assert_eq!(plans.body["plans"][0]["plan_id"], plan.as_str());
    let activity = client
        .get(&format!("/api/v1/plans/{plan}/activity?limit=3"))
        .await;
    assert_eq!(activity.body["entries"].as_array().unwrap().len(), 3);
    let _ = area;
}

#[tokio::test]
async fn a_backdated_update_changes_what_was_true_but_not_what_was_known() {
    let server = Server::start();
    let client = server.client();
    let (plan, _, action) = plan_with_action(&client).await;
    let history = client
        .get(&format!("/api/v1/actions/{action}/history"))
        .await;
    let before_the_late_entry = history.body["entries"].as_array().unwrap().last().unwrap()
        ["recorded_at"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Entered now, but it happened on 20 June 2018.
    let late = json!({"type": "change_action_status", "action_id": action, "status": "blocked", "rag": "red",
                      "note": "No agency cover", "effective_at": "2018-06-20"});
    assert_eq!(client.command(&late).await.status, 200);
    let status_at = |body: &Value| {
        body["areas"][0]["actions"][0]["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let true_then = client
        .get(&format!("/api/v1/plans/{plan}?as_of=2018-07-01"))
        .await;
    assert_eq!(status_at(&true_then.body), "blocked");
    let known_then = client
        .get(&format!(
            "/api/v1/plans/{plan}?as_of=2018-07-01&known_at={}",
            before_the_late_entry.replace('+', "%2B")
        ))
        .await;
    assert_eq!(known_then.status, 200, "{}", known_then.text);
    assert_eq!(status_at(&known_then.body), "in_progress");
}

#[tokio::test]
async fn every_error_has_its_status_and_problem_body_and_appends_nothing() {
    let server = Server::start();
    let client = server.client();
    let (plan, area, action) = plan_with_action(&client).await;
    let head = client.head().await;

    let malformed = client
        .post_raw(
            "/api/v1/commands",
            "application/json",
            b"{\"type\": \"create_plan\",".to_vec(),
        )
        .await;
    assert_problem(&malformed, 400);
    assert_eq!(malformed.body["errors"][0]["field"], "body");

    let unknown_type = client
        .command(&json!({"type": "delete_action", "action_id": action}))
        .await;
    assert_problem(&unknown_type, 400);
    assert_eq!(unknown_type.body["errors"][0]["field"], "type");

    let unknown_field = client
        .command(
            &json!({"type": "record_progress", "action_id": action, "note": "x", "colour": "red"}),
        )
        .await;
    assert_problem(&unknown_field, 400);
    assert_eq!(unknown_field.body["errors"][0]["field"], "colour");

    let missing_field = client
        .command(&json!({"type": "rebaseline_action", "action_id": action, "due_on": "2019-01-31"}))
        .await;
    assert_problem(&missing_field, 400);
    assert_eq!(missing_field.body["errors"][0]["field"], "reason");

    let wrong_type = client.command(&json!({"type": "add_priority_area", "plan_id": plan, "number": "four", "title": "T", "lead": "L"})).await;
    assert_problem(&wrong_type, 400);
    assert_eq!(wrong_type.body["errors"][0]["field"], "number");

    let unknown_action = client
        .command(&json!({"type": "record_progress", "action_id": id(), "note": "x"}))
        .await;
    assert_problem(&unknown_action, 404);

    let wrong_kind = client
        .command(&json!({"type": "record_progress", "action_id": plan, "note": "x"}))
        .await;
    assert_problem(&wrong_kind, 404);

    let stale = client
        .command_with(
            &json!({"type": "record_progress", "action_id": action, "note": "x"}),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_problem(&stale, 409);
    assert_eq!(stale.body["current_version"], 2);

    // 413 is attacked in tests/hostile.rs with a client that reads an early answer while it
    // is still sending: a plain client may see the connection close before the 413 arrives.

    let forbidden_transition = client
        .command(&json!({"type": "reopen_action", "action_id": action, "reason": "x"}))
        .await;
    assert_problem(&forbidden_transition, 422);
    assert_eq!(forbidden_transition.body["errors"][0]["field"], "action_id");

    let future = client
        .command(&json!({"type": "record_progress", "action_id": action, "note": "x", "effective_at": "2999-01-01"}))
        .await;
    assert_problem(&future, 422);
    assert_eq!(future.body["errors"][0]["field"], "effective_at");

    let bad_date = client.command(&json!({"type": "rebaseline_action", "action_id": action, "due_on": "31/12/2019", "reason": "x"})).await;
    assert_problem(&bad_date, 400);

    let unauthenticated = client
        .with_token(None)
        .command(&json!({"type": "record_progress", "action_id": action, "note": "x"}))
        .await;
    assert_problem(&unauthenticated, 401);
    let unknown_token = client
        .with_token(Some("stk_nope"))
        .get("/api/v1/plans")
        .await;
    assert_problem(&unknown_token, 401);

    let not_found_plan = client.get(&format!("/api/v1/plans/{}", id())).await;
    assert_problem(&not_found_plan, 404);
    let bad_as_of = client
        .get(&format!("/api/v1/plans/{plan}?as_of=yesterday"))
        .await;
    assert_problem(&bad_as_of, 400);
    assert_eq!(bad_as_of.body["errors"][0]["field"], "as_of");

    assert_eq!(
        client.head().await,
        head,
        "a refused command appended something"
    );
    let _ = area;
}

#[tokio::test]
async fn roles_limit_what_a_token_may_do() {
    let mut server = Server::start();
    assert!(server.terminate());
    let viewer = add_token(&server.data_dir, "auditor", "viewer");
    let editor = add_token(&server.data_dir, "service-manager", "editor");
    let server = Server::start_on(&server.data_dir.clone(), &[]);
    let director = server.client();
    let (plan, _, action) = plan_with_action(&director).await;
    let as_viewer = director.with_token(Some(&viewer));
    let as_editor = director.with_token(Some(&editor));

    assert_eq!(
        as_viewer.get(&format!("/api/v1/plans/{plan}")).await.status,
        200
    );
    let progress =
        json!({"type": "record_progress", "action_id": action, "note": "Checked", "rag": "green"});
    assert_problem(&as_viewer.command(&progress).await, 403);
    let accepted = as_editor.command(&progress).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let rebaseline = json!({"type": "rebaseline_action", "action_id": action, "due_on": "2019-03-31", "reason": "x"});
    assert_problem(&as_editor.command(&rebaseline).await, 403);

    let history = director
        .get(&format!("/api/v1/actions/{action}/history"))
        .await;
    let last = history.body["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["actor"], "service-manager",
        "the token's name is the actor"
    );
}

#[tokio::test]
async fn a_retried_command_is_recorded_once() {
    let server = Server::start();
    let client = server.client();
    let (plan, area, _) = plan_with_action(&client).await;
    let add = json!({"type": "add_action", "plan_id": plan, "area_id": area, "title": "Relaunch the partnership", "owner": "Director", "due_on": "2019-03-31"});
    let first = client
        .command_with(&add, &[("Idempotency-Key", "board-2018-09-26-item-4")])
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let head = client.head().await;
    let retry = client
        .command_with(&add, &[("Idempotency-Key", "board-2018-09-26-item-4")])
        .await;
    assert_eq!(retry.status, 200);
    assert_eq!(
        retry.body, first.body,
        "the retry answers with the first response"
    );
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(client.head().await, head, "the retry appended something");
    assert_eq!(
        first.body["created"],
        json!({"action_id": first.body["stream_id"]}),
        "the id the server made is returned, and the same one on the retry"
    );

    // Inside a stream the made id is not the stream's: a new area's is returned too.
    let area_command = json!({"type": "add_priority_area", "plan_id": plan, "number": 9, "title": "Partnership", "lead": "Director"});
    let added = client
        .command_with(
            &area_command,
            &[("Idempotency-Key", "board-2018-09-26-item-5")],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.body["stream_id"], plan.as_str());
    let new_area = added.body["created"]["area_id"]
        .as_str()
        .expect("the new area's id");
    let overview = client.get(&format!("/api/v1/plans/{plan}")).await;
    assert!(
        overview.body["areas"]
            .as_array()
            .expect("areas")
            .iter()
            .any(|a| a["area_id"] == new_area && a["number"] == 9),
        "{}",
        overview.text
    );
    let replayed = client
        .command_with(
            &area_command,
            &[("Idempotency-Key", "board-2018-09-26-item-5")],
        )
        .await;
    assert_eq!(
        replayed.body, added.body,
        "a replay returns the id first made"
    );
    let head = client.head().await;

    let mut other = add.clone();
    other["title"] = "Something else".into();
    let reused = client
        .command_with(&other, &[("Idempotency-Key", "board-2018-09-26-item-4")])
        .await;
    assert_problem(&reused, 422);
    assert_eq!(client.head().await, head);

    let too_long = "k".repeat(201);
    let abused = client
        .command_with(&add, &[("Idempotency-Key", too_long.as_str())])
        .await;
    assert_problem(&abused, 400);
    let bad_if_match = client
        .command_with(&add, &[("If-Match", "yesterday")])
        .await;
    assert_problem(&bad_if_match, 400);
    assert_eq!(client.head().await, head);
}

#[tokio::test]
async fn concurrent_updates_with_if_match_lose_nothing() {
    let server = Server::start();
    let client = server.client();
    let (_, _, action) = plan_with_action(&client).await;
    let start_version = client.get(&format!("/api/v1/actions/{action}")).await.body["version"]
        .as_u64()
        .unwrap();

    let mut rounds = 0;
    let mut winners_total = 0;
    let mut losers_total = 0;
    // Each round, 32 clients race from the same version: exactly one may win it.
    while rounds < 3 {
        rounds += 1;
        let version = client.get(&format!("/api/v1/actions/{action}")).await.body["version"]
            .as_u64()
            .unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let client = client.clone();
                let action = action.clone();
                tokio::spawn(async move {
                    let body = json!({"type": "record_progress", "action_id": action, "note": format!("client {i}")});
                    client.command_with(&body, &[("If-Match", &format!("\"{version}\""))]).await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            let reply = task.await.unwrap();
            match reply.status {
                200 => {
                    winners += 1;
                    assert_eq!(reply.body["version"].as_u64(), Some(version + 1));
                }
                409 => {
                    losers_total += 1;
                    assert!(reply.body["current_version"].as_u64().unwrap() > version);
                }
                other => panic!("unexpected {other}: {}", reply.text),
            }
        }
        assert_eq!(
            winners,
            1,
            "version {} was written {winners} times",
            version + 1
        );
        winners_total += winners;
    }
    assert_eq!(losers_total, 3 * 31);
    let history = client
        .get(&format!("/api/v1/actions/{action}/history"))
        .await;
    let versions: Vec<u64> = history.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (1..=start_version + winners_total).collect();
    assert_eq!(versions, expected, "each version exactly once, no gaps");
}

#[tokio::test]
async fn without_if_match_concurrent_updates_all_land() {
    let server = Server::start();
    let client = server.client();
    let (_, _, action) = plan_with_action(&client).await;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let client = client.clone();
            let action = action.clone();
            tokio::spawn(async move {
                client.command(&json!({"type": "record_progress", "action_id": action, "note": format!("note {i}")})).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().status, 200);
    }
    let history = client
        .get(&format!("/api/v1/actions/{action}/history"))
        .await;
    let notes: HashSet<String> = history.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["data"]["note"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(notes.len(), 32);
}

#[tokio::test]
async fn the_event_stream_resumes_from_last_event_id_without_gaps() {
    let server = Server::start();
    let client = server.client();
    let (_, _, action) = plan_with_action(&client).await;
    // Resume after event 2: the stream must deliver 3, 4, ... in order.
    let response = client
        .builder(reqwest::Method::GET, "/api/v1/events/stream")
        .header("Last-Event-ID", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for i in 0..3 {
        client.command(&json!({"type": "record_progress", "action_id": action, "note": format!("live {i}")})).await;
    }
    let seen = stream_ids_until(response, |seen| seen.len() >= 5).await;
    assert_eq!(seen, vec![3, 4, 5, 6, 7]);
}

/// The ids of an event stream's events, read until `done` says enough.
async fn stream_ids_until(response: reqwest::Response, done: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut seen = Vec::new();
    while !done(&seen) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .expect("the stream delivers")
            .expect("the stream stays open")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        seen = text
            .lines()
            .filter_map(|l| l.strip_prefix("id:"))
            .map(|id| id.trim().parse::<u64>().unwrap())
            .collect();
    }
    seen
}

/// `as_of` on the live stream lets through only what took effect by then, backdated news
/// included, as it arrives.
#[tokio::test]
async fn the_event_stream_can_follow_what_took_effect_by_a_date() {
    let server = Server::start();
    let client = server.client();
    let (plan, _, action) = plan_with_action(&client).await;
    let response = client
        .builder(
            reqwest::Method::GET,
            "/api/v1/events/stream?as_of=2018-12-31",
        )
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut seqs = Vec::new();
    // An item's changes take effect in order, so the last, backdated again, is the plan's.
    for command in [
        json!({"type": "record_progress", "action_id": action, "note": "backdated", "effective_at": "2018-07-01"}),
        json!({"type": "record_progress", "action_id": action, "note": "today"}),
        json!({"type": "add_priority_area", "plan_id": plan, "number": 5, "title": "Partnerships", "lead": "Director", "effective_at": "2018-08-01"}),
    ] {
        let reply = client.command(&command).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        seqs.push(reply.body["events"][0]["seq"].as_u64().unwrap());
    }
    let seen = stream_ids_until(response, |seen| seen.last() == Some(&seqs[2])).await;
    let mut expected: Vec<u64> = (1..seqs[0]).collect();
    expected.extend([seqs[0], seqs[2]]);
    assert_eq!(seen, expected, "what took effect today is left out");
}

#[tokio::test]
async fn graceful_shutdown_loses_no_acknowledged_command() {
    let mut server = Server::start();
    let client = server.client();
    let (plan, _, action) = plan_with_action(&client).await;
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let reply = client.command(&json!({"type": "record_progress", "action_id": action, "note": format!("before shutdown {i}")})).await;
        acknowledged.push(reply.body["events"][0]["seq"].as_u64().unwrap());
    }
    // A client following the event stream does not hold the shutdown up: the stream ends.
    let mut stream = client
        .builder(reqwest::Method::GET, "/api/v1/events/stream")
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.unwrap().is_some(), "the first event");
    assert!(server.terminate(), "stocktake did not exit 0 on SIGTERM");
    while let Ok(Some(_)) = stream.chunk().await {}
    let restarted = Server::start_on(&server.data_dir.clone(), &[]);
    let client = restarted.client();
    let events = client.get("/api/v1/events?after=0&limit=1000").await;
    let stored: HashSet<u64> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    for seq in acknowledged {
        assert!(
            stored.contains(&seq),
            "acknowledged event {seq} is missing after a restart"
        );
    }
    assert_eq!(client.get("/api/v1/verify").await.body["ok"], true);
    assert_eq!(
        client.get(&format!("/api/v1/plans/{plan}")).await.status,
        200
    );
}

/// A client that sends half a request and then nothing does not hold a stop up past its
/// grace: the server goes without it, still makes the log durable, and exits 0.
#[tokio::test]
async fn a_half_sent_request_does_not_hold_a_stop_up() {
    use std::io::Write;
    let temp = tempfile::tempdir().expect("a temporary directory");
    let data_dir = temp.path().join("data");
    let (mut server, stderr) = Server::launch(
        &data_dir,
        &Launch {
            args: vec!["--shutdown-grace".into(), "1".into()],
            capture_stderr: true,
            ..Launch::default()
        },
    );
    let client = server.client();
    let (_, _, action) = plan_with_action(&client).await;
    let reply = client
        .command(
            &json!({"type": "record_progress", "action_id": action, "note": "Before the stop"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let address = client.address();
    let mut stalled = std::net::TcpStream::connect(&address).expect("connects");
    stalled
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n").as_bytes())
        .expect("half a head is sent");
    let asked = std::time::Instant::now();
    assert!(server.terminate(), "stocktake did not exit 0 on SIGTERM");
    let took = asked.elapsed();
    assert!(
        took < std::time::Duration::from_secs(20),
        "the stop took {took:?} with a grace of 1 s"
    );
    let said = stderr.text();
    assert!(said.contains("grace ran out"), "{said}");
    drop(stalled);
    let restarted = Server::start_on(&data_dir, &[]);
    let history = restarted
        .client()
        .get(&format!("/api/v1/actions/{action}/history"))
        .await;
    assert!(history.text.contains("Before the stop"), "{}", history.text);
}

/// A client that sends its request's head slowly, or never finishes it, loses its connection
/// once the head has taken `--header-read-timeout`, while other clients are served as before.
#[tokio::test]
async fn a_request_head_that_takes_too_long_loses_its_connection() {
    use std::io::{Read, Write};
    let temp = tempfile::tempdir().expect("a temporary directory");
    let (server, _) = Server::launch(
        &temp.path().join("data"),
        &Launch {
            args: vec!["--header-read-timeout".into(), "1".into()],
            ..Launch::default()
        },
    );
    let address = server.client().address();
    let mut slow = std::net::TcpStream::connect(&address).expect("connects");
    slow.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("a read timeout");
    let began = std::time::Instant::now();
    // A byte of the head every 300 ms: never idle long, never done.
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nX-Slow: ");
    slow.write_all(head.as_bytes())
        .expect("the head's start is sent");
    let mut dripping = true;
    while dripping && began.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(300));
        dripping = slow.write_all(b"a").is_ok();
    }
    let took = began.elapsed();
    assert!(
        !dripping && took < std::time::Duration::from_secs(10),
        "the server still took the head's bytes after {took:?}, with a head timeout of 1 s"
    );
    // Closed, not answered: whatever arrived before the close is no answer to the request.
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "the unfinished request was answered: {}",
        String::from_utf8_lossy(&answer)
    );
    let healthy = server.client().get("/healthz").await;
    assert_eq!(healthy.status, 200, "{}", healthy.text);
}

#[tokio::test]
async fn large_answers_are_compressed_for_clients_that_accept_it_and_small_ones_never() {
    let server = Server::start_demo();
    let client = server.client();
    let gzip = [("accept-encoding", "gzip")];
    let encoding = |reply: &Reply| {
        reply
            .headers
            .get("content-encoding")
            .map(|v| v.to_str().expect("ASCII").to_owned())
    };

    let get = |path: &str| {
        client.send(
            client
                .builder(reqwest::Method::GET, path)
                .header(gzip[0].0, gzip[0].1),
        )
    };
    let plans = get("/api/v1/plans").await;
    assert_eq!(plans.status, 200);
    assert!(
        plans.text.len() < 1024,
        "the plan list is {} bytes",
        plans.text.len()
    );
    assert_eq!(
        encoding(&plans),
        None,
        "a short list is not worth compressing"
    );

    let plan_id = client.get("/api/v1/plans").await.body["plans"][0]["plan_id"].clone();
    let path = format!("/api/v1/plans/{}", plan_id.as_str().expect("the demo plan"));
    let overview = get(&path).await;
    assert_eq!(overview.status, 200);
    assert_eq!(
        encoding(&overview).as_deref(),
        Some("gzip"),
        "the demo plan's overview"
    );
    let plain = client.get(&path).await;
    assert_eq!(
        encoding(&plain),
        None,
        "not compressed for a client that did not ask"
    );
    assert!(
        plain.text.len() >= 1024,
        "the overview is {} bytes",
        plain.text.len()
    );

    let (_, _, action) = plan_with_action(&client).await;
    let command = json!({"type": "record_progress", "action_id": action, "note": "Two newly qualified social workers started", "rag": "green"});
    let answer = client.command_with(&command, &gzip).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        encoding(&answer),
        None,
        "a command's answer is too small to compress"
    );
    assert!(answer.text.len() < 1024, "{}", answer.text);
    assert_eq!(answer.body["events"][0]["type"], "ProgressRecorded");
}

#[tokio::test]
async fn every_documented_route_exists_and_needs_a_token() {
    let server = Server::start();
    let client = server.client();
    let document = client.get("/api/v1/openapi.json").await;
    assert_eq!(document.status, 200);
    let anonymous = client.with_token(None);
    let paths = document.body["paths"].as_object().unwrap();
    assert!(paths.len() >= 17);
    for (path, methods) in paths {
        let concrete = path
            .replace("{plan_id}", &id())
            .replace("{action_id}", &id())
            .replace("{measure_id}", &id())
            .replace("{visit_id}", &id());
        for method in methods.as_object().unwrap().keys() {
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let reply = anonymous
                .send(anonymous.builder(method.clone(), &concrete))
                .await;
            if path.starts_with("/api/v1") {
                assert_problem(&reply, 401);
            } else {
                assert_eq!(reply.status, 200, "{method} {path} without a token");
            }
        }
    }
    let metrics = anonymous.get("/metrics").await;
    assert!(metrics.text.contains("stocktake_http_requests_total"));
    assert!(metrics.text.contains("stocktake_log_events"));
}

#[tokio::test]
async fn a_plan_overview_read_again_at_once_shows_the_change_just_acknowledged() {
    let server = Server::start();
    let client = server.client();
    let (plan, _, action) = plan_with_action(&client).await;
    let path = format!("/api/v1/plans/{plan}");
    let first = client.get(&path).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.headers["content-type"], "application/json",
        "{:?}",
        first.headers
    );
    assert_eq!(first.body["areas"][0]["actions"][0]["rag"], "green");
    // The same question within the second is answered from the serialized overview.
    let again = client.get(&path).await;
    assert_eq!(again.body["areas"], first.body["areas"]);

    let reply = client
        .command(&json!({"type": "change_action_status", "action_id": action, "status": "blocked", "rag": "red", "note": "No applicants"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let after = client.get(&path).await;
    let line = &after.body["areas"][0]["actions"][0];
    assert_eq!(
        (&line["status"], &line["rag"]),
        (&json!("blocked"), &json!("red"))
    );
    assert!(after.body["last_seq"].as_u64() > first.body["last_seq"].as_u64());
}
