//! The stored form of one event and its chain hash.
//!
//! A record is a flat binary encoding (big-endian integers, length-prefixed
//! strings) in three parts, followed by the chain hash:
//!
//! ```text
//! head:    format(1) prev_hash(32) seq(8) stream_id(16) stream_version(8)
//!          stream_type(u16 len + bytes) event_type(u16 len + bytes) schema_version(4)
//! payload: data(u32 len + bytes)
//! meta:    event_id(16) recorded_at(i64 secs + u32 nanos) effective_at(i64 + u32)
//!          command_id(16) correlation_id(16) actor(u16 len + bytes)
//! hash:    32 bytes
//! tail:    request_digest(32) tail_check(8)
//! ```
//!
//! `hash = BLAKE3-derive-key(CONTEXT, head || BLAKE3(data) || meta)`, which is
//! `H(prev_hash || seq || stream || type || H(payload) || metadata)` over the
//! exact stored bytes. Chaining the payload's digest instead of the payload
//! keeps the chain checkable should a payload ever have to be redacted.
//!
//! The tail carries the request digest of the command (for idempotency; all
//! zeros for imported events, whose digest the export format does not
//! carry). It is not chained, so an export and import reproduce every hash,
//! but `tail_check` (the first 8 bytes of BLAKE3 over the hash and the
//! digest) makes any change to it detectable by `verify`.
//!
//! Decoding is strict: every byte has exactly one meaning (no padding, no
//! trailing bytes, valid UTF-8, valid timestamps, valid JSON), so a record
//! that decodes and whose recomputed hash matches is byte-for-byte the record
//! that was written.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::event::StoredEvent;

/// A BLAKE3 digest.
pub(crate) type Hash = [u8; 32];

/// What the first event's `prev_hash` is.
pub(crate) const GENESIS: Hash = [0; 32];

/// The record format. Format 1 (no tail) was never deployed; a future
/// format gets a new byte, and the decoder keeps reading the old ones.
const FORMAT_V2: u8 = 2;

/// Domain separation for the chain hash, so no other BLAKE3 use in the
/// system can produce a colliding preimage.
const HASH_CONTEXT: &str = "stocktake-log event chain v1";

/// Field limits. They keep every length prefix in range and keep sled's
/// tree nodes small enough to stay in its main log file.
pub(crate) const MAX_STREAM_TYPE_BYTES: usize = 64;
pub(crate) const MAX_EVENT_TYPE_BYTES: usize = 128;
pub(crate) const MAX_ACTOR_BYTES: usize = 256;
pub(crate) const MAX_DATA_BYTES: usize = 256 * 1024;

/// The rule a payload with a line break between its JSON tokens breaks. An export writes one
/// event per line with its payload as stored (the chain hash covers those bytes, so they cannot
/// be re-encoded), and such a payload would split its line and fail the import.
pub(crate) const ONE_LINE_DATA: &str =
    "the data must be JSON on one line, without line breaks between its tokens";

/// Whether a payload breaks [`ONE_LINE_DATA`]. Inside JSON strings line breaks are escaped, so
/// a raw one can only be whitespace between tokens. Every append asks this of every payload, on
/// the writer's thread. (A carriage return alone does not end a line for the import, which
/// takes either line ending, so it is let through as before; an import line cannot hold a
/// line feed at all.)
pub(crate) fn breaks_lines(data: &str) -> bool {
    memchr::memchr(b'\n', data.as_bytes()).is_some()
}

/// The fields of a record, borrowed, for encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub prev_hash: &'a Hash,
    pub seq: u64,
    pub stream_id: Uuid,
    pub stream_version: u64,
    pub stream_type: &'a str,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub data: &'a [u8],
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub actor: &'a str,
    /// Stored in the tail, outside the chain hash.
    pub request_digest: &'a Hash,
}

