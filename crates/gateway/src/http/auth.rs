//! Bearer-token authentication and role checks.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use stocktake_domain::{Command, CommandScope};

use crate::problem::ApiError;
use crate::state::AppState;
use crate::tokens::{Principal, Role};

/// The caller, authenticated. Every `/api/v1` handler takes one, so no route can forget.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or(ApiError::Unauthorized)?;
        state
            .tokens()
            .authenticate(token)
            .map(Caller)
            .ok_or(ApiError::Unauthorized)
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme's name is
/// case-insensitive (RFC 9110, 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Caller {
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Editors may update actions; only a director may shape the plan.
    pub fn may_give(&self, command: &Command) -> Result<(), ApiError> {
        let needed = match command.scope() {
            CommandScope::ActionUpdate => Role::Editor,
            CommandScope::PlanAdministration => Role::Director,
        };
        if self.0.role >= needed {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                role: self.0.role.as_str(),
                what: format!("give the command {}", command.type_name()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for header in [
            "Bearer stk_1",
            "bearer stk_1",
            "BEARER  stk_1 ",
            " Bearer stk_1",
        ] {
            assert_eq!(bearer_token(header), Some("stk_1"), "{header:?}");
        }
        for header in ["Basic stk_1", "Bearer", "Bearer ", "Bearerstk_1", "stk_1"] {
            assert_eq!(bearer_token(header), None, "{header:?}");
        }
    }
}
