//! The coordinator's desk on SQLite and PostgreSQL: report figures against a fixture month
//! counted by hand, CSV exports read back (UTF-8 with a BOM, Shift_JIS, 和暦), the roster
//! import (all or nothing, and the new people reach a volunteer's phone), the overdue
//! board and the follow-up inbox following what phones sync, assignments and moves with
//! their scope events, and who may use the desk.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::Date;
use shared::codes::*;
use shared::crdt;
use shared::desk::*;
use shared::model::*;
use shared::sync::{ApiError, NewDoc};
use std::collections::BTreeMap;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
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
    (status, r.json::<Value>().await.unwrap_or(Value::Null))
}

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
    (status, r.json::<Value>().await.unwrap_or(Value::Null))
}

/// A JSON answer that must be 200, as `T`.
async fn ok<T: serde::de::DeserializeOwned>(s: &TestServer, path: &str, token: &str) -> T {
    let (st, v) = get(s, path, token).await;
    assert_eq!(st, StatusCode::OK, "{path}: {v}");
    serde_json::from_value(v).unwrap()
}

/// A CSV export: status, headers, bytes.
async fn export(
    s: &TestServer,
    path: &str,
    token: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = s
        .http
        .get(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (st, h) = (r.status(), r.headers().clone());
    (st, h, r.bytes().await.unwrap().to_vec())
}

/// Records of a CSV text (header first).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn error(v: &Value) -> ApiError {
    serde_json::from_value(v.clone()).expect("an ApiError")
}

/// A new person document made on `dev` (a 民生委員's phone) in `district`; not synced.
fn new_person(dev: &mut Device, district: &str, name: &str, f: Frequency) -> String {
    let id = server::db::new_id();
    dev.replica
        .create(
            &id,
            NewDoc {
                kind: DocKind::Person,
                district: Some(district.to_string()),
                salon: None,
            },
        )
        .unwrap();
    let profile = Profile {
        name: name.into(),
        kana: name.into(),
        ..Default::default()
    };
    let watch = WatchPlan {
        frequency: f,
        ..Default::default()
    };
    dev.replica
        .edit(&id, |tx| {
            crdt::save_at(tx, &["profile"], &profile)?;
            crdt::save_at(tx, &["watch"], &watch)
        })
        .unwrap();
    id
}

fn save<T: serde::Serialize>(dev: &mut Device, doc: &str, path: &[&str], value: &T) {
    dev.replica
        .edit(doc, |tx| crdt::save_at(tx, path, value))
        .unwrap();
}

fn visit(date: Date, outcome: Outcome, by: &str) -> Visit {
    Visit {
        date,
        outcome,
        visitors: vec![by.to_string()],
        recorded_by: by.to_string(),
        recorded_at: date.start_unix_ms_jst() + 36_000_000,
        ..Default::default()
    }
}

/// Adds a visit with a fresh id; returns the id.
fn add_visit(dev: &mut Device, doc: &str, v: &Visit) -> String {
    let id = server::db::new_id();
    save(dev, doc, &["visits", &id], v);
    id
}

async fn project(s: &TestServer) {
    server::projection::catch_up(&s.db).await.unwrap();
}

/// The fixture around one month, April 2026 (令和8年4月), and the March before it:
///
/// | who / what | records |
/// |---|---|
/// | P1 (第一小学校区) | 03-31 会えた by minsei_a, logged offline and synced later; 04-01 不在 by minsei_a; 04-10 会えた by vol, follow-up 通院の付き添い |
/// | P2 (第一 → 第二小学校区 from 04-15) | 04-05 会えた by minsei_b; 04-20 家族と話した by minsei_b; consultation 04-08 by minsei_b, 高齢者, 介護保険 + 健康・保健医療, つなぎ先 地域包括 |
/// | minsei_a's 活動記録 | 03-15 調査 ×1; 04-03 訪問・連絡 (子ども) ×2 and 連絡調整 関係機関 ×1; 04-20 民児協 ×1; anonymous consultation 04-22, 子ども, 子育て |
/// | ふれあいサロン (東地区, members m1 m2 m3) | 03-28 m1 m2 + 1 guest, 2 helpers; 04-04 m1 m3 + 2 guests, 3 helpers; 04-11 m1, 1 helper; 04-18 nobody came, 1 helper; 04-25 cancelled |
/// | オレンジカフェ🍊 (第二小学校区, 認知症カフェ) | 04-11 n1 + 3 guests, 2 helpers |
struct Fixture {
    s: TestServer,
    o: Org,
    staff: Device,
    minsei_a: Device,
    /// minsei_a's second phone, holding the 31 March visit until [`Fixture::late_sync`].
    offline: Device,
    p1: String,
    p2: String,
    /// 第一小学校区 staff.
    school_staff: Device,
}

impl Fixture {
    async fn late_sync(&mut self) {
        self.offline.sync().await;
        project(&self.s).await;
    }
}