/// Appends the encoded record to `out` and returns its chain hash.
///
/// The caller has checked the field limits, so every length fits its
/// prefix.
pub(crate) fn encode(f: &Fields<'_>, out: &mut Vec<u8>) -> Hash {
    let start = out.len();
    out.reserve(encoded_len(f));
    out.push(FORMAT_V2);
    out.extend_from_slice(f.prev_hash);
    out.extend_from_slice(&f.seq.to_be_bytes());
    out.extend_from_slice(f.stream_id.as_bytes());
    out.extend_from_slice(&f.stream_version.to_be_bytes());
    put_str16(out, f.stream_type);
    put_str16(out, f.event_type);
    out.extend_from_slice(&f.schema_version.to_be_bytes());
    let head_end = out.len();
    out.extend_from_slice(&len_u32(f.data.len()).to_be_bytes());
    out.extend_from_slice(f.data);
    let meta_start = out.len();
    out.extend_from_slice(f.event_id.as_bytes());
    put_time(out, &f.recorded_at);
    put_time(out, &f.effective_at);
    out.extend_from_slice(f.command_id.as_bytes());
    out.extend_from_slice(f.correlation_id.as_bytes());
    put_str16(out, f.actor);
    let hash = chain_hash(&out[start..head_end], f.data, &out[meta_start..]);
    out.extend_from_slice(&hash);
    out.extend_from_slice(f.request_digest);
    out.extend_from_slice(&tail_check(&hash, f.request_digest));
    hash
}

/// Protects the unchained request digest against silent change.
fn tail_check(hash: &Hash, digest: &Hash) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(hash);
    h.update(digest);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

fn encoded_len(f: &Fields<'_>) -> usize {
    1 + 32
        + 8
        + 16
        + 8
        + 2
        + f.stream_type.len()
        + 2
        + f.event_type.len()
        + 4
        + 4
        + f.data.len()
        + 16
        + 12
        + 12
        + 16
        + 16
        + 2
        + f.actor.len()
        + 32
        + 32
        + 8
}

fn chain_hash(head: &[u8], data: &[u8], meta: &[u8]) -> Hash {
    // Deriving the key from the context costs as much as hashing a small
    // record, so derive it once and clone the keyed hasher.
    static KEYED: std::sync::OnceLock<blake3::Hasher> = std::sync::OnceLock::new();
    let data_digest = blake3::hash(data);
    let mut hasher = KEYED
        .get_or_init(|| blake3::Hasher::new_derive_key(HASH_CONTEXT))
        .clone();
    hasher.update(head);
    hasher.update(data_digest.as_bytes());
    hasher.update(meta);
    *hasher.finalize().as_bytes()
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put_str16(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
}

fn put_time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    out.extend_from_slice(&t.timestamp().to_be_bytes());
    out.extend_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
}

/// A decoded record, borrowing from the stored bytes.
#[derive(Debug, Clone)]
pub(crate) struct Record<'a> {
    pub prev_hash: Hash,
    pub seq: u64,
    pub stream_id: Uuid,
    pub stream_version: u64,
    pub stream_type: &'a str,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub data: &'a str,
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub actor: &'a str,
    pub hash: Hash,
    pub request_digest: Hash,
    tail_check: [u8; 8],
    head: &'a [u8],
    meta: &'a [u8],
}

