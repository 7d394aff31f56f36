//! Records checked at the door (issue "The server holds under attack and bad data", 9):
//! a pushed change that leaves a record the model cannot read, or that breaks one of its
//! rules, is refused with `invalid_record` naming the document, the record and the rule;
//! nothing is stored, no other phone receives it, and the refusal is audited. Good
//! records in the same shape pass, and a record already wrong may still be corrected.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::crdt;

fn today() -> String {
    server::desk::today().to_string()
}

/// Writes `visit` as visit `id` of `doc` on the device (not yet sent).
fn write_visit(d: &mut Device, doc: &str, id: &str, visit: Value) {
    d.replica
        .edit(doc, |tx| crdt::write(tx, &["visits", id], &visit))
        .unwrap();
}

/// The request's answer, expected to be a refusal of `doc` for `(field, rule)`.
async fn expect_refused(s: &TestServer, d: &mut Device, doc: &str, field: &str, rule: &str) {
    let changes = s.count("changes").await;
    let refusals = s.audits("record_refused").await;
    let req = d.replica.request("test");
    match d.post(&req).await {
        Answer::Err(st, e) => {
            assert_eq!(
                (st, e.error.as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_record"),
                "{e:?}"
            );
            assert_eq!(e.docs, vec![doc.to_string()]);
            let r = e
                .records
                .iter()
                .find(|r| r.problem.field == field && r.problem.rule == rule)
                .unwrap_or_else(|| panic!("no {field}/{rule} in {:?}", e.records));
            assert_eq!(r.doc, doc);
            assert_eq!(r.problem.path[0], "visits");
            assert!(!r.problem.message.is_empty());
        }
        Answer::Ok(_) => panic!("a visit breaking {field}/{rule} was accepted"),
    }
    assert_eq!(s.count("changes").await, changes, "nothing stored");
    assert_eq!(
        s.audits("record_refused").await,
        refusals + 1,
        "audited once"
    );
    d.replica.refuse(&[doc.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_that_cannot_be_read_or_breaks_a_rule_is_refused_and_reaches_nobody() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut a = s.device("minsei_a").await;
        a.create_person("p1", &o.school);
        a.replica
            .edit("p1", |tx| {
                crdt::save_at(tx, &["profile", "name"], &"佐藤 花子")
            })
            .unwrap();
        a.sync().await;
        let mut b = s.device("minsei_b").await;
        b.sync().await;
        assert!(b.replica.get("p1").is_some(), "{backend}");

        // Each bad visit on a device of its own, so that one refusal does not hide the next.
        let next_year = format!("{}-01-15", &today()[..4].parse::<i32>().unwrap() + 1);
        let cases = [
            (
                json!({"date": today(), "outcome": "met", "recorded_at": "yesterday"}),
                "recorded_at",
                "type",
            ),
            (
                json!({"date": next_year, "outcome": "met", "recorded_at": 1}),
                "date",
                "future_date",
            ),
            (
                json!({"date": today(), "outcome": "met", "note": "あ".repeat(10_000)}),
                "note",
                "too_long",
            ),
            (
                json!({"date": {"y": 2026}, "outcome": "met"}),
                "date",
                "type",
            ),
            (json!("not a visit"), "", "type"),
        ];
        for (i, (visit, field, rule)) in cases.into_iter().enumerate() {
            let mut d = s.device("minsei_a").await;
            d.sync().await;
            write_visit(&mut d, "p1", &format!("bad{i}"), visit);
            expect_refused(&s, &mut d, "p1", field, rule).await;
        }

        // A good visit passes; the second phone gets it and none of the refused ones.
        write_visit(
            &mut a,
            "p1",
            "good",
            json!({"date": today(), "outcome": "met", "recorded_at": 1_795_000_000_000_i64}),
        );
        a.sync().await;
        b.sync().await;
        let (p, _): (shared::model::Person, _) =
            shared::doc::read(&b.replica.get("p1").unwrap().doc).unwrap();
        assert_eq!(p.visits.keys().collect::<Vec<_>>(), ["good"], "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_record_corrected_before_sending_passes_and_a_collection_must_stay_a_map() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut a = s.device("minsei_a").await;
        a.create_person("p1", &o.school);
        a.replica
            .edit("p1", |tx| {
                crdt::save_at(tx, &["profile", "name"], &"佐藤 花子")
            })
            .unwrap();
        a.sync().await;

        // Refused, then corrected on the phone: the changes go again together and pass.
        write_visit(
            &mut a,
            "p1",
            "v1",
            json!({"date": today(), "note": "あ".repeat(3000)}),
        );
        expect_refused(&s, &mut a, "p1", "note", "too_long").await;
        a.replica
            .edit("p1", |tx| {
                crdt::save_at(tx, &["visits", "v1", "note"], &"短く")
            })
            .unwrap();
        a.sync().await;
        assert_eq!(
            db_heads(&s.db, "p1").await,
            sorted_heads(&a.replica.get("p1").unwrap().doc),
            "{backend}"
        );

        // The visits collection overwritten with text would hide every visit.
        a.replica
            .edit("p1", |tx| crdt::write(tx, &["visits"], &json!("gone")))
            .unwrap();
        let req = a.replica.request("test");
        match a.post(&req).await {
            Answer::Err(st, e) => {
                assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
                assert_eq!(e.records[0].problem.path, ["visits"]);
                assert_eq!(e.records[0].problem.rule, "type");
            }
            Answer::Ok(_) => panic!("{backend}: the visits were overwritten"),
        }
    }
}
