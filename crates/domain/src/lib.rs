//! Stocktake's domain: the commands a programme director gives, the events they produce, and
//! the rules that decide between them.
//!
//! This crate is pure. It does no I/O, reads no clock and makes no random ids: time and ids
//! are passed in, so every decision can be replayed and tested exactly.
//!
//! Each aggregate (plan, action, measure, monitoring visit) is a decider:
//! [`aggregates::decide`] turns a [`Command`] and the state of its stream into [`Event`]s or a
//! [`DomainError`] naming the field and the rule; [`AggregateState::evolve`] folds events into
//! state.
//!
//! ```
//! use stocktake_domain::{aggregates, AggregateState, Command, Event, Facts, StreamType};
//!
//! let command: Command = serde_json::from_str(r#"{
//!     "type": "create_plan",
//!     "plan_id": "0191f3b4-0000-7000-8000-000000000001",
//!     "title": "Children's services improvement plan",
//!     "organisation": "London Borough of Croydon"
//! }"#).unwrap();
//! let state = AggregateState::initial(StreamType::Plan);
//! let events = aggregates::decide(&command, &state, &Facts::default()).unwrap();
//! assert_eq!(events[0].type_name(), "PlanCreated");
//!
//! // Creating it twice is refused, and says why.
//! let state = AggregateState::fold(StreamType::Plan, &events);
//! let err = aggregates::decide(&command, &state, &Facts::default()).unwrap_err();
//! assert_eq!(err.field(), Some("plan_id"));
//! ```

pub mod aggregates;
pub mod commands;
pub mod demo;
pub mod envelope;
pub mod error;
pub mod events;
pub mod ids;
pub mod memory;
pub mod stream;
pub mod text;
pub mod time;
pub mod upcast;
pub mod values;

pub use aggregates::{decide, AggregateState, Facts};
pub use commands::{Command, CommandScope};
pub use envelope::Envelope;
pub use error::{DomainError, EntityKind};
pub use events::{DecodeError, Event, CURRENT_SCHEMA_VERSION};
pub use ids::*;
pub use stream::{StreamRef, StreamType};
pub use time::{effective_time, TimeInput};
pub use values::*;
