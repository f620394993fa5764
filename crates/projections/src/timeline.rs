//! One stream's events in effective order, with periodic snapshots, so that its state at any
//! (as of, known at) moment is a search of its times and a short fold rather than a replay.
//!
//! An action's timeline also keeps its line of the plan after every event ([`ActionLine`]):
//! the plan overview asks about every action at once, and an action's state (its texts, and
//! a question's fold from a snapshot) costs too much to make a thousand times per question.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stocktake_domain::aggregates::action;
use stocktake_domain::{AggregateState, Envelope, Event, StreamRef, StreamType};
use uuid::Uuid;

use crate::at::At;
use crate::entries::Entries;
use crate::line::{ActionLine, ActionLines};
use crate::times::SortedTimes;

/// Snapshots are at least this many events apart, and at least [`EVENTS_PER_COPIED_ITEM`]
/// times as many as the items a snapshot copies (`clone_weight`): the fold behind a question
/// is at most that long, and taking snapshots costs a bounded amount per event however long a
/// stream's history grows. (At a fixed spacing, a plan with a hundred areas, forums and
/// meetings and a thousand events would copy each of them thirty times over.)
pub const SNAPSHOT_EVERY: usize = 32;

/// Events between snapshots per item a snapshot copies: each event pays for copying half an
/// item. At one, the copies were a tenth of a rebuild at 1,000,000 events and a sixth of the
/// read model's memory; at two, a question about a visit with a hundred findings folds at
/// most two hundred events.
pub const EVENTS_PER_COPIED_ITEM: usize = 2;

/// One recorded event of a stream, as the read models take it in (and a checkpoint keeps it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub stream_version: u64,
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    /// Shared with the other entries of the same actor (see [`crate::decode::Actors`]).
    pub actor: Arc<str>,
    pub event: Event,
}

impl Entry {
    pub fn from_envelope(envelope: Envelope) -> Self {
        Entry {
            seq: envelope.seq,
            stream_version: envelope.stream_version,
            event_id: envelope.event_id,
            recorded_at: envelope.recorded_at,
            effective_at: envelope.effective_at,
            actor: envelope.actor.into(),
            event: envelope.event,
        }
    }

    /// What the model's store keeps of the entry, and its times, which its timeline keeps.
    pub(crate) fn into_kept(self) -> (KeptEntry, Times) {
        let times = Times {
            effective_at: self.effective_at,
            recorded_at: self.recorded_at,
        };
        let kept = KeptEntry {
            seq: self.seq,
            stream_version: self.stream_version,
            event_id: self.event_id,
            actor: self.actor,
            event: self.event,
        };
        (kept, times)
    }
}

/// An [`Entry`] as the model's store keeps it: without its two times, which its timeline
/// keeps packed for the searches behind every question. Kept in both places, they were 24 of
/// an entry's 144 bytes, and each 24 bytes more per entry cost a rebuild at 1,000,000 events
/// 0.02 to 0.04 of its share of decode-only.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptEntry {
    pub seq: u64,
    pub stream_version: u64,
    pub event_id: Uuid,
    /// Shared with the other entries of the same actor (see [`crate::decode::Actors`]).
    pub actor: Arc<str>,
    pub event: Event,
}

/// When an event took effect, and when it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub effective_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// A kept entry with its times, as a timeline's readers see it; the entry's other fields are
/// reached through it.
#[derive(Debug, Clone, Copy)]
pub struct EntryAt<'a> {
    pub kept: &'a KeptEntry,
    pub effective_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

impl std::ops::Deref for EntryAt<'_> {
    type Target = KeptEntry;

    fn deref(&self) -> &KeptEntry {
        self.kept
    }
}

/// A stream's state after some of its events, with what a reader wants to know about them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Folded {
    pub state: AggregateState,
    /// Effective time of the latest event folded: when the item was last updated.
    pub last_effective: Option<DateTime<Utc>>,
    /// The stream version of the latest event folded.
    pub version: u64,
}

