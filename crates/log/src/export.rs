//! Export: the whole log as JSON Lines, one public envelope per line in seq
//! order, exactly as stored (no upcasting), hashes included.

use std::io::Write;

use crate::shared::Shared;
use crate::{Head, LogError};

pub(crate) fn export(
    shared: &Shared,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Head, LogError> {
    let head = shared.head();
    let mut line = Vec::with_capacity(1024);
    if head.last_seq > 0 {
        for event in shared.events_as_stored(1, head.last_seq) {
            let event = event?;
            line.clear();
            serde_json::to_writer(&mut line, &event).map_err(|e| LogError::Export(e.into()))?;
            line.push(b'\n');
            out.write_all(&line).map_err(LogError::Export)?;
            progress(event.seq);
        }
    }
    out.flush().map_err(LogError::Export)?;
    Ok(head)
}
