//! CSV exports of the desk's reports for Japanese Excel (`GET /api/export/{name}`):
//! UTF-8 with a BOM by default (Excel reads UTF-8 only with it), or Shift_JIS (CP932, the
//! encoding of Japanese Windows) with `encoding=sjis`; dates in 西暦 (2026-04-01) or 和暦
//! (令和8年4月1日) with `era=wareki`. Lines end in CRLF; a field with a comma, a quote or
//! a line break is quoted. A text field that Excel would take for a formula (starting
//! with `=`, `+`, `-`, `@`, a tab or a CR) is written with a leading `'`, so a note typed
//! on a phone never runs as a formula on the office PC. Characters Shift_JIS cannot hold
//! are written as 〓 and counted in the `X-Mimamori-Replaced` header. Every export is
//! audited (`export`: the report and its filters, the row count; never content).

use crate::AppState;
use crate::auth;
use crate::desk::{self, Area, audit_report, bad_query};
use crate::error::{Error, Result};
use crate::reports::{self, OTHER_ACTIVITIES, ReportQuery, keys_of};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use shared::Date;
use shared::codes::{ConsultField, ConsultTopic, Referral};
use shared::desk::*;
use shared::i18n::Lang;

/// What Shift_JIS cannot hold is written as this (〓, ゲタ記号, in JIS X 0208).
pub const REPLACEMENT: char = '〓';

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Date(Option<Date>),
    Period(Period),
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}
impl From<u32> for Cell {
    fn from(n: u32) -> Self {
        Cell::Int(i64::from(n))
    }
}
impl From<Option<Date>> for Cell {
    fn from(d: Option<Date>) -> Self {
        Cell::Date(d)
    }
}

/// One table: a header line and rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    Seireki,
    Wareki,
}

fn field(out: &mut String, text: &str, guard: bool) {
    let risky = guard && text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let needs_quotes = risky || text.contains([',', '"', '\n', '\r']);
    if needs_quotes {
        out.push('"');
    }
    if risky {
        out.push('\'');
    }
    for ch in text.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    if needs_quotes {
        out.push('"');
    }
}

impl Table {
    /// The CSV text (CRLF line ends, no BOM).
    pub fn render(&self, era: Era) -> String {
        let mut out = String::new();
        let line = |out: &mut String, cells: Vec<(String, bool)>| {
            for (i, (t, guard)) in cells.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                field(out, &t, guard);
            }
            out.push_str("\r\n");
        };
        line(
            &mut out,
            self.headers.iter().map(|h| (h.clone(), true)).collect(),
        );
        for row in &self.rows {
            line(
                &mut out,
                row.iter()
                    .map(|c| match c {
                        Cell::Text(t) => (t.clone(), true),
                        Cell::Int(n) => (n.to_string(), false),
                        Cell::Date(None) => (String::new(), false),
                        Cell::Date(Some(d)) => (
                            match era {
                                Era::Seireki => d.to_string(),
                                Era::Wareki => d.format_wareki(),
                            },
                            false,
                        ),
                        Cell::Period(p) => (
                            match era {
                                Era::Seireki => p.label(),
                                Era::Wareki => p.label_wareki(),
                            },
                            false,
                        ),
                    })
                    .collect(),
            );
        }
        out
    }
}

/// UTF-8 with a byte-order mark.
pub fn utf8_bom(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 3);
    out.extend_from_slice(b"\xEF\xBB\xBF");
    out.extend_from_slice(text.as_bytes());
    out
}

/// Shift_JIS (the WHATWG encoder, which is CP932's: NEC and IBM extensions such as ①, ㈱
/// and 髙 included). Returns the bytes and how many characters were replaced by 〓.
pub fn shift_jis(text: &str) -> (Vec<u8>, usize) {
    use encoding_rs::EncoderResult;
    let mut enc = encoding_rs::SHIFT_JIS.new_encoder();
    let mut out = Vec::with_capacity(text.len() + 16);
    let mut replaced = 0;
    let mut rest = text;
    let (geta, _, _) = encoding_rs::SHIFT_JIS.encode("〓");
    loop {
        // Room for the rest; the encoder asks for more if needed.
        let need = enc
            .max_buffer_length_from_utf8_without_replacement(rest.len())
            .unwrap_or(rest.len() * 2 + 16);
        let start = out.len();
        out.resize(start + need, 0);
        let (result, read, written) =
            enc.encode_from_utf8_without_replacement(rest, &mut out[start..], true);
        out.truncate(start + written);
        rest = &rest[read..];
        match result {
            EncoderResult::InputEmpty => break,
            EncoderResult::OutputFull => continue,
            EncoderResult::Unmappable(_) => {
                out.extend_from_slice(&geta);
                replaced += 1;
            }
        }
    }
    (out, replaced)
}

