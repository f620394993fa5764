//! Points in time as users give them: a calendar date or an RFC 3339 instant.
//!
//! Stocktake keeps two clocks. `effective_at` is when something happened in the world;
//! `recorded_at` is when Stocktake stored it. Nothing can have happened after it was recorded.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// A moment given as `YYYY-MM-DD` or as an RFC 3339 time.
///
/// A bare date is ambiguous, so the reader picks: an effective time given as a date means the
/// start of that day (UTC), while an `as_of` or `known_at` question about a date means its end,
/// so that "the plan as of 10 July 2018" includes what happened on that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TimeInput {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

/// A time that is neither a `YYYY-MM-DD` date nor an RFC 3339 instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date (YYYY-MM-DD) or an RFC 3339 time (e.g. 2018-07-10T09:00:00Z)")]
pub struct TimeInputError(pub String);

impl FromStr for TimeInput {
    type Err = TimeInputError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        // Both forms start with a four-digit year; chrono's `%Y` also reads a signed year of
        // any length (`+10000-01-01`, `-262143-01-01`), which neither form allows.
        let four_digit_year = raw.len() > 4
            && raw.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && raw.as_bytes()[4] == b'-';
        if !four_digit_year {
            return Err(TimeInputError(raw.chars().take(64).collect()));
        }
        if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            return Ok(TimeInput::Date(date));
        }
        DateTime::parse_from_rfc3339(raw)
            .map(|t| TimeInput::Instant(t.with_timezone(&Utc)))
            .map_err(|_| TimeInputError(raw.chars().take(64).collect()))
    }
}

impl TryFrom<String> for TimeInput {
    type Error = TimeInputError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        raw.parse()
    }
}

impl From<TimeInput> for String {
    fn from(time: TimeInput) -> String {
        time.to_string()
    }
}

impl fmt::Display for TimeInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeInput::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            TimeInput::Instant(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}

impl TimeInput {
    /// The instant this input names when it is the start of something (an effective time).
    pub fn start(self) -> DateTime<Utc> {
        match self {
            TimeInput::Date(d) => d.and_time(NaiveTime::MIN).and_utc(),
            TimeInput::Instant(t) => t,
        }
    }

    /// The instant this input names when it bounds a question (`as_of`, `known_at`, `until`).
    pub fn end(self) -> DateTime<Utc> {
        match self {
            TimeInput::Date(d) => end_of_day(d),
            TimeInput::Instant(t) => t,
        }
    }
}

/// The last representable instant of a day.
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let next = date.succ_opt().unwrap_or(date);
    if next == date {
        return date.and_time(NaiveTime::MIN).and_utc();
    }
    next.and_time(NaiveTime::MIN).and_utc() - chrono::Duration::nanoseconds(1)
}

/// The effective time of a command: the one asked for, or the recorded time when none was given.
///
/// Refused when it lies after `recorded_at` (the future cannot have happened yet) or before
/// `stream_last_effective`, the effective time of the target stream's latest event. One
/// stream's history is told in order: a late entry may be backdated past other streams'
/// events, but a correction of an earlier entry is a new event, never a rewrite of the order.
/// This keeps each stream's effective order equal to its recorded order, so "as of" and
/// "known at" replays of a stream agree with what its decider saw.
pub fn effective_time(
    requested: Option<TimeInput>,
    recorded_at: DateTime<Utc>,
    stream_last_effective: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, DomainError> {
    let Some(requested) = requested else {
        // "Now" follows the stream's last event unless the wall clock went back; even then the
        // event keeps its true recorded time rather than claim to have happened later.
        return Ok(recorded_at);
    };
    let effective = requested.start();
    if let Some(last) = stream_last_effective {
        if effective < last {
            return Err(DomainError::rule(
                "effective_at",
                format!(
                    "must not be earlier than the latest change already recorded for it ({}); record a correction as a new change",
                    last.to_rfc3339()
                ),
            ));
        }
    }
    if effective > recorded_at {
        return Err(DomainError::rule(
            "effective_at",
            format!(
                "must not be later than the time it is recorded ({}); {} is in the future",
                recorded_at.to_rfc3339(),
                requested
            ),
        ));
    }
    Ok(effective)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parses_dates_and_instants() {
        assert_eq!(
            "2018-07-10".parse::<TimeInput>().unwrap().start(),
            at("2018-07-10T00:00:00Z")
        );
        assert_eq!(
            "2018-07-10T09:30:00+01:00"
                .parse::<TimeInput>()
                .unwrap()
                .start(),
            at("2018-07-10T08:30:00Z")
        );
    }

    #[test]
    fn a_date_as_a_question_bound_covers_the_whole_day() {
        let end = "2018-07-10".parse::<TimeInput>().unwrap().end();
        assert!(end > at("2018-07-10T23:59:59Z"));
        assert!(end < at("2018-07-11T00:00:00Z"));
    }

    #[test]
    fn refuses_what_is_neither() {
        let err = "10/07/2018".parse::<TimeInput>().unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"));
        assert!("2018-02-30".parse::<TimeInput>().is_err());
        for signed in [
            "+10000-01-01",
            "-262143-01-01",
            "+2018-07-10",
            "+10000-01-01T00:00:00Z",
            "12018-07-10",
            "",
            "2018",
        ] {
            assert!(signed.parse::<TimeInput>().is_err(), "{signed:?}");
        }
    }

    #[test]
    fn effective_time_defaults_to_recorded_time() {
        let now = at("2018-09-17T10:00:00Z");
        assert_eq!(effective_time(None, now, None).unwrap(), now);
    }

    #[test]
    fn effective_time_may_be_earlier_but_never_later() {
        let now = at("2018-09-17T10:00:00Z");
        let earlier = "2018-07-10".parse().ok();
        assert_eq!(
            effective_time(earlier, now, None).unwrap(),
            at("2018-07-10T00:00:00Z")
        );
        let later = "2018-09-18".parse().ok();
        let err = effective_time(later, now, None).unwrap_err();
        assert_eq!(err.field(), Some("effective_at"));
    }

    #[test]
    fn a_stream_is_told_in_order() {
        let now = at("2018-09-17T10:00:00Z");
        let last = Some(at("2018-07-01T00:00:00Z"));
        assert!(effective_time("2018-07-01".parse().ok(), now, last).is_ok());
        let err = effective_time("2018-06-30".parse().ok(), now, last).unwrap_err();
        assert!(err
            .to_string()
            .contains("must not be earlier than the latest change"));
    }
}
