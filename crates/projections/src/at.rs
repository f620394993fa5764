//! The two questions of bitemporal history: "as of" (what was true then) and "known at" (what
//! the system knew then).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// Which moment a read model describes.
///
/// `as_of` keeps events that had happened by then (effective time), including corrections
/// recorded later; `known_at` keeps events that had been recorded by then, whatever they say
/// happened. Leaving both out means now, with everything known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct At {
    pub as_of: Option<DateTime<Utc>>,
    pub known_at: Option<DateTime<Utc>>,
}

impl At {
    pub const NOW: At = At {
        as_of: None,
        known_at: None,
    };

    pub fn as_of(as_of: DateTime<Utc>) -> Self {
        At {
            as_of: Some(as_of),
            known_at: None,
        }
    }

    pub fn known_at(mut self, known_at: DateTime<Utc>) -> Self {
        self.known_at = Some(known_at);
        self
    }

    pub fn is_now(&self) -> bool {
        self.as_of.is_none() && self.known_at.is_none()
    }

    /// Whether an event with these times belongs to the picture.
    pub fn includes(&self, effective_at: DateTime<Utc>, recorded_at: DateTime<Utc>) -> bool {
        self.as_of.is_none_or(|a| effective_at <= a)
            && self.known_at.is_none_or(|k| recorded_at <= k)
    }

    /// The moment against which "overdue" and "days since update" are judged: the as-of time,
    /// else the known-at time, else the wall clock the shell passes in.
    pub fn reference_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.as_of.or(self.known_at).unwrap_or(now)
    }

    pub fn reference_date(&self, now: DateTime<Utc>) -> NaiveDate {
        self.reference_time(now).date_naive()
    }
}
