//! Integration tests of the event log, from the caller's side.

mod append;
mod corruption;
mod export_import;
mod journal;
mod open;
mod properties;
mod reads;
mod subscribe;
mod support;
