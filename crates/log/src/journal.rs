//! The write-ahead journal: one `fdatasync` makes a group durable.
//!
//! sled 0.34.7's `flush` ends in `sync_file_range`, which does not make its
//! writes durable on its own (see [`crate::durable`]), so a group committed
//! through sled alone waits for two device round trips: sled's flush, then
//! an `fsync` of its files. Instead, the writer appends each group's records
//! to this file as one frame, and the sync stage `fdatasync`s the file once
//! for every group waiting; that is the only wait before acknowledging.
//! sled gets the same records as one plain insert per group (in memory,
//! [`crate::stored`]), so readers find them there, and writes them out when
//! it likes.
//!
//! At a checkpoint (every [`CHECKPOINT_BYTES`] of frames by default, at
//! graceful shutdown, when the log is closed) the writer flushes sled and
//! fsyncs its files, and then starts the journal over: from then on sled
//! alone holds those groups durably. At open, frames past sled's head are
//! applied to sled before anything reads it, sled is made durable and the
//! journal started over.
//!
//! A frame is `[version: u8][body length: u32 LE][BLAKE3 of body: 32][body]`,
//! and the body the group's records (`crate::record`), each as
//! `[length: u32 LE][record]`. A frame is only acknowledged once it and
//! every frame before it are synced, so a frame that is cut short or whose
//! digest does not match can only be the unacknowledged end of a crash (or
//! the rest of a frame from before the last checkpoint): it ends the
//! journal.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::keys;
use crate::record::Record;
use crate::stored;
use crate::LogError;

/// The journal's file name inside the data directory.
pub(crate) const FILE_NAME: &str = "journal";

/// The default of [`crate::LogOptions::journal_checkpoint_bytes`]. Large
/// enough that checkpoints are rare, small enough that replaying the journal
/// at open takes a fraction of a second and that a checkpoint has little of
/// sled's data left to write.
pub(crate) const CHECKPOINT_BYTES: u64 = 32 * 1024 * 1024;

const FRAME_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 32;

/// The journal file, as the writer writes to it.
///
/// The file is written over, not appended to: a checkpoint starts the next
/// frames at offset 0 again, and the file is extended with zeros ahead of
/// the frames, [`GROW_BYTES`] at a time. An `fdatasync` after a write that
/// grows a file must also commit the new size and block allocation to the
/// file system's journal; one after a write within written blocks only
/// flushes the data, which measured about a quarter faster here. Frames
/// left over from before a checkpoint stay behind the new ones; sled holds
/// all of their events durably, so replay skips them.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// Where the next frame goes: the bytes of frames since the last clear.
    len: u64,
    /// The file's length: zeros or old frames beyond `len`.
    allocated: u64,
    /// The file's offset, if known: a write that follows the last one
    /// (nearly every write) needs no seek first.
    cursor: Option<u64>,
    grow_bytes: u64,
}

/// How far ahead of the frames the file is extended at most.
pub(crate) const GROW_BYTES: u64 = 1024 * 1024;

