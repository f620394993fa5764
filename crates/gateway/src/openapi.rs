//! The OpenAPI 3 description of the API, served at `/api/v1/openapi.json`.
//!
//! Written by hand beside the routes; a test checks that every documented route exists and
//! every route is documented.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::http::auth::Caller;

mod commands;

/// Every route of [`crate::app`], as (method, OpenAPI path).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/commands"),
    ("get", "/api/v1/plans"),
    ("get", "/api/v1/plans/{plan_id}"),
    ("get", "/api/v1/plans/{plan_id}/changes"),
    ("get", "/api/v1/plans/{plan_id}/drift"),
    ("get", "/api/v1/plans/{plan_id}/activity"),
    ("get", "/api/v1/plans/{plan_id}/measures"),
    ("get", "/api/v1/plans/{plan_id}/visits"),
    ("get", "/api/v1/actions/{action_id}"),
    ("get", "/api/v1/actions/{action_id}/history"),
    ("get", "/api/v1/measures/{measure_id}"),
    ("get", "/api/v1/visits/{visit_id}"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/events/stream"),
    ("get", "/api/v1/verify"),
    ("get", "/healthz"),
    ("get", "/metrics"),
];

pub async fn serve(_: Caller) -> Response {
    Json(document()).into_response()
}

/// The query parameters each `GET` route of the document takes, by route pattern: what the
/// server accepts, so that the document and the server cannot disagree.
pub fn query_parameters() -> &'static HashMap<String, Vec<String>> {
    static TAKEN: LazyLock<HashMap<String, Vec<String>>> = LazyLock::new(|| {
        let document = document();
        let mut taken = HashMap::new();
        let Some(paths) = document["paths"].as_object() else {
            return taken;
        };
        for (route, item) in paths {
            let names = item["get"]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            taken.insert(route.clone(), names);
        }
        taken
    });
    &TAKEN
}

fn moment_params() -> Value {
    json!([
        {"name": "as_of", "in": "query", "required": false, "description": "What was true then: an effective time (YYYY-MM-DD means the end of that day, or RFC 3339).", "schema": time_schema()},
        {"name": "known_at", "in": "query", "required": false, "description": "What Stocktake knew then: a recorded time (YYYY-MM-DD or RFC 3339).", "schema": time_schema()}
    ])
}

/// `{"<list>": [{"<id>": uuid, ...}, ...]}`: a list whose ids links follow.
fn list_of(list: &str, id: &str) -> Value {
    let item = json!({"type": "object", "required": [id], "properties": {id: {"type": "string", "format": "uuid"}}});
    json!({"type": "object", "required": [list], "properties": {list: {"type": "array", "items": item}}})
}

/// A date (`YYYY-MM-DD`) or an RFC 3339 time.
fn time_schema() -> Value {
    json!({"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]})
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}})
}

