//! The measure aggregate: a KPI with a unit, a direction, a target and an amber tolerance.

use serde::{Deserialize, Serialize};

use crate::aggregates::Facts;
use crate::commands::*;
use crate::error::{DomainError, EntityKind};
use crate::events::*;
use crate::ids::*;
use crate::text::*;
use crate::values::*;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasureState {
    pub measure: Option<Measure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub measure_id: MeasureId,
    pub plan_id: PlanId,
    pub name: Title,
    pub unit: Unit,
    pub direction: Direction,
    pub target: Finite,
    pub tolerance: Finite,
    pub description: Option<Note>,
    pub readings: u32,
}

/// The RAG a reading earns: green on or past target, amber within the tolerance short of it,
/// red beyond. The colour key is the measure's own data, never a constant in code.
pub fn reading_rag(direction: Direction, target: f64, tolerance: f64, value: f64) -> Rag {
    let shortfall = match direction {
        Direction::LowerIsBetter => value - target,
        Direction::HigherIsBetter => target - value,
    };
    if shortfall <= 0.0 {
        Rag::Green
    } else if shortfall <= tolerance {
        Rag::Amber
    } else {
        Rag::Red
    }
}

impl Measure {
    pub fn rag_for(&self, value: f64) -> Rag {
        reading_rag(
            self.direction,
            self.target.get(),
            self.tolerance.get(),
            value,
        )
    }
}

impl MeasureState {
    fn existing(&self, id: MeasureId) -> Result<&Measure, DomainError> {
        self.measure
            .as_ref()
            .ok_or_else(|| DomainError::not_found("measure_id", EntityKind::Measure, id))
    }
}

fn non_negative_tolerance(tolerance: Finite) -> Result<(), DomainError> {
    if tolerance.get() < 0.0 {
        return Err(DomainError::rule(
            "tolerance",
            "must be zero or more: it is how far short of the target a reading may be and still be amber",
        ));
    }
    Ok(())
}

pub fn decide(
    command: &Command,
    state: &MeasureState,
    facts: &Facts,
) -> Result<Vec<Event>, DomainError> {
    match command {
        Command::DefineMeasure(c) => {
            let measure_id = c
                .measure_id
                .ok_or_else(|| DomainError::rule("measure_id", "is required"))?;
            if state.measure.is_some() {
                return Err(DomainError::already_exists(
                    "measure_id",
                    EntityKind::Measure,
                    measure_id,
                ));
            }
            facts.plan(c.plan_id)?;
            non_negative_tolerance(c.tolerance)?;
            Ok(vec![MeasureDefined {
                measure_id,
                plan_id: c.plan_id,
                name: c.name.clone(),
                unit: c.unit.clone(),
                direction: c.direction,
                target: c.target,
                tolerance: c.tolerance,
                description: c.description.clone(),
            }
            .into()])
        }
        Command::ChangeMeasureTarget(c) => {
            let measure = state.existing(c.measure_id)?;
            let tolerance = c.tolerance.unwrap_or(measure.tolerance);
            non_negative_tolerance(tolerance)?;
            if c.target == measure.target && tolerance == measure.tolerance {
                return Err(DomainError::rule(
                    "target",
                    format!(
                        "must differ from the current target {} (tolerance {})",
                        measure.target, measure.tolerance
                    ),
                ));
            }
            Ok(vec![MeasureTargetChanged {
                measure_id: c.measure_id,
                previous_target: measure.target,
                target: c.target,
                tolerance,
                reason: c.reason.clone(),
            }
            .into()])
        }
        Command::RecordMeasure(c) => {
            state.existing(c.measure_id)?;
            Ok(vec![MeasureReadingRecorded {
                measure_id: c.measure_id,
                value: c.value,
                period_end: c.period_end,
                source: c.source.clone(),
            }
            .into()])
        }
        other => Err(DomainError::rule(
            "type",
            format!("{} is not a command on a measure", other.type_name()),
        )),
    }
}

pub fn evolve(mut state: MeasureState, event: &Event) -> MeasureState {
    evolve_in_place(&mut state, event);
    state
}

/// [`evolve`] on the state where it lies: a fold that keeps its state (a read model's) need
/// not move the whole state in and out of every step.
pub fn evolve_in_place(state: &mut MeasureState, event: &Event) {
    if let Event::MeasureDefined(e) = event {
        state.measure = Some(Measure {
            measure_id: e.measure_id,
            plan_id: e.plan_id,
            name: e.name.clone(),
            unit: e.unit.clone(),
            direction: e.direction,
            target: e.target,
            tolerance: e.tolerance,
            description: e.description.clone(),
            readings: 0,
        });
        return;
    }
    let Some(measure) = state.measure.as_mut() else {
        return;
    };
    match event {
        Event::MeasureTargetChanged(e) => {
            measure.target = e.target;
            measure.tolerance = e.tolerance;
        }
        Event::MeasureReadingRecorded(_) => measure.readings += 1,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caseload_against_a_target_of_sixteen_with_two_cases_tolerance() {
        let rag = |v| reading_rag(Direction::LowerIsBetter, 16.0, 2.0, v);
        assert_eq!(rag(14.2), Rag::Green);
        assert_eq!(rag(16.0), Rag::Green);
        assert_eq!(rag(18.0), Rag::Amber);
        assert_eq!(rag(19.0), Rag::Red);
    }

    #[test]
    fn higher_is_better_turns_the_bands_round() {
        let rag = |v| reading_rag(Direction::HigherIsBetter, 80.0, 10.0, v);
        assert_eq!(rag(85.0), Rag::Green);
        assert_eq!(rag(72.0), Rag::Amber);
        assert_eq!(rag(62.0), Rag::Red);
    }
}