impl Folded {
    fn initial(stream: StreamRef) -> Self {
        Folded {
            state: AggregateState::initial(stream.stream_type),
            last_effective: None,
            version: 0,
        }
    }

    fn apply(&mut self, entry: &KeptEntry, effective_at: DateTime<Utc>) {
        self.state.evolve_in_place(&entry.event);
        self.last_effective = Some(effective_at);
        self.version = entry.stream_version;
    }
}

#[derive(Debug, Clone)]
struct Snapshot {
    /// The snapshot folds the stream's first `upto` events.
    upto: usize,
    /// The latest recording among those entries: the snapshot serves `known_at` at or after it.
    max_recorded: DateTime<Utc>,
    folded: Folded,
}

/// A stream's history and its folded states. Its events are kept in the model's store of
/// entries and named here by their positions there; a [`TimelineRef`] reads the two together.
#[derive(Debug, Clone)]
pub struct Timeline {
    stream: StreamRef,
    /// Where each event is in the model's entries, in effective order.
    positions: Vec<usize>,
    snapshots: Vec<Snapshot>,
    current: Folded,
    max_recorded: Option<DateTime<Utc>>,
    /// Whether recorded times never go backwards along the events. The domain keeps it so (a
    /// stream's effective order is its recorded order), and then "known at" is a prefix, found
    /// by a binary search; a log written otherwise is answered by a scan.
    recorded_in_order: bool,
    /// For an action: its line after each event.
    lines: ActionLines,
    /// Each event's effective and recorded time, packed, so the searches behind every question
    /// touch a few cache lines rather than one entry each.
    effective: SortedTimes,
    recorded: SortedTimes,
    /// The sequence number of the last event.
    last_seq: u64,
}

impl Timeline {
    /// A timeline with room for `events` events, so that building it does not move its
    /// history each time it outgrows its room (in a rebuild, where the log knows each stream's
    /// length, that moving was a tenth of the time).
    pub(crate) fn with_capacity(stream: StreamRef, events: usize) -> Self {
        let lines = if stream.stream_type == StreamType::Action {
            events
        } else {
            0
        };
        Timeline {
            stream,
            positions: Vec::with_capacity(events),
            snapshots: Vec::new(),
            current: Folded::initial(stream),
            max_recorded: None,
            recorded_in_order: true,
            lines: ActionLines::with_capacity(lines),
            effective: SortedTimes::with_capacity(events),
            recorded: SortedTimes::with_capacity(events),
            last_seq: 0,
        }
    }

    /// How many events the stream has.
    pub(crate) fn len(&self) -> usize {
        self.positions.len()
    }

    /// Adds the event at `position` in `entries`, with its times, to the stream.
    pub(crate) fn push(&mut self, entries: &Entries, position: usize, times: Times) {
        let entry = entries.get(position);
        // The current state's time and the last sequence are in the timeline itself, so this
        // reads nothing at the end of its history (in a rebuild that end is far out of the
        // CPU's cache, and reading it was a quarter of this function's time).
        let in_order = self
            .current
            .last_effective
            .is_none_or(|last| (last, self.last_seq) <= (times.effective_at, entry.seq));
        if !in_order {
            self.insert_out_of_order(entries, position, times);
            return;
        }
        self.recorded_in_order &= self.max_recorded.is_none_or(|max| max <= times.recorded_at);
        self.current.apply(entry, times.effective_at);
        self.max_recorded = Some(
            self.max_recorded
                .map_or(times.recorded_at, |m| m.max(times.recorded_at)),
        );
        self.effective.push(times.effective_at);
        self.recorded.push(times.recorded_at);
        self.last_seq = entry.seq;
        self.positions.push(position);
        if let AggregateState::Action(s) = &self.current.state {
            self.lines.push(
                s.action.as_ref(),
                action::keeps_title_and_owner(&entry.event),
            );
        }
        let since_snapshot = self.positions.len() - self.snapshots.last().map_or(0, |s| s.upto);
        let spacing = EVENTS_PER_COPIED_ITEM * clone_weight(&self.current.state);
        if since_snapshot >= SNAPSHOT_EVERY.max(spacing) {
            self.snapshots.push(Snapshot {
                upto: self.positions.len(),
                max_recorded: self.max_recorded.expect("set above"),
                folded: self.current.clone(),
            });
        }
    }

