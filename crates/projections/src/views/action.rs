//! One action in detail, and its audit trail: who changed what, when, why, and what it was before.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use stocktake_domain::aggregates::action::{self, Action, ActionState};
use stocktake_domain::{ActionId, AreaId, EntityKind, PlanId, StreamRef};
use uuid::Uuid;

use super::describe::describe;
use super::{action_at, not_found, ActionSummary, Moment, NotFound};
use crate::at::At;
use crate::model::ReadModel;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceView {
    pub evidence_id: stocktake_domain::EvidenceId,
    pub title: String,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionDetail {
    pub plan_id: PlanId,
    pub description: Option<String>,
    pub partner_contribution: Option<String>,
    pub evidence: Vec<EvidenceView>,
    #[serde(flatten)]
    pub summary: ActionSummary,
    #[serde(flatten)]
    pub moment: Moment,
}

pub fn action_detail(
    model: &ReadModel,
    action_id: ActionId,
    at: &At,
    now: DateTime<Utc>,
) -> Result<ActionDetail, NotFound> {
    let stream = StreamRef::action(action_id);
    let seen =
        action_at(model, stream, at).ok_or_else(|| not_found(model, stream, EntityKind::Action))?;
    let action = &seen.item;
    Ok(ActionDetail {
        plan_id: action.plan_id,
        description: action.description.as_ref().map(ToString::to_string),
        partner_contribution: action
            .partner_contribution
            .as_ref()
            .map(ToString::to_string),
        evidence: action
            .evidence
            .in_order()
            .into_iter()
            .map(|e| EvidenceView {
                evidence_id: e.evidence_id,
                title: e.title.to_string(),
                reference: e.reference.to_string(),
            })
            .collect(),
        summary: ActionSummary::new(&seen, at, now),
        moment: Moment::new(model, at, now),
    })
}

/// One field an event changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub seq: u64,
    pub version: u64,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub recorded_at: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    pub actor: String,
    pub event_id: Uuid,
    /// The event's payload, as recorded.
    pub data: Value,
    pub summary: String,
    /// The values before and after this change.
    pub changes: Vec<FieldChange>,
    /// Recorded more than a day after it took effect.
    pub late: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionHistory {
    pub action_id: ActionId,
    pub title: String,
    pub entries: Vec<HistoryEntry>,
    #[serde(flatten)]
    pub moment: Moment,
}

/// The fields of an action an auditor follows through its history.
#[derive(Serialize)]
struct Tracked<'a> {
    title: &'a str,
    owner: &'a str,
    area_id: AreaId,
    status: stocktake_domain::ActionStatus,
    rag: Option<stocktake_domain::DisplayRag>,
    due_on: NaiveDate,
    rebaseline_count: u32,
    evidence_count: usize,
    impact_confirmed: bool,
}

fn tracked(action: Option<&Action>) -> Value {
    action.map_or(Value::Null, |a| {
        serde_json::to_value(Tracked {
            title: a.title.as_str(),
            owner: a.owner.as_str(),
            area_id: a.area_id,
            status: a.status,
            rag: a.display_rag(),
            due_on: a.due_on,
            rebaseline_count: a.rebaseline_count,
            evidence_count: a.evidence.len(),
            impact_confirmed: a.impact_confirmed,
        })
        .expect("tracked fields serialize")
    })
}

fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    const FIELDS: [&str; 9] = [
        "title",
        "owner",
        "area_id",
        "status",
        "rag",
        "due_on",
        "rebaseline_count",
        "evidence_count",
        "impact_confirmed",
    ];
    FIELDS
        .iter()
        .filter_map(|&field| {
            let b = before.get(field).cloned().unwrap_or(Value::Null);
            let a = after.get(field).cloned().unwrap_or(Value::Null);
            (a != b).then_some(FieldChange {
                field,
                before: b,
                after: a,
            })
        })
        .collect()
}

/// The audit trail in recorded order. `known_at` limits it to what had been recorded by then.
pub fn action_history(
    model: &ReadModel,
    action_id: ActionId,
    at: &At,
    now: DateTime<Utc>,
) -> Result<ActionHistory, NotFound> {
    let stream = StreamRef::action(action_id);
    let timeline = model
        .timeline_of(stream)
        .ok_or_else(|| not_found(model, stream, EntityKind::Action))?;
    let mut entries_in_recorded_order: Vec<_> = timeline.entries_at(at).collect();
    entries_in_recorded_order.sort_by_key(|e| e.seq);
    let mut state = ActionState::default();
    let mut entries = Vec::with_capacity(entries_in_recorded_order.len());
    for entry in entries_in_recorded_order {
        let before = tracked(state.action.as_ref());
        action::evolve_in_place(&mut state, &entry.event);
        let after = tracked(state.action.as_ref());
        entries.push(HistoryEntry {
            seq: entry.seq,
            version: entry.stream_version,
            event_type: entry.event.type_name(),
            recorded_at: entry.recorded_at,
            effective_at: entry.effective_at,
            actor: entry.actor.to_string(),
            event_id: entry.event_id,
            data: serde_json::from_str(&entry.event.payload_json()).expect("payload JSON parses"),
            summary: describe(&entry.event),
            changes: diff(&before, &after),
            late: entry.recorded_at - entry.effective_at > chrono::Duration::days(1),
        });
    }
    let title = state
        .action
        .as_ref()
        .map(|a| a.title.to_string())
        .ok_or_else(|| not_found(model, stream, EntityKind::Action))?;
    Ok(ActionHistory {
        action_id,
        title,
        entries,
        moment: Moment::new(model, at, now),
    })
}
