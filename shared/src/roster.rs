//! The coordinator's roster import (`POST /api/desk/import`, docs/api.md): the uploaded
//! bytes as text (UTF-8, with or without a BOM, or Shift_JIS) and the CSV parsed and
//! checked row by row against the districts and volunteers it may name. Pure, so the
//! fuzz target `roster_import` runs exactly what the server runs.

use crate::Date;
use crate::codes::{Frequency, Household, Sex};
use crate::desk::{IMPORT_COLUMNS, ImportRowError, MAX_IMPORT_ROWS};
use crate::i18n::Lang;
use crate::model::Profile;
use std::collections::{BTreeMap, BTreeSet};

/// The text of an uploaded CSV: UTF-8 (a BOM is dropped) when the bytes are valid UTF-8,
/// else Shift_JIS (CP932). Neither: `None`.
pub fn decode(bytes: &[u8]) -> Option<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some(s.to_string());
    }
    encoding_rs::SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|s| s.into_owned())
}

/// One validated row, ready to become a person document.
#[derive(Debug, Clone)]
pub struct RosterRow {
    pub line: u32,
    pub profile: Profile,
    pub frequency: Option<Frequency>,
    pub district: String,
    pub visitors: Vec<String>,
}

/// What an import may refer to: districts (id → name, whether the caller covers it) and
/// volunteers (login → (id, is a volunteer)).
pub struct Lookup {
    pub districts: BTreeMap<String, (String, bool)>,
    pub users: BTreeMap<String, (String, bool)>,
}

const ERAS: &[(&str, &str, i32)] = &[
    ("令和", "R", 2018),
    ("平成", "H", 1988),
    ("昭和", "S", 1925),
    ("大正", "T", 1911),
    ("明治", "M", 1867),
];

/// 1940, 昭和15, 昭和15年, S15, 昭和元年.
pub fn parse_year(s: &str) -> Option<i32> {
    let s = s.trim().trim_end_matches('年');
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    for (name, letter, base) in ERAS {
        let rest = s
            .strip_prefix(name)
            .or_else(|| s.strip_prefix(letter))
            .or_else(|| s.strip_prefix(&letter.to_ascii_lowercase()));
        if let Some(n) = rest {
            let n = n.trim();
            let y: i32 = if n == "元" { 1 } else { n.parse().ok()? };
            return (y >= 1).then(|| base.checked_add(y)).flatten();
        }
    }
    None
}

fn by_label<T: Clone>(
    value: &str,
    all: &[T],
    code: impl Fn(&T) -> &str,
    label: impl Fn(&T) -> &str,
) -> Option<T> {
    let v = value.trim();
    all.iter().find(|x| code(x) == v || label(x) == v).cloned()
}

/// The line (from 1) on which the record starting at byte `at` of `text` lies. The
/// reader's position may lie on the line end before the record (after a CRLF it is the
/// LF) or before blank lines it skipped, so the record starts at the first byte from `at`
/// on that ends no line. A line ends, as for the CSV reader, with LF, CRLF or a lone CR.
fn line_of(text: &str, at: u64) -> u32 {
    let bytes = text.as_bytes();
    let mut start = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
    while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
        start += 1;
    }
    let before = &bytes[..start];
    let n = before
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' || (b == b'\n' && (i == 0 || before[i - 1] != b'\r')))
        .count();
    u32::try_from(n + 1).unwrap_or(u32::MAX)
}

