//! What a plan shows of an action, kept after each of the action's events.
//!
//! An action's state grows with its history (every piece of evidence stays in it), so a fold
//! from a snapshot, which starts with a clone of that state, costs more the longer the log. The
//! plan overview asks about every action at once; with the line after each event kept, a
//! question about a moment whose events are a prefix of the stream (always so for a log the
//! domain wrote) is a binary search and a borrow.

use std::sync::Arc;

use chrono::NaiveDate;
use stocktake_domain::aggregates::Action;
use stocktake_domain::{ActionId, ActionStatus, AreaId, DisplayRag};

/// An action's title and owner, shared by every line they have not changed since: an action
/// keeps a line per event, and its text rarely changes.
#[derive(Debug, PartialEq, Eq)]
struct ActionText {
    title: Box<str>,
    owner: Box<str>,
}

/// An action as one line of its plan, derived from the domain's state of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionLine {
    pub action_id: ActionId,
    pub area_id: AreaId,
    /// One pointer rather than two: a line is kept per action event, so this is 24 bytes less
    /// per action event and one reference count to move per event instead of two.
    text: Arc<ActionText>,
    pub status: ActionStatus,
    /// The rating a reader sees: red, amber, green while open, blue once completed.
    pub rag: Option<DisplayRag>,
    pub start_on: Option<NaiveDate>,
    pub due_on: NaiveDate,
    pub rebaseline_count: u32,
    pub evidence_count: usize,
    pub impact_confirmed: bool,
}

impl ActionLine {
    /// The line of an action, sharing the text of `previous` where it has not changed, so that
    /// keeping a line per event does not keep a copy of the title per event.
    pub fn of(action: &Action, previous: Option<&ActionLine>) -> Self {
        let text = match previous {
            Some(previous)
                if *previous.text.title == *action.title.as_str()
                    && *previous.text.owner == *action.owner.as_str() =>
            {
                Arc::clone(&previous.text)
            }
            _ => Arc::new(ActionText {
                title: action.title.as_str().into(),
                owner: action.owner.as_str().into(),
            }),
        };
        Self::with_text(action, text)
    }

    /// The line of an action after an event that cannot have changed its title or owner: the
    /// text is `previous`'s, taken without comparing (in a long log both copies are usually
    /// out of the CPU's cache, and comparing them was 6 to 8 % of a rebuild).
    pub fn keeping_text(action: &Action, previous: &ActionLine) -> Self {
        Self::with_text(action, Arc::clone(&previous.text))
    }

    pub fn title(&self) -> &str {
        &self.text.title
    }

    pub fn owner(&self) -> &str {
        &self.text.owner
    }

    /// Whether two lines share one copy of their text.
    pub fn shares_text_with(&self, other: &ActionLine) -> bool {
        Arc::ptr_eq(&self.text, &other.text)
    }

    fn with_text(action: &Action, text: Arc<ActionText>) -> Self {
        ActionLine {
            action_id: action.action_id,
            area_id: action.area_id,
            text,
            status: action.status,
            rag: action.display_rag(),
            start_on: action.start_on,
            due_on: action.due_on,
            rebaseline_count: action.rebaseline_count,
            evidence_count: action.evidence.len(),
            impact_confirmed: action.impact_confirmed,
        }
    }
}