/// `%XX` for everything but RFC 5987's attr-chars.
fn rfc5987(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `attachment; filename="<ascii>"; filename*=UTF-8''<name>`.
pub fn content_disposition(ascii: &str, name: &str) -> String {
    let ascii: String = ascii
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        rfc5987(name)
    )
}

fn ja<T>(code: &T, label: impl Fn(&T, Lang) -> &str) -> String {
    label(code, Lang::Ja).to_string()
}

fn names(v: &[Named]) -> String {
    v.iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join("・")
}

fn field_label(code: &str) -> String {
    if code == NO_FIELD {
        "分野なし".to_string()
    } else {
        ConsultField::from_code(code).label(Lang::Ja).to_string()
    }
}

fn overdue_table(b: &OverdueBoard) -> Table {
    Table {
        headers: [
            "地区",
            "氏名",
            "ふりがな",
            "見守り頻度",
            "担当",
            "最後に会えた日",
            "予定日",
            "超過日数",
            "不在の連続",
            "要注意（不在3回以上）",
            "最終訪問日",
            "最終訪問の結果",
            "最終訪問のメモ",
        ]
        .map(String::from)
        .to_vec(),
        rows: b
            .people
            .iter()
            .map(|p| {
                let last = p.last_visit.clone().unwrap_or_default();
                vec![
                    p.district_name.clone().into(),
                    p.name.clone().into(),
                    p.kana.clone().into(),
                    ja(&p.frequency, |f, l| f.label(l)).into(),
                    names(&p.visitors).into(),
                    p.last_contact.into(),
                    p.due.into(),
                    p.overdue_days.into(),
                    p.not_home_streak.into(),
                    if p.not_home_warning { "要注意" } else { "" }.into(),
                    last.date.into(),
                    if p.last_visit.is_some() {
                        ja(&last.outcome, |o, l| o.label(l))
                    } else {
                        String::new()
                    }
                    .into(),
                    last.note.into(),
                ]
            })
            .collect(),
    }
}

fn followup_table(i: &FollowupInbox) -> Table {
    Table {
        headers: [
            "地区",
            "氏名",
            "種類",
            "発生日",
            "経過日数",
            "フォロー内容",
            "つなぎ先",
            "記録者",
            "担当",
        ]
        .map(String::from)
        .to_vec(),
        rows: i
            .items
            .iter()
            .map(|f| {
                vec![
                    f.district_name.clone().into(),
                    f.person_name.clone().into(),
                    if f.kind == "consultation" {
                        "相談"
                    } else {
                        "訪問"
                    }
                    .into(),
                    f.raised_on.into(),
                    f.age_days.into(),
                    f.what.clone().into(),
                    f.referrals
                        .iter()
                        .map(|r: &Referral| r.label(Lang::Ja).to_string())
                        .collect::<Vec<_>>()
                        .join("・")
                        .into(),
                    f.owner
                        .as_ref()
                        .map(|o| o.name.clone())
                        .unwrap_or_default()
                        .into(),
                    names(&f.visitors).into(),
                ]
            })
            .collect(),
    }
}

/// The 活動記録 as one table: per 民生委員 (`councils` false) or per 民児協.
fn minsei_table(r: &MinseiReport, councils: bool) -> Table {
    let rows = if councils { &r.councils } else { &r.members };
    let fields = keys_of(
        ConsultField::ALL.iter().map(|c| c.code()),
        rows.iter().map(|m| &m.by_field),
    );
    let topics = keys_of(
        ConsultTopic::ALL.iter().map(|c| c.code()),
        rows.iter().map(|m| &m.by_topic),
    );
    let vfields = keys_of(
        ConsultField::ALL.iter().map(|c| c.code()).chain([NO_FIELD]),
        rows.iter().map(|m| &m.visits_by_field),
    );
    let others = keys_of(
        OTHER_ACTIVITIES.iter().map(|c| c.code()),
        rows.iter().map(|m| &m.other_activities),
    );
    let mut headers = vec!["期間".to_string(), "民児協（地区）".to_string()];
    headers.push(
        if councils {
            "委員数"
        } else {
            "民生委員"
        }
        .to_string(),
    );
    headers.push("相談・支援件数".to_string());
    headers.extend(fields.iter().map(|f| format!("分野:{}", field_label(f))));
    headers.extend(
        topics
            .iter()
            .map(|t| format!("内容:{}", ConsultTopic::from_code(t).label(Lang::Ja))),
    );
    headers.push("訪問・連絡活動".to_string());
    headers.extend(vfields.iter().map(|f| format!("訪問:{}", field_label(f))));
    headers.push("連絡調整:委員相互".to_string());
    headers.push("連絡調整:関係機関".to_string());
    headers.extend(others.iter().map(|k| {
        format!(
            "その他:{}",
            shared::codes::ActivityKind::from_code(k).label(Lang::Ja)
        )
    }));
    headers.push(
        if councils {
            "活動日数（延べ）"
        } else {
            "活動日数"
        }
        .to_string(),
    );
    let get =
        |m: &std::collections::BTreeMap<String, i64>, k: &str| Cell::Int(*m.get(k).unwrap_or(&0));
    Table {
        headers,
        rows: rows
            .iter()
            .map(|m| {
                let mut row = vec![
                    Cell::Period(r.period.clone()),
                    m.district_name.clone().into(),
                ];
                row.push(if councils {
                    m.members.into()
                } else {
                    m.user
                        .as_ref()
                        .map(|u| u.name.clone())
                        .unwrap_or_default()
                        .into()
                });
                row.push(m.consultations.into());
                row.extend(fields.iter().map(|f| get(&m.by_field, f)));
                row.extend(topics.iter().map(|t| get(&m.by_topic, t)));
                row.push(m.visits.into());
                row.extend(vfields.iter().map(|f| get(&m.visits_by_field, f)));
                row.push(m.liaison_members.into());
                row.push(m.liaison_agencies.into());
                row.extend(others.iter().map(|k| get(&m.other_activities, k)));
                row.push(m.activity_days.into());
                row
            })
            .collect(),
    }
}

