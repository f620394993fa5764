//! The read models users ask for, each a pure function of the [`ReadModel`] and a moment.

pub mod action;
pub mod changes;
pub mod describe;
pub mod drift;
pub mod measure;
pub mod overview;
pub mod report;
pub mod visit;

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use stocktake_domain::aggregates::{Action, Measure, Plan, Visit};
use stocktake_domain::{AggregateState, EntityKind, PlanId, StreamRef};
use uuid::Uuid;

use crate::at::At;
use crate::line::ActionLine;
use crate::model::ReadModel;
use crate::timeline::Folded;

/// A question about something that did not exist at the moment asked about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {kind} with id {id}{}", if *.at_moment { " at that moment" } else { "" })]
pub struct NotFound {
    pub kind: EntityKind,
    pub id: Uuid,
    /// The item exists now but not at the moment asked about.
    pub at_moment: bool,
}

fn not_found(model: &ReadModel, stream: StreamRef, kind: EntityKind) -> NotFound {
    NotFound {
        kind,
        id: stream.id,
        at_moment: model.timeline_of(stream).is_some(),
    }
}

/// A stream's state at a moment, with the aggregate extracted.
///
/// The aggregate is borrowed from the timeline when the moment's state is one the timeline
/// keeps (now, or a snapshot), and moved out of the fold otherwise: an action's evidence makes
/// its state grow with its history, so a clone here would make every question slower as the
/// log grows.
pub(crate) struct Seen<'a, T: Clone> {
    pub item: Cow<'a, T>,
    /// Effective time of the latest event folded: when the item was last updated.
    pub last_effective: Option<DateTime<Utc>>,
    /// The stream version of the latest event folded.
    pub version: u64,
}

macro_rules! seen_fn {
    ($fn_name:ident, $variant:ident, $ty:ty, $field:ident) => {
        pub(crate) fn $fn_name<'a>(
            model: &'a ReadModel,
            stream: StreamRef,
            at: &At,
        ) -> Option<Seen<'a, $ty>> {
            let folded = model.timeline_of(stream)?.at(at);
            let (last_effective, version) = (folded.last_effective, folded.version);
            let item = match folded {
                Cow::Borrowed(Folded {
                    state: AggregateState::$variant(s),
                    ..
                }) => Cow::Borrowed(s.$field.as_ref()?),
                Cow::Owned(Folded {
                    state: AggregateState::$variant(s),
                    ..
                }) => Cow::Owned(s.$field?),
                _ => return None,
            };
            Some(Seen {
                item,
                last_effective,
                version,
            })
        }
    };
}

seen_fn!(plan_at, Plan, Plan, plan);
seen_fn!(action_at, Action, Action, action);
seen_fn!(measure_at, Measure, Measure, measure);
seen_fn!(visit_at, Visit, Visit, visit);

/// An action's line at a moment: kept by its timeline when the moment's events are a prefix of
/// the stream, else from a fold.
pub(crate) fn action_line_at<'a>(
    model: &'a ReadModel,
    stream: StreamRef,
    at: &At,
) -> Option<Seen<'a, ActionLine<'a>>> {
    let timeline = model.timeline_of(stream)?;
    match timeline.prefix_at(at) {
        Some(upto) => {
            let (line, last) = timeline.line_after(upto)?;
            Some(Seen {
                item: Cow::Owned(line),
                last_effective: Some(last.effective_at),
                version: last.stream_version,
            })
        }
        None => {
            let seen = action_at(model, stream, at)?;
            Some(Seen {
                item: Cow::Owned(ActionLine::of(&seen.item)),
                last_effective: seen.last_effective,
                version: seen.version,
            })
        }
    }
}

/// Whole days from `earlier` to `later`, never negative.
pub(crate) fn days_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> i64 {
    (later - earlier).num_days().max(0)
}

/// An action as a line of the plan: what everyone wants at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionSummary {
    pub action_id: stocktake_domain::ActionId,
    pub area_id: stocktake_domain::AreaId,
    pub title: String,
    pub owner: String,
    pub status: stocktake_domain::ActionStatus,
    /// The rating a reader sees: red, amber, green while open, blue once completed.
    pub rag: Option<stocktake_domain::DisplayRag>,
    pub start_on: Option<NaiveDate>,
    pub due_on: NaiveDate,
    /// The due date has passed (as of the moment asked about) and the action is still open.
    pub overdue: bool,
    pub days_overdue: i64,
    /// Effective time of the latest change.
    pub last_updated_at: Option<DateTime<Utc>>,
    pub days_since_update: i64,
    pub rebaseline_count: u32,
    pub evidence_count: usize,
    pub impact_confirmed: bool,
    /// The stream version: what `If-Match` expects.
    pub version: u64,
}

impl ActionSummary {
    pub(crate) fn new(seen: &Seen<'_, Action>, at: &At, now: DateTime<Utc>) -> Self {
        let line = ActionLine::of(&seen.item);
        let seen = Seen {
            item: Cow::Owned(line),
            last_effective: seen.last_effective,
            version: seen.version,
        };
        Self::of_line(&seen, at, now)
    }

    pub(crate) fn of_line(seen: &Seen<'_, ActionLine<'_>>, at: &At, now: DateTime<Utc>) -> Self {
        let line = &*seen.item;
        let reference = at.reference_time(now);
        let today = reference.date_naive();
        let overdue = !line.status.is_closed() && line.due_on < today;
        ActionSummary {
            action_id: line.action_id(),
            area_id: line.area_id(),
            title: line.title().to_owned(),
            owner: line.owner().to_owned(),
            status: line.status,
            rag: line.rag,
            start_on: line.start_on,
            due_on: line.due_on,
            overdue,
            days_overdue: if overdue {
                (today - line.due_on).num_days()
            } else {
                0
            },
            last_updated_at: seen.last_effective,
            days_since_update: seen
                .last_effective
                .map_or(0, |t| days_between(t, reference)),
            rebaseline_count: line.rebaseline_count,
            evidence_count: line.evidence_count,
            impact_confirmed: line.impact_confirmed,
            version: seen.version,
        }
    }
}

/// The moment a view describes, echoed in every response.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Moment {
    pub as_of: Option<DateTime<Utc>>,
    pub known_at: Option<DateTime<Utc>>,
    /// The time overdue and staleness were judged against.
    pub reference_time: DateTime<Utc>,
    /// The last event the read model had folded when it answered.
    pub last_seq: u64,
}

impl Moment {
    pub(crate) fn new(model: &ReadModel, at: &At, now: DateTime<Utc>) -> Self {
        Moment {
            as_of: at.as_of,
            known_at: at.known_at,
            reference_time: at.reference_time(now),
            last_seq: model.last_seq(),
        }
    }
}

/// The moment a list of a plan's members (its measures, its visits) describes, if the plan
/// existed then: a list of something that did not is not an empty list.
pub fn plan_moment(
    model: &ReadModel,
    plan_id: PlanId,
    at: &At,
    now: DateTime<Utc>,
) -> Result<Moment, NotFound> {
    let stream = StreamRef::plan(plan_id);
    plan_at(model, stream, at).ok_or_else(|| not_found(model, stream, EntityKind::Plan))?;
    Ok(Moment::new(model, at, now))
}
