//! Export: the whole log as JSON Lines, one public envelope per line in seq
//! order, exactly as stored (no upcasting), hashes included.

use std::io::Write;

use crate::shared::Shared;
use crate::stored::Scan;
use crate::{record, Head, LogError};

pub(crate) fn export(
    shared: &Shared,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Head, LogError> {
    let head = shared.head();
    let mut line = Vec::with_capacity(1024);
    let mut expected = 1;
    if head.last_seq > 0 {
        for placed in Scan::new(&shared.db, 1, head.last_seq) {
            let placed = placed.map_err(shared.unreadable("scanning the event log", expected))?;
            if placed.seq != expected {
                return Err(LogError::Corrupt {
                    seq: expected,
                    reason: "the event is missing from the store; run verify".to_owned(),
                });
            }
            let event = record::decode_event(expected, &placed.bytes)?;
            line.clear();
            serde_json::to_writer(&mut line, &event).map_err(|e| LogError::Export(e.into()))?;
            line.push(b'\n');
            out.write_all(&line).map_err(LogError::Export)?;
            progress(expected);
            expected += 1;
        }
    }
    if expected <= head.last_seq {
        return Err(LogError::Corrupt {
            seq: expected,
            reason: "the event is missing from the store; run verify".to_owned(),
        });
    }
    out.flush().map_err(LogError::Export)?;
    Ok(head)
}
