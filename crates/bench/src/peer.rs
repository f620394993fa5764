//! The peer: the event store a user would otherwise build, on PostgreSQL 15
//! started for the run from the machine's binaries and stopped afterwards.
//!
//! One `events` table with a global `bigserial` position, `unique
//! (stream_id, stream_version)` for optimistic concurrency and the log's
//! metadata columns; the payload as JSONB. A command is one transaction: a
//! single `INSERT` of its event at `expected + 1` (autocommit, so one round
//! trip); a unique violation is a conflict. `synchronous_commit = on`, so a
//! command returns once its commit record is flushed: as durable as the log.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Statement};
use uuid::Uuid;

use crate::drive::{Append, Stored};
use crate::workload::{Event, ACTOR};

/// The `events` table, named `{table}`: the side-by-side runs use `events`, the growth runs one
/// table per log size.
const SCHEMA: &str = "
create table {table} (
    seq             bigserial   primary key,
    event_id        uuid        not null,
    stream_id       uuid        not null,
    stream_type     text        not null,
    stream_version  bigint      not null,
    recorded_at     timestamptz not null,
    effective_at    timestamptz not null,
    actor           text        not null,
    command_id      uuid        not null,
    correlation_id  uuid        not null,
    schema_version  integer     not null,
    event_type      text        not null,
    data            jsonb       not null,
    unique (stream_id, stream_version)
)";

const COLUMNS: &str = "event_id, stream_id, stream_type, stream_version, recorded_at, \
    effective_at, actor, command_id, correlation_id, schema_version, event_type, data";

/// One writer: its connection, and its insert prepared on it for one table.
#[derive(Clone)]
pub struct Writer {
    client: Arc<Client>,
    insert: Statement,
}

/// A running PostgreSQL server; stopped when dropped, so also when a run
/// fails or panics.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    /// Holds the temporary directory unless the caller gave one.
    _temp: Option<tempfile::TempDir>,
    pub port: u16,
    as_postgres: bool,
    pub version: String,
}

/// Where the PostgreSQL 15 binaries are: `STOCKTAKE_PG_BIN`, else Debian's.
pub fn bin_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("STOCKTAKE_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
    dir.join("initdb").exists().then_some(dir)
}

impl Postgres {
    /// initdb in a fresh directory (in `STOCKTAKE_BENCH_PG_DIR` when set, so
    /// that the script can clean up after a killed run; else in `base`, where
    /// the log's side is written, so both sides use the same disk) and
    /// `pg_ctl start` on a free loopback port, sockets in the same directory.
    pub fn start(bin: &Path, base: &Path) -> Result<Postgres, String> {
        let (temp, dir) = match std::env::var_os("STOCKTAKE_BENCH_PG_DIR") {
            Some(dir) => (None, PathBuf::from(dir)),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("stocktake-pg-")
                    .tempdir_in(base)
                    .map_err(|e| format!("a temporary directory for PostgreSQL: {e}"))?;
                let dir = temp.path().to_owned();
                (Some(temp), dir)
            }
        };
        // initdb refuses to run as root: run the server as `postgres`.
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir))?;
            run(Command::new("chmod").arg("0700").arg(&dir))?;
        }
        let port = free_port()?;
        let mut server = Postgres {
            bin: bin.to_owned(),
            dir,
            _temp: temp,
            port,
            as_postgres,
            version: String::new(),
        };
        let data = server.data();
        server.run_pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )?;
        let options = format!(
            "-k {} -c listen_addresses=127.0.0.1 -p {port} -c synchronous_commit=on -c fsync=on -c max_connections=100",
            server.dir.display()
        );
        let log = format!("{}/server.log", server.dir.display());
        server.run_pg(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start",
            ],
        )?;
        server.version = String::from_utf8_lossy(
            &Command::new(server.bin.join("postgres"))
                .arg("--version")
                .output()
                .map_err(|e| format!("postgres --version: {e}"))?
                .stdout,
        )
        .trim()
        .to_owned();
        Ok(server)
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.display())
    }

    fn run_pg(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        run(command.args(args).current_dir(&self.dir))
    }

    pub async fn connect(&self) -> Result<Client, String> {
        let config = format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        );
        let (client, connection) = tokio_postgres::connect(&config, NoTls)
            .await
            .map_err(|e| format!("connecting to PostgreSQL: {}", pg_error(e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("PostgreSQL connection: {e}");
            }
        });
        Ok(client)
    }

    /// A fresh `events` table and one connection per writer.
    pub async fn writers(&self, writers: usize) -> Result<Vec<Writer>, String> {
        self.create_table("events").await?;
        let clients = self.connections(writers).await?;
        prepare(&clients, "events").await
    }

    /// `table`, dropped first if it exists.
    pub async fn create_table(&self, table: &str) -> Result<(), String> {
        let schema = SCHEMA.replace("{table}", table);
        self.connect()
            .await?
            .batch_execute(&format!("drop table if exists {table}; {schema}"))
            .await
            .map_err(|e| format!("creating the {table} table: {}", pg_error(e)))
    }

    pub async fn connections(&self, n: usize) -> Result<Vec<Arc<Client>>, String> {
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n {
            clients.push(Arc::new(self.connect().await?));
        }
        Ok(clients)
    }

    /// `per_stream` progress notes on each of `streams` (an id and its payload), at versions
    /// 1 to `per_stream`, taking turns as the log's writers do, in one statement; then a
    /// checkpoint and `vacuum analyze`, as after any bulk load. The rows are the workload's
    /// but for their ids and times, which the server makes.
    pub async fn fill(
        &self,
        table: &str,
        streams: &[(Uuid, String)],
        per_stream: u64,
    ) -> Result<(), String> {
        let client = self.connect().await?;
        let ids: Vec<Uuid> = streams.iter().map(|(id, _)| *id).collect();
        let payloads: Vec<&str> = streams.iter().map(|(_, p)| p.as_str()).collect();
        let fill = format!(
            "insert into {table} ({COLUMNS}) \
             select gen_random_uuid(), s.id, 'action', v, now(), now(), $1, gen_random_uuid(), \
                    gen_random_uuid(), 1, 'ProgressRecorded', s.payload::jsonb \
             from generate_series(1, $2::bigint) v \
             cross join unnest($3::uuid[], $4::text[]) with ordinality as s(id, payload, turn) \
             order by v, s.turn"
        );
        client
            .execute(&fill, &[&ACTOR, &(per_stream as i64), &ids, &payloads])
            .await
            .map_err(|e| format!("filling {table}: {}", pg_error(e)))?;
        settle(&client, table).await
    }

    /// Writes every dirty page back, so that what came before is not flushed during what
    /// comes next.
    pub async fn checkpoint(&self) -> Result<(), String> {
        self.connect()
            .await?
            .batch_execute("checkpoint")
            .await
            .map_err(|e| format!("checkpoint: {}", pg_error(e)))
    }

    /// `table`'s bytes (with its indexes) per stored event, and its events.
    pub async fn bytes_per_event(&self, table: &str) -> Result<(f64, u64), String> {
        let client = self.connect().await?;
        settle(&client, table).await?;
        let row = client
            .query_one(
                &format!("select pg_total_relation_size('{table}')::float8, count(*) from {table}"),
                &[],
            )
            .await
            .map_err(pg_error)?;
        let (bytes, count): (f64, i64) = (row.get(0), row.get(1));
        Ok((bytes / count.max(1) as f64, count as u64))
    }
}

