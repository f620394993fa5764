//! The plan aggregate: the plan itself, its priority areas and its governance forums.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::commands::*;
use crate::error::{DomainError, EntityKind};
use crate::events::*;
use crate::ids::*;
use crate::text::*;
use crate::values::*;

/// What the plan decider knows of a plan. `None` until the plan is created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanState {
    pub plan: Option<Plan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub plan_id: PlanId,
    pub title: Title,
    pub organisation: Title,
    pub description: Option<Note>,
    pub revision: u32,
    pub agreed: Option<Agreement>,
    pub areas: BTreeMap<AreaId, PriorityArea>,
    pub forums: BTreeMap<ForumId, Forum>,
    pub meetings: BTreeSet<MeetingId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub agreed_on: NaiveDate,
    pub agreed_by: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorityArea {
    pub area_id: AreaId,
    pub number: u16,
    pub title: Title,
    pub lead: Role,
    pub partner_contribution: Option<Note>,
    /// Set when a redraft retires the area; its actions keep their history.
    pub retired: Option<Note>,
}

impl PriorityArea {
    pub fn is_active(&self) -> bool {
        self.retired.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forum {
    pub forum_id: ForumId,
    pub kind: ForumKind,
    pub name: Title,
    pub chair: Option<Role>,
}

/// Priority areas are numbered 1 to 99, as plans number their themes.
pub const MAX_AREA_NUMBER: u16 = 99;

impl PlanState {
    /// The plan, or the error a command on a plan that does not exist gets.
    pub fn existing(&self, id: PlanId) -> Result<&Plan, DomainError> {
        self.plan
            .as_ref()
            .ok_or_else(|| DomainError::not_found("plan_id", EntityKind::Plan, id))
    }
}

pub fn decide(command: &Command, state: &PlanState) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::CreatePlan(c) => create(c, state),
        Command::AgreePlan(c) => agree(c, state),
        Command::RevisePlan(c) => revise(c, state),
        Command::AddPriorityArea(c) => add_area(c, state),
        Command::RetirePriorityArea(c) => retire_area(c, state),
        Command::EstablishForum(c) => establish_forum(c, state),
        Command::RecordMeeting(c) => record_meeting(c, state),
        Command::RecordMilestone(c) => record_milestone(c, state),
        other => Err(DomainError::rule(
            "type",
            format!("{} is not a command on a plan", other.type_name()),
        )),
    }
}

fn required<T: Copy>(id: Option<T>, field: &'static str) -> Result<T, DomainError> {
    id.ok_or_else(|| DomainError::rule(field, "is required"))
}

fn create(c: &CreatePlan, state: &PlanState) -> Result<Vec<Event>, DomainError> {
    let plan_id = required(c.plan_id, "plan_id")?;
    if state.plan.is_some() {
        return Err(DomainError::already_exists(
            "plan_id",
            EntityKind::Plan,
            plan_id,
        ));
    }
    Ok(vec![PlanCreated {
        plan_id,
        title: c.title.clone(),
        organisation: c.organisation.clone(),
        description: c.description.clone(),
    }
    .into()])
}

fn agree(c: &AgreePlan, state: &PlanState) -> Result<Vec<Event>, DomainError> {
    let plan = state.existing(c.plan_id)?;
    if let Some(agreed) = &plan.agreed {
        return Err(DomainError::rule(
            "plan_id",
            format!(
                "the plan was already agreed on {} by {}; a later change of the plan is a revision (revise_plan)",
                agreed.agreed_on, agreed.agreed_by
            ),
        ));
    }
    Ok(vec![PlanAgreed {
        plan_id: c.plan_id,
        agreed_on: c.agreed_on,
        agreed_by: c.agreed_by.clone(),
    }
    .into()])
}

fn revise(c: &RevisePlan, state: &PlanState) -> Result<Vec<Event>, DomainError> {
    let plan = state.existing(c.plan_id)?;
    Ok(vec![PlanRevised {
        plan_id: c.plan_id,
        kind: c.kind,
        revision: plan.revision + 1,
        reason: c.reason.clone(),
    }
    .into()])
}

fn add_area(c: &AddPriorityArea, state: &PlanState) -> Result<Vec<Event>, DomainError> {
    let plan = state.existing(c.plan_id)?;
    let area_id = required(c.area_id, "area_id")?;
    if plan.areas.contains_key(&area_id) {
        return Err(DomainError::already_exists(
            "area_id",
            EntityKind::PriorityArea,
            area_id,
        ));
    }
    if c.number == 0 || c.number > MAX_AREA_NUMBER {
        return Err(DomainError::rule(
            "number",
            format!("must be between 1 and {MAX_AREA_NUMBER}"),
        ));
    }
    if let Some(taken) = plan
        .areas
        .values()
        .find(|a| a.is_active() && a.number == c.number)
    {
        return Err(DomainError::rule(
            "number",
            format!(
                "priority area {} (\"{}\") is already active; retire it before reusing its number",
                taken.number, taken.title
            ),
        ));
    }
    Ok(vec![PriorityAreaAdded {
        plan_id: c.plan_id,
        area_id,
        number: c.number,
        title: c.title.clone(),
        lead: c.lead.clone(),
        partner_contribution: c.partner_contribution.clone(),
    }
    .into()])
}

