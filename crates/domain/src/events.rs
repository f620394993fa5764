//! Events: the facts Stocktake records, in the past tense. Their JSON is a public, stable schema
//! (`docs/EVENTS.md`); a change of shape needs an upcaster (see [`crate::upcast`]).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::*;
use crate::text::*;
use crate::values::*;

/// The schema version every event is written with today.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// A variant's payload: the payload type itself, or the box named for it.
macro_rules! payload {
    ($name:ident) => {
        $name
    };
    ($name:ident, $boxed:ty) => {
        $boxed
    };
}

macro_rules! events {
    ($($(#[$doc:meta])* $name:ident $(: $boxed:ty)?,)*) => {
        /// Every event Stocktake records, tagged by its PascalCase name.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "data")]
        pub enum Event {
            $($(#[$doc])* $name(payload!($name $(, $boxed)?)),)*
        }

        impl Event {
            /// Every event type name, in catalogue order.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($name),)*];

            /// The event's type name, as stored (`"ActionStatusChanged"`).
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Event::$name(_) => stringify!($name),)*
                }
            }

            /// Reads an event from its stored parts: type name and payload JSON (already upcast).
            pub fn decode(event_type: &str, data: &str) -> Result<Event, DecodeError> {
                match event_type {
                    $(stringify!($name) => serde_json::from_str(data)
                        .map(Event::$name)
                        .map_err(|e| DecodeError::Payload { event_type: event_type.to_owned(), message: e.to_string() }),)*
                    other => Err(DecodeError::UnknownType(other.chars().take(64).collect())),
                }
            }

            /// The payload alone, as it is stored beside the type name.
            pub fn payload_json(&self) -> String {
                let encoded = match self {
                    $(Event::$name(payload) => serde_json::to_string(payload),)*
                };
                encoded.expect("event payloads are plain data and always serialize")
            }

            /// [`Event::payload_json`] as a raw JSON value, for a store that keeps it as it is;
            /// made without parsing back what was just written.
            pub fn payload_raw(&self) -> Box<serde_json::value::RawValue> {
                let encoded = match self {
                    $(Event::$name(payload) => serde_json::value::to_raw_value(payload),)*
                };
                encoded.expect("event payloads are plain data and always serialize")
            }
        }

        $(impl From<$name> for Event {
            fn from(payload: $name) -> Event {
                Event::$name(payload.into())
            }
        })*
    };
}

/// A stored event that cannot be read as any known event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("{event_type} payload does not match its schema: {message}")]
    Payload { event_type: String, message: String },
    #[error("{event_type} has schema version {version}, newer than this build understands")]
    FutureVersion { event_type: String, version: u32 },
}

