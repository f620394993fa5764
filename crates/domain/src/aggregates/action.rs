//! The action aggregate: one piece of work under a priority area, and everything that happens to it.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregates::evidence::{Evidence, EvidenceList};
use crate::aggregates::Facts;
use crate::commands::*;
use crate::error::{DomainError, EntityKind};
use crate::events::*;
use crate::ids::*;
use crate::text::*;
use crate::values::*;

/// What the action decider knows of an action. `None` until the action is added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionState {
    pub action: Option<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub action_id: ActionId,
    pub plan_id: PlanId,
    pub area_id: AreaId,
    pub title: Title,
    pub description: Option<Note>,
    pub owner: Role,
    pub start_on: Option<NaiveDate>,
    pub due_on: NaiveDate,
    pub partner_contribution: Option<Note>,
    pub status: ActionStatus,
    /// The owner's last rating; cleared when the action closes.
    pub rag: Option<Rag>,
    pub rebaseline_count: u32,
    /// In the order attached; shared, not copied, by every copy of the state (see
    /// [`EvidenceList`]).
    pub evidence: EvidenceList,
    pub impact_confirmed: bool,
}

impl Action {
    /// The rating a reader sees: blue once completed, none once cancelled.
    pub fn display_rag(&self) -> Option<DisplayRag> {
        match self.status {
            ActionStatus::Completed => Some(DisplayRag::Blue),
            ActionStatus::Cancelled => None,
            _ => self.rag.map(DisplayRag::from),
        }
    }
}

impl ActionState {
    fn existing(&self, id: ActionId) -> Result<&Action, DomainError> {
        self.action
            .as_ref()
            .ok_or_else(|| DomainError::not_found("action_id", EntityKind::Action, id))
    }
}

pub fn decide(
    command: &Command,
    state: &ActionState,
    facts: &Facts,
) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::AddAction(c) => add(c, state, facts),
        Command::ChangeActionStatus(c) => change_status(c, state),
        Command::RebaselineAction(c) => rebaseline(c, state),
        Command::AssignActionOwner(c) => assign_owner(c, state),
        Command::RecordProgress(c) => record_progress(c, state),
        Command::AttachEvidence(c) => attach_evidence(c, state),
        Command::ConfirmImpact(c) => confirm_impact(c, state),
        Command::ReopenAction(c) => reopen(c, state),
        other => Err(DomainError::rule(
            "type",
            format!("{} is not a command on an action", other.type_name()),
        )),
    }
}

fn add(c: &AddAction, state: &ActionState, facts: &Facts) -> Result<Vec<Event>, DomainError> {
    let action_id = c
        .action_id
        .ok_or_else(|| DomainError::rule("action_id", "is required"))?;
    if state.action.is_some() {
        return Err(DomainError::already_exists(
            "action_id",
            EntityKind::Action,
            action_id,
        ));
    }
    let plan = facts.plan(c.plan_id)?;
    let area = plan.areas.get(&c.area_id).ok_or_else(|| {
        DomainError::rule(
            "area_id",
            format!(
                "must name a priority area of plan \"{}\"; {} is not one",
                plan.title, c.area_id
            ),
        )
    })?;
    if !area.is_active() {
        return Err(DomainError::rule(
            "area_id",
            format!(
                "priority area {} (\"{}\") is retired; add the action to an active area",
                area.number, area.title
            ),
        ));
    }
    if let Some(start_on) = c.start_on {
        if start_on > c.due_on {
            return Err(DomainError::rule(
                "due_on",
                format!("must not be before the start date {start_on}"),
            ));
        }
    }
    Ok(vec![ActionAdded {
        action_id,
        plan_id: c.plan_id,
        area_id: c.area_id,
        title: c.title.clone(),
        description: c.description.clone(),
        owner: c.owner.clone(),
        start_on: c.start_on,
        due_on: c.due_on,
        partner_contribution: c.partner_contribution.clone(),
    }
    .into()])
}

