//! Half-width katakana for `NameKana` (docs/spec/oqs-xml.md §4.3: real files write `ｼﾝﾘｮｳ ﾀﾛｳ`, with
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

/// The half-width form of one character: one or two characters (a voiced katakana becomes
/// its plain form and a mark).
fn half_width_of(character: char) -> (char, Option<char>) {
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
        (' ', None)
    } else if let Some(half) = half_of_plain(character) {
        (half, None)
    } else if let Some((plain, mark)) = split_voiced(character) {
        (half_of_plain(plain).unwrap_or(plain), Some(mark))
    } else if ('！'..='～').contains(&character) {
        (
            char::from_u32(u32::from(character) - 0xFEE0).unwrap_or(character),
            None,
        )
    } else {
        (character, None)
    }
}

/// The first character of the block that holds every kana and punctuation mark with a
/// half-width form (CJK symbols U+3000.., hiragana, katakana ..U+30FF).
const KANA_BLOCK_START: u32 = 0x3000;
const KANA_BLOCK_LEN: usize = 0x100;

/// [`half_width_of`] for the kana block, worked out once: names are converted on every answer,
/// and searching the tables character by character was a seventh of the cost of an answer.
static KANA_BLOCK: std::sync::LazyLock<[(char, Option<char>); KANA_BLOCK_LEN]> =
    std::sync::LazyLock::new(|| {
        let mut table = [('\0', None); KANA_BLOCK_LEN];
        for (offset, entry) in (0u32..).zip(table.iter_mut()) {
            let character = char::from_u32(KANA_BLOCK_START + offset).unwrap_or('\0');
            *entry = half_width_of(character);
        }
        table
    });

/// The combining voiced and semi-voiced sound marks of decomposed (NFD) kana.
const COMBINING_MARKS: [char; 2] = ['\u{3099}', '\u{309A}'];

/// `text` with each kana followed by a combining (semi-)voiced mark composed into one
/// character, as NFC does (`カ` + U+3099 → `ガ`; macOS file names and some IMEs write NFD).
/// Only these pairs are composed: full NFC would also replace CJK compatibility ideographs in
/// names (神 U+FA19 → 神 U+795E), which must come back as registered.
fn compose_kana_marks(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(COMBINING_MARKS) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    for character in text.chars() {
        match previous {
            Some(base) if COMBINING_MARKS.contains(&character) => {
                match unicode_normalization::char::compose(base, character) {
                    Some(composed) => previous = Some(composed),
                    None => {
                        out.push(base);
                        previous = Some(character);
                    }
                }
            }
            _ => {
                out.extend(previous);
                previous = Some(character);
            }
        }
    }
    out.extend(previous);
    std::borrow::Cow::Owned(out)
}

/// `text` with katakana and hiragana in half-width katakana, the full-width space (U+3000) as
/// a half-width space and full-width ASCII as ASCII; anything else unchanged. Decomposed kana
/// are composed first, so `カ` + U+3099 becomes `ｶﾞ` like `ガ`.
pub(crate) fn to_half_width_katakana(text: &str) -> String {
    let text = compose_kana_marks(text);
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        let code = u32::from(character);
        let (first, second) = if character.is_ascii() {
            (character, None)
        } else if let Some(&converted) = code
            .checked_sub(KANA_BLOCK_START)
            .and_then(|offset| KANA_BLOCK.get(offset as usize))
        {
            converted
        } else {
            half_width_of(character)
        };
        out.push(first);
        if let Some(second) = second {
            out.push(second);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decomposed_kana_become_the_same_half_width_marks_as_composed_ones() {
        // カ + U+3099 once became ｶ゙ (FF76 3099).
        assert_eq!(to_half_width_katakana("カ\u{3099}"), "\u{FF76}\u{FF9E}");
        assert_eq!(
            to_half_width_katakana("ス\u{3099}スキ\u{3099} ハ\u{309A}ン"),
            to_half_width_katakana("ズスギ パン")
        );
        assert_eq!(to_half_width_katakana("か\u{3099}う\u{3099}"), "ｶﾞｳﾞ");
        // A mark that composes with nothing stays; a compatibility ideograph is not replaced.
        assert_eq!(to_half_width_katakana("ア\u{3099}"), "ｱ\u{3099}");
        assert_eq!(to_half_width_katakana("\u{FA19}カ\u{3099}"), "\u{FA19}ｶﾞ");
    }

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

    /// The conversion of every character, one by one, straight from the tables at the top.
    fn reference(character: char) -> String {
        let character = match character {
            'ぁ'..='ゖ' => char::from_u32(u32::from(character) + 0x60).unwrap(),
            _ => character,
        };
        let character = NEAREST
            .iter()
            .find(|(from, _)| *from == character)
            .map_or(character, |(_, to)| *to);
        if character == '\u{3000}' {
            return " ".to_owned();
        }
        if let Some(index) = FULL_IN_HALF_ORDER.chars().position(|c| c == character) {
            return char::from_u32(0xFF61 + index as u32).unwrap().to_string();
        }
        if let Some((plain, mark)) = split_voiced(character) {
            let plain = FULL_IN_HALF_ORDER
                .chars()
                .position(|c| c == plain)
                .map_or(plain, |index| {
                    char::from_u32(0xFF61 + index as u32).unwrap()
                });
            return format!("{plain}{mark}");
        }
        if ('！'..='～').contains(&character) {
            return char::from_u32(u32::from(character) - 0xFEE0)
                .unwrap()
                .to_string();
        }
        character.to_string()
    }

    #[test]
    fn every_character_of_the_basic_plane_converts_as_the_tables_say() {
        let text: String = (0..=0xFFFFu32).filter_map(char::from_u32).collect();
        let expected: String = text.chars().map(reference).collect();
        assert_eq!(to_half_width_katakana(&text), expected);
        assert_eq!(to_half_width_katakana("𠮷野　ヴ"), "𠮷野 ｳﾞ");
    }
}