    /// The domain refuses a change earlier than its stream's latest, but a log written by
    /// another build may still hold one: keep the order exact and fold the stream again.
    fn insert_out_of_order(&mut self, entries: &Entries, position: usize, times: Times) {
        let mut events: Vec<(usize, Times)> = (0..self.positions.len())
            .map(|i| (self.positions[i], self.times(i)))
            .collect();
        let key =
            |(position, times): &(usize, Times)| (times.effective_at, entries.get(*position).seq);
        let at = events.partition_point(|event| key(event) <= key(&(position, times)));
        events.insert(at, (position, times));
        self.snapshots.clear();
        self.current = Folded::initial(self.stream);
        self.max_recorded = None;
        self.recorded_in_order = true;
        self.lines.clear();
        self.effective.clear();
        self.recorded.clear();
        self.positions.clear();
        for (position, times) in events {
            self.push(entries, position, times);
        }
    }

    /// The times of the event at `index` in effective order.
    fn times(&self, index: usize) -> Times {
        Times {
            effective_at: self.effective.as_slice()[index],
            recorded_at: self.recorded.as_slice()[index],
        }
    }

    /// How many events, from the first, make up a bitemporal moment, when they are a prefix
    /// of the stream: always unless a stream's recorded order differs from its effective order.
    fn prefix_at(&self, at: &At) -> Option<usize> {
        if at.known_at.is_some() && !self.recorded_in_order {
            return None;
        }
        let mut upto = match at.as_of {
            Some(as_of) => self.effective.count_until(as_of),
            None => self.positions.len(),
        };
        if let Some(known_at) = at.known_at {
            upto = upto.min(self.recorded.count_until(known_at));
        }
        Some(upto)
    }

    fn at<'a>(&'a self, entries: &'a Entries, at: &At) -> Cow<'a, Folded> {
        if at.is_now() {
            return Cow::Borrowed(&self.current);
        }
        let known_before = |recorded: DateTime<Utc>| at.known_at.is_none_or(|k| recorded <= k);
        let upto = match self.prefix_at(at) {
            Some(prefix) => prefix,
            // Not a prefix: up to the as-of time, leaving out what was not known yet.
            None => match at.as_of {
                Some(as_of) => self.effective.count_until(as_of),
                None => self.positions.len(),
            },
        };
        if upto == self.positions.len() && self.max_recorded.is_none_or(known_before) {
            return Cow::Borrowed(&self.current);
        }
        // Both conditions hold for a prefix of the snapshots, so their conjunction does too.
        let usable = self
            .snapshots
            .partition_point(|s| s.upto <= upto && known_before(s.max_recorded));
        let snapshot = usable.checked_sub(1).map(|i| &self.snapshots[i]);
        let start = snapshot.map_or(0, |s| s.upto);
        if !self.recorded.as_slice()[start..upto]
            .iter()
            .any(|&recorded| known_before(recorded))
        {
            // Nothing to fold after the snapshot: the answer is kept already.
            return match snapshot {
                Some(snapshot) => Cow::Borrowed(&snapshot.folded),
                None => Cow::Owned(Folded::initial(self.stream)),
            };
        }
        let mut folded =
            snapshot.map_or_else(|| Folded::initial(self.stream), |s| s.folded.clone());
        for index in start..upto {
            let times = self.times(index);
            if known_before(times.recorded_at) {
                folded.apply(entries.get(self.positions[index]), times.effective_at);
            }
        }
        Cow::Owned(folded)
    }
}