impl<'a> Record<'a> {
    /// Parses a stored record. Any deviation from the one valid encoding is
    /// an error naming the field.
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Self, String> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let format = r.u8("format")?;
        if format != FORMAT_V2 {
            return Err(format!("unknown record format {format}"));
        }
        let prev_hash = r.hash("prev_hash")?;
        let seq = r.u64("seq")?;
        let stream_id = r.uuid("stream_id")?;
        let stream_version = r.u64("stream_version")?;
        let stream_type = r.str16("stream_type")?;
        let event_type = r.str16("type")?;
        let schema_version = r.u32("schema_version")?;
        let head_end = r.pos;
        let data_len = r.u32("data length")?;
        let data = r.str_n(data_len as usize, "data")?;
        let meta_start = r.pos;
        let event_id = r.uuid("event_id")?;
        let recorded_at = r.time("recorded_at")?;
        let effective_at = r.time("effective_at")?;
        let command_id = r.uuid("command_id")?;
        let correlation_id = r.uuid("correlation_id")?;
        let actor = r.str16("actor")?;
        let meta_end = r.pos;
        let hash = r.hash("hash")?;
        let request_digest = r.hash("request_digest")?;
        let tail_check = r.array("tail_check")?;
        if r.pos != bytes.len() {
            return Err(format!(
                "{} unexpected bytes after the hash",
                bytes.len() - r.pos
            ));
        }
        Ok(Record {
            prev_hash,
            seq,
            stream_id,
            stream_version,
            stream_type,
            event_type,
            schema_version,
            data,
            event_id,
            recorded_at,
            effective_at,
            command_id,
            correlation_id,
            actor,
            hash,
            request_digest,
            tail_check,
            head: &bytes[..head_end],
            meta: &bytes[meta_start..meta_end],
        })
    }

    /// Recomputes the chain hash over the stored bytes.
    pub(crate) fn computed_hash(&self) -> Hash {
        chain_hash(self.head, self.data.as_bytes(), self.meta)
    }

    /// `true` if the unchained tail (the request digest) is as written.
    pub(crate) fn tail_ok(&self) -> bool {
        tail_check(&self.hash, &self.request_digest) == self.tail_check
    }

    /// The public envelope.
    ///
    /// The payload is not parsed again: it was checked to be JSON when it
    /// was appended (the caller's `Box<RawValue>`) or imported, and is
    /// chained into the hash, so [`crate::Log::verify`] finds any change to
    /// it. Decoding checked that it is UTF-8. Re-validating it cost more than
    /// everything else a read does per event.
    pub(crate) fn to_stored_event(&self) -> StoredEvent {
        StoredEvent {
            seq: self.seq,
            event_id: self.event_id,
            stream_id: self.stream_id,
            stream_type: self.stream_type.to_owned(),
            stream_version: self.stream_version,
            recorded_at: self.recorded_at,
            effective_at: self.effective_at,
            actor: self.actor.to_owned(),
            command_id: self.command_id,
            correlation_id: self.correlation_id,
            schema_version: self.schema_version,
            event_type: self.event_type.to_owned(),
            data: stored_json(self.data),
            prev_hash: to_hex(&self.prev_hash),
            hash: to_hex(&self.hash),
        }
    }
}

/// serde_json's marker for "a raw value": the name under which `RawValue`
/// (de)serializes itself (serde_json 1.x, `raw.rs`). The unit test
/// `stored_json_is_the_stored_bytes` fails if a serde_json upgrade changes
/// it.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// A `Box<RawValue>` holding exactly `json`, which the caller knows to be
/// JSON, without parsing it. `Box<RawValue>` deserializes from a map of one
/// entry, the token to the text, and only serde_json's own deserializer
/// parses that text; serde's plain map deserializer hands it over as is, in
/// one allocation of the exact size. Falls back to the validating
/// constructor should that ever fail.
fn stored_json(json: &str) -> Box<RawValue> {
    use serde::de::value::{Error, MapDeserializer};
    use serde::Deserialize;
    let map = MapDeserializer::<_, Error>::new(std::iter::once((RAW_VALUE_TOKEN, json)));
    Box::<RawValue>::deserialize(map)
        .ok()
        .or_else(|| RawValue::from_string(json.to_owned()).ok())
        // Unreachable for stored records (see above); a JSON null rather
        // than a panic.
        .unwrap_or_default()
}

/// Decodes a stored record into the public envelope, mapping failures to
/// [`LogError::Corrupt`](crate::LogError::Corrupt) for `seq`.
pub(crate) fn decode_event(seq: u64, bytes: &[u8]) -> Result<StoredEvent, crate::LogError> {
    let corrupt = |reason| crate::LogError::Corrupt { seq, reason };
    let record = Record::decode(bytes).map_err(corrupt)?;
    if record.seq != seq {
        return Err(corrupt(format!(
            "the record stored under seq {seq} claims seq {}",
            record.seq
        )));
    }
    Ok(record.to_stored_event())
}

