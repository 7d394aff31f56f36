//! `server demo` loads the documented fictional 社協, and its log-ins see what their role
//! allows.

mod common;
use common::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_loads_and_each_role_sees_its_own() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let today = shared::Date::new(2026, 11, 24).unwrap();
        server::demo::load(&s.db, today).await.unwrap();
        assert!(!server::demo::is_empty(&s.db).await.unwrap());
        let persons: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE kind = 'person'")
                .fetch_one(&s.db)
                .await
                .unwrap();
        assert_eq!(persons, 300);
        let vols: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE role = 'volunteer'")
                .fetch_one(&s.db)
                .await
                .unwrap();
        assert_eq!(vols, 40);
        assert_eq!(s.count("salons").await, 6);
        // Projections were rebuilt from the documents: twelve months of visits and sessions.
        let months: i64 =
            sqlx::query_scalar("SELECT COUNT(DISTINCT substr(date, 1, 7)) FROM proj_visits")
                .fetch_one(&s.db)
                .await
                .unwrap();
        assert!(
            months >= 12,
            "{backend}: visits span twelve months ({months})"
        );
        let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM proj_sessions")
            .fetch_one(&s.db)
            .await
            .unwrap();
        assert!(sessions >= 6 * 11, "{backend}: sessions {sessions}");
        let present: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM proj_attendance WHERE mark = 'present'")
                .fetch_one(&s.db)
                .await
                .unwrap();
        assert!(present > 0);

        let login = |l: &str| {
            let (http, base) = (s.http.clone(), s.base.clone());
            let body = serde_json::json!({"login": l, "password": server::demo::PASSWORD});
            async move {
                let r = http
                    .post(format!("{base}/api/login"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let l: shared::api::LoginResponse = r.json().await.unwrap();
                let d: shared::api::Directory = http
                    .get(format!("{base}/api/directory"))
                    .bearer_auth(&l.token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                d
            }
        };
        let vol = login("vol01").await;
        assert!(
            !vol.people.is_empty() && vol.people.len() < 30,
            "{backend}: a volunteer sees their own few ({})",
            vol.people.len()
        );
        assert!(vol.salons.is_empty());
        let minsei = login("minsei01").await;
        assert_eq!(
            minsei.people.len(),
            150,
            "{backend}: the 地区's 民生委員 sees the 地区"
        );
        let staff = login("staff").await;
        assert_eq!(staff.people.len(), 300);
        assert_eq!(staff.salons.len(), 6);
        let leader = login("salon1").await;
        assert_eq!(leader.salons.len(), 1);
        assert!(leader.people.is_empty());

        // 避難行動要支援者: listed people, half of them consenting to the 自主防災組織.
        let listed: (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(CASE WHEN consent_bousai = 1 THEN 1 END) FROM proj_people WHERE listed = 1",
        )
        .fetch_one(&s.db)
        .await
        .unwrap();
        assert_eq!(
            listed,
            (
                server::demo::LISTED as i64,
                server::demo::CONSENTED_BOUSAI as i64
            ),
            "{backend}"
        );
        // One 自主防災組織 per 地区: no records, the 地区's consenting people on the roster.
        let bousai = login("bousai01").await;
        assert!(bousai.docs.is_empty() && bousai.people.is_empty());
        let phone = s.device_with("bousai01", server::demo::PASSWORD).await;
        let roster: shared::api::Roster = s
            .http
            .get(format!("{}/api/roster", s.base))
            .bearer_auth(&phone.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            roster.people.len(),
            server::demo::CONSENTED_BOUSAI / 2,
            "{backend}"
        );
        assert!(
            roster
                .people
                .iter()
                .all(|p| p.consented && !p.support_needed.is_empty())
        );
        // One view-only assignment.
        let view_only: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM assignments WHERE can_edit = 0")
                .fetch_one(&s.db)
                .await
                .unwrap();
        assert_eq!(view_only, 1);
        let viewer = login(server::demo::VIEW_ONLY_LOGIN).await;
        assert_eq!(
            viewer.docs.iter().filter(|d| !d.can_edit).count(),
            1,
            "{backend}"
        );

        // A volunteer's phone gets exactly its people in one first sync.
        let mut phone = s.device_with("vol01", server::demo::PASSWORD).await;
        phone.sync().await;
        assert_eq!(phone.replica.ids().count(), vol.people.len());
    }
}
