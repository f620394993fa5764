//! The monitoring-visit aggregate: a visit, its findings, the actions answering them, its letter.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregates::Facts;
use crate::commands::*;
use crate::error::{DomainError, EntityKind};
use crate::events::*;
use crate::ids::*;
use crate::text::*;
use crate::values::*;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisitState {
    pub visit: Option<Visit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub visit_id: VisitId,
    pub plan_id: PlanId,
    pub number: u16,
    pub started_on: NaiveDate,
    pub ended_on: NaiveDate,
    pub theme: Title,
    pub findings: BTreeMap<FindingId, Finding>,
    pub letter_published_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub finding_id: FindingId,
    pub kind: FindingKind,
    pub text: Note,
    pub action_ids: BTreeSet<ActionId>,
}

/// Monitoring visits are numbered from 1; no journey has had more than a few dozen.
pub const MAX_VISIT_NUMBER: u16 = 99;

/// A link names at most this many actions at once.
pub const MAX_LINKED_ACTIONS: usize = 100;

impl VisitState {
    fn existing(&self, id: VisitId) -> Result<&Visit, DomainError> {
        self.visit
            .as_ref()
            .ok_or_else(|| DomainError::not_found("visit_id", EntityKind::Visit, id))
    }
}

pub fn decide(
    command: &Command,
    state: &VisitState,
    facts: &Facts,
) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::RecordVisit(c) => record(c, state, facts),
        Command::RecordFinding(c) => record_finding(c, state),
        Command::LinkFinding(c) => link_finding(c, state, facts),
        Command::PublishVisitLetter(c) => publish_letter(c, state),
        other => Err(DomainError::rule(
            "type",
            format!(
                "{} is not a command on a monitoring visit",
                other.type_name()
            ),
        )),
    }
}

fn record(c: &RecordVisit, state: &VisitState, facts: &Facts) -> Result<Vec<Event>, DomainError> {
    let visit_id = c
        .visit_id
        .ok_or_else(|| DomainError::rule("visit_id", "is required"))?;
    if state.visit.is_some() {
        return Err(DomainError::already_exists(
            "visit_id",
            EntityKind::Visit,
            visit_id,
        ));
    }
    facts.plan(c.plan_id)?;
    if c.number == 0 || c.number > MAX_VISIT_NUMBER {
        return Err(DomainError::rule(
            "number",
            format!("must be between 1 and {MAX_VISIT_NUMBER}"),
        ));
    }
    if c.ended_on < c.started_on {
        return Err(DomainError::rule(
            "ended_on",
            format!("must not be before the visit started ({})", c.started_on),
        ));
    }
    Ok(vec![VisitRecorded {
        visit_id,
        plan_id: c.plan_id,
        number: c.number,
        started_on: c.started_on,
        ended_on: c.ended_on,
        theme: c.theme.clone(),
    }
    .into()])
}

fn record_finding(c: &RecordFinding, state: &VisitState) -> Result<Vec<Event>, DomainError> {
    let visit = state.existing(c.visit_id)?;
    let finding_id = c
        .finding_id
        .ok_or_else(|| DomainError::rule("finding_id", "is required"))?;
    if visit.findings.contains_key(&finding_id) {
        return Err(DomainError::already_exists(
            "finding_id",
            EntityKind::Finding,
            finding_id,
        ));
    }
    Ok(vec![FindingRecorded {
        visit_id: c.visit_id,
        finding_id,
        kind: c.kind,
        text: c.text.clone(),
    }
    .into()])
}

fn link_finding(
    c: &LinkFinding,
    state: &VisitState,
    facts: &Facts,
) -> Result<Vec<Event>, DomainError> {
    let visit = state.existing(c.visit_id)?;
    let finding = visit
        .findings
        .get(&c.finding_id)
        .ok_or_else(|| DomainError::not_found("finding_id", EntityKind::Finding, c.finding_id))?;
    if c.action_ids.is_empty() {
        return Err(DomainError::rule(
            "action_ids",
            "must name at least one action",
        ));
    }
    if c.action_ids.len() > MAX_LINKED_ACTIONS {
        return Err(DomainError::rule(
            "action_ids",
            format!("must name at most {MAX_LINKED_ACTIONS} actions at once"),
        ));
    }
    let mut new_links = Vec::new();
    for &action_id in &c.action_ids {
        let action = facts.action(action_id)?;
        if action.plan_id != visit.plan_id {
            return Err(DomainError::rule(
                "action_ids",
                format!(
                    "action {action_id} belongs to another plan; a finding links only to actions of the visit's plan"
                ),
            ));
        }
        if !finding.action_ids.contains(&action_id) && !new_links.contains(&action_id) {
            new_links.push(action_id);
        }
    }
    if new_links.is_empty() {
        return Err(DomainError::rule(
            "action_ids",
            "every action named is already linked to this finding",
        ));
    }
    Ok(vec![FindingLinked {
        visit_id: c.visit_id,
        finding_id: c.finding_id,
        action_ids: new_links,
    }
    .into()])
}

fn publish_letter(c: &PublishVisitLetter, state: &VisitState) -> Result<Vec<Event>, DomainError> {
    let visit = state.existing(c.visit_id)?;
    if let Some(published_on) = visit.letter_published_on {
        return Err(DomainError::rule(
            "published_on",
            format!("the visit's letter was already published on {published_on}"),
        ));
    }
    if c.published_on < visit.ended_on {
        return Err(DomainError::rule(
            "published_on",
            format!("must not be before the visit ended ({})", visit.ended_on),
        ));
    }
    Ok(vec![VisitLetterPublished {
        visit_id: c.visit_id,
        published_on: c.published_on,
    }
    .into()])
}

pub fn evolve(mut state: VisitState, event: &Event) -> VisitState {
    evolve_in_place(&mut state, event);
    state
}

/// [`evolve`] on the state where it lies: a fold that keeps its state (a read model's) need
/// not move the whole state in and out of every step.
pub fn evolve_in_place(state: &mut VisitState, event: &Event) {
    if let Event::VisitRecorded(e) = event {
        state.visit = Some(Visit {
            visit_id: e.visit_id,
            plan_id: e.plan_id,
            number: e.number,
            started_on: e.started_on,
            ended_on: e.ended_on,
            theme: e.theme.clone(),
            findings: BTreeMap::new(),
            letter_published_on: None,
        });
        return;
    }
    let Some(visit) = state.visit.as_mut() else {
        return;
    };
    match event {
        Event::FindingRecorded(e) => {
            visit.findings.insert(
                e.finding_id,
                Finding {
                    finding_id: e.finding_id,
                    kind: e.kind,
                    text: e.text.clone(),
                    action_ids: BTreeSet::new(),
                },
            );
        }
        Event::FindingLinked(e) => {
            if let Some(finding) = visit.findings.get_mut(&e.finding_id) {
                finding.action_ids.extend(e.action_ids.iter().copied());
            }
        }
        Event::VisitLetterPublished(e) => visit.letter_published_on = Some(e.published_on),
        _ => {}
    }
}
