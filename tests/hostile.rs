//! Hostile input against one server: a table of bad requests, each with the status it must get.
//! Every answer is `application/problem+json` with `type`, `title`, `status` and `detail`; the
//! log's head is unchanged after every row; the server is still running and answering.

use serde_json::{json, Value};
use stocktake_tests::{assert_problem, Client, Server};
use uuid::Uuid;

fn id() -> String {
    Uuid::now_v7().to_string()
}

/// Who the request claims to be.
#[derive(Debug, Clone)]
enum Auth {
    Director,
    None,
    /// The raw `Authorization` header value, as bytes (may be invalid UTF-8).
    Raw(Vec<u8>),
}

/// One bad request and the status it must get.
#[derive(Debug)]
struct Row {
    name: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
    /// Send the body without a `Content-Length` (chunked), so the limit is met while reading.
    chunked: bool,
    auth: Auth,
    expect: u16,
}

impl Row {
    fn command(name: &'static str, expect: u16, body: impl Into<Vec<u8>>) -> Row {
        Row {
            name,
            method: "POST",
            path: "/api/v1/commands".into(),
            content_type: Some("application/json"),
            headers: Vec::new(),
            body: Some(body.into()),
            chunked: false,
            auth: Auth::Director,
            expect,
        }
    }

    fn json(name: &'static str, expect: u16, body: Value) -> Row {
        Row::command(name, expect, body.to_string())
    }

