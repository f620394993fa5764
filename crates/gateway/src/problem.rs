//! Every error the API returns, as `application/problem+json` (RFC 9457). Internal failures are
//! logged in full (by [`crate::observe`], which knows the request) and answered with a generic
//! detail: nothing internal is echoed to clients.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stocktake_domain::DomainError;
use stocktake_projections::NotFound;

use crate::service::CommandError;

/// One input problem: which field, and which rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("authentication required")]
    Unauthorized,
    #[error("the {role} role may not {what}")]
    Forbidden { role: &'static str, what: String },
    #[error("{detail}")]
    NotFound {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{detail}")]
    Conflict {
        detail: String,
        current_version: Option<u64>,
        errors: Vec<FieldError>,
    },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the method {0} is not allowed on this route; see /api/v1/openapi.json")]
    MethodNotAllowed(String),
    #[error("Content-Type must be application/json, not `{0}`")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("the event log is unavailable")]
    Unavailable(String),
    #[error("{detail}")]
    Timeout { detail: String },
    #[error("an internal error occurred")]
    Internal(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<u64>,
}

impl ApiError {
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        ApiError::BadRequest {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError { field, message }],
        }
    }

    /// Something the request names does not exist (a route, or an id outside a command).
    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::NotFound {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest { .. } => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "The request is malformed",
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            ApiError::Forbidden { .. } => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed for this role",
            ),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The request body is not JSON",
            ),
            ApiError::Unprocessable { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule-refused",
                "A rule of the plan refused the command",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The event log is unavailable",
            ),
            ApiError::Timeout { .. } => (
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "The request took too long",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let failure = match &self {
            ApiError::Internal(reason) | ApiError::Unavailable(reason) => {
                Some(ServerFailure(reason.clone()))
            }
            ApiError::Timeout { detail } => Some(ServerFailure(detail.clone())),
            _ => None,
        };
        let (errors, current_version) = match &self {
            ApiError::BadRequest { errors, .. }
            | ApiError::Unprocessable { errors, .. }
            | ApiError::NotFound { errors, .. } => (errors.clone(), None),
            ApiError::Conflict {
                current_version,
                errors,
                ..
            } => (errors.clone(), *current_version),
            _ => (Vec::new(), None),
        };
        let kind = format!("https://stocktake.invalid/problems/{slug}");
        let problem = Problem {
            kind: &kind,
            title,
            status: status.as_u16(),
            detail: self.to_string(),
            errors,
            current_version,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(failure) = failure {
            response.extensions_mut().insert(failure);
        }
        response
    }
}

/// Why a request failed on the server's side, carried on its response to the layer that logs
/// it with the request's id, method and path ([`crate::observe`]), which a handler does not
/// know.
#[derive(Debug, Clone)]
pub(crate) struct ServerFailure(pub(crate) String);

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let detail = error.to_string();
        let errors = vec![FieldError {
            field: error.field().unwrap_or("command").to_owned(),
            message: error.message(),
        }];
        match error {
            DomainError::NotFound { .. } => ApiError::NotFound { detail, errors },
            DomainError::AlreadyExists { .. } | DomainError::IdInUse { .. } => ApiError::Conflict {
                detail,
                current_version: None,
                errors,
            },
            DomainError::Rule { .. } => ApiError::Unprocessable { detail, errors },
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Domain(e) => e.into(),
            CommandError::Conflict { current, .. } => ApiError::Conflict {
                detail: error.to_string(),
                current_version: Some(current),
                errors: Vec::new(),
            },
            CommandError::IdempotencyMismatch => ApiError::Unprocessable {
                detail: error.to_string(),
                errors: vec![FieldError {
                    field: "Idempotency-Key".into(),
                    message: "was already used for a different request body".into(),
                }],
            },
            CommandError::Unavailable(e) => ApiError::Unavailable(e.to_string()),
            CommandError::Unreadable(e) => ApiError::Internal(e.to_string()),
            CommandError::Refused(reason) => ApiError::Conflict {
                detail: reason,
                current_version: None,
                errors: Vec::new(),
            },
        }
    }
}

impl From<NotFound> for ApiError {
    fn from(error: NotFound) -> Self {
        ApiError::not_found(error.to_string())
    }
}

impl From<stocktake_log::LogError> for ApiError {
    fn from(error: stocktake_log::LogError) -> Self {
        ApiError::Unavailable(error.to_string())
    }
}
