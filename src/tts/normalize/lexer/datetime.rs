//! Dates, days of month and times for the lexer: `21.11.2026`, `2026-11-21`, `11/28`,
//! `28.11`, `14:30`, and AM/PM after them.

use super::{
    ends_sentence_after, is_space, parse_currency_after, parse_unit, Cursor, Language, NumericToken,
};
use crate::tts::normalize::en;

/// A date without a year: `11/28` (English, month first), `28.11` (Russian, both parts two
/// digits). In English a one-digit part needs a date word before it (`on 1/5`), so that
/// `1/2` stays a fraction.
pub(super) fn parse_day_month(
    cur: &Cursor<'_>,
    i: usize,
    lang: Language,
    prev_word: &str,
) -> Option<(NumericToken, usize)> {
    let (a, e1) = two_digits(cur, i, 1, 2)?;
    let sep = cur.at(e1)?;
    let want = match lang {
        Language::English => '/',
        Language::Russian => '.',
    };
    if sep != want {
        return None;
    }
    let (b, e2) = two_digits(cur, e1 + 1, 1, 2)?;
    if cur.at(e2) == Some(sep) && cur.digit(e2 + 1) || cur.letter(e2) {
        return None;
    }
    let (day, month) = match lang {
        Language::English => (b, a),
        Language::Russian => (a, b),
    };
    let two_digit_parts = e1 - i == 2 && e2 - e1 == 3;
    let ok = match lang {
        Language::English => two_digit_parts || en::is_date_context(prev_word),
        // `12.50 руб.` is money, `28.11` a date.
        Language::Russian => {
            two_digit_parts
                && parse_currency_after(cur, e2, lang).is_none()
                && parse_unit(cur, e2, lang).is_none()
                && cur.at(e2 + 1) != Some('%')
                && cur.at(e2) != Some('%')
        }
    };
    (ok && valid_date(day, month)).then_some((NumericToken::DayMonth { day, month }, e2))
}

/// `AM`/`PM` (`a.m.`, `pm`) after a time or an hour: the words and the index after them.
pub(super) fn meridiem_after(
    cur: &Cursor<'_>,
    end: usize,
    tok: &NumericToken,
    lang: Language,
) -> Option<(&'static str, usize)> {
    if lang != Language::English {
        return None;
    }
    let hour_like = match tok {
        NumericToken::Time { hour, .. } => (1..=12).contains(hour),
        NumericToken::Number {
            amount,
            scale: None,
        } => amount.frac.is_none() && (1..=12).contains(&amount.int),
        _ => false,
    };
    if !hour_like {
        return None;
    }
    let start = if is_space(cur.at(end)) { end + 1 } else { end };
    let first = cur.at(start)?.to_ascii_lowercase();
    if first != 'a' && first != 'p' {
        return None;
    }
    let words = if first == 'a' { "A-M" } else { "P-M" };
    let second = cur.at(start + 1).map(|c| c.to_ascii_lowercase());
    let e = if second == Some('m') {
        start + 2
    } else if second == Some('.') && cur.at(start + 2).map(|c| c.to_ascii_lowercase()) == Some('m')
    {
        if cur.at(start + 3) == Some('.') && !ends_sentence_after(cur, start + 4) {
            start + 4
        } else {
            start + 3
        }
    } else {
        return None;
    };
    if cur.letter(e) {
        return None;
    }
    Some((words, e))
}

pub(super) fn two_digits(
    cur: &Cursor<'_>,
    i: usize,
    min: usize,
    max: usize,
) -> Option<(u32, usize)> {
    let end = cur.digits_end(i);
    let n = end - i;
    if n < min || n > max {
        return None;
    }
    Some((cur.text(i, end).parse().ok()?, end))
}

pub(super) fn valid_date(day: u32, month: u32) -> bool {
    (1..=31).contains(&day) && (1..=12).contains(&month)
}

/// `21.11.2026` (both), `11/21/2026` (English: month first).
pub(super) fn parse_date(
    cur: &Cursor<'_>,
    i: usize,
    lang: Language,
) -> Option<(NumericToken, usize)> {
    let (a, e1) = two_digits(cur, i, 1, 2)?;
    let sep = cur.at(e1)?;
    if sep != '.' && !(sep == '/' && lang == Language::English) {
        return None;
    }
    let (b, e2) = two_digits(cur, e1 + 1, 1, 2)?;
    if cur.at(e2) != Some(sep) {
        return None;
    }
    let (year, e3) = two_digits(cur, e2 + 1, 4, 4)?;
    if cur.digit(e3) || (cur.at(e3) == Some(sep) && cur.digit(e3 + 1)) {
        return None;
    }
    let (day, month) = if sep == '/' { (b, a) } else { (a, b) };
    valid_date(day, month).then_some((NumericToken::Date { day, month, year }, e3))
}

/// `2026-11-21`.
pub(super) fn parse_iso_date(cur: &Cursor<'_>, i: usize) -> Option<(NumericToken, usize)> {
    let (year, e1) = two_digits(cur, i, 4, 4)?;
    if cur.at(e1) != Some('-') {
        return None;
    }
    let (month, e2) = two_digits(cur, e1 + 1, 2, 2)?;
    if cur.at(e2) != Some('-') {
        return None;
    }
    let (day, e3) = two_digits(cur, e2 + 1, 2, 2)?;
    if cur.digit(e3) || cur.at(e3) == Some('-') {
        return None;
    }
    valid_date(day, month).then_some((NumericToken::Date { day, month, year }, e3))
}

/// `14:30`, `9:05`.
pub(super) fn parse_time(cur: &Cursor<'_>, i: usize) -> Option<(NumericToken, usize)> {
    let (hour, e1) = two_digits(cur, i, 1, 2)?;
    if cur.at(e1) != Some(':') {
        return None;
    }
    let e2 = cur.digits_end(e1 + 1);
    if e2 != e1 + 3 {
        return None;
    }
    let minute: u32 = cur.text(e1 + 1, e2).parse().ok()?;
    if hour > 24 || minute > 59 {
        return None;
    }
    // `14:30:15`: seconds are dropped (a phone agent says the minute).
    let mut end = e2;
    if cur.at(end) == Some(':') && cur.digits_end(end + 1) == end + 3 {
        end += 3;
    }
    Some((NumericToken::Time { hour, minute }, end))
}
