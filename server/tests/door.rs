//! Records checked at the door (issue "The server holds under attack and bad data", 9):
//! a pushed change that leaves a record the model cannot read, or that breaks one of its
//! rules, is refused with `invalid_record` naming the document, the record and the rule;
//! nothing is stored, no other phone receives it, and the refusal is audited. Good
//! records in the same shape pass, and a record already wrong may still be corrected.

mod common;
use automerge::ReadDoc;
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

/// A server, its organisation, and minsei_a's phone that has created person `p1`
/// (佐藤 花子) and sent it.
async fn with_person(backend: &str) -> (TestServer, Org, Device) {
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
    (s, o, a)
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
        let (s, _, mut a) = with_person(backend).await;
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
        let (s, _, mut a) = with_person(backend).await;

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

/// The staff's `GET path` as JSON (200 expected).
async fn staff_get(s: &TestServer, staff: &Device, path: &str) -> Value {
    let r = s
        .http
        .get(format!("{}{path}", s.base))
        .bearer_auth(&staff.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_record_stored_before_the_door_is_listed_for_correction_until_corrected() {
    for backend in backends() {
        let (s, o, mut a) = with_person(backend).await;

        // A visit whose recorded_at is text, stored as a server without the door stored it.
        write_visit(
            &mut a,
            "p1",
            "old",
            json!({"date": today(), "outcome": "met", "recorded_at": "きのう"}),
        );
        let d = a.replica.get("p1").unwrap();
        let change = d
            .doc
            .get_change_by_hash(d.outbox.last().unwrap())
            .unwrap()
            .clone();
        let mut tx = s.db.begin().await.unwrap();
        server::store::append_locked(&mut tx, &o.id, "p1", &[change])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        server::projection::catch_up(&s.db).await.unwrap();

        // The office sees it, named, with what is wrong; so does the month's report.
        let staff = s.device("staff").await;
        let list = staff_get(&s, &staff, "/api/desk/problems").await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{backend}: {list}");
        let p = &items[0];
        assert_eq!(
            (p["doc"].as_str(), p["name"].as_str(), p["path"].as_str()),
            (Some("p1"), Some("佐藤 花子"), Some("visits/old")),
            "{backend}: {p}"
        );
        assert_eq!(
            (p["field"].as_str(), p["rule"].as_str()),
            (Some("recorded_at"), Some("type")),
            "{backend}: {p}"
        );
        assert!(!p["message_ja"].as_str().unwrap().is_empty());
        let month = &today()[..7];
        let report = staff_get(&s, &staff, &format!("/api/reports/minsei?month={month}")).await;
        assert_eq!(
            report["needs_correction"][0]["path"], "visits/old",
            "{backend}: {report}"
        );

        // The phone corrects it: the door lets a record that was already wrong be mended,
        // and the list empties.
        a.replica
            .edit("p1", |tx| {
                crdt::save_at(
                    tx,
                    &["visits", "old", "recorded_at"],
                    &1_795_000_000_000_i64,
                )
            })
            .unwrap();
        a.sync().await;
        server::projection::catch_up(&s.db).await.unwrap();
        let list = staff_get(&s, &staff, "/api/desk/problems").await;
        assert_eq!(list["items"], json!([]), "{backend}");
        let report = staff_get(&s, &staff, &format!("/api/reports/minsei?month={month}")).await;
        assert!(
            report["needs_correction"]
                .as_array()
                .is_none_or(|a| a.is_empty()),
            "{backend}: {report}"
        );
    }
}
