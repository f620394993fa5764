//! Visit follow-up: each monitoring visit's findings, the actions answering them and where
//! those actions stand; findings that need an answer and have none.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use stocktake_domain::{EntityKind, FindingId, FindingKind, PlanId, StreamRef, VisitId};

use super::{action_line_at, not_found, visit_at, ActionSummary, Moment, NotFound};
use crate::at::At;
use crate::model::ReadModel;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingView {
    pub finding_id: FindingId,
    pub kind: FindingKind,
    pub text: String,
    pub actions: Vec<ActionSummary>,
    /// An area for improvement or recommendation with no action answering it.
    pub unanswered: bool,
    /// Linked actions that are overdue.
    pub late_actions: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitView {
    pub visit_id: VisitId,
    pub plan_id: PlanId,
    pub number: u16,
    pub started_on: NaiveDate,
    pub ended_on: NaiveDate,
    pub theme: String,
    pub letter_published_on: Option<NaiveDate>,
    pub findings: Vec<FindingView>,
    pub unanswered_findings: usize,
    #[serde(flatten)]
    pub moment: Moment,
}

pub fn visit(
    model: &ReadModel,
    visit_id: VisitId,
    at: &At,
    now: DateTime<Utc>,
) -> Result<VisitView, NotFound> {
    let stream = StreamRef::visit(visit_id);
    let seen =
        visit_at(model, stream, at).ok_or_else(|| not_found(model, stream, EntityKind::Visit))?;
    let v = &seen.item;
    let findings: Vec<FindingView> = v
        .findings
        .values()
        .map(|f| {
            let actions: Vec<ActionSummary> = f
                .action_ids
                .iter()
                .filter_map(|&id| action_line_at(model, StreamRef::action(id), at))
                .map(|a| ActionSummary::of_line(&a, at, now))
                .collect();
            FindingView {
                finding_id: f.finding_id,
                kind: f.kind,
                text: f.text.to_string(),
                unanswered: f.kind.needs_action() && actions.is_empty(),
                late_actions: actions.iter().filter(|a| a.overdue).count(),
                actions,
            }
        })
        .collect();
    Ok(VisitView {
        visit_id,
        plan_id: v.plan_id,
        number: v.number,
        started_on: v.started_on,
        ended_on: v.ended_on,
        theme: v.theme.to_string(),
        letter_published_on: v.letter_published_on,
        unanswered_findings: findings.iter().filter(|f| f.unanswered).count(),
        findings,
        moment: Moment::new(model, at, now),
    })
}

/// Every visit of a plan that had happened by the moment asked about, by number.
pub fn plan_visits(
    model: &ReadModel,
    plan_id: PlanId,
    at: &At,
    now: DateTime<Utc>,
) -> Vec<VisitView> {
    let mut visits: Vec<VisitView> = model
        .members(plan_id)
        .map(|m| m.visits.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|&id| visit(model, id, at, now).ok())
        .collect();
    visits.sort_by_key(|v| (v.number, v.started_on));
    visits
}
