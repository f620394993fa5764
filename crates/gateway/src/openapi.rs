//! The OpenAPI 3 description of the API, served at `/api/v1/openapi.json`.
//!
//! Written by hand beside the routes; a test checks that every documented route exists and
//! every route is documented.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use stocktake_domain::Command;

use crate::http::auth::Caller;

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

fn moment_params() -> Value {
    json!([
        {"name": "as_of", "in": "query", "required": false, "description": "What was true then: an effective time (YYYY-MM-DD means the end of that day, or RFC 3339).", "schema": {"type": "string"}},
        {"name": "known_at", "in": "query", "required": false, "description": "What Stocktake knew then: a recorded time (YYYY-MM-DD or RFC 3339).", "schema": {"type": "string"}}
    ])
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
                "Command": {
                    "type": "object",
                    "required": ["type"],
                    "description": "A command of docs/EVENTS.md, plus optional effective_at and expected_version.",
                    "properties": {
                        "type": {"type": "string", "enum": Command::TYPES},
                        "effective_at": {"type": "string"},
                        "expected_version": {"type": "integer", "minimum": 0}
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
                    "200": {"description": "Recorded and durable", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CommandResult"}}}},
                    "400": problems(&["400"])["400"], "401": problems(&["401"])["401"], "403": problems(&["403"])["403"],
                    "404": problems(&["404"])["404"], "409": problems(&["409"])["409"], "413": problems(&["413"])["413"],
                    "422": problems(&["422"])["422"], "503": problems(&["503"])["503"]
                },
                "security": [{"bearer": []}]
            }},
            "/api/v1/plans": read("Every plan with its counts", moment_params(), json!({"type": "object", "required": ["plans"]}), &["400", "401"]),
            "/api/v1/plans/{plan_id}": read("The plan overview", with(json!([path_param("plan_id")]), moment_params()), json!({"$ref": "#/components/schemas/PlanOverview"}), &auth_errors),
            "/api/v1/plans/{plan_id}/changes": read("What changed between two times",
                with(json!([path_param("plan_id"),
                    {"name": "since", "in": "query", "required": true, "schema": {"type": "string"}},
                    {"name": "until", "in": "query", "required": false, "schema": {"type": "string"}}]),
                    json!([{"name": "known_at", "in": "query", "required": false, "schema": {"type": "string"}}])),
                json!({"type": "object", "required": ["changes"]}), &auth_errors),
            "/api/v1/plans/{plan_id}/drift": read("Drift and delay",
                with(json!([path_param("plan_id"), {"name": "stale_days", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 3650}}]), moment_params()),
                json!({"type": "object", "required": ["overdue", "rebaselined", "stale", "blocked"]}), &auth_errors),
            "/api/v1/plans/{plan_id}/activity": read("The latest changes",
                with(json!([path_param("plan_id"), {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}]), moment_params()),
                json!({"type": "object", "required": ["entries"]}), &auth_errors),
            "/api/v1/plans/{plan_id}/measures": read("The plan's measures", with(json!([path_param("plan_id")]), moment_params()), json!({"type": "object", "required": ["measures"]}), &auth_errors),
            "/api/v1/plans/{plan_id}/visits": read("The plan's monitoring visits", with(json!([path_param("plan_id")]), moment_params()), json!({"type": "object", "required": ["visits"]}), &auth_errors),
            "/api/v1/actions/{action_id}": read("One action", with(json!([path_param("action_id")]), moment_params()), json!({"$ref": "#/components/schemas/ActionSummary"}), &auth_errors),
            "/api/v1/actions/{action_id}/history": read("An action's audit trail", with(json!([path_param("action_id")]), moment_params()), json!({"$ref": "#/components/schemas/History"}), &auth_errors),
            "/api/v1/measures/{measure_id}": read("A measure and its readings", with(json!([path_param("measure_id")]), moment_params()), json!({"type": "object", "required": ["readings"]}), &auth_errors),
            "/api/v1/visits/{visit_id}": read("A monitoring visit and its findings", with(json!([path_param("visit_id")]), moment_params()), json!({"type": "object", "required": ["findings"]}), &auth_errors),
            "/api/v1/events": read("The log, as stored",
                json!([{"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}},
                       {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}]),
                json!({"$ref": "#/components/schemas/EventPage"}), &["400", "401"]),
            "/api/v1/events/stream": {"get": {
                "summary": "New events as Server-Sent Events; resume with Last-Event-ID",
                "parameters": [{"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"}},
                               {"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                              "400": problems(&["400"])["400"], "401": problems(&["401"])["401"]},
                "security": [{"bearer": []}]
            }},
            "/api/v1/verify": read("Verify the hash chain", json!([]), json!({"$ref": "#/components/schemas/Verification"}), &["401"]),
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
}
