//! The read model: every stream's timeline, and which streams belong to which plan.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use stocktake_domain::{ActionId, Envelope, Event, MeasureId, PlanId, StreamRef, VisitId};
use uuid::Uuid;

use crate::entries::Entries;
use crate::read_ahead::Batch;
use crate::timeline::{Entry, KeptEntry, Timeline, TimelineRef, Times};

/// The streams of one plan, in the order they were added.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanMembers {
    pub actions: Vec<ActionId>,
    pub measures: Vec<MeasureId>,
    pub visits: Vec<VisitId>,
}

/// Events read from the log, each with its stream, to fold together
/// ([`ReadModel::apply_batch`]): what a rebuild's reading thread hands the folding one.
#[derive(Debug)]
pub(crate) struct EntryBatch {
    streams: Vec<StreamRef>,
    entries: Vec<KeptEntry>,
    times: Vec<Times>,
    /// Whether each entry's sequence number is above the one before.
    in_order: bool,
}

impl Batch for EntryBatch {
    type Item = (StreamRef, Entry);

    fn with_capacity(events: usize) -> Self {
        EntryBatch {
            streams: Vec::with_capacity(events),
            entries: Vec::with_capacity(events),
            times: Vec::with_capacity(events),
            in_order: true,
        }
    }

    fn push(&mut self, (stream, entry): (StreamRef, Entry)) {
        self.in_order &= self.entries.last().is_none_or(|last| last.seq < entry.seq);
        let (kept, times) = entry.into_kept();
        self.streams.push(stream);
        self.entries.push(kept);
        self.times.push(times);
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Everything the read models are computed from. A pure fold: [`ReadModel::apply`] takes
/// envelopes in log order and does no I/O.
#[derive(Debug, Clone, Default)]
pub struct ReadModel {
    /// Every event folded, in the order folded; the timelines name them by position.
    entries: Entries,
    /// Hashed with foldhash rather than SipHash: the map is looked up once for every event
    /// folded, and SipHash was a tenth of a rebuild's fold. (Seeded per process, so stream
    /// ids a client chooses cannot be picked to collide.)
    timelines: HashMap<Uuid, Timeline, foldhash::fast::RandomState>,
    plans: BTreeMap<PlanId, PlanMembers>,
    last_seq: u64,
    /// How many events streams that have no timeline yet are expected to bring (see
    /// [`ReadModel::expecting`]); each is taken when its stream's first event arrives.
    expected_lengths: HashMap<Uuid, usize>,
}

impl ReadModel {
    /// An empty model about to fold a log whose streams have these lengths: each timeline is
    /// made with room for its whole history. Only a hint: a stream may bring more or fewer.
    pub fn expecting(lengths: HashMap<Uuid, usize>) -> Self {
        ReadModel {
            timelines: HashMap::with_capacity_and_hasher(lengths.len(), Default::default()),
            expected_lengths: lengths,
            ..ReadModel::default()
        }
    }

    /// The sequence number of the last event folded; 0 for none.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Folds one event. Events at or before [`ReadModel::last_seq`] were folded already
    /// (a subscription may deliver one again after a restart) and are skipped.
    pub fn apply(&mut self, envelope: Envelope) {
        let stream = envelope.stream;
        self.apply_entry(stream, Entry::from_envelope(envelope));
    }

    /// [`ReadModel::apply`] for an event already in the read model's own form.
    pub fn apply_entry(&mut self, stream: StreamRef, entry: Entry) {
        let (kept, times) = entry.into_kept();
        self.apply_kept(stream, kept, times);
    }

    /// Folds one event as the store keeps it, given its times.
    fn apply_kept(&mut self, stream: StreamRef, kept: KeptEntry, times: Times) {
        if kept.seq <= self.last_seq {
            return;
        }
        self.last_seq = kept.seq;
        index_membership(&mut self.plans, &kept.event);
        let position = self.entries.push(kept);
        self.place(stream, position, times);
    }

    /// [`ReadModel::apply_entry`] for each event of a batch, in order. A batch read from the
    /// log, after the model's last event and of the size of the room in the model's last
    /// chunk ([`ReadModel::room`]), keeps its entries where they are.
    pub(crate) fn apply_batch(&mut self, batch: EntryBatch) {
        let after_last = batch.entries.first().is_some_and(|e| e.seq > self.last_seq);
        if !(after_last && batch.in_order) {
            for ((stream, kept), times) in batch
                .streams
                .into_iter()
                .zip(batch.entries)
                .zip(batch.times)
            {
                self.apply_kept(stream, kept, times);
            }
            return;
        }
        let Some(last_seq) = batch.entries.last().map(|e| e.seq) else {
            return;
        };
        let first = self.entries.append(batch.entries);
        for ((position, stream), times) in (first..).zip(batch.streams).zip(batch.times) {
            index_membership(&mut self.plans, &self.entries.get(position).event);
            self.place(stream, position, times);
        }
        self.last_seq = last_seq;
    }

    /// How many entries the model's last chunk has room for: a batch of that many, and then
    /// batches of a whole chunk, are kept without a copy.
    pub(crate) fn room(&self) -> usize {
        self.entries.room()
    }

    /// Adds the entry at `position`, with its times, to its stream's timeline.
    fn place(&mut self, stream: StreamRef, position: usize, times: Times) {
        let expected = &mut self.expected_lengths;
        self.timelines
            .entry(stream.id)
            .or_insert_with(|| {
                let events = expected.remove(&stream.id).unwrap_or(0);
                Timeline::with_capacity(stream, events)
            })
            .push(&self.entries, position, times);
    }

    pub fn timelines(&self) -> impl Iterator<Item = TimelineRef<'_>> + '_ {
        self.timelines
            .values()
            .map(|t| TimelineRef::new(t, &self.entries))
    }

    pub fn timeline(&self, id: impl Into<Uuid>) -> Option<TimelineRef<'_>> {
        self.timelines
            .get(&id.into())
            .map(|t| TimelineRef::new(t, &self.entries))
    }

    /// The timeline of a stream of the expected kind; an id of another kind names nothing.
    pub fn timeline_of(&self, stream: StreamRef) -> Option<TimelineRef<'_>> {
        self.timeline(stream.id).filter(|t| t.stream() == stream)
    }

