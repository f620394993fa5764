//! Stocktake's read models: folds over the event log that answer the questions users ask.
//!
//! Nothing here is the truth: the log is. A [`ReadModel`] is a pure fold of envelopes
//! ([`ReadModel::apply`]) that can be thrown away and rebuilt from sequence 0 at any time.
//! Each stream keeps a [`timeline::Timeline`] of its events with periodic snapshots, so every view can be
//! asked for its state [`At`] an effective time (`as_of`: what was true then) and a recorded
//! time (`known_at`: what Stocktake knew then) without replaying the log.
//!
//! The views (in [`views`]) are pure functions of the model and a moment: the plan overview,
//! an action's detail and audit trail, changes between two times, drift and delay, measures,
//! visit follow-up and the activity feed. The [`runner`] is the imperative shell that folds
//! the log's events into the model as they are published and keeps checkpoints.

pub mod at;
pub mod checkpoint;
pub mod decode;
mod entries;
pub mod line;
pub mod model;
mod read_ahead;
pub mod runner;
mod saver;
pub mod timeline;
mod times;
pub mod views;

pub use at::At;
pub use decode::{envelope, DecodeFailure, DomainUpcaster};
pub use line::ActionLine;
pub use model::ReadModel;
pub use runner::{ProjectionError, Projector};
pub use timeline::TimelineRef;
pub use views::NotFound;
