//! Mimamori's shared core: the record model, the mapping of records to Automerge
//! documents, validation, the message catalogue, and both sides' sync messages.
//!
//! No I/O here: this crate builds natively (server, tests) and for wasm32 (the app), and
//! holds every rule both sides must agree on.

pub mod access;
pub mod api;
pub mod check;
pub mod client;
pub mod codes;
pub mod crdt;
pub mod date;
pub mod desk;
pub mod doc;
pub mod i18n;
pub mod model;
#[cfg(feature = "roster")]
pub mod roster;
pub mod search;
pub mod sync;
pub mod validate;
pub mod watch;

pub use date::Date;
