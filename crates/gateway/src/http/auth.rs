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
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        state
            .tokens()
            .authenticate(token)
            .map(Caller)
            .ok_or(ApiError::Unauthorized)
    }
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
