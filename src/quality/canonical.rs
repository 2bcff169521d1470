//! A canonical form of English text for round-trip (text → speech → text) scoring, so that
//! the same content written two ways counts as the same words: "$1,250.50" and "one thousand
//! two hundred fifty dollars and fifty cents", "11/28" and "November 28th", "AB-12345" and
//! "A B one two three four five", "john.doe@example.com" and "john dot doe at example dot com".
//!
//! Both the reference and every hypothesis go through the same function, whichever system
//! spoke, so a comparison of two TTS systems stays fair: what is scored is whether a listener
//! (Whisper) recovered the content, not how the transcriber chose to format it.
//!
//! Rules, in order:
//! 1. written forms on the raw text: `$X.YY` → "X dollars YY cents"; dates `M/D[/YYYY]`,
//!    `YYYY-MM-DD` → "month D YYYY"; `H:MM` → "H MM" (`:00` dropped); `a.m.`/`p.m.` → am/pm;
//!    `%` → percent, `°C` → degrees celsius, `@` → at, `#` → number, `+` before a digit →
//!    plus; a dot or underscore between two letter runs (addresses) → dot / underscore;
//!    thousands commas removed; ordinal suffixes (`28th`) removed;
//! 2. words with letters and digits (`K9Z4Q`) and capitals-only words of 2–4 letters
//!    (`AB`, `ID`) are split into single characters (an ID spelled out);
//! 3. [`normalize_for_wer`] (case, punctuation);
//! 4. number words → numbers ("twenty twenty-six" → 20 26, "five five five" → 5 5 5,
//!    "oh" next to a number → 0), ordinal words → numbers;
//! 5. every number → its digits, one word each (so "2026" = "20 26" = "2 0 2 6");
//! 6. synonyms to one spelling (doctor → dr, kilograms → kg, …); "and", "dash", "o'clock"
//!    dropped.

use super::wer::{align, normalize_for_wer, WerStats};

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// WER of `hypothesis` against `reference`, both in the canonical form of [`canonical_words`].
pub fn canonical_wer(reference: &str, hypothesis: &str) -> WerStats {
    align(&canonical_words(reference), &canonical_words(hypothesis))
}

/// The canonical word sequence of `text` (see the module documentation for the rules).
pub fn canonical_words(text: &str) -> Vec<String> {
    let written = rewrite_written_forms(text);
    let spelled = split_codes(&written);
    let words = normalize_for_wer(&spelled);
    let numbers = number_words_to_numbers(&words);
    let mut out = Vec::with_capacity(numbers.len());
    for w in numbers {
        if w.chars().all(|c| c.is_ascii_digit()) {
            out.extend(w.chars().map(|c| c.to_string()));
            continue;
        }
        if let Some(s) = synonym(&w) {
            if !s.is_empty() {
                out.push(s.to_string());
            }
            continue;
        }
        out.push(w);
    }
    out
}

/// Canonical spelling of a word; `Some("")` drops it.
fn synonym(w: &str) -> Option<&'static str> {
    Some(match w {
        "and" | "dash" | "hyphen" | "o'clock" | "oclock" => "",
        "doctor" | "dr" => "dr",
        "mister" | "mr" => "mr",
        "missus" | "mrs" => "mrs",
        "street" | "saint" | "st" => "st",
        "road" | "rd" => "rd",
        "avenue" | "ave" => "ave",
        "suite" | "ste" => "ste",
        "apartment" | "apt" => "apt",
        "department" | "dept" => "dept",
        "boulevard" | "blvd" => "blvd",
        "number" | "no" | "num" => "number",
        "dollar" | "dollars" | "usd" => "dollars",
        "cent" | "cents" => "cents",
        "percent" | "pct" => "percent",
        "degree" | "degrees" => "degrees",
        "kilogram" | "kilograms" | "kilo" | "kilos" | "kg" | "kgs" => "kg",
        "gram" | "grams" | "g" => "g",
        "milligram" | "milligrams" | "mg" => "mg",
        "kilometer" | "kilometers" | "kilometre" | "kilometres" | "km" => "km",
        "mile" | "miles" | "mi" => "mi",
        "minute" | "minutes" | "min" | "mins" => "min",
        "hour" | "hours" | "hr" | "hrs" => "hr",
        "second" | "seconds" | "sec" | "secs" => "sec",
        "okay" | "ok" => "ok",
        "email" => "email",
        "extension" | "ext" => "ext",
        "am" => "am",
        "pm" => "pm",
        _ => return None,
    })
}