    fn get(name: &'static str, expect: u16, path: impl Into<String>) -> Row {
        Row {
            name,
            method: "GET",
            path: path.into(),
            content_type: None,
            headers: Vec::new(),
            body: None,
            chunked: false,
            auth: Auth::Director,
            expect,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Row {
        self.headers.push((name, value.into()));
        self
    }

    fn auth(mut self, auth: Auth) -> Row {
        self.auth = auth;
        self
    }

    fn content_type(mut self, content_type: Option<&'static str>) -> Row {
        self.content_type = content_type;
        self
    }

    fn chunked(mut self) -> Row {
        self.chunked = true;
        self
    }

    fn method(mut self, method: &'static str) -> Row {
        self.method = method;
        self
    }
}

fn nested(depth: usize, open: &str, close: &str) -> Vec<u8> {
    let mut body = String::with_capacity(depth * (open.len() + close.len()));
    for _ in 0..depth {
        body.push_str(open);
    }
    for _ in 0..depth {
        body.push_str(close);
    }
    body.into_bytes()
}

/// A plan with an area, an action in progress, one not started, a measure and a keyed command.
struct Fixture {
    plan: String,
    area: String,
    action: String,
    fresh_action: String,
    measure: String,
}

async fn fixture(client: &Client) -> Fixture {
    let fixture = Fixture {
        plan: id(),
        area: id(),
        action: id(),
        fresh_action: id(),
        measure: id(),
    };
    let Fixture {
        plan,
        area,
        action,
        fresh_action,
        measure,
    } = &fixture;
    for command in [
        json!({"type": "create_plan", "plan_id": plan, "title": "Hostile plan", "organisation": "London Borough of Croydon", "effective_at": "2018-01-01"}),
        json!({"type": "add_priority_area", "plan_id": plan, "area_id": area, "number": 4, "title": "Recruitment", "lead": "Head of Workforce", "effective_at": "2018-01-02"}),
        json!({"type": "add_action", "action_id": action, "plan_id": plan, "area_id": area, "title": "Recruit", "owner": "Head of Workforce", "due_on": "2018-10-31", "effective_at": "2018-06-01"}),
        json!({"type": "change_action_status", "action_id": action, "status": "in_progress", "rag": "green", "effective_at": "2018-06-02"}),
        json!({"type": "add_action", "action_id": fresh_action, "plan_id": plan, "area_id": area, "title": "Retain", "owner": "Head of Workforce", "due_on": "2018-12-31", "effective_at": "2018-06-01"}),
        json!({"type": "define_measure", "measure_id": measure, "plan_id": plan, "name": "Average caseload", "unit": "cases per worker", "direction": "lower_is_better", "target": 16, "tolerance": 2}),
    ] {
        let reply = client.command(&command).await;
        assert_eq!(reply.status, 200, "{command}: {}", reply.text);
    }
    let keyed = client
        .command_with(
            &json!({"type": "record_progress", "action_id": action, "note": "Keyed"}),
            &[("Idempotency-Key", "hostile-key-1")],
        )
        .await;
    assert_eq!(keyed.status, 200, "{}", keyed.text);
    fixture
}

fn rows(f: &Fixture, token: &str) -> Vec<Row> {
    let Fixture {
        plan,
        area,
        action,
        fresh_action,
        measure,
    } = f;
    let progress =
        |note: &str| json!({"type": "record_progress", "action_id": action, "note": note});
    let huge = vec![b'x'; 10 * 1024 * 1024];
    let mut huge_json = br#"{"type":"record_progress","action_id":""#.to_vec();
    huge_json.extend_from_slice(action.as_bytes());
    huge_json.extend_from_slice(br#"","note":""#);
    huge_json.extend(std::iter::repeat_n(b'y', 10 * 1024 * 1024));
    huge_json.extend_from_slice(br#""}"#);
    let mut invalid_utf8 = br#"{"type":"record_progress","action_id":""#.to_vec();
    invalid_utf8.extend_from_slice(action.as_bytes());
    invalid_utf8.extend_from_slice(b"\",\"note\":\"caf\xc3\x28 \xff\xfe\"}");
    let mut overlong_utf8 = br#"{"type":"record_progress","action_id":""#.to_vec();
    overlong_utf8.extend_from_slice(action.as_bytes());
    overlong_utf8.extend_from_slice(b"\",\"note\":\"\xc0\xaf\"}");
    let raw = |s: String| s.into_bytes();

    vec![
        // Malformed and truncated JSON.
        Row::command("truncated JSON", 400, r#"{"type": "create_plan","#),
        Row::command("empty body", 400, ""),
        Row::command("only white space", 400, "   \n\t "),
        Row::command("trailing garbage", 400, raw(format!(r#"{{"type":"record_progress","action_id":"{action}","note":"x"}} trailing"#))),
        Row::command("two documents", 400, raw(format!(r#"{{"type":"record_progress","action_id":"{action}","note":"x"}}{{}}"#))),
        Row::command("byte order mark", 400, raw(format!("\u{feff}{{\"type\":\"record_progress\",\"action_id\":\"{action}\",\"note\":\"x\"}}"))),
        Row::command("single quotes", 400, raw(format!("{{'type':'record_progress','action_id':'{action}','note':'x'}}"))),
        Row::command("comment in JSON", 400, raw(format!(r#"{{"type":"record_progress", /* hi */ "action_id":"{action}","note":"x"}}"#))),
        Row::command("trailing comma", 400, raw(format!(r#"{{"type":"record_progress","action_id":"{action}","note":"x",}}"#))),
        Row::command("an array, not an object", 400, "[1, 2, 3]"),
        Row::command("a string, not an object", 400, r#""record_progress""#),
        Row::command("null", 400, "null"),
        // Unknown or missing type and fields.
        Row::json("no type", 400, json!({"action_id": action, "note": "x"})),
        Row::json("type is a number", 400, json!({"type": 7, "action_id": action, "note": "x"})),
        Row::json("type is null", 400, json!({"type": null, "action_id": action, "note": "x"})),
        Row::json("unknown type", 400, json!({"type": "delete_action", "action_id": action})),
        Row::json("event name as command", 400, json!({"type": "ProgressRecorded", "action_id": action, "note": "x"})),
        Row::json("overlong type name", 400, json!({"type": "x".repeat(50_000), "action_id": action})),
        Row::json("unknown field", 400, json!({"type": "record_progress", "action_id": action, "note": "x", "colour": "red"})),
        Row::json("unknown field with __proto__", 400, json!({"type": "record_progress", "action_id": action, "note": "x", "__proto__": {"admin": true}})),
        Row::json("missing field", 400, json!({"type": "rebaseline_action", "action_id": action, "due_on": "2019-01-31"})),
        Row::json("missing id", 400, json!({"type": "record_progress", "note": "x"})),
        // Wrong types.
        Row::json("number as a word", 400, json!({"type": "add_priority_area", "plan_id": plan, "number": "four", "title": "T", "lead": "L"})),
        Row::json("note as a number", 400, json!({"type": "record_progress", "action_id": action, "note": 42})),
        Row::json("note as an object", 400, json!({"type": "record_progress", "action_id": action, "note": {"text": "x"}})),
        Row::json("id as a number", 400, json!({"type": "record_progress", "action_id": 42, "note": "x"})),
        Row::json("id not a UUID", 400, json!({"type": "record_progress", "action_id": "action-42", "note": "x"})),
        Row::json("rag not a colour", 400, json!({"type": "record_progress", "action_id": action, "note": "x", "rag": "purple"})),
        Row::json("status not a status", 400, json!({"type": "change_action_status", "action_id": action, "status": "done", "rag": "green"})),
        Row::json("array for a list of one id", 400, json!({"type": "confirm_impact", "action_id": action, "note": "x", "evidence_ids": "all"})),
        Row::json("boolean for a number", 400, json!({"type": "record_measure", "measure_id": measure, "value": true, "period_end": "2018-03-31", "source": "s"})),
        // Huge and non-finite numbers.
        Row::command("1e400", 400, raw(format!(r#"{{"type":"record_measure","measure_id":"{measure}","value":1e400,"period_end":"2018-03-31","source":"s"}}"#))),
        Row::command("-1e400", 400, raw(format!(r#"{{"type":"record_measure","measure_id":"{measure}","value":-1e400,"period_end":"2018-03-31","source":"s"}}"#))),
        Row::command("2^70 for a u16", 400, raw(format!(r#"{{"type":"add_priority_area","plan_id":"{plan}","number":1180591620717411303424,"title":"T","lead":"L"}}"#))),
        Row::command("65536 for a u16", 400, raw(format!(r#"{{"type":"add_priority_area","plan_id":"{plan}","number":65536,"title":"T","lead":"L"}}"#))),
        Row::command("negative number for a u16", 400, raw(format!(r#"{{"type":"add_priority_area","plan_id":"{plan}","number":-4,"title":"T","lead":"L"}}"#))),
        Row::command("fraction for a u16", 400, raw(format!(r#"{{"type":"add_priority_area","plan_id":"{plan}","number":4.5,"title":"T","lead":"L"}}"#))),
        Row::command("NaN as bare text", 400, raw(format!(r#"{{"type":"record_measure","measure_id":"{measure}","value":NaN,"period_end":"2018-03-31","source":"s"}}"#))),
        Row::command("Infinity as bare text", 400, raw(format!(r#"{{"type":"record_measure","measure_id":"{measure}","value":Infinity,"period_end":"2018-03-31","source":"s"}}"#))),
        Row::json("NaN as a string", 400, json!({"type": "record_measure", "measure_id": measure, "value": "NaN", "period_end": "2018-03-31", "source": "s"})),
        Row::command("2^64 expected_version", 400, raw(format!(r#"{{"type":"record_progress","action_id":"{action}","note":"x","expected_version":18446744073709551616}}"#))),
        Row::json("negative expected_version", 400, json!({"type": "record_progress", "action_id": action, "note": "x", "expected_version": -1})),
        Row::json("expected_version as text", 400, json!({"type": "record_progress", "action_id": action, "note": "x", "expected_version": "3"})),
        // Deep nesting: refused at parse time, and the server stays up.
        Row::command("10,000 nested arrays", 400, nested(10_000, "[", "]")),
        Row::command("10,000 nested objects", 400, nested(10_000, r#"{"a":"#, "}")),
        Row::command("10,000 nested arrays in a field", 400, {
            let mut body = format!(r#"{{"type":"record_progress","action_id":"{action}","note":"#).into_bytes();
            body.extend(nested(10_000, "[", "]"));
            body.push(b'}');
            body
        }),
        Row::command("30,000 open brackets, never closed", 400, vec![b'['; 30_000]),
        // Bodies too large.
        Row::command("10 MB of bytes", 413, huge),
        Row::command("10 MB JSON note", 413, huge_json.clone()),
        Row::command("10 MB chunked", 413, huge_json).chunked(),
        // Invalid UTF-8.
        Row::command("invalid UTF-8 in a string", 400, invalid_utf8),
        Row::command("overlong UTF-8 encoding", 400, overlong_utf8),
        Row::command("lone surrogate escape", 400, raw(format!(r#"{{"type":"record_progress","action_id":"{action}","note":"\ud800"}}"#))),
        // Dates and times.
        Row::json("date in the wrong format", 400, json!({"type": "rebaseline_action", "action_id": action, "due_on": "31/12/2019", "reason": "x"})),
        Row::json("30 February", 400, json!({"type": "rebaseline_action", "action_id": action, "due_on": "2019-02-30", "reason": "x"})),
        Row::json("year 275760", 400, json!({"type": "rebaseline_action", "action_id": action, "due_on": "+275760-09-13", "reason": "x"})),
        Row::json("date as a number", 400, json!({"type": "rebaseline_action", "action_id": action, "due_on": 20191231, "reason": "x"})),
        Row::json("effective_at in the future", 422, json!({"type": "record_progress", "action_id": action, "note": "x", "effective_at": "2999-01-01"})),
        Row::json("effective_at far future", 422, json!({"type": "record_progress", "action_id": action, "note": "x", "effective_at": "9999-12-31T23:59:59Z"})),
        Row::json("effective_at before the stream's latest event", 422, json!({"type": "record_progress", "action_id": action, "note": "x", "effective_at": "2017-01-01"})),
        Row::json("effective_at a word", 400, json!({"type": "record_progress", "action_id": action, "note": "x", "effective_at": "yesterday"})),
        Row::json("effective_at a number", 400, json!({"type": "record_progress", "action_id": action, "note": "x", "effective_at": 1_700_000_000})),
        Row::json("effective_at with a bad offset", 400, json!({"type": "record_progress", "action_id": action, "note": "x", "effective_at": "2019-01-01T00:00:00+25:00"})),
        Row::json("start after due", 422, json!({"type": "add_action", "plan_id": plan, "area_id": area, "title": "T", "owner": "O", "start_on": "2019-01-01", "due_on": "2018-01-01"})),
        // Unknown ids, and ids of the wrong kind.
        Row::json("unknown action", 404, json!({"type": "record_progress", "action_id": id(), "note": "x"})),
        Row::json("unknown plan for a new action", 404, json!({"type": "add_action", "plan_id": id(), "area_id": area, "title": "T", "owner": "O", "due_on": "2019-01-01"})),
        Row::json("unknown area", 422, json!({"type": "add_action", "plan_id": plan, "area_id": id(), "title": "T", "owner": "O", "due_on": "2019-01-01"})),
        Row::json("action id given as a plan id", 404, json!({"type": "add_priority_area", "plan_id": action, "number": 5, "title": "T", "lead": "L"})),
        Row::json("plan id given as an action id", 404, json!({"type": "record_progress", "action_id": plan, "note": "x"})),
        Row::json("measure id given as an action id", 404, json!({"type": "record_progress", "action_id": measure, "note": "x"})),
        Row::json("plan id given as a measure id", 404, json!({"type": "record_measure", "measure_id": plan, "value": 1, "period_end": "2018-03-31", "source": "s"})),
        Row::json("the nil UUID", 404, json!({"type": "record_progress", "action_id": "00000000-0000-0000-0000-000000000000", "note": "x"})),
        Row::json("an existing plan created again", 409, json!({"type": "create_plan", "plan_id": plan, "title": "T", "organisation": "O"})),
        Row::json("an existing action id for a new action", 409, json!({"type": "add_action", "action_id": action, "plan_id": plan, "area_id": area, "title": "T", "owner": "O", "due_on": "2019-01-01"})),
        Row::json("a plan id for a new action", 409, json!({"type": "add_action", "action_id": plan, "plan_id": plan, "area_id": area, "title": "T", "owner": "O", "due_on": "2019-01-01"})),
        Row::get("unknown plan", 404, format!("/api/v1/plans/{}", id())),
        Row::get("action id as a plan", 404, format!("/api/v1/plans/{action}")),
        Row::get("plan id as an action", 404, format!("/api/v1/actions/{plan}")),
        Row::get("plan id as a measure", 404, format!("/api/v1/measures/{plan}")),
        Row::get("plan id as a visit", 404, format!("/api/v1/visits/{plan}")),
        Row::get("path id not a UUID", 404, "/api/v1/plans/42"),
        Row::get("path id 10,000 characters", 404, format!("/api/v1/actions/{}", "a".repeat(10_000))),
        Row::get("path id with encoded invalid UTF-8", 400, "/api/v1/plans/%FF%FE"),
        Row::get("path id with an encoded NUL", 404, "/api/v1/plans/%00"),
        Row::get("path traversal", 404, "/api/v1/plans/..%2F..%2Fetc%2Fpasswd"),
        Row::get("no such route", 404, "/api/v1/admin"),
        // Forbidden transitions and other rules.
        Row::json("reopen an open action", 422, json!({"type": "reopen_action", "action_id": action, "reason": "x"})),
        Row::json("complete an action never started", 422, json!({"type": "change_action_status", "action_id": fresh_action, "status": "completed", "note": "x"})),
        Row::json("to the status it has", 422, json!({"type": "change_action_status", "action_id": action, "status": "in_progress", "rag": "green"})),
        Row::json("blocked without a RAG", 422, json!({"type": "change_action_status", "action_id": action, "status": "blocked"})),
        Row::json("completed without a note", 422, json!({"type": "change_action_status", "action_id": action, "status": "completed"})),
        Row::json("back to not started", 422, json!({"type": "change_action_status", "action_id": action, "status": "not_started"})),
        Row::json("impact on an open action", 422, json!({"type": "confirm_impact", "action_id": action, "note": "x"})),
        Row::json("rebaseline to the same date", 422, json!({"type": "rebaseline_action", "action_id": action, "due_on": "2018-10-31", "reason": "x"})),
        Row::json("priority area number 0", 422, json!({"type": "add_priority_area", "plan_id": plan, "number": 0, "title": "T", "lead": "L"})),
        Row::json("priority area number taken", 422, json!({"type": "add_priority_area", "plan_id": plan, "number": 4, "title": "T", "lead": "L"})),
        Row::json("negative tolerance", 422, json!({"type": "define_measure", "plan_id": plan, "name": "N", "unit": "u", "direction": "lower_is_better", "target": 1, "tolerance": -1})),
        // Overlong and empty text: validated values are refused as they are read, naming the
        // field and the limit.
        Row::json("title of 201 characters", 400, json!({"type": "add_action", "plan_id": plan, "area_id": area, "title": "t".repeat(201), "owner": "O", "due_on": "2019-01-01"})),
        Row::json("note of 4,001 characters", 400, progress(&"n".repeat(4001))),
        Row::json("note of 60,000 characters", 400, progress(&"n".repeat(60_000))),
        Row::json("owner of 121 characters", 400, json!({"type": "assign_action_owner", "action_id": action, "owner": "o".repeat(121)})),
        Row::json("title over two lines", 400, json!({"type": "add_action", "plan_id": plan, "area_id": area, "title": "Line one\nline two", "owner": "O", "due_on": "2019-01-01"})),
        Row::json("empty note", 400, progress("")),
        Row::json("note of white space", 400, progress(" \n\t ")),
        // Header abuse.
        Row::json("If-Match a word", 400, progress("x")).header("If-Match", "yesterday"),
        Row::json("If-Match empty", 400, progress("x")).header("If-Match", ""),
        Row::json("If-Match beyond u64", 400, progress("x")).header("If-Match", "\"18446744073709551616\""),
        Row::json("If-Match negative", 400, progress("x")).header("If-Match", "\"-1\""),
        Row::json("If-Match invalid UTF-8", 400, progress("x")).header("If-Match", b"\"\xff\"".to_vec()),
        Row::json("If-Match stale", 409, progress("x")).header("If-Match", "\"1\""),
        Row::json("If-Match ahead", 409, progress("x")).header("If-Match", "\"999\""),
        Row::json("If-Match on an unknown action", 404, json!({"type": "record_progress", "action_id": id(), "note": "x"})).header("If-Match", "\"3\""),
        Row::json("If-Match against expected_version", 400, json!({"type": "record_progress", "action_id": action, "note": "x", "expected_version": 2})).header("If-Match", "\"3\""),
        Row::json("Idempotency-Key of 201 characters", 400, progress("x")).header("Idempotency-Key", "k".repeat(201)),
        Row::json("Idempotency-Key of 6,000 characters", 400, progress("x")).header("Idempotency-Key", "k".repeat(6_000)),
        Row::json("Idempotency-Key empty", 400, progress("x")).header("Idempotency-Key", ""),
        Row::json("Idempotency-Key with a space", 400, progress("x")).header("Idempotency-Key", "board item 4"),
        Row::json("Idempotency-Key invalid UTF-8", 400, progress("x")).header("Idempotency-Key", b"key-\xff\xfe".to_vec()),
        Row::json("Idempotency-Key reused for another body", 422, progress("Another body")).header("Idempotency-Key", "hostile-key-1"),
        Row::json("no Authorization", 401, progress("x")).auth(Auth::None),
        Row::json("Bearer and nothing", 401, progress("x")).auth(Auth::Raw(b"Bearer ".to_vec())),
        Row::json("Basic credentials", 401, progress("x")).auth(Auth::Raw(b"Basic ZGlyZWN0b3I6cGFzc3dvcmQ=".to_vec())),
        Row::json("the token without a scheme", 401, progress("x")).auth(Auth::Raw(token.as_bytes().to_vec())),
        Row::json("the token with a byte more", 401, progress("x")).auth(Auth::Raw(format!("Bearer {token}x").into_bytes())),
        Row::json("the token one byte short", 401, progress("x")).auth(Auth::Raw(format!("Bearer {}", &token[..token.len() - 1]).into_bytes())),
        Row::json("garbled Authorization bytes", 401, progress("x")).auth(Auth::Raw(b"Bearer \xff\xfe\xfd".to_vec())),
        Row::json("a 6,000-byte token", 401, progress("x")).auth(Auth::Raw(format!("Bearer {}", "s".repeat(6_000)).into_bytes())),
        Row::get("no Authorization on a read", 401, format!("/api/v1/plans/{plan}")).auth(Auth::None),
        Row::get("garbled Authorization on a read", 401, "/api/v1/events").auth(Auth::Raw(b"Bearer \x80\x81\xfe".to_vec())),
        Row::json("content type text/plain", 415, progress("x")).content_type(Some("text/plain")),
        Row::json("content type form", 415, progress("x")).content_type(Some("application/x-www-form-urlencoded")),
        Row::json("no content type", 415, progress("x")).content_type(None),
        Row::json("content type garbled", 415, progress("x")).content_type(Some("applicaton/jsn")),
        // Query parameters.
        Row::get("limit a word", 400, "/api/v1/events?limit=many"),
        Row::get("limit 0", 400, "/api/v1/events?limit=0"),
        Row::get("limit above the maximum", 400, "/api/v1/events?limit=1001"),
        Row::get("after negative", 400, "/api/v1/events?after=-1"),
        Row::get("after beyond u64", 400, "/api/v1/events?after=18446744073709551616"),
        Row::get("as_of a word", 400, format!("/api/v1/plans/{plan}?as_of=yesterday")),
        Row::get("known_at 30 February", 400, format!("/api/v1/plans/{plan}?known_at=2019-02-30")),
        Row::get("query with invalid UTF-8", 400, format!("/api/v1/plans/{plan}?as_of=%FF")),
        Row::get("since after until", 400, format!("/api/v1/plans/{plan}/changes?since=2019-01-01&until=2018-01-01")),
        Row::get("since after as_of", 400, format!("/api/v1/plans/{plan}/changes?since=2019-01-01&as_of=2018-01-01")),
        Row::get("as_of misspelt", 400, format!("/api/v1/plans/{plan}?asof=2018-01-01")),
        Row::get("a parameter no route takes", 400, format!("/api/v1/actions/{action}?colour=red")),
        Row::get("as_of on verify", 400, "/api/v1/verify?as_of=2018-01-01"),
        Row::get("known_at on verify a word", 400, "/api/v1/verify?known_at=yesterday"),
        Row::get("Last-Event-ID a word", 400, "/api/v1/events/stream").header("Last-Event-ID", "latest"),
        // Methods.
        Row::get("DELETE a plan", 405, format!("/api/v1/plans/{plan}")).method("DELETE"),
        Row::get("PUT an action", 405, format!("/api/v1/actions/{action}")).method("PUT"),
        Row::get("GET the command route", 405, "/api/v1/commands"),
    ]
}

fn request(http: &reqwest::Client, client: &Client, row: &Row) -> reqwest::RequestBuilder {
    let method: reqwest::Method = row.method.parse().expect("a method");
    let mut builder = http.request(method, format!("{}{}", client.base, row.path));
    match &row.auth {
        Auth::Director => {
            builder = builder.bearer_auth(client.token.as_deref().expect("a token"));
        }
        Auth::None => {}
        Auth::Raw(bytes) => {
            let value = reqwest::header::HeaderValue::from_bytes(bytes).expect("a header value");
            builder = builder.header("authorization", value);
        }
    }
    if let Some(content_type) = row.content_type {
        builder = builder.header("content-type", content_type);
    }
    for (name, value) in &row.headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
        builder = builder.header(*name, value);
    }
    if let Some(body) = &row.body {
        builder = if row.chunked {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
            builder.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
        } else {
            builder.body(body.clone())
        };
    }
    builder
}

async fn send(client: &Client, row: &Row) -> stocktake_tests::Reply {
    if row.body.as_ref().is_some_and(|b| b.len() > 1024 * 1024) {
        let (base, token) = (client.base.clone(), client.token.clone().expect("a token"));
        let (path, body, chunked) = (
            row.path.clone(),
            row.body.clone().unwrap_or_default(),
            row.chunked,
        );
        return tokio::task::spawn_blocking(move || {
            send_large(&base, &token, &path, &body, chunked)
        })
        .await
        .expect("the large request");
    }
    let response = request(&client.http, client, row)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: no answer: {e}", row.name));
    read(response).await
}

/// A large body over a plain socket with `Expect: 100-continue`: the server may refuse it from
/// its headers alone, before any of the body is sent. When it asks for the body, a second
/// thread writes it while this one reads the answer, so an early 413 (answered before the
/// whole body is read) is still seen.
fn send_large(
    base: &str,
    token: &str,
    path: &str,
    body: &[u8],
    chunked: bool,
) -> stocktake_tests::Reply {
    use std::io::{Read, Write};
    let address = base.strip_prefix("http://").expect("an http base");
    let mut stream = std::net::TcpStream::connect(address).expect("connects");
    let length = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nExpect: 100-continue\r\n{length}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("the head is sent");
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let mut writer = None;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
        if writer.is_none() && received.starts_with(b"HTTP/1.1 100") {
            if let Some(end) = find(&received, b"\r\n\r\n") {
                received.drain(..end + 4);
                let mut out = stream.try_clone().expect("a second handle");
                let body = body.to_vec();
                writer = Some(std::thread::spawn(move || {
                    for chunk in body.chunks(64 * 1024) {
                        let written = if chunked {
                            out.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                                .and_then(|()| out.write_all(chunk))
                                .and_then(|()| out.write_all(b"\r\n"))
                        } else {
                            out.write_all(chunk)
                        };
                        if written.is_err() {
                            return;
                        }
                    }
                    if chunked {
                        let _ = out.write_all(b"0\r\n\r\n");
                    }
                }));
            }
        }
    }
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer to a large body on {path}: {text:?}"));
    let mut headers = reqwest::header::HeaderMap::new();
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()),
                reqwest::header::HeaderValue::from_str(value.trim()),
            ) {
                headers.insert(name, value);
            }
        }
    }
    stocktake_tests::Reply {
        status,
        headers,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
        text: body.to_owned(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn read(response: reqwest::Response) -> stocktake_tests::Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    stocktake_tests::Reply {
        status,
        headers,
        body,
        text,
    }
}

#[tokio::test]
async fn every_bad_request_gets_its_status_and_a_problem_and_changes_nothing() {
    let mut server = Server::start();
    let client = server.client();
    let fixture = fixture(&client).await;
    let head = client.head().await;
    let rows = rows(&fixture, &server.token);
    let mut failures = Vec::new();
    for row in &rows {
        let reply = send(&client, row).await;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_problem(&reply, row.expect)
        }));
        if outcome.is_err() {
            failures.push(format!(
                "{}: expected {}, got {} {}",
                row.name,
                row.expect,
                reply.status,
                reply.text.chars().take(300).collect::<String>()
            ));
        }
        assert!(server.is_running(), "the server died on row `{}`", row.name);
        let now = client.head().await;
        assert_eq!(now, head, "row `{}` appended to the log", row.name);
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    // Still answering, and a good command still lands after all that.
    let good = client
        .command(
            &json!({"type": "record_progress", "action_id": fixture.action, "note": "Still here"}),
        )
        .await;
    assert_eq!(good.status, 200, "{}", good.text);
    let verify = client.get("/api/v1/verify").await;
    assert_eq!(verify.body["ok"], true);
    eprintln!("hostile: {} rows, all refused as documented", rows.len());
}

#[tokio::test]
async fn refusals_of_a_command_name_the_field_they_are_about() {
    let server = Server::start();
    let client = server.client();
    let f = fixture(&client).await;
    let head = client.head().await;
    let unknown = id();
    let cases = [
        (
            json!({"type": "record_progress", "action_id": unknown, "note": "x"}),
            404,
            "action_id",
            format!("no action with id {unknown}"),
        ),
        (
            json!({"type": "add_action", "action_id": f.action, "plan_id": f.plan, "area_id": f.area, "title": "T", "owner": "O", "due_on": "2019-01-01"}),
            409,
            "action_id",
            format!("an action with id {} already exists", f.action),
        ),
        (
            json!({"type": "create_plan", "plan_id": f.action, "title": "T", "organisation": "O"}),
            409,
            "plan_id",
            format!(
                "the id {} is already in use by something other than a plan",
                f.action
            ),
        ),
    ];
    for (command, status, field, message) in cases {
        let reply = client.command(&command).await;
        assert_problem(&reply, status);
        assert_eq!(
            reply.body["errors"],
            json!([{"field": field, "message": message}]),
            "{command}"
        );
        assert_eq!(reply.body["detail"], format!("{field}: {message}"));
    }
    assert_eq!(client.head().await, head);
}

/// A body cut short of its `Content-Length` is a bad request, not one too large.
#[tokio::test]
async fn a_body_shorter_than_its_length_is_a_bad_request() {
    use std::io::{Read, Write};
    let server = Server::start();
    let client = server.client();
    let head = client.head().await;
    let address = client.address();
    let mut stream = std::net::TcpStream::connect(&address).expect("connects");
    let body = br#"{"type":"record_progress""#;
    let request = format!(
        "POST /api/v1/commands HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        server.token,
        body.len() + 100
    );
    stream
        .write_all(request.as_bytes())
        .expect("the head is sent");
    stream.write_all(body).expect("part of the body is sent");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("the rest never comes");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains(r#""field":"body""#), "{answer}");
    assert_eq!(client.head().await, head);
}

/// `as_of` on the changes is the end of the window when `until` is left out; any parameter a
/// route does not take is refused by name.
#[tokio::test]
async fn query_parameters_are_the_documented_ones() {
    let server = Server::start();
    let client = server.client();
    let f = fixture(&client).await;
    let changes =
        |query: &str| format!("/api/v1/plans/{}/changes?since=2017-01-01&{query}", f.plan);
    let by_as_of = client.get(&changes("as_of=2018-06-30")).await;
    let by_until = client.get(&changes("until=2018-06-30")).await;
    assert_eq!(by_as_of.status, 200, "{}", by_as_of.text);
    assert_eq!(by_as_of.body["changes"], by_until.body["changes"]);
    let now = client.get(&changes("")).await;
    assert_ne!(
        by_as_of.body["changes"], now.body["changes"],
        "the fixture changed after mid-2018"
    );

    let misspelt = client
        .get(&format!("/api/v1/plans/{}?asof=2018-06-30", f.plan))
        .await;
    assert_problem(&misspelt, 400);
    assert_eq!(misspelt.body["errors"][0]["field"], "asof");
    let message = misspelt.body["errors"][0]["message"]
        .as_str()
        .expect("a message");
    assert!(
        message.contains("this route takes as_of, known_at"),
        "{message}"
    );
    let on_verify = client.get("/api/v1/verify?as_of=2018-06-30").await;
    assert_problem(&on_verify, 400);
    let message = on_verify.body["errors"][0]["message"]
        .as_str()
        .expect("a message");
    assert!(message.contains("this route takes known_at"), "{message}");

    // The log as it stood, and what had taken effect: pages of the events recorded by
    // `known_at`, or effective by `as_of`, in order, paged by `next_after`.
    let all = stocktake_tests::all_events(&client).await;
    for (param, field) in [("known_at", "recorded_at"), ("as_of", "effective_at")] {
        let cut: &str = all[all.len() / 2][field].as_str().expect("a time");
        let at = time_of(&all[all.len() / 2], field);
        let expected: Vec<u64> = all
            .iter()
            .filter(|e| time_of(e, field) <= at)
            .map(|e| e["seq"].as_u64().expect("a seq"))
            .collect();
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let page = client
                .get(&format!(
                    "/api/v1/events?after={after}&limit=3&{param}={cut}"
                ))
                .await;
            assert_eq!(page.status, 200, "{}", page.text);
            let events = page.body["events"].as_array().expect("events");
            seen.extend(events.iter().map(|e| e["seq"].as_u64().expect("a seq")));
            let next = page.body["next_after"].as_u64().expect("next_after");
            if next == after {
                break;
            }
            after = next;
        }
        assert_eq!(seen, expected, "{param}={cut}");
        assert!(
            !expected.is_empty() && expected.len() < all.len(),
            "{param} cuts the log"
        );
    }

    // The chain as it stood: its events before the first recorded after then, and the head
    // hash after the last of them.
    let middle = &all[all.len() / 2];
    let stood = client
        .get(&format!(
            "/api/v1/verify?known_at={}",
            middle["recorded_at"].as_str().expect("a time")
        ))
        .await;
    assert_eq!(stood.status, 200, "{}", stood.text);
    let prefix = all
        .iter()
        .take_while(|e| time_of(e, "recorded_at") <= time_of(middle, "recorded_at"))
        .count();
    assert_eq!(stood.body["ok"], true);
    assert_eq!(stood.body["events"], prefix as u64);
    assert_eq!(stood.body["head_hash"], all[prefix - 1]["hash"]);
    let before = client.get("/api/v1/verify?known_at=2000-01-01").await;
    assert_eq!(before.body["events"], 0);
    assert_eq!(before.body["head_hash"], "0".repeat(64));
}

fn time_of(event: &Value, field: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(event[field].as_str().expect("a time")).expect("RFC 3339")
}