fn change_status(c: &ChangeActionStatus, state: &ActionState) -> Result<Vec<Event>, DomainError> {
    let action = state.existing(c.action_id)?;
    let from = action.status;
    if from == c.status {
        return Err(DomainError::rule(
            "status",
            format!("the action is already {from}; record_progress changes the RAG rating alone"),
        ));
    }
    if from.is_closed() {
        return Err(DomainError::rule(
            "status",
            format!("the action is {from}; reopen it (reopen_action, with a reason) before changing its status"),
        ));
    }
    if !from.can_become(c.status) {
        return Err(DomainError::rule(
            "status",
            format!(
                "an action that is {from} cannot become {}; see the lifecycle in docs/EVENTS.md",
                c.status
            ),
        ));
    }
    if c.status.is_closed() {
        if c.note.is_none() {
            return Err(DomainError::rule(
                "note",
                format!(
                    "is required when an action is {}: say what was done or why",
                    c.status
                ),
            ));
        }
        if c.rag.is_some() {
            return Err(DomainError::rule(
                "rag",
                format!(
                    "is not given when an action is {}: a completed action reads blue",
                    c.status
                ),
            ));
        }
    } else if c.rag.is_none() {
        return Err(DomainError::rule(
            "rag",
            format!(
                "is required when an action becomes {}: red, amber or green",
                c.status
            ),
        ));
    }
    Ok(vec![ActionStatusChanged {
        action_id: c.action_id,
        from,
        status: c.status,
        rag: c.rag,
        note: c.note.clone(),
    }
    .into()])
}

fn rebaseline(c: &RebaselineAction, state: &ActionState) -> Result<Vec<Event>, DomainError> {
    let action = state.existing(c.action_id)?;
    if action.status.is_closed() {
        return Err(DomainError::rule(
            "action_id",
            format!(
                "the action is {}; only open actions are rebaselined",
                action.status
            ),
        ));
    }
    if c.due_on == action.due_on {
        return Err(DomainError::rule(
            "due_on",
            format!("must differ from the current due date {}", action.due_on),
        ));
    }
    if let Some(start_on) = action.start_on {
        if c.due_on < start_on {
            return Err(DomainError::rule(
                "due_on",
                format!("must not be before the start date {start_on}"),
            ));
        }
    }
    Ok(vec![ActionRebaselined {
        action_id: c.action_id,
        previous_due_on: action.due_on,
        due_on: c.due_on,
        reason: c.reason.clone(),
        rebaseline_count: action.rebaseline_count + 1,
    }
    .into()])
}

fn assign_owner(c: &AssignActionOwner, state: &ActionState) -> Result<Vec<Event>, DomainError> {
    let action = state.existing(c.action_id)?;
    if action.owner == c.owner {
        return Err(DomainError::rule(
            "owner",
            format!("the action is already owned by {}", action.owner),
        ));
    }
    Ok(vec![ActionOwnerAssigned {
        action_id: c.action_id,
        previous_owner: action.owner.clone(),
        owner: c.owner.clone(),
        reason: c.reason.clone(),
    }
    .into()])
}

fn record_progress(c: &RecordProgress, state: &ActionState) -> Result<Vec<Event>, DomainError> {
    let action = state.existing(c.action_id)?;
    if c.rag.is_some() && action.status.is_closed() {
        return Err(DomainError::rule(
            "rag",
            format!(
                "the action is {}; a closed action has no RAG rating",
                action.status
            ),
        ));
    }
    Ok(vec![ProgressRecorded {
        action_id: c.action_id,
        note: c.note.clone(),
        rag: c.rag,
    }
    .into()])
}

fn attach_evidence(c: &AttachEvidence, state: &ActionState) -> Result<Vec<Event>, DomainError> {
    let action = state.existing(c.action_id)?;
    let evidence_id = c
        .evidence_id
        .ok_or_else(|| DomainError::rule("evidence_id", "is required"))?;
    if action.evidence.contains(evidence_id) {
        return Err(DomainError::already_exists(
            "evidence_id",
            EntityKind::Evidence,
            evidence_id,
        ));
    }
    Ok(vec![EvidenceAttached {
        action_id: c.action_id,
        evidence_id,
        title: c.title.clone(),
        reference: c.reference.clone(),
    }
    .into()])
}

