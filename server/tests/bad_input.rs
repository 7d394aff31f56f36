//! Garbage, truncated and oversized bodies get 400/413 with a JSON error; the server goes
//! on serving and the database is unchanged.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::json;
use shared::sync::ApiError;

async fn expect(
    s: &TestServer,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
    status: StatusCode,
    code: &str,
) {
    let mut r = s
        .http
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), status, "{path}");
    let e: ApiError = r.json().await.expect("a JSON error body");
    assert_eq!(e.error, code);
    assert!(!e.message.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_json_errors_and_change_nothing() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut d = s.device("minsei_a").await;
        d.sync().await;
        d.replica
            .create(
                "p1",
                shared::sync::NewDoc {
                    kind: shared::codes::DocKind::Person,
                    district: Some(o.school.clone()),
                    salon: None,
                },
            )
            .unwrap();
        d.sync().await;
        let tables = ["changes", "documents", "devices", "scope_events", "users"];
        let mut before = Vec::new();
        for t in tables {
            before.push(s.count(t).await);
        }
        let t = Some(d.token.as_str());
        let bad = StatusCode::BAD_REQUEST;

        expect(
            &s,
            "/api/sync",
            t,
            vec![0, 159, 146, 150, 255, 1, 2],
            bad,
            "bad_request",
        )
        .await;
        expect(
            &s,
            "/api/sync",
            t,
            br#"{"v":1,"cursor":null,"push":[{"doc":"p1","chan"#.to_vec(),
            bad,
            "bad_request",
        )
        .await;
        expect(
            &s,
            "/api/sync",
            t,
            br#"{"v":1,"push":"everything"}"#.to_vec(),
            bad,
            "bad_request",
        )
        .await;
        expect(
            &s,
            "/api/sync",
            t,
            br#"{"v":99,"cursor":null}"#.to_vec(),
            bad,
            "bad_request",
        )
        .await;
        let b64 = json!({"v":1,"cursor":null,"push":[{"doc":"p1","changes":["!!not base64!!"]}]});
        expect(
            &s,
            "/api/sync",
            t,
            b64.to_string().into_bytes(),
            bad,
            "bad_request",
        )
        .await;
        let not_a_change =
            json!({"v":1,"cursor":null,"push":[{"doc":"p1","changes":["AAECAwQFBgcICQ=="]}]});
        expect(
            &s,
            "/api/sync",
            t,
            not_a_change.to_string().into_bytes(),
            bad,
            "bad_request",
        )
        .await;
        // A real change cut short.
        let real = d.replica.get("p1").unwrap().doc.get_changes(&[])[0]
            .raw_bytes()
            .to_vec();
        let cut = json!({"v":1,"cursor":null,"push":[{"doc":"p1","changes":[base64(&real[..real.len() / 2])]}]});
        expect(
            &s,
            "/api/sync",
            t,
            cut.to_string().into_bytes(),
            bad,
            "bad_request",
        )
        .await;
        let bad_msg = json!({"v":1,"cursor":null,"fallback":[{"doc":"p1","msg":"AAEC"}]});
        expect(
            &s,
            "/api/sync",
            t,
            bad_msg.to_string().into_bytes(),
            bad,
            "bad_request",
        )
        .await;
        let bad_id = json!({"v":1,"cursor":null,"push":[{"doc":"../../etc/passwd","changes":[]}]});
        expect(
            &s,
            "/api/sync",
            t,
            bad_id.to_string().into_bytes(),
            bad,
            "bad_request",
        )
        .await;
        // A garbage cursor is not an error: the device is told to reconcile.
        let r = d
            .post(&shared::sync::SyncRequest {
                v: 1,
                cursor: Some("garbage".into()),
                ..Default::default()
            })
            .await;
        assert!(
            matches!(r, Answer::Ok(ref a) if a.resync.is_some()),
            "{backend}: garbage cursor → resync"
        );

        // Over the limit: 413, whether the body is one huge string or many changes.
        let huge = format!(
            r#"{{"v":1,"cursor":null,"app":"{}"}}"#,
            "x".repeat(shared::sync::MAX_REQUEST_BYTES + 10)
        );
        expect(
            &s,
            "/api/sync",
            t,
            huge.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        )
        .await;
        let big_login = json!({"login": "x".repeat(40_000), "password": "y"});
        expect(
            &s,
            "/api/login",
            None,
            big_login.to_string().into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        )
        .await;
        expect(
            &s,
            "/api/login",
            None,
            b"\xff\xfe".to_vec(),
            bad,
            "bad_request",
        )
        .await;
        // Without a token the body is not even read.
        expect(
            &s,
            "/api/sync",
            None,
            b"garbage".to_vec(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        // Unknown API routes answer JSON too.
        let r = s
            .http
            .get(format!("{}/api/nothing-here", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.json::<ApiError>().await.unwrap().error, "not_found");

        // Still serving, nothing changed.
        assert_eq!(
            s.http
                .get(format!("{}/healthz", s.base))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        let mut after = Vec::new();
        for t in tables {
            after.push(s.count(t).await);
        }
        assert_eq!(before, after, "{backend}: the database is unchanged");
        d.replica
            .edit("p1", |tx| {
                shared::crdt::write(tx, &["profile"], &json!({"name": "まだ使える"}))
            })
            .unwrap();
        d.sync().await;
        assert_eq!(s.count("changes").await, before[0] + 1);
    }
}

fn base64(b: &[u8]) -> String {
    serde_json::to_value(shared::sync::Bytes(b.to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}
