//! Streams: each aggregate instance has one, named by its type and id.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::*;

/// The kind of aggregate a stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamType {
    Plan,
    Action,
    Measure,
    Visit,
}

impl StreamType {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamType::Plan => "plan",
            StreamType::Action => "action",
            StreamType::Measure => "measure",
            StreamType::Visit => "visit",
        }
    }

    pub fn parse(raw: &str) -> Option<StreamType> {
        match raw {
            "plan" => Some(StreamType::Plan),
            "action" => Some(StreamType::Action),
            "measure" => Some(StreamType::Measure),
            "visit" => Some(StreamType::Visit),
            _ => None,
        }
    }
}

impl fmt::Display for StreamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One aggregate's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamRef {
    pub stream_type: StreamType,
    pub id: Uuid,
}

impl StreamRef {
    pub fn plan(id: PlanId) -> Self {
        StreamRef {
            stream_type: StreamType::Plan,
            id: id.into(),
        }
    }

    pub fn action(id: ActionId) -> Self {
        StreamRef {
            stream_type: StreamType::Action,
            id: id.into(),
        }
    }

    pub fn measure(id: MeasureId) -> Self {
        StreamRef {
            stream_type: StreamType::Measure,
            id: id.into(),
        }
    }

    pub fn visit(id: VisitId) -> Self {
        StreamRef {
            stream_type: StreamType::Visit,
            id: id.into(),
        }
    }
}
