//! Stocktake's side: the workload through `Log::append`.

use std::sync::Arc;

use stocktake_log::{AppendError, Log};
use uuid::Uuid;

use crate::drive::{Append, Stored};
use crate::workload::{progress_payload, Event};

/// The log's append: writer `w` appends its `i`-th progress note to
/// `streams[w]`, at version `first[w] + i`.
pub fn append(log: Log, streams: &[Uuid], first: &[u64]) -> Append {
    let streams: Arc<Vec<(Uuid, String, u64)>> = Arc::new(
        streams
            .iter()
            .zip(first)
            .map(|(s, v)| (*s, progress_payload(*s), *v))
            .collect(),
    );
    Arc::new(move |w, i| {
        let (stream, payload, first) = &streams[w];
        let request = Event::progress(*stream, first + i, payload).to_request();
        let log = log.clone();
        Box::pin(async move {
            match log.append(request).await {
                Ok(_) => Ok(Stored::Appended),
                Err(AppendError::Conflict { .. }) => Ok(Stored::Conflict),
                Err(e) => Err(format!("append: {e}")),
            }
        })
    })
}