    pub fn plan_ids(&self) -> impl Iterator<Item = PlanId> + '_ {
        self.plans.keys().copied()
    }

    pub fn members(&self, plan_id: PlanId) -> Option<&PlanMembers> {
        self.plans.get(&plan_id)
    }

    /// Every stream of a plan: the plan itself, its actions, measures and visits.
    pub fn plan_streams(&self, plan_id: PlanId) -> Vec<StreamRef> {
        let Some(members) = self.plans.get(&plan_id) else {
            return Vec::new();
        };
        std::iter::once(StreamRef::plan(plan_id))
            .chain(members.actions.iter().map(|&a| StreamRef::action(a)))
            .chain(members.measures.iter().map(|&m| StreamRef::measure(m)))
            .chain(members.visits.iter().map(|&v| StreamRef::visit(v)))
            .collect()
    }

    pub fn event_count(&self) -> usize {
        self.entries.len()
    }

    /// A digest of every stream's current state and the last sequence folded: two read models
    /// with equal hashes answer every question the same way.
    pub fn state_hash(&self) -> String {
        let mut ids: Vec<&Uuid> = self.timelines.keys().collect();
        ids.sort();
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.last_seq.to_be_bytes());
        for id in ids {
            let timeline = TimelineRef::new(&self.timelines[id], &self.entries);
            hasher.update(id.as_bytes());
            let state =
                serde_json::to_vec(timeline.current()).expect("read model state serializes");
            hasher.update(&(state.len() as u64).to_be_bytes());
            hasher.update(&state);
            for entry in timeline.entries() {
                hasher.update(&entry.seq.to_be_bytes());
            }
        }
        hasher.finalize().to_hex().to_string()
    }
}

/// Which plan a stream belongs to, from the event that adds it.
fn index_membership(plans: &mut BTreeMap<PlanId, PlanMembers>, event: &Event) {
    fn add<T: PartialEq>(list: &mut Vec<T>, item: T) {
        if !list.contains(&item) {
            list.push(item);
        }
    }
    match event {
        Event::PlanCreated(e) => {
            plans.entry(e.plan_id).or_default();
        }
        Event::ActionAdded(e) => add(
            &mut plans.entry(e.plan_id).or_default().actions,
            e.action_id,
        ),
        Event::MeasureDefined(e) => add(
            &mut plans.entry(e.plan_id).or_default().measures,
            e.measure_id,
        ),
        Event::VisitRecorded(e) => add(&mut plans.entry(e.plan_id).or_default().visits, e.visit_id),
        _ => {}
    }
}