fn problems(statuses: &[&str]) -> Value {
    let mut responses = serde_json::Map::new();
    for status in statuses {
        responses.insert(
            (*status).to_owned(),
            json!({"description": "A problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
        );
    }
    Value::Object(responses)
}

fn read(summary: &str, params: Value, schema: Value, errors: &[&str]) -> Value {
    let mut responses = problems(errors);
    responses["200"] =
        json!({"description": "OK", "content": {"application/json": {"schema": schema}}});
    json!({"get": {"summary": summary, "parameters": params, "responses": responses, "security": [{"bearer": []}]}})
}

/// `GET /api/v1/actions/{action_id}`, whose answer carries the version to send as `If-Match`.
fn one_action(errors: &[&str]) -> Value {
    let mut one = read(
        "One action",
        with(json!([path_param("action_id")]), moment_params()),
        json!({"$ref": "#/components/schemas/ActionDetail"}),
        errors,
    );
    one["get"]["responses"]["200"]["headers"] = json!({"ETag": {
        "description": "The action's stream version, quoted: send it as If-Match.",
        "schema": {"type": "string"}
    }});
    one
}

/// `as_of` and `known_at` as filters of the log's own routes: the events they let in.
fn log_filter_params() -> Value {
    json!([
        {"name": "as_of", "in": "query", "required": false, "schema": time_schema(), "description": "Only events effective by then."},
        {"name": "known_at", "in": "query", "required": false, "schema": time_schema(), "description": "Only events recorded by then: the log as it stood."}
    ])
}

fn with(mut params: Value, more: Value) -> Value {
    params
        .as_array_mut()
        .expect("parameters are a list")
        .extend(
            more.as_array()
                .expect("parameters are a list")
                .iter()
                .cloned(),
        );
    params
}

pub fn document() -> Value {
    let object = json!({"type": "object"});
    let mut doc = base_document(object);
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("components.schemas is an object");
    schemas.extend(commands::schemas());
    for (method, path, operation_id) in OPERATION_IDS {
        doc["paths"][*path][*method]["operationId"] = (*operation_id).into();
    }
    for (from, pointer, parameter, targets) in LINKS {
        let (method, path, _) = OPERATION_IDS
            .iter()
            .find(|(_, _, id)| id == from)
            .expect("links start from a named operation");
        let links: serde_json::Map<String, Value> = targets
            .iter()
            .map(|target| {
                let link = json!({"operationId": target, "parameters": {*parameter: format!("$response.body#{pointer}")}});
                ((*target).to_owned(), link)
            })
            .collect();
        doc["paths"][*path][*method]["responses"]["200"]["links"] = Value::Object(links);
    }
    doc
}

/// A name for every operation, so links can point at them.
const OPERATION_IDS: &[(&str, &str, &str)] = &[
    ("get", "/api/v1/openapi.json", "getOpenApi"),
    ("post", "/api/v1/commands", "giveCommand"),
    ("get", "/api/v1/plans", "listPlans"),
    ("get", "/api/v1/plans/{plan_id}", "getPlan"),
    ("get", "/api/v1/plans/{plan_id}/changes", "getPlanChanges"),
    ("get", "/api/v1/plans/{plan_id}/drift", "getPlanDrift"),
    ("get", "/api/v1/plans/{plan_id}/activity", "getPlanActivity"),
    ("get", "/api/v1/plans/{plan_id}/measures", "getPlanMeasures"),
    ("get", "/api/v1/plans/{plan_id}/visits", "getPlanVisits"),
    ("get", "/api/v1/actions/{action_id}", "getAction"),
    (
        "get",
        "/api/v1/actions/{action_id}/history",
        "getActionHistory",
    ),
    ("get", "/api/v1/measures/{measure_id}", "getMeasure"),
    ("get", "/api/v1/visits/{visit_id}", "getVisit"),
    ("get", "/api/v1/events", "listEvents"),
    ("get", "/api/v1/events/stream", "streamEvents"),
    ("get", "/api/v1/verify", "verify"),
    ("get", "/healthz", "health"),
    ("get", "/metrics", "metrics"),
];

/// Where a response names ids that other operations take: (from, JSON pointer, parameter, to).
const LINKS: &[(&str, &str, &str, &[&str])] = &[
    (
        "listPlans",
        "/plans/0/plan_id",
        "plan_id",
        &[
            "getPlan",
            "getPlanChanges",
            "getPlanDrift",
            "getPlanActivity",
            "getPlanMeasures",
            "getPlanVisits",
        ],
    ),
    (
        "getPlan",
        "/areas/0/actions/0/action_id",
        "action_id",
        &["getAction", "getActionHistory"],
    ),
    (
        "getPlanMeasures",
        "/measures/0/measure_id",
        "measure_id",
        &["getMeasure"],
    ),
    (
        "getPlanVisits",
        "/visits/0/visit_id",
        "visit_id",
        &["getVisit"],
    ),
];

fn base_document(object: Value) -> Value {
    let auth_errors = ["400", "401", "404"];
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Stocktake",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Improvement plans as an event log: commands in, bitemporal read models out. See docs/API.md and docs/EVENTS.md."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "current_version": {"type": "integer"},
                        "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
                    }
                },
                                "CommandResult": {
                    "type": "object",
                    "required": ["stream_id", "version", "events", "head_hash"],
                    "properties": {
                        "stream_id": {"type": "string", "format": "uuid"},
                        "stream_type": {"type": "string"},
                        "version": {"type": "integer"},
                        "head_hash": {"type": "string"},
                        "created": {"type": "object", "description": "What the command created, by its id's field (e.g. `finding_id`); absent for commands that create nothing.",
                            "additionalProperties": {"type": "string", "format": "uuid"}, "minProperties": 1, "maxProperties": 1},
                        "events": {"type": "array", "items": {"type": "object", "required": ["seq", "event_id", "type"],
                            "properties": {"seq": {"type": "integer"}, "event_id": {"type": "string", "format": "uuid"}, "type": {"type": "string"}}}}
                    }
                },
                "PlanOverview": {
                    "type": "object",
                    "required": ["plan_id", "title", "organisation", "areas", "counts"],
                    "properties": {
                        "plan_id": {"type": "string", "format": "uuid"},
                        "title": {"type": "string"},
                        "organisation": {"type": "string"},
                        "areas": {"type": "array", "items": {"type": "object", "required": ["area_id", "number", "title", "actions"],
                            "properties": {"actions": {"type": "array", "items": {"$ref": "#/components/schemas/ActionSummary"}}}}},
                        "counts": {"type": "object"}
                    }
                },
                "ActionDetail": {
                    "description": "An action's line as in the overview, and more.",
                    "allOf": [
                        {"$ref": "#/components/schemas/ActionSummary"},
                        {"type": "object", "required": ["plan_id", "evidence"], "properties": {
                            "plan_id": {"type": "string", "format": "uuid"},
                            "description": {"type": "string", "nullable": true},
                            "partner_contribution": {"type": "string", "nullable": true},
                            "evidence": {"type": "array", "description": "In the order attached.", "items": {"type": "object", "required": ["evidence_id", "title"], "properties": {
                                "evidence_id": {"type": "string", "format": "uuid"},
                                "title": {"type": "string"},
                                "reference": {"type": "string", "nullable": true}}}}}}
                    ]
                },
                "ActionSummary": {
                    "type": "object",
                    "required": ["action_id", "title", "owner", "status", "due_on", "overdue"],
                    "properties": {
                        "action_id": {"type": "string", "format": "uuid"},
                        "title": {"type": "string"},
                        "owner": {"type": "string"},
                        "status": {"type": "string", "enum": ["not_started", "in_progress", "blocked", "completed", "cancelled"]},
                        "rag": {"type": "string", "nullable": true, "enum": ["red", "amber", "green", "blue", null]},
                        "due_on": {"type": "string", "format": "date"},
                        "overdue": {"type": "boolean"},
                        "version": {"type": "integer"}
                    }
                },
                "History": {
                    "type": "object",
                    "required": ["entries"],
                    "properties": {"entries": {"type": "array", "items": {"type": "object",
                        "required": ["seq", "version", "type", "recorded_at", "effective_at", "actor", "data"]}}}
                },
                "EventPage": {
                    "type": "object",
                    "required": ["events", "next_after"],
                    "properties": {"events": {"type": "array", "items": {"type": "object"}}, "next_after": {"type": "integer"}}
                },
                "Verification": {
                    "type": "object",
                    "required": ["ok", "events", "head_hash"],
                    "properties": {"ok": {"type": "boolean"}, "events": {"type": "integer"}, "head_hash": {"type": "string"},
                        "first_bad_seq": {"type": "integer"}, "problem": {"type": "string"}}
                }
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/openapi.json": read("This document", json!([]), object.clone(), &["401"]),
            "/api/v1/commands": {"post": {
                "summary": "Give a command",
                "parameters": [
                    {"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"}, "description": "The expected stream version, e.g. \"3\"."},
                    {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 200}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Command"}}}},
                "responses": {
                    "200": {"description": "Recorded and durable", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CommandResult"}}},
                        "headers": {
                            "ETag": {"description": "The stream's version after the command, quoted.", "schema": {"type": "string"}},
                            "Idempotent-Replayed": {"description": "`true` when this is the first response to the same Idempotency-Key and body, replayed; nothing was appended.", "schema": {"type": "string", "enum": ["true"]}}}},
                    "400": problems(&["400"])["400"], "401": problems(&["401"])["401"], "403": problems(&["403"])["403"],
                    "404": problems(&["404"])["404"], "409": problems(&["409"])["409"], "413": problems(&["413"])["413"], "415": problems(&["415"])["415"],
                    "422": problems(&["422"])["422"], "503": problems(&["503"])["503"]
                },
                "security": [{"bearer": []}]
            }},
            "/api/v1/plans": read("Every plan with its counts", moment_params(), list_of("plans", "plan_id"), &["400", "401"]),
            "/api/v1/plans/{plan_id}": read("The plan overview", with(json!([path_param("plan_id")]), moment_params()), json!({"$ref": "#/components/schemas/PlanOverview"}), &auth_errors),
            "/api/v1/plans/{plan_id}/changes": read("What changed between two times",
                with(json!([path_param("plan_id"),
                    {"name": "since", "in": "query", "required": true, "schema": time_schema(), "description": "The start of the window (a date means the start of that day); not after `until`."},
                    {"name": "until", "in": "query", "required": false, "schema": time_schema(), "description": "The end of the window (a date means the end of that day); `as_of` when left out, else now."}]),
                    moment_params()),
                json!({"type": "object", "required": ["changes"]}), &auth_errors),
            "/api/v1/plans/{plan_id}/drift": read("Drift and delay",
                with(json!([path_param("plan_id"), {"name": "stale_days", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 3650}}]), moment_params()),
                json!({"type": "object", "required": ["overdue", "rebaselined", "stale", "blocked"]}), &auth_errors),
            "/api/v1/plans/{plan_id}/activity": read("The latest changes",
                with(json!([path_param("plan_id"), {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}]), moment_params()),
                json!({"type": "object", "required": ["entries"]}), &auth_errors),
            "/api/v1/plans/{plan_id}/measures": read("The plan's measures", with(json!([path_param("plan_id")]), moment_params()), list_of("measures", "measure_id"), &auth_errors),
            "/api/v1/plans/{plan_id}/visits": read("The plan's monitoring visits", with(json!([path_param("plan_id")]), moment_params()), list_of("visits", "visit_id"), &auth_errors),
            "/api/v1/actions/{action_id}": one_action(&auth_errors),
            "/api/v1/actions/{action_id}/history": read("An action's audit trail", with(json!([path_param("action_id")]), moment_params()), json!({"$ref": "#/components/schemas/History"}), &auth_errors),
            "/api/v1/measures/{measure_id}": read("A measure and its readings", with(json!([path_param("measure_id")]), moment_params()), json!({"type": "object", "required": ["readings"]}), &auth_errors),
            "/api/v1/visits/{visit_id}": read("A monitoring visit and its findings", with(json!([path_param("visit_id")]), moment_params()), json!({"type": "object", "required": ["findings"]}), &auth_errors),
            "/api/v1/events": read("The log, as stored",
                with(json!([{"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}},
                       {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}]),
                    log_filter_params()),
                json!({"$ref": "#/components/schemas/EventPage"}), &["400", "401"]),
            "/api/v1/events/stream": {"get": {
                "summary": "New events as Server-Sent Events; resume with Last-Event-ID",
                "parameters": with(json!([{"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"}},
                               {"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}]),
                    log_filter_params()),
                "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                              "400": problems(&["400"])["400"], "401": problems(&["401"])["401"]},
                "security": [{"bearer": []}]
            }},
            "/api/v1/verify": read("Verify the hash chain",
                json!([{"name": "known_at", "in": "query", "required": false, "schema": time_schema(), "description": "Answer about the log as it stood then: its events before the first recorded after that time."}]),
                json!({"$ref": "#/components/schemas/Verification"}), &["400", "401"]),
            "/healthz": {"get": {"summary": "Liveness, no token", "security": [], "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": object}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics, no token", "security": [], "responses": {"200": {"description": "OK", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}}}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_nothing_else_is() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in ROUTES {
            assert!(
                paths.get(*path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is not documented"
            );
        }
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(
            documented,
            ROUTES.len(),
            "the document names routes that do not exist"
        );
    }

    #[test]
    fn every_operation_has_an_id_and_links_name_real_operations() {
        let doc = document();
        let ids: Vec<&str> = OPERATION_IDS.iter().map(|(_, _, id)| *id).collect();
        for (method, path) in ROUTES {
            let id = doc["paths"][*path][*method]["operationId"].as_str();
            assert!(id.is_some(), "{method} {path} has no operationId");
        }
        assert_eq!(OPERATION_IDS.len(), ROUTES.len());
        for (from, _, _, targets) in LINKS {
            assert!(ids.contains(from), "{from}");
            for target in *targets {
                assert!(ids.contains(target), "{target}");
            }
        }
    }
}
