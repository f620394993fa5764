//! The key space of the one sled tree. Everything lives in one tree so that
//! one command's writes are a single atomic `apply_batch`.
//!
//! | prefix | key                          | value                                   |
//! |--------|------------------------------|-----------------------------------------|
//! | `E`    | seq (u64 BE)                 | the event record ([`crate::record`])    |
//! | `S`    | stream id, version (u64 BE)  | seq (u64 BE)                            |
//! | `T`    | stream id                    | stream type (UTF-8), written at creation |
//! | `C`    | command id                   | digest(32) stream id(16) first seq(8) count(4) |
//! | `M`    | name                         | log metadata (format, head, import marker) |
//!
//! Big-endian integers make sled's byte order the numeric order, so range
//! scans walk events by seq and a stream by version.

use uuid::Uuid;

pub(crate) const EVENT: u8 = b'E';
pub(crate) const STREAM_INDEX: u8 = b'S';
pub(crate) const STREAM_META: u8 = b'T';
pub(crate) const COMMAND: u8 = b'C';

/// Written once when the log is created.
pub(crate) const META_FORMAT: &[u8] = b"Mformat";
pub(crate) const FORMAT_VALUE: &[u8] = b"stocktake-log/1";
/// The head (seq, hash) as of the last group, written in the same batch as
/// the group's events. Lets open and verify notice events missing from the
/// end of the chain, which the chain itself cannot show.
pub(crate) const META_HEAD: &[u8] = b"Mhead";
/// Present while an import is half-written; its presence at open means the
/// import never finished and everything must go.
pub(crate) const META_IMPORTING: &[u8] = b"Mimporting";

pub(crate) fn event(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = EVENT;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The seq of an event key, if it is one.
pub(crate) fn event_seq(key: &[u8]) -> Option<u64> {
    match key {
        [EVENT, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

pub(crate) fn stream_index(stream_id: Uuid, version: u64) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[0] = STREAM_INDEX;
    k[1..17].copy_from_slice(stream_id.as_bytes());
    k[17..].copy_from_slice(&version.to_be_bytes());
    k
}

pub(crate) fn stream_meta(stream_id: Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = STREAM_META;
    k[1..].copy_from_slice(stream_id.as_bytes());
    k
}

pub(crate) fn command(command_id: Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = COMMAND;
    k[1..].copy_from_slice(command_id.as_bytes());
    k
}

pub(crate) fn head_value(seq: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..8].copy_from_slice(&seq.to_be_bytes());
    v[8..].copy_from_slice(hash);
    v
}

pub(crate) fn parse_head(v: &[u8]) -> Option<(u64, [u8; 32])> {
    if v.len() != 40 {
        return None;
    }
    Some((parse_u64(&v[..8])?, v[8..].try_into().ok()?))
}

pub(crate) fn u64_value(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

pub(crate) fn parse_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// What the `C` index remembers about a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommandEntry {
    /// All zeros for commands that arrived through import, whose digest the
    /// export format does not carry.
    pub digest: [u8; 32],
    pub stream_id: Uuid,
    pub first_seq: u64,
    pub count: u32,
}

/// The digest stored for imported commands: "unknown, accept any retry".
pub(crate) const UNKNOWN_DIGEST: [u8; 32] = [0; 32];

impl CommandEntry {
    pub(crate) fn encode(&self) -> [u8; 60] {
        let mut v = [0u8; 60];
        v[..32].copy_from_slice(&self.digest);
        v[32..48].copy_from_slice(self.stream_id.as_bytes());
        v[48..56].copy_from_slice(&self.first_seq.to_be_bytes());
        v[56..].copy_from_slice(&self.count.to_be_bytes());
        v
    }

    pub(crate) fn decode(v: &[u8]) -> Option<Self> {
        if v.len() != 60 {
            return None;
        }
        Some(CommandEntry {
            digest: v[..32].try_into().ok()?,
            stream_id: Uuid::from_slice(&v[32..48]).ok()?,
            first_seq: parse_u64(&v[48..56])?,
            count: u32::from_be_bytes(v[56..].try_into().ok()?),
        })
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.first_seq + u64::from(self.count) - 1
    }
}
