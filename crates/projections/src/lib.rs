//! Read models as folds over the event log. Filled by the projections issue.
