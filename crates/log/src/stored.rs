//! How event records sit in sled: a key per group commit, not per event.
//!
//! The value under `E` + seq is either one record (its first byte is the record format) or a
//! group: [`GROUP`], then each record of consecutive seqs as a `u32` little-endian length and
//! its bytes, the first record's seq being the key's. The writer stores each group commit under
//! one key, because sled 0.34's cost is per inserted key (every insert clones the leaf it lands
//! in, and a leaf holds at most 16 keys): with a key per event its inserts were 62 % of the
//! writer thread's time at 64 HTTP clients, and a key per group took the writer's CPU per
//! command from 11.6 to 12.8 µs down to 8.4 to 9.7 µs in four alternating pairs. A lone record
//! is stored as it is, so a log written one event per key (format 2, and imports) reads the
//! same way.
//!
//! A group commit larger than [`MAX_VALUE_BYTES`] takes as many keys as it needs.
//!
//! Readers never see the grouping: [`find`] answers one seq and [`Scan`] walks a seq range,
//! each record paired with the seq its place gives it, which verify and decoding check against
//! the seq the record claims. A key that falls inside the records of the key before it is
//! damage, reported at that earlier key: two entries may never claim one event.

use sled::IVec;

use crate::keys;

/// The first byte of a group value. Record formats count up from 1, so no record starts so.
pub(crate) const GROUP: u8 = 0xF0;

/// How large a group value grows before the next record starts another key. sled 0.34 writes
/// an item of more than about a quarter of its 512 KiB segment as a file of its own, and a
/// group commit at 256 clients can hold a few hundred records.
const MAX_VALUE_BYTES: usize = 32 * 1024;

/// The values that store `records`, consecutive from the first's seq, each with how many
/// records precede it: a lone record as it is, several as a group, a new value whenever one
/// would pass [`MAX_VALUE_BYTES`]. The writer and the journal's replay both store a group
/// commit this way, so a replay writes the same keys and bytes.
pub(crate) fn values(records: &[&[u8]]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let mut end = start + 1;
        let mut len = 1 + 4 + records[start].len();
        while end < records.len() && len + 4 + records[end].len() <= MAX_VALUE_BYTES {
            len += 4 + records[end].len();
            end += 1;
        }
        out.push((start as u64, value(&records[start..end])));
        start = end;
    }
    out
}

/// The value that stores `records`, whose seqs follow on from the key's.
fn value(records: &[&[u8]]) -> Vec<u8> {
    if let [lone] = records {
        return lone.to_vec();
    }
    let len = 1 + records.iter().map(|r| 4 + r.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.push(GROUP);
    for record in records {
        let prefix = u32::try_from(record.len()).expect("a record is smaller than 4 GiB");
        out.extend_from_slice(&prefix.to_le_bytes());
        out.extend_from_slice(record);
    }
    out
}

/// The records of one stored value, in order, sharing its bytes.
pub(crate) fn split(value: &IVec) -> Result<Vec<IVec>, String> {
    if value.first() != Some(&GROUP) {
        return Ok(vec![value.clone()]);
    }
    let mut records = Vec::new();
    let mut at = 1;
    while at < value.len() {
        let (record, next) = record_at(value, at)?;
        records.push(record);
        at = next;
    }
    if records.len() < 2 {
        return Err("a group holds fewer than two records".to_owned());
    }
    Ok(records)
}

/// The `n`th record of a stored value, if it holds that many; the records before it are
/// stepped over, not copied.
fn nth(value: &IVec, n: u64) -> Result<Option<IVec>, String> {
    if value.first() != Some(&GROUP) {
        return Ok((n == 0).then(|| value.clone()));
    }
    let mut at = 1;
    let mut index = 0;
    while at < value.len() {
        let (record, next) = record_at(value, at)?;
        if index == n {
            return Ok(Some(record));
        }
        index += 1;
        at = next;
    }
    Ok(None)
}

/// The record whose length prefix is at byte `at` of a group, and where the next one starts.
fn record_at(value: &IVec, at: usize) -> Result<(IVec, usize), String> {
    let prefix: [u8; 4] = value
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("a group's length prefix at byte {at} is cut short"))?;
    let len = u32::from_le_bytes(prefix) as usize;
    let start = at + 4;
    if value.len() - start < len {
        return Err(format!(
            "a group's record at byte {start} claims {len} bytes, but {} are left",
            value.len() - start
        ));
    }
    Ok((value.subslice(start, len), start + len))
}

/// A record as its place in the store names it.
#[derive(Debug)]
pub(crate) struct Placed {
    pub seq: u64,
    pub bytes: IVec,
}

/// What stopped a [`Scan`] or a [`find`].
#[derive(Debug)]
pub(crate) enum Unreadable {
    /// sled failed, or found its own pages damaged.
    Store(sled::Error),
    /// A key under the event prefix that is not one.
    Key(IVec),
    /// A group whose bytes do not split into records; `seq` is its key's.
    Group { seq: u64, reason: String },
}

