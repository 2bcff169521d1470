//! Finds numeric tokens (dates, times, money, phones…) and abbreviations in text and hands
//! them to the language's verbaliser; everything else is copied.

pub(crate) use super::token::Context;
pub use super::token::{Amount, Currency, NumericToken, Scale};
use super::{en, ids, ru, Language};
use datetime::{meridiem_after, parse_date, parse_day_month, parse_iso_date, parse_time};

mod datetime;

const MAX_INT_DIGITS: usize = 12;

struct Cursor<'a> {
    cs: &'a [char],
}

impl Cursor<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.cs.get(i).copied()
    }
    fn digit(&self, i: usize) -> bool {
        self.at(i).is_some_and(|c| c.is_ascii_digit())
    }
    /// End of the digit run starting at `i`.
    fn digits_end(&self, mut i: usize) -> usize {
        while self.digit(i) {
            i += 1;
        }
        i
    }
    fn text(&self, a: usize, b: usize) -> String {
        self.cs[a..b].iter().collect()
    }
    fn letter(&self, i: usize) -> bool {
        self.at(i).is_some_and(char::is_alphabetic)
    }
    /// End of the letter run starting at `i`.
    fn word_end(&self, mut i: usize) -> usize {
        while self.letter(i) {
            i += 1;
        }
        i
    }
}

fn is_space(c: Option<char>) -> bool {
    matches!(c, Some(' ') | Some('\u{a0}'))
}

