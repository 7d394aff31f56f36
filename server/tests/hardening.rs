//! Sign-in throttling and the Origin check, on SQLite and PostgreSQL: 1,000 wrong
//! passwords are refused and audited without costing the server 1,000 Argon2 checks, the
//! same user from elsewhere and other users keep working, and a browser on another site
//! cannot call the API. Bursts, spraying and the connection limits: attack.rs.

mod common;

use common::{PASSWORD, backends, org, temp_db};
use reqwest::StatusCode;
use server::{AppState, auth, db};
use shared::api::LoginRequest;
use shared::sync::ApiError;

/// A server that trusts `X-Forwarded-For` (as behind a reverse proxy), so the test can
/// speak from several addresses.
async fn serve(url: &str) -> (String, db::Db) {
    let pool = db::open(url, 8).await.unwrap();
    let mut st = AppState::new(pool.clone()).await.unwrap();
    st.trust_proxy = true;
    (common::serve_state(st).await, pool)
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    login: &str,
    password: &str,
    ip: &str,
) -> (StatusCode, String) {
    let r = http
        .post(format!("{base}/api/login"))
        .header("x-forwarded-for", ip)
        .json(&LoginRequest {
            login: login.into(),
            password: password.into(),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    (status, body)
}

async fn audits(db: &db::Db, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action.to_string())
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_wrong_passwords_are_refused_and_audited_and_others_keep_working() {
    for backend in backends() {
        let tmp = temp_db(backend).await;
        let (base, pool) = serve(&tmp.url).await;
        org(&pool).await;
        let http = reqwest::Client::new();
        let attacker = "203.0.113.7";

        let started = std::time::Instant::now();
        let mut codes = std::collections::BTreeMap::new();
        for i in 0..1000 {
            let (status, body) =
                login(&http, &base, "minsei_a", &format!("guess{i}"), attacker).await;
            let e: ApiError = serde_json::from_str(&body).expect("a JSON error");
            *codes.entry((status.as_u16(), e.error)).or_insert(0) += 1;
        }
        let limit = auth::MAX_FAILURES_PER_LOGIN_AND_IP as i32;
        assert_eq!(
            codes.into_iter().collect::<Vec<_>>(),
            vec![
                ((401, "unauthorized".to_string()), limit),
                ((429, "throttled".to_string()), 1000 - limit)
            ],
            "{backend}"
        );
        // Every attempt is in the audit log; no password or guess is.
        assert_eq!(
            audits(&pool, "login_failed").await,
            i64::from(limit),
            "{backend}"
        );
        // The refusals are counted, but written as audit rows only up to the quota per
        // address and minute (the rest become one summary row, `server admin
        // audit-refusals`): 990 refusals cannot flood the log.
        let throttled = audits(&pool, "login_throttled").await;
        assert!(
            (1..=2 * db::REFUSALS_AUDITED_PER_MINUTE).contains(&throttled),
            "{backend}: {throttled} rows"
        );
        let counted: i64 = sqlx::query_scalar(
            "SELECT CAST(SUM(count) AS BIGINT) FROM audit_quota WHERE action = 'login_throttled'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(counted, i64::from(1000 - limit), "{backend}");
        let leaked: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%guess%'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(leaked, 0);
        // Refusals are cheap: 990 of them did not run Argon2 (each check takes tens of ms).
        println!("{backend}: 1,000 attempts in {:?}", started.elapsed());

        // Even the right password is refused from the guessing address for a while …
        let (status, _) = login(&http, &base, "minsei_a", PASSWORD, attacker).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{backend}");
        // … but the user at their own address, and other users at the attacker's, sign in.
        let (status, _) = login(&http, &base, "minsei_a", PASSWORD, "198.51.100.20").await;
        assert_eq!(status, StatusCode::OK, "{backend}");
        let (status, _) = login(&http, &base, "minsei_b", PASSWORD, attacker).await;
        assert_eq!(status, StatusCode::OK, "{backend}");

        // Guessing spread over many addresses stops at the per-login backstop …
        let (status, _) = login(&http, &base, "vol", PASSWORD, "198.51.100.99").await;
        assert_eq!(status, StatusCode::OK, "{backend}");
        let mut refused = 0;
        for i in 0..(auth::MAX_FAILURES_PER_LOGIN + 20) {
            let (status, _) = login(
                &http,
                &base,
                "vol",
                "wrong",
                &format!("192.0.2.{}", i % 200),
            )
            .await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                refused += 1;
            }
        }
        assert_eq!(refused, 20, "{backend}");
        // … which holds back new addresses only: the owner signs in where they did before.
        let (status, _) = login(&http, &base, "vol", "wrong", "192.0.2.250").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{backend}");
        let (status, _) = login(&http, &base, "vol", PASSWORD, "198.51.100.99").await;
        assert_eq!(status, StatusCode::OK, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_on_another_site_cannot_call_the_api() {
    for backend in backends() {
        let tmp = temp_db(backend).await;
        let (base, pool) = serve(&tmp.url).await;
        org(&pool).await;
        let http = reqwest::Client::new();
        let body = serde_json::json!({"login": "vol", "password": PASSWORD});
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
            .fetch_one(&pool)
            .await
            .unwrap();

        let r = http
            .post(format!("{base}/api/login"))
            .header("origin", "https://evil.example")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{backend}");
        assert_eq!(r.json::<ApiError>().await.unwrap().error, "forbidden");
        let r = http
            .post(format!("{base}/api/sync"))
            .header("origin", "null")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{backend}");
        assert_eq!(audits(&pool, "foreign_origin").await, 2, "{backend}");
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(after, before, "nothing was signed in");

        // The app's own origin, and programs that send none, are served.
        let r = http
            .post(format!("{base}/api/login"))
            .header("origin", base.clone())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{backend}");
        let r = http
            .post(format!("{base}/api/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_other_sessions_and_keeps_this_one() {
    use common::TestServer;
    use shared::api::{PasswordChange, PasswordChanged};
    for backend in backends() {
        let s = TestServer::start(backend).await;
        org(&s.db).await;
        let phone = s.device("vol").await;
        let desk = s.device("vol").await;
        let change = |token: String, current: &str, new: &str| {
            let body = PasswordChange {
                current: current.into(),
                new: new.into(),
            };
            let req = s
                .http
                .post(format!("{}/api/password", s.base))
                .bearer_auth(token)
                .json(&body);
            async move { req.send().await.unwrap() }
        };
        let directory = |token: String| {
            let req = s
                .http
                .get(format!("{}/api/directory", s.base))
                .bearer_auth(token);
            async move { req.send().await.unwrap().status() }
        };

        // A wrong current password, or a new one too short: refused, nothing changes.
        let r = change(phone.token.clone(), "not it", "a much better password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{backend}");
        assert_eq!(s.audits("password_change_failed").await, 1);
        let r = change(phone.token.clone(), PASSWORD, "short").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(r.json::<ApiError>().await.unwrap().error, "bad_request");
        assert_eq!(directory(desk.token.clone()).await, StatusCode::OK);

        // Changed from the phone: the desk is signed out, the phone is not.
        let r = change(phone.token.clone(), PASSWORD, "a much better password").await;
        assert_eq!(r.status(), StatusCode::OK, "{backend}");
        assert_eq!(r.json::<PasswordChanged>().await.unwrap().ended_sessions, 1);
        assert_eq!(
            directory(desk.token.clone()).await,
            StatusCode::UNAUTHORIZED,
            "{backend}"
        );
        assert_eq!(
            directory(phone.token.clone()).await,
            StatusCode::OK,
            "{backend}"
        );
        assert_eq!(s.audits("password_changed").await, 1);

        // The old password no longer signs in; the new one does.
        let old = s
            .http
            .post(format!("{}/api/login", s.base))
            .json(&LoginRequest {
                login: "vol".into(),
                password: PASSWORD.into(),
                ..Default::default()
            })
            .send()
            .await
            .unwrap();
        assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "{backend}");
        s.device_with("vol", "a much better password").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_staff_see_and_sign_out_devices_and_nobody_else_can() {
    use common::TestServer;
    use shared::api::DeviceInfo;
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let phone = s.device("vol").await;
        let desk = s.device("vol").await;
        let other = s.device("minsei_a").await;
        let staff = s.device("staff").await;
        let get = |token: &str, path: String| {
            let req = s
                .http
                .get(format!("{}{path}", s.base))
                .bearer_auth(token.to_string());
            async move { req.send().await.unwrap() }
        };
        let revoke = |token: &str, device: &str| {
            let req = s
                .http
                .post(format!("{}/api/devices/{device}/revoke", s.base))
                .bearer_auth(token.to_string());
            async move { req.send().await.unwrap().status() }
        };

        // The volunteer sees both of their devices, this one marked.
        let list: Vec<DeviceInfo> = get(&phone.token, "/api/devices".into())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list.len(), 2, "{backend}");
        assert_eq!(list.iter().filter(|d| d.this_device).count(), 1);
        assert!(
            list.iter()
                .any(|d| d.id == desk.device_id && !d.this_device && !d.revoked)
        );

        // Nobody may touch another user's devices …
        assert_eq!(
            revoke(&phone.token, &other.device_id).await,
            StatusCode::FORBIDDEN,
            "{backend}"
        );
        let r = get(
            &phone.token,
            format!("/api/users/{}/devices", o.users["minsei_a"]),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{backend}");
        assert_eq!(s.audits("device_revoke_refused").await, 1);
        assert_eq!(s.audits("devices_listing_refused").await, 1);
        assert_eq!(
            get(&other.token, "/api/devices".into()).await.status(),
            StatusCode::OK
        );

        // … but their own, yes: the desk is signed out.
        assert_eq!(
            revoke(&phone.token, &desk.device_id).await,
            StatusCode::OK,
            "{backend}"
        );
        assert_eq!(
            get(&desk.token, "/api/devices".into()).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            get(&phone.token, "/api/devices".into()).await.status(),
            StatusCode::OK
        );

        // Staff of the organisation see the volunteer's devices and sign the phone out.
        let list: Vec<DeviceInfo> = get(
            &staff.token,
            format!("/api/users/{}/devices", o.users["vol"]),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(list.iter().filter(|d| d.revoked).count(), 1, "{backend}");
        assert_eq!(revoke(&staff.token, &phone.device_id).await, StatusCode::OK);
        assert_eq!(
            get(&phone.token, "/api/devices".into()).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            revoke(&staff.token, "no-such-device").await,
            StatusCode::NOT_FOUND
        );
        assert!(s.audits("device_revoked").await >= 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_carry_the_security_headers() {
    let s = common::TestServer::start("sqlite").await;
    org(&s.db).await;
    for r in [
        s.http
            .get(format!("{}/api/directory", s.base))
            .send()
            .await
            .unwrap(),
        s.http
            .post(format!("{}/api/sync", s.base))
            .body("garbage")
            .send()
            .await
            .unwrap(),
        s.http
            .get(format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap(),
    ] {
        let h = r.headers();
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
    }
}
