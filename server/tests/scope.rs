//! Scope is checked on every document: a volunteer sees only the people assigned to them,
//! cannot read or write anyone else, learns of assignments on the next sync, and a
//! revoked device is refused. Refusals are audited and store nothing.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::json;
use shared::codes::DocKind;
use shared::crdt;
use shared::sync::{Bytes, DocPush, FallbackMsg, NewDoc, SyncRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_sees_and_writes_only_assigned_people_and_refusals_are_audited() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut minsei = s.device("minsei_a").await;
        minsei.sync().await;
        for p in ["p-assigned", "p-other"] {
            minsei
                .replica
                .create(
                    p,
                    NewDoc {
                        kind: DocKind::Person,
                        district: Some(o.school.clone()),
                        salon: None,
                    },
                )
                .unwrap();
            minsei
                .replica
                .edit(p, |tx| {
                    crdt::write(tx, &["profile"], &json!({"name": format!("name of {p}")}))
                })
                .unwrap();
        }
        minsei.sync().await;
        server::admin::assign(&s.db, &o.users["vol"], "p-assigned")
            .await
            .unwrap();

        let mut vol = s.device("vol").await;
        vol.sync().await;
        let mine: Vec<&String> = vol.replica.ids().collect();
        assert_eq!(
            mine,
            vec!["p-assigned"],
            "{backend}: the volunteer holds exactly the assigned person"
        );

        // The directory lists the same.
        let dir: shared::api::Directory = s
            .http
            .get(format!("{}/api/directory", s.base))
            .bearer_auth(&vol.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            dir.people
                .iter()
                .map(|p| p.doc.as_str())
                .collect::<Vec<_>>(),
            vec!["p-assigned"]
        );
        assert!(dir.docs.iter().all(|d| d.doc == "p-assigned"));

        // Writing to someone else: 403, audited, nothing stored.
        let changes_before = s.count("changes").await;
        let stolen = minsei.replica.get("p-other").unwrap().doc.clone();
        let mut forged = stolen.fork();
        let mut tx = forged.transaction();
        crdt::write(
            &mut tx,
            &["profile"],
            &json!({"note": "written by the wrong person"}),
        )
        .unwrap();
        tx.commit();
        let change = forged.get_last_local_change().unwrap().raw_bytes().to_vec();
        let req = SyncRequest {
            v: 1,
            cursor: None,
            push: vec![
                DocPush {
                    doc: "p-assigned".into(),
                    create: None,
                    changes: vec![],
                },
                DocPush {
                    doc: "p-other".into(),
                    create: None,
                    changes: vec![Bytes(change.clone())],
                },
            ],
            ..Default::default()
        };
        match vol.post(&req).await {
            Answer::Err(st, e) => {
                assert_eq!(st, StatusCode::FORBIDDEN);
                assert_eq!(e.error, "forbidden");
                assert_eq!(e.docs, vec!["p-other".to_string()]);
            }
            Answer::Ok(_) => panic!("{backend}: a write out of scope was accepted"),
        }
        assert_eq!(
            s.count("changes").await,
            changes_before,
            "{backend}: nothing stored"
        );
        assert_eq!(s.audits("sync_refused").await, 1);

        // Pretending to create it does not help either.
        let req = SyncRequest {
            v: 1,
            cursor: None,
            push: vec![DocPush {
                doc: "p-other".into(),
                create: Some(NewDoc {
                    kind: DocKind::Person,
                    district: Some(o.school.clone()),
                    salon: None,
                }),
                changes: vec![Bytes(change)],
            }],
            ..Default::default()
        };
        assert!(matches!(
            vol.post(&req).await,
            Answer::Err(StatusCode::FORBIDDEN, _)
        ));

        // Reading through the sync protocol: 403 too.
        let mut state = automerge::sync::State::new();
        use automerge::sync::SyncDoc;
        let msg = automerge::Automerge::new()
            .generate_sync_message(&mut state)
            .unwrap();
        let req = SyncRequest {
            v: 1,
            cursor: None,
            fallback: vec![FallbackMsg {
                doc: "p-other".into(),
                msg: Bytes(msg.encode()),
            }],
            ..Default::default()
        };
        assert!(matches!(
            vol.post(&req).await,
            Answer::Err(StatusCode::FORBIDDEN, _)
        ));
        assert_eq!(s.audits("sync_refused").await, 3);
        assert_eq!(s.count("changes").await, changes_before);

        // The other person's contents never reached the volunteer.
        assert!(vol.replica.get("p-other").is_none());

        // Assignment changes reach the device on its next sync: one leaves, one arrives whole.
        server::admin::unassign(&s.db, &o.users["vol"], "p-assigned")
            .await
            .unwrap();
        server::admin::assign(&s.db, &o.users["vol"], "p-other")
            .await
            .unwrap();
        vol.sync().await;
        assert_eq!(
            vol.replica.ids().collect::<Vec<_>>(),
            vec!["p-other"],
            "{backend}"
        );
        let (p, _) =
            shared::doc::read::<shared::model::Person, _>(&vol.replica.get("p-other").unwrap().doc)
                .unwrap();
        assert_eq!(p.profile.name, "name of p-other");

        // A 民生委員 of another district cannot create people in this one.
        let other = server::admin::create_district(&s.db, &o.id, None, "西地区", "地区", None)
            .await
            .unwrap();
        let west = server::admin::create_user(
            &s.db,
            &o.id,
            "minsei_w",
            "w",
            &server::auth::hash_password(PASSWORD).unwrap(),
        )
        .await
        .unwrap();
        server::admin::grant(
            &s.db,
            &west,
            &shared::codes::Role::Minsei,
            Some(&other),
            None,
        )
        .await
        .unwrap();
        let mut w = s.device("minsei_w").await;
        w.sync().await;
        w.replica
            .create(
                "p-west",
                NewDoc {
                    kind: DocKind::Person,
                    district: Some(o.school.clone()),
                    salon: None,
                },
            )
            .unwrap();
        let req = w.replica.request("test");
        assert!(
            matches!(w.post(&req).await, Answer::Err(StatusCode::FORBIDDEN, _)),
            "{backend}"
        );
        assert!(
            w.replica.ids().all(|d| d != "p-assigned" && d != "p-other"),
            "{backend}: another district's people stay out"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_gets_401_and_the_refusal_is_audited() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut phone = s.device("minsei_a").await;
        let mut desk = s.device("minsei_a").await;
        phone.sync().await;
        desk.sync().await;

        // No token, or a made-up one: 401 with a JSON error.
        let r = s
            .http
            .post(format!("{}/api/sync", s.base))
            .json(&SyncRequest {
                v: 1,
                ..Default::default()
            })
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.json::<shared::sync::ApiError>().await.unwrap().error,
            "unauthorized"
        );
        let r = s
            .http
            .get(format!("{}/api/directory", s.base))
            .bearer_auth("mm1_madeup")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        assert!(
            server::admin::revoke_device(
                &s.db,
                &phone.device_id,
                server::auth::RevokedReason::Revoked,
                "admin"
            )
            .await
            .unwrap()
        );
        let req = phone.replica.request("test");
        match phone.post(&req).await {
            // Revoked by the office: the phone must wipe what it holds.
            Answer::Err(st, e) => assert_eq!(
                (st, e.error.as_str()),
                (StatusCode::UNAUTHORIZED, "revoked")
            ),
            Answer::Ok(_) => panic!("{backend}: a revoked device synced"),
        }
        assert_eq!(s.audits("device_revoked").await, 1);
        assert_eq!(s.audits("revoked_device_refused").await, 1);
        // The user's other device is unaffected.
        desk.sync().await;

        // Signing out from the device itself works the same way.
        let r = s
            .http
            .post(format!("{}/api/logout", s.base))
            .bearer_auth(&desk.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let req = desk.replica.request("test");
        match desk.post(&req).await {
            Answer::Err(st, e) => assert_eq!(
                (st, e.error.as_str()),
                (StatusCode::UNAUTHORIZED, "signed_out")
            ),
            Answer::Ok(_) => panic!("{backend}: a logged-out device synced"),
        }

        // Disabling the user refuses every device of theirs.
        let mut third = s.device("minsei_b").await;
        third.sync().await;
        server::admin::disable_user(&s.db, &o.users["minsei_b"])
            .await
            .unwrap();
        let req = third.replica.request("test");
        match third.post(&req).await {
            Answer::Err(st, e) => assert_eq!(
                (st, e.error.as_str()),
                (StatusCode::UNAUTHORIZED, "revoked"),
                "{backend}"
            ),
            Answer::Ok(_) => panic!("{backend}: a disabled user's device synced"),
        }

        // A wrong password: 401, audited.
        let r = s
            .http
            .post(format!("{}/api/login", s.base))
            .json(&json!({"login": "minsei_a", "password": "wrong"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(s.audits("login_failed").await, 1);
    }
}

/// A sync asks the scope only about the documents it pushes or that changed
/// (`scope::scope_within`, so that its cost follows what changed, not a district's size).
/// For every role, that answer must be exactly the whole scope's, document by document;
/// and a 民生委員 catching up gets the changes of their district and nothing of another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scope_asked_per_document_agrees_with_the_whole_scope() {
    use server::{admin, auth, scope};
    use shared::codes::Role;
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        // A second 地区 with a person of its own, made by org-wide staff.
        let west = admin::create_district(&s.db, &o.id, None, "西地区", "地区", None)
            .await
            .unwrap();
        let mut staff = s.device("staff").await;
        staff.sync().await;
        for (p, district) in [
            ("p-east-1", &o.school),
            ("p-east-2", &o.other_school),
            ("p-west", &west),
        ] {
            staff
                .replica
                .create(
                    p,
                    NewDoc {
                        kind: DocKind::Person,
                        district: Some(district.clone()),
                        salon: None,
                    },
                )
                .unwrap();
        }
        staff.sync().await;
        admin::assign(&s.db, &o.users["vol"], "p-east-2")
            .await
            .unwrap();
        // A view-only grant beside an editing one, and a volunteer's view-only assignment.
        let hash = auth::hash_password(PASSWORD).unwrap();
        let viewer = admin::create_user(&s.db, &o.id, "viewer", "viewer", &hash)
            .await
            .unwrap();
        admin::set_grant(&s.db, &viewer, &Role::Minsei, Some(&west), None, false)
            .await
            .unwrap();
        admin::grant(&s.db, &viewer, &Role::SalonLeader, None, Some(&o.salon))
            .await
            .unwrap();

        let mut conn = s.db.acquire().await.unwrap();
        let mut all: Vec<String> = sqlx::query_scalar("SELECT id FROM documents")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        all.push("no-such-document".into());
        let users: Vec<String> = o.users.values().cloned().chain([viewer.clone()]).collect();
        for user in &users {
            let grants = auth::grants(&mut *conn, user).await.unwrap();
            let whole = scope::scope(&mut conn, &o.id, user, &grants).await.unwrap();
            let within = scope::scope_within(&mut conn, &o.id, user, &grants, &all)
                .await
                .unwrap();
            assert_eq!(within, whole, "{backend}: {user}, every document asked");
            for id in &all {
                let one =
                    scope::scope_within(&mut conn, &o.id, user, &grants, std::slice::from_ref(id))
                        .await
                        .unwrap();
                assert_eq!(
                    one.get(id),
                    whole.get(id),
                    "{backend}: {user}, document {id} asked alone"
                );
            }
            let none = scope::scope_within(&mut conn, &o.id, user, &grants, &[])
                .await
                .unwrap();
            assert!(none.is_empty(), "{backend}: asking about nothing");
        }
        drop(conn);

        // A 民生委員 of 東地区 catches up: the change in 東 arrives, the one in 西 does not.
        let mut minsei = s.device("minsei_a").await;
        minsei.sync().await;
        assert!(minsei.replica.get("p-west").is_none());
        for p in ["p-east-1", "p-west"] {
            staff
                .replica
                .edit(p, |tx| {
                    crdt::write(tx, &["profile"], &json!({"name": format!("name of {p}")}))
                })
                .unwrap();
        }
        staff.sync().await;
        let req = minsei.replica.request("test");
        let Answer::Ok(answer) = minsei.post(&req).await else {
            panic!("{backend}: the catch-up failed");
        };
        let docs: Vec<&str> = answer.docs.iter().map(|d| d.doc.as_str()).collect();
        assert_eq!(
            docs,
            vec!["p-east-1"],
            "{backend}: only the district's change"
        );
    }
}
