//! No one without the right token reads or writes: every route of the served OpenAPI document
//! refuses a missing, unknown or revoked token; roles limit commands; tokens are stored only
//! as hashes in owner-only files and never reach the logs; the server listens on loopback
//! unless told otherwise.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use stocktake_tests::{
    add_token, assert_problem, stdout, stocktake, Client, Launch, Reply, Server,
};
use uuid::Uuid;

/// The commands an editor may give; every other command shapes the plan (director only).
const EDITOR_COMMANDS: [&str; 3] = ["change_action_status", "record_progress", "attach_evidence"];

/// Every command example of `docs/EVENTS.md` (snake_case `type`), by type.
fn documented_commands() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/EVENTS.md");
    let text = std::fs::read_to_string(&path).expect("docs/EVENTS.md");
    let mut commands = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim()) {
            (None, "```json") => block = Some(String::new()),
            (Some(json), "```") => {
                let value: Value = serde_json::from_str(json).expect("a JSON example");
                let is_command = value["type"]
                    .as_str()
                    .is_some_and(|t| t.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
                if is_command {
                    commands.push(value);
                }
                block = None;
            }
            (Some(json), _) => {
                json.push_str(line);
                json.push('\n');
            }
            (None, _) => {}
        }
    }
    commands
}

fn concrete(path: &str) -> String {
    let mut out = path.to_owned();
    for name in ["{plan_id}", "{action_id}", "{measure_id}", "{visit_id}"] {
        out = out.replace(name, &Uuid::now_v7().to_string());
    }
    out
}

/// Every (method, path) of the served OpenAPI document.
async fn routes(client: &Client) -> (Vec<(reqwest::Method, String)>, Value) {
    let document = client.get("/api/v1/openapi.json").await;
    assert_eq!(document.status, 200, "{}", document.text);
    let mut routes = Vec::new();
    for (path, methods) in document.body["paths"].as_object().expect("paths") {
        for method in methods.as_object().expect("methods").keys() {
            if method.starts_with("x-") || method == "parameters" {
                continue;
            }
            routes.push((
                method.to_uppercase().parse().expect("an HTTP method"),
                path.clone(),
            ));
        }
    }
    assert!(
        routes.len() >= 17,
        "the document lists {} routes",
        routes.len()
    );
    (routes, document.body)
}

async fn call(client: &Client, method: &reqwest::Method, path: &str) -> Reply {
    let mut builder = client.builder(method.clone(), &concrete(path));
    if *method == reqwest::Method::POST {
        builder = builder
            .header("content-type", "application/json")
            .body(r#"{"type":"create_plan","title":"T","organisation":"O"}"#);
    }
    client.send(builder).await
}

/// A stopped data directory with a director, a viewer, an editor and a revoked token.
struct Tokens {
    viewer: String,
    editor: String,
    revoked: String,
}

fn make_tokens(data_dir: &Path) -> Tokens {
    let tokens = Tokens {
        viewer: add_token(data_dir, "auditor", "viewer"),
        editor: add_token(data_dir, "service-manager", "editor"),
        revoked: add_token(data_dir, "former-director", "director"),
    };
    let revoke = stocktake(&[
        "token",
        "revoke",
        "--data-dir",
        data_dir.to_str().expect("UTF-8"),
        "--name",
        "former-director",
    ]);
    assert!(revoke.status.success(), "token revoke failed");
    tokens
}

fn fresh_dir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let data_dir = temp.path().join("data");
    (temp, data_dir)
}

/// A data directory whose first start made the director's token, with a viewer, an editor and
/// a revoked director's token added while no server runs (tokens are read at start).
fn dir_with_tokens() -> (tempfile::TempDir, PathBuf, Tokens) {
    let (temp, data_dir) = fresh_dir();
    let mut first = Server::start_on(&data_dir, &[]);
    assert!(first.terminate());
    let tokens = make_tokens(&data_dir);
    (temp, data_dir, tokens)
}