fn is_digit(cs: &[char], i: usize) -> bool {
    cs.get(i).is_some_and(|c| c.is_ascii_digit())
}

fn digits_end(cs: &[char], mut i: usize) -> usize {
    while is_digit(cs, i) {
        i += 1;
    }
    i
}

fn text(cs: &[char], a: usize, b: usize) -> String {
    cs[a..b].iter().collect()
}

fn num(cs: &[char], a: usize, b: usize) -> u32 {
    text(cs, a, b).parse().unwrap_or(u32::MAX)
}

/// A date at `i`: `M/D`, `M/D/YYYY`, `YYYY-MM-DD`; its words and the index after it.
fn date_at(cs: &[char], i: usize) -> Option<(String, usize)> {
    let e1 = digits_end(cs, i);
    let month_day = |m: u32, d: u32| (1..=12).contains(&m) && (1..=31).contains(&d);
    if e1 - i == 4 && cs.get(e1) == Some(&'-') {
        let e2 = digits_end(cs, e1 + 1);
        if e2 - e1 == 3 && cs.get(e2) == Some(&'-') {
            let e3 = digits_end(cs, e2 + 1);
            let (m, d) = (num(cs, e1 + 1, e2), num(cs, e2 + 1, e3));
            if e3 - e2 == 3 && month_day(m, d) {
                let y = text(cs, i, e1);
                return Some((format!(" {} {d} {y} ", MONTHS[m as usize - 1]), e3));
            }
        }
        return None;
    }
    if !(1..=2).contains(&(e1 - i)) || cs.get(e1) != Some(&'/') {
        return None;
    }
    let e2 = digits_end(cs, e1 + 1);
    if !(1..=2).contains(&(e2 - e1 - 1)) {
        return None;
    }
    let (m, d) = (num(cs, i, e1), num(cs, e1 + 1, e2));
    if !month_day(m, d) {
        return None;
    }
    let month = MONTHS[m as usize - 1];
    if cs.get(e2) == Some(&'/') {
        let e3 = digits_end(cs, e2 + 1);
        if e3 - e2 - 1 == 4 || e3 - e2 - 1 == 2 {
            let y = text(cs, e2 + 1, e3);
            return Some((format!(" {month} {d} {y} "), e3));
        }
    }
    Some((format!(" {month} {d} "), e2))
}

/// `$1,250.50 million` style amounts after a dollar sign at `i`.
fn dollars_at(cs: &[char], i: usize) -> Option<(String, usize)> {
    let mut j = i + 1;
    let mut int = String::new();
    while j < cs.len() {
        if cs[j].is_ascii_digit() {
            int.push(cs[j]);
            j += 1;
        } else if cs[j] == ',' && digits_end(cs, j + 1) == j + 4 {
            j += 1;
        } else {
            break;
        }
    }
    if int.is_empty() {
        return None;
    }
    let mut frac = None;
    if cs.get(j) == Some(&'.') && is_digit(cs, j + 1) {
        let e = digits_end(cs, j + 1);
        frac = Some(text(cs, j + 1, e));
        j = e;
    }
    // A scale word after the amount: "$1.5 million" → "1 point 5 million dollars".
    let rest: String = cs[j..].iter().take(10).collect::<String>().to_lowercase();
    for scale in [" thousand", " million", " billion"] {
        if rest.starts_with(scale) {
            let amount = match &frac {
                Some(f) => format!("{int} point {f}"),
                None => int.clone(),
            };
            return Some((
                format!(" {amount}{scale} dollars "),
                j + scale.chars().count(),
            ));
        }
    }
    let words = match frac {
        Some(f) if f.trim_start_matches('0').is_empty() => format!(" {int} dollars "),
        Some(f) if int.trim_start_matches('0').is_empty() => format!(" {f} cents "),
        Some(f) => format!(" {int} dollars {f} cents "),
        None => format!(" {int} dollars "),
    };
    Some((words, j))
}

