//! The HTTP command gateway. Filled by the gateway issue.