/// The record of `seq`, if stored: one descent of the tree to the last key at or before it.
pub(crate) fn find(db: &sled::Db, seq: u64) -> Result<Option<IVec>, Unreadable> {
    let Some(entry) = db.range(keys::event(0)..=keys::event(seq)).next_back() else {
        return Ok(None);
    };
    let (key, value) = entry.map_err(Unreadable::Store)?;
    let first = keys::event_seq(&key).ok_or(Unreadable::Key(key))?;
    nth(&value, seq - first).map_err(|reason| Unreadable::Group { seq: first, reason })
}

/// The stored records whose places are `from..=to`, in order, each with the seq its place
/// gives it. A missing event is simply not there: callers that need every seq check for gaps.
pub(crate) struct Scan {
    /// The group holding `from`, if it starts before `from`, then the keys from `from` on.
    first: Option<sled::Result<(IVec, IVec)>>,
    keys: sled::Iter,
    records: std::vec::IntoIter<IVec>,
    next_seq: u64,
    /// The key of the last entry read and the seq after its records: the next key may not be
    /// below it, or two entries would claim the same events.
    covered: (u64, u64),
    from: u64,
    to: u64,
    done: bool,
}

impl Scan {
    pub(crate) fn new(db: &sled::Db, from: u64, to: u64) -> Scan {
        // The group that holds `from` may start before it: the last key at or before it.
        let first = db
            .range(keys::event(0)..=keys::event(from))
            .next_back()
            .filter(|entry| !matches!(entry, Ok((key, _)) if keys::event_seq(key) == Some(from)));
        let keys = db.range(keys::event(from)..=keys::event(to));
        Scan {
            first,
            keys,
            records: Vec::new().into_iter(),
            next_seq: 0,
            covered: (0, 0),
            from,
            to,
            done: from > to,
        }
    }

    fn next_entry(&mut self) -> Option<sled::Result<(IVec, IVec)>> {
        self.first.take().or_else(|| self.keys.next())
    }

    /// Notes that the entry under `seq` holds `count` records, unless it overlaps the one
    /// before it or runs past the last possible seq.
    fn cover(&mut self, seq: u64, count: usize) -> Result<(), Unreadable> {
        let (before, end) = self.covered;
        if seq < end {
            return Err(Unreadable::Group {
                seq: before,
                reason: format!(
                    "its records reach event {}, but event {seq} has a key of its own",
                    end - 1
                ),
            });
        }
        self.covered = (seq, last_seq(seq, count)? + 1);
        Ok(())
    }
}