/// A checkpoint, then `vacuum analyze` of `table`: every page written back, the visibility
/// map and statistics up to date, as a DBA leaves a table after a bulk load.
async fn settle(client: &Client, table: &str) -> Result<(), String> {
    // One statement each: VACUUM may not run inside a transaction.
    for statement in ["checkpoint".to_owned(), format!("vacuum analyze {table}")] {
        client
            .batch_execute(&statement)
            .await
            .map_err(|e| format!("{statement}: {}", pg_error(e)))?;
    }
    Ok(())
}

/// `table`'s insert, prepared on each of `clients`.
pub async fn prepare(clients: &[Arc<Client>], table: &str) -> Result<Vec<Writer>, String> {
    let insert = format!(
        "insert into {table} ({COLUMNS}) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::jsonb)"
    );
    let mut writers = Vec::with_capacity(clients.len());
    for client in clients {
        let prepared = client
            .prepare(&insert)
            .await
            .map_err(|e| format!("preparing the insert into {table}: {}", pg_error(e)))?;
        writers.push(Writer {
            client: client.clone(),
            insert: prepared,
        });
    }
    Ok(writers)
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        if let Err(e) = self.run_pg("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]) {
            eprintln!("stopping PostgreSQL: {e}");
        }
    }
}

/// The peer's append: `writers[w]` inserts `event(w, i)`.
pub fn append(
    writers: Vec<Writer>,
    event: impl Fn(usize, u64) -> Event + Send + Sync + 'static,
) -> Append {
    let writers = Arc::new(writers);
    let event = Arc::new(event);
    Arc::new(move |w, i| {
        let writers = writers.clone();
        let e = event(w, i);
        Box::pin(async move {
            let Writer { client, insert } = &writers[w];
            let version = (e.expected + 1) as i64;
            let inserted = client
                .execute(
                    insert,
                    &[
                        &e.event_id,
                        &e.stream_id,
                        &e.stream_type,
                        &version,
                        &e.recorded_at,
                        &e.effective_at,
                        &ACTOR,
                        &e.command_id,
                        &e.correlation_id,
                        &1i32,
                        &e.event_type,
                        &e.data,
                    ],
                )
                .await;
            match inserted {
                Ok(_) => Ok(Stored::Appended),
                Err(err) if err.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(Stored::Conflict),
                Err(err) => Err(format!("PostgreSQL insert: {}", pg_error(err))),
            }
        })
    })
}

/// tokio-postgres's `Display` says only "db error"; the server's message is inside.
fn pg_error(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    Ok(port)
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
