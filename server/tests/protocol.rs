//! Protocol gaps an outside review found (issue "The server holds under attack and bad
//! data", part "Protocol gaps"), on SQLite and PostgreSQL: a push whose predecessors the
//! server lacks is refused (409 `missing_deps`) and the reference client recovers from it;
//! a document created through sync moves the directory version; a paged first sync never
//! ends with an empty page; an oversized or anonymous body gets its answer over real TCP
//! instead of a reset connection.

mod common;

use automerge::{Change, ChangeHash, ReadDoc};
use common::*;
use reqwest::StatusCode;
use serde_json::json;
use shared::crdt;
use shared::sync::{Bytes, DocPush, MissingDeps, SyncRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Two more changes on `doc` (a visit, then its note rewritten): the second depends on
/// the first. Both join the device's outbox; returns their hashes.
fn two_changes(d: &mut Device, doc: &str) -> (ChangeHash, ChangeHash) {
    let mut hashes = Vec::new();
    for note in ["一回目", "二回目"] {
        d.replica
            .edit(doc, |tx| {
                crdt::write(
                    tx,
                    &["visits", "v1"],
                    &json!({"date": "2026-11-20", "kind": "visit", "outcome": "met", "note": note}),
                )
            })
            .unwrap();
        hashes.push(*d.replica.get(doc).unwrap().outbox.last().unwrap());
    }
    (hashes[0], hashes[1])
}

fn change_bytes(d: &Device, doc: &str, h: &ChangeHash) -> Bytes {
    let c: Change = d
        .replica
        .get(doc)
        .unwrap()
        .doc
        .get_change_by_hash(h)
        .expect("the device holds the change")
        .clone();
    Bytes(c.raw_bytes().to_vec())
}

async fn stored(s: &TestServer, doc: &str, h: &ChangeHash) -> bool {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM changes WHERE doc_id = $1 AND hash = $2")
        .bind(doc.to_string())
        .bind(h.to_string())
        .fetch_one(&s.db)
        .await
        .unwrap();
    n == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_predecessor_the_server_lacks_is_refused_whole() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut a = s.device("minsei_a").await;
        a.create_person("p1", &o.school);
        a.create_person("p2", &o.school);
        a.sync().await;
        let (first, second) = two_changes(&mut a, "p1");
        let (fine, _) = two_changes(&mut a, "p2");
        let changes = s.count("changes").await;
        let seq = server::store::current_seq(&s.db, &o.id).await.unwrap();

        // Only the second change of p1 (its predecessor never sent), and a change of p2
        // that would apply: the whole request is refused, nothing stored.
        let req = SyncRequest {
            v: 1,
            cursor: a.replica.cursor.clone(),
            app: "test".into(),
            push: vec![
                DocPush {
                    doc: "p1".into(),
                    create: None,
                    changes: vec![change_bytes(&a, "p1", &second)],
                },
                DocPush {
                    doc: "p2".into(),
                    create: None,
                    changes: vec![change_bytes(&a, "p2", &fine)],
                },
            ],
            fallback: vec![],
        };
        match a.post(&req).await {
            Answer::Err(st, e) => {
                assert_eq!(
                    (st, e.error.as_str()),
                    (StatusCode::CONFLICT, "missing_deps"),
                    "{backend}: {e:?}"
                );
                assert_eq!(e.docs, vec!["p1".to_string()], "{backend}");
                assert_eq!(
                    e.missing,
                    vec![MissingDeps {
                        doc: "p1".into(),
                        hashes: vec![first.to_string()],
                    }],
                    "{backend}"
                );
                assert!(!e.message.is_empty());
            }
            Answer::Ok(_) => panic!("{backend}: a change without its predecessor was taken"),
        }
        assert_eq!(
            s.count("changes").await,
            changes,
            "{backend}: nothing stored"
        );
        assert!(!stored(&s, "p1", &second).await && !stored(&s, "p2", &fine).await);
        assert_eq!(
            server::store::current_seq(&s.db, &o.id).await.unwrap(),
            seq,
            "{backend}: no sequence number spent"
        );
        assert_eq!(s.audits("sync_missing_deps").await, 1, "{backend}");

        // Sent again with its predecessor, it is taken.
        let mut req = req;
        req.push[0]
            .changes
            .insert(0, change_bytes(&a, "p1", &first));
        assert!(matches!(a.post(&req).await, Answer::Ok(_)), "{backend}");
        assert!(stored(&s, "p1", &first).await && stored(&s, "p1", &second).await);
        assert!(stored(&s, "p2", &fine).await, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_refused_for_missing_predecessors_reconciles_and_loses_nothing() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut a = s.device("minsei_a").await;
        a.create_person("p1", &o.school);
        a.sync().await;
        let (first, second) = two_changes(&mut a, "p1");
        // The first change is no longer in the outbox (as if acknowledged by a server that
        // then lost it): the device pushes the second alone and is refused.
        a.replica
            .get_mut("p1")
            .unwrap()
            .outbox
            .retain(|h| *h != first);
        a.sync().await;
        assert_eq!(
            s.audits("sync_missing_deps").await,
            1,
            "{backend}: refused once"
        );
        assert_eq!(
            a.replica.pending(),
            0,
            "{backend}: the outbox is acknowledged"
        );
        assert!(!a.replica.get("p1").unwrap().in_fallback());
        assert!(
            stored(&s, "p1", &first).await && stored(&s, "p1", &second).await,
            "{backend}: the fallback brought both changes"
        );

        // Another device of the district reads both.
        let mut b = s.device("minsei_b").await;
        b.sync().await;
        let doc = &b.replica.get("p1").expect("b holds p1").doc;
        assert!(doc.get_change_by_hash(&first).is_some(), "{backend}");
        assert!(doc.get_change_by_hash(&second).is_some(), "{backend}");
        assert!(doc.get_missing_deps(&[]).is_empty());
        assert_eq!(b.heads_of("p1"), a.heads_of("p1"), "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_created_through_sync_moves_the_directory_version() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut a = s.device("minsei_a").await;
        let req = a.replica.request("test");
        let Answer::Ok(resp) = a.post(&req).await else {
            panic!("{backend}: first sync refused")
        };
        let before = resp.directory;
        a.replica.apply(&req, resp).unwrap();

        a.create_person("p1", &o.school);
        let req = a.replica.request("test");
        let Answer::Ok(resp) = a.post(&req).await else {
            panic!("{backend}: the create was refused")
        };
        assert!(
            resp.directory > before,
            "{backend}: directory {} after the create, {before} before",
            resp.directory
        );
        let dir: shared::api::Directory = s
            .http
            .get(format!("{}/api/directory", s.base))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(dir.version, resp.directory, "{backend}");
        assert!(dir.people.iter().any(|p| p.doc == "p1"), "{backend}");
    }
}

/// Text that does not compress (so that its size is what the answer carries).
fn noise(seed: u64, len: usize) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ABC[(x >> 33) as usize % ABC.len()] as char
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_first_sync_never_ends_with_an_empty_page() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut a = s.device("minsei_a").await;
        a.sync().await;
        // Eight people of about 300 KB each, last in id order: the page budget (1 MiB) is
        // crossed by the fourth (a second page follows) and by the eighth, the last
        // document in scope.
        for n in 1..=8u64 {
            let id = format!("zz-{n}");
            a.create_person(&id, &o.school);
            a.replica
                .edit(&id, |tx| {
                    for v in 0..150u64 {
                        crdt::write(
                            tx,
                            &["visits", &format!("v{v}")],
                            &json!({"date": "2026-11-20", "kind": "visit", "outcome": "met",
                                    "note": noise(n * 1000 + v, 2000)}),
                        )?;
                    }
                    Ok(())
                })
                .unwrap();
            a.sync().await;
        }

        let mut b = s.device("minsei_b").await;
        let mut pages: Vec<(usize, bool)> = Vec::new();
        loop {
            let req = b.replica.request("test");
            let Answer::Ok(resp) = b.post(&req).await else {
                panic!("{backend}: first sync refused")
            };
            pages.push((resp.docs.len(), resp.more));
            let more = resp.more;
            b.replica.apply(&req, resp).unwrap();
            if !more {
                break;
            }
            assert!(pages.len() < 20, "{backend}: too many pages");
        }
        assert!(
            pages.len() >= 2,
            "{backend}: the budget was crossed: {pages:?}"
        );
        for w in pages.windows(2) {
            assert!(
                !(w[0].1 && w[1].0 == 0),
                "{backend}: a page said more and the next was empty: {pages:?}"
            );
        }
        for n in 1..=8 {
            assert_eq!(
                b.heads_of(&format!("zz-{n}")),
                a.heads_of(&format!("zz-{n}")),
                "{backend}"
            );
        }
    }
}

