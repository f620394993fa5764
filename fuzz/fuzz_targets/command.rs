//! Arbitrary bytes as the body of `POST /api/v1/commands`, parsed and decided in memory.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stocktake_fuzz::command(data));