// The read models keep every event, so an `Event` is as large as its largest payload in
// every one of them: the few large payloads a stream starts with, and a plan's rare forums
// and meetings, are boxed, which keeps the many small ones (status changes, progress,
// evidence) from paying for them.
events! {
    PlanCreated,
    PlanAgreed,
    PlanRevised,
    PriorityAreaAdded: Box<PriorityAreaAdded>,
    PriorityAreaRetired,
    ForumEstablished: Box<ForumEstablished>,
    MeetingHeld: Box<MeetingHeld>,
    MilestoneRecorded,
    ActionAdded: Box<ActionAdded>,
    ActionStatusChanged,
    ActionRebaselined,
    ActionOwnerAssigned,
    ProgressRecorded,
    EvidenceAttached,
    ImpactConfirmed,
    ActionReopened,
    MeasureDefined: Box<MeasureDefined>,
    MeasureTargetChanged,
    MeasureReadingRecorded,
    VisitRecorded,
    FindingRecorded,
    FindingLinked,
    VisitLetterPublished,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanCreated {
    pub plan_id: PlanId,
    pub title: Title,
    pub organisation: Title,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanAgreed {
    pub plan_id: PlanId,
    pub agreed_on: NaiveDate,
    pub agreed_by: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRevised {
    pub plan_id: PlanId,
    pub kind: RevisionKind,
    /// The plan's revision number after this revision; a new plan is revision 1.
    pub revision: u32,
    pub reason: Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorityAreaAdded {
    pub plan_id: PlanId,
    pub area_id: AreaId,
    pub number: u16,
    pub title: Title,
    pub lead: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_contribution: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorityAreaRetired {
    pub plan_id: PlanId,
    pub area_id: AreaId,
    pub reason: Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForumEstablished {
    pub plan_id: PlanId,
    pub forum_id: ForumId,
    pub kind: ForumKind,
    pub name: Title,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chair: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingHeld {
    pub plan_id: PlanId,
    pub forum_id: ForumId,
    pub meeting_id: MeetingId,
    pub held_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MilestoneRecorded {
    pub plan_id: PlanId,
    pub kind: MilestoneKind,
    pub title: Title,
    pub occurred_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionAdded {
    pub action_id: ActionId,
    pub plan_id: PlanId,
    pub area_id: AreaId,
    pub title: Title,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Note>,
    pub owner: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_on: Option<NaiveDate>,
    pub due_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_contribution: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionStatusChanged {
    pub action_id: ActionId,
    pub from: ActionStatus,
    pub status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<Rag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRebaselined {
    pub action_id: ActionId,
    pub previous_due_on: NaiveDate,
    pub due_on: NaiveDate,
    pub reason: Note,
    /// How many times the action has been rebaselined, this one included.
    pub rebaseline_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionOwnerAssigned {
    pub action_id: ActionId,
    pub previous_owner: Role,
    pub owner: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressRecorded {
    pub action_id: ActionId,
    pub note: Note,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<Rag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceAttached {
    pub action_id: ActionId,
    pub evidence_id: EvidenceId,
    pub title: Title,
    pub reference: Reference,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpactConfirmed {
    pub action_id: ActionId,
    pub note: Note,
    /// The evidence the impact was confirmed against.
    pub evidence_ids: Vec<EvidenceId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionReopened {
    pub action_id: ActionId,
    pub from: ActionStatus,
    pub reason: Note,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<Rag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureDefined {
    pub measure_id: MeasureId,
    pub plan_id: PlanId,
    pub name: Title,
    pub unit: Unit,
    pub direction: Direction,
    pub target: Finite,
    /// How far past the target a reading may be and still be amber rather than red.
    pub tolerance: Finite,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureTargetChanged {
    pub measure_id: MeasureId,
    pub previous_target: Finite,
    pub target: Finite,
    pub tolerance: Finite,
    pub reason: Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureReadingRecorded {
    pub measure_id: MeasureId,
    pub value: Finite,
    pub period_end: NaiveDate,
    pub source: Reference,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitRecorded {
    pub visit_id: VisitId,
    pub plan_id: PlanId,
    pub number: u16,
    pub started_on: NaiveDate,
    pub ended_on: NaiveDate,
    pub theme: Title,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRecorded {
    pub visit_id: VisitId,
    pub finding_id: FindingId,
    pub kind: FindingKind,
    pub text: Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingLinked {
    pub visit_id: VisitId,
    pub finding_id: FindingId,
    /// The actions newly linked by this event.
    pub action_ids: Vec<ActionId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitLetterPublished {
    pub visit_id: VisitId,
    pub published_on: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_no_larger_than_its_largest_unboxed_payload_and_a_tag() {
        // Every event the read models keep is this size, whatever its payload; a new payload
        // larger than these belongs in a box like `ActionAdded`.
        let largest_unboxed = [
            std::mem::size_of::<PlanCreated>(),
            std::mem::size_of::<ActionOwnerAssigned>(),
            std::mem::size_of::<EvidenceAttached>(),
            std::mem::size_of::<VisitRecorded>(),
        ]
        .into_iter()
        .max()
        .unwrap();
        assert!(
            std::mem::size_of::<Event>() <= largest_unboxed + 8,
            "Event is {} bytes",
            std::mem::size_of::<Event>()
        );
        assert!(std::mem::size_of::<ActionAdded>() > largest_unboxed + 8);
    }
}
