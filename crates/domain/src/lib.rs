//! pure domain
