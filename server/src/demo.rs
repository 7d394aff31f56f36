//! `server demo`: a realistic fictional 社協 for demonstrations and benchmarks.
//!
//! みなと市社会福祉協議会 (fictional): one 支所 with two 地区 (東地区, 西地区), each with two
//! 小学校区; 300 people watched over, 10 民生委員, 40 volunteers, one 自主防災組織 per 地区
//! (`bousai01`, `bousai02`), 6 salons, and twelve months of visits and salon sessions
//! ending today. A third of the people are listed as needing help to evacuate
//! (避難行動要支援者, [`LISTED`]), half of those consented to sharing with the 自主防災組織
//! ([`CONSENTED_BOUSAI`]). `vol40` may only view one person ([`VIEW_ONLY_LOGIN`]). Every
//! log-in has the password [`PASSWORD`]; README.md lists them.

use crate::admin;
use crate::auth;
use crate::db::{Db, new_id, now_ms};
use crate::store::{self, NewRow};
use automerge::{Automerge, Change};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shared::codes::*;
use shared::model::*;
use shared::{Date, crdt};

pub const PASSWORD: &str = "mimamori-demo";
pub const PERSONS: usize = 300;
pub const VOLUNTEERS: usize = 40;
pub const MINSEI: usize = 10;
pub const SALONS: usize = 6;
/// One 自主防災組織 log-in per 地区.
pub const BOUSAI: usize = 2;
/// People listed as 避難行動要支援者 (every person `n` with `n % 6 < 2`) …
pub const LISTED: usize = 100;
/// … of whom these consented to sharing with the 自主防災組織 (`n % 12 < 2`).
pub const CONSENTED_BOUSAI: usize = 50;
/// The volunteer with one view-only assignment (the first person, whom they do not visit).
pub const VIEW_ONLY_LOGIN: &str = "vol40";

const SUPPORT: &[&str] = &[
    "車いす。階段は2人で介助",
    "杖歩行。ゆっくりなら歩ける",
    "耳が遠い。玄関で大きな声で呼ぶ",
    "在宅酸素。ボンベを持ち出す",
    "目が不自由。手引きが必要",
];

const FAMILY: &[(&str, &str)] = &[
    ("佐藤", "さとう"),
    ("鈴木", "すずき"),
    ("高橋", "たかはし"),
    ("田中", "たなか"),
    ("伊藤", "いとう"),
    ("渡辺", "わたなべ"),
    ("山本", "やまもと"),
    ("中村", "なかむら"),
    ("小林", "こばやし"),
    ("加藤", "かとう"),
    ("吉田", "よしだ"),
    ("山田", "やまだ"),
    ("佐々木", "ささき"),
    ("山口", "やまぐち"),
    ("松本", "まつもと"),
    ("井上", "いのうえ"),
    ("木村", "きむら"),
    ("林", "はやし"),
    ("斎藤", "さいとう"),
    ("清水", "しみず"),
];
const GIVEN_F: &[(&str, &str)] = &[
    ("ハナ", "はな"),
    ("トメ", "とめ"),
    ("キヨ", "きよ"),
    ("和子", "かずこ"),
    ("幸子", "さちこ"),
    ("節子", "せつこ"),
    ("久子", "ひさこ"),
    ("美代子", "みよこ"),
    ("文子", "ふみこ"),
    ("静江", "しずえ"),
];
const GIVEN_M: &[(&str, &str)] = &[
    ("茂", "しげる"),
    ("清", "きよし"),
    ("勇", "いさむ"),
    ("実", "みのる"),
    ("正雄", "まさお"),
    ("敏夫", "としお"),
    ("武", "たけし"),
    ("博", "ひろし"),
    ("進", "すすむ"),
    ("昭", "あきら"),
];
const STREETS: &[&str] = &[
    "本町",
    "港町",
    "栄町",
    "緑ヶ丘",
    "桜台",
    "浜通り",
    "旭町",
    "若葉町",
];

/// Whether the database already has an organisation.
pub async fn is_empty(db: &Db) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organisations")
        .fetch_one(db)
        .await?;
    Ok(n == 0)
}

pub struct Summary {
    pub org: String,
    pub persons: usize,
    pub changes: usize,
}

fn pick<'a, T>(rng: &mut StdRng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

