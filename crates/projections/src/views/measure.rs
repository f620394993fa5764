//! Measures (KPIs): readings over time against target, a RAG per reading, and the trend.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use stocktake_domain::aggregates::measure::reading_rag;
use stocktake_domain::{Direction, EntityKind, Event, MeasureId, PlanId, Rag, StreamRef};

use super::{measure_at, not_found, Moment, NotFound};
use crate::at::At;
use crate::model::ReadModel;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    pub period_end: NaiveDate,
    pub value: f64,
    /// Judged against the target and tolerance in force at the moment asked about.
    pub rag: Rag,
    pub source: String,
    pub recorded_at: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    /// A later reading for the same period replaced an earlier one.
    pub corrected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Improving,
    Worsening,
    Steady,
    /// Fewer than two readings.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasureView {
    pub measure_id: MeasureId,
    pub plan_id: PlanId,
    pub name: String,
    pub unit: String,
    pub direction: Direction,
    pub target: f64,
    pub tolerance: f64,
    pub readings: Vec<Reading>,
    pub latest: Option<Reading>,
    pub trend: Trend,
    #[serde(flatten)]
    pub moment: Moment,
}

fn trend(direction: Direction, readings: &[Reading]) -> Trend {
    let [.., previous, latest] = readings else {
        return Trend::Unknown;
    };
    let change = latest.value - previous.value;
    let better = match direction {
        Direction::LowerIsBetter => change < 0.0,
        Direction::HigherIsBetter => change > 0.0,
    };
    if change == 0.0 {
        Trend::Steady
    } else if better {
        Trend::Improving
    } else {
        Trend::Worsening
    }
}

pub fn measure(
    model: &ReadModel,
    measure_id: MeasureId,
    at: &At,
    now: DateTime<Utc>,
) -> Result<MeasureView, NotFound> {
    let stream = StreamRef::measure(measure_id);
    let seen = measure_at(model, stream, at)
        .ok_or_else(|| not_found(model, stream, EntityKind::Measure))?;
    let m = &seen.item;
    let timeline = model.timeline_of(stream).expect("seen above");
    let mut readings: Vec<Reading> = Vec::new();
    for entry in timeline.entries_at(at) {
        let Event::MeasureReadingRecorded(e) = &entry.event else {
            continue;
        };
        let reading = Reading {
            period_end: e.period_end,
            value: e.value.get(),
            rag: reading_rag(
                m.direction,
                m.target.get(),
                m.tolerance.get(),
                e.value.get(),
            ),
            source: e.source.to_string(),
            recorded_at: entry.recorded_at,
            effective_at: entry.effective_at,
            corrected: false,
        };
        match readings.iter_mut().find(|r| r.period_end == e.period_end) {
            Some(earlier) => {
                *earlier = Reading {
                    corrected: true,
                    ..reading
                }
            }
            None => readings.push(reading),
        }
    }
    readings.sort_by_key(|r| r.period_end);
    Ok(MeasureView {
        measure_id,
        plan_id: m.plan_id,
        name: m.name.to_string(),
        unit: m.unit.to_string(),
        direction: m.direction,
        target: m.target.get(),
        tolerance: m.tolerance.get(),
        trend: trend(m.direction, &readings),
        latest: readings.last().cloned(),
        readings,
        moment: Moment::new(model, at, now),
    })
}

/// Every measure of a plan that existed at the moment asked about.
pub fn plan_measures(
    model: &ReadModel,
    plan_id: PlanId,
    at: &At,
    now: DateTime<Utc>,
) -> Vec<MeasureView> {
    model
        .members(plan_id)
        .map(|m| m.measures.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|&id| measure(model, id, at, now).ok())
        .collect()
}
