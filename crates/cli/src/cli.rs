//! The command line, as clap reads it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "stocktake",
    version,
    about = "Run an improvement plan as an event log: nothing lost, any moment replayable."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct DataDir {
    /// The data directory: the event log, tokens and projection checkpoints.
    #[arg(long, env = "STOCKTAKE_DATA_DIR", default_value = "stocktake-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (JSON) on the data directory.
    Serve {
        #[command(flatten)]
        data: DataDir,
        /// The address to listen on. Loopback unless told otherwise.
        #[arg(long, env = "STOCKTAKE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Load the demo journey first when the log is empty.
        #[arg(long)]
        demo: bool,
        /// How long a stop (SIGINT, SIGTERM) waits for connections still open before it goes
        /// without them. Requests time out after 30 s, so by then none is in flight: what is
        /// left is a client that never finished sending a request.
        #[arg(long, value_name = "SECONDS", default_value_t = 35)]
        shutdown_grace: u64,
        /// How long a client may take to send a request's head (its request line and
        /// headers), from the connection's opening or its previous response; a connection
        /// that takes longer is closed, so that clients which send slowly or never finish
        /// cannot hold the server's connections.
        #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        header_read_timeout: u64,
    },
    /// Load the demo journey (the Croydon improvement plan, 2017 to 2019) into an empty log.
    Demo {
        #[command(flatten)]
        data: DataDir,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Show the plan overview: areas, actions, RAG, overdue.
    Plan {
        #[command(flatten)]
        data: DataDir,
        /// The plan; may be left out when the data directory holds one plan.
        #[arg(long)]
        plan: Option<Uuid>,
        /// What was true then (YYYY-MM-DD means the end of that day, or RFC 3339).
        #[arg(long)]
        as_of: Option<String>,
        /// What Stocktake knew then.
        #[arg(long)]
        known_at: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show the audit trail of one action: who changed what, when, why.
    History {
        #[command(flatten)]
        data: DataDir,
        action_id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Write a board report as of a date.
    Report {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        plan: Option<Uuid>,
        #[arg(long)]
        as_of: Option<String>,
        /// Report changes since this date (default: the previous improvement board meeting).
        #[arg(long)]
        since: Option<String>,
        /// md, html or csv.
        #[arg(long)]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Export the whole log as JSON Lines, hashes included.
    Export {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Import a JSON Lines export into an empty data directory, verifying every line.
    Import {
        #[command(flatten)]
        data: DataDir,
        file: PathBuf,
    },
    /// Create a plan from a spreadsheet saved as CSV (see docs/IMPORT.md).
    ImportPlan {
        #[command(flatten)]
        data: DataDir,
        file: PathBuf,
        #[arg(long)]
        plan_title: String,
        #[arg(long)]
        organisation: String,
    },
    /// Verify the log's hash chain.
    Verify {
        #[command(flatten)]
        data: DataDir,
    },
    /// Rebuild the read models from the log.
    Rebuild {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make a token; prints it alone on standard output (it is shown only this once).
    Add {
        #[command(flatten)]
        data: DataDir,
        /// The token's name: the actor of every change made with it.
        #[arg(long)]
        name: String,
        /// viewer, editor or director.
        #[arg(long)]
        role: stocktake_gateway::tokens::Role,
    },
    /// List tokens (names and roles; tokens themselves are never stored).
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke a token by name.
    Revoke {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
    },
}
