//! The demo journey.
