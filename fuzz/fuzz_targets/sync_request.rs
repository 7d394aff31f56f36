//! Fuzz target `sync_request`: the body is `mimamori_fuzz::targets::sync_request` (docs/fuzzing.md), which
//! `tests/replay.rs` also runs on every committed input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mimamori_fuzz::unwind_like_the_server();
    mimamori_fuzz::targets::sync_request(data);
});