/// Stores a document built on the server (all its changes) for `org`.
async fn store_doc(db: &Db, row: NewRow<'_>, doc: &Automerge) -> anyhow::Result<usize> {
    let changes: Vec<Change> = doc.get_changes(&[]);
    let mut tx = db.begin().await?;
    store::insert_doc(&mut tx, &row).await?;
    let n = store::append_locked(&mut tx, row.org, row.id, &changes).await?;
    tx.commit().await?;
    Ok(n)
}

fn edit(
    doc: &mut Automerge,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), crdt::CrdtError>,
) -> anyhow::Result<()> {
    let mut tx = doc.transaction();
    f(&mut tx)?;
    tx.commit();
    Ok(())
}

pub async fn load(db: &Db, today: Date) -> anyhow::Result<Summary> {
    let mut rng = StdRng::seed_from_u64(20261124);
    let org = admin::create_org(db, "みなと市社会福祉協議会（デモ）").await?;
    let branch =
        admin::create_district(db, &org, None, "中央支所", "支所", Some((35.0, 135.0, 13))).await?;
    let mut areas = Vec::new(); // (地区 id, 小学校区 ids)
    for (i, name) in ["東地区", "西地区"].iter().enumerate() {
        let lon = 135.0 + if i == 0 { 0.02 } else { -0.02 };
        let d =
            admin::create_district(db, &org, Some(&branch), name, "地区", Some((35.0, lon, 15)))
                .await?;
        let mut schools = Vec::new();
        for s in ["第一小学校区", "第二小学校区"] {
            let school = format!("{}{}", &name[..name.len() - "地区".len()], s);
            schools.push(
                admin::create_district(
                    db,
                    &org,
                    Some(&d),
                    &school,
                    "小学校区",
                    Some((35.0, lon, 16)),
                )
                .await?,
            );
        }
        areas.push((d, schools));
    }

    // One hash for every demo log-in (they share the documented password).
    let hash = auth::hash_password(PASSWORD)?;
    let admin_id = admin::create_user(db, &org, "admin", "事務局 管理者", &hash).await?;
    admin::grant(db, &admin_id, &Role::Admin, None, None).await?;
    let staff = admin::create_user(db, &org, "staff", "社協 職員（地域福祉係）", &hash).await?;
    admin::grant(db, &staff, &Role::Staff, None, None).await?;

    let mut minsei = Vec::new();
    for i in 0..MINSEI {
        let (fam, _) = pick(&mut rng, FAMILY);
        let (given, _) = pick(&mut rng, GIVEN_F);
        let id = admin::create_user(
            db,
            &org,
            &format!("minsei{:02}", i + 1),
            &format!("{fam} {given}（民生委員）"),
            &hash,
        )
        .await?;
        let (district, schools) = &areas[i % 2];
        // The first of each 地区 covers the whole 地区; the others one 小学校区 each.
        let scope = if i < 2 {
            district
        } else {
            &schools[(i / 2) % 2]
        };
        admin::grant(db, &id, &Role::Minsei, Some(scope), None).await?;
        minsei.push(id);
    }
    // 自主防災組織: one per 地区, seeing that 地区's evacuation roster.
    for (i, (district, _)) in areas.iter().enumerate() {
        let name = if i == 0 { "東地区" } else { "西地区" };
        let id = admin::create_user(
            db,
            &org,
            &format!("bousai{:02}", i + 1),
            &format!("{name} 自主防災会"),
            &hash,
        )
        .await?;
        admin::grant(db, &id, &Role::Bousai, Some(district), None).await?;
    }
    let mut volunteers = Vec::new();
    for i in 0..VOLUNTEERS {
        let (fam, _) = pick(&mut rng, FAMILY);
        let (given, _) = if rng.random_bool(0.7) {
            pick(&mut rng, GIVEN_F)
        } else {
            pick(&mut rng, GIVEN_M)
        };
        let id = admin::create_user(
            db,
            &org,
            &format!("vol{:02}", i + 1),
            &format!("{fam} {given}"),
            &hash,
        )
        .await?;
        admin::grant(db, &id, &Role::Volunteer, None, None).await?;
        volunteers.push(id);
    }

    let mut changes = 0;
    let demo_actor = automerge::ActorId::from(b"mimamori-demo-loader".as_slice());
    for n in 0..PERSONS {
        let (district, schools) = &areas[n % 2];
        let school = &schools[(n / 2) % 2];
        let female = rng.random_bool(0.68);
        let (fam, fam_kana) = pick(&mut rng, FAMILY);
        let (given, given_kana) = if female {
            pick(&mut rng, GIVEN_F)
        } else {
            pick(&mut rng, GIVEN_M)
        };
        let frequency = match rng.random_range(0..10) {
            0..=2 => Frequency::Weekly,
            3..=5 => Frequency::TwiceMonthly,
            6..=8 => Frequency::Monthly,
            _ => Frequency::AsNeeded,
        };
        let vols = [
            volunteers[n % VOLUNTEERS].clone(),
            volunteers[(n * 7 + 3) % VOLUNTEERS].clone(),
        ];
        let mut doc = Automerge::new().with_actor(demo_actor.clone());
        edit(&mut doc, |tx| shared::doc::init(tx, &DocKind::Person))?;
        let profile = Profile {
            name: format!("{fam} {given}"),
            kana: format!("{fam_kana} {given_kana}"),
            birth_year: Some(rng.random_range(1930..1955)),
            sex: Some(if female { Sex::Female } else { Sex::Male }),
            address: format!(
                "みなと市{}{}丁目{}-{}",
                pick(&mut rng, STREETS),
                rng.random_range(1..6),
                rng.random_range(1..30),
                rng.random_range(1..20)
            ),
            phone: format!(
                "0{}-{:03}-{:04}",
                rng.random_range(100..999),
                rng.random_range(0..999),
                rng.random_range(0..9999)
            ),
            household: Some(if rng.random_bool(0.8) {
                Household::Alone
            } else {
                Household::ElderlyOnly
            }),
            ..Default::default()
        };
        let since = today.add_days(-400);
        edit(&mut doc, |tx| {
            crdt::save_at(tx, &["profile"], &profile)?;
            crdt::save_at(
                tx,
                &["watch"],
                &WatchPlan {
                    frequency: frequency.clone(),
                    ..Default::default()
                },
            )?;
            crdt::save_at(
                tx,
                &["consent"],
                &Consent {
                    visits: true,
                    share_minsei: true,
                    share_bousai: n % 12 < 2,
                    date: Some(since),
                    method: Some(ConsentMethod::Written),
                    ..Default::default()
                },
            )?;
            if n % 6 < 2 {
                crdt::save_at(
                    tx,
                    &["evacuation"],
                    &Evacuation {
                        listed: true,
                        support_needed: SUPPORT[n % SUPPORT.len()].into(),
                        helper: format!("近所の{}さん", FAMILY[(n / 6) % FAMILY.len()].0),
                        shelter: if n % 2 == 0 {
                            "東小学校 体育館".into()
                        } else {
                            "西公民館".into()
                        },
                    },
                )?;
            }
            let contact = json!({"name": format!("{fam} 一郎"), "relation": "長男", "phone": "090-0000-0000", "order": 1});
            crdt::write(tx, &["emergency", "contacts", &new_id()], &contact)
        })?;
        // Twelve months of visits at the planned rhythm.
        let step = match frequency {
            Frequency::Weekly => 7,
            Frequency::TwiceMonthly => 14,
            Frequency::Monthly => 30,
            _ => 60,
        };
        let mut day = today.add_days(-365 + rng.random_range(0..step));
        while day <= today {
            let outcome = match rng.random_range(0..20) {
                0..=15 => Outcome::Met,
                16..=18 => Outcome::NotHome,
                _ => Outcome::Family,
            };
            let concern = outcome == Outcome::Met && rng.random_range(0..25) == 0;
            let visit = Visit {
                date: day,
                time: format!(
                    "{:02}:{:02}",
                    rng.random_range(9..17),
                    rng.random_range(0..4) * 15
                ),
                kind: if rng.random_bool(0.85) {
                    VisitKind::Visit
                } else {
                    VisitKind::Phone
                },
                condition: (outcome == Outcome::Met).then_some(if concern {
                    Condition::Concern
                } else {
                    Condition::Usual
                }),
                worries: if concern { vec![Worry::Health] } else { vec![] },
                note: if concern {
                    "足が痛いとのこと。通院の付き添いが必要か確認する。".into()
                } else {
                    String::new()
                },
                followup: concern,
                followup_what: if concern {
                    "通院の付き添いを地域包括に相談".into()
                } else {
                    String::new()
                },
                outcome,
                visitors: vec![vols[0].clone()],
                recorded_by: vols[0].clone(),
                recorded_at: now_ms(),
                ..Default::default()
            };
            let vid = new_id();
            edit(&mut doc, |tx| crdt::save_at(tx, &["visits", &vid], &visit))?;
            if concern && day.days_until(today) > 30 {
                let done = FollowupDone {
                    on: day.add_days(7),
                    by: minsei[n % MINSEI].clone(),
                    note: "包括につないだ".into(),
                };
                edit(&mut doc, |tx| {
                    crdt::save_at(tx, &["followups", &vid], &done)
                })?;
            }
            day = day.add_days(step + rng.random_range(-2..3));
        }
        let id = new_id();
        changes += store_doc(
            db,
            NewRow {
                id: &id,
                org: &org,
                kind: "person",
                district: Some(school),
                ..Default::default()
            },
            &doc,
        )
        .await?;
        let _ = district;
        for v in &vols {
            admin::assign(db, v, &id).await?;
        }
        if n == 0 {
            // A volunteer who may read this person's record but not write to it.
            admin::set_assignment(db, &volunteers[VOLUNTEERS - 1], &id, false).await?;
        }
    }

    // Salons with rosters and twelve months of sessions.
    let salon_names = [
        "ふれあいサロン本町",
        "いきいき栄町",
        "ささえあいカフェ港",
        "緑ヶ丘お茶の間",
        "桜台 子育てひろば",
        "浜通りオレンジカフェ",
    ];
    let types = [
        SalonType::Fureai,
        SalonType::Fureai,
        SalonType::Tsudoi,
        SalonType::Fureai,
        SalonType::Kosodate,
        SalonType::NinchishoCafe,
    ];
    for i in 0..SALONS {
        let (district, _) = &areas[i % 2];
        let (salon, doc_id) =
            admin::create_salon(db, &org, Some(district), salon_names[i], &types[i]).await?;
        let leader = admin::create_user(
            db,
            &org,
            &format!("salon{}", i + 1),
            &format!("{} 代表", salon_names[i]),
            &hash,
        )
        .await?;
        admin::grant(db, &leader, &Role::SalonLeader, None, Some(&salon)).await?;
        let mut conn = db.acquire().await?;
        let mut doc = store::stored(&mut conn, &doc_id)
            .await?
            .load()?
            .with_actor(demo_actor.clone());
        drop(conn);
        let before = doc.get_heads();
        edit(&mut doc, |tx| {
            crdt::save_at(
                tx,
                &["profile"],
                &SalonProfile {
                    name: salon_names[i].into(),
                    salon_type: types[i].clone(),
                    venue: "集会所".into(),
                    schedule: "毎月第2水曜 13:30".into(),
                    ..Default::default()
                },
            )
        })?;
        let mut members = Vec::new();
        for _ in 0..rng.random_range(15..26) {
            let (fam, fk) = pick(&mut rng, FAMILY);
            let (given, gk) = pick(&mut rng, GIVEN_F);
            let m = Member {
                name: format!("{fam} {given}"),
                kana: format!("{fk} {gk}"),
                area: pick(&mut rng, STREETS).to_string(),
                joined_on: Some(today.add_days(-500)),
                ..Default::default()
            };
            let mid = new_id();
            edit(&mut doc, |tx| crdt::save_at(tx, &["members", &mid], &m))?;
            members.push(mid);
        }
        for month in (0..12).rev() {
            let date = today.add_months(-month).first_of_month().add_days(9);
            if date > today {
                continue;
            }
            let session = Session {
                date,
                program: vec![Program::Exercise, Program::Tea],
                attendance: members
                    .iter()
                    .map(|m| {
                        (
                            m.clone(),
                            if rng.random_bool(0.8) {
                                Mark::Present
                            } else {
                                Mark::Absent
                            },
                        )
                    })
                    .collect(),
                guests: rng.random_range(0..4),
                helpers: rng.random_range(2..6),
                ..Default::default()
            };
            edit(&mut doc, |tx| {
                crdt::save_at(tx, &["sessions", &date.to_string()], &session)
            })?;
        }
        let new: Vec<Change> = doc.get_changes(&before);
        let mut tx = db.begin().await?;
        changes += store::append_locked(&mut tx, &org, &doc_id, &new).await?;
        tx.commit().await?;
    }
    crate::projection::catch_up(db).await?;
    Ok(Summary {
        org,
        persons: PERSONS,
        changes,
    })
}
