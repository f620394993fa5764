//! Stocktake's append-only event log: the only crate that knows sled.
//!
//! Events are appended per command to a stream (one aggregate), all of a
//! command's events atomically, with an optimistic-concurrency check on the
//! stream's version and an idempotency check on the command id. Every event
//! gets a gap-free global sequence number and a place in a BLAKE3 hash
//! chain, so any change to stored bytes is detectable with [`Log::verify`].
//! An append returns only once its events are on stable storage; a single
//! writer thread commits concurrent appends in groups, one fsync per group.
//!
//! Reads (a stream, the global log in pages, the head) and live
//! subscriptions never see an event before it is durable. The log is
//! generic: payloads are raw JSON, and event types are plain strings.
//!
//! ```
//! use stocktake_log::{AppendRequest, ExpectedVersion, Log, LogOptions, NewEvent, StreamRef};
//! use serde_json::value::RawValue;
//! use uuid::Uuid;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path(), LogOptions::default())?;
//!
//! let plan = Uuid::new_v4();
//! let now = chrono::Utc::now();
//! let outcome = log.append_blocking(AppendRequest {
//!     stream: StreamRef { stream_type: "plan".into(), stream_id: plan },
//!     expected_version: ExpectedVersion::Exactly(0),
//!     events: vec![NewEvent {
//!         event_id: Uuid::new_v4(),
//!         event_type: "PlanDrafted".into(),
//!         schema_version: 1,
//!         recorded_at: now,
//!         effective_at: now,
//!         actor: "director@council.example".into(),
//!         correlation_id: Uuid::new_v4(),
//!         data: RawValue::from_string(r#"{"title":"Ofsted improvement plan"}"#.into())?,
//!     }],
//!     command_id: Uuid::new_v4(),
//!     request_digest: [0; 32],
//! })?;
//! assert_eq!(outcome.events[0].seq, 1);
//! assert_eq!(log.head().head_hash, outcome.head_hash);
//!
//! let events = log.read_stream(plan, 1)?;
//! assert_eq!(events[0].event_type, "PlanDrafted");
//! assert!(log.verify(&mut |_| {})?.ok);
//! # Ok(()) }
//! ```
//!
//! Layout of a data directory: `LOCK` (held while open), `journal` (the
//! write-ahead journal that makes each group durable, see `journal.rs`) and
//! `sled/` (the store; see `keys.rs` for its key space and `record.rs` for
//! the record format and hash). `docs/RELIABILITY.md` says what survives what.

mod applied;
mod durable;
mod error;
mod event;
mod export;
mod import;
mod journal;
mod keys;
mod lock;
mod record;
mod shared;
mod store;
mod stored;
mod subscription;
mod sync;
mod upcast;
mod verify;
mod writer;

pub use error::{AppendError, ImportError, LogError};
pub use event::{
    AppendOutcome, AppendRequest, AppendedEvent, ExpectedVersion, Head, LogMetrics, NewEvent,
    StoredEvent, StreamRef, VerifyReport, GENESIS_HASH,
};
pub use store::{Log, LogOptions};
pub use subscription::{HeadWatch, Subscription};
pub use upcast::{upcast_to_current, Upcaster};
