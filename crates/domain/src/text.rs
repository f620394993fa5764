//! Validated text: a value of these types has already passed its length and character rules,
//! so nothing past the edge needs to check again.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters (got {len})")]
    TooLong { max: usize, len: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}

fn validate(raw: String, max: usize, multiline: bool) -> Result<String, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    let len = trimmed.chars().count();
    if len > max {
        return Err(TextError::TooLong { max, len });
    }
    let allowed_control = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
    if trimmed
        .chars()
        .any(|c| c.is_control() && !allowed_control(c))
    {
        return Err(TextError::ControlCharacter);
    }
    Ok(if trimmed.len() == raw.len() {
        raw
    } else {
        trimmed.to_owned()
    })
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, max = $max:expr, multiline = $multiline:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        // Boxed rather than a `String`: checked text never grows, and every event and state
        // keeps one per field (8 bytes less each, in a read model of millions of events).
        pub struct $name(Box<str>);

        impl $name {
            /// The most characters this text may have.
            pub const MAX_CHARS: usize = $max;

            /// Trims surrounding white space and checks the rules.
            pub fn parse(raw: impl Into<String>) -> Result<Self, TextError> {
                validate(raw.into(), $max, $multiline).map(|text| Self(text.into_boxed_str()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = TextError;
            fn try_from(raw: String) -> Result<Self, TextError> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(text: $name) -> String {
                text.0.into_string()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bounded_text!(
    /// A one-line name: a plan, area, action, measure or evidence title. 1 to 200 characters.
    Title,
    max = 200,
    multiline = false
);
bounded_text!(
    /// A role, never a person's name: an owner, a lead, a chair, an agreeing body. 1 to 120 characters.
    Role,
    max = 120,
    multiline = false
);
bounded_text!(
    /// Free text: a note, a reason, a description, a finding. 1 to 4,000 characters; may span lines.
    Note,
    max = 4_000,
    multiline = true
);
bounded_text!(
    /// Where evidence or a reading comes from: a document reference, a link, a report. 1 to 500 characters.
    Reference,
    max = 500,
    multiline = false
);
bounded_text!(
    /// A measure's unit ("cases per worker", "%"). 1 to 40 characters.
    Unit,
    max = 40,
    multiline = false
);
bounded_text!(
    /// The name of whoever (a token's name) gave a command. 1 to 120 characters.
    ActorName,
    max = 120,
    multiline = false
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_text_within_the_limit() {
        let title = Title::parse("  Recruit newly qualified social workers ").unwrap();
        assert_eq!(title.as_str(), "Recruit newly qualified social workers");
    }

    #[test]
    fn refuses_blank_text() {
        assert_eq!(Title::parse("   "), Err(TextError::Empty));
    }

    #[test]
    fn refuses_text_over_the_limit_and_says_the_limit() {
        let err = Title::parse("x".repeat(201)).unwrap_err();
        assert_eq!(err, TextError::TooLong { max: 200, len: 201 });
        assert_eq!(err.to_string(), "must be at most 200 characters (got 201)");
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(Title::parse("é".repeat(200)).is_ok());
    }

    #[test]
    fn notes_may_span_lines_but_titles_may_not() {
        assert!(Note::parse("first line\nsecond line").is_ok());
        assert_eq!(Title::parse("a\nb"), Err(TextError::ControlCharacter));
    }

    #[test]
    fn json_with_invalid_text_does_not_deserialize() {
        let err = serde_json::from_str::<Role>("\"\"").unwrap_err();
        assert!(err.to_string().contains("must not be empty"), "{err}");
    }
}
