//! `POST /api/sync`: the body as the server reads it — JSON into `SyncRequest` (what axum's
//! `Json` extractor does: `serde_json` from the bytes), then `shared::sync::check_request`
//! (the server's validation, called by `server::sync::handler`), then what the server does
//! with an accepted request: the changes applied to a document and the document read as
//! every record type, each sync message received and answered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::sync::{SyncRequest, check_request};

fuzz_target!(|data: &[u8]| {
    mimamori_fuzz::unwind_like_the_server();
    let Ok(req) = serde_json::from_slice::<SyncRequest>(data) else {
        return;
    };
    if let Ok(checked) = check_request(req) {
        mimamori_fuzz::server_after_check(checked);
    }
});
