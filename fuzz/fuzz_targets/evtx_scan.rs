#![no_main]
//! See `exhume_fuzz::targets::evtx_scan`: the body is in the library so that `tests/hostile`
//! replays crash inputs through the same code.

libfuzzer_sys::fuzz_target!(|data: &[u8]| exhume_fuzz::targets::evtx_scan::run(data));