fn salon_table(r: &SalonReport, types: bool) -> Table {
    let mut headers = vec!["期間".to_string()];
    if types {
        headers.extend(["種別", "サロン数"].map(String::from));
    } else {
        headers.extend(["サロン名", "種別", "地区"].map(String::from));
    }
    headers.extend(
        [
            "開催回数",
            "中止",
            "延べ参加者数",
            "うち名簿の参加者",
            "うち当日参加",
            "実参加者数",
            "ボランティア延べ人数",
        ]
        .map(String::from),
    );
    let rows = if types { &r.types } else { &r.salons };
    Table {
        headers,
        rows: rows
            .iter()
            .map(|s| {
                let mut row = vec![Cell::Period(r.period.clone())];
                if types {
                    row.push(s.salon_type.label(Lang::Ja).to_string().into());
                    row.push(s.salons.into());
                } else {
                    row.push(s.name.clone().into());
                    row.push(s.salon_type.label(Lang::Ja).to_string().into());
                    row.push(s.district_name.clone().into());
                }
                row.extend([
                    s.sessions.into(),
                    s.cancelled.into(),
                    s.participants.into(),
                    s.members_present.into(),
                    s.guests.into(),
                    s.distinct_members.into(),
                    s.helpers.into(),
                ]);
                row
            })
            .collect(),
    }
}