impl StoredEvent {
    /// The bytes this event takes as a stored record (the journal's and sled's), whatever its
    /// request digest.
    pub fn stored_len(&self) -> usize {
        encoded_len(&fields_of(self, &[0; 32]))
    }
}

/// The fields of a public envelope, for re-encoding on import.
pub(crate) fn fields_of<'a>(e: &'a StoredEvent, prev_hash: &'a Hash) -> Fields<'a> {
    Fields {
        prev_hash,
        seq: e.seq,
        stream_id: e.stream_id,
        stream_version: e.stream_version,
        stream_type: &e.stream_type,
        event_type: &e.event_type,
        schema_version: e.schema_version,
        data: e.data.get().as_bytes(),
        event_id: e.event_id,
        recorded_at: e.recorded_at,
        effective_at: e.effective_at,
        command_id: e.command_id,
        correlation_id: e.correlation_id,
        actor: &e.actor,
        request_digest: &crate::keys::UNKNOWN_DIGEST,
    }
}

/// Lowercase hex of a hash. Hand-rolled with a byte-pair table because
/// this runs twice per event read: the generic encoder's per-char iterator,
/// and then a nibble loop, each cost more than decoding the record.
pub(crate) fn to_hex(hash: &Hash) -> String {
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
            i += 1;
        }
        t
    };
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(hash) {
        pair.copy_from_slice(&PAIRS[usize::from(b)]);
    }
    std::str::from_utf8(&out).unwrap_or_default().to_owned()
}