impl Journal {
    /// Opens (creating if needed) the journal of `dir`. The caller reads
    /// and replays its frames and then [`Journal::clear`]s it. The file is
    /// extended by at most `grow_bytes` at a time.
    pub(crate) fn open(dir: &Path, grow_bytes: u64) -> Result<Journal, LogError> {
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LogError::io("could not open the journal", &path, e))?;
        let allocated = file
            .metadata()
            .map_err(|e| LogError::io("could not read the size of", &path, e))?
            .len();
        Ok(Journal {
            file,
            path,
            len: 0,
            allocated,
            cursor: Some(0),
            grow_bytes: grow_bytes.max(1),
        })
    }

    /// Bytes of frames written since the last [`Journal::clear`].
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// A second handle on the same file, for the sync stage to `fdatasync`.
    pub(crate) fn sync_handle(&self) -> Result<JournalSync, LogError> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| LogError::io("could not reopen the journal", &self.path, e))?;
        Ok(JournalSync {
            file,
            path: self.path.clone(),
        })
    }

    /// Writes one frame after the last (not yet durable: that is the sync
    /// stage's job).
    pub(crate) fn write(&mut self, frame: &mut Frame) -> Result<(), LogError> {
        frame.seal();
        let end = self.len + frame.buf.len() as u64;
        if end > self.allocated {
            self.extend_to(end)?;
        }
        self.at(self.len)
            .and_then(|()| self.file.write_all(&frame.buf))
            .map_err(|e| LogError::io("could not write to the journal", &self.path, e))?;
        self.len = end;
        self.cursor = Some(end);
        Ok(())
    }

    /// Takes back the frames from `from` (a frame's start) on, durably: its first byte becomes
    /// a zero, which ends the journal there, and the file is synced. For a group the store
    /// refused after its frame was written, so that the journal does not bring back at the
    /// next open what its callers were told was not appended. Overwriting one byte of blocks
    /// the file already has needs no room on the disk.
    pub(crate) fn withdraw(&mut self, from: u64) -> Result<(), LogError> {
        self.at(from)
            .and_then(|()| self.file.write_all(&[0]))
            .and_then(|()| self.file.sync_data())
            .map_err(|e| LogError::io("could not withdraw a frame from", &self.path, e))?;
        self.cursor = Some(from + 1);
        self.len = from;
        Ok(())
    }

    /// Writes zeros from the end of the file to past `end`.
    fn extend_to(&mut self, end: u64) -> Result<(), LogError> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let target = end.div_ceil(self.grow_bytes) * self.grow_bytes;
        let mut at = self.allocated;
        self.at(at)
            .and_then(|()| {
                while at < target {
                    let n = (target - at).min(ZEROS.len() as u64) as usize;
                    self.file.write_all(&ZEROS[..n])?;
                    at += n as u64;
                }
                Ok(())
            })
            .map_err(|e| LogError::io("could not extend the journal", &self.path, e))?;
        self.allocated = target;
        self.cursor = Some(target);
        Ok(())
    }

    /// Moves the file's offset to `offset`, forgetting it until the caller
    /// records where its write or read left it.
    fn at(&mut self, offset: u64) -> std::io::Result<()> {
        if self.cursor.take() != Some(offset) {
            self.file.seek(SeekFrom::Start(offset))?;
        }
        Ok(())
    }

    /// Starts the journal over: the next frame goes to offset 0. Only once
    /// sled holds everything in it durably, since a crash after this can
    /// leave any of its frames unreadable.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Reads every whole frame from the start. The first frame that is cut
    /// short or damaged, or zeros, ends the journal: it was never
    /// acknowledged (or it is what is left of a frame from before the last
    /// checkpoint), and the next frames are written over it.
    pub(crate) fn read_frames(&mut self) -> Result<Vec<Vec<Vec<u8>>>, LogError> {
        let mut bytes = Vec::with_capacity(usize::try_from(self.allocated).unwrap_or(0));
        self.at(0)
            .and_then(|()| (&self.file).read_to_end(&mut bytes))
            .map_err(|e| LogError::io("could not read the journal", &self.path, e))?;
        Ok(parse_frames(&bytes).0)
    }
}

/// The sync stage's handle on the journal.
#[derive(Debug)]
pub(crate) struct JournalSync {
    file: File,
    path: PathBuf,
}

impl JournalSync {
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(|e| LogError::io("could not fsync", &self.path, e))
    }
}

/// One group's frame, filled record by record while the writer decides.
/// The default is an empty buffer, to be [`Frame::reset`] before use.
#[derive(Default)]
pub(crate) struct Frame {
    buf: Vec<u8>,
}

impl Frame {
    /// Fills in the header (version, body length, body digest) for the records pushed.
    fn seal(&mut self) {
        let (header, body) = self.buf.split_at_mut(HEADER_LEN);
        header[0] = FRAME_VERSION;
        header[1..5].copy_from_slice(&len_u32(body.len()).to_le_bytes());
        header[5..].copy_from_slice(blake3::hash(body).as_bytes());
    }

    #[cfg(test)]
    pub(crate) fn new() -> Frame {
        Frame {
            buf: vec![0; HEADER_LEN],
        }
    }

    /// Empties the frame for the next group, keeping its buffer.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(HEADER_LEN, 0);
    }

    #[cfg(test)]
    pub(crate) fn push(&mut self, record: &[u8]) {
        self.push_with(|buf| buf.extend_from_slice(record));
    }

    /// Appends the record that `encode` writes to the buffer it is given,
    /// and returns where the record's bytes are, for [`Frame::record`].
    pub(crate) fn push_with<T>(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> T,
    ) -> (std::ops::Range<usize>, T) {
        let prefix = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let start = self.buf.len();
        let out = encode(&mut self.buf);
        let end = self.buf.len();
        self.buf[prefix..start].copy_from_slice(&len_u32(end - start).to_le_bytes());
        (start..end, out)
    }

    /// A record's bytes, as [`Frame::push_with`] placed them.
    pub(crate) fn record(&self, at: std::ops::Range<usize>) -> &[u8] {
        &self.buf[at]
    }
}