fn district_table(r: &DistrictReport) -> Table {
    Table {
        headers: [
            "期間",
            "地区",
            "区分",
            "上位の地区",
            "見守り中の人数",
            "サロン数",
            "サロン開催回数",
            "サロン延べ参加者数",
            "訪問件数",
            "うち会えた・家族と話した",
            "相談件数",
            "未対応のフォロー",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .districts
            .iter()
            .map(|d| {
                vec![
                    Cell::Period(r.period.clone()),
                    d.name.clone().into(),
                    d.level.clone().into(),
                    d.parent_name.clone().into(),
                    d.people.into(),
                    d.salons.into(),
                    d.sessions.into(),
                    d.participants.into(),
                    d.visits.into(),
                    d.visits_reached.into(),
                    d.consultations.into(),
                    d.followups_open.into(),
                ]
            })
            .collect(),
    }
}

/// Every export: (name, Japanese file name stem, needs a period).
pub const EXPORTS: &[(&str, &str, bool)] = &[
    ("overdue", "見守り超過一覧", false),
    ("followups", "フォロー未対応一覧", false),
    ("minsei", "民生委員活動記録", true),
    ("minsei_councils", "民児協活動記録", true),
    ("salons", "サロン実績", true),
    ("salon_types", "サロン実績_種別", true),
    ("districts", "地区別活動", true),
];

/// Builds export `name` for `area`.
pub async fn table(
    st: &AppState,
    name: &str,
    area: &Area,
    period: Option<&Period>,
) -> Result<Table> {
    let need = || period.ok_or_else(|| Error::bad("give either month=YYYY-MM or fy=YYYY"));
    Ok(match name {
        "overdue" => overdue_table(&desk::overdue_board(st, area, desk::today()).await?),
        "followups" => followup_table(&desk::followup_inbox(st, area, desk::today()).await?),
        "minsei" => minsei_table(&reports::minsei_report(st, area, need()?).await?, false),
        "minsei_councils" => minsei_table(&reports::minsei_report(st, area, need()?).await?, true),
        "salons" => salon_table(&reports::salon_report(st, area, need()?).await?, false),
        "salon_types" => salon_table(&reports::salon_report(st, area, need()?).await?, true),
        "districts" => district_table(&reports::district_report(st, area, need()?).await?),
        _ => return Err(Error::NotFound("no such export".into())),
    })
}

/// `GET /api/export/{name}?month=|fy=&district=&encoding=utf8|sjis&era=seireki|wareki`.
pub async fn handler(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    q: std::result::Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Query(q) = q.map_err(bad_query)?;
    let Some(&(name, stem, with_period)) = EXPORTS.iter().find(|e| e.0 == name) else {
        return Err(Error::NotFound("no such export".into()));
    };
    let sjis = match q.encoding.as_deref().unwrap_or("utf8") {
        "utf8" | "utf-8" | "" => false,
        "sjis" | "shift_jis" | "cp932" => true,
        other => {
            return Err(Error::bad(format!(
                "encoding is utf8 or sjis, not {:?}",
                auth::truncate(other, 20)
            )));
        }
    };
    let era = match q.era.as_deref().unwrap_or("seireki") {
        "seireki" | "" => Era::Seireki,
        "wareki" => Era::Wareki,
        other => {
            return Err(Error::bad(format!(
                "era is seireki or wareki, not {:?}",
                auth::truncate(other, 20)
            )));
        }
    };
    let period = if with_period { Some(q.period()?) } else { None };
    let area = desk::area(&st, &c, false, q.district.as_deref(), name).await?;
    let t = table(&st, name, &area, period.as_ref()).await?;
    let text = t.render(era);
    let (body, replaced) = if sjis {
        shift_jis(&text)
    } else {
        (utf8_bom(&text), 0)
    };
    let key = period
        .as_ref()
        .map(Period::key)
        .unwrap_or_else(|| desk::today().to_string());
    let period_ja = match (&period, era) {
        (Some(p), Era::Wareki) => p.label_wareki(),
        (Some(p), Era::Seireki) => p.label(),
        (None, Era::Wareki) => desk::today().format_wareki(),
        (None, Era::Seireki) => desk::today().to_string(),
    };
    audit_report(
        &st,
        &c,
        "export",
        &format!(
            "report={name} period={} district={} encoding={} era={} rows={}{}",
            period
                .as_ref()
                .map(Period::key)
                .unwrap_or_else(|| "-".into()),
            area.label,
            if sjis { "sjis" } else { "utf8" },
            if era == Era::Wareki {
                "wareki"
            } else {
                "seireki"
            },
            t.rows.len(),
            if replaced > 0 {
                format!(" replaced={replaced}")
            } else {
                String::new()
            }
        ),
    )
    .await?;
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if sjis {
            "text/csv; charset=Shift_JIS"
        } else {
            "text/csv; charset=utf-8"
        }),
    );
    let disposition = content_disposition(
        &format!("{name}_{key}.csv"),
        &format!("{stem}_{period_ja}.csv"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        "x-mimamori-replaced",
        HeaderValue::from(u64::try_from(replaced).unwrap_or(u64::MAX)),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let t = Table {
            headers: vec!["a".into(), "b".into()],
            rows: vec![vec![
                Cell::Text("=HYPERLINK(\"x\")".into()),
                Cell::Text("1,2\n3".into()),
            ]],
        };
        assert_eq!(
            t.render(Era::Seireki),
            "a,b\r\n\"'=HYPERLINK(\"\"x\"\")\",\"1,2\n3\"\r\n"
        );
        let t = Table {
            headers: vec!["n".into(), "d".into()],
            rows: vec![vec![
                Cell::Int(-3),
                Cell::Date(Some(Date::parse("2026-04-01").unwrap())),
            ]],
        };
        assert_eq!(t.render(Era::Wareki), "n,d\r\n-3,令和8年4月1日\r\n");
    }

    #[test]
    fn shift_jis_replaces_what_it_cannot_hold_visibly() {
        let (bytes, n) = shift_jis("髙橋①㈱ 😀 한");
        assert_eq!(n, 2);
        let (back, _, errors) = encoding_rs::SHIFT_JIS.decode(&bytes);
        assert!(!errors);
        assert_eq!(back, "髙橋①㈱ 〓 〓");
    }

    #[test]
    fn file_names_are_safe_ascii_with_the_japanese_name_beside() {
        let d = content_disposition("minsei_2026-04.csv", "民生委員活動記録_2026-04.csv");
        assert!(d.starts_with(
            "attachment; filename=\"minsei_2026-04.csv\"; filename*=UTF-8''%E6%B0%91"
        ));
        assert!(d.is_ascii());
        assert_eq!(
            content_disposition("a\"b;c.csv", "x"),
            "attachment; filename=\"a_b_c.csv\"; filename*=UTF-8''x"
        );
    }
}
