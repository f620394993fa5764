//! End-to-end test helpers: the real `stocktake` binary, a temporary data directory, port 0.
//!
//! The binary is the one `cargo test --workspace` builds beside this test binary (the `stocktake`
//! package's own integration test makes cargo build it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// The `stocktake` executable of this build.
pub fn stocktake_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = dir.join(format!("stocktake{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} does not exist: run the tests with `cargo test --workspace`, which builds it",
        bin.display()
    );
    bin
}

/// Runs a `stocktake` subcommand to completion.
pub fn stocktake(args: &[&str]) -> Output {
    Command::new(stocktake_bin())
        .args(args)
        .env_remove("STOCKTAKE_DATA_DIR")
        .env_remove("STOCKTAKE_LISTEN")
        .output()
        .expect("stocktake runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running `stocktake serve` on its own data directory.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub token: String,
    pub data_dir: PathBuf,
    _temp: Option<TempDir>,
}

impl Server {
    /// A fresh, empty data directory.
    pub fn start() -> Server {
        let temp = tempfile::tempdir().expect("a temporary directory");
        let data_dir = temp.path().join("data");
        let mut server = Server::start_on(&data_dir, &[]);
        server._temp = Some(temp);
        server
    }

    /// A fresh data directory with the demo journey loaded.
    pub fn start_demo() -> Server {
        let temp = tempfile::tempdir().expect("a temporary directory");
        let data_dir = temp.path().join("data");
        let mut server = Server::start_on(&data_dir, &["--demo"]);
        server._temp = Some(temp);
        server
    }

    /// Serves `data_dir` (kept after the server stops), with extra `serve` arguments.
    pub fn start_on(data_dir: &Path, extra: &[&str]) -> Server {
        let launch = Launch {
            args: extra.iter().map(|a| (*a).to_owned()).collect(),
            ..Launch::default()
        };
        Server::launch(data_dir, &launch).0
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            token: Some(self.token.clone()),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status's success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        for _ in 0..600 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client with (or without) a bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Client {
    /// The server's `host:port`, for a test that speaks HTTP over a plain socket.
    pub fn address(&self) -> String {
        self.base
            .strip_prefix("http://")
            .expect("an http base")
            .to_owned()
    }

    pub fn with_token(&self, token: Option<&str>) -> Client {
        Client {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        let response = builder.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn command(&self, body: &Value) -> Reply {
        self.command_with(body, &[]).await
    }

    pub async fn command_with(&self, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut builder = self
            .request(reqwest::Method::POST, "/api/v1/commands")
            .json(body);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let builder = self
            .request(reqwest::Method::POST, path)
            .header("content-type", content_type)
            .body(body);
        self.send(builder).await
    }

    pub fn builder(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path)
    }

    /// The log's head: (last seq, head hash).
    pub async fn head(&self) -> (u64, String) {
        let health = self.with_token(None).get("/healthz").await;
        (
            health.body["log"]["last_seq"]
                .as_u64()
                .expect("healthz names the head"),
            health.body["log"]["head_hash"]
                .as_str()
                .expect("a head hash")
                .to_owned(),
        )
    }
}

/// Makes a token with the CLI (the server must be stopped, or not yet started, on `data_dir`).
pub fn add_token(data_dir: &Path, name: &str, role: &str) -> String {
    let output = stocktake(&[
        "token",
        "add",
        "--data-dir",
        data_dir.to_str().expect("a UTF-8 path"),
        "--name",
        name,
        "--role",
        role,
    ]);
    assert!(
        output.status.success(),
        "token add failed: {}",
        stderr(&output)
    );
    stdout(&output).trim().to_owned()
}

/// What [`Server::launch`] starts beyond [`Server::start_on`]'s defaults.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Extra `serve` arguments.
    pub args: Vec<String>,
    /// Environment variables for the server.
    pub env: Vec<(String, String)>,
    /// Leave out `--listen 127.0.0.1:0` (then `STOCKTAKE_LISTEN` or the default decides).
    pub no_listen_flag: bool,
    /// `RUST_LOG` for the server (default `warn`).
    pub rust_log: Option<String>,
    /// Keep everything the server writes to stderr (see [`Captured`]).
    pub capture_stderr: bool,
    /// `ulimit -f`: the largest file the server may write, in the shell's blocks (512 bytes
    /// for `sh` on Linux and `dash`; `SIGXFSZ` is ignored so a write past it fails with
    /// `EFBIG` instead of killing the process).
    pub file_size_blocks: Option<u64>,
}

/// A server's stderr, collected by a thread as it arrives.
#[derive(Debug, Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<String>>);

impl Captured {
    pub fn text(&self) -> String {
        self.0.lock().expect("not poisoned").clone()
    }
}

impl Server {
    /// Serves `data_dir` as [`Launch`] says; the director token must exist or be made at start.
    pub fn launch(data_dir: &Path, launch: &Launch) -> (Server, Captured) {
        let mut command = match launch.file_size_blocks {
            Some(blocks) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!(
                        "ulimit -f {blocks} && trap '' XFSZ && exec \"$0\" \"$@\""
                    ))
                    .arg(stocktake_bin());
                sh
            }
            None => Command::new(stocktake_bin()),
        };
        command.arg("serve").arg("--data-dir").arg(data_dir);
        if !launch.no_listen_flag {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command
            .args(&launch.args)
            .env_remove("STOCKTAKE_DATA_DIR")
            .env_remove("STOCKTAKE_LISTEN")
            .env("RUST_LOG", launch.rust_log.as_deref().unwrap_or("warn"))
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(if launch.capture_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        let mut child = command.spawn().expect("stocktake serve starts");
        let captured = Captured::default();
        if let Some(stderr) = child.stderr.take() {
            let sink = captured.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut text = sink.0.lock().expect("not poisoned");
                    text.push_str(&line);
                    text.push('\n');
                }
            });
        }
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("Stocktake is listening on ") {
                    let _ = tx.send(address.trim().to_owned());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "stocktake serve did not say where it listens; stderr: {}",
                    captured.text()
                );
            }
        };
        let token = std::fs::read_to_string(data_dir.join("director.token"))
            .expect("serve writes a director token")
            .trim()
            .to_owned();
        let server = Server {
            child: Some(child),
            base,
            token,
            data_dir: data_dir.to_owned(),
            _temp: None,
        };
        (server, captured)
    }

    /// Whether the server process is still running (it has not exited or been killed).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

/// Every event of the log, in seq order, read page by page through `GET /api/v1/events`.
pub async fn all_events(client: &Client) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = 0u64;
    loop {
        let page = client
            .get(&format!("/api/v1/events?after={after}&limit=1000"))
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        let batch = page.body["events"].as_array().expect("a page of events");
        if batch.is_empty() {
            return events;
        }
        events.extend(batch.iter().cloned());
        after = page.body["next_after"].as_u64().expect("next_after");
    }
}

/// Asserts an `application/problem+json` body with `type`, `title`, `status` and `detail`.
pub fn assert_problem(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "{}", reply.text);
    let content_type = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type `{content_type}` for a {status}: {}",
        reply.text
    );
    for field in ["type", "title", "status", "detail"] {
        assert!(
            !reply.body[field].is_null(),
            "problem lacks {field}: {}",
            reply.text
        );
    }
    assert_eq!(reply.body["status"], status, "{}", reply.text);
}
