//! The small vocabularies of an improvement plan: statuses, RAG ratings, directions, kinds.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an action is in its lifecycle. The transitions are in [`ActionStatus::can_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    NotStarted,
    InProgress,
    Blocked,
    Completed,
    Cancelled,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 5] = [
        ActionStatus::NotStarted,
        ActionStatus::InProgress,
        ActionStatus::Blocked,
        ActionStatus::Completed,
        ActionStatus::Cancelled,
    ];

    /// The lifecycle, as documented in `docs/EVENTS.md`. Leaving `completed` or `cancelled`
    /// is not a status change but a reopening, which needs its own command and a reason.
    pub fn can_become(self, next: ActionStatus) -> bool {
        use ActionStatus::*;
        matches!(
            (self, next),
            (NotStarted, InProgress | Blocked | Cancelled)
                | (InProgress, Blocked | Completed | Cancelled)
                | (Blocked, InProgress | Cancelled)
        )
    }

    /// Completed and cancelled actions are closed: no longer due, no longer drifting.
    pub fn is_closed(self) -> bool {
        matches!(self, ActionStatus::Completed | ActionStatus::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::NotStarted => "not_started",
            ActionStatus::InProgress => "in_progress",
            ActionStatus::Blocked => "blocked",
            ActionStatus::Completed => "completed",
            ActionStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The owner's confidence that an open action will deliver: red, amber or green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rag {
    Red,
    Amber,
    Green,
}

impl Rag {
    pub fn as_str(self) -> &'static str {
        match self {
            Rag::Red => "red",
            Rag::Amber => "amber",
            Rag::Green => "green",
        }
    }
}

/// The rating a reader sees: the owner's RAG while an action is open, blue once completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplayRag {
    Red,
    Amber,
    Green,
    Blue,
}

impl From<Rag> for DisplayRag {
    fn from(rag: Rag) -> Self {
        match rag {
            Rag::Red => DisplayRag::Red,
            Rag::Amber => DisplayRag::Amber,
            Rag::Green => DisplayRag::Green,
        }
    }
}

impl DisplayRag {
    pub fn as_str(self) -> &'static str {
        match self {
            DisplayRag::Red => "red",
            DisplayRag::Amber => "amber",
            DisplayRag::Green => "green",
            DisplayRag::Blue => "blue",
        }
    }
}

/// Which way a measure should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    LowerIsBetter,
    HigherIsBetter,
}

/// A finding of a monitoring visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Strength,
    AreaForImprovement,
    Recommendation,
}

impl FindingKind {
    /// Strengths need no answer; areas for improvement and recommendations do.
    pub fn needs_action(self) -> bool {
        !matches!(self, FindingKind::Strength)
    }
}

/// The governance forums that oversee an improvement plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForumKind {
    ImprovementBoard,
    ActionGroup,
    PartnershipReview,
    VisitPreparationGroup,
    Other,
}

/// How a plan was revised: refreshed keeps its shape, redrafted rebuilds it around new areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevisionKind {
    Refresh,
    Redraft,
}

/// Things that happen to a plan from outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneKind {
    /// An inspection judgement (e.g. inadequate).
    Judgement,
    /// A statutory direction from the Secretary of State, or its revision.
    StatutoryDirection,
    /// A review of progress by the department (a stocktake) or a commissioner.
    Review,
    /// Money added to or taken from the improvement effort.
    Funding,
    Other,
}

/// A finite number: JSON cannot carry NaN or infinity, and a reading must never be either.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Finite(f64);

/// A number that is NaN or infinite.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("must be a finite number")]
pub struct NotFinite;

impl Finite {
    pub fn new(value: f64) -> Result<Self, NotFinite> {
        if value.is_finite() {
            Ok(Finite(value))
        } else {
            Err(NotFinite)
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Finite {
    type Error = NotFinite;
    fn try_from(value: f64) -> Result<Self, NotFinite> {
        Finite::new(value)
    }
}

impl From<Finite> for f64 {
    fn from(value: Finite) -> f64 {
        value.0
    }
}

impl fmt::Display for Finite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_actions_cannot_change_status_only_reopen() {
        for next in ActionStatus::ALL {
            assert!(!ActionStatus::Completed.can_become(next));
            assert!(!ActionStatus::Cancelled.can_become(next));
        }
    }

    #[test]
    fn no_status_becomes_itself() {
        for status in ActionStatus::ALL {
            assert!(!status.can_become(status));
        }
    }

    #[test]
    fn finite_refuses_nan_and_infinity() {
        assert!(Finite::new(f64::NAN).is_err());
        assert!(Finite::new(f64::INFINITY).is_err());
        assert_eq!(Finite::new(14.2).unwrap().get(), 14.2);
    }
}
