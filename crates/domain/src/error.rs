//! The one error a decider returns: which rule refused the command, and on which field.

use uuid::Uuid;

/// What kind of thing an id names, for messages a programme director can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Plan,
    PriorityArea,
    Action,
    Measure,
    Visit,
    Finding,
    Evidence,
    Forum,
    Meeting,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Plan => "plan",
            EntityKind::PriorityArea => "priority area",
            EntityKind::Action => "action",
            EntityKind::Measure => "measure",
            EntityKind::Visit => "monitoring visit",
            EntityKind::Finding => "finding",
            EntityKind::Evidence => "evidence",
            EntityKind::Forum => "forum",
            EntityKind::Meeting => "meeting",
        }
    }
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command refused by the domain. Nothing is recorded when a command is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// The command names something that does not exist.
    #[error("{field}: no {kind} with id {id}")]
    NotFound {
        field: &'static str,
        kind: EntityKind,
        id: Uuid,
    },
    /// The command would create something that already exists.
    #[error("{field}: a {kind} with id {id} already exists")]
    AlreadyExists {
        field: &'static str,
        kind: EntityKind,
        id: Uuid,
    },
    /// A rule of the domain refuses the command.
    #[error("{field}: {message}")]
    Rule {
        field: &'static str,
        message: String,
    },
}

impl DomainError {
    pub fn rule(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::Rule {
            field,
            message: message.into(),
        }
    }

    pub fn not_found(field: &'static str, kind: EntityKind, id: impl Into<Uuid>) -> Self {
        DomainError::NotFound {
            field,
            kind,
            id: id.into(),
        }
    }

    pub fn already_exists(field: &'static str, kind: EntityKind, id: impl Into<Uuid>) -> Self {
        DomainError::AlreadyExists {
            field,
            kind,
            id: id.into(),
        }
    }

    /// The command field the error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DomainError::NotFound { field, .. }
            | DomainError::AlreadyExists { field, .. }
            | DomainError::Rule { field, .. } => Some(field),
        }
    }
}
