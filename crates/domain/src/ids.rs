//! Typed identifiers, so an action id can never be passed where a plan id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The underlying UUID.
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An improvement plan; also the id of its event stream.
    PlanId
);
id_type!(
    /// A priority area within a plan.
    AreaId
);
id_type!(
    /// An action; also the id of its event stream.
    ActionId
);
id_type!(
    /// A measure (KPI); also the id of its event stream.
    MeasureId
);
id_type!(
    /// A monitoring visit; also the id of its event stream.
    VisitId
);
id_type!(
    /// A finding of a monitoring visit.
    FindingId
);
id_type!(
    /// A piece of evidence attached to an action.
    EvidenceId
);
id_type!(
    /// A governance forum of a plan (improvement board, action group, ...).
    ForumId
);
id_type!(
    /// One meeting of a governance forum.
    MeetingId
);
