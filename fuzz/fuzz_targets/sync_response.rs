//! Fuzz target `sync_response`: the body is `mimamori_fuzz::targets::sync_response` (docs/fuzzing.md), which
//! `tests/replay.rs` also runs on every committed input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mimamori_fuzz::targets::sync_response(data);
});
