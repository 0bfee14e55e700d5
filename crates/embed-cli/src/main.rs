//! The `embed` command line: parses arguments and calls `embed-core`.
fn main() {}
