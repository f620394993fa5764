//! Upcasting: reading events stored under an older schema version as today's events.
//!
//! Event payloads are a public, stable schema, but shapes do change. A change bumps the event's
//! schema version and registers an [`Upcaster`] from the old version; stored bytes never change
//! (they are hash-chained), and reads pass through the chain of upcasters instead.

use std::borrow::Cow;

use crate::events::{DecodeError, CURRENT_SCHEMA_VERSION};

/// Rewrites one event type's payload from `from_version` to `from_version + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Upcaster {
    pub event_type: &'static str,
    pub from_version: u32,
    pub apply: fn(serde_json::Value) -> serde_json::Value,
}

/// The upcasters of this build. Empty while every event is still at its first schema version.
pub const UPCASTERS: &[Upcaster] = &[];

/// Brings a stored payload to the current schema version with this build's upcasters.
pub fn upcast<'a>(
    event_type: &str,
    schema_version: u32,
    data: &'a str,
) -> Result<Cow<'a, str>, DecodeError> {
    upcast_with(
        UPCASTERS,
        CURRENT_SCHEMA_VERSION,
        event_type,
        schema_version,
        data,
    )
}

/// [`upcast`] with an explicit registry, so the mechanism can be tested before it is needed.
pub fn upcast_with<'a>(
    upcasters: &[Upcaster],
    current_version: u32,
    event_type: &str,
    schema_version: u32,
    data: &'a str,
) -> Result<Cow<'a, str>, DecodeError> {
    if schema_version > current_version {
        return Err(DecodeError::FutureVersion {
            event_type: event_type.to_owned(),
            version: schema_version,
        });
    }
    if schema_version == current_version {
        return Ok(Cow::Borrowed(data));
    }
    let payload_error = |message: String| DecodeError::Payload {
        event_type: event_type.to_owned(),
        message,
    };
    let mut value: serde_json::Value =
        serde_json::from_str(data).map_err(|e| payload_error(e.to_string()))?;
    for version in schema_version..current_version {
        if let Some(step) = upcasters
            .iter()
            .find(|u| u.event_type == event_type && u.from_version == version)
        {
            value = (step.apply)(value);
        }
    }
    Ok(Cow::Owned(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;

    /// A plausible future change: version 0 of `ActionRebaselined` had no running count.
    fn add_rebaseline_count(mut value: serde_json::Value) -> serde_json::Value {
        if let Some(map) = value.as_object_mut() {
            map.entry("rebaseline_count").or_insert(1.into());
        }
        value
    }

    const TEST_UPCASTERS: &[Upcaster] = &[Upcaster {
        event_type: "ActionRebaselined",
        from_version: 0,
        apply: add_rebaseline_count,
    }];

    #[test]
    fn old_json_still_reads_through_the_upcaster() {
        let old = r#"{"action_id":"0191f3b4-0000-7000-8000-000000000001","previous_due_on":"2018-09-30","due_on":"2018-12-31","reason":"Recruitment slipped"}"#;
        assert!(Event::decode("ActionRebaselined", old).is_err());
        let current = upcast_with(TEST_UPCASTERS, 1, "ActionRebaselined", 0, old).unwrap();
        let Event::ActionRebaselined(e) = Event::decode("ActionRebaselined", &current).unwrap()
        else {
            panic!("decoded another event type");
        };
        assert_eq!(e.rebaseline_count, 1);
    }

    #[test]
    fn current_payloads_pass_through_untouched() {
        let data = r#"{"x":1}"#;
        assert!(matches!(
            upcast("PlanCreated", CURRENT_SCHEMA_VERSION, data),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn a_version_from_the_future_is_refused_not_misread() {
        let err = upcast("PlanCreated", CURRENT_SCHEMA_VERSION + 1, "{}").unwrap_err();
        assert!(matches!(err, DecodeError::FutureVersion { .. }));
    }
}
