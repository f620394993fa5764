//! Query parameters: moments (`as_of`, `known_at`, `since`, `until`) and bounded numbers.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, MatchedPath, Query};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use stocktake_domain::TimeInput;
use stocktake_projections::At;

use crate::problem::ApiError;

/// The query string, parsed leniently so that each parameter gets its own clear error.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_field("query", e.body_text()))?;
        if let Some(route) = parts.extensions.get::<MatchedPath>() {
            only_taken(route.as_str(), &map)?;
        }
        Ok(Params(map))
    }
}

/// Refuses a parameter the route does not take (as the OpenAPI document lists them): a
/// misspelt `as_of` would otherwise be answered about now, as if it were right.
fn only_taken(route: &str, query: &HashMap<String, String>) -> Result<(), ApiError> {
    let Some(taken) = crate::openapi::query_parameters().get(route) else {
        return Ok(());
    };
    let mut unknown: Vec<&String> = query.keys().filter(|k| !taken.contains(k)).collect();
    unknown.sort();
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let field: String = first.chars().take(40).collect();
    let takes = if taken.is_empty() {
        "this route takes no query parameters".to_owned()
    } else {
        format!("this route takes {}", taken.join(", "))
    };
    let message = if first.as_str() == "as_of" && route == "/api/v1/verify" {
        format!(
            "is not taken here: the chain runs in the order events were recorded, so only \
             known_at (the log as it stood then) cuts it; {takes}"
        )
    } else {
        format!("is not a parameter of this route; {takes}")
    };
    Err(ApiError::bad_field(field, message))
}

impl Params {
    /// A moment bounding a question: a date means the end of that day.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.0
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|raw| {
                raw.parse::<TimeInput>()
                    .map(TimeInput::end)
                    .map_err(|e| ApiError::bad_field(name, e.to_string()))
            })
            .transpose()
    }

    /// A moment opening a window (`since`): a date means the start of that day.
    pub fn start_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.0
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|raw| {
                raw.parse::<TimeInput>()
                    .map(TimeInput::start)
                    .map_err(|e| ApiError::bad_field(name, e.to_string()))
            })
            .transpose()
    }

    pub fn at(&self) -> Result<At, ApiError> {
        Ok(At {
            as_of: self.time("as_of")?,
            known_at: self.time("known_at")?,
        })
    }

    pub fn number(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ApiError> {
        let Some(raw) = self.0.get(name).filter(|v| !v.is_empty()) else {
            return Ok(default);
        };
        match raw.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_field(
                name,
                format!("must be a whole number from {min} to {max}"),
            )),
        }
    }
}
