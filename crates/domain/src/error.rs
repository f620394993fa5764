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

    /// The kind with its indefinite article, as a sentence names one: "an action".
    pub fn with_article(self) -> &'static str {
        match self {
            EntityKind::Plan => "a plan",
            EntityKind::PriorityArea => "a priority area",
            EntityKind::Action => "an action",
            EntityKind::Measure => "a measure",
            EntityKind::Visit => "a monitoring visit",
            EntityKind::Finding => "a finding",
            EntityKind::Evidence => "a piece of evidence",
            EntityKind::Forum => "a forum",
            EntityKind::Meeting => "a meeting",
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
    #[error("{field}: {} with id {id} already exists", .kind.with_article())]
    AlreadyExists {
        field: &'static str,
        kind: EntityKind,
        id: Uuid,
    },
    /// The command would create something under an id that already names something of
    /// another kind.
    #[error("{field}: the id {id} is already in use by something other than {}", .kind.with_article())]
    IdInUse {
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
            | DomainError::IdInUse { field, .. }
            | DomainError::Rule { field, .. } => Some(field),
        }
    }

    /// What is wrong with the field, without its name: the message of a field error.
    pub fn message(&self) -> String {
        let text = self.to_string();
        match self.field() {
            Some(field) => text
                .strip_prefix(field)
                .and_then(|rest| rest.strip_prefix(": "))
                .map_or_else(|| text.clone(), str::to_owned),
            None => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences_and_name_their_field_once() {
        let id = Uuid::from_u128(7);
        let exists = DomainError::already_exists("action_id", EntityKind::Action, id);
        assert_eq!(
            exists.to_string(),
            format!("action_id: an action with id {id} already exists")
        );
        assert_eq!(
            exists.message(),
            format!("an action with id {id} already exists")
        );
        let missing = DomainError::not_found("visit_id", EntityKind::Visit, id);
        assert_eq!(
            missing.message(),
            format!("no monitoring visit with id {id}")
        );
        let taken = DomainError::IdInUse {
            field: "plan_id",
            kind: EntityKind::Plan,
            id,
        };
        assert_eq!(
            taken.to_string(),
            format!("plan_id: the id {id} is already in use by something other than a plan")
        );
        assert_eq!(DomainError::rule("due_on", "is past").message(), "is past");
    }
}