/// Parses and checks a roster. Either every row, or every broken cell.
pub fn parse_roster(
    text: &str,
    lookup: &Lookup,
    today: Date,
) -> std::result::Result<Vec<RosterRow>, Vec<ImportRowError>> {
    let mut errors = Vec::new();
    let err = |errors: &mut Vec<ImportRowError>, row: u32, column: &str, message: String| {
        errors.push(ImportRowError {
            row,
            column: column.to_string(),
            message,
        });
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(_)) | None => {
            err(
                &mut errors,
                1,
                "",
                "1行目に見出し（氏名, 地区 …）がありません".into(),
            );
            return Err(errors);
        }
    };
    let mut columns: Vec<Option<&'static str>> = Vec::new();
    let mut seen = BTreeSet::new();
    for h in header.iter() {
        let h = h.trim().trim_start_matches('\u{feff}');
        match IMPORT_COLUMNS.iter().find(|(name, _, _)| *name == h) {
            Some((name, _, _)) if seen.insert(*name) => columns.push(Some(name)),
            Some((name, _, _)) => {
                err(&mut errors, 1, name, "同じ見出しが2回あります".into());
                columns.push(None);
            }
            None if h.is_empty() => columns.push(None),
            None => {
                err(
                    &mut errors,
                    1,
                    h,
                    format!(
                        "知らない見出しです（使える見出し: {}）",
                        IMPORT_COLUMNS
                            .iter()
                            .map(|c| c.0)
                            .collect::<Vec<_>>()
                            .join("、")
                    ),
                );
                columns.push(None);
            }
        }
    }
    for (name, required, _) in IMPORT_COLUMNS {
        if *required && !seen.contains(name) {
            err(&mut errors, 1, name, "この見出しの列が必要です".into());
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // District names → ids (a name used by two districts must be given by id).
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, (name, _)) in &lookup.districts {
        by_name.entry(name.as_str()).or_default().push(id.as_str());
    }
    let mut rows = Vec::new();
    for rec in records {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_of(text, p.byte()));
                err(
                    &mut errors,
                    line,
                    "",
                    "この行を読めません（引用符の閉じ忘れなど）".into(),
                );
                break;
            }
        };
        let line = rec.position().map_or(0, |p| line_of(text, p.byte()));
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if rows.len() + errors.len() >= MAX_IMPORT_ROWS {
            err(
                &mut errors,
                line,
                "",
                format!("一度に取り込めるのは{MAX_IMPORT_ROWS}行までです"),
            );
            break;
        }
        let mut cells: BTreeMap<&str, String> = BTreeMap::new();
        for (i, v) in rec.iter().enumerate() {
            match columns.get(i).copied().flatten() {
                Some(name) => {
                    cells.insert(name, v.trim().to_string());
                }
                None if v.trim().is_empty() => {}
                None => err(
                    &mut errors,
                    line,
                    "",
                    format!("{}列目は見出しのない列です", i + 1),
                ),
            }
        }
        let cell = |name: &str| cells.get(name).cloned().unwrap_or_default();
        let before = errors.len();
        let mut profile = Profile {
            name: cell("氏名"),
            kana: cell("ふりがな"),
            address: cell("住所"),
            phone: cell("電話"),
            note: cell("備考"),
            ..Profile::default()
        };
        let year = cell("生年");
        if !year.is_empty() {
            match parse_year(&year) {
                Some(y) => profile.birth_year = Some(y),
                None => err(
                    &mut errors,
                    line,
                    "生年",
                    "生年が読めません（例: 1940、昭和15）".into(),
                ),
            }
        }
        let sex = cell("性別");
        if !sex.is_empty() {
            profile.sex = match sex.as_str() {
                "女" | "女性" | "female" => Some(Sex::Female),
                "男" | "男性" | "male" => Some(Sex::Male),
                "回答なし" | "unstated" => Some(Sex::Unstated),
                _ => {
                    err(
                        &mut errors,
                        line,
                        "性別",
                        "性別は「女」「男」で書いてください".into(),
                    );
                    None
                }
            };
        }
        let household = cell("世帯");
        if !household.is_empty() {
            profile.household = by_label(&household, Household::ALL, Household::code, |h| {
                h.label(Lang::Ja)
            });
            if profile.household.is_none() {
                err(
                    &mut errors,
                    line,
                    "世帯",
                    "世帯は「独居」「高齢者のみ世帯」「日中独居」「その他」のどれかです".into(),
                );
            }
        }
        if let Err(fields) = profile.validate(today) {
            for f in fields {
                let column = match f.field.as_str() {
                    "name" => "氏名",
                    "kana" => "ふりがな",
                    "address" => "住所",
                    "phone" => "電話",
                    "note" => "備考",
                    "birth_year" => "生年",
                    _ => "",
                };
                err(&mut errors, line, column, f.text(Lang::Ja));
            }
        }
        let freq = cell("見守り頻度");
        let frequency = if freq.is_empty() {
            None
        } else {
            let short = match freq.as_str() {
                "週1" => "weekly",
                "月2" => "twice_monthly",
                "月1" => "monthly",
                other => other,
            };
            let f = by_label(short, Frequency::ALL, Frequency::code, |f| {
                f.label(Lang::Ja)
            });
            if f.is_none() {
                err(
                    &mut errors,
                    line,
                    "見守り頻度",
                    "見守り頻度は「週1回」「月2回」「月1回」「随時」のどれかです".into(),
                );
            }
            f
        };
        let d = cell("地区");
        let district = if d.is_empty() {
            err(&mut errors, line, "地区", "入力してください".into());
            None
        } else if let Some((_, covered)) = lookup.districts.get(&d) {
            Some((d.clone(), *covered))
        } else {
            match by_name.get(d.as_str()).map(Vec::as_slice) {
                Some([one]) => lookup
                    .districts
                    .get(*one)
                    .map(|(_, covered)| (one.to_string(), *covered)),
                Some(_) => {
                    err(
                        &mut errors,
                        line,
                        "地区",
                        "同じ名前の地区が複数あります。地区のIDで書いてください".into(),
                    );
                    None
                }
                None => {
                    err(
                        &mut errors,
                        line,
                        "地区",
                        format!("地区「{d}」が見つかりません"),
                    );
                    None
                }
            }
        };
        let district = match district {
            Some((id, true)) => id,
            Some((_, false)) => {
                err(
                    &mut errors,
                    line,
                    "地区",
                    format!("地区「{d}」はあなたの担当外です"),
                );
                String::new()
            }
            None => String::new(),
        };
        let mut visitors = Vec::new();
        for login in cell("担当ボランティア")
            .split([' ', '\u{3000}', ',', '、', '・', ';'])
            .filter(|s| !s.is_empty())
        {
            match lookup.users.get(login) {
                Some((id, true)) => {
                    if !visitors.contains(id) {
                        visitors.push(id.clone());
                    }
                }
                Some((_, false)) => err(
                    &mut errors,
                    line,
                    "担当ボランティア",
                    format!("「{login}」はボランティアではありません"),
                ),
                None => err(
                    &mut errors,
                    line,
                    "担当ボランティア",
                    format!("ログインID「{login}」の利用者がいません"),
                ),
            }
        }
        if errors.len() == before {
            rows.push(RosterRow {
                line,
                profile,
                frequency,
                district,
                visitors,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows.is_empty() {
        return Err(vec![ImportRowError {
            row: 2,
            column: String::new(),
            message: "取り込む行がありません".into(),
        }]);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup() -> Lookup {
        Lookup {
            districts: BTreeMap::from([("d1".to_string(), ("東地区".to_string(), true))]),
            users: BTreeMap::new(),
        }
    }

    fn today() -> Date {
        Date::new(2026, 11, 30).unwrap()
    }

    /// Found by the fuzz target `roster_import`: with lone CRs as line ends (which the CSV
    /// reader accepts) every row was reported as line 1.
    #[test]
    fn rows_are_numbered_with_any_line_end() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = ["氏名,地区", "山田,東地区", "", "佐藤,d1", ""].join(eol);
            let rows = parse_roster(&text, &lookup(), today()).unwrap();
            let lines: Vec<u32> = rows.iter().map(|r| r.line).collect();
            assert_eq!(lines, [2, 4], "{eol:?}");
            let text = ["氏名,地区", "山田,東地区", "鈴木,どこか"].join(eol);
            let errs = parse_roster(&text, &lookup(), today()).unwrap_err();
            assert_eq!(errs[0].row, 3, "{eol:?}");
        }
    }

    /// A year past the end of i32 after the era's base overflowed (a panic with overflow
    /// checks, a wrapped year without).
    #[test]
    fn huge_era_years_are_unreadable_not_a_panic() {
        assert_eq!(parse_year("昭和2147483647"), None);
        assert_eq!(parse_year("R2147483000"), None);
        assert_eq!(parse_year("昭和15"), Some(1940));
        let text = "氏名,地区,生年\n山田,東地区,昭和2147483647\n";
        let errs = parse_roster(text, &lookup(), today()).unwrap_err();
        assert_eq!((errs[0].row, errs[0].column.as_str()), (2, "生年"));
    }
}