async fn fixture(backend: &str) -> Fixture {
    let s = TestServer::start(backend).await;
    let o = org(&s.db).await;
    let hash = server::auth::hash_password(PASSWORD).unwrap();
    let u = server::admin::create_user(&s.db, &o.id, "school_staff", "小学校区 職員", &hash)
        .await
        .unwrap();
    server::admin::grant(&s.db, &u, &Role::Staff, Some(&o.school), None)
        .await
        .unwrap();
    let (cafe, cafe_doc) = server::admin::create_salon(
        &s.db,
        &o.id,
        Some(&o.other_school),
        "オレンジカフェ🍊",
        &SalonType::NinchishoCafe,
    )
    .await
    .unwrap();
    let _ = cafe;
    let (ma, mb, vol) = (
        o.users["minsei_a"].clone(),
        o.users["minsei_b"].clone(),
        o.users["vol"].clone(),
    );

    let mut minsei_a = s.device("minsei_a").await;
    minsei_a.sync().await;
    let p1 = new_person(&mut minsei_a, &o.school, "春野 一子", Frequency::Monthly);
    let p2 = new_person(&mut minsei_a, &o.school, "夏川 二郎", Frequency::Monthly);
    add_visit(
        &mut minsei_a,
        &p1,
        &visit(d("2026-04-01"), Outcome::NotHome, &ma),
    );
    // minsei_a's activity record.
    let act = server::db::new_id();
    minsei_a
        .replica
        .create(
            &act,
            NewDoc {
                kind: DocKind::Activity,
                district: None,
                salon: None,
            },
        )
        .unwrap();
    for (date, kind, field, count) in [
        ("2026-03-15", ActivityKind::Survey, None, 1),
        (
            "2026-04-03",
            ActivityKind::VisitContact,
            Some(ConsultField::Children),
            2,
        ),
        ("2026-04-03", ActivityKind::LiaisonAgencies, None, 1),
        ("2026-04-20", ActivityKind::Council, None, 1),
    ] {
        let a = Activity {
            date: d(date),
            kind,
            field,
            count,
            ..Default::default()
        };
        save(
            &mut minsei_a,
            &act,
            &["activities", &server::db::new_id()],
            &a,
        );
    }
    let anon = Consultation {
        date: d("2026-04-22"),
        field: ConsultField::Children,
        topics: vec![ConsultTopic::Childcare],
        ..Default::default()
    };
    save(
        &mut minsei_a,
        &act,
        &["consultations", &server::db::new_id()],
        &anon,
    );
    minsei_a.sync().await;
    // A withdrawn activity never counts.
    let gone = Activity {
        date: d("2026-04-21"),
        kind: ActivityKind::Events,
        count: 5,
        withdrawn: true,
        ..Default::default()
    };
    save(
        &mut minsei_a,
        &act,
        &["activities", &server::db::new_id()],
        &gone,
    );
    minsei_a.sync().await;

    // minsei_a's other phone records the 31 March visit offline; it syncs in April.
    let mut offline = s.device("minsei_a").await;
    offline.sync().await;
    add_visit(
        &mut offline,
        &p1,
        &visit(d("2026-03-31"), Outcome::Met, &ma),
    );

    let mut vol_dev = s.device("vol").await;
    server::admin::assign(&s.db, &vol, &p1).await.unwrap();
    vol_dev.sync().await;
    let mut v3 = visit(d("2026-04-10"), Outcome::Met, &vol);
    v3.followup = true;
    v3.followup_what = "通院の付き添い".into();
    add_visit(&mut vol_dev, &p1, &v3);
    vol_dev.sync().await;

    let mut minsei_b = s.device("minsei_b").await;
    minsei_b.sync().await;
    add_visit(
        &mut minsei_b,
        &p2,
        &visit(d("2026-04-05"), Outcome::Met, &mb),
    );
    add_visit(
        &mut minsei_b,
        &p2,
        &visit(d("2026-04-20"), Outcome::Family, &mb),
    );
    let c = Consultation {
        date: d("2026-04-08"),
        field: ConsultField::Elderly,
        topics: vec![ConsultTopic::CareInsurance, ConsultTopic::Health],
        referrals: vec![Referral::Houkatsu],
        recorded_by: mb.clone(),
        ..Default::default()
    };
    save(
        &mut minsei_b,
        &p2,
        &["consultations", &server::db::new_id()],
        &c,
    );
    minsei_b.sync().await;

    // Salons.
    let mut lead = s.device("lead1").await;
    lead.sync().await;
    let members: Vec<String> = (0..3).map(|_| server::db::new_id()).collect();
    for (i, m) in members.iter().enumerate() {
        let member = Member {
            name: format!("会員{i}"),
            ..Default::default()
        };
        save(&mut lead, &o.salon_doc, &["members", m], &member);
    }
    let (m1, m2, m3) = (&members[0], &members[1], &members[2]);
    let sessions = [
        ("2026-03-28", vec![(m1, true), (m2, true)], 1, 2, false),
        (
            "2026-04-04",
            vec![(m1, true), (m2, false), (m3, true)],
            2,
            3,
            false,
        ),
        ("2026-04-11", vec![(m1, true), (m2, false)], 0, 1, false),
        (
            "2026-04-18",
            vec![(m1, false), (m2, false), (m3, false)],
            0,
            1,
            false,
        ),
        ("2026-04-25", vec![], 0, 0, true),
    ];
    for (date, marks, guests, helpers, cancelled) in sessions {
        let session = Session {
            date: d(date),
            attendance: marks
                .into_iter()
                .map(|(m, here)| (m.clone(), if here { Mark::Present } else { Mark::Absent }))
                .collect(),
            guests,
            helpers,
            cancelled,
            ..Default::default()
        };
        save(&mut lead, &o.salon_doc, &["sessions", date], &session);
    }
    lead.sync().await;
    let mut staff = s.device("staff").await;
    staff.sync().await;
    let n1 = server::db::new_id();
    save(
        &mut staff,
        &cafe_doc,
        &["members", &n1],
        &Member {
            name: "会員n".into(),
            ..Default::default()
        },
    );
    let session = Session {
        date: d("2026-04-11"),
        attendance: BTreeMap::from([(n1.clone(), Mark::Present)]),
        guests: 3,
        helpers: 2,
        ..Default::default()
    };
    save(&mut staff, &cafe_doc, &["sessions", "2026-04-11"], &session);
    staff.sync().await;

    let mut school_staff = s.device("school_staff").await;
    school_staff.sync().await;
    assert!(school_staff.replica.get(&p2).is_some());

    // P2 moves to the 第二小学校区 from 15 April.
    let (st, v) = post(
        &s,
        "/api/desk/people/move",
        &staff.token,
        &json!({"person": p2, "district": o.other_school, "effective_on": "2026-04-15"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let moved: PersonMoved = serde_json::from_value(v).unwrap();
    assert_eq!(moved.from.as_deref(), Some(o.school.as_str()));
    project(&s).await;
    Fixture {
        s,
        o,
        staff,
        minsei_a,
        offline,
        p1,
        p2,
        school_staff,
    }
}

fn row<'a>(rows: &'a [MinseiRow], user: &str) -> &'a MinseiRow {
    rows.iter()
        .find(|r| r.user.as_ref().is_some_and(|u| u.id == user))
        .unwrap_or_else(|| panic!("no row for {user}"))
}

fn n(m: &BTreeMap<String, i64>, k: &str) -> i64 {
    m.get(k).copied().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_equal_hand_counted_figures_of_a_fixture_month() {
    for backend in backends() {
        let mut f = fixture(backend).await;
        let t = f.staff.token.clone();
        let (ma, mb) = (f.o.users["minsei_a"].clone(), f.o.users["minsei_b"].clone());
        let s = &f.s;

        // March, before the phone with the 31st's visit has synced.
        let march: MinseiReport = ok(s, "/api/reports/minsei?month=2026-03", &t).await;
        let a = row(&march.members, &ma);
        assert_eq!((a.visits, a.activity_days), (0, 1), "{backend}");
        assert_eq!(n(&a.other_activities, "survey"), 1);

        // It syncs "on 2 April": the visit counts in March, the month of its own date.
        f.late_sync().await;
        let (s, o) = (&f.s, &f.o);
        let march: MinseiReport = ok(s, "/api/reports/minsei?month=2026-03", &t).await;
        let a = row(&march.members, &ma);
        assert_eq!((a.visits, a.activity_days), (1, 2), "{backend}");

        let april: MinseiReport = ok(s, "/api/reports/minsei?month=2026-04", &t).await;
        assert_eq!(april.period.from, d("2026-04-01"));
        assert_eq!(april.members.len(), 2);
        let a = row(&april.members, &ma);
        assert_eq!(a.district.as_deref(), Some(o.district.as_str()));
        assert_eq!(a.consultations, 1, "the anonymous one");
        assert_eq!(n(&a.by_field, "children"), 1);
        assert_eq!(n(&a.by_field, "elderly"), 0);
        assert_eq!(n(&a.by_topic, "childcare"), 1);
        // 04-01 不在 in P1's record, and 2 contacts (子ども) in the activity record.
        assert_eq!(a.visits, 3);
        assert_eq!(n(&a.visits_by_field, NO_FIELD), 1);
        assert_eq!(n(&a.visits_by_field, "children"), 2);
        assert_eq!((a.liaison_members, a.liaison_agencies), (0, 1));
        assert_eq!(n(&a.other_activities, "council"), 1);
        assert_eq!(n(&a.other_activities, "events"), 0, "withdrawn");
        // 04-01, 04-03, 04-20, 04-22.
        assert_eq!(a.activity_days, 4);
        let b = row(&april.members, &mb);
        assert_eq!(b.consultations, 1);
        assert_eq!(n(&b.by_field, "elderly"), 1);
        assert_eq!(n(&b.by_topic, "care_insurance"), 1);
        assert_eq!(n(&b.by_topic, "health"), 1);
        assert_eq!(b.visits, 2);
        // 04-05, 04-08, 04-20.
        assert_eq!(b.activity_days, 3);
        // The 民児協 (東地区): the sum of both.
        assert_eq!(april.councils.len(), 1);
        let c = &april.councils[0];
        assert_eq!(c.members, 2);
        assert_eq!((c.consultations, c.visits, c.activity_days), (2, 5, 7));
        assert_eq!(n(&c.by_field, "children") + n(&c.by_field, "elderly"), 2);

        // Fiscal years: March belongs to 2025年度, April to 2026年度.
        let fy25: MinseiReport = ok(s, "/api/reports/minsei?fy=2025", &t).await;
        let a = row(&fy25.members, &ma);
        assert_eq!((a.visits, a.activity_days, a.consultations), (1, 2, 0));
        let fy26: MinseiReport = ok(s, "/api/reports/minsei?fy=2026", &t).await;
        let a = row(&fy26.members, &ma);
        assert_eq!((a.visits, a.activity_days, a.consultations), (3, 4, 1));

        // Salons.
        let r: SalonReport = ok(s, "/api/reports/salons?month=2026-04", &t).await;
        let fureai = r.salons.iter().find(|x| x.salon == o.salon).unwrap();
        assert_eq!(
            (
                fureai.sessions,
                fureai.cancelled,
                fureai.members_present,
                fureai.guests,
                fureai.participants,
                fureai.distinct_members,
                fureai.helpers
            ),
            // 04-04, 04-11 and the session nobody came to; 04-25 cancelled. 延べ: m1 m3
            // + 2 guests, m1; 実人数: m1 and m3.
            (3, 1, 3, 2, 5, 2, 5),
            "{backend}"
        );
        let cafe = r.salons.iter().find(|x| x.salon != o.salon).unwrap();
        assert_eq!(
            (
                cafe.sessions,
                cafe.participants,
                cafe.distinct_members,
                cafe.helpers
            ),
            (1, 4, 1, 2)
        );
        assert_eq!(r.types.len(), 2);
        assert_eq!(r.types[0].salon_type, SalonType::Fureai);
        assert_eq!(r.types[1].salon_type, SalonType::NinchishoCafe);
        assert_eq!(r.types[1].participants, 4);
        let march: SalonReport = ok(s, "/api/reports/salons?month=2026-03", &t).await;
        let fureai = march.salons.iter().find(|x| x.salon == o.salon).unwrap();
        assert_eq!(
            (
                fureai.sessions,
                fureai.participants,
                fureai.distinct_members,
                fureai.helpers
            ),
            (1, 3, 2, 2)
        );
        let fy25: SalonReport = ok(s, "/api/reports/salons?fy=2025", &t).await;
        let fy26: SalonReport = ok(s, "/api/reports/salons?fy=2026", &t).await;
        let sessions = |r: &SalonReport| r.salons.iter().map(|x| x.sessions).sum::<i64>();
        assert_eq!((sessions(&fy25), sessions(&fy26)), (1, 4));
        // m1 came twice in April: once in the year's 実人数.
        let fureai = fy26.salons.iter().find(|x| x.salon == o.salon).unwrap();
        assert_eq!((fureai.members_present, fureai.distinct_members), (3, 2));

        // The 小学校区 view: P2's visits split at the move.
        let r: DistrictReport = ok(s, "/api/reports/districts?month=2026-04", &t).await;
        let by = |id: &str| r.districts.iter().find(|x| x.district == id).unwrap();
        let (top, one, two) = (by(&o.district), by(&o.school), by(&o.other_school));
        assert_eq!((top.salons, top.sessions, top.participants), (1, 3, 5));
        assert_eq!((one.people, two.people), (1, 1), "P2 is in the 第二 now");
        // 第一: P1 04-01 不在, 04-10 会えた; P2 04-05 会えた (before the move).
        assert_eq!((one.visits, one.visits_reached), (3, 2), "{backend}");
        // 第二: P2 04-20 家族と話した (after the move).
        assert_eq!((two.visits, two.visits_reached), (1, 1));
        assert_eq!((one.consultations, two.consultations), (1, 0));
        assert_eq!((one.followups_open, two.followups_open), (1, 1));
        assert_eq!((two.salons, two.sessions, two.participants), (1, 1, 4));

        // The 第一小学校区's staff: their subtree only; P2 left their phone at the move.
        let ss = f.school_staff.token.clone();
        let r: DistrictReport = ok(s, "/api/reports/districts?month=2026-04", &ss).await;
        assert_eq!(
            r.districts
                .iter()
                .map(|x| x.district.as_str())
                .collect::<Vec<_>>(),
            [o.school.as_str()]
        );
        f.school_staff.sync().await;
        assert!(f.school_staff.replica.get(&f.p2).is_none());
        assert!(f.school_staff.replica.get(&f.p1).is_some());
        let r: MinseiReport = ok(s, "/api/reports/minsei?month=2026-04", &ss).await;
        assert!(
            r.members.is_empty(),
            "no 民生委員 has a grant in their subtree"
        );
        let r: SalonReport = ok(&f.s, "/api/reports/salons?month=2026-04", &ss).await;
        assert!(r.salons.is_empty());
        assert_eq!(f.s.audits("report_read").await, 13);
        let _ = &f.minsei_a;

        // Bad periods.
        for q in ["", "?month=2026-13", "?fy=x", "?month=2026-04&fy=2026"] {
            let (st, v) = get(&f.s, &format!("/api/reports/minsei{q}"), &t).await;
            assert_eq!(
                (st, error(&v).error.as_str()),
                (StatusCode::BAD_REQUEST, "bad_request"),
                "{q}"
            );
        }
        let (st, _) = get(&f.s, "/api/reports/nothing?month=2026-04", &t).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_read_back_as_csv_with_bom_or_shift_jis_and_wareki_dates() {
    for backend in backends() {
        let mut f = fixture(backend).await;
        f.late_sync().await;
        let (s, o, t) = (&f.s, &f.o, f.staff.token.clone());

        // UTF-8 with a BOM.
        let (st, h, bytes) = export(s, "/api/export/minsei?month=2026-04", &t).await;
        assert_eq!(st, StatusCode::OK, "{backend}");
        assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "Excel needs the BOM");
        assert_eq!(h["content-type"], "text/csv; charset=utf-8");
        let cd = h["content-disposition"].to_str().unwrap();
        assert!(
            cd.starts_with("attachment; filename=\"minsei_2026-04.csv\"; filename*=UTF-8''"),
            "{cd}"
        );
        assert_eq!(h["x-mimamori-replaced"], "0");
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(text.contains("\r\n"));
        let rows = parse_csv(text);
        let head = &rows[0];
        let col = |name: &str| {
            head.iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("{name} in {head:?}"))
        };
        assert_eq!(head[0], "期間");
        assert_eq!(rows.len(), 3, "a header and two 民生委員");
        let a = rows
            .iter()
            .find(|r| r[col("民生委員")] == "minsei_a")
            .unwrap();
        assert_eq!(a[col("期間")], "2026-04");
        assert_eq!(a[col("民児協（地区）")], "東地区");
        assert_eq!(a[col("相談・支援件数")], "1");
        assert_eq!(a[col("分野:子どもに関すること")], "1");
        assert_eq!(a[col("内容:子育て・母子保健")], "1");
        assert_eq!(a[col("訪問・連絡活動")], "3");
        assert_eq!(a[col("訪問:分野なし")], "1");
        assert_eq!(a[col("連絡調整:関係機関")], "1");
        assert_eq!(a[col("その他:民児協運営・研修")], "1");
        assert_eq!(a[col("活動日数")], "4");

        // Shift_JIS, 和暦: the salon report; 🍊 cannot be written and becomes 〓.
        let (st, h, bytes) =
            export(s, "/api/export/salons?fy=2026&encoding=sjis&era=wareki", &t).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(h["content-type"], "text/csv; charset=Shift_JIS");
        assert_eq!(h["x-mimamori-replaced"], "1");
        assert_ne!(&bytes[..3], b"\xEF\xBB\xBF");
        let (text, _, errors) = encoding_rs::SHIFT_JIS.decode(&bytes);
        assert!(!errors);
        let rows = parse_csv(&text);
        assert_eq!(rows[0][..4], ["期間", "サロン名", "種別", "地区"]);
        let cafe = rows
            .iter()
            .find(|r| r[1].starts_with("オレンジカフェ"))
            .unwrap();
        assert_eq!(cafe[1], "オレンジカフェ〓");
        assert_eq!(cafe[0], "令和8年度");
        assert_eq!(cafe[2], "認知症カフェ");
        let fureai = rows.iter().find(|r| r[1] == "ふれあいサロン").unwrap();
        // 開催回数 3 (03-28 is in 2025年度), 中止 1, 延べ 5 (名簿 3 + 当日 2), 実人数 2,
        // ボランティア 5.
        assert_eq!(fureai[4..], ["3", "1", "5", "3", "2", "2", "5"]);

        // The overdue board with 和暦 dates; the follow-up inbox.
        let (st, _, bytes) = export(s, "/api/export/followups?era=wareki", &t).await;
        assert_eq!(st, StatusCode::OK);
        let rows = parse_csv(std::str::from_utf8(&bytes[3..]).unwrap());
        assert_eq!(rows.len(), 3, "the 04-10 follow-up and the 04-08 referral");
        let hosp = rows.iter().find(|r| r[5] == "通院の付き添い").unwrap();
        assert_eq!(hosp[3], "令和8年4月10日");
        assert_eq!(hosp[2], "訪問");
        let refer = rows.iter().find(|r| r[2] == "相談").unwrap();
        assert_eq!(refer[6], "地域包括支援センター");
        for name in ["overdue", "minsei_councils", "salon_types", "districts"] {
            let (st, _, bytes) = export(s, &format!("/api/export/{name}?month=2026-04"), &t).await;
            assert_eq!(st, StatusCode::OK, "{name}");
            assert!(parse_csv(std::str::from_utf8(&bytes[3..]).unwrap()).len() >= 2);
        }
        // Every export audited, with the report and its filters only.
        assert_eq!(s.audits("export").await, 7);
        let details: Vec<String> =
            sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'export' ORDER BY id")
                .fetch_all(&s.db)
                .await
                .unwrap();
        assert_eq!(
            details[1],
            "report=salons period=fy2026 district=all encoding=sjis era=wareki rows=2 replaced=1"
        );
        assert!(
            details
                .iter()
                .all(|d| !d.contains("春野") && !d.contains("通院"))
        );

        // Bad parameters; a period is needed for reports.
        for q in [
            "/api/export/minsei",
            "/api/export/minsei?month=2026-04&encoding=latin1",
            "/api/export/minsei?month=2026-04&era=heisei",
        ] {
            let (st, _, _) = export(s, q, &t).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{q}");
        }
        let (st, _, _) = export(s, "/api/export/secrets?month=2026-04", &t).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let _ = (&o.id, &f.p1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_import_is_all_or_nothing_and_reaches_the_volunteers_phone() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let staff = s.device("staff").await;
        let mut vol = s.device("vol").await;
        vol.sync().await;
        let mut minsei = s.device("minsei_a").await;
        minsei.sync().await;
        let docs_before = s.count("documents").await;

        // Shift_JIS (as Excel saves it), three broken rows among good ones.
        let broken = "氏名,ふりがな,生年,住所,電話,世帯,地区,見守り頻度,担当ボランティア\r\n\
            山田 花子,やまだ はなこ,昭和15,みなと市本町1-2,0120-000-000,独居,第一小学校区,月1回,vol\r\n\
            ,,1940,,,,第一小学校区,,\r\n\
            佐藤 一郎,さとう,1938,,電話なし,,どこか,毎日,\r\n\
            鈴木 次郎,,,,,,第二小学校区,週1,nobody\r\n";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(broken);
        let r = s
            .http
            .post(format!("{}/api/desk/import", s.base))
            .bearer_auth(&staff.token)
            .header("content-type", "text/csv")
            .body(sjis.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{backend}");
        let e: ApiError = r.json().await.unwrap();
        assert_eq!(e.error, "bad_rows");
        assert!(e.message.starts_with("3行に誤り"), "{}", e.message);
        let got: Vec<(u32, &str)> = e.rows.iter().map(|r| (r.row, r.column.as_str())).collect();
        assert_eq!(
            got,
            [
                (3, "氏名"),
                (4, "電話"),
                (4, "見守り頻度"),
                (4, "地区"),
                (5, "担当ボランティア"),
            ]
        );
        assert_eq!(e.rows[0].message, "入力してください");
        assert!(e.rows[3].message.contains("どこか"));
        assert_eq!(s.count("documents").await, docs_before, "nothing imported");
        assert_eq!(s.audits("import_refused").await, 1);

        // UTF-8 with a BOM: everything is imported, in one go.
        let good = "\u{feff}氏名,ふりがな,生年,地区,見守り頻度,担当ボランティア,世帯\r\n\
            山田 花子,やまだ はなこ,昭和15,第一小学校区,月1回,vol,独居\r\n\
            佐藤 一郎,さとう いちろう,1938,第二小学校区,週1,,高齢者のみ世帯\r\n\
            \"鈴木, 次郎\",すずき じろう,,東地区,,,\r\n";
        let r = s
            .http
            .post(format!("{}/api/desk/import", s.base))
            .bearer_auth(&staff.token)
            .body(good.as_bytes().to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let res: ImportResult = r.json().await.unwrap();
        assert_eq!((res.created, res.assigned, res.people.len()), (3, 1, 3));
        assert_eq!(s.count("documents").await, docs_before + 3);
        assert_eq!(s.audits("import").await, 1);

        // The volunteer's phone gets the person assigned to them at its next sync, and
        // the 民生委員's phone all three (their 地区).
        vol.sync().await;
        let doc = vol
            .replica
            .get(&res.people[0])
            .expect("on the volunteer's phone");
        let (p, _) = shared::doc::read::<Person, _>(&doc.doc).unwrap();
        assert_eq!(p.profile.name, "山田 花子");
        assert_eq!(p.profile.birth_year, Some(1940));
        assert_eq!(p.profile.household, Some(Household::Alone));
        assert_eq!(p.watch.frequency, Frequency::Monthly);
        assert!(vol.replica.get(&res.people[1]).is_none());
        minsei.sync().await;
        for id in &res.people {
            assert!(minsei.replica.get(id).is_some());
        }
        project(&s).await;
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM proj_people ORDER BY name")
            .fetch_all(&s.db)
            .await
            .unwrap();
        assert_eq!(names, ["佐藤 一郎", "山田 花子", "鈴木, 次郎"]);
        let district: Option<String> =
            sqlx::query_scalar("SELECT district_id FROM documents WHERE id = $1")
                .bind(res.people[2].clone())
                .fetch_one(&s.db)
                .await
                .unwrap();
        assert_eq!(district.as_deref(), Some(o.district.as_str()));

        // Garbage and size: never a panic, never half an import.
        for body in [
            b"\xff\xfe\x00garbage".to_vec(),
            b"".to_vec(),
            "氏名,地区\n\"never closed".as_bytes().to_vec(),
        ] {
            let r = s
                .http
                .post(format!("{}/api/desk/import", s.base))
                .bearer_auth(&staff.token)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        }
        let r = s
            .http
            .post(format!("{}/api/desk/import", s.base))
            .bearer_auth(&staff.token)
            .body(vec![b'a'; 2 * 1024 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(s.count("documents").await, docs_before + 3);
        // A volunteer may not import.
        let r = s
            .http
            .post(format!("{}/api/desk/import", s.base))
            .bearer_auth(&vol.token)
            .body(good.as_bytes().to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overdue_board_and_follow_up_inbox_follow_what_phones_sync() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let (ma, vol) = (o.users["minsei_a"].clone(), o.users["vol"].clone());
        let today = Date::from_unix_ms_jst(server::db::now_ms()).unwrap();
        let ago = |n: i64| today.add_days(-n);
        let staff = s.device("staff").await;
        let mut m = s.device("minsei_a").await;
        m.sync().await;
        // Weekly, last met 10 days ago: 3 days overdue.
        let q1 = new_person(&mut m, &o.school, "秋山 一", Frequency::Weekly);
        add_visit(&mut m, &q1, &visit(ago(10), Outcome::Met, &ma));
        // Monthly, met 5 days ago, with a follow-up: not overdue.
        let q2 = new_person(&mut m, &o.school, "冬木 二", Frequency::Monthly);
        let mut v = visit(ago(5), Outcome::Met, &ma);
        v.followup = true;
        v.followup_what = "ごみ出しの相談".into();
        let q2_visit = add_visit(&mut m, &q2, &v);
        // Monthly, met 12 days ago, then three 不在: not overdue, but a warning sign.
        let q3 = new_person(&mut m, &o.school, "春日 三", Frequency::Monthly);
        add_visit(&mut m, &q3, &visit(ago(12), Outcome::Met, &ma));
        for n in [9, 8, 7] {
            let mut v = visit(ago(n), Outcome::NotHome, &ma);
            v.note = format!("{n}日前も不在");
            add_visit(&mut m, &q3, &v);
        }
        m.sync().await;
        server::admin::assign(&s.db, &vol, &q1).await.unwrap();
        project(&s).await;

        let b: OverdueBoard = ok(&s, "/api/desk/overdue", &staff.token).await;
        assert_eq!(b.people.len(), 2, "{backend}");
        assert_eq!(b.people[0].doc, q1);
        assert_eq!(b.people[0].overdue_days, 3);
        assert_eq!(b.people[0].last_contact, Some(ago(10)));
        assert_eq!(b.people[0].visitors[0].id, vol);
        assert_eq!(b.people[1].doc, q3);
        assert_eq!(
            (b.people[1].overdue_days, b.people[1].not_home_streak),
            (0, 3)
        );
        assert!(b.people[1].not_home_warning);
        let last = b.people[1].last_visit.clone().unwrap();
        assert_eq!(
            (last.date, last.outcome, last.note.as_str()),
            (Some(ago(7)), Outcome::NotHome, "7日前も不在")
        );
        assert_eq!(b.by_district.len(), 1);
        assert_eq!(
            (b.by_district[0].overdue, b.by_district[0].not_home_warnings),
            (1, 1)
        );
        assert!(b.by_visitor.iter().any(|c| c.id == vol && c.overdue == 1));

        let inbox: FollowupInbox = ok(&s, "/api/desk/followups", &staff.token).await;
        assert_eq!(inbox.items.len(), 1);
        let item = &inbox.items[0];
        assert_eq!(
            (item.doc.as_str(), item.source.as_str()),
            (q2.as_str(), q2_visit.as_str())
        );
        assert_eq!((item.age_days, item.what.as_str()), (5, "ごみ出しの相談"));
        assert_eq!(item.owner.as_ref().unwrap().id, ma);

        // The volunteer meets 秋山さん today and syncs; the 民生委員 records the follow-up
        // done and syncs.
        let mut vd = s.device("vol").await;
        vd.sync().await;
        add_visit(&mut vd, &q1, &visit(today, Outcome::Met, &vol));
        vd.sync().await;
        let done = FollowupDone {
            on: today,
            by: ma.clone(),
            note: "市のごみ出し支援につないだ".into(),
        };
        save(&mut m, &q2, &["followups", &q2_visit], &done);
        m.sync().await;
        project(&s).await;
        let b: OverdueBoard = ok(&s, "/api/desk/overdue", &staff.token).await;
        assert_eq!(
            b.people.iter().map(|p| p.doc.as_str()).collect::<Vec<_>>(),
            [q3.as_str()]
        );
        let inbox: FollowupInbox = ok(&s, "/api/desk/followups", &staff.token).await;
        assert!(inbox.items.is_empty(), "{backend}");
        assert_eq!(s.audits("report_read").await, 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_staff_use_the_desk_and_assignments_and_moves_reach_the_phones() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let hash = server::auth::hash_password(PASSWORD).unwrap();
        let viewer = server::admin::create_user(&s.db, &o.id, "viewer", "閲覧のみ", &hash)
            .await
            .unwrap();
        server::admin::set_grant(&s.db, &viewer, &Role::Staff, None, None, false)
            .await
            .unwrap();
        let school_staff = server::admin::create_user(&s.db, &o.id, "school", "第一 職員", &hash)
            .await
            .unwrap();
        server::admin::grant(&s.db, &school_staff, &Role::Staff, Some(&o.school), None)
            .await
            .unwrap();
        let vol = o.users["vol"].clone();
        let staff = s.device("staff").await;
        let mut m = s.device("minsei_a").await;
        m.sync().await;
        let p = new_person(&mut m, &o.school, "青木 四", Frequency::Weekly);
        let far = new_person(&mut m, &o.other_school, "赤井 五", Frequency::Weekly);
        // Both last met ten days ago: overdue on a weekly plan.
        let ago = Date::from_unix_ms_jst(server::db::now_ms())
            .unwrap()
            .add_days(-10);
        for doc in [&p, &far] {
            add_visit(&mut m, doc, &visit(ago, Outcome::Met, &o.users["minsei_a"]));
        }
        m.sync().await;
        project(&s).await;

        // Volunteers, 民生委員 and salon leaders: 403 everywhere, audited.
        for login in ["vol", "minsei_a", "lead1"] {
            let dev = s.device(login).await;
            for path in [
                "/api/desk/overdue",
                "/api/desk/followups",
                "/api/desk/users",
                "/api/reports/minsei?month=2026-04",
                "/api/export/salons?month=2026-04",
            ] {
                let (st, v) = get(&s, path, &dev.token).await;
                assert_eq!(
                    (st, error(&v).error.as_str()),
                    (StatusCode::FORBIDDEN, "forbidden"),
                    "{login} {path}"
                );
            }
            let (st, _) = post(
                &s,
                "/api/desk/assign",
                &dev.token,
                &json!({"person": p, "user": vol}),
            )
            .await;
            assert_eq!(st, StatusCode::FORBIDDEN);
        }
        assert_eq!(s.audits("desk_refused").await, 18);
        assert_eq!(s.audits("export").await, 0);

        // A district's staff: their subtree only.
        let sd = s.device("school").await;
        let b: OverdueBoard = ok(&s, "/api/desk/overdue", &sd.token).await;
        assert_eq!(
            b.people.iter().map(|x| x.doc.as_str()).collect::<Vec<_>>(),
            [p.as_str()]
        );
        let (st, _) = get(
            &s,
            &format!("/api/desk/overdue?district={}", o.other_school),
            &sd.token,
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let b: OverdueBoard = ok(
            &s,
            &format!("/api/desk/overdue?district={}", o.other_school),
            &staff.token,
        )
        .await;
        assert_eq!(
            b.people.iter().map(|x| x.doc.as_str()).collect::<Vec<_>>(),
            [far.as_str()]
        );
        let (st, _) = post(
            &s,
            "/api/desk/assign",
            &sd.token,
            &json!({"person": far, "user": vol}),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "a person outside their area");

        // View-only staff read but change nothing.
        let vd = s.device("viewer").await;
        let _: OverdueBoard = ok(&s, "/api/desk/overdue", &vd.token).await;
        let (st, v) = post(
            &s,
            "/api/desk/assign",
            &vd.token,
            &json!({"person": p, "user": vol}),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        assert!(error(&v).message.contains("view-only"));

        // Assigning (view only, then edit) reaches the volunteer's phone; unassigning
        // takes the record away.
        let mut vdev = s.device("vol").await;
        vdev.sync().await;
        assert!(vdev.replica.get(&p).is_none());
        let (st, v) = post(
            &s,
            "/api/desk/assign",
            &sd.token,
            &json!({"person": p, "user": vol, "can_edit": false}),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        vdev.sync().await;
        assert!(vdev.replica.get(&p).is_some());
        let dir: shared::api::Directory = ok(&s, "/api/directory", &vdev.token).await;
        assert_eq!(
            dir.docs.iter().find(|e| e.doc == p).map(|e| e.can_edit),
            Some(false)
        );
        let (st, _) = post(
            &s,
            "/api/desk/assign",
            &sd.token,
            &json!({"person": p, "user": vol}),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let dir: shared::api::Directory = ok(&s, "/api/directory", &vdev.token).await;
        assert_eq!(
            dir.docs.iter().find(|e| e.doc == p).map(|e| e.can_edit),
            Some(true)
        );
        let (st, _) = post(
            &s,
            "/api/desk/assign",
            &sd.token,
            &json!({"person": p, "user": o.users["lead1"]}),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "not a volunteer");
        let (st, _) = post(
            &s,
            "/api/desk/assign",
            &sd.token,
            &json!({"person": "nope", "user": vol}),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = post(
            &s,
            "/api/desk/unassign",
            &sd.token,
            &json!({"person": p, "user": vol}),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        vdev.sync().await;
        assert!(vdev.replica.get(&p).is_none());
        let (st, _) = post(
            &s,
            "/api/desk/unassign",
            &sd.token,
            &json!({"person": p, "user": vol}),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let changes: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit_log WHERE action = 'permission_change' AND doc_id = $1 ORDER BY id",
        )
        .bind(p.clone())
        .fetch_all(&s.db)
        .await
        .unwrap();
        assert_eq!(
            changes,
            [
                format!("assign view by {school_staff}"),
                format!("assign edit by {school_staff}"),
                format!("unassign by {school_staff}"),
            ]
        );

        // Moving a 民生委員's grant from the 地区 to the 第二小学校区: the 第一's person
        // leaves their phone.
        let mb = o.users["minsei_b"].clone();
        let mut mbd = s.device("minsei_b").await;
        mbd.sync().await;
        assert!(mbd.replica.get(&p).is_some());
        let mv = json!({"user": mb, "role": "minsei", "from": o.district, "to": o.other_school});
        let (st, _) = post(&s, "/api/desk/grants/move", &sd.token, &mv).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "outside the school staff's area");
        let (st, v) = post(&s, "/api/desk/grants/move", &staff.token, &mv).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        mbd.sync().await;
        assert!(mbd.replica.get(&p).is_none());
        assert!(mbd.replica.get(&far).is_some());
        let (st, _) = post(&s, "/api/desk/grants/move", &staff.token, &mv).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "no longer there");

        // Moving a person: the 第二's 民生委員 gains them; a move can't predate the last.
        let (st, v) = post(
            &s,
            "/api/desk/people/move",
            &staff.token,
            &json!({"person": p, "district": o.other_school}),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        mbd.sync().await;
        assert!(mbd.replica.get(&p).is_some());
        let (st, _) = post(
            &s,
            "/api/desk/people/move",
            &staff.token,
            &json!({"person": p, "district": o.school, "effective_on": "2026-01-01"}),
        )
        .await;
        assert_eq!(st, StatusCode::CONFLICT);
        let (st, _) = post(
            &s,
            "/api/desk/people/move",
            &staff.token,
            &json!({"person": p, "district": o.school, "effective_on": "2999-01-01"}),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_eq!(s.audits("person_moved").await, 1);

        let users: Vec<DeskUser> = ok(&s, "/api/desk/users", &sd.token).await;
        assert!(users.iter().any(|u| u.login == "vol" && u.assigned == 0));
        // Writing routes refuse a foreign Origin like every other.
        let r = s
            .http
            .post(format!("{}/api/desk/assign", s.base))
            .bearer_auth(&staff.token)
            .header("origin", "https://evil.example")
            .json(&json!({"person": p, "user": vol}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
}
