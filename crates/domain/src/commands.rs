//! Commands: what a programme director asks Stocktake to record, in the imperative.
//!
//! Their JSON (`{"type": "change_action_status", ...}`) is the public write interface. Unknown
//! fields are refused, so a misspelt field never silently does nothing.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, EntityKind};
use crate::ids::*;
use crate::stream::{StreamRef, StreamType};
use crate::text::*;
use crate::values::*;

macro_rules! commands {
    ($($(#[$doc:meta])* $variant:ident($name:ident) => $snake:literal,)*) => {
        /// Every command Stocktake accepts, tagged by its snake_case name.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum Command {
            $($(#[$doc])* $variant($name),)*
        }

        impl Command {
            /// Every command type name, in catalogue order.
            pub const TYPES: &'static [&'static str] = &[$($snake,)*];

            /// Reads the fields of the command named `type_name` (without the `type` field), so
            /// that errors point into the command's own fields. `None` for an unknown name.
            pub fn deserialize_named<'de, D: serde::Deserializer<'de>>(
                type_name: &str,
                fields: D,
            ) -> Result<Option<Command>, D::Error> {
                match type_name {
                    $($snake => $name::deserialize(fields).map(|c| Some(Command::$variant(c))),)*
                    _ => Ok(None),
                }
            }

            /// The command's type name (`"change_action_status"`).
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Command::$variant(_) => $snake,)*
                }
            }
        }

        $(impl From<$name> for Command {
            fn from(command: $name) -> Command {
                Command::$variant(command)
            }
        })*
    };
}

commands! {
    CreatePlan(CreatePlan) => "create_plan",
    AgreePlan(AgreePlan) => "agree_plan",
    RevisePlan(RevisePlan) => "revise_plan",
    AddPriorityArea(AddPriorityArea) => "add_priority_area",
    RetirePriorityArea(RetirePriorityArea) => "retire_priority_area",
    EstablishForum(EstablishForum) => "establish_forum",
    RecordMeeting(RecordMeeting) => "record_meeting",
    RecordMilestone(RecordMilestone) => "record_milestone",
    AddAction(AddAction) => "add_action",
    ChangeActionStatus(ChangeActionStatus) => "change_action_status",
    RebaselineAction(RebaselineAction) => "rebaseline_action",
    AssignActionOwner(AssignActionOwner) => "assign_action_owner",
    RecordProgress(RecordProgress) => "record_progress",
    AttachEvidence(AttachEvidence) => "attach_evidence",
    ConfirmImpact(ConfirmImpact) => "confirm_impact",
    ReopenAction(ReopenAction) => "reopen_action",
    DefineMeasure(DefineMeasure) => "define_measure",
    ChangeMeasureTarget(ChangeMeasureTarget) => "change_measure_target",
    RecordMeasure(RecordMeasure) => "record_measure",
    RecordVisit(RecordVisit) => "record_visit",
    RecordFinding(RecordFinding) => "record_finding",
    LinkFinding(LinkFinding) => "link_finding",
    PublishVisitLetter(PublishVisitLetter) => "publish_visit_letter",
}

/// Who may give a command: anyone who edits actions, or only the programme director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandScope {
    /// Day-to-day updates to an action: status, progress, evidence.
    ActionUpdate,
    /// Shaping the plan itself: everything else.
    PlanAdministration,
}

impl Command {
    /// The stream the command's events are appended to.
    ///
    /// Creation commands whose id was left out have none until [`Command::fill_missing_ids`].
    pub fn target(&self) -> Option<StreamRef> {
        use Command::*;
        let (stream_type, id): (StreamType, Option<Uuid>) = match self {
            CreatePlan(c) => (StreamType::Plan, c.plan_id.map(Uuid::from)),
            AgreePlan(c) => (StreamType::Plan, Some(c.plan_id.into())),
            RevisePlan(c) => (StreamType::Plan, Some(c.plan_id.into())),
            AddPriorityArea(c) => (StreamType::Plan, Some(c.plan_id.into())),
            RetirePriorityArea(c) => (StreamType::Plan, Some(c.plan_id.into())),
            EstablishForum(c) => (StreamType::Plan, Some(c.plan_id.into())),
            RecordMeeting(c) => (StreamType::Plan, Some(c.plan_id.into())),
            RecordMilestone(c) => (StreamType::Plan, Some(c.plan_id.into())),
            AddAction(c) => (StreamType::Action, c.action_id.map(Uuid::from)),
            ChangeActionStatus(c) => (StreamType::Action, Some(c.action_id.into())),
            RebaselineAction(c) => (StreamType::Action, Some(c.action_id.into())),
            AssignActionOwner(c) => (StreamType::Action, Some(c.action_id.into())),
            RecordProgress(c) => (StreamType::Action, Some(c.action_id.into())),
            AttachEvidence(c) => (StreamType::Action, Some(c.action_id.into())),
            ConfirmImpact(c) => (StreamType::Action, Some(c.action_id.into())),
            ReopenAction(c) => (StreamType::Action, Some(c.action_id.into())),
            DefineMeasure(c) => (StreamType::Measure, c.measure_id.map(Uuid::from)),
            ChangeMeasureTarget(c) => (StreamType::Measure, Some(c.measure_id.into())),
            RecordMeasure(c) => (StreamType::Measure, Some(c.measure_id.into())),
            RecordVisit(c) => (StreamType::Visit, c.visit_id.map(Uuid::from)),
            RecordFinding(c) => (StreamType::Visit, Some(c.visit_id.into())),
            LinkFinding(c) => (StreamType::Visit, Some(c.visit_id.into())),
            PublishVisitLetter(c) => (StreamType::Visit, Some(c.visit_id.into())),
        };
        id.map(|id| StreamRef { stream_type, id })
    }

