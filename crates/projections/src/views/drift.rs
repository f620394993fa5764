//! Drift and delay: open actions that are overdue, rebaselined again and again, not updated
//! for weeks, or blocked, each with the dates and counts that show it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use stocktake_domain::{ActionStatus, PlanId};

use super::overview::plan_overview;
use super::{ActionSummary, Moment, NotFound};
use crate::at::At;
use crate::model::ReadModel;

/// An action is stale after this many days without a change, unless asked otherwise.
pub const DEFAULT_STALE_AFTER_DAYS: i64 = 30;

/// An action rebaselined this many times or more is drifting.
pub const REBASELINE_DRIFT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftItem {
    pub area_number: u16,
    pub area_title: String,
    #[serde(flatten)]
    pub action: ActionSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub plan_id: PlanId,
    pub stale_after_days: i64,
    pub overdue: Vec<DriftItem>,
    pub rebaselined: Vec<DriftItem>,
    pub stale: Vec<DriftItem>,
    pub blocked: Vec<DriftItem>,
    #[serde(flatten)]
    pub moment: Moment,
}

pub fn drift(
    model: &ReadModel,
    plan_id: PlanId,
    stale_after_days: i64,
    at: &At,
    now: DateTime<Utc>,
) -> Result<Drift, NotFound> {
    let overview = plan_overview(model, plan_id, at, now)?;
    let mut report = Drift {
        plan_id,
        stale_after_days,
        overdue: Vec::new(),
        rebaselined: Vec::new(),
        stale: Vec::new(),
        blocked: Vec::new(),
        moment: overview.moment,
    };
    for area in &overview.areas {
        for action in area.actions.iter().filter(|a| !a.status.is_closed()) {
            let item = || DriftItem {
                area_number: area.number,
                area_title: area.title.clone(),
                action: action.clone(),
            };
            if action.overdue {
                report.overdue.push(item());
            }
            if action.rebaseline_count >= REBASELINE_DRIFT {
                report.rebaselined.push(item());
            }
            if action.days_since_update >= stale_after_days {
                report.stale.push(item());
            }
            if action.status == ActionStatus::Blocked {
                report.blocked.push(item());
            }
        }
    }
    report
        .overdue
        .sort_by_key(|i| std::cmp::Reverse(i.action.days_overdue));
    report
        .rebaselined
        .sort_by_key(|i| std::cmp::Reverse(i.action.rebaseline_count));
    report
        .stale
        .sort_by_key(|i| std::cmp::Reverse(i.action.days_since_update));
    Ok(report)
}
