//! The `stocktake` binary. Filled by the binary issue.

fn main() {}
