//! The key space of the one sled tree. Everything lives in one tree, so that
//! a group's records and its head record go to sled in one order, and a
//! journal replay is one atomic `apply_batch`.
//!
//! | prefix | key          | value                                      |
//! |--------|--------------|--------------------------------------------|
//! | `E`    | seq (u64 BE) | a group's records from seq ([`crate::stored`]) |
//! | `M`    | name         | log metadata (format, head, import marker) |
//!
//! Big-endian integers make sled's byte order the numeric order, so range
//! scans walk events by seq. One key per group commit is all an append
//! writes (plus the head record): sled's cost is per inserted key, so the
//! stream index (stream → seqs) and the command index (command id → seqs)
//! are kept in memory instead, rebuilt from the records at open
//! ([`crate::shared::Index`]). Every record names its stream, version and
//! command, and carries the command's request digest.

pub(crate) const EVENT: u8 = b'E';

/// Written when the log is created, and rewritten when a format-2 log is opened.
pub(crate) const META_FORMAT: &[u8] = b"Mformat";
pub(crate) const FORMAT_VALUE: &[u8] = b"stocktake-log/3";
/// One record per key; read by format 3 as it is, and marked format 3 at open.
pub(crate) const FORMAT_2_VALUE: &[u8] = b"stocktake-log/2";
/// The head (seq, hash) as of the last group, written after the group's
/// events. Lets open and verify notice events missing from the
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

pub(crate) fn parse_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// The digest stored for imported commands: "unknown, accept any retry".
pub(crate) const UNKNOWN_DIGEST: [u8; 32] = [0; 32];
