//! Privacy on the server, on SQLite and PostgreSQL: device keys and the PIN (wrong PINs
//! count down, then the device is revoked and its secret destroyed), the 401 codes
//! `revoked` / `signed_out`, view-only access, disaster mode and the evacuation roster,
//! the audit page, read reports, and an audit log the database keeps append-only.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::api::{DeviceKeys, Directory, LoginResponse, PIN_ATTEMPTS};
use shared::codes::{DocKind, Role};
use shared::crdt;
use shared::sync::{ApiError, Bytes, NewDoc};

/// POSTs `body` as `token`; the status and the JSON answer.
async fn post(s: &TestServer, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let r = s
        .http
        .post(format!("{}{path}", s.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// `POST /api/unlock` as a locked phone does it: no token, the device named by its id.
async fn unlock(s: &TestServer, device: &str, proof: &[u8]) -> (StatusCode, Value) {
    let r = s
        .http
        .post(format!("{}/api/unlock", s.base))
        .json(&json!({"device_id": device, "proof": b64(proof)}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json::<Value>().await.unwrap_or(Value::Null))
}

async fn get(s: &TestServer, path: &str, token: &str) -> (StatusCode, Value) {
    let r = s
        .http
        .get(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn directory(s: &TestServer, token: &str) -> Directory {
    let (st, v) = get(s, "/api/directory", token).await;
    assert_eq!(st, StatusCode::OK);
    serde_json::from_value(v).unwrap()
}

fn can_edit(d: &Directory, doc: &str) -> Option<bool> {
    d.docs.iter().find(|e| e.doc == doc).map(|e| e.can_edit)
}

/// A person document made by a 民生委員 of the test organisation's 地区, in `district`.
async fn person(s: &TestServer, minsei: &mut Device, id: &str, district: &str, p: Value) {
    minsei.sync().await;
    minsei
        .replica
        .create(
            id,
            NewDoc {
                kind: DocKind::Person,
                district: Some(district.to_string()),
                salon: None,
            },
        )
        .unwrap();
    for (k, v) in p.as_object().unwrap() {
        minsei
            .replica
            .edit(id, |tx| crdt::write(tx, &[k], v))
            .unwrap();
    }
    minsei.sync().await;
    server::projection::catch_up(&s.db).await.unwrap();
}

fn error(v: &Value) -> ApiError {
    serde_json::from_value(v.clone()).expect("an ApiError")
}

fn b64(bytes: &[u8]) -> String {
    serde_json::to_value(Bytes(bytes.to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

async fn login(s: &TestServer, login: &str) -> LoginResponse {
    let r = s
        .http
        .post(format!("{}/api/login", s.base))
        .json(&json!({"login": login, "password": PASSWORD, "device_name": "phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn one_str(s: &TestServer, sql: &str, id: &str) -> Option<String> {
    sqlx::query_scalar(sql)
        .bind(id.to_string())
        .fetch_one(&s.db)
        .await
        .unwrap()
}

/// The error code a sync from `token` gets (or "ok").
async fn sync_code(s: &TestServer, token: &str) -> (StatusCode, String) {
    let (st, v) = post(s, "/api/sync", token, &json!({"v": 1, "cursor": null})).await;
    let code = if st == StatusCode::OK {
        "ok".to_string()
    } else {
        error(&v).error
    };
    (st, code)
}

const PROOF: [u8; 32] = [7; 32];
const WRONG: [u8; 32] = [9; 32];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_answers_a_wrap_secret_and_the_lock_period() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let a = login(&s, "minsei_a").await;
        let b = login(&s, "minsei_a").await;
        assert_eq!(a.keys.wrap_secret.0.len(), 32, "{backend}");
        assert_eq!(a.keys.lock_after_days, 14, "{backend}: the default");
        assert_ne!(
            a.keys.wrap_secret, b.keys.wrap_secret,
            "one secret per device"
        );
        let stored = one_str(
            &s,
            "SELECT wrap_secret FROM devices WHERE id = $1",
            &a.device_id,
        )
        .await;
        assert_eq!(stored, Some(hex::encode(&a.keys.wrap_secret.0)));

        server::admin::set_lock_days(&s.db, &o.id, 7).await.unwrap();
        assert!(server::admin::set_lock_days(&s.db, &o.id, 0).await.is_err());
        assert_eq!(login(&s, "vol").await.keys.lock_after_days, 7);
        assert_eq!(s.audits("lock_days_changed").await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_unlocks_and_five_wrong_ones_revoke_the_device_and_destroy_its_secret() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        org(&s.db).await;
        let l = login(&s, "minsei_a").await;
        let (t, d) = (l.token.as_str(), l.device_id.as_str());

        // No PIN yet: nothing to unlock with.
        let (st, v) = unlock(&s, d, &PROOF).await;
        assert_eq!(
            (st, error(&v).error.as_str()),
            (StatusCode::CONFLICT, "conflict")
        );
        // A proof of the wrong size, or garbage.
        let (st, _) = post(&s, "/api/pin", t, &json!({"proof": b64(&[1; 8])})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{backend}");
        let (st, _) = post(&s, "/api/pin", t, &json!({"proof": b64(&[1; 65])})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let (st, v) = post(&s, "/api/pin", t, &json!({"proof": "not base64!"})).await;
        assert_eq!(
            (st, error(&v).error.as_str()),
            (StatusCode::BAD_REQUEST, "bad_request")
        );

        let (st, v) = post(&s, "/api/pin", t, &json!({"proof": b64(&PROOF)})).await;
        assert_eq!((st, v), (StatusCode::OK, json!({"ok": true})), "{backend}");
        assert_eq!(s.audits("pin_set").await, 1);
        let hash = one_str(
            &s,
            "SELECT pin_hash FROM devices WHERE id = $1",
            &l.device_id,
        )
        .await
        .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");

        // The right proof gives back the device's keys.
        let (st, v) = unlock(&s, d, &PROOF).await;
        assert_eq!(st, StatusCode::OK, "{backend}: {v}");
        let keys: DeviceKeys = serde_json::from_value(v).unwrap();
        assert_eq!(keys, l.keys);
        assert_eq!(s.audits("unlock").await, 1);

        // Two wrong, one right: the count starts again.
        for left in [4, 3] {
            let (st, v) = unlock(&s, d, &WRONG).await;
            let e = error(&v);
            assert_eq!(
                (st, e.error.as_str(), e.attempts_left),
                (StatusCode::FORBIDDEN, "wrong_pin", Some(left))
            );
        }
        let (st, _) = unlock(&s, d, &PROOF).await;
        assert_eq!(st, StatusCode::OK);

        // Five wrong in a row: 4, 3, 2, 1 left, then the device is revoked.
        for left in (1..PIN_ATTEMPTS).rev() {
            let (st, v) = unlock(&s, d, &WRONG).await;
            let e = error(&v);
            assert_eq!(
                (st, e.error.as_str(), e.attempts_left),
                (StatusCode::FORBIDDEN, "wrong_pin", Some(left)),
                "{backend}"
            );
        }
        let (st, v) = unlock(&s, d, &WRONG).await;
        assert_eq!(
            (st, error(&v).error.as_str()),
            (StatusCode::UNAUTHORIZED, "revoked"),
            "{backend}"
        );
        let row = sqlx::query_as::<_, (Option<String>, Option<String>, Option<String>)>(
            "SELECT wrap_secret, pin_hash, revoked_reason FROM devices WHERE id = $1",
        )
        .bind(l.device_id.clone())
        .fetch_one(&s.db)
        .await
        .unwrap();
        assert_eq!(
            row,
            (None, None, Some("pin".to_string())),
            "{backend}: the secret is gone"
        );
        // From now on the device is revoked for everything, the right PIN included.
        let (st, v) = unlock(&s, d, &PROOF).await;
        assert_eq!(
            (st, error(&v).error.as_str()),
            (StatusCode::UNAUTHORIZED, "revoked")
        );
        assert_eq!(
            sync_code(&s, t).await,
            (StatusCode::UNAUTHORIZED, "revoked".into())
        );
        assert_eq!(s.audits("unlock_failed").await, 2 + 4, "{backend}");
        assert_eq!(s.audits("pin_wipe").await, 1);
        assert_eq!(s.audits("unlock").await, 2);
        // No proof or secret is ever written to the audit log.
        let details: Vec<String> = sqlx::query_scalar("SELECT detail FROM audit_log")
            .fetch_all(&s.db)
            .await
            .unwrap();
        let secret = hex::encode(&l.keys.wrap_secret.0);
        assert!(
            details
                .iter()
                .all(|d| !d.contains(&secret) && !d.contains(&b64(&PROOF)))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_pins_get_no_more_than_the_allowed_attempts() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        org(&s.db).await;
        let l = login(&s, "minsei_a").await;
        let (st, _) = post(&s, "/api/pin", &l.token, &json!({"proof": b64(&PROOF)})).await;
        assert_eq!(st, StatusCode::OK);
        let tries = (0..20u8).map(|i| {
            let (http, base, device) = (s.http.clone(), s.base.clone(), l.device_id.clone());
            tokio::spawn(async move {
                let r = http
                    .post(format!("{base}/api/unlock"))
                    .json(&json!({"device_id": device, "proof": b64(&[i + 100; 32])}))
                    .send()
                    .await
                    .unwrap();
                let st = r.status();
                (st, r.json::<ApiError>().await.unwrap().error)
            })
        });
        let mut answers = std::collections::BTreeMap::new();
        for t in tries {
            *answers.entry(t.await.unwrap()).or_insert(0) += 1;
        }
        assert_eq!(
            answers.into_iter().collect::<Vec<_>>(),
            vec![
                (
                    (StatusCode::UNAUTHORIZED, "revoked".to_string()),
                    21 - PIN_ATTEMPTS
                ),
                (
                    (StatusCode::FORBIDDEN, "wrong_pin".to_string()),
                    PIN_ATTEMPTS - 1
                ),
            ],
            "{backend}"
        );
        assert_eq!(s.audits("pin_wipe").await, 1, "{backend}");
        assert_eq!(
            one_str(
                &s,
                "SELECT wrap_secret FROM devices WHERE id = $1",
                &l.device_id
            )
            .await,
            None
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_device_changes_its_pin_and_nobody_unlocks_without_its_id() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        org(&s.db).await;
        let l = login(&s, "vol").await;
        let (t, d) = (l.token.as_str(), l.device_id.as_str());
        let new = [3u8; 32];
        let (st, _) = post(&s, "/api/pin", t, &json!({"proof": b64(&PROOF)})).await;
        assert_eq!(st, StatusCode::OK, "{backend}");
        // Unlocking needs the device's id; an unknown one is refused and counts nothing.
        let (st, v) = unlock(&s, "no-such-device", &PROOF).await;
        assert_eq!(
            (st, error(&v).error.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
        assert_eq!(s.audits("unlock_refused").await, 1);
        // A wrong proof, then a PIN change (the app is open, so it has its token): the count
        // starts again and only the new PIN opens.
        assert_eq!(unlock(&s, d, &WRONG).await.0, StatusCode::FORBIDDEN);
        let (st, _) = post(&s, "/api/pin", t, &json!({"proof": b64(&new)})).await;
        assert_eq!(st, StatusCode::OK, "{backend}");
        let failures: i64 = sqlx::query_scalar("SELECT pin_failures FROM devices WHERE id = $1")
            .bind(d.to_string())
            .fetch_one(&s.db)
            .await
            .unwrap();
        assert_eq!(failures, 0);
        assert_eq!(unlock(&s, d, &new).await.0, StatusCode::OK);
        let (st, v) = unlock(&s, d, &PROOF).await;
        assert_eq!(
            (st, error(&v).attempts_left),
            (StatusCode::FORBIDDEN, Some(PIN_ATTEMPTS - 1))
        );
        let details: Vec<String> =
            sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'pin_set' ORDER BY id")
                .fetch_all(&s.db)
                .await
                .unwrap();
        assert_eq!(details, vec!["".to_string(), "changed".to_string()]);
        // A device signed in before wrapping secrets existed gets one at its first unlock.
        sqlx::query("UPDATE devices SET wrap_secret = NULL WHERE id = $1")
            .bind(d.to_string())
            .execute(&s.db)
            .await
            .unwrap();
        let (st, v) = unlock(&s, d, &new).await;
        assert_eq!(st, StatusCode::OK, "{backend}: {v}");
        let keys: DeviceKeys = serde_json::from_value(v).unwrap();
        assert_eq!(keys.wrap_secret.0.len(), 32);
        assert_ne!(keys.wrap_secret, l.keys.wrap_secret);
        assert_eq!(
            one_str(&s, "SELECT wrap_secret FROM devices WHERE id = $1", d).await,
            Some(hex::encode(&keys.wrap_secret.0))
        );
        // Setting a PIN needs the device's token.
        let (st, _) = post(&s, "/api/pin", "mm1_madeup", &json!({"proof": b64(&new)})).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_hears_revoked_and_a_password_change_elsewhere_signed_out() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        org(&s.db).await;
        let lost = login(&s, "minsei_a").await;
        let old = login(&s, "minsei_a").await;
        let desk = login(&s, "minsei_a").await;

        // The user signs out a lost phone from another device: `revoked`, secret destroyed.
        let (st, _) = post(
            &s,
            &format!("/api/devices/{}/revoke", lost.device_id),
            &desk.token,
            &json!({}),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            sync_code(&s, &lost.token).await,
            (StatusCode::UNAUTHORIZED, "revoked".into()),
            "{backend}"
        );
        assert_eq!(
            one_str(
                &s,
                "SELECT wrap_secret FROM devices WHERE id = $1",
                &lost.device_id
            )
            .await,
            None
        );

        // A password change on the desk signs the old phone out: `signed_out`; its secret
        // is kept, so that the phone can still unlock (online) and sign in again.
        let (st, _) = post(
            &s,
            "/api/pin",
            &old.token,
            &json!({"proof": b64(&[7u8; 32])}),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let (st, v) = post(
            &s,
            "/api/password",
            &desk.token,
            &json!({"current": PASSWORD, "new": "a new long password"}),
        )
        .await;
        assert_eq!(
            (st, v["ended_sessions"].as_i64()),
            (StatusCode::OK, Some(1)),
            "{backend}"
        );
        assert_eq!(
            sync_code(&s, &old.token).await,
            (StatusCode::UNAUTHORIZED, "signed_out".into()),
            "{backend}"
        );
        let row = sqlx::query_as::<_, (Option<String>, Option<String>)>(
            "SELECT wrap_secret, revoked_reason FROM devices WHERE id = $1",
        )
        .bind(old.device_id.clone())
        .fetch_one(&s.db)
        .await
        .unwrap();
        assert_eq!(
            row,
            (
                Some(
                    old.keys
                        .wrap_secret
                        .0
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect()
                ),
                Some("password".to_string())
            ),
            "{backend}"
        );
        let (st, v) = unlock(&s, &old.device_id, &[7u8; 32]).await;
        assert_eq!(st, StatusCode::OK, "{backend}: {v}");
        // … while the lost phone's secret is gone: no unlock ever again.
        let (st, v) = unlock(&s, &lost.device_id, &[7u8; 32]).await;
        assert_eq!(
            (st, error(&v).error),
            (StatusCode::UNAUTHORIZED, "revoked".to_string()),
            "{backend}"
        );
        assert_eq!(sync_code(&s, &desk.token).await.1, "ok");
        // Each signed-out device has its audit row.
        let revoked: Vec<(Option<String>, String)> = sqlx::query_as(
            "SELECT device_id, detail FROM audit_log WHERE action = 'device_revoked' ORDER BY id",
        )
        .fetch_all(&s.db)
        .await
        .unwrap();
        assert_eq!(
            revoked,
            vec![
                (Some(lost.device_id.clone()), "by minsei_a".to_string()),
                (Some(old.device_id.clone()), "password changed".to_string()),
            ],
            "{backend}"
        );

        // Its own log-out: `signed_out` as well.
        let (st, _) = post(&s, "/api/logout", &desk.token, &json!({})).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            sync_code(&s, &desk.token).await,
            (StatusCode::UNAUTHORIZED, "signed_out".into())
        );
        // An unknown token stays `unauthorized`.
        assert_eq!(
            sync_code(&s, "mm1_nothing").await,
            (StatusCode::UNAUTHORIZED, "unauthorized".into())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_unused_for_too_long_has_expired_and_the_refusal_is_audited() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        org(&s.db).await;
        let idle = login(&s, "minsei_a").await;
        let used = login(&s, "minsei_a").await;
        let long_ago = server::db::now_ms() - (server::auth::TOKEN_IDLE_DAYS + 1) * 86_400_000;
        sqlx::query("UPDATE devices SET last_seen_at = $1 WHERE id = $2")
            .bind(long_ago)
            .bind(idle.device_id.clone())
            .execute(&s.db)
            .await
            .unwrap();
        assert_eq!(
            sync_code(&s, &idle.token).await,
            (StatusCode::UNAUTHORIZED, "signed_out".into()),
            "{backend}"
        );
        assert_eq!(s.audits("expired_token_refused").await, 1, "{backend}");
        // Refused, it stays expired (the refusal does not count as use) …
        assert_eq!(sync_code(&s, &idle.token).await.1, "signed_out");
        // … and the user's other device keeps working.
        assert_eq!(sync_code(&s, &used.token).await.1, "ok", "{backend}");
    }
}

#[tokio::test]
async fn a_view_only_assignment_reads_but_every_write_is_refused_and_nothing_stored() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut minsei = s.device("minsei_a").await;
        person(
            &s,
            &mut minsei,
            "p-view",
            &o.school,
            json!({"profile": {"name": "見る 人"}}),
        )
        .await;
        person(
            &s,
            &mut minsei,
            "p-edit",
            &o.school,
            json!({"profile": {"name": "書く 人"}}),
        )
        .await;
        let vol_id = o.users["vol"].clone();
        server::admin::set_assignment(&s.db, &vol_id, "p-view", false)
            .await
            .unwrap();
        server::admin::assign(&s.db, &vol_id, "p-edit")
            .await
            .unwrap();

        let mut vol = s.device("vol").await;
        vol.sync().await;
        assert_eq!(
            vol.replica.ids().collect::<Vec<_>>(),
            vec!["p-edit", "p-view"],
            "{backend}: both people reach the phone"
        );
        let dir = directory(&s, &vol.token).await;
        assert_eq!(can_edit(&dir, "p-view"), Some(false), "{backend}");
        assert_eq!(can_edit(&dir, "p-edit"), Some(true));

        // A visit written to both: the whole request is refused, nothing stored.
        for doc in ["p-edit", "p-view"] {
            vol.replica
                .edit(doc, |tx| {
                    crdt::write(
                        tx,
                        &["visits", "v1"],
                        &json!({"date": "2026-11-20", "outcome": "met"}),
                    )
                })
                .unwrap();
        }
        let changes = s.count("changes").await;
        let req = vol.replica.request("test");
        match vol.post(&req).await {
            Answer::Err(st, e) => {
                assert_eq!(
                    (st, e.error.as_str()),
                    (StatusCode::FORBIDDEN, "read_only"),
                    "{backend}"
                );
                assert_eq!(e.docs, vec!["p-view".to_string()]);
            }
            Answer::Ok(_) => panic!("{backend}: a write to a view-only record was stored"),
        }
        assert_eq!(
            s.count("changes").await,
            changes,
            "{backend}: nothing stored"
        );
        let refused: Vec<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT user_id, doc_id FROM audit_log WHERE action = 'write_refused'")
                .fetch_all(&s.db)
                .await
                .unwrap();
        assert_eq!(
            refused,
            vec![(Some(vol_id.clone()), Some("p-view".to_string()))]
        );

        // The office gives the right to record: the directory says so, and the kept visit goes.
        server::admin::set_assignment(&s.db, &vol_id, "p-view", true)
            .await
            .unwrap();
        assert_eq!(
            can_edit(&directory(&s, &vol.token).await, "p-view"),
            Some(true)
        );
        let req = vol.replica.request("test");
        assert!(matches!(vol.post(&req).await, Answer::Ok(_)), "{backend}");
        assert_eq!(s.count("changes").await, changes + 2);
        let details: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT detail, doc_id FROM audit_log WHERE action = 'permission_change' AND user_id = $1 ORDER BY id",
        )
        .bind(vol_id.clone())
        .fetch_all(&s.db)
        .await
        .unwrap();
        assert_eq!(
            details,
            vec![
                ("grant volunteer edit".to_string(), None),
                ("assign view".to_string(), Some("p-view".to_string())),
                ("assign edit".to_string(), Some("p-edit".to_string())),
                ("assign edit".to_string(), Some("p-view".to_string())),
            ],
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_only_staff_read_the_organisation_and_bousai_see_no_records() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut minsei = s.device("minsei_a").await;
        person(
            &s,
            &mut minsei,
            "p-1",
            &o.school,
            json!({"profile": {"name": "一 人"}}),
        )
        .await;
        let hash = server::auth::hash_password(PASSWORD).unwrap();
        let viewer = server::admin::create_user(&s.db, &o.id, "viewer", "監査係", &hash)
            .await
            .unwrap();
        server::admin::set_grant(&s.db, &viewer, &Role::Staff, None, None, false)
            .await
            .unwrap();
        let bousai = server::admin::create_user(&s.db, &o.id, "bousai", "自主防災", &hash)
            .await
            .unwrap();
        server::admin::grant(&s.db, &bousai, &Role::Bousai, Some(&o.district), None)
            .await
            .unwrap();

        let mut v = s.device("viewer").await;
        v.sync().await;
        assert!(
            v.replica.get("p-1").is_some(),
            "{backend}: staff read everything"
        );
        let dir = directory(&s, &v.token).await;
        assert!(
            !dir.docs.is_empty() && dir.docs.iter().all(|d| !d.can_edit),
            "{backend}"
        );
        // Changing a record, or creating one, is refused.
        v.replica
            .edit("p-1", |tx| {
                crdt::write(tx, &["profile"], &json!({"note": "x"}))
            })
            .unwrap();
        let req = v.replica.request("test");
        assert!(
            matches!(v.post(&req).await, Answer::Err(StatusCode::FORBIDDEN, e) if e.error == "read_only")
        );
        let mut fresh = s.device("viewer").await;
        fresh.sync().await;
        fresh
            .replica
            .create(
                "p-new",
                NewDoc {
                    kind: DocKind::Person,
                    district: Some(o.school.clone()),
                    salon: None,
                },
            )
            .unwrap();
        let req = fresh.replica.request("test");
        assert!(
            matches!(fresh.post(&req).await, Answer::Err(StatusCode::FORBIDDEN, e) if e.error == "forbidden")
        );
        // The grant made editable again (same role and limit): one grant, now editable.
        server::admin::set_grant(&s.db, &viewer, &Role::Staff, None, None, true)
            .await
            .unwrap();
        let grants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE user_id = $1")
            .bind(viewer.clone())
            .fetch_one(&s.db)
            .await
            .unwrap();
        assert_eq!(grants, 1);
        assert_eq!(can_edit(&directory(&s, &v.token).await, "p-1"), Some(true));

        // 自主防災組織: no documents through sync or the directory.
        let mut b = s.device("bousai").await;
        b.sync().await;
        assert_eq!(b.replica.ids().count(), 0, "{backend}");
        let dir = directory(&s, &b.token).await;
        assert!(dir.docs.is_empty() && dir.people.is_empty());
        assert_eq!(dir.user.grants[0].role, Role::Bousai);
    }
}

/// A listed person (避難行動要支援者) for the roster.
fn listed(name: &str, consent: bool) -> Value {
    json!({
        "profile": {"name": name, "kana": name, "address": "みなと市本町1-2-3", "phone": "0120-000-000", "birth_year": 1940},
        "evacuation": {"listed": true, "support_needed": "車いす", "helper": "隣の田中さん", "shelter": "第一小学校"},
        "consent": {"share_bousai": consent},
        "emergency": {"contacts": {"c1": {"name": "長男", "relation": "長男", "phone": "090-1111-2222", "order": 1}}}
    })
}

async fn roster(s: &TestServer, token: &str) -> shared::api::Roster {
    let (st, v) = get(s, "/api/roster", token).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    serde_json::from_value(v).unwrap()
}

fn names(r: &shared::api::Roster) -> Vec<(String, bool)> {
    r.people
        .iter()
        .map(|p| (p.name.clone(), p.consented))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roster_shows_consented_people_and_a_disaster_mode_opens_it_for_a_limited_time() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let west = server::admin::create_district(&s.db, &o.id, None, "西地区", "地区", None)
            .await
            .unwrap();
        let hash = server::auth::hash_password(PASSWORD).unwrap();
        for (login, role, district) in [
            ("bousai_e", Role::Bousai, &o.district),
            ("bousai_w", Role::Bousai, &west),
            ("staff_w", Role::Staff, &west),
        ] {
            let u = server::admin::create_user(&s.db, &o.id, login, login, &hash)
                .await
                .unwrap();
            server::admin::grant(&s.db, &u, &role, Some(district), None)
                .await
                .unwrap();
        }
        let mut staff = s.device("staff").await;
        person(
            &s,
            &mut staff,
            "p-yes",
            &o.school,
            listed("同意 あり", true),
        )
        .await;
        person(
            &s,
            &mut staff,
            "p-no",
            &o.other_school,
            listed("同意 なし", false),
        )
        .await;
        person(&s, &mut staff, "p-west", &west, listed("西 の人", true)).await;
        let mut unlisted = listed("名簿 外", true);
        unlisted["evacuation"]["listed"] = json!(false);
        person(&s, &mut staff, "p-unlisted", &o.school, unlisted).await;
        let mut gone = listed("亡くなった 人", true);
        gone["profile"]["status"] = json!("deceased");
        person(&s, &mut staff, "p-gone", &o.school, gone).await;
        let projected: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM proj_people")
            .fetch_one(&s.db)
            .await
            .unwrap();
        assert_eq!(projected, 5, "{backend}: every person is projected");

        let token = |l: &'static str| {
            let s = &s;
            async move { s.device(l).await.token }
        };
        let (east, west_b, minsei, vol, staff_w) = (
            token("bousai_e").await,
            token("bousai_w").await,
            token("minsei_a").await,
            token("vol").await,
            token("staff_w").await,
        );

        // Normal times: only the consented, listed, living people of one's own districts.
        let r = roster(&s, &east).await;
        assert_eq!(
            names(&r),
            vec![("同意 あり".to_string(), true)],
            "{backend}"
        );
        assert!(r.disaster.is_empty());
        let e = &r.people[0];
        assert_eq!(
            (
                e.doc.as_str(),
                e.district.as_str(),
                e.support_needed.as_str(),
                e.birth_year
            ),
            ("p-yes", o.school.as_str(), "車いす", Some(1940))
        );
        assert_eq!(e.contacts.len(), 1);
        assert_eq!(e.contacts[0].phone, "090-1111-2222");
        assert_eq!(names(&roster(&s, &minsei).await), names(&r));
        assert_eq!(
            names(&roster(&s, &west_b).await),
            vec![("西 の人".to_string(), true)]
        );
        assert_eq!(
            names(&roster(&s, &staff.token).await),
            vec![
                ("同意 あり".to_string(), true),
                ("西 の人".to_string(), true)
            ]
        );
        // A volunteer has no roster.
        let (st, v) = get(&s, "/api/roster", &vol).await;
        assert_eq!(
            (st, error(&v).error.as_str()),
            (StatusCode::FORBIDDEN, "forbidden")
        );
        assert_eq!(s.audits("roster_refused").await, 1);

        // Only staff over the district start a disaster mode, for 1 to 72 hours, with a reason.
        let start = |hours: u32, district: &str, reason: &str| json!({"district": district, "hours": hours, "reason": reason});
        for t in [&vol, &minsei, &east, &staff_w] {
            let (st, _) = post(&s, "/api/disaster", t, &start(24, &o.district, "台風")).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{backend}");
        }
        assert_eq!(s.audits("disaster_refused").await, 4);
        for (hours, reason) in [
            (0, "台風"),
            (73, "台風"),
            (24, "  "),
            (24, &"長".repeat(201) as &str),
        ] {
            let (st, v) = post(
                &s,
                "/api/disaster",
                &staff.token,
                &start(hours, &o.district, reason),
            )
            .await;
            assert_eq!(
                (st, error(&v).error.as_str()),
                (StatusCode::BAD_REQUEST, "bad_request")
            );
        }
        let (st, _) = post(
            &s,
            "/api/disaster",
            &staff.token,
            &start(24, "nowhere", "台風"),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = post(
            &s,
            "/api/disaster",
            &staff.token,
            &json!({"district": o.district, "hours": -1}),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_eq!(s.audits("disaster_start").await, 0);

        let (st, v) = post(
            &s,
            "/api/disaster",
            &staff.token,
            &start(24, &o.district, "台風10号 避難指示"),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{backend}: {v}");
        let mode: shared::api::DisasterMode = serde_json::from_value(v).unwrap();
        assert_eq!(
            (mode.district_name.as_str(), mode.started_by.as_str()),
            ("東地区", "staff")
        );
        assert_eq!(mode.ends_at - mode.started_at, 24 * 3_600_000);
        assert!(mode.ended_at.is_none());
        assert_eq!(s.audits("disaster_start").await, 1);

        // Under it, the east district's responders see everyone listed, marked.
        let r = roster(&s, &east).await;
        assert_eq!(
            names(&r),
            vec![
                ("同意 あり".to_string(), true),
                ("同意 なし".to_string(), false)
            ],
            "{backend}"
        );
        assert_eq!(
            r.disaster.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            vec![mode.id.as_str()]
        );
        assert_eq!(
            names(&roster(&s, &west_b).await),
            vec![("西 の人".to_string(), true)]
        );
        assert!(roster(&s, &west_b).await.disaster.is_empty());
        let last: String = sqlx::query_scalar(
            "SELECT detail FROM audit_log WHERE action = 'roster_read' AND user_id = (SELECT id FROM users WHERE login = 'bousai_e') ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(&s.db)
        .await
        .unwrap();
        assert_eq!(last, "count 2 disaster 1");
        // The list of modes: the organisation's staff and the district's responders.
        for (t, n) in [(&staff.token, 1), (&east, 1), (&minsei, 1), (&west_b, 0)] {
            let (st, v) = get(&s, "/api/disaster", t).await;
            assert_eq!(
                (st, v.as_array().map(Vec::len)),
                (StatusCode::OK, Some(n)),
                "{backend}"
            );
        }
        assert_eq!(
            get(&s, "/api/disaster", &vol).await.0,
            StatusCode::FORBIDDEN
        );

        // Time-limited: once ends_at has passed, the unconsented are gone again.
        sqlx::query("UPDATE disaster_modes SET ends_at = $1 WHERE id = $2")
            .bind(server::db::now_ms() - 1)
            .bind(mode.id.clone())
            .execute(&s.db)
            .await
            .unwrap();
        let r = roster(&s, &east).await;
        assert_eq!(
            names(&r),
            vec![("同意 あり".to_string(), true)],
            "{backend}: expired"
        );
        assert!(r.disaster.is_empty());
        let end = |id: &str| format!("/api/disaster/{id}/end");
        assert_eq!(
            post(&s, &end(&mode.id), &staff.token, &json!(null)).await.0,
            StatusCode::CONFLICT
        );
        // Still listed (over within the last 30 days).
        assert_eq!(
            get(&s, "/api/disaster", &east)
                .await
                .1
                .as_array()
                .map(Vec::len),
            Some(1)
        );

        // A mode for the 小学校区 alone, ended early by staff.
        let (_, v) = post(
            &s,
            "/api/disaster",
            &staff.token,
            &start(6, &o.other_school, "大雨"),
        )
        .await;
        let school_mode: shared::api::DisasterMode = serde_json::from_value(v).unwrap();
        assert_eq!(roster(&s, &minsei).await.people.len(), 2, "{backend}");
        assert_eq!(
            post(&s, &end(&school_mode.id), &east, &json!(null)).await.0,
            StatusCode::FORBIDDEN
        );
        let r = s
            .http
            .post(format!("{}{}", s.base, end(&school_mode.id)))
            .bearer_auth(&staff.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{backend}: ending needs no body"
        );
        let ended: shared::api::DisasterMode = r.json().await.unwrap();
        assert!(ended.ended_at.is_some());
        assert_eq!(roster(&s, &minsei).await.people.len(), 1);
        assert_eq!(
            post(&s, &end(&school_mode.id), &staff.token, &json!(null))
                .await
                .0,
            StatusCode::CONFLICT
        );
        assert_eq!(s.audits("disaster_end").await, 1);
        // Every roster read is in the log.
        let reads: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'roster_read'")
                .fetch_one(&s.db)
                .await
                .unwrap();
        assert_eq!(reads, 10, "{backend}: ten reads above");
    }
}

async fn audit_page(s: &TestServer, token: &str, query: &str) -> shared::api::AuditPage {
    let (st, v) = get(s, &format!("/api/audit?{query}"), token).await;
    assert_eq!(st, StatusCode::OK, "{query}: {v}");
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_page_through_their_organisation_s_audit_log_and_reading_it_is_audited() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let staff = s.device("staff").await;
        let minsei = s.device("minsei_a").await;
        s.device("minsei_a").await;
        // Another organisation's events stay out of this one's log.
        let other = server::admin::create_org(&s.db, "よその社協")
            .await
            .unwrap();
        let hash = server::auth::hash_password(PASSWORD).unwrap();
        server::admin::create_user(&s.db, &other, "outsider", "よその人", &hash)
            .await
            .unwrap();
        s.device("outsider").await;

        let all = audit_page(&s, &staff.token, "limit=500").await;
        assert!(all.next_before.is_none());
        assert!(
            all.entries.windows(2).all(|w| w[0].id > w[1].id),
            "newest first"
        );
        let outsider: String = sqlx::query_scalar("SELECT id FROM users WHERE login = 'outsider'")
            .fetch_one(&s.db)
            .await
            .unwrap();
        assert!(
            all.entries
                .iter()
                .all(|e| e.user_id.as_deref() != Some(outsider.as_str())),
            "{backend}"
        );
        assert!(
            all.actions.contains(&"login".to_string())
                && all.actions.contains(&"permission_change".to_string())
        );
        assert!(
            all.actions.windows(2).all(|w| w[0] < w[1]),
            "distinct and sorted"
        );

        // Filtered by action and user, with the user's name joined.
        let logins = audit_page(
            &s,
            &staff.token,
            &format!("action=login&user={}", o.users["minsei_a"]),
        )
        .await;
        assert_eq!(logins.entries.len(), 2, "{backend}");
        assert!(logins.entries.iter().all(|e| e.action == "login"
            && e.user_name.as_deref() == Some("minsei_a")
            && e.device_id.is_some()));
        assert!(
            logins
                .entries
                .iter()
                .any(|e| e.device_id.as_deref() == Some(minsei.device_id.as_str()))
        );

        // Paged two at a time with `before`: every entry once, in order.
        let total = audit_page(&s, &staff.token, "action=login")
            .await
            .entries
            .len();
        assert_eq!(total, 3, "{backend}: three log-ins in this organisation");
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let q = match before {
                Some(b) => format!("action=login&limit=2&before={b}"),
                None => "action=login&limit=2".to_string(),
            };
            let p = audit_page(&s, &staff.token, &q).await;
            assert!(p.entries.len() <= 2);
            seen.extend(p.entries.iter().map(|e| e.id));
            match p.next_before {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        let ids: Vec<i64> = audit_page(&s, &staff.token, "action=login")
            .await
            .entries
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(seen, ids, "{backend}");
        // A time window.
        let future = server::db::now_ms() + 3_600_000;
        assert!(
            audit_page(&s, &staff.token, &format!("since={future}"))
                .await
                .entries
                .is_empty()
        );
        assert!(
            !audit_page(&s, &staff.token, &format!("until={future}"))
                .await
                .entries
                .is_empty()
        );
        // Garbage in the query is a JSON 400.
        let (st, v) = get(&s, "/api/audit?limit=lots", &staff.token).await;
        assert_eq!(
            (st, error(&v).error.as_str()),
            (StatusCode::BAD_REQUEST, "bad_request")
        );

        // Not for the 民生委員 (or anyone but the organisation's staff).
        let (st, _) = get(&s, "/api/audit", &minsei.token).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{backend}");
        assert_eq!(s.audits("audit_refused").await, 1);
        // Each page read is itself in the log, with its filters.
        let reads: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit_log WHERE action = 'audit_read' ORDER BY id",
        )
        .fetch_all(&s.db)
        .await
        .unwrap();
        assert!(reads.len() >= 8, "{backend}: {reads:?}");
        assert_eq!(reads[0], "", "the limit is not a filter");
        assert!(reads.contains(&format!("action=login user={}", o.users["minsei_a"])));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_reads_are_recorded_once_and_out_of_scope_reports_are_refused() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let west = server::admin::create_district(&s.db, &o.id, None, "西地区", "地区", None)
            .await
            .unwrap();
        let mut staff = s.device("staff").await;
        person(
            &s,
            &mut staff,
            "p-east",
            &o.school,
            json!({"profile": {"name": "東 の人"}}),
        )
        .await;
        person(
            &s,
            &mut staff,
            "p-west",
            &west,
            json!({"profile": {"name": "西 の人"}}),
        )
        .await;
        let map: String = sqlx::query_scalar("SELECT map_doc FROM districts WHERE id = $1")
            .bind(o.district.clone())
            .fetch_one(&s.db)
            .await
            .unwrap();

        let report = json!({"reads": [
            {"doc": "p-east", "at": 1_700_000_000_000i64},
            {"doc": "p-east", "at": 1_700_000_000_000i64},
            {"doc": "p-east", "at": 1_700_000_600_000i64},
            {"doc": "p-west", "at": 1_700_000_000_000i64},
            {"doc": map, "at": 1_700_000_000_000i64},
        ]});
        let (st, v) = post(&s, "/api/reads", &staff.token, &report).await;
        assert_eq!(
            (st, v["recorded"].as_i64()),
            (StatusCode::OK, Some(3)),
            "{backend}: {v}"
        );
        let rows: Vec<(Option<String>, String, Option<String>)> = sqlx::query_as(
            "SELECT doc_id, detail, user_id FROM audit_log WHERE action = 'person_read' ORDER BY doc_id, detail",
        )
        .fetch_all(&s.db)
        .await
        .unwrap();
        let staff_id = Some(o.users["staff"].clone());
        assert_eq!(
            rows,
            vec![
                (
                    Some("p-east".into()),
                    "opened_at=1700000000000".into(),
                    staff_id.clone()
                ),
                (
                    Some("p-east".into()),
                    "opened_at=1700000600000".into(),
                    staff_id.clone()
                ),
                (
                    Some("p-west".into()),
                    "opened_at=1700000000000".into(),
                    staff_id.clone()
                ),
            ],
            "{backend}: persons only, each read once"
        );
        // Sent again (the answer was lost): nothing twice.
        let (st, v) = post(&s, "/api/reads", &staff.token, &report).await;
        assert_eq!((st, v["recorded"].as_i64()), (StatusCode::OK, Some(0)));
        // The row's time is the server's.
        let at: i64 =
            sqlx::query_scalar("SELECT MIN(at) FROM audit_log WHERE action = 'person_read'")
                .fetch_one(&s.db)
                .await
                .unwrap();
        assert!(at > 1_700_000_600_000);

        // A 民生委員 of the east reporting a western person: refused, nothing recorded.
        let minsei = s.device("minsei_a").await;
        let (st, v) = post(
            &s,
            "/api/reads",
            &minsei.token,
            &json!({"reads": [{"doc": "p-east", "at": 1}, {"doc": "p-west", "at": 1}, {"doc": "nobody", "at": 1}]}),
        )
        .await;
        let e = error(&v);
        assert_eq!(
            (st, e.error.as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{backend}"
        );
        assert_eq!(e.docs, vec!["nobody".to_string(), "p-west".to_string()]);
        assert_eq!(s.audits("person_read").await, 3);
        assert_eq!(s.audits("reads_refused").await, 2);
        // Too many, or garbage.
        let many: Vec<Value> = (0..501)
            .map(|i| json!({"doc": "p-east", "at": i}))
            .collect();
        let (st, v) = post(&s, "/api/reads", &staff.token, &json!({"reads": many})).await;
        assert_eq!(
            (st, error(&v).error.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
        );
        let (st, _) = post(&s, "/api/reads", &staff.token, &json!({"reads": "all"})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let (st, _) = post(
            &s,
            "/api/reads",
            &staff.token,
            &json!({"reads": [{"doc": "../x", "at": 1}]}),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_eq!(s.audits("person_read").await, 3, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_to_change_or_delete_audit_rows() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        org(&s.db).await;
        let rows = s.count("audit_log").await;
        assert!(rows > 0);
        let mut refusals = vec![
            "UPDATE audit_log SET detail = 'rewritten'",
            "UPDATE audit_log SET action = 'nothing' WHERE id = (SELECT MIN(id) FROM audit_log)",
            "DELETE FROM audit_log",
            "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)",
        ];
        if backend == "postgres" {
            refusals.push("TRUNCATE audit_log");
        }
        for sql in refusals {
            let e = sqlx::query(sql)
                .execute(&s.db)
                .await
                .expect_err(&format!("{backend}: {sql} must fail"));
            assert!(e.to_string().contains("append-only"), "{backend}: {e}");
        }
        assert_eq!(s.count("audit_log").await, rows, "{backend}");
        let rewritten: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE detail = 'rewritten' OR action = 'nothing'",
        )
        .fetch_one(&s.db)
        .await
        .unwrap();
        assert_eq!(rewritten, 0);
        // Appending still works.
        server::db::audit(&s.db, None, None, None, "test", None, "")
            .await
            .unwrap();
        assert_eq!(s.count("audit_log").await, rows + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_routes_have_body_limits_origin_checks_and_json_errors() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        org(&s.db).await;
        let staff = s.device("staff").await;
        let writing = [
            "/api/pin",
            "/api/unlock",
            "/api/disaster",
            "/api/disaster/some-id/end",
            "/api/reads",
        ];
        let send = |path: &str, body: Vec<u8>, origin: Option<&str>| {
            let mut r = s
                .http
                .post(format!("{}{path}", s.base))
                .bearer_auth(&staff.token)
                .header("content-type", "application/json")
                .body(body);
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            async move {
                let r = r.send().await.unwrap();
                let st = r.status();
                let v: Value = r.json().await.expect("a JSON answer");
                (st, v["error"].as_str().unwrap_or("ok").to_string())
            }
        };
        for path in writing {
            assert_eq!(
                send(path, b"{}".to_vec(), Some("https://evil.example")).await,
                (StatusCode::FORBIDDEN, "forbidden".to_string()),
                "{backend}: {path}"
            );
            if path.ends_with("/end") {
                // Takes no body: one sent is never read.
                continue;
            }
            // Just over the route's limit: a body much larger than the limit may still be
            // in flight when the server answers 413 and closes, which the client can see
            // as a reset connection instead of the answer.
            let limit = if path == "/api/reads" { 64 } else { 16 };
            let big = vec![b' '; (limit + 1) * 1024];
            assert_eq!(
                send(path, big, None).await,
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large".to_string()),
                "{backend}: {path}"
            );
        }
        assert_eq!(s.audits("foreign_origin").await, writing.len() as i64);
        // 20 KiB: over the 16 KiB of the small routes, under the 64 KiB of read reports.
        let mid = format!("{{\"reads\": [], \"pad\": \"{}\"}}", "x".repeat(20 * 1024));
        assert_eq!(
            send("/api/pin", mid.clone().into_bytes(), None).await.0,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            send("/api/reads", mid.into_bytes(), None).await.0,
            StatusCode::OK
        );
        for path in ["/api/pin", "/api/unlock", "/api/disaster", "/api/reads"] {
            assert_eq!(
                send(path, b"\x00\x9f garbage".to_vec(), None).await,
                (StatusCode::BAD_REQUEST, "bad_request".to_string()),
                "{backend}: {path}"
            );
        }
    }
}