fn len_u32(len: usize) -> u32 {
    // Records are bounded far below 4 GiB (`record::MAX_DATA_BYTES`) and a
    // group by `writer::MAX_GROUP` of them.
    u32::try_from(len).expect("a journal frame is smaller than 4 GiB")
}

/// The frames' records, and how many bytes the whole frames take.
fn parse_frames(bytes: &[u8]) -> (Vec<Vec<Vec<u8>>>, usize) {
    let mut frames = Vec::new();
    let mut pos = 0;
    while let Some((records, next)) = parse_frame(&bytes[pos..]) {
        frames.push(records);
        pos += next;
    }
    (frames, pos)
}

fn parse_frame(bytes: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
    let header = bytes.get(..HEADER_LEN)?;
    if header[0] != FRAME_VERSION {
        return None;
    }
    let body_len = u32::from_le_bytes(header[1..5].try_into().ok()?) as usize;
    let body = bytes.get(HEADER_LEN..HEADER_LEN.checked_add(body_len)?)?;
    if blake3::hash(body).as_bytes() != &header[5..] {
        return None;
    }
    let mut records = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        records.push(rest.get(4..4 + len)?.to_vec());
        rest = &rest[4 + len..];
    }
    Some((records, HEADER_LEN + body_len))
}

/// What [`recover`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Recovery {
    /// Events applied to sled from the journal.
    pub replayed: u64,
    /// Events sled held past the last head record, cut off.
    pub cut: u64,
}

