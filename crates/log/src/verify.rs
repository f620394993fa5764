//! Walks the whole chain and reports the first event whose bytes, hash or
//! link is wrong.

use std::collections::HashMap;

use uuid::Uuid;

use crate::record::{Hash, Record, GENESIS};
use crate::shared::Shared;
use crate::stored::{Scan, Unreadable};
use crate::{LogError, VerifyReport};

/// Checks, for every event up to the head as it was when verification
/// started:
/// - the event exists under the next seq (no gaps, nothing moved),
/// - its bytes decode strictly and claim that seq,
/// - its recomputed hash equals the stored hash,
/// - its `prev_hash` equals the previous event's hash,
/// - its unchained tail (the request digest) matches its check bytes,
/// - its stream version follows the stream's previous one, and the
///   in-memory stream index points back at it;
///
/// and finally that the last hash is the published head hash.
pub(crate) fn verify(
    shared: &Shared,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, LogError> {
    let head = shared.head();
    let mut walk = Walk {
        expected: 1,
        prev: GENESIS,
        streams: HashMap::new(),
    };
    if head.last_seq > 0 {
        for item in Scan::new(&shared.db, 1, head.last_seq) {
            let seq = walk.expected;
            let placed = match item {
                Ok(placed) => placed,
                // sled checks its own pages: a damaged page is a verification failure at the
                // first event that could not be read, not an I/O failure of the verifier.
                Err(Unreadable::Store(sled::Error::Corruption { at, .. })) => {
                    return Ok(walk.report(Some(format!(
                        "the store's bytes are damaged where event {seq} or later is kept (sled reports corruption at {at:?})"
                    ))));
                }
                Err(Unreadable::Store(e)) => {
                    return Err(shared.sled_error("scanning the event log")(e))
                }
                Err(Unreadable::Key(key)) => {
                    return Ok(walk.report(Some(format!(
                        "a malformed key {} sits where event {seq} belongs",
                        hex::encode(key)
                    ))));
                }
                Err(Unreadable::Group { seq: from, reason }) => {
                    return Ok(walk.report(Some(format!(
                        "event {seq} is unreadable: the group stored from event {from} is damaged: {reason}"
                    ))));
                }
            };
            if let Err(problem) = walk.check(shared, placed.seq, &placed.bytes)? {
                return Ok(walk.report(Some(problem)));
            }
            progress(walk.expected - 1);
        }
    }
    if walk.expected <= head.last_seq {
        let missing = walk.expected;
        return Ok(walk.report(Some(format!(
            "event {missing} is missing: the log ends at {} but the head is {}",
            missing - 1,
            head.last_seq
        ))));
    }
    if crate::record::to_hex(&walk.prev) != head.head_hash {
        let last = head.last_seq;
        walk.expected = last;
        return Ok(walk.report(Some(format!(
            "the last event's hash differs from the head hash {}",
            head.head_hash
        ))));
    }
    Ok(walk.report(None))
}

struct Walk {
    /// The next seq; also one more than the number of good events.
    expected: u64,
    prev: Hash,
    streams: HashMap<Uuid, (String, u64)>,
}

impl Walk {
    /// `Ok(Err(problem))` names what is wrong with event `self.expected`.
    fn check(
        &mut self,
        shared: &Shared,
        placed_at: u64,
        value: &[u8],
    ) -> Result<Result<(), String>, LogError> {
        let seq = self.expected;
        if placed_at != seq {
            return Ok(Err(format!(
                "event {seq} is missing (the next stored event is {placed_at})"
            )));
        }
        let record = match Record::decode(value) {
            Ok(r) => r,
            Err(reason) => return Ok(Err(format!("event {seq} is unreadable: {reason}"))),
        };
        if record.seq != seq {
            return Ok(Err(format!(
                "the record stored as event {seq} claims to be event {} (events swapped or moved)",
                record.seq
            )));
        }
        if record.computed_hash() != record.hash {
            return Ok(Err(format!(
                "event {seq}'s stored bytes do not match its hash"
            )));
        }
        if !record.tail_ok() {
            return Ok(Err(format!(
                "event {seq}'s stored request digest does not match its check bytes"
            )));
        }
        if record.prev_hash != self.prev {
            return Ok(Err(format!(
                "event {seq} does not link to event {}'s hash",
                seq - 1
            )));
        }
        if let Err(e) = serde_json::from_str::<&serde_json::value::RawValue>(record.data) {
            return Ok(Err(format!("event {seq}'s data is not valid JSON: {e}")));
        }
        let (stream_type, version) = self
            .streams
            .entry(record.stream_id)
            .or_insert_with(|| (record.stream_type.to_owned(), 0));
        if *stream_type != record.stream_type {
            return Ok(Err(format!(
                "event {seq} puts stream {} of type {stream_type} under type {}",
                record.stream_id, record.stream_type
            )));
        }
        if record.stream_version != *version + 1 {
            return Ok(Err(format!(
                "event {seq} has version {} of stream {}, but the previous version was {version}",
                record.stream_version, record.stream_id
            )));
        }
        *version = record.stream_version;
        let indexed = shared
            .index()
            .seq_of(&record.stream_id, record.stream_version);
        if indexed != Some(seq) {
            return Ok(Err(format!(
                "the stream index does not point at event {seq} for version {} of stream {}",
                record.stream_version, record.stream_id
            )));
        }
        self.prev = record.hash;
        self.expected += 1;
        Ok(Ok(()))
    }

    fn report(&self, problem: Option<String>) -> VerifyReport {
        VerifyReport {
            ok: problem.is_none(),
            events: self.expected - 1,
            head_hash: crate::record::to_hex(&self.prev),
            first_bad_seq: problem.as_ref().map(|_| self.expected),
            problem,
        }
    }
}
