//! The deciders. Each aggregate owns one event stream and is a pair of pure functions:
//! `decide(command, &state) -> Result<Vec<Event>, DomainError>` holds every business rule, and
//! `evolve(state, &event) -> state` applies a recorded fact without judging it.

pub mod action;
pub mod evidence;
pub mod measure;
pub mod plan;
pub mod visit;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::commands::Command;
use crate::error::{DomainError, EntityKind};
use crate::events::Event;
use crate::ids::{ActionId, PlanId};
use crate::stream::StreamType;

pub use action::{Action, ActionState};
pub use evidence::{Evidence, EvidenceList};
pub use measure::{Measure, MeasureState};
pub use plan::{Plan, PlanState};
pub use visit::{Visit, VisitState};

/// What a decider may know of other streams: the plans and actions a command refers to.
///
/// The shell loads the streams named by [`Command::context`] and folds them; the decider
/// only reads. This keeps cross-aggregate rules (an action's area must be active in its plan,
/// a finding links only to actions of its plan) inside the pure core.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub plans: HashMap<PlanId, PlanState>,
    pub actions: HashMap<ActionId, ActionState>,
}

impl Facts {
    pub fn plan(&self, id: PlanId) -> Result<&Plan, DomainError> {
        self.plans
            .get(&id)
            .and_then(|s| s.plan.as_ref())
            .ok_or_else(|| DomainError::not_found("plan_id", EntityKind::Plan, id))
    }

    pub fn action(&self, id: ActionId) -> Result<&Action, DomainError> {
        self.actions
            .get(&id)
            .and_then(|s| s.action.as_ref())
            .ok_or_else(|| DomainError::not_found("action_ids", EntityKind::Action, id))
    }

    /// Adds a context stream's folded state.
    pub fn insert(&mut self, state: AggregateState) {
        match state {
            AggregateState::Plan(s) => {
                if let Some(plan) = &s.plan {
                    self.plans.insert(plan.plan_id, s);
                }
            }
            AggregateState::Action(s) => {
                if let Some(action) = &s.action {
                    self.actions.insert(action.action_id, s);
                }
            }
            AggregateState::Measure(_) | AggregateState::Visit(_) => {}
        }
    }
}

/// The state of any one stream, so the shell can fold and decide without knowing which kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stream_type", rename_all = "snake_case")]
pub enum AggregateState {
    Plan(PlanState),
    Action(ActionState),
    Measure(MeasureState),
    Visit(VisitState),
}

impl AggregateState {
    pub fn initial(stream_type: StreamType) -> Self {
        match stream_type {
            StreamType::Plan => AggregateState::Plan(PlanState::default()),
            StreamType::Action => AggregateState::Action(ActionState::default()),
            StreamType::Measure => AggregateState::Measure(MeasureState::default()),
            StreamType::Visit => AggregateState::Visit(VisitState::default()),
        }
    }

    pub fn stream_type(&self) -> StreamType {
        match self {
            AggregateState::Plan(_) => StreamType::Plan,
            AggregateState::Action(_) => StreamType::Action,
            AggregateState::Measure(_) => StreamType::Measure,
            AggregateState::Visit(_) => StreamType::Visit,
        }
    }

    pub fn evolve(mut self, event: &Event) -> Self {
        self.evolve_in_place(event);
        self
    }

    /// [`AggregateState::evolve`] on the state where it lies.
    pub fn evolve_in_place(&mut self, event: &Event) {
        match self {
            AggregateState::Plan(s) => plan::evolve_in_place(s, event),
            AggregateState::Action(s) => action::evolve_in_place(s, event),
            AggregateState::Measure(s) => measure::evolve_in_place(s, event),
            AggregateState::Visit(s) => visit::evolve_in_place(s, event),
        }
    }

    /// Folds a stream's events from the initial state.
    pub fn fold<'a>(stream_type: StreamType, events: impl IntoIterator<Item = &'a Event>) -> Self {
        events
            .into_iter()
            .fold(Self::initial(stream_type), |state, event| {
                state.evolve(event)
            })
    }
}

/// Decides a command against the state of its target stream and the facts it needs.
pub fn decide(
    command: &Command,
    state: &AggregateState,
    facts: &Facts,
) -> Result<Vec<Event>, DomainError> {
    let expected = command
        .target()
        .map(|t| t.stream_type)
        .ok_or_else(|| DomainError::rule("id", "the command names no stream"))?;
    if expected != state.stream_type() {
        return Err(DomainError::rule(
            "type",
            format!(
                "{} is a command on a {expected}, not on a {}",
                command.type_name(),
                state.stream_type()
            ),
        ));
    }
    match state {
        AggregateState::Plan(s) => plan::decide(command, s),
        AggregateState::Action(s) => action::decide(command, s, facts),
        AggregateState::Measure(s) => measure::decide(command, s, facts),
        AggregateState::Visit(s) => visit::decide(command, s, facts),
    }
}
