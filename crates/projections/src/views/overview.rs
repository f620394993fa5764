//! The plan overview: priority areas, their actions, and the counts a board reads first.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use stocktake_domain::{ActionStatus, AreaId, DisplayRag, EntityKind, PlanId, StreamRef};

use super::{action_line_at, not_found, plan_at, ActionSummary, Moment, NotFound};
use crate::at::At;
use crate::model::ReadModel;

/// How many actions are in each state and rating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub actions: usize,
    pub red: usize,
    pub amber: usize,
    pub green: usize,
    pub blue: usize,
    /// Open actions whose owner has not rated them yet.
    pub unrated: usize,
    pub not_started: usize,
    pub in_progress: usize,
    pub blocked: usize,
    pub completed: usize,
    pub cancelled: usize,
    pub overdue: usize,
    /// Completed actions as a share of those not cancelled, 0 to 100.
    pub percent_complete: f64,
}

impl Counts {
    fn add(&mut self, action: &ActionSummary) {
        self.actions += 1;
        match action.rag {
            Some(DisplayRag::Red) => self.red += 1,
            Some(DisplayRag::Amber) => self.amber += 1,
            Some(DisplayRag::Green) => self.green += 1,
            Some(DisplayRag::Blue) => self.blue += 1,
            None if action.status != ActionStatus::Cancelled => self.unrated += 1,
            None => {}
        }
        match action.status {
            ActionStatus::NotStarted => self.not_started += 1,
            ActionStatus::InProgress => self.in_progress += 1,
            ActionStatus::Blocked => self.blocked += 1,
            ActionStatus::Completed => self.completed += 1,
            ActionStatus::Cancelled => self.cancelled += 1,
        }
        if action.overdue {
            self.overdue += 1;
        }
        let live = self.actions - self.cancelled;
        self.percent_complete = if live == 0 {
            0.0
        } else {
            (self.completed as f64 * 1000.0 / live as f64).round() / 10.0
        };
    }

    fn merge(&mut self, actions: &[ActionSummary]) {
        for action in actions {
            self.add(action);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaOverview {
    pub area_id: AreaId,
    pub number: u16,
    pub title: String,
    pub lead: String,
    pub partner_contribution: Option<String>,
    pub retired: bool,
    pub retired_reason: Option<String>,
    pub actions: Vec<ActionSummary>,
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanOverview {
    pub plan_id: PlanId,
    pub title: String,
    pub organisation: String,
    pub revision: u32,
    pub agreed_on: Option<NaiveDate>,
    pub agreed_by: Option<String>,
    /// Active areas by number, then retired ones.
    pub areas: Vec<AreaOverview>,
    pub counts: Counts,
    pub last_updated_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub moment: Moment,
}

/// A plan in the list of plans.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanSummary {
    pub plan_id: PlanId,
    pub title: String,
    pub organisation: String,
    pub revision: u32,
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanList {
    pub plans: Vec<PlanSummary>,
    #[serde(flatten)]
    pub moment: Moment,
}

pub fn plan_overview(
    model: &ReadModel,
    plan_id: PlanId,
    at: &At,
    now: DateTime<Utc>,
) -> Result<PlanOverview, NotFound> {
    let stream = StreamRef::plan(plan_id);
    let plan =
        plan_at(model, stream, at).ok_or_else(|| not_found(model, stream, EntityKind::Plan))?;
    let mut last_updated_at = plan.last_effective;
    let mut areas: Vec<AreaOverview> = plan
        .item
        .areas
        .values()
        .map(|area| AreaOverview {
            area_id: area.area_id,
            number: area.number,
            title: area.title.to_string(),
            lead: area.lead.to_string(),
            partner_contribution: area.partner_contribution.as_ref().map(ToString::to_string),
            retired: !area.is_active(),
            retired_reason: area.retired.as_ref().map(ToString::to_string),
            actions: Vec::new(),
            counts: Counts::default(),
        })
        .collect();
    areas.sort_by_key(|a| (a.retired, a.number));
    let members = model
        .members(plan_id)
        .map(|m| m.actions.as_slice())
        .unwrap_or_default();
    for &action_id in members {
        let Some(seen) = action_line_at(model, StreamRef::action(action_id), at) else {
            continue;
        };
        last_updated_at = last_updated_at.max(seen.last_effective);
        let summary = ActionSummary::of_line(&seen, at, now);
        if let Some(area) = areas.iter_mut().find(|a| a.area_id == seen.item.area_id()) {
            area.actions.push(summary);
        }
    }
    let mut counts = Counts::default();
    for area in &mut areas {
        area.actions
            .sort_by(|a, b| (a.due_on, &a.title).cmp(&(b.due_on, &b.title)));
        area.counts.merge(&area.actions);
        counts.merge(&area.actions);
    }
    Ok(PlanOverview {
        plan_id,
        title: plan.item.title.to_string(),
        organisation: plan.item.organisation.to_string(),
        revision: plan.item.revision,
        agreed_on: plan.item.agreed.as_ref().map(|a| a.agreed_on),
        agreed_by: plan.item.agreed.as_ref().map(|a| a.agreed_by.to_string()),
        areas,
        counts,
        last_updated_at,
        moment: Moment::new(model, at, now),
    })
}

pub fn plan_list(model: &ReadModel, at: &At, now: DateTime<Utc>) -> PlanList {
    let mut plans: Vec<PlanSummary> = model
        .plan_ids()
        .filter_map(|plan_id| plan_overview(model, plan_id, at, now).ok())
        .map(|overview| PlanSummary {
            plan_id: overview.plan_id,
            title: overview.title,
            organisation: overview.organisation,
            revision: overview.revision,
            counts: overview.counts,
        })
        .collect();
    plans.sort_by(|a, b| (&a.organisation, &a.title).cmp(&(&b.organisation, &b.title)));
    PlanList {
        plans,
        moment: Moment::new(model, at, now),
    }
}
