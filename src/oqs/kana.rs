//! Half-width katakana for `NameKana` (oqs-xml.md §4.3: real files write `ｼﾝﾘｮｳ ﾀﾛｳ`, with
//! dakuten and handakuten as separate half-width marks and a half-width space between names).

/// Full-width characters in the order of their half-width forms U+FF61..=U+FF9F (JIS X 0201).
const FULL_IN_HALF_ORDER: &str = "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜";

/// Katakana without a half-width form, written as their nearest plain form.
const NEAREST: &[(char, char)] = &[
    ('ヮ', 'ワ'),
    ('ヰ', 'イ'),
    ('ヱ', 'エ'),
    ('ヵ', 'カ'),
    ('ヶ', 'ケ'),
];

const DAKUTEN: char = 'ﾞ';
const HANDAKUTEN: char = 'ﾟ';

fn half_of_plain(full: char) -> Option<char> {
    FULL_IN_HALF_ORDER
        .chars()
        .position(|c| c == full)
        .and_then(|index| u32::try_from(index).ok())
        .and_then(|index| char::from_u32(0xFF61 + index))
}

/// The plain katakana and the mark of a voiced one (`ガ` → `カ` + ﾞ, `パ` → `ハ` + ﾟ).
fn split_voiced(full: char) -> Option<(char, char)> {
    const VOICED: &str = "ガギグゲゴザジズゼゾダヂヅデドバビブベボ";
    const SEMI_VOICED: &str = "パピプペポ";
    let shifted = |by: u32| char::from_u32(u32::from(full) - by);
    match full {
        'ヴ' => Some(('ウ', DAKUTEN)),
        'ヷ' => Some(('ワ', DAKUTEN)),
        'ヺ' => Some(('ヲ', DAKUTEN)),
        _ if VOICED.contains(full) => shifted(1).map(|plain| (plain, DAKUTEN)),
        _ if SEMI_VOICED.contains(full) => shifted(2).map(|plain| (plain, HANDAKUTEN)),
        _ => None,
    }
}

/// `text` with katakana and hiragana in half-width katakana, the full-width space (U+3000) as
/// a half-width space and full-width ASCII as ASCII; anything else unchanged.
pub fn to_half_width_katakana(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        // Hiragana ぁ..ゖ sit 0x60 below their katakana.
        let character = match character {
            'ぁ'..='ゖ' => char::from_u32(u32::from(character) + 0x60).unwrap_or(character),
            _ => character,
        };
        let character = NEAREST
            .iter()
            .find(|(from, _)| *from == character)
            .map_or(character, |(_, to)| *to);
        if character == '\u{3000}' {
            out.push(' ');
        } else if let Some(half) = half_of_plain(character) {
            out.push(half);
        } else if let Some((plain, mark)) = split_voiced(character) {
            out.push(half_of_plain(plain).unwrap_or(plain));
            out.push(mark);
        } else if ('！'..='～').contains(&character) {
            out.push(char::from_u32(u32::from(character) - 0xFEE0).unwrap_or(character));
        } else {
            out.push(character);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_half_width_with_separate_marks_and_a_half_width_space() {
        assert_eq!(to_half_width_katakana("シンリョウ タロウ"), "ｼﾝﾘｮｳ ﾀﾛｳ");
        assert_eq!(to_half_width_katakana("スズキ\u{3000}エミコ"), "ｽｽﾞｷ ｴﾐｺ");
        assert_eq!(to_half_width_katakana("ガッコウ　パン"), "ｶﾞｯｺｳ ﾊﾟﾝ");
        assert_eq!(to_half_width_katakana("ヴィーナス・ケ"), "ｳﾞｨｰﾅｽ･ｹ");
        assert_eq!(to_half_width_katakana("しけん　めい"), "ｼｹﾝ ﾒｲ");
        assert_eq!(to_half_width_katakana("ヶヮＡ１"), "ｹﾜA1");
        assert_eq!(to_half_width_katakana("ﾊﾝｶｸ ABC"), "ﾊﾝｶｸ ABC");
    }
}