/// Brings sled up to date with the journal: applies the frames sled does not
/// have yet, in order, each as one sled batch of the group's value and the
/// head record (checking that each record holds the next seq and links to
/// the previous hash), then removes any events past the resulting head
/// record.
///
/// Those can only be a group that was never acknowledged: the writer inserts
/// a group's value, then its head record, after the journal has the group,
/// and acknowledges only once the journal's copy is synced; every
/// acknowledged group is therefore either in the journal or made durable in
/// sled, head record included, by a checkpoint. Cutting them keeps groups
/// all-or-nothing after a power cut that left sled with more than the
/// journal.
///
/// A frame that does not continue the chain from sled's head means the two
/// disagree about history: that is reported as a problem (appends stop,
/// `verify` names the damage) and nothing more is applied or cut. So is a
/// store without a readable head record.
pub(crate) fn recover(
    frames: Vec<Vec<Vec<u8>>>,
    db: &sled::Db,
    dir: &Path,
    problems: &mut Vec<String>,
) -> Result<Recovery, LogError> {
    let sled_err = |action| LogError::sled(action, dir);
    let mut recovery = Recovery::default();
    let head = match db
        .get(keys::META_HEAD)
        .map_err(sled_err("reading the head record"))?
    {
        Some(v) => keys::parse_head(&v),
        None if db
            .range(keys::event(0)..=keys::event(u64::MAX))
            .next()
            .is_none() =>
        {
            Some((0, crate::record::GENESIS))
        }
        None => None,
    };
    let Some(mut head) = head else {
        // Replaying onto an unknown head could only make it worse; the
        // journal is kept for whoever repairs the store.
        problems.push("the store's head record is missing or malformed".to_owned());
        return Ok(recovery);
    };
    for records in frames {
        let mut batch = sled::Batch::default();
        let mut next = head;
        let mut already_stored = false;
        let mut group: Vec<&[u8]> = Vec::with_capacity(records.len());
        for bytes in &records {
            let r = match Record::decode(bytes) {
                Ok(r) => r,
                Err(reason) => {
                    problems.push(format!("a journal record is unreadable: {reason}"));
                    return Ok(recovery);
                }
            };
            if r.seq <= head.0 {
                already_stored = true;
                continue;
            }
            if already_stored || r.seq != next.0 + 1 || r.prev_hash != next.1 {
                problems.push(format!(
                    "the journal's event {} does not follow event {} of the store",
                    r.seq, next.0
                ));
                return Ok(recovery);
            }
            next = (r.seq, r.hash);
            group.push(bytes);
        }
        if next == head {
            continue;
        }
        // As the writer stored it: the frame is one group commit. A key already stored inside
        // its range goes (a build of format 2 stored each event under its own key), or the
        // group and that key would both claim its event.
        for stale in db
            .range(keys::event(head.0 + 2)..=keys::event(next.0))
            .keys()
        {
            batch.remove(stale.map_err(sled_err("finding events the journal replaces"))?);
        }
        for (skip, value) in stored::values(&group) {
            batch.insert(&keys::event(head.0 + 1 + skip), value);
        }
        batch.insert(keys::META_HEAD, keys::head_value(next.0, &next.1).to_vec());
        db.apply_batch(batch)
            .map_err(sled_err("replaying the journal"))?;
        recovery.replayed += next.0 - head.0;
        head = next;
    }

    let mut cut = sled::Batch::default();
    for entry in db.range(keys::event(head.0 + 1)..=keys::event(u64::MAX)) {
        let (key, value) = entry.map_err(sled_err("finding events past the head record"))?;
        recovery.cut += stored::split(&value).map_or(1, |records| records.len() as u64);
        cut.remove(key);
    }
    if recovery.cut > 0 {
        db.apply_batch(cut)
            .map_err(sled_err("removing an unacknowledged group"))?;
    }
    Ok(recovery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{self, Fields, Hash, GENESIS};

    /// A chain of `n` records, seqs 1 to `n`, in one stream, with each one's hash.
    fn chain(n: u64) -> Vec<(Vec<u8>, Hash)> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let mut bytes = Vec::new();
                let hash = record::encode(
                    &Fields {
                        prev_hash: &prev,
                        seq,
                        stream_id: uuid::Uuid::from_u128(1),
                        stream_version: seq,
                        stream_type: "action",
                        event_type: "ProgressRecorded",
                        schema_version: 1,
                        data: b"{}",
                        event_id: uuid::Uuid::from_u128(u128::from(seq)),
                        recorded_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                        effective_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                        command_id: uuid::Uuid::from_u128(u128::from(seq)),
                        correlation_id: uuid::Uuid::from_u128(7),
                        actor: "director",
                        request_digest: &[1; 32],
                    },
                    &mut bytes,
                );
                prev = hash;
                (bytes, hash)
            })
            .collect()
    }

    #[test]
    fn a_replayed_group_replaces_the_keys_a_format_2_build_left_inside_it() {
        // What a format-2 build leaves at a crash: events 3 and 4 under keys of their own,
        // the head record still at 2, and the journal's frame of 3 and 4.
        let records = chain(4);
        let db = sled::Config::new().temporary(true).open().unwrap();
        for (i, (bytes, _)) in records.iter().enumerate() {
            db.insert(keys::event(i as u64 + 1), bytes.as_slice())
                .unwrap();
        }
        db.insert(keys::META_HEAD, keys::head_value(2, &records[1].1).to_vec())
            .unwrap();
        let frame = vec![records[2].0.clone(), records[3].0.clone()];
        let mut problems = Vec::new();
        let recovery = recover(vec![frame], &db, Path::new("test"), &mut problems).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            recovery,
            Recovery {
                replayed: 2,
                cut: 0
            }
        );
        let placed: Vec<u64> = stored::Scan::new(&db, 1, 10)
            .map(|p| p.unwrap().seq)
            .collect();
        assert_eq!(placed, [1, 2, 3, 4]);
        assert!(
            db.get(keys::event(4)).unwrap().is_none(),
            "event 4 is in the group under 3"
        );
    }

    #[test]
    fn a_cut_counts_the_events_of_the_groups_it_removes() {
        let records = chain(5);
        let db = sled::Config::new().temporary(true).open().unwrap();
        db.insert(keys::event(1), records[0].0.as_slice()).unwrap();
        let group: Vec<&[u8]> = records[1..].iter().map(|(b, _)| b.as_slice()).collect();
        for (skip, value) in stored::values(&group) {
            db.insert(keys::event(2 + skip), value).unwrap();
        }
        db.insert(keys::META_HEAD, keys::head_value(1, &records[0].1).to_vec())
            .unwrap();
        let mut problems = Vec::new();
        let recovery = recover(Vec::new(), &db, Path::new("test"), &mut problems).unwrap();
        assert_eq!(
            recovery,
            Recovery {
                replayed: 0,
                cut: 4
            }
        );
        assert_eq!(stored::Scan::new(&db, 1, 10).count(), 1);
    }

    fn frame(records: &[&[u8]]) -> Vec<u8> {
        encoded(&[records.iter().map(|r| r.to_vec()).collect()])
    }

    #[test]
    fn whole_frames_are_read_back_and_a_torn_one_ends_the_journal() {
        let a = frame(&[b"one", b"two"]);
        let b = frame(&[b"three"]);
        let mut bytes = [a.clone(), b.clone()].concat();
        let (frames, whole) = parse_frames(&bytes);
        assert_eq!(whole, bytes.len());
        assert_eq!(
            frames,
            vec![
                vec![b"one".to_vec(), b"two".to_vec()],
                vec![b"three".to_vec()]
            ]
        );

        for cut in 1..b.len() {
            let (frames, whole) = parse_frames(&bytes[..a.len() + cut]);
            assert_eq!((frames.len(), whole), (1, a.len()), "cut at {cut}");
        }
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let (frames, whole) = parse_frames(&bytes);
        assert_eq!((frames.len(), whole), (1, a.len()));
    }

    fn encoded(frames: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut out = Vec::new();
        for records in frames {
            let mut f = Frame::new();
            for r in records {
                f.push(r);
            }
            f.seal();
            out.extend_from_slice(&f.buf);
        }
        out
    }

    proptest::proptest! {
        /// Whatever a crash or a bad disk does to the end of the journal,
        /// reading it gives back a prefix of the frames written, never a
        /// changed one, and never panics.
        #[test]
        fn a_cut_or_damaged_journal_reads_as_a_prefix_of_what_was_written(
            frames in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 1..4),
                0..6,
            ),
            cut in proptest::num::usize::ANY,
            flip in proptest::option::of((proptest::num::usize::ANY, 1u8..=255)),
        ) {
            let mut bytes = encoded(&frames);
            let cut = if bytes.is_empty() { 0 } else { cut % (bytes.len() + 1) };
            bytes.truncate(cut);
            if let Some((at, mask)) = flip.filter(|_| !bytes.is_empty()) {
                let at = at % bytes.len();
                bytes[at] ^= mask;
            }
            let (read, whole) = parse_frames(&bytes);
            proptest::prop_assert!(read.len() <= frames.len());
            proptest::prop_assert_eq!(&read[..], &frames[..read.len()]);
            proptest::prop_assert_eq!(whole, encoded(&read).len());
        }
    }

    #[test]
    fn frames_are_written_over_from_the_start_after_a_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut j = Journal::open(dir.path(), 4096).unwrap();
        for record in [&b"first, and longer"[..], b"second"] {
            let mut f = Frame::new();
            f.push(record);
            j.write(&mut f).unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096, "zeros ahead");
        assert_eq!(j.read_frames().unwrap().len(), 2);

        j.clear();
        let mut f = Frame::new();
        f.push(b"third");
        j.write(&mut f).unwrap();
        assert_eq!(j.len(), (HEADER_LEN + 4 + 5) as u64);
        drop(j);
        // What is left of the first frame behind the third is not a frame.
        let mut j = Journal::open(dir.path(), 4096).unwrap();
        assert_eq!(j.read_frames().unwrap(), vec![vec![b"third".to_vec()]]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);

        let big = vec![7u8; 5000];
        let mut f = Frame::new();
        f.push(&big);
        j.write(&mut f).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8192);
        assert_eq!(j.read_frames().unwrap(), vec![vec![big]]);
    }

    #[test]
    fn a_withdrawn_frame_ends_the_journal_and_the_next_is_written_in_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), 4096).unwrap();
        let mut f = Frame::new();
        f.push(b"kept");
        j.write(&mut f).unwrap();
        let refused_at = j.len();
        for record in [&b"refused"[..], b"after it"] {
            let mut f = Frame::new();
            f.push(record);
            j.write(&mut f).unwrap();
        }
        j.withdraw(refused_at).unwrap();
        assert_eq!(j.len(), refused_at);
        drop(j);
        let mut j = Journal::open(dir.path(), 4096).unwrap();
        assert_eq!(j.read_frames().unwrap(), vec![vec![b"kept".to_vec()]]);

        // A writer that goes on after a withdrawal writes over the withdrawn frame.
        let mut j = Journal::open(dir.path(), 4096).unwrap();
        let mut f = Frame::new();
        f.push(b"kept");
        j.write(&mut f).unwrap();
        j.withdraw(j.len()).unwrap();
        let mut f = Frame::new();
        f.push(b"next");
        j.write(&mut f).unwrap();
        assert_eq!(
            j.read_frames().unwrap(),
            vec![vec![b"kept".to_vec()], vec![b"next".to_vec()]]
        );
    }
}
