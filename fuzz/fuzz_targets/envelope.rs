//! Arbitrary bytes as one stored event (an export line), upcast and decoded as projections do.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stocktake_fuzz::envelope(data));
