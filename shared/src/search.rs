//! Finding a person in a long list by name or ふりがな, as field workers type it: ひらがな
//! and カタカナ match each other, full- and half-width letters and digits match, and spaces
//! (either width) are ignored.

/// The form a name or a query is compared in.
pub fn key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '・')
        .map(|c| match c {
            // カタカナ → ひらがな (ァ..ヶ sit 0x60 above ぁ..ゖ).
            'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            // Full-width ASCII → ASCII.
            '！'..='～' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `query` is found in any of `fields` (an empty query finds everything).
pub fn finds(query: &str, fields: &[&str]) -> bool {
    let q = key(query);
    q.is_empty() || fields.iter().any(|f| key(f).contains(&q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hiragana_and_katakana_find_each_other() {
        assert!(finds("たかはし", &["高橋 花子", "タカハシ ハナコ"]));
        assert!(finds("タカハシ", &["高橋 花子", "たかはし はなこ"]));
        assert!(finds("高橋", &["高橋 花子", ""]));
        assert!(!finds("たなか", &["高橋 花子", "たかはし はなこ"]));
    }

    #[test]
    fn spaces_and_widths_are_ignored() {
        assert!(finds("たかはし　はな", &["", "タカハシハナコ"]));
        assert!(finds("たかはしはな", &["", "たかはし はなこ"]));
        assert!(finds("ＡＢＣ１", &["abc12"]));
        assert!(finds("", &["anything"]));
        assert!(finds("  ", &["anything"]));
    }
}