/// Verbalises every token of `text` in `lang`.
pub(crate) fn verbalize(text: &str, lang: Language) -> String {
    let cs: Vec<char> = text.chars().collect();
    let cur = Cursor { cs: &cs };
    let mut out = String::with_capacity(text.len() * 2);
    let mut prev_word = String::new();
    // The last token was a day of month (`November 28, 2026`: the number after it is a year).
    let mut after_day = false;
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        let prev_alnum = i > 0 && cs[i - 1].is_alphanumeric();
        let word_start =
            !prev_alnum && !matches!(i.checked_sub(1).map(|k| cs[k]), Some('.' | '@' | '_'));
        if c.is_alphanumeric() && word_start {
            let spelled = ids::email(&cs, i, lang).or_else(|| ids::domain(&cs, i, lang));
            if let Some((words, end)) = spelled {
                push_words(&mut out, &words);
                prev_word.clear();
                after_day = false;
                i = end;
                continue;
            }
        }
        let starts_number = c.is_ascii_digit()
            || (matches!(c, '$' | '€' | '£' | '₽') && cur.digit(i + 1))
            || (c == '+' && cur.digit(i + 1) && !prev_alnum)
            || (c == '(' && cur.digit(i + 1) && looks_like_phone(&cur, i));
        if starts_number && !prev_alnum {
            if let Some((tok, end)) = parse_numeric(&cur, i, lang, &prev_word, after_day) {
                let ctx = Context {
                    prev_word: &prev_word,
                };
                let words = match lang {
                    Language::Russian => ru::speak(&tok, ctx),
                    Language::English => en::speak(&tok, ctx),
                };
                if let Some((meridiem, e)) = meridiem_after(&cur, end, &tok, lang) {
                    // "ten A-M", not "ten o'clock A-M".
                    push_words(&mut out, words.trim_end_matches(" o'clock"));
                    push_words(&mut out, meridiem);
                    prev_word.clear();
                    after_day = false;
                    i = e;
                    continue;
                }
                push_words(&mut out, &words);
                if cur.at(end).is_some_and(char::is_alphanumeric) {
                    out.push(' ');
                }
                // `November 28, 2026`, `March 1st, 2024`: a year may follow.
                after_day = matches!(tok, NumericToken::DayOfMonth(_))
                    || (matches!(tok, NumericToken::Ordinal { .. })
                        && lang == Language::English
                        && en::month_number(&prev_word).is_some());
                prev_word.clear();
                i = end;
                continue;
            }
        }
        if c.is_alphabetic() && !prev_alnum {
            if let Some((words, end)) = ids::alphanumeric_id(&cs, i, lang) {
                push_words(&mut out, &words);
                prev_word.clear();
                after_day = false;
                i = end;
                continue;
            }
            let abbrev = match lang {
                Language::Russian => ru::abbreviation(&cs, i, &prev_word),
                Language::English => en::abbreviation(&cs, i, &prev_word),
            };
            if let Some((words, end)) = abbrev {
                push_words(&mut out, &words);
                prev_word = words
                    .rsplit(' ')
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('.')
                    .to_lowercase();
                i = end;
                continue;
            }
            let end = cur.word_end(i);
            let word = cur.text(i, end);
            out.push_str(&word);
            prev_word = word.to_lowercase();
            i = end;
            continue;
        }
        if !c.is_whitespace() && !matches!(c, '"' | '\'' | '(' | ')') {
            prev_word.clear();
        }
        if !c.is_whitespace() && c != ',' {
            after_day = false;
        }
        match (c, lang) {
            ('&', Language::Russian) => push_words(&mut out, "и"),
            ('&', Language::English) => push_words(&mut out, "and"),
            ('№', Language::Russian) => push_words(&mut out, "номер"),
            ('№', Language::English) => push_words(&mut out, "number"),
            ('%', Language::Russian) => push_words(&mut out, "процентов"),
            ('%', Language::English) => push_words(&mut out, "percent"),
            ('+', Language::Russian) if is_space(cur.at(i + 1)) => push_words(&mut out, "плюс"),
            ('+', Language::English) if is_space(cur.at(i + 1)) => push_words(&mut out, "plus"),
            ('=', Language::Russian) => push_words(&mut out, "равно"),
            ('=', Language::English) => push_words(&mut out, "equals"),
            ('@', Language::Russian) => push_words(&mut out, "собака"),
            ('@', Language::English) => push_words(&mut out, "at"),
            // `order #A7X93`, `#12345`: the sign names a number.
            ('#', Language::Russian) if cur.at(i + 1).is_some_and(char::is_alphanumeric) => {
                push_words(&mut out, "номер")
            }
            ('#', Language::English) if cur.at(i + 1).is_some_and(char::is_alphanumeric) => {
                push_words(&mut out, "number")
            }
            ('₽' | '€' | '£' | '$' | '°' | '§' | '×' | '±' | '*' | '#' | '^' | '~' | '|', _) => {
                out.push(' ')
            }
            ('_' | '<' | '>' | '{' | '}' | '[' | ']' | '\\' | '`', _) => out.push(' '),
            // `COVID-19`: a hyphen between a word and a number is a pause, not a dash.
            ('-', _) if i > 0 && cs[i - 1].is_alphabetic() && cur.digit(i + 1) => out.push(' '),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Appends words, separated from what came before by a space unless at the start of a
/// bracket or quote.
fn push_words(out: &mut String, words: &str) {
    if !out.is_empty() && !out.ends_with([' ', '(', '"', '\'', '\u{a0}']) {
        out.push(' ');
    }
    out.push_str(words);
}

fn looks_like_phone(cur: &Cursor<'_>, i: usize) -> bool {
    parse_phone(cur, i).is_some()
}

/// Tries every numeric pattern at `i`; returns the token and the index after it.
fn parse_numeric(
    cur: &Cursor<'_>,
    i: usize,
    lang: Language,
    prev_word: &str,
    after_day: bool,
) -> Option<(NumericToken, usize)> {
    let c = cur.at(i)?;
    let prefix_currency = match c {
        '$' => Some(Currency::Usd),
        '€' => Some(Currency::Eur),
        '£' => Some(Currency::Gbp),
        '₽' => Some(Currency::Rub),
        _ => None,
    };
    if let Some(currency) = prefix_currency {
        let (amount, mut end) = parse_amount(cur, i + 1, lang)?;
        let mut scale = None;
        if let Some((s, e)) = parse_scale(cur, end, lang) {
            scale = Some(s);
            end = e;
        }
        return Some((
            NumericToken::Money {
                amount,
                currency,
                scale,
            },
            end,
        ));
    }
    if let Some(t) = parse_iso_date(cur, i) {
        return Some(t);
    }
    if let Some(t) = parse_phone(cur, i) {
        return Some(t);
    }
    if c == '+' || c == '(' {
        return None;
    }
    if let Some(t) = parse_date(cur, i, lang) {
        return Some(t);
    }
    if let Some(t) = parse_day_month(cur, i, lang, prev_word) {
        return Some(t);
    }
    if let Some(t) = parse_time(cur, i) {
        return Some(t);
    }
    let int_end = cur.digits_end(i);
    let int_text = cur.text(i, int_end);
    // `2049-77`, `12-34-56`: digit groups joined by hyphens that are no date or phone are a
    // code, read group by group.
    if cur.at(int_end) == Some('-') && cur.digit(int_end + 1) {
        let mut end = int_end;
        let mut groups = vec![int_text.clone()];
        while cur.at(end) == Some('-') && cur.digit(end + 1) {
            let e = cur.digits_end(end + 1);
            groups.push(cur.text(end + 1, e));
            end = e;
        }
        // `1990-2000` is a range of years, not a code.
        let range = groups.len() == 2 && groups.iter().all(|g| g.len() == 4);
        if groups.iter().map(String::len).sum::<usize>() >= 5 && !range && !cur.letter(end) {
            return Some((
                NumericToken::Phone {
                    plus: false,
                    groups,
                },
                end,
            ));
        }
    }
    let (amount, end) = match parse_amount(cur, i, lang) {
        Some(v) => v,
        None => return Some((NumericToken::Digits(int_text), int_end)),
    };
    let (tok, end) = parse_suffix(cur, amount, end, lang, prev_word, after_day)?;
    // A bare run of 5+ digits (no separators, no unit or currency) is a code, a ZIP, an
    // account number: read digit by digit, never as "twelve thousand…".
    let bare =
        matches!(&tok, NumericToken::Number { amount, scale: None } if amount.frac.is_none());
    if bare && end == int_end && int_text.len() >= 5 {
        return Some((NumericToken::Digits(int_text), int_end));
    }
    // A bare four-digit number that is no year and no round quantity (`ending in 4417`,
    // `Box 7731`) is a code as well; `1990`, `2500`, `3000` stay numbers.
    if let NumericToken::Number {
        amount,
        scale: None,
    } = &tok
    {
        let code_like = amount.frac.is_none()
            && int_text.len() == 4
            && amount.int >= 2100
            && !amount.int.is_multiple_of(100);
        if code_like && end == int_end {
            return Some((NumericToken::Digits(int_text), int_end));
        }
    }
    Some((tok, end))
}

/// What follows a plain number: %, ordinal suffix, scale, currency, year marker, month.
fn parse_suffix(
    cur: &Cursor<'_>,
    amount: Amount,
    end: usize,
    lang: Language,
    prev_word: &str,
    after_day: bool,
) -> Option<(NumericToken, usize)> {
    let after_space = if is_space(cur.at(end)) { end + 1 } else { end };
    if cur.at(after_space) == Some('%') {
        return Some((NumericToken::Percent(amount), after_space + 1));
    }
    let integer = amount.frac.is_none();
    if integer {
        if let Some((suffix, e)) = ordinal_suffix(cur, end, lang) {
            return Some((
                NumericToken::Ordinal {
                    n: amount.int,
                    suffix,
                },
                e,
            ));
        }
    }
    let (scale, end) = match parse_scale(cur, end, lang) {
        Some((s, e)) => (Some(s), e),
        None => (None, end),
    };
    if scale.is_none() {
        // `2026 г.` is a year, not grams.
        let year_like = integer && (1000..=2999).contains(&amount.int);
        if let Some((unit, e)) = parse_unit(cur, end, lang) {
            if !(year_like && unit == "г") {
                return Some((NumericToken::Measure { amount, unit }, e));
            }
        }
    }
    if let Some((currency, e)) = parse_currency_after(cur, end, lang) {
        return Some((
            NumericToken::Money {
                amount,
                currency,
                scale,
            },
            e,
        ));
    }
    if scale.is_none() && integer {
        let after_space = if is_space(cur.at(end)) { end + 1 } else { end };
        let word_end = cur.word_end(after_space);
        let word = cur.text(after_space, word_end).to_lowercase();
        match lang {
            Language::Russian => {
                if (1000..=2999).contains(&amount.int) && after_space > end {
                    if let Some(e) = ru::year_marker(cur.cs, after_space) {
                        let marker = cur.text(after_space, e);
                        return Some((
                            NumericToken::Year {
                                n: amount.int,
                                marker,
                            },
                            e,
                        ));
                    }
                }
                if (1..=31).contains(&amount.int) && ru::month_genitive(&word).is_some() {
                    return Some((NumericToken::DayOfMonth(amount.int as u32), end));
                }
                // `28 ноября 2026`: the year after a month is an ordinal in the genitive.
                if (1000..=2999).contains(&amount.int) && ru::month_genitive(prev_word).is_some() {
                    return Some((
                        NumericToken::Year {
                            n: amount.int,
                            marker: String::new(),
                        },
                        end,
                    ));
                }
            }
            Language::English => {
                let prev_month = en::month_number(prev_word).is_some();
                if (1..=31).contains(&amount.int)
                    && (prev_month || (after_space > end && en::month_number(&word).is_some()))
                {
                    return Some((NumericToken::DayOfMonth(amount.int as u32), end));
                }
                let year_context = en::is_year_context(prev_word)
                    || after_day
                    || en::month_number(prev_word).is_some();
                if (1100..=2099).contains(&amount.int) && year_context {
                    return Some((
                        NumericToken::Year {
                            n: amount.int,
                            marker: String::new(),
                        },
                        end,
                    ));
                }
            }
        }
    }
    Some((NumericToken::Number { amount, scale }, end))
}

/// Parses an integer with thousands separators and an optional decimal part. `None` when the
/// digits must be read one by one (leading zero, too long).
fn parse_amount(cur: &Cursor<'_>, i: usize, lang: Language) -> Option<(Amount, usize)> {
    let first_end = cur.digits_end(i);
    if first_end == i {
        return None;
    }
    let mut digits = cur.text(i, first_end);
    let mut end = first_end;
    if digits.len() <= 3 {
        // Thousands groups: `1 250 000` (both languages), `1,250,000` (English).
        loop {
            let sep = cur.at(end);
            let is_sep = is_space(sep) || (lang == Language::English && sep == Some(','));
            let group_end = cur.digits_end(end + 1);
            if is_sep && group_end == end + 4 && !is_number_continuation(cur, group_end, lang) {
                digits.push_str(&cur.text(end + 1, group_end));
                end = group_end;
            } else {
                break;
            }
        }
    }
    let mut frac = None;
    let dec = cur.at(end);
    let is_dec = dec == Some('.') || (lang == Language::Russian && dec == Some(','));
    if is_dec && cur.digit(end + 1) {
        let frac_end = cur.digits_end(end + 1);
        frac = Some(cur.text(end + 1, frac_end));
        end = frac_end;
    }
    if digits.len() > MAX_INT_DIGITS || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    Some((
        Amount {
            int: digits.parse().ok()?,
            frac,
        },
        end,
    ))
}

/// Whether a digit group is followed by something that makes it not a thousands group
/// (`1 2345`, `1 250,5` is fine; `8 800 555 35 35` is caught earlier as a phone).
fn is_number_continuation(cur: &Cursor<'_>, i: usize, _lang: Language) -> bool {
    cur.digit(i) || cur.at(i) == Some(':')
}

/// Phone numbers: `+7 (999) 123-45-67`, `8-800-555-35-35`, `8 800 555 35 35`.
fn parse_phone(cur: &Cursor<'_>, i: usize) -> Option<(NumericToken, usize)> {
    let plus = cur.at(i) == Some('+');
    let mut j = if plus { i + 1 } else { i };
    let mut groups = Vec::new();
    let (mut dashes, mut parens, mut spaces) = (0, 0, 0);
    let mut end = j;
    loop {
        if cur.at(j) == Some('(') {
            parens += 1;
            j += 1;
        }
        let g_end = cur.digits_end(j);
        if g_end == j {
            break;
        }
        groups.push(cur.text(j, g_end));
        j = g_end;
        end = j;
        if cur.at(j) == Some(')') {
            j += 1;
            end = j;
        }
        // One separator (or `) ` ) between groups.
        let sep = cur.at(j);
        if sep == Some('-') && (cur.digit(j + 1) || cur.at(j + 1) == Some('(')) {
            dashes += 1;
            j += 1;
        } else if is_space(sep) && (cur.digit(j + 1) || cur.at(j + 1) == Some('(')) {
            spaces += 1;
            j += 1;
        } else {
            break;
        }
    }
    let total: usize = groups.iter().map(String::len).sum();
    if groups.len() < 2 || !(7..=15).contains(&total) || cur.letter(end) {
        return None;
    }
    let thousands_like = groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3);
    let local_us = groups.len() == 2 && dashes == 1 && groups[0].len() == 3 && groups[1].len() == 4;
    let phone = plus
        || parens > 0
        || local_us
        || (dashes >= 2 && groups.len() >= 3)
        || (spaces > 0 && dashes == 0 && groups.len() >= 3 && !thousands_like);
    phone.then_some((NumericToken::Phone { plus, groups }, end))
}

/// `-й`, `-го` (Russian), `st`/`nd`/`rd`/`th` (English) right after the digits.
fn ordinal_suffix(cur: &Cursor<'_>, end: usize, lang: Language) -> Option<(String, usize)> {
    match lang {
        Language::Russian => {
            if cur.at(end) != Some('-') {
                return None;
            }
            let w_end = cur.word_end(end + 1);
            let suffix = cur.text(end + 1, w_end);
            (!suffix.is_empty() && w_end - end <= 4 && ru::is_ordinal_suffix(&suffix))
                .then_some((suffix, w_end))
        }
        Language::English => {
            let w_end = cur.word_end(end);
            let suffix = cur.text(end, w_end).to_lowercase();
            matches!(suffix.as_str(), "st" | "nd" | "rd" | "th").then_some((suffix, w_end))
        }
    }
}

/// `тыс.`, `млн`, `млрд` (Russian); `thousand`, `million`, `billion` (English).
fn parse_scale(cur: &Cursor<'_>, end: usize, lang: Language) -> Option<(Scale, usize)> {
    let start = if is_space(cur.at(end)) { end + 1 } else { end };
    if start == end {
        return None;
    }
    let w_end = cur.word_end(start);
    let word = cur.text(start, w_end).to_lowercase();
    let scale = match (lang, word.as_str()) {
        (Language::Russian, "тыс") => Scale::Thousand,
        (Language::Russian, "млн") => Scale::Million,
        (Language::Russian, "млрд") => Scale::Billion,
        (Language::English, "thousand") => Scale::Thousand,
        (Language::English, "million") => Scale::Million,
        (Language::English, "billion") => Scale::Billion,
        _ => return None,
    };
    let dotted = cur.at(w_end) == Some('.');
    // Keep a sentence-final dot: `5 млн. Потом` → the dot ends the sentence.
    let end = if dotted && !ends_sentence_after(cur, w_end + 1) {
        w_end + 1
    } else {
        w_end
    };
    Some((scale, end))
}

/// A unit of measure after the amount (`5 кг`, `10 мин.`, `3 km`).
fn parse_unit(cur: &Cursor<'_>, end: usize, lang: Language) -> Option<(String, usize)> {
    let start = if is_space(cur.at(end)) { end + 1 } else { end };
    if cur.at(start) == Some('°') {
        // `25°C`, `77 °F`, `5°`: degrees, with the scale when one follows.
        let scale_end = cur.word_end(start + 1);
        let scale = cur.text(start + 1, scale_end).to_lowercase();
        return match scale.as_str() {
            "c" | "с" => Some(("°c".into(), scale_end)),
            "f" => Some(("°f".into(), scale_end)),
            _ => Some(("°".into(), start + 1)),
        };
    }
    let w_end = cur.word_end(start);
    if w_end == start {
        return None;
    }
    let mut unit = cur.text(start, w_end).to_lowercase();
    let mut w_end = w_end;
    // `km/h`, `км/ч`.
    if cur.at(w_end) == Some('/') {
        let per_end = cur.word_end(w_end + 1);
        let per = cur.text(w_end + 1, per_end).to_lowercase();
        let combined = format!("{unit}/{per}");
        let known = match lang {
            Language::Russian => ru::unit_forms(&combined).is_some(),
            Language::English => en::unit_names(&combined).is_some(),
        };
        if known {
            unit = combined;
            w_end = per_end;
        }
    }
    let known = match lang {
        Language::Russian => ru::unit_forms(&unit).is_some(),
        Language::English => en::unit_names(&unit).is_some(),
    };
    if !known {
        return None;
    }
    let dotted = cur.at(w_end) == Some('.');
    let end = if dotted && !ends_sentence_after(cur, w_end + 1) {
        w_end + 1
    } else {
        w_end
    };
    Some((unit, end))
}

/// Currency written after the amount: `₽`, `руб.`, `рублей`, `коп.`, `$`, `€`, `USD`, `dollars`…
fn parse_currency_after(cur: &Cursor<'_>, end: usize, lang: Language) -> Option<(Currency, usize)> {
    let start = if is_space(cur.at(end)) { end + 1 } else { end };
    match cur.at(start)? {
        '₽' => return Some((Currency::Rub, start + 1)),
        '$' => return Some((Currency::Usd, start + 1)),
        '€' => return Some((Currency::Eur, start + 1)),
        '£' => return Some((Currency::Gbp, start + 1)),
        _ => {}
    }
    if start == end {
        return None;
    }
    let w_end = cur.word_end(start);
    let word = cur.text(start, w_end);
    let lower = word.to_lowercase();
    let currency = match lang {
        Language::Russian => ru::currency_word(&lower),
        Language::English => en::currency_word(&lower),
    }
    .or(match word.as_str() {
        "RUB" | "RUR" => Some(Currency::Rub),
        "USD" => Some(Currency::Usd),
        "EUR" => Some(Currency::Eur),
        "GBP" => Some(Currency::Gbp),
        _ => None,
    })?;
    let dotted = cur.at(w_end) == Some('.');
    let end = if dotted && !ends_sentence_after(cur, w_end + 1) {
        w_end + 1
    } else {
        w_end
    };
    Some((currency, end))
}

/// Whether a dot just before `i` ends a sentence: end of text, or white space then a capital
/// letter (or nothing else).
fn ends_sentence_after(cur_cs: &Cursor<'_>, i: usize) -> bool {
    ends_sentence_at(cur_cs.cs, i)
}

/// Same as [`ends_sentence_after`] on a char slice.
pub(crate) fn ends_sentence_at(cs: &[char], i: usize) -> bool {
    let mut j = i;
    while j < cs.len() && cs[j].is_whitespace() {
        j += 1;
    }
    j >= cs.len() || (j > i && (cs[j].is_uppercase() || cs[j] == '"'))
}