/// Parses a lowercase hex chain hash.
pub(crate) fn parse_hash(s: &str) -> Option<Hash> {
    if s.len() != 64 || s.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(format!("the record ends inside the {field} field")),
        }
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    fn u8(&mut self, field: &str) -> Result<u8, String> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &str) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &str) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &str) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    fn hash(&mut self, field: &str) -> Result<Hash, String> {
        self.array(field)
    }

    fn uuid(&mut self, field: &str) -> Result<Uuid, String> {
        Ok(Uuid::from_bytes(self.array(field)?))
    }

    fn str_n(&mut self, n: usize, field: &str) -> Result<&'a str, String> {
        let bytes = self.take(n, field)?;
        std::str::from_utf8(bytes).map_err(|_| format!("the {field} field is not valid UTF-8"))
    }

    fn str16(&mut self, field: &str) -> Result<&'a str, String> {
        let n = self.u16(field)?;
        self.str_n(usize::from(n), field)
    }

    fn time(&mut self, field: &str) -> Result<DateTime<Utc>, String> {
        let secs = i64::from_be_bytes(self.array(field)?);
        let nanos = self.u32(field)?;
        let t = DateTime::from_timestamp(secs, nanos)
            .ok_or_else(|| format!("the {field} field is not a valid timestamp"))?;
        // A leap-second encoding that chrono normalises would re-encode
        // differently; refuse it so the bytes stay canonical.
        if t.timestamp() != secs || t.timestamp_subsec_nanos() != nanos {
            return Err(format!("the {field} field is not in canonical form"));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(prev: &'a Hash, data: &'a str) -> Fields<'a> {
        Fields {
            prev_hash: prev,
            seq: 7,
            stream_id: Uuid::from_u128(1),
            stream_version: 3,
            stream_type: "action",
            event_type: "ActionStatusChanged",
            schema_version: 2,
            data: data.as_bytes(),
            event_id: Uuid::from_u128(2),
            recorded_at: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
            effective_at: DateTime::from_timestamp(-5, 0).unwrap(),
            command_id: Uuid::from_u128(3),
            correlation_id: Uuid::from_u128(4),
            actor: "director@council.example",
            request_digest: &[5; 32],
        }
    }

    #[test]
    fn a_record_decodes_to_the_fields_it_was_encoded_from() {
        let prev = [9u8; 32];
        let mut buf = Vec::new();
        let hash = encode(&sample(&prev, r#"{"status":"done"}"#), &mut buf);
        let r = Record::decode(&buf).unwrap();
        assert_eq!(r.seq, 7);
        assert_eq!(r.prev_hash, prev);
        assert_eq!(r.data, r#"{"status":"done"}"#);
        assert_eq!(r.actor, "director@council.example");
        assert_eq!(r.recorded_at.timestamp_subsec_nanos(), 123_456_789);
        assert_eq!(r.hash, hash);
        assert_eq!(r.computed_hash(), hash);
        assert_eq!(
            buf.len(),
            encoded_len(&sample(&prev, r#"{"status":"done"}"#))
        );
    }

    #[test]
    fn a_stored_event_knows_its_record_length() {
        let prev = [9u8; 32];
        let data = r#"{"status":"done","note":"supervision audit started"}"#;
        let mut buf = Vec::new();
        encode(&sample(&prev, data), &mut buf);
        let stored = Record::decode(&buf).unwrap().to_stored_event();
        assert_eq!(stored.stored_len(), buf.len());
        // 272 fixed bytes (with this stream type, event type and actor) and the payload.
        assert_eq!(buf.len(), 272 + data.len());
    }

    #[test]
    fn every_single_byte_change_is_detected() {
        let prev = [9u8; 32];
        let mut buf = Vec::new();
        encode(&sample(&prev, r#"{"a":1}"#), &mut buf);
        for i in 0..buf.len() {
            for flip in [0x01u8, 0x80] {
                let mut bad = buf.clone();
                bad[i] ^= flip;
                let undetected = match Record::decode(&bad) {
                    Ok(r) => {
                        r.computed_hash() == r.hash
                            && r.tail_ok()
                            && r.prev_hash == prev
                            && r.seq == 7
                    }
                    Err(_) => false,
                };
                assert!(!undetected, "flipping {flip:#x} at byte {i} went unnoticed");
            }
        }
    }

    #[test]
    fn stored_json_is_the_stored_bytes() {
        for json in [r#"{"a":[1,2.5,"x\"y"],"b":null}"#, "null", " 1 ", "\"é\""] {
            assert_eq!(stored_json(json).get(), json);
        }
        // The fast path, not the validating fallback, produced it.
        assert_eq!(stored_json("not json").get(), "not json");
    }

    #[test]
    fn hashes_are_lowercase_hex() {
        let h: Hash = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(to_hex(&h), hex::encode(h));
        assert_eq!(parse_hash(&to_hex(&h)), Some(h));
        assert_eq!(parse_hash(&to_hex(&h).to_uppercase()), None);
    }

    #[test]
    fn truncated_or_extended_records_are_refused() {
        let prev = GENESIS;
        let mut buf = Vec::new();
        encode(&sample(&prev, "null"), &mut buf);
        for len in 0..buf.len() {
            assert!(Record::decode(&buf[..len]).is_err(), "length {len}");
        }
        buf.push(0);
        assert!(Record::decode(&buf).is_err());
    }

    #[test]
    fn the_payload_digest_not_the_payload_is_chained() {
        let prev = GENESIS;
        let mut a = Vec::new();
        let mut b = Vec::new();
        let ha = encode(&sample(&prev, r#"{"name":"A"}"#), &mut a);
        let hb = encode(&sample(&prev, r#"{"name":"B"}"#), &mut b);
        assert_ne!(ha, hb);
        let ra = Record::decode(&a).unwrap();
        let data_digest = blake3::hash(ra.data.as_bytes());
        let mut hasher = blake3::Hasher::new_derive_key(HASH_CONTEXT);
        hasher.update(ra.head);
        hasher.update(data_digest.as_bytes());
        hasher.update(ra.meta);
        assert_eq!(*hasher.finalize().as_bytes(), ha);
    }
}