/// Rule 1: written forms on the raw text.
fn rewrite_written_forms(input: &str) -> String {
    let cs: Vec<char> = input.chars().collect();
    let mut out = String::with_capacity(input.len() * 2);
    let mut i = 0;
    let starts_ci = |i: usize, s: &str| {
        let w: Vec<char> = s.chars().collect();
        cs.len() >= i + w.len()
            && cs[i..i + w.len()]
                .iter()
                .zip(&w)
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
    };
    while i < cs.len() {
        let c = cs[i];
        let prev = i.checked_sub(1).map(|k| cs[k]);
        let prev_digit = prev.is_some_and(|p| p.is_ascii_digit());
        let prev_alnum = prev.is_some_and(char::is_alphanumeric);
        if c == '$' {
            if let Some((w, e)) = dollars_at(&cs, i) {
                out.push_str(&w);
                i = e;
                continue;
            }
        }
        if c.is_ascii_digit() && !prev_digit {
            if let Some((w, e)) = date_at(&cs, i) {
                out.push_str(&w);
                i = e;
                continue;
            }
            // `3:15` → "3 15", `10:00` → "10".
            let e1 = digits_end(&cs, i);
            if e1 - i <= 2 && cs.get(e1) == Some(&':') && digits_end(&cs, e1 + 1) == e1 + 3 {
                let h = text(&cs, i, e1);
                let m = text(&cs, e1 + 1, e1 + 3);
                if m == "00" {
                    out.push_str(&format!(" {h} "));
                } else {
                    out.push_str(&format!(" {h} {m} "));
                }
                i = e1 + 3;
                continue;
            }
            // `3.15 pm` (a time written with a dot) → "3 15 pm".
            if e1 - i <= 2 && cs.get(e1) == Some(&'.') && digits_end(&cs, e1 + 1) == e1 + 3 {
                let after: String = cs[e1 + 3..].iter().take(5).collect::<String>();
                let after = after.trim_start().to_lowercase();
                if ["am", "pm", "a.m", "p.m"]
                    .iter()
                    .any(|m| after.starts_with(m))
                {
                    let (h, m) = (text(&cs, i, e1), text(&cs, e1 + 1, e1 + 3));
                    out.push_str(&format!(" {h} {m} "));
                    i = e1 + 3;
                    continue;
                }
            }
            // Ordinal suffix: `28th` → 28.
            let suffix: String = cs[e1..cs.len().min(e1 + 2)]
                .iter()
                .collect::<String>()
                .to_lowercase();
            if matches!(suffix.as_str(), "st" | "nd" | "rd" | "th")
                && !cs.get(e1 + 2).is_some_and(|c| c.is_alphabetic())
            {
                out.push_str(&text(&cs, i, e1));
                out.push(' ');
                i = e1 + 2;
                continue;
            }
        }
        if !prev_alnum && (starts_ci(i, "a.m.") || starts_ci(i, "p.m.")) {
            out.push_str(if cs[i].eq_ignore_ascii_case(&'a') {
                " am "
            } else {
                " pm "
            });
            i += 4;
            continue;
        }
        match c {
            ',' if prev_digit && digits_end(&cs, i + 1) == i + 4 => {} // 1,250 → 1250
            '%' => out.push_str(" percent "),
            '@' => out.push_str(" at "),
            '#' => out.push_str(" number "),
            '&' => out.push_str(" and "),
            '+' if is_digit(&cs, i + 1) => out.push_str(" plus "),
            '°' => {
                let next = cs.get(i + 1).map(|c| c.to_ascii_lowercase());
                match next {
                    Some('c') => {
                        out.push_str(" degrees celsius ");
                        i += 1;
                    }
                    Some('f') => {
                        out.push_str(" degrees fahrenheit ");
                        i += 1;
                    }
                    _ => out.push_str(" degrees "),
                }
            }
            '.' if prev_digit && is_digit(&cs, i + 1) => out.push_str(" point "),
            '.' | '_' if between_letter_runs(&cs, i) => {
                out.push_str(if c == '.' { " dot " } else { " underscore " })
            }
            '_' => out.push(' '),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether the `.` or `_` at `i` joins two runs of at least two letters or digits with a
/// letter among them (`john.doe`, `example.com`, `sara_lee42`), unlike `P.O.` or `4.75`.
fn between_letter_runs(cs: &[char], i: usize) -> bool {
    let mut a = i;
    while a > 0 && cs[a - 1].is_ascii_alphanumeric() {
        a -= 1;
    }
    let mut b = i + 1;
    while b < cs.len() && cs[b].is_ascii_alphanumeric() {
        b += 1;
    }
    let left = &cs[a..i];
    let right = &cs[i + 1..b];
    let ok = |run: &[char]| {
        run.len() >= 2 && run.iter().any(|c| c.is_ascii_alphabetic())
            || (cs[i] == '_' && !run.is_empty())
    };
    ok(left) && ok(right)
}

/// Rule 2: codes spelled out — words mixing letters and digits, and 2–4 capital letters.
fn split_codes(input: &str) -> String {
    let mut out = String::with_capacity(input.len() * 2);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let has_digit = word.chars().any(|c| c.is_ascii_digit());
        let has_letter = word.chars().any(|c| c.is_ascii_alphabetic());
        let letters = word.chars().count();
        let lower = word.to_ascii_lowercase();
        // Capitals said as a word (PIN, ZIP) or a unit (MG, KG) are not spelled codes.
        let said =
            matches!(lower.as_str(), "am" | "pm" | "pin" | "zip") || synonym(&lower).is_some();
        let caps =
            (2..=4).contains(&letters) && word.chars().all(|c| c.is_ascii_uppercase()) && !said;
        // `9am`, `10pm`: a time and its meridiem, not a code.
        let meridiem_suffix = has_digit
            && (lower.ends_with("am") || lower.ends_with("pm"))
            && lower[..lower.len() - 2].chars().all(|c| c.is_ascii_digit());
        if meridiem_suffix {
            let (h, m) = lower.split_at(lower.len() - 2);
            out.push_str(&format!(" {h} {m} "));
            word.clear();
            return;
        }
        if (has_digit && has_letter) || caps {
            for c in word.chars() {
                out.push(' ');
                out.push(c);
            }
            out.push(' ');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in input.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Unit,
    Teen,
    Tens,
    Hundred,
    Scale,
}

fn number_word(w: &str) -> Option<(u64, Kind, bool)> {
    const UNITS: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    const TEENS: [&str; 10] = [
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    const UNIT_ORD: [&str; 10] = [
        "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
        "ninth",
    ];
    const TEEN_ORD: [&str; 10] = [
        "tenth",
        "eleventh",
        "twelfth",
        "thirteenth",
        "fourteenth",
        "fifteenth",
        "sixteenth",
        "seventeenth",
        "eighteenth",
        "nineteenth",
    ];
    const TENS_ORD: [&str; 8] = [
        "twentieth",
        "thirtieth",
        "fortieth",
        "fiftieth",
        "sixtieth",
        "seventieth",
        "eightieth",
        "ninetieth",
    ];
    let find = |list: &[&str], w: &str| list.iter().position(|x| *x == w);
    if let Some(n) = find(&UNITS, w) {
        return Some((n as u64, Kind::Unit, false));
    }
    if let Some(n) = find(&TEENS, w) {
        return Some((10 + n as u64, Kind::Teen, false));
    }
    if let Some(n) = find(&TENS, w) {
        return Some((20 + 10 * n as u64, Kind::Tens, false));
    }
    // "second" is kept as a unit word except next to other numbers (see the caller).
    if let Some(n) = find(&UNIT_ORD, w) {
        return Some((n as u64, Kind::Unit, true));
    }
    if let Some(n) = find(&TEEN_ORD, w) {
        return Some((10 + n as u64, Kind::Teen, true));
    }
    if let Some(n) = find(&TENS_ORD, w) {
        return Some((20 + 10 * n as u64, Kind::Tens, true));
    }
    match w {
        "hundred" => Some((100, Kind::Hundred, false)),
        "hundredth" => Some((100, Kind::Hundred, true)),
        "thousand" => Some((1_000, Kind::Scale, false)),
        "thousandth" => Some((1_000, Kind::Scale, true)),
        "million" => Some((1_000_000, Kind::Scale, false)),
        "billion" => Some((1_000_000_000, Kind::Scale, false)),
        _ => None,
    }
}

/// Rule 4: runs of number words become numbers.
fn number_words_to_numbers(words: &[String]) -> Vec<String> {
    struct Acc {
        total: u64,
        group: u64,
        last: Option<Kind>,
    }
    impl Acc {
        fn flush(&mut self, out: &mut Vec<String>) {
            if self.last.is_some() {
                out.push((self.total + self.group).to_string());
            }
            self.total = 0;
            self.group = 0;
            self.last = None;
        }
    }
    let is_num = |w: &str| number_word(w).is_some() || w.chars().all(|c| c.is_ascii_digit());
    let mut out = Vec::with_capacity(words.len());
    let mut acc = Acc {
        total: 0,
        group: 0,
        last: None,
    };
    for (k, w) in words.iter().enumerate() {
        let near_number = |k: usize| {
            (k > 0 && is_num(&words[k - 1])) || words.get(k + 1).is_some_and(|n| is_num(n))
        };
        let w_eff = if w == "oh" && near_number(k) {
            "zero"
        } else {
            w.as_str()
        };
        let Some((v, kind, ordinal)) = number_word(w_eff) else {
            acc.flush(&mut out);
            out.push(w.clone());
            continue;
        };
        // "second"/"minute" as a time unit: only a number next to other numbers.
        if w == "second" && acc.last.is_none() && !near_number(k) {
            out.push(w.clone());
            continue;
        }
        let joins = match (acc.last, kind) {
            (None, _) => false,
            (Some(Kind::Tens), Kind::Unit) => acc.group.is_multiple_of(10) && v > 0,
            (Some(Kind::Hundred | Kind::Scale), Kind::Unit | Kind::Teen | Kind::Tens) => true,
            (Some(Kind::Unit | Kind::Teen | Kind::Tens), Kind::Hundred) => true,
            (Some(Kind::Unit | Kind::Teen | Kind::Tens | Kind::Hundred), Kind::Scale) => true,
            _ => false,
        };
        if !joins {
            acc.flush(&mut out);
        }
        match kind {
            Kind::Hundred if acc.last.is_some() => acc.group *= 100,
            Kind::Hundred => acc.group = 100,
            Kind::Scale if acc.last.is_some() => {
                acc.total += acc.group.max(1) * v;
                acc.group = 0;
            }
            Kind::Scale => acc.total = v,
            _ => acc.group += v,
        }
        acc.last = Some(kind);
        if ordinal {
            acc.flush(&mut out);
        }
    }
    acc.flush(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        canonical_words(s).join(" ")
    }

    #[test]
    fn written_and_spoken_forms_meet() {
        let same = [
            (
                "Your balance is $1,250.50.",
                "your balance is one thousand two hundred fifty dollars and fifty cents",
            ),
            ("on 11/28/2026", "on November 28th, 2026"),
            (
                "on 11/28/2026",
                "on november twenty-eighth twenty twenty-six",
            ),
            ("2026-11-28", "November 28, 2026"),
            ("Call 555-0123.", "Call five five five, zero one two three."),
            ("order AB-12345", "order A B 1 2 3 4 5"),
            ("order #A7X93", "order number A seven X nine three"),
            ("code K9Z4Q", "code k 9 z 4 q"),
            ("john.doe@example.com", "John dot doe at example dot com"),
            ("at 3:15 PM", "at three fifteen p.m."),
            ("at 3:15 PM", "at 3.15 pm"),
            ("at 9 am", "at 9am"),
            ("your PIN and 500 mg", "your pin and 500 MG"),
            ("at 10:00 a.m.", "at ten o'clock AM"),
            ("15%", "fifteen percent"),
            ("2.5 kg", "two point five kilograms"),
            ("25°C", "twenty five degrees Celsius"),
            ("Dr. Smith", "Doctor Smith"),
            (
                "+1 (555) 012-3456",
                "plus one five five five oh one two three four five six",
            ),
        ];
        for (a, b) in same {
            assert_eq!(c(a), c(b), "{a:?} vs {b:?}");
            assert_eq!(canonical_wer(a, b).errors(), 0);
        }
    }

    #[test]
    fn different_content_still_differs() {
        assert!(canonical_wer("Call 555-0123", "Call 555-0124").errors() > 0);
        assert!(canonical_wer("$45", "$54").errors() > 0);
        assert!(canonical_wer("on 11/28", "on November 27th").errors() > 0);
        assert!(canonical_wer("order AB-12345", "order A D 12345").errors() > 0);
    }

    #[test]
    fn number_words_parse() {
        assert_eq!(c("twenty twenty-six"), "2 0 2 6");
        assert_eq!(c("nineteen ninety"), "1 9 9 0");
        assert_eq!(c("one thousand two hundred fifty"), "1 2 5 0");
        assert_eq!(c("two million five hundred thousand"), "2 5 0 0 0 0 0");
        assert_eq!(c("a second please"), "a sec please");
    }
}
