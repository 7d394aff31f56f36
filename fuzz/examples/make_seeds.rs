//! Writes the seed corpus under fuzz/corpus/<target>/ from the real code: requests made
//! by the reference client (`shared::client::Replica`), documents made with
//! `shared::doc::init` and `shared::crdt`, rosters in UTF-8 and Shift_JIS.
//! Run from fuzz/: `cargo run --example make_seeds` (docs/fuzzing.md).

use automerge::sync::{State, SyncDoc};
use automerge::{ActorId, Automerge};
use serde_json::json;
use shared::client::Replica;
use shared::codes::DocKind;
use shared::crdt;
use shared::sync::{Bytes, DocUpdate, FallbackMsg, NewDoc, ScopeEntry, SyncResponse};
use std::path::Path;

const SEP: &[u8] = b"MMFZ";

fn put(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn doc_of(kind: DocKind, actor: u8, fill: &[(&[&str], serde_json::Value)]) -> Automerge {
    let mut d = Automerge::new().with_actor(ActorId::from(&[actor; 16][..]));
    let mut tx = d.transaction();
    shared::doc::init(&mut tx, &kind).unwrap();
    tx.commit();
    let mut tx = d.transaction();
    for (path, v) in fill {
        crdt::write(&mut tx, path, v).unwrap();
    }
    tx.commit();
    d
}

fn person() -> Automerge {
    doc_of(
        DocKind::Person,
        1,
        &[
            (
                &["profile"],
                json!({"name": "山田 花子", "kana": "やまだ はなこ", "birth_year": 1940,
                       "sex": "female", "household": "alone", "address": "みなと市東町1-2-3",
                       "phone": "03-1234-5678"}),
            ),
            (&["watch"], json!({"frequency": "monthly"})),
            (
                &["visits", "0193a1b2-0000-7000-8000-000000000001"],
                json!({"date": "2026-11-20", "time": "10:30", "kind": "home", "outcome": "met",
                       "condition": "well", "worries": ["health"], "note": "元気そう",
                       "followup": true, "followup_what": "通院の付き添い",
                       "visitors": ["u1"], "recorded_by": "u1", "recorded_at": 1795000000000i64}),
            ),
        ],
    )
}

fn salon() -> Automerge {
    doc_of(
        DocKind::Salon,
        2,
        &[
            (
                &["profile"],
                json!({"name": "ひだまりサロン", "venue": "東町会館"}),
            ),
            (
                &["members", "m1"],
                json!({"name": "佐藤 一郎", "joined_on": "2025-04-01"}),
            ),
            (
                &["sessions", "s1"],
                json!({"date": "2026-11-10", "attendance": {"m1": "present"}, "guests": 2}),
            ),
        ],
    )
}

fn map() -> Automerge {
    doc_of(
        DocKind::Map,
        3,
        &[
            (&["title"], json!("東地区の支え合いマップ")),
            (
                &["places", "p1"],
                json!({"kind": "home", "lat": 35.68, "lng": 139.76, "label": "山田さん"}),
            ),
        ],
    )
}

fn activity() -> Automerge {
    doc_of(
        DocKind::Activity,
        4,
        &[(
            &["activities", "a1"],
            json!({"date": "2026-11-02", "kind": "meeting", "minutes": 90}),
        )],
    )
}

fn main() {
    // sync_request / sync_binary: what the reference client sends.
    let mut r = Replica::new(ActorId::from(&[9u8; 16][..]));
    r.create(
        "0193a1b2-0000-7000-8000-00000000d0c1",
        NewDoc {
            kind: DocKind::Person,
            district: Some("d1".into()),
            salon: None,
        },
    )
    .unwrap();
    r.edit("0193a1b2-0000-7000-8000-00000000d0c1", |tx| {
        crdt::write(tx, &["profile", "name"], &json!("田中 一郎"))?;
        crdt::write(
            tx,
            &["visits", "v1"],
            &json!({"date": "2026-11-28", "outcome": "met", "note": "変わりなし"}),
        )
    })
    .unwrap();
    let req = r.request("0.1.0");
    put(
        "sync_request",
        "push_new_person.json",
        &serde_json::to_vec(&req).unwrap(),
    );

    // A second round: the server asks for a reconciliation (resync), the client answers
    // with a sync message.
    let resp = SyncResponse {
        v: 1,
        cursor: "1.e.5".into(),
        resync: Some(vec![ScopeEntry {
            doc: "0193a1b2-0000-7000-8000-00000000d0c1".into(),
            kind: DocKind::Person,
            heads: vec![],
        }]),
        ..Default::default()
    };
    r.apply(&req, resp).unwrap();
    let req2 = r.request("0.1.0");
    assert!(!req2.fallback.is_empty());
    put(
        "sync_request",
        "fallback.json",
        &serde_json::to_vec(&req2).unwrap(),
    );
    put(
        "sync_request",
        "minimal.json",
        br#"{"v":1,"cursor":null,"app":"0.1.0","push":[],"fallback":[]}"#,
    );

    let mut bin = Vec::new();
    for (i, c) in req.push[0].changes.iter().enumerate() {
        if i > 0 {
            bin.extend_from_slice(SEP);
        }
        bin.push(0);
        bin.extend_from_slice(&c.0);
    }
    put("sync_binary", "changes", &bin);
    let mut msg = vec![1u8];
    msg.extend_from_slice(&req2.fallback[0].msg.0);
    put("sync_binary", "sync_message", &msg);
    let mut both = bin.clone();
    both.extend_from_slice(SEP);
    both.extend_from_slice(&msg);
    put("sync_binary", "changes_and_message", &both);

    // doc_load: a kind byte, then chunks (a saved document, then incremental saves).
    for (k, name, d) in [
        (0u8, "person", person()),
        (1, "salon", salon()),
        (2, "map", map()),
        (3, "activity", activity()),
    ] {
        let mut whole = vec![k];
        whole.extend_from_slice(&d.save());
        put("doc_load", &format!("{name}_saved"), &whole);
        // First change saved whole, the rest as an incremental chunk (the app's storage).
        let first = d.get_changes(&[])[0].hash();
        let head = d.save_after(&[]);
        let after = d.save_after(&[first]);
        let mut inc = vec![k];
        inc.extend_from_slice(&head);
        inc.extend_from_slice(SEP);
        inc.extend_from_slice(&after);
        put("doc_load", &format!("{name}_incremental"), &inc);
    }

    // sync_response: what the server answers.
    let p = person();
    let mut state = State::new();
    let m = p.generate_sync_message(&mut state).unwrap();
    let resp = SyncResponse {
        v: 1,
        cursor: "1.e.41".into(),
        more: false,
        docs: vec![
            DocUpdate {
                doc: "0193a1b2-0000-7000-8000-00000000d0c2".into(),
                kind: DocKind::Person,
                placement: Some(NewDoc {
                    kind: DocKind::Person,
                    district: Some("d1".into()),
                    salon: None,
                }),
                chunks: vec![Bytes(p.save())],
            },
            DocUpdate {
                doc: "doc-1".into(),
                kind: DocKind::Person,
                placement: None,
                chunks: p
                    .get_changes(&[])
                    .iter()
                    .map(|c| Bytes(c.raw_bytes().to_vec()))
                    .collect(),
            },
        ],
        removed: vec!["gone".into()],
        fallback: vec![FallbackMsg {
            doc: "doc-1".into(),
            msg: Bytes(m.encode()),
        }],
        resync: None,
        directory: 7,
    };
    put(
        "sync_response",
        "docs_and_fallback.json",
        &serde_json::to_vec(&resp).unwrap(),
    );
    let resync = SyncResponse {
        v: 1,
        cursor: "1.e.41".into(),
        resync: Some(vec![ScopeEntry {
            doc: "doc-1".into(),
            kind: DocKind::Person,
            heads: vec![p.get_heads()[0].to_string()],
        }]),
        ..Default::default()
    };
    put(
        "sync_response",
        "resync.json",
        &serde_json::to_vec(&resync).unwrap(),
    );

    // roster_import: the import's columns, UTF-8 with a BOM, Shift_JIS, one with errors.
    let roster = "氏名,ふりがな,生年,性別,住所,電話,世帯,地区,見守り頻度,担当ボランティア,備考\r\n\
山田 花子,やまだ はなこ,昭和15,女,みなと市東町1-2-3,03-1234-5678,独居,東地区,月1回,vol01,\r\n\
\"佐藤, 一郎\",さとう いちろう,1938,男,みなと市東町4-5,,高齢者のみ世帯,d3,週1,vol01・vol02,\"耳が遠い\"\"ので\"\"大きな声で\"\r\n\
鈴木 トメ,すずき とめ,T14,女性,,,日中独居,d1,随時,,\r\n";
    let mut utf8 = b"\xEF\xBB\xBF".to_vec();
    utf8.extend_from_slice(roster.as_bytes());
    put("roster_import", "utf8_bom.csv", &utf8);
    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(roster);
    assert!(!unmappable);
    put("roster_import", "shift_jis.csv", &sjis);
    put(
        "roster_import",
        "broken_rows.csv",
        "地区,氏名,電話,担当ボランティア,性別,生年\n東地区,,abc,staff,?,平成元年\n本町,田中,,nobody,,令和99\n西地区,\"unclosed\n"
            .as_bytes(),
    );
}