fn confirm_impact(c: &ConfirmImpact, state: &ActionState) -> Result<Vec<Event>, DomainError> {
    let action = state.existing(c.action_id)?;
    if action.evidence.is_empty() {
        return Err(DomainError::rule(
            "evidence_ids",
            "impact is confirmed only against evidence: attach evidence to the action first",
        ));
    }
    if action.status != ActionStatus::Completed {
        return Err(DomainError::rule(
            "action_id",
            format!(
                "the action is {}; impact is confirmed once it is completed",
                action.status
            ),
        ));
    }
    let evidence_ids = if c.evidence_ids.is_empty() {
        action
            .evidence
            .in_order()
            .iter()
            .map(|e| e.evidence_id)
            .collect()
    } else {
        // One walk of the list for every id named, rather than one walk per id.
        let attached: BTreeSet<EvidenceId> = action
            .evidence
            .latest_first()
            .map(|e| e.evidence_id)
            .collect();
        if let Some(unknown) = c.evidence_ids.iter().find(|id| !attached.contains(id)) {
            return Err(DomainError::not_found(
                "evidence_ids",
                EntityKind::Evidence,
                *unknown,
            ));
        }
        c.evidence_ids.clone()
    };
    Ok(vec![ImpactConfirmed {
        action_id: c.action_id,
        note: c.note.clone(),
        evidence_ids,
    }
    .into()])
}

fn reopen(c: &ReopenAction, state: &ActionState) -> Result<Vec<Event>, DomainError> {
    let action = state.existing(c.action_id)?;
    if !action.status.is_closed() {
        return Err(DomainError::rule(
            "action_id",
            format!(
                "the action is {}; only completed or cancelled actions are reopened",
                action.status
            ),
        ));
    }
    Ok(vec![ActionReopened {
        action_id: c.action_id,
        from: action.status,
        reason: c.reason.clone(),
        rag: c.rag,
    }
    .into()])
}

/// Whether [`evolve`] leaves an action's title and owner as they were after this event: it
/// sets the title only on `ActionAdded` and the owner only there and on `ActionOwnerAssigned`.
/// An event not named here may change them (a reader then compares). The catalogue test
/// `events_said_to_keep_the_title_and_owner_keep_them` holds `evolve` to this list.
pub fn keeps_title_and_owner(event: &Event) -> bool {
    matches!(
        event,
        Event::ActionStatusChanged(_)
            | Event::ActionRebaselined(_)
            | Event::ProgressRecorded(_)
            | Event::EvidenceAttached(_)
            | Event::ImpactConfirmed(_)
            | Event::ActionReopened(_)
    )
}

/// Applies a recorded fact. No rules here: whatever was recorded has happened.
pub fn evolve(mut state: ActionState, event: &Event) -> ActionState {
    evolve_in_place(&mut state, event);
    state
}

/// [`evolve`] on the state where it lies: a fold that keeps its state (a read model's) need
/// not move the whole state in and out of every step.
pub fn evolve_in_place(state: &mut ActionState, event: &Event) {
    if let Event::ActionAdded(e) = event {
        state.action = Some(Action {
            action_id: e.action_id,
            plan_id: e.plan_id,
            area_id: e.area_id,
            title: e.title.clone(),
            description: e.description.clone(),
            owner: e.owner.clone(),
            start_on: e.start_on,
            due_on: e.due_on,
            partner_contribution: e.partner_contribution.clone(),
            status: ActionStatus::NotStarted,
            rag: None,
            rebaseline_count: 0,
            evidence: EvidenceList::default(),
            impact_confirmed: false,
        });
        return;
    }
    let Some(action) = state.action.as_mut() else {
        return;
    };
    match event {
        Event::ActionStatusChanged(e) => {
            action.status = e.status;
            action.rag = if e.status.is_closed() { None } else { e.rag };
        }
        Event::ActionRebaselined(e) => {
            action.due_on = e.due_on;
            action.rebaseline_count = e.rebaseline_count;
        }
        Event::ActionOwnerAssigned(e) => action.owner = e.owner.clone(),
        Event::ProgressRecorded(e) if e.rag.is_some() => action.rag = e.rag,
        Event::EvidenceAttached(e) => {
            action.evidence.push(Evidence {
                evidence_id: e.evidence_id,
                title: e.title.clone(),
                reference: e.reference.clone(),
            });
        }
        Event::ImpactConfirmed(_) => action.impact_confirmed = true,
        Event::ActionReopened(e) => {
            action.status = ActionStatus::InProgress;
            action.rag = e.rag;
            action.impact_confirmed = false;
        }
        _ => {}
    }
}