#[tokio::test]
async fn every_api_route_refuses_a_missing_unknown_or_revoked_token() {
    let (_temp, data_dir, tokens) = dir_with_tokens();
    let server = Server::start_on(&data_dir, &[]);
    let director = server.client();
    let (routes, _) = routes(&director).await;
    let unknown = format!("stk_{}", "0".repeat(64));
    let mut checked = 0;
    for (label, client) in [
        ("no token", director.with_token(None)),
        ("an unknown token", director.with_token(Some(&unknown))),
        (
            "a revoked token",
            director.with_token(Some(&tokens.revoked)),
        ),
    ] {
        for (method, path) in &routes {
            let reply = call(&client, method, path).await;
            if path.starts_with("/api/v1") {
                assert_problem(&reply, 401);
                assert_eq!(
                    reply.headers.get("www-authenticate").map(|v| v.as_bytes()),
                    Some(&b"Bearer"[..]),
                    "{method} {path} with {label}"
                );
                if let Some(token) = &client.token {
                    assert!(
                        !reply.text.contains(token.as_str()),
                        "the 401 echoes the token"
                    );
                }
                checked += 1;
            } else {
                assert_eq!(reply.status, 200, "{method} {path} is public");
            }
        }
    }
    // The same routes with a valid viewer token get past authentication.
    let viewer = director.with_token(Some(&tokens.viewer));
    for (method, path) in &routes {
        if path.starts_with("/api/v1") {
            // Only the status: the live event stream's body never ends.
            let response = viewer
                .builder(method.clone(), &concrete(path))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("the server answers");
            assert_ne!(
                response.status().as_u16(),
                401,
                "{method} {path} refused a valid token"
            );
        }
    }
    eprintln!(
        "security: {} routes, {checked} refusals checked",
        routes.len()
    );
}