/// One request over a fresh TCP connection: the head, then `body` (with a
/// `Content-Length`, or chunked), then the whole answer. `Err` when the connection is
/// reset or closed before an answer arrives.
async fn raw_post(
    base: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    chunked: bool,
) -> Result<(u16, String), String> {
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nConnection: close\r\n"
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    }
    let send = async {
        tcp.write_all(head.as_bytes()).await?;
        if chunked {
            for part in body.chunks(64 * 1024) {
                tcp.write_all(format!("{:x}\r\n", part.len()).as_bytes())
                    .await?;
                tcp.write_all(part).await?;
                tcp.write_all(b"\r\n").await?;
            }
            tcp.write_all(b"0\r\n\r\n").await?;
        } else {
            tcp.write_all(body).await?;
        }
        tcp.flush().await
    };
    send.await.map_err(|e| format!("sending: {e}"))?;
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer)
        .await
        .map_err(|e| format!("reading: {e}"))?;
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {:?}", &text[..text.len().min(200)]))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_or_anonymous_body_gets_its_answer_not_a_reset() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        org(&s.db).await;
        let d = s.device("minsei_a").await;
        let big = format!(
            r#"{{"v":1,"cursor":null,"app":"{}"}}"#,
            "x".repeat(5 * 1024 * 1024)
        );
        let cases = [
            (Some(d.token.as_str()), false, 413, "too_large"),
            (Some(d.token.as_str()), true, 413, "too_large"),
            (None, false, 401, "unauthorized"),
        ];
        for (token, chunked, status, code) in cases {
            for i in 0..20 {
                let what = format!(
                    "{backend}: token {}, chunked {chunked}, try {i}",
                    token.is_some()
                );
                let (st, body) = raw_post(&s.base, "/api/sync", token, big.as_bytes(), chunked)
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(st, status, "{what}");
                let e: shared::sync::ApiError = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("{what}: a JSON error ({e}): {body:?}"));
                assert_eq!(e.error, code, "{what}");
            }
        }
        // The server goes on serving.
        let mut d = d;
        d.sync().await;
    }
}