    /// The other streams whose state the decider needs: a new action needs its plan, a finding
    /// link needs the actions it names.
    pub fn context(&self) -> Vec<StreamRef> {
        match self {
            Command::AddAction(c) => vec![StreamRef::plan(c.plan_id)],
            Command::DefineMeasure(c) => vec![StreamRef::plan(c.plan_id)],
            Command::RecordVisit(c) => vec![StreamRef::plan(c.plan_id)],
            Command::LinkFinding(c) => c.action_ids.iter().map(|&a| StreamRef::action(a)).collect(),
            _ => Vec::new(),
        }
    }

    /// Gives every id the client left out a fresh one. Ids come from outside so that deciding
    /// stays pure and a client may choose its own.
    pub fn fill_missing_ids(&mut self, next_id: &mut dyn FnMut() -> Uuid) {
        fn fill<T: From<Uuid>>(slot: &mut Option<T>, next_id: &mut dyn FnMut() -> Uuid) {
            if slot.is_none() {
                *slot = Some(T::from(next_id()));
            }
        }
        match self {
            Command::CreatePlan(c) => fill(&mut c.plan_id, next_id),
            Command::AddPriorityArea(c) => fill(&mut c.area_id, next_id),
            Command::EstablishForum(c) => fill(&mut c.forum_id, next_id),
            Command::RecordMeeting(c) => fill(&mut c.meeting_id, next_id),
            Command::AddAction(c) => fill(&mut c.action_id, next_id),
            Command::AttachEvidence(c) => fill(&mut c.evidence_id, next_id),
            Command::DefineMeasure(c) => fill(&mut c.measure_id, next_id),
            Command::RecordVisit(c) => fill(&mut c.visit_id, next_id),
            Command::RecordFinding(c) => fill(&mut c.finding_id, next_id),
            _ => {}
        }
    }

    /// The id of what the command creates, by its field's name: after
    /// [`Command::fill_missing_ids`], the one a client that left it out learns it from.
    pub fn created_id(&self) -> Option<(&'static str, Uuid)> {
        fn named<T: Copy + Into<Uuid>>(
            field: &'static str,
            id: &Option<T>,
        ) -> Option<(&'static str, Uuid)> {
            id.map(|id| (field, id.into()))
        }
        match self {
            Command::CreatePlan(c) => named("plan_id", &c.plan_id),
            Command::AddPriorityArea(c) => named("area_id", &c.area_id),
            Command::EstablishForum(c) => named("forum_id", &c.forum_id),
            Command::RecordMeeting(c) => named("meeting_id", &c.meeting_id),
            Command::AddAction(c) => named("action_id", &c.action_id),
            Command::AttachEvidence(c) => named("evidence_id", &c.evidence_id),
            Command::DefineMeasure(c) => named("measure_id", &c.measure_id),
            Command::RecordVisit(c) => named("visit_id", &c.visit_id),
            Command::RecordFinding(c) => named("finding_id", &c.finding_id),
            _ => None,
        }
    }

    /// Whether the command creates its target stream (and so expects it not to exist).
    pub fn target_is_new(&self) -> bool {
        matches!(
            self,
            Command::CreatePlan(_)
                | Command::AddAction(_)
                | Command::DefineMeasure(_)
                | Command::RecordVisit(_)
        )
    }

    /// The refusal for a target id that belongs to a stream of another kind: it names nothing
    /// of the kind the command wants, or, for a creation, an id already taken.
    pub fn wrong_kind(&self, target: StreamRef) -> DomainError {
        let (field, kind) = match target.stream_type {
            StreamType::Plan => ("plan_id", EntityKind::Plan),
            StreamType::Action => ("action_id", EntityKind::Action),
            StreamType::Measure => ("measure_id", EntityKind::Measure),
            StreamType::Visit => ("visit_id", EntityKind::Visit),
        };
        if self.target_is_new() {
            DomainError::IdInUse {
                field,
                kind,
                id: target.id,
            }
        } else {
            DomainError::not_found(field, kind, target.id)
        }
    }