/// A stream's timeline with the entries it names: what the views read.
#[derive(Debug, Clone, Copy)]
pub struct TimelineRef<'a> {
    timeline: &'a Timeline,
    entries: &'a Entries,
}

impl<'a> TimelineRef<'a> {
    pub(crate) fn new(timeline: &'a Timeline, entries: &'a Entries) -> Self {
        TimelineRef { timeline, entries }
    }

    pub fn stream(self) -> StreamRef {
        self.timeline.stream
    }

    /// How many events the stream has.
    pub fn len(self) -> usize {
        self.timeline.len()
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Every event, in effective order (which the domain keeps equal to recorded order).
    pub fn entries(self) -> impl DoubleEndedIterator<Item = EntryAt<'a>> + ExactSizeIterator {
        (0..self.len()).map(move |index| self.entry(index))
    }

    /// The event at `index` in effective order.
    fn entry(self, index: usize) -> EntryAt<'a> {
        let times = self.timeline.times(index);
        EntryAt {
            kept: self.entries.get(self.timeline.positions[index]),
            effective_at: times.effective_at,
            recorded_at: times.recorded_at,
        }
    }

    /// The state with everything known and everything that has happened.
    pub fn current(self) -> &'a Folded {
        &self.timeline.current
    }

    /// How many events, from the first, make up a bitemporal moment, when they are a prefix
    /// of the stream: always unless a stream's recorded order differs from its effective order.
    pub fn prefix_at(self, at: &At) -> Option<usize> {
        self.timeline.prefix_at(at)
    }

    /// An action's line after its first `upto` events, with the last of them; `None` when the
    /// action did not exist yet (or this is not an action's stream).
    pub fn line_after(self, upto: usize) -> Option<(ActionLine<'a>, EntryAt<'a>)> {
        let last = upto.checked_sub(1)?;
        let line = self.timeline.lines.get(last)?;
        Some((line, self.entry(last)))
    }

    /// The stream's state at a bitemporal moment.
    pub fn at(self, at: &At) -> Cow<'a, Folded> {
        self.timeline.at(self.entries, at)
    }

    /// The events that belong to a bitemporal moment, in effective order.
    pub fn entries_at(self, at: &'a At) -> impl Iterator<Item = EntryAt<'a>> + 'a {
        self.entries()
            .filter(move |e| at.includes(e.effective_at, e.recorded_at))
    }
}

