//! The read model: every stream's timeline, and which streams belong to which plan.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use stocktake_domain::{ActionId, Envelope, Event, MeasureId, PlanId, StreamRef, VisitId};
use uuid::Uuid;

use crate::timeline::{Entry, Timeline};

/// The streams of one plan, in the order they were added.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanMembers {
    pub actions: Vec<ActionId>,
    pub measures: Vec<MeasureId>,
    pub visits: Vec<VisitId>,
}

/// Everything the read models are computed from. A pure fold: [`ReadModel::apply`] takes
/// envelopes in log order and does no I/O.
#[derive(Debug, Clone, Default)]
pub struct ReadModel {
    timelines: HashMap<Uuid, Timeline>,
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
            timelines: HashMap::with_capacity(lengths.len()),
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
        if entry.seq <= self.last_seq {
            return;
        }
        self.last_seq = entry.seq;
        self.index_membership(&entry.event);
        let expected = &mut self.expected_lengths;
        self.timelines
            .entry(stream.id)
            .or_insert_with(|| {
                let events = expected.remove(&stream.id).unwrap_or(0);
                Timeline::with_capacity(stream, events)
            })
            .push(entry);
    }

    fn index_membership(&mut self, event: &Event) {
        fn add<T: PartialEq>(list: &mut Vec<T>, item: T) {
            if !list.contains(&item) {
                list.push(item);
            }
        }
        match event {
            Event::PlanCreated(e) => {
                self.plans.entry(e.plan_id).or_default();
            }
            Event::ActionAdded(e) => add(
                &mut self.plans.entry(e.plan_id).or_default().actions,
                e.action_id,
            ),
            Event::MeasureDefined(e) => add(
                &mut self.plans.entry(e.plan_id).or_default().measures,
                e.measure_id,
            ),
            Event::VisitRecorded(e) => add(
                &mut self.plans.entry(e.plan_id).or_default().visits,
                e.visit_id,
            ),
            _ => {}
        }
    }

    pub fn timelines(&self) -> impl Iterator<Item = &Timeline> + '_ {
        self.timelines.values()
    }

    pub fn timeline(&self, id: impl Into<Uuid>) -> Option<&Timeline> {
        self.timelines.get(&id.into())
    }

    /// The timeline of a stream of the expected kind; an id of another kind names nothing.
    pub fn timeline_of(&self, stream: StreamRef) -> Option<&Timeline> {
        self.timelines
            .get(&stream.id)
            .filter(|t| t.stream() == stream)
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
        self.timelines.values().map(|t| t.entries().len()).sum()
    }

    /// A digest of every stream's current state and the last sequence folded: two read models
    /// with equal hashes answer every question the same way.
    pub fn state_hash(&self) -> String {
        let mut ids: Vec<&Uuid> = self.timelines.keys().collect();
        ids.sort();
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.last_seq.to_be_bytes());
        for id in ids {
            let timeline = &self.timelines[id];
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
