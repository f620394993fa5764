//! Arbitrary bytes as a JSON Lines export file, imported into an empty log.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stocktake_fuzz::import(data));