#[tokio::test]
async fn roles_limit_every_command_type() {
    let (_temp, data_dir, tokens) = dir_with_tokens();
    let server = Server::start_on(&data_dir, &[]);
    let director = server.client();
    let (_, document) = routes(&director).await;
    let served_types: BTreeSet<String> = document["components"]["schemas"]["Command"]["properties"]
        ["type"]["enum"]
        .as_array()
        .expect("the Command schema lists its types")
        .iter()
        .map(|t| t.as_str().expect("a type").to_owned())
        .collect();
    let commands = documented_commands();
    let documented: BTreeSet<String> = commands
        .iter()
        .map(|c| c["type"].as_str().expect("type").to_owned())
        .collect();
    assert_eq!(
        documented, served_types,
        "docs/EVENTS.md and the served document list different commands"
    );
    let head = director.head().await;
    let viewer = director.with_token(Some(&tokens.viewer));
    let editor = director.with_token(Some(&tokens.editor));
    let mut editor_refused = 0;
    for command in &commands {
        let kind = command["type"].as_str().expect("type");
        assert_problem(&viewer.command(command).await, 403);
        let reply = editor.command(command).await;
        if EDITOR_COMMANDS.contains(&kind) {
            // Past the role check: the documented ids name nothing in this log.
            assert_problem(&reply, 404);
        } else {
            assert_problem(&reply, 403);
            editor_refused += 1;
        }
    }
    assert_eq!(director.head().await, head, "a refused command appended");
    eprintln!(
        "security: viewer refused {} command types, editor refused {editor_refused}",
        commands.len()
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn every_file(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            every_file(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn tokens_are_stored_as_hashes_in_owner_only_files_and_never_logged() {
    let (_temp, data_dir, tokens) = dir_with_tokens();
    let director_token = std::fs::read_to_string(data_dir.join("director.token"))
        .expect("director.token")
        .trim()
        .to_owned();

    let (mut server, stderr) = Server::launch(
        &data_dir,
        &Launch {
            rust_log: Some("trace".into()),
            capture_stderr: true,
            ..Launch::default()
        },
    );
    let director = server.client();
    let plan = Uuid::now_v7().to_string();
    let created = director
        .command(&serde_json::json!({"type": "create_plan", "plan_id": plan, "title": "T", "organisation": "O"}))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    for token in [
        &director_token,
        &tokens.viewer,
        &tokens.editor,
        &tokens.revoked,
    ] {
        let client = director.with_token(Some(token));
        client.get(&format!("/api/v1/plans/{plan}")).await;
        client.get("/api/v1/events").await;
        client
            .command(&serde_json::json!({"type": "record_progress", "action_id": Uuid::now_v7(), "note": "x"}))
            .await;
        // A token put where it does not belong: the query string and another header.
        client
            .with_token(None)
            .get(&format!("/api/v1/plans?access_token={token}"))
            .await;
        client
            .send(
                client
                    .builder(reqwest::Method::GET, "/api/v1/plans")
                    .header("x-api-key", token.as_str()),
            )
            .await;
        let lowercase = client.with_token(None);
        lowercase
            .send(
                lowercase
                    .builder(reqwest::Method::GET, "/api/v1/plans")
                    .header("authorization", format!("bearer {token}")),
            )
            .await;
    }
    assert!(server.terminate(), "a clean stop writes the checkpoint");
    let log_text = stderr.text();
    assert!(
        log_text.lines().count() > 10,
        "RUST_LOG=trace should log requests; got: {log_text}"
    );
    let secrets = [
        ("director", director_token.as_str()),
        ("viewer", tokens.viewer.as_str()),
        ("editor", tokens.editor.as_str()),
        ("revoked", tokens.revoked.as_str()),
    ];
    for (name, secret) in secrets {
        assert!(
            !log_text.contains(secret),
            "the {name} token appears in the server's log"
        );
    }

    // At rest: only director.token holds a token (the director's, by design); tokens.json
    // holds hashes, and no other file holds any token's text.
    let mut files = Vec::new();
    every_file(&data_dir, &mut files);
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).expect("a readable file");
        for (name, secret) in secrets {
            let allowed = name == "director" && file.ends_with("director.token");
            if !allowed {
                assert!(
                    !contains(&bytes, secret.as_bytes()),
                    "{} holds the {name} token",
                    file.display()
                );
            }
        }
    }
    let stored: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("tokens.json")).expect("tokens.json"))
            .expect("tokens.json is JSON");
    assert_eq!(stored.as_array().expect("records").len(), 4);

    assert_eq!(mode(&data_dir), 0o700, "the data directory");
    assert_eq!(mode(&data_dir.join("director.token")), 0o600);
    assert_eq!(mode(&data_dir.join("tokens.json")), 0o600);
    // Other files (sled's, the read models' checkpoint) are kept from other users by the
    // directory's mode: nobody else may enter it.
}

#[tokio::test]
async fn the_server_listens_on_loopback_unless_told_otherwise() {
    let help = stocktake(&["serve", "--help"]);
    assert!(help.status.success());
    let text = stdout(&help);
    assert!(
        text.contains("[default: 127.0.0.1:8080]"),
        "serve --help: {text}"
    );
    assert!(text.contains("STOCKTAKE_LISTEN"), "serve --help: {text}");

    // STOCKTAKE_LISTEN is honoured when --listen is absent.
    let (_temp, data_dir) = fresh_dir();
    let (server, _) = Server::launch(
        &data_dir,
        &Launch {
            no_listen_flag: true,
            env: vec![("STOCKTAKE_LISTEN".into(), "127.0.0.1:0".into())],
            ..Launch::default()
        },
    );
    assert!(
        server.base.starts_with("http://127.0.0.1:"),
        "{}",
        server.base
    );
    let health = server.client().with_token(None).get("/healthz").await;
    assert_eq!(health.status, 200);
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read_whole() {
    let server = Server::start();
    let client = server.client();
    let head = client.head().await;
    let reply = client
        .post_raw(
            "/api/v1/commands",
            "application/json",
            vec![b' '; 64 * 1024 + 1],
        )
        .await;
    assert_problem(&reply, 413);
    // The server may close that connection; ask on a new one.
    assert_eq!(server.client().head().await, head);
}