impl Iterator for Scan {
    type Item = Result<Placed, Unreadable>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(bytes) = self.records.next() {
                let seq = self.next_seq;
                self.next_seq += 1;
                if seq > self.to {
                    self.done = true;
                    return None;
                }
                if seq < self.from {
                    continue;
                }
                return Some(Ok(Placed { seq, bytes }));
            }
            let (key, value) = match self.next_entry()? {
                Ok(entry) => entry,
                Err(e) => {
                    self.done = true;
                    return Some(Err(Unreadable::Store(e)));
                }
            };
            let Some(seq) = keys::event_seq(&key) else {
                self.done = true;
                return Some(Err(Unreadable::Key(key)));
            };
            if value.first() != Some(&GROUP) {
                // A lone record, the common case of a scan of imported events: no split.
                if let Err(e) = self.cover(seq, 1) {
                    self.done = true;
                    return Some(Err(e));
                }
                if seq > self.to {
                    self.done = true;
                    return None;
                }
                if seq < self.from {
                    continue;
                }
                return Some(Ok(Placed { seq, bytes: value }));
            }
            match split(&value).map_err(|reason| Unreadable::Group { seq, reason }) {
                Ok(records) => {
                    if let Err(e) = self.cover(seq, records.len()) {
                        self.done = true;
                        return Some(Err(e));
                    }
                    self.records = records.into_iter();
                    self.next_seq = seq;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// The last stored record, with the seq its place gives it.
pub(crate) fn last(db: &sled::Db) -> Result<Option<Placed>, Unreadable> {
    let Some(entry) = db.range(keys::event(0)..=keys::event(u64::MAX)).next_back() else {
        return Ok(None);
    };
    let (key, value) = entry.map_err(Unreadable::Store)?;
    let seq = keys::event_seq(&key).ok_or(Unreadable::Key(key))?;
    let records = split(&value).map_err(|reason| Unreadable::Group { seq, reason })?;
    let last_seq = last_seq(seq, records.len())?;
    Ok(records.into_iter().last().map(|bytes| Placed {
        seq: last_seq,
        bytes,
    }))
}

/// The seq of the last of `count` records stored under `seq`; damage if it would not fit a u64.
fn last_seq(seq: u64, count: usize) -> Result<u64, Unreadable> {
    (count as u64)
        .checked_sub(1)
        .and_then(|more| seq.checked_add(more))
        .filter(|&last| last < u64::MAX)
        .ok_or_else(|| Unreadable::Group {
            seq,
            reason: "its records run past the last possible seq".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> sled::Db {
        sled::Config::new().temporary(true).open().unwrap()
    }

    fn record(seq: u64) -> Vec<u8> {
        // Any bytes not starting with GROUP stand for a record here.
        format!("record {seq}").into_bytes()
    }

    /// Stores seqs 1..=12 as a lone record, a group of 4, a lone record, and a group of 6.
    fn stored() -> sled::Db {
        let db = db();
        for (first, count) in [(1, 1), (2, 4), (6, 1), (7, 6)] {
            let records: Vec<Vec<u8>> = (first..first + count).map(record).collect();
            let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
            for (skip, value) in values(&slices) {
                db.insert(keys::event(first + skip), value).unwrap();
            }
        }
        db
    }

    fn seqs(scan: Scan) -> Vec<u64> {
        scan.map(|placed| {
            let placed = placed.unwrap();
            assert_eq!(&*placed.bytes, record(placed.seq).as_slice());
            placed.seq
        })
        .collect()
    }

    #[test]
    fn a_scan_starts_and_ends_inside_groups_and_every_record_keeps_its_place() {
        let db = stored();
        for from in 1..=13 {
            for to in from..=13 {
                let expected: Vec<u64> = (from..=to.min(12)).collect();
                assert_eq!(seqs(Scan::new(&db, from, to)), expected, "{from}..={to}");
            }
        }
        assert!(seqs(Scan::new(&db, 5, 4)).is_empty());
    }

    #[test]
    fn find_and_last_see_through_the_groups() {
        let db = stored();
        for seq in 1..=12 {
            assert_eq!(&*find(&db, seq).unwrap().unwrap(), record(seq).as_slice());
        }
        assert!(find(&db, 0).unwrap().is_none());
        assert!(find(&db, 13).unwrap().is_none());
        let last = last(&db).unwrap().unwrap();
        assert_eq!((last.seq, &*last.bytes), (12, record(12).as_slice()));
        assert!(super::last(&self::db()).unwrap().is_none());
    }

    #[test]
    fn a_gap_between_keys_is_left_for_the_caller_to_see() {
        let db = stored();
        db.remove(keys::event(6)).unwrap();
        assert_eq!(
            seqs(Scan::new(&db, 1, 12)),
            [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
        );
        assert!(find(&db, 6).unwrap().is_none());
    }

    #[test]
    fn a_lone_record_is_stored_as_it_is() {
        assert_eq!(value(&[b"alone".as_slice()]), b"alone");
    }

    #[test]
    fn a_cut_or_short_group_is_unreadable_at_its_key() {
        let whole = value(&[b"one".as_slice(), b"two".as_slice()]);
        for cut in 1..whole.len() {
            let db = db();
            db.insert(keys::event(3), &whole[..cut]).unwrap();
            match Scan::new(&db, 1, 9).next() {
                Some(Err(Unreadable::Group { seq: 3, .. })) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        let db = db();
        db.insert(
            keys::event(3),
            value(&[b"one".as_slice(), b"two".as_slice()]),
        )
        .unwrap();
        assert_eq!(Scan::new(&db, 1, 9).count(), 2);
    }

    #[test]
    fn a_large_group_commit_is_stored_in_values_no_larger_than_the_cap() {
        let records: Vec<Vec<u8>> = (0..300).map(|i| vec![b'r'; 500 + i]).collect();
        let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let values = values(&slices);
        assert!(values.len() > 1);
        let db = db();
        for (skip, value) in &values {
            assert!(value.len() <= MAX_VALUE_BYTES, "{}", value.len());
            db.insert(keys::event(10 + skip), value.as_slice()).unwrap();
        }
        let read: Vec<Placed> = Scan::new(&db, 1, 1000).map(Result::unwrap).collect();
        assert_eq!(read.len(), 300);
        for (i, placed) in read.iter().enumerate() {
            assert_eq!(placed.seq, 10 + i as u64);
            assert_eq!(&*placed.bytes, records[i].as_slice());
        }
        // A record larger than the cap still gets a value, of its own.
        let big = vec![b'b'; MAX_VALUE_BYTES * 2];
        let values = super::values(&[b"small".as_slice(), big.as_slice(), b"small".as_slice()]);
        assert_eq!(
            values.iter().map(|(skip, _)| *skip).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn a_key_inside_the_group_before_it_is_reported_at_that_group() {
        let db = stored();
        // Event 8 lies inside the group stored under 7.
        db.insert(keys::event(8), record(8)).unwrap();
        let read: Vec<Result<Placed, Unreadable>> = Scan::new(&db, 1, 12).collect();
        assert!(read[..11].iter().all(Result::is_ok));
        match read.last() {
            Some(Err(Unreadable::Group { seq: 7, reason })) => {
                assert!(reason.contains("event 8"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
