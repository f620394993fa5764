//! What changed between two moments (the board's "since the last meeting"), and the latest
//! activity across a plan.

use chrono::{DateTime, Utc};
use serde::Serialize;
use stocktake_domain::{AggregateState, EntityKind, PlanId, StreamRef, StreamType};
use uuid::Uuid;

use super::describe::describe;
use super::{Moment, NotFound};
use crate::at::At;
use crate::model::ReadModel;
use crate::timeline::{EntryAt, TimelineRef};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeEntry {
    pub seq: u64,
    pub stream_type: StreamType,
    pub stream_id: Uuid,
    /// What the change is about: an action's title, a measure's name, "Plan", "Visit 3".
    pub subject: String,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub effective_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub summary: String,
    /// Took effect before the window but was recorded inside it: a late entry that changes
    /// what the previous meeting saw.
    pub backdated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanChanges {
    pub plan_id: PlanId,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub changes: Vec<ChangeEntry>,
    #[serde(flatten)]
    pub moment: Moment,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    pub entries: Vec<ChangeEntry>,
    #[serde(flatten)]
    pub moment: Moment,
}

fn subject(timeline: TimelineRef<'_>) -> String {
    match &timeline.current().state {
        AggregateState::Plan(s) => s
            .plan
            .as_ref()
            .map_or("Plan".into(), |p| format!("Plan: {}", p.title)),
        AggregateState::Action(s) => s
            .action
            .as_ref()
            .map_or("Action".into(), |a| a.title.to_string()),
        AggregateState::Measure(s) => s
            .measure
            .as_ref()
            .map_or("Measure".into(), |m| m.name.to_string()),
        AggregateState::Visit(s) => s.visit.as_ref().map_or("Monitoring visit".into(), |v| {
            format!("Monitoring visit {}", v.number)
        }),
    }
}

fn change(
    timeline: TimelineRef<'_>,
    subject: &str,
    entry: EntryAt<'_>,
    since: DateTime<Utc>,
) -> ChangeEntry {
    ChangeEntry {
        seq: entry.seq,
        stream_type: timeline.stream().stream_type,
        stream_id: timeline.stream().id,
        subject: subject.to_owned(),
        event_type: entry.event.type_name(),
        effective_at: entry.effective_at,
        recorded_at: entry.recorded_at,
        actor: entry.actor.to_string(),
        summary: describe(&entry.event),
        backdated: entry.effective_at <= since,
    }
}

fn plan_timelines(model: &ReadModel, plan_id: PlanId) -> Result<Vec<TimelineRef<'_>>, NotFound> {
    let plan = StreamRef::plan(plan_id);
    if model.timeline_of(plan).is_none() {
        return Err(NotFound {
            kind: EntityKind::Plan,
            id: plan_id.into(),
            at_moment: false,
        });
    }
    Ok(model
        .plan_streams(plan_id)
        .into_iter()
        .filter_map(|s| model.timeline_of(s))
        .collect())
}

/// Changes that took effect in `(since, until]`, and changes recorded in that window about
/// earlier times, in effective order. `known_at` limits both to what was recorded by then.
pub fn plan_changes(
    model: &ReadModel,
    plan_id: PlanId,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    known_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<PlanChanges, NotFound> {
    let at = At {
        as_of: Some(until),
        known_at,
    };
    let mut changes = Vec::new();
    for timeline in plan_timelines(model, plan_id)? {
        let subject = subject(timeline);
        for entry in timeline.entries() {
            let known = known_at.is_none_or(|k| entry.recorded_at <= k);
            let took_effect_in_window = entry.effective_at > since && entry.effective_at <= until;
            let recorded_late_in_window = entry.effective_at <= since
                && entry.recorded_at > since
                && entry.recorded_at <= until;
            if known && (took_effect_in_window || recorded_late_in_window) {
                changes.push(change(timeline, &subject, entry, since));
            }
        }
    }
    changes.sort_by_key(|c| (c.effective_at, c.seq));
    Ok(PlanChanges {
        plan_id,
        since,
        until,
        changes,
        moment: Moment::new(model, &at, now),
    })
}

/// The latest changes recorded across a plan, newest first.
pub fn activity(
    model: &ReadModel,
    plan_id: PlanId,
    limit: usize,
    at: &At,
    now: DateTime<Utc>,
) -> Result<Activity, NotFound> {
    let mut entries = Vec::new();
    let epoch = DateTime::<Utc>::MIN_UTC;
    for timeline in plan_timelines(model, plan_id)? {
        let subject = subject(timeline);
        entries.extend(
            timeline
                .entries_at(at)
                .map(|e| change(timeline, &subject, e, epoch)),
        );
    }
    entries.sort_by_key(|c| std::cmp::Reverse(c.seq));
    entries.truncate(limit);
    Ok(Activity {
        entries,
        moment: Moment::new(model, at, now),
    })
}