fn retire_area(c: &RetirePriorityArea, state: &PlanState) -> Result<Vec<Event>, DomainError> {
    let plan = state.existing(c.plan_id)?;
    let area = plan
        .areas
        .get(&c.area_id)
        .ok_or_else(|| DomainError::not_found("area_id", EntityKind::PriorityArea, c.area_id))?;
    if !area.is_active() {
        return Err(DomainError::rule(
            "area_id",
            format!("priority area {} is already retired", area.number),
        ));
    }
    Ok(vec![PriorityAreaRetired {
        plan_id: c.plan_id,
        area_id: c.area_id,
        reason: c.reason.clone(),
    }
    .into()])
}

fn establish_forum(c: &EstablishForum, state: &PlanState) -> Result<Vec<Event>, DomainError> {
    let plan = state.existing(c.plan_id)?;
    let forum_id = required(c.forum_id, "forum_id")?;
    if plan.forums.contains_key(&forum_id) {
        return Err(DomainError::already_exists(
            "forum_id",
            EntityKind::Forum,
            forum_id,
        ));
    }
    Ok(vec![ForumEstablished {
        plan_id: c.plan_id,
        forum_id,
        kind: c.kind,
        name: c.name.clone(),
        chair: c.chair.clone(),
    }
    .into()])
}

fn record_meeting(c: &RecordMeeting, state: &PlanState) -> Result<Vec<Event>, DomainError> {
    let plan = state.existing(c.plan_id)?;
    let meeting_id = required(c.meeting_id, "meeting_id")?;
    if !plan.forums.contains_key(&c.forum_id) {
        return Err(DomainError::not_found(
            "forum_id",
            EntityKind::Forum,
            c.forum_id,
        ));
    }
    if plan.meetings.contains(&meeting_id) {
        return Err(DomainError::already_exists(
            "meeting_id",
            EntityKind::Meeting,
            meeting_id,
        ));
    }
    Ok(vec![MeetingHeld {
        plan_id: c.plan_id,
        forum_id: c.forum_id,
        meeting_id,
        held_on: c.held_on,
        summary: c.summary.clone(),
    }
    .into()])
}

fn record_milestone(c: &RecordMilestone, state: &PlanState) -> Result<Vec<Event>, DomainError> {
    state.existing(c.plan_id)?;
    Ok(vec![MilestoneRecorded {
        plan_id: c.plan_id,
        kind: c.kind,
        title: c.title.clone(),
        occurred_on: c.occurred_on,
        note: c.note.clone(),
    }
    .into()])
}

/// Applies a recorded fact. No rules here: whatever was recorded has happened.
pub fn evolve(mut state: PlanState, event: &Event) -> PlanState {
    evolve_in_place(&mut state, event);
    state
}

/// [`evolve`] on the state where it lies: a fold that keeps its state (a read model's) need
/// not move the whole state in and out of every step.
pub fn evolve_in_place(state: &mut PlanState, event: &Event) {
    if let Event::PlanCreated(e) = event {
        state.plan = Some(Plan {
            plan_id: e.plan_id,
            title: e.title.clone(),
            organisation: e.organisation.clone(),
            description: e.description.clone(),
            revision: 1,
            agreed: None,
            areas: BTreeMap::new(),
            forums: BTreeMap::new(),
            meetings: BTreeSet::new(),
        });
        return;
    }
    let Some(plan) = state.plan.as_mut() else {
        return;
    };
    match event {
        Event::PlanAgreed(e) => {
            plan.agreed = Some(Agreement {
                agreed_on: e.agreed_on,
                agreed_by: e.agreed_by.clone(),
            })
        }
        Event::PlanRevised(e) => plan.revision = e.revision,
        Event::PriorityAreaAdded(e) => {
            plan.areas.insert(
                e.area_id,
                PriorityArea {
                    area_id: e.area_id,
                    number: e.number,
                    title: e.title.clone(),
                    lead: e.lead.clone(),
                    partner_contribution: e.partner_contribution.clone(),
                    retired: None,
                },
            );
        }
        Event::PriorityAreaRetired(e) => {
            if let Some(area) = plan.areas.get_mut(&e.area_id) {
                area.retired = Some(e.reason.clone());
            }
        }
        Event::ForumEstablished(e) => {
            plan.forums.insert(
                e.forum_id,
                Forum {
                    forum_id: e.forum_id,
                    kind: e.kind,
                    name: e.name.clone(),
                    chair: e.chair.clone(),
                },
            );
        }
        Event::MeetingHeld(e) => {
            plan.meetings.insert(e.meeting_id);
        }
        _ => {}
    }
}
