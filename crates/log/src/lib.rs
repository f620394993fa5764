//! The append-only event log on sled. Filled by the event log issue.
