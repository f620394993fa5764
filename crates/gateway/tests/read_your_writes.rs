//! A read that arrives after a command was acknowledged sees the command, whoever folds it.
//!
//! The router is driven without a socket, and no task follows the log: the only folding is
//! what a read does for itself, so a read that did not wait for the log's durable events
//! would answer from an empty model.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use stocktake_gateway::tokens::{Role, TokenStore};
use stocktake_gateway::{app, AppState};
use stocktake_log::{Log, LogOptions};
use stocktake_projections::{DomainUpcaster, Projector};
use tower::ServiceExt;

struct Gateway {
    router: Router,
    token: String,
    projector: Projector,
    _dir: tempfile::TempDir,
}

fn gateway() -> Gateway {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = LogOptions {
        upcaster: Some(Arc::new(DomainUpcaster)),
        ..LogOptions::default()
    };
    let log = Log::open(dir.path(), options).expect("open the log");
    let mut tokens = TokenStore::load(dir.path()).expect("token store");
    let token = tokens
        .add("director", Role::Director, Utc::now())
        .expect("a director token");
    let projector = Projector::start(&log, None, &mut |_, _| {}).expect("start");
    let router = app(AppState::new(log, projector.clone(), tokens));
    Gateway {
        router,
        token,
        projector,
        _dir: dir,
    }
}

impl Gateway {
    async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        (status, serde_json::from_slice(&body).expect("JSON"))
    }

    async fn command(&self, command: Value) -> Value {
        let request = Request::post("/api/v1/commands")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(command.to_string()))
            .expect("a request");
        let (status, body) = self.call(request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .expect("a request");
        self.call(request).await
    }
}

#[tokio::test]
async fn a_read_after_an_acknowledged_command_sees_it() {
    let gateway = gateway();
    let created = gateway
        .command(json!({
            "type": "create_plan",
            "title": "Improving children's services",
            "organisation": "London Borough of Croydon",
        }))
        .await;
    let plan_id = created["stream_id"].as_str().expect("a plan id");
    let area_id = "0191f3b4-7a00-7000-8000-0000000000a4";
    gateway
        .command(json!({
            "type": "add_priority_area", "plan_id": plan_id, "area_id": area_id, "number": 1,
            "title": "Workforce", "lead": "Director of Children's Social Care",
        }))
        .await;
    assert_eq!(
        gateway.projector.last_seq(),
        0,
        "nothing has folded yet: the read below must do it"
    );

    let (status, plan) = gateway.get(&format!("/api/v1/plans/{plan_id}")).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["title"], "Improving children's services");
    assert_eq!(plan["areas"][0]["title"], "Workforce", "{plan}");
    assert_eq!(plan["areas"][0]["area_id"], area_id);
    assert_eq!(gateway.projector.last_seq(), 2);
}
