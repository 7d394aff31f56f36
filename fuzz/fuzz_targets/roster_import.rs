//! The coordinator's roster import (`POST /api/desk/import`): the uploaded bytes through
//! `shared::roster::decode` (UTF-8 or Shift_JIS) and `shared::roster::parse_roster`, as
//! `server::people::import` calls them, against a small fixed set of districts and users.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::Date;
use shared::roster::{Lookup, decode, parse_roster};
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn lookup() -> &'static Lookup {
    static L: OnceLock<Lookup> = OnceLock::new();
    L.get_or_init(|| Lookup {
        districts: BTreeMap::from([
            ("d1".to_string(), ("東地区".to_string(), true)),
            ("d2".to_string(), ("西地区".to_string(), false)),
            ("d3".to_string(), ("本町".to_string(), true)),
            ("d4".to_string(), ("本町".to_string(), true)),
        ]),
        users: BTreeMap::from([
            ("vol01".to_string(), ("u1".to_string(), true)),
            ("vol02".to_string(), ("u2".to_string(), true)),
            ("staff".to_string(), ("u3".to_string(), false)),
        ]),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = decode(data) else {
        return;
    };
    let today = Date::new(2026, 11, 30).expect("a date");
    match parse_roster(&text, lookup(), today) {
        Ok(rows) => {
            assert!(!rows.is_empty());
            for r in rows {
                assert!(r.line >= 2, "a row on line {}", r.line);
                assert!(lookup().districts.contains_key(&r.district));
            }
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