    /// Editors may update actions; only a director may shape the plan.
    pub fn scope(&self) -> CommandScope {
        match self {
            Command::ChangeActionStatus(_)
            | Command::RecordProgress(_)
            | Command::AttachEvidence(_) => CommandScope::ActionUpdate,
            _ => CommandScope::PlanAdministration,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<PlanId>,
    pub title: Title,
    pub organisation: Title,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreePlan {
    pub plan_id: PlanId,
    pub agreed_on: NaiveDate,
    pub agreed_by: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisePlan {
    pub plan_id: PlanId,
    pub kind: RevisionKind,
    pub reason: Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddPriorityArea {
    pub plan_id: PlanId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_id: Option<AreaId>,
    pub number: u16,
    pub title: Title,
    pub lead: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_contribution: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetirePriorityArea {
    pub plan_id: PlanId,
    pub area_id: AreaId,
    pub reason: Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstablishForum {
    pub plan_id: PlanId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forum_id: Option<ForumId>,
    pub kind: ForumKind,
    pub name: Title,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chair: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordMeeting {
    pub plan_id: PlanId,
    pub forum_id: ForumId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<MeetingId>,
    pub held_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordMilestone {
    pub plan_id: PlanId,
    pub kind: MilestoneKind,
    pub title: Title,
    pub occurred_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<ActionId>,
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
#[serde(deny_unknown_fields)]
pub struct ChangeActionStatus {
    pub action_id: ActionId,
    pub status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<Rag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebaselineAction {
    pub action_id: ActionId,
    pub due_on: NaiveDate,
    pub reason: Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignActionOwner {
    pub action_id: ActionId,
    pub owner: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordProgress {
    pub action_id: ActionId,
    pub note: Note,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<Rag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachEvidence {
    pub action_id: ActionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_id: Option<EvidenceId>,
    pub title: Title,
    pub reference: Reference,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmImpact {
    pub action_id: ActionId,
    pub note: Note,
    /// The evidence the impact is confirmed against; all the action's evidence when left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence_ids: Vec<EvidenceId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReopenAction {
    pub action_id: ActionId,
    pub reason: Note,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<Rag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefineMeasure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_id: Option<MeasureId>,
    pub plan_id: PlanId,
    pub name: Title,
    pub unit: Unit,
    pub direction: Direction,
    pub target: Finite,
    pub tolerance: Finite,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeMeasureTarget {
    pub measure_id: MeasureId,
    pub target: Finite,
    /// The new amber tolerance; the current one is kept when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Finite>,
    pub reason: Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordMeasure {
    pub measure_id: MeasureId,
    pub value: Finite,
    pub period_end: NaiveDate,
    pub source: Reference,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordVisit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit_id: Option<VisitId>,
    pub plan_id: PlanId,
    pub number: u16,
    pub started_on: NaiveDate,
    pub ended_on: NaiveDate,
    pub theme: Title,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordFinding {
    pub visit_id: VisitId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_id: Option<FindingId>,
    pub kind: FindingKind,
    pub text: Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFinding {
    pub visit_id: VisitId,
    pub finding_id: FindingId,
    pub action_ids: Vec<ActionId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishVisitLetter {
    pub visit_id: VisitId,
    pub published_on: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_id_is_the_one_filled_in_or_given() {
        let visit = Uuid::from_u128(1);
        let mut finding: Command = serde_json::from_value(serde_json::json!({
            "type": "record_finding", "visit_id": visit, "kind": "area_for_improvement",
            "text": "Management oversight is not yet consistently effective."
        }))
        .expect("a command");
        assert_eq!(finding.created_id(), None, "nothing made yet");
        let made = Uuid::from_u128(2);
        finding.fill_missing_ids(&mut || made);
        assert_eq!(finding.created_id(), Some(("finding_id", made)));

        let plan = Uuid::from_u128(3);
        let given: Command = serde_json::from_value(serde_json::json!({
            "type": "create_plan", "plan_id": plan, "title": "Improvement plan",
            "organisation": "London Borough of Croydon"
        }))
        .expect("a command");
        assert_eq!(given.created_id(), Some(("plan_id", plan)));

        let progress: Command = serde_json::from_value(serde_json::json!({
            "type": "record_progress", "action_id": Uuid::from_u128(4), "note": "Audit started"
        }))
        .expect("a command");
        assert_eq!(progress.created_id(), None, "progress creates nothing");
    }
}
