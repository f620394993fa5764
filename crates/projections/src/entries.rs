//! Every event the read model holds, in the order it was folded, in chunks of a fixed size.
//!
//! A stream's timeline names its events by their place here. In a rebuild the reading thread
//! decodes a chunk's worth of entries into one batch, and the batch becomes the chunk as it
//! is: an entry is written once, where it stays. Kept in each stream's own list instead, every
//! entry was copied again into memory far out of the CPU's cache (a different stream's for
//! every event), and that copy was a quarter of the fold at 1,000,000 events.

use crate::timeline::KeptEntry;

/// How many entries a chunk holds: every chunk but the last is full.
pub(crate) const CHUNK: usize = 1024;

/// The entries, by position from 0.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entries {
    chunks: Vec<Vec<KeptEntry>>,
}

impl Entries {
    pub(crate) fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK + last.len())
    }

    /// The entry at a position this store gave out.
    ///
    /// # Panics
    /// At a position it did not give out: a timeline names only its own entries.
    pub(crate) fn get(&self, position: usize) -> &KeptEntry {
        &self.chunks[position / CHUNK][position % CHUNK]
    }

    /// How many entries the last chunk has room for: a batch of this many, then batches of
    /// [`CHUNK`], are each kept as they are.
    pub(crate) fn room(&self) -> usize {
        match self.chunks.last() {
            Some(last) if last.len() < CHUNK => CHUNK - last.len(),
            _ => CHUNK,
        }
    }

    /// Adds an entry; returns its position.
    pub(crate) fn push(&mut self, entry: KeptEntry) -> usize {
        let position = self.len();
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(entry),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(entry);
                self.chunks.push(chunk);
            }
        }
        position
    }

    /// Adds entries in order; returns the position of the first. A batch that makes a whole
    /// chunk on its own is kept as it is, without copying an entry.
    pub(crate) fn append(&mut self, batch: Vec<KeptEntry>) -> usize {
        let first = self.len();
        if batch.len() == CHUNK && self.room() == CHUNK {
            self.chunks.push(batch);
        } else {
            for entry in batch {
                self.push(entry);
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stocktake_domain::events::PlanAgreed;
    use stocktake_domain::text::Role;
    use stocktake_domain::PlanId;
    use uuid::Uuid;

    fn entry(seq: u64) -> KeptEntry {
        KeptEntry {
            seq,
            stream_version: seq,
            event_id: Uuid::from_u128(u128::from(seq)),
            actor: "director".into(),
            event: PlanAgreed {
                plan_id: PlanId(Uuid::from_u128(1)),
                agreed_on: chrono::NaiveDate::MIN,
                agreed_by: Role::parse("Chief Executive").unwrap(),
            }
            .into(),
        }
    }

    fn batch(seqs: std::ops::Range<u64>) -> Vec<KeptEntry> {
        seqs.map(entry).collect()
    }

    #[test]
    fn every_entry_is_found_at_the_position_it_was_given_however_it_came() {
        let mut entries = Entries::default();
        let mut given = Vec::new();
        given.push((entries.push(entry(1)), 1));
        // A short batch to fill the first chunk, then a whole one, then one that straddles two.
        let room = entries.room() as u64;
        assert_eq!(room, CHUNK as u64 - 1);
        let spans = [
            2..2 + room,
            2 + room..2 + room + 1024,
            2 + room + 1024..3000,
        ];
        for span in spans {
            let first = entries.append(batch(span.clone()));
            given.extend(span.enumerate().map(|(i, seq)| (first + i, seq)));
        }
        given.push((entries.push(entry(3000)), 3000));
        assert_eq!(entries.len(), 3000);
        for (position, seq) in given {
            assert_eq!(entries.get(position).seq, seq, "position {position}");
        }
        assert_eq!(entries.room(), 3 * CHUNK - 3000);
    }

    #[test]
    fn a_whole_chunk_is_kept_as_it_came_and_a_partial_one_is_copied() {
        let mut entries = Entries::default();
        let whole = batch(1..1 + CHUNK as u64);
        let at = whole.as_ptr();
        entries.append(whole);
        assert!(std::ptr::eq(entries.get(0), at));
        entries.push(entry(2000));
        let unaligned = batch(3000..3000 + CHUNK as u64);
        let at = unaligned.as_ptr();
        entries.append(unaligned);
        assert!(!std::ptr::eq(entries.get(CHUNK + 1), at));
        assert_eq!(entries.get(CHUNK + 1).seq, 3000);
        assert_eq!(entries.len(), 2 * CHUNK + 1);
    }
}
