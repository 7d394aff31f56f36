//! Privacy on the server, on SQLite and PostgreSQL: device keys and the PIN (wrong PINs
//! count down, then the device is revoked and its secret destroyed), the 401 codes
//! `revoked` / `signed_out`, view-only access, disaster mode and the evacuation roster,
//! the audit page, read reports, and an audit log the database keeps append-only.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::api::{DeviceKeys, LoginResponse, PIN_ATTEMPTS};
use shared::sync::{ApiError, Bytes};

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

        // A password change on the desk signs the old phone out: `signed_out`, and its
        // secret is destroyed too (the new sign-in gets a new one).
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
        assert_eq!(row, (None, Some("password".to_string())));
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
