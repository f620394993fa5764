//! What a plan shows of an action, kept after each of the action's events.
//!
//! An action's state grows with its history (every piece of evidence stays in it), so a fold
//! from a snapshot, which starts with a clone of that state, costs more the longer the log. The
//! plan overview asks about every action at once; with the line after each event kept, a
//! question about a moment whose events are a prefix of the stream (always so for a log the
//! domain wrote) is a binary search and a read of one small record.

use std::borrow::Cow;

use chrono::NaiveDate;
use stocktake_domain::aggregates::Action;
use stocktake_domain::{ActionId, ActionStatus, AreaId, DisplayRag};

/// What names an action in its plan: its ids, title and owner. Kept once for every line they
/// are the same in: an action keeps a line per event, and these rarely change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ActionText {
    action_id: ActionId,
    area_id: AreaId,
    title: Box<str>,
    owner: Box<str>,
}

impl ActionText {
    fn of(action: &Action) -> Self {
        ActionText {
            action_id: action.action_id,
            area_id: action.area_id,
            title: action.title.as_str().into(),
            owner: action.owner.as_str().into(),
        }
    }

    fn names(&self, action: &Action) -> bool {
        self.action_id == action.action_id
            && self.area_id == action.area_id
            && *self.title == *action.title.as_str()
            && *self.owner == *action.owner.as_str()
    }
}

/// An action as one line of its plan, derived from the domain's state of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionLine<'a> {
    /// Borrowed from the action's timeline for a kept line; owned for one made from a fold.
    text: Cow<'a, ActionText>,
    pub status: ActionStatus,
    /// The rating a reader sees: red, amber, green while open, blue once completed.
    pub rag: Option<DisplayRag>,
    pub start_on: Option<NaiveDate>,
    pub due_on: NaiveDate,
    pub rebaseline_count: u32,
    pub evidence_count: usize,
    pub impact_confirmed: bool,
}

impl ActionLine<'static> {
    /// The line of an action as its state is now.
    pub fn of(action: &Action) -> Self {
        ActionLine::with_text(Cow::Owned(ActionText::of(action)), &KeptLine::of(action, 0))
    }
}

impl<'a> ActionLine<'a> {
    pub fn action_id(&self) -> ActionId {
        self.text.action_id
    }

    pub fn area_id(&self) -> AreaId {
        self.text.area_id
    }

    pub fn title(&self) -> &str {
        &self.text.title
    }

    pub fn owner(&self) -> &str {
        &self.text.owner
    }

    /// Whether two lines share one copy of their text.
    pub fn shares_text_with(&self, other: &ActionLine<'_>) -> bool {
        match (&self.text, &other.text) {
            (Cow::Borrowed(mine), Cow::Borrowed(theirs)) => std::ptr::eq(*mine, *theirs),
            _ => false,
        }
    }

    fn with_text(text: Cow<'a, ActionText>, kept: &KeptLine) -> Self {
        ActionLine {
            text,
            status: kept.status,
            rag: kept.rag,
            start_on: kept.start_on,
            due_on: kept.due_on,
            rebaseline_count: kept.rebaseline_count,
            evidence_count: kept.evidence_count as usize,
            impact_confirmed: kept.impact_confirmed,
        }
    }
}

/// What an action's timeline keeps of a line after each event: everything but its text, which
/// it names by its place among the action's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeptLine {
    text: u32,
    status: ActionStatus,
    rag: Option<DisplayRag>,
    start_on: Option<NaiveDate>,
    due_on: NaiveDate,
    rebaseline_count: u32,
    evidence_count: u32,
    impact_confirmed: bool,
}

impl KeptLine {
    fn of(action: &Action, text: u32) -> Self {
        KeptLine {
            text,
            status: action.status,
            rag: action.display_rag(),
            start_on: action.start_on,
            due_on: action.due_on,
            rebaseline_count: action.rebaseline_count,
            evidence_count: u32::try_from(action.evidence.len()).unwrap_or(u32::MAX),
            impact_confirmed: action.impact_confirmed,
        }
    }
}

/// An action's line after each of its events.
///
/// The lines are built while the log is folded, where every event lands on a different
/// stream's memory, far out of the CPU's cache: so a line is small (24 bytes, against 64 with
/// its ids and a counted pointer to its text), names its text by index, and adding one reads
/// nothing kept before it, not even a reference count.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActionLines {
    /// Each text the action has had, in order; the last is its current one.
    texts: Vec<ActionText>,
    /// `None` until the action is added.
    lines: Vec<Option<KeptLine>>,
}

impl ActionLines {
    pub(crate) fn with_capacity(events: usize) -> Self {
        ActionLines {
            texts: Vec::new(),
            lines: Vec::with_capacity(events),
        }
    }

    /// Keeps the line after the next event, given the action's state after it.
    /// `keeps_text` says that the event cannot have changed the action's text, so it is not
    /// compared (in a long log the text is out of the CPU's cache).
    pub(crate) fn push(&mut self, action: Option<&Action>, keeps_text: bool) {
        let line = action.map(|action| {
            let unchanged = match self.texts.last() {
                Some(_) if keeps_text => true,
                Some(text) => text.names(action),
                None => false,
            };
            if !unchanged {
                self.texts.push(ActionText::of(action));
            }
            let text = u32::try_from(self.texts.len() - 1).expect("fewer texts than events");
            KeptLine::of(action, text)
        });
        self.lines.push(line);
    }

    /// The line after the event at `index`; `None` before the action was added.
    pub(crate) fn get(&self, index: usize) -> Option<ActionLine<'_>> {
        let kept = self.lines.get(index)?.as_ref()?;
        Some(ActionLine::with_text(
            Cow::Borrowed(&self.texts[kept.text as usize]),
            kept,
        ))
    }

    pub(crate) fn clear(&mut self) {
        self.texts.clear();
        self.lines.clear();
    }
}