/// The items of a state's collections, which a clone of it copies one by one. An action's
/// evidence is shared by its copies, not copied.
fn clone_weight(state: &AggregateState) -> usize {
    match state {
        AggregateState::Action(_) => 0,
        AggregateState::Plan(s) => s
            .plan
            .as_ref()
            .map_or(0, |p| p.areas.len() + p.forums.len() + p.meetings.len()),
        AggregateState::Visit(s) => s.visit.as_ref().map_or(0, |v| v.findings.len()),
        AggregateState::Measure(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stocktake_domain::events::{ActionAdded, ProgressRecorded};
    use stocktake_domain::text::{Note, Role, Title};
    use stocktake_domain::{ActionId, AreaId, PlanId, Rag, StreamType};

    fn at(day: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2018, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            + chrono::Duration::days(day as i64)
    }

    /// The action's event at version `seq` (its seq in the log too), on the given days.
    fn entry(seq: u64, effective: u32, recorded: u32, event: Event) -> Entry {
        Entry {
            seq,
            stream_version: seq,
            event_id: Uuid::from_u128(u128::from(seq)),
            recorded_at: at(recorded),
            effective_at: at(effective),
            actor: "director".into(),
            event,
        }
    }

    /// A timeline with the entries it names, as the model keeps the two.
    struct Kept {
        entries: Entries,
        timeline: Timeline,
    }

    impl Kept {
        fn new(stream: StreamRef) -> Self {
            Kept {
                entries: Entries::default(),
                timeline: Timeline::with_capacity(stream, 0),
            }
        }

        fn push(&mut self, entry: Entry) {
            let (kept, times) = entry.into_kept();
            let position = self.entries.push(kept);
            self.timeline.push(&self.entries, position, times);
        }

        fn view(&self) -> TimelineRef<'_> {
            TimelineRef::new(&self.timeline, &self.entries)
        }
    }

    fn action_timeline(progress_days: &[(u32, u32)]) -> Kept {
        let action_id = ActionId(Uuid::from_u128(1));
        let stream = StreamRef {
            stream_type: StreamType::Action,
            id: action_id.into(),
        };
        let mut timeline = Kept::new(stream);
        timeline.push(entry(
            1,
            0,
            0,
            ActionAdded {
                action_id,
                plan_id: PlanId(Uuid::from_u128(2)),
                area_id: AreaId(Uuid::from_u128(3)),
                title: Title::parse("Recruit").unwrap(),
                description: None,
                owner: Role::parse("Head of Workforce").unwrap(),
                start_on: None,
                due_on: at(100).date_naive(),
                partner_contribution: None,
            }
            .into(),
        ));
        for (i, &(effective, recorded)) in progress_days.iter().enumerate() {
            let rag = [Rag::Red, Rag::Amber, Rag::Green][i % 3];
            timeline.push(entry(
                i as u64 + 2,
                effective,
                recorded,
                ProgressRecorded {
                    action_id,
                    note: Note::parse(format!("update {i}")).unwrap(),
                    rag: Some(rag),
                }
                .into(),
            ));
        }
        timeline
    }

    fn replay(timeline: TimelineRef<'_>, at: &At) -> Folded {
        let mut folded = Folded::initial(timeline.stream());
        for entry in timeline.entries_at(at) {
            folded.apply(entry.kept, entry.effective_at);
        }
        folded
    }

    /// Every moment of the grid (days as of, days known at) gets the answer of a full replay.
    fn assert_answers_as_a_replay(
        timeline: TimelineRef<'_>,
        as_of_days: impl IntoIterator<Item = u32>,
        known_at_days: impl IntoIterator<Item = u32> + Clone,
    ) {
        for as_of in as_of_days {
            for known_at in known_at_days.clone() {
                let question = At::as_of(at(as_of)).known_at(at(known_at));
                assert_eq!(
                    *timeline.at(&question),
                    replay(timeline, &question),
                    "as of day {as_of}, known at day {known_at}"
                );
            }
        }
    }

    #[test]
    fn an_actions_lines_share_one_text_until_its_owner_changes() {
        use stocktake_domain::events::ActionOwnerAssigned;

        let mut timeline = action_timeline(&[(1, 1), (2, 2)]);
        timeline.push(entry(
            4,
            3,
            3,
            ActionOwnerAssigned {
                action_id: ActionId(Uuid::from_u128(1)),
                previous_owner: Role::parse("Head of Workforce").unwrap(),
                owner: Role::parse("Director of Children's Services").unwrap(),
                reason: None,
            }
            .into(),
        ));
        let line = |upto| timeline.view().line_after(upto).expect("added").0;
        assert!(line(1).shares_text_with(&line(2)) && line(2).shares_text_with(&line(3)));
        assert!(!line(3).shares_text_with(&line(4)));
        assert_eq!(
            (line(3).owner(), line(4).owner()),
            ("Head of Workforce", "Director of Children's Services")
        );
        assert_eq!(line(4).title(), "Recruit");
    }

    #[test]
    fn snapshots_give_the_same_answer_as_a_full_replay() {
        // 100 updates, one a day, each recorded 5 days late; every 10th recorded 40 days late.
        let days: Vec<(u32, u32)> = (1..=100)
            .map(|d| (d, if d % 10 == 0 { d + 40 } else { d + 5 }))
            .collect();
        let timeline = action_timeline(&days);
        assert_answers_as_a_replay(timeline.view(), (0..150).step_by(7), (0..150).step_by(11));
    }

    /// With more findings than the fixed spacing, a visit's snapshots spread out to at least
    /// twice the findings each one copies, and every question still gets the answer of a full
    /// replay.
    #[test]
    fn snapshots_spread_out_as_the_state_grows_and_still_answer_as_a_replay() {
        use stocktake_domain::events::{FindingLinked, FindingRecorded, VisitRecorded};
        use stocktake_domain::ids::{FindingId, VisitId};
        use stocktake_domain::FindingKind;

        let visit_id = VisitId(Uuid::from_u128(1));
        let mut timeline = Kept::new(StreamRef {
            stream_type: StreamType::Visit,
            id: visit_id.into(),
        });
        timeline.push(entry(
            1,
            0,
            0,
            VisitRecorded {
                visit_id,
                plan_id: PlanId(Uuid::from_u128(2)),
                number: 1,
                started_on: at(0).date_naive(),
                ended_on: at(1).date_naive(),
                theme: Title::parse("Help and protection").unwrap(),
            }
            .into(),
        ));
        let finding = |i: u32| FindingId(Uuid::from_u128(1_000 + u128::from(i)));
        for i in 0..400u32 {
            let event: Event = if i < 150 {
                FindingRecorded {
                    visit_id,
                    finding_id: finding(i),
                    kind: FindingKind::AreaForImprovement,
                    text: Note::parse(format!("finding {i}")).unwrap(),
                }
                .into()
            } else {
                FindingLinked {
                    visit_id,
                    finding_id: finding(i % 150),
                    action_ids: vec![ActionId(Uuid::from_u128(5_000 + u128::from(i)))],
                }
                .into()
            };
            let day = 1 + i / 4;
            timeline.push(entry(u64::from(i) + 2, day, day + 3, event));
        }
        let starts: Vec<usize> = std::iter::once(0)
            .chain(timeline.timeline.snapshots.iter().map(|s| s.upto))
            .collect();
        for pair in starts.windows(2) {
            let findings = timeline
                .view()
                .entries()
                .take(pair[1])
                .filter(|e| matches!(e.event, Event::FindingRecorded(_)))
                .count();
            assert!(
                pair[1] - pair[0] >= SNAPSHOT_EVERY.max(EVENTS_PER_COPIED_ITEM * findings),
                "{starts:?}"
            );
        }
        assert!(
            timeline.timeline.snapshots.len() < 401 / SNAPSHOT_EVERY,
            "{starts:?}"
        );
        assert_answers_as_a_replay(timeline.view(), (0..110).step_by(3), (0..115).step_by(13));
    }

    /// An action's evidence is shared by the copies of its state, not copied, so its
    /// snapshots stay the fixed spacing apart however much evidence it gathers.
    #[test]
    fn an_actions_snapshots_keep_their_spacing_as_its_evidence_grows() {
        use stocktake_domain::events::EvidenceAttached;
        use stocktake_domain::ids::EvidenceId;
        use stocktake_domain::text::Reference;

        let mut timeline = action_timeline(&[]);
        let action_id = ActionId(Uuid::from_u128(1));
        for i in 0..400u32 {
            let day = 1 + i / 4;
            let event = EvidenceAttached {
                action_id,
                evidence_id: EvidenceId(Uuid::from_u128(1_000 + u128::from(i))),
                title: Title::parse(format!("Audit report {i}")).unwrap(),
                reference: Reference::parse(format!("audit/{i}")).unwrap(),
            };
            timeline.push(entry(u64::from(i) + 2, day, day + 3, event.into()));
        }
        let starts: Vec<usize> = timeline.timeline.snapshots.iter().map(|s| s.upto).collect();
        let every: Vec<usize> = (1..=401 / SNAPSHOT_EVERY)
            .map(|n| n * SNAPSHOT_EVERY)
            .collect();
        assert_eq!(starts, every);
        assert_answers_as_a_replay(timeline.view(), (0..110).step_by(3), (0..115).step_by(13));
    }

    /// The line kept for a prefix is the line of the state a fold gives for that moment.
    fn assert_lines_match_the_fold(timeline: TimelineRef<'_>, question: &At) {
        let folded = timeline.at(question);
        let from_fold = match &folded.state {
            AggregateState::Action(s) => s.action.as_ref().map(ActionLine::of),
            _ => unreachable!(),
        };
        let Some(upto) = timeline.prefix_at(question) else {
            return;
        };
        let kept = timeline.line_after(upto);
        assert_eq!(
            kept.as_ref().map(|(line, _)| line),
            from_fold.as_ref(),
            "{question:?}"
        );
        if let Some((_, last)) = kept {
            assert_eq!(Some(last.effective_at), folded.last_effective);
            assert_eq!(last.stream_version, folded.version);
        }
    }

    #[test]
    fn kept_lines_give_the_same_answer_as_a_fold() {
        // Recorded in effective order: every moment is a prefix.
        let in_order: Vec<(u32, u32)> = (1..=100).map(|d| (d, d + 3)).collect();
        // Every 10th recorded 40 days late: moments known at a time are not prefixes.
        let late: Vec<(u32, u32)> = (1..=100)
            .map(|d| (d, if d % 10 == 0 { d + 40 } else { d }))
            .collect();
        let (in_order, late) = (action_timeline(&in_order), action_timeline(&late));
        assert!(in_order
            .view()
            .prefix_at(&At::as_of(at(50)).known_at(at(30)))
            .is_some());
        assert!(late
            .view()
            .prefix_at(&At::as_of(at(50)).known_at(at(30)))
            .is_none());
        for timeline in [in_order.view(), late.view()] {
            for day in (0..150).step_by(3) {
                assert_lines_match_the_fold(timeline, &At::as_of(at(day)));
                assert_lines_match_the_fold(
                    timeline,
                    &At {
                        as_of: None,
                        known_at: Some(at(day)),
                    },
                );
                for known in (0..150).step_by(13) {
                    assert_lines_match_the_fold(timeline, &At::as_of(at(day)).known_at(at(known)));
                }
            }
        }
    }

    #[test]
    fn as_of_and_known_at_differ_for_a_late_entry() {
        let timeline = action_timeline(&[(10, 40)]);
        let rag = |f: &Folded| match &f.state {
            AggregateState::Action(s) => s.action.as_ref().unwrap().rag,
            _ => unreachable!(),
        };
        // What was true on day 20: the update effective on day 10 (recorded later).
        let timeline = timeline.view();
        assert_eq!(rag(&timeline.at(&At::as_of(at(20)))), Some(Rag::Red));
        // What we knew on day 20: nothing of it yet.
        assert_eq!(rag(&timeline.at(&At::as_of(at(20)).known_at(at(20)))), None);
    }

    #[test]
    fn an_out_of_order_entry_is_placed_by_effective_time() {
        let mut timeline = action_timeline(&[(10, 10), (20, 20)]);
        let last = timeline.view().entries().last().unwrap().event.clone();
        timeline.push(entry(99, 15, 30, last));
        let timeline = timeline.view();
        let order: Vec<_> = timeline
            .entries()
            .map(|e| (e.effective_at, e.recorded_at, e.seq))
            .collect();
        assert_eq!(
            order,
            [
                (at(0), at(0), 1),
                (at(10), at(10), 2),
                (at(15), at(30), 99),
                (at(20), at(20), 3)
            ]
        );
        assert_eq!(*timeline.at(&At::NOW), replay(timeline, &At::NOW));
        assert_eq!(
            *timeline.at(&At::as_of(at(16))),
            replay(timeline, &At::as_of(at(16)))
        );
    }
}
