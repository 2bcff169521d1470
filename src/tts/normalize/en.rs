//! English: cardinals, ordinals, years, dates, money, percentages, phone numbers,
//! abbreviations.

use super::lexer::{ends_sentence_at, Amount, Context, Currency, NumericToken, Scale};

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
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
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const SCALES: [(u64, &str); 4] = [
    (1_000_000_000_000, "trillion"),
    (1_000_000_000, "billion"),
    (1_000_000, "million"),
    (1_000, "thousand"),
];

fn below_100(n: u64) -> String {
    if n < 20 {
        UNITS[n as usize].to_string()
    } else if n.is_multiple_of(10) {
        TENS[(n / 10) as usize].to_string()
    } else {
        format!("{}-{}", TENS[(n / 10) as usize], UNITS[(n % 10) as usize])
    }
}

fn below_1000(n: u64, out: &mut Vec<String>) {
    if n >= 100 {
        out.push(UNITS[(n / 100) as usize].to_string());
        out.push("hundred".into());
    }
    if !n.is_multiple_of(100) {
        out.push(below_100(n % 100));
    }
}

/// Cardinal number: `cardinal(1250)` = "one thousand two hundred fifty".
pub fn cardinal(n: u64) -> String {
    if n == 0 {
        return "zero".into();
    }
    let mut out = Vec::new();
    let mut rest = n;
    for (value, name) in SCALES {
        if rest >= value {
            below_1000(rest / value, &mut out);
            out.push(name.into());
            rest %= value;
        }
    }
    below_1000(rest, &mut out);
    out.join(" ")
}

/// Ordinal number: `ordinal(21)` = "twenty-first".
pub fn ordinal(n: u64) -> String {
    let words = cardinal(n);
    let (head, last) = match words.rfind([' ', '-']) {
        Some(p) => (&words[..=p], &words[p + 1..]),
        None => ("", words.as_str()),
    };
    let last = match last {
        "one" => "first".to_string(),
        "two" => "second".to_string(),
        "three" => "third".to_string(),
        "five" => "fifth".to_string(),
        "eight" => "eighth".to_string(),
        "nine" => "ninth".to_string(),
        "twelve" => "twelfth".to_string(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    format!("{head}{last}")
}

/// A year the way it is said: 2026 → "twenty twenty-six", 2005 → "two thousand five",
/// 1900 → "nineteen hundred".
pub fn year(n: u64) -> String {
    if !(1100..=9999).contains(&n) || (n % 1000 < 10 && n / 1000 == 2) || n.is_multiple_of(1000) {
        return cardinal(n);
    }
    let (hi, lo) = (n / 100, n % 100);
    match lo {
        0 => format!("{} hundred", below_100(hi)),
        1..=9 => format!("{} oh {}", below_100(hi), UNITS[lo as usize]),
        _ => format!("{} {}", below_100(hi), below_100(lo)),
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Month number of an English month name or abbreviation, lower-case ("november", "nov" → 11).
pub fn month_number(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| {
            let m = m.to_lowercase();
            m == word || (word.len() == 3 && m.starts_with(word) && word != "may")
        })
        .map(|i| i as u32 + 1)
}

/// Whether the word before a 4-digit number makes it a year ("in 1990", "since 2020").
pub(crate) fn is_year_context(prev_word: &str) -> bool {
    matches!(
        prev_word,
        "in" | "since" | "until" | "by" | "from" | "year" | "of" | "before" | "after" | "till"
    )
}

/// Whether the word before `11/28` makes a one-digit date part a date ("on 1/5").
pub(crate) fn is_date_context(prev_word: &str) -> bool {
    matches!(
        prev_word,
        "on" | "by" | "until" | "till" | "before" | "after" | "from" | "since" | "due" | "date"
    )
}

/// The currency an English word after an amount names.
pub(crate) fn currency_word(lower: &str) -> Option<Currency> {
    match lower {
        "dollar" | "dollars" | "usd" => Some(Currency::Usd),
        "cent" | "cents" => Some(Currency::Cent),
        "euro" | "euros" => Some(Currency::Eur),
        "pound" | "pounds" => Some(Currency::Gbp),
        "ruble" | "rubles" | "rouble" | "roubles" | "rub" => Some(Currency::Rub),
        "kopeck" | "kopecks" | "kopek" | "kopeks" => Some(Currency::Kopeck),
        _ => None,
    }
}

/// Singular and plural names of a unit of measure written after a number.
pub(crate) fn unit_names(unit: &str) -> Option<[&'static str; 2]> {
    Some(match unit {
        "kg" => ["kilogram", "kilograms"],
        "g" => ["gram", "grams"],
        "km" => ["kilometer", "kilometers"],
        "cm" => ["centimeter", "centimeters"],
        "mm" => ["millimeter", "millimeters"],
        "mi" => ["mile", "miles"],
        "ft" => ["foot", "feet"],
        "lb" | "lbs" => ["pound", "pounds"],
        "oz" => ["ounce", "ounces"],
        "min" | "mins" => ["minute", "minutes"],
        "hr" | "hrs" => ["hour", "hours"],
        "sec" | "secs" => ["second", "seconds"],
        "pcs" => ["piece", "pieces"],
        "mg" => ["milligram", "milligrams"],
        "ml" => ["milliliter", "milliliters"],
        "l" => ["liter", "liters"],
        "mph" => ["mile per hour", "miles per hour"],
        "km/h" => ["kilometer per hour", "kilometers per hour"],
        "kwh" => ["kilowatt hour", "kilowatt hours"],
        "kw" => ["kilowatt", "kilowatts"],
        "gb" => ["gigabyte", "gigabytes"],
        "mb" => ["megabyte", "megabytes"],
        "tb" => ["terabyte", "terabytes"],
        "°" => ["degree", "degrees"],
        "°c" => ["degree Celsius", "degrees Celsius"],
        "°f" => ["degree Fahrenheit", "degrees Fahrenheit"],
        _ => return None,
    })
}

fn currency_names(c: Currency) -> ([&'static str; 2], Option<[&'static str; 2]>) {
    match c {
        Currency::Usd => (["dollar", "dollars"], Some(["cent", "cents"])),
        Currency::Cent => (["cent", "cents"], None),
        Currency::Eur => (["euro", "euros"], Some(["cent", "cents"])),
        Currency::Gbp => (["pound", "pounds"], Some(["penny", "pence"])),
        Currency::Rub => (["ruble", "rubles"], Some(["kopeck", "kopecks"])),
        Currency::Kopeck => (["kopeck", "kopecks"], None),
    }
}

fn scale_word(s: Scale) -> &'static str {
    match s {
        Scale::Thousand => "thousand",
        Scale::Million => "million",
        Scale::Billion => "billion",
    }
}

/// Digits read one by one.
fn digits(s: &str) -> String {
    s.chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| UNITS[d as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn number(a: &Amount) -> String {
    match &a.frac {
        None => cardinal(a.int),
        Some(f) => format!("{} point {}", cardinal(a.int), digits(f)),
    }
}

fn money(a: &Amount, c: Currency, scale: Option<Scale>) -> String {
    let (major, minor) = currency_names(c);
    if let Some(s) = scale {
        return format!("{} {} {}", number(a), scale_word(s), major[1]);
    }
    let pick = |n: u64, forms: [&'static str; 2]| if n == 1 { forms[0] } else { forms[1] };
    let minor_value = a.frac.as_ref().and_then(|f| {
        let two: String = f.chars().chain(std::iter::repeat('0')).take(2).collect();
        two.parse::<u64>().ok()
    });
    match (minor, minor_value) {
        (Some(mforms), Some(m)) if m > 0 => {
            let m_words = format!("{} {}", cardinal(m), pick(m, mforms));
            if a.int == 0 {
                m_words
            } else {
                format!("{} {} and {m_words}", cardinal(a.int), pick(a.int, major))
            }
        }
        (Some(_), _) => format!("{} {}", cardinal(a.int), pick(a.int, major)),
        (None, _) if a.frac.is_some() => format!("{} {}", number(a), major[1]),
        (None, _) => format!("{} {}", cardinal(a.int), pick(a.int, major)),
    }
}

fn time(hour: u32, minute: u32) -> String {
    let h = cardinal(hour as u64);
    match minute {
        0 => format!("{h} o'clock"),
        1..=9 => format!("{h} oh {}", UNITS[minute as usize]),
        _ => format!("{h} {}", below_100(minute as u64)),
    }
}

/// Words for a numeric token in English.
pub(crate) fn speak(tok: &NumericToken, _ctx: Context<'_>) -> String {
    match tok {
        NumericToken::Date {
            day,
            month,
            year: y,
        } => format!(
            "{} {}, {}",
            MONTHS[*month as usize - 1],
            ordinal(*day as u64),
            year(*y as u64)
        ),
        NumericToken::DayMonth { day, month } => {
            format!("{} {}", MONTHS[*month as usize - 1], ordinal(*day as u64))
        }
        NumericToken::DayOfMonth(day) => ordinal(*day as u64),
        NumericToken::Time { hour, minute } => time(*hour, *minute),
        NumericToken::Phone { plus, groups } => {
            let body = groups
                .iter()
                .map(|g| super::ids::spell_digits(g, super::Language::English))
                .collect::<Vec<_>>()
                .join(", ");
            if *plus {
                format!("plus {body}")
            } else {
                body
            }
        }
        NumericToken::Digits(d) => super::ids::spell_digits(d, super::Language::English),
        NumericToken::Money {
            amount,
            currency,
            scale,
        } => money(amount, *currency, *scale),
        NumericToken::Percent(a) => format!("{} percent", number(a)),
        NumericToken::Ordinal { n, .. } => ordinal(*n),
        NumericToken::Year { n, .. } => year(*n),
        NumericToken::Measure { amount, unit } => match unit_names(unit) {
            Some(names) if amount.int == 1 && amount.frac.is_none() => {
                format!("{} {}", number(amount), names[0])
            }
            Some(names) => format!("{} {}", number(amount), names[1]),
            None => number(amount),
        },
        NumericToken::Number { amount, scale } => match scale {
            Some(s) => format!("{} {}", number(amount), scale_word(*s)),
            None => number(amount),
        },
    }
}

/// Abbreviations: (written form, expansion, may end a sentence).
const ABBREVIATIONS: &[(&str, &str, bool)] = &[
    ("Dr.", "Doctor", false),
    ("Mr.", "Mister", false),
    ("Mrs.", "Missus", false),
    ("Ms.", "Miz", false),
    ("Prof.", "Professor", false),
    ("Jr.", "Junior", true),
    ("Sr.", "Senior", true),
    ("etc.", "et cetera", true),
    ("e.g.", "for example", false),
    ("i.e.", "that is", false),
    ("vs.", "versus", false),
    ("approx.", "approximately", false),
    ("Ave.", "Avenue", true),
    ("Blvd.", "Boulevard", true),
    ("Rd.", "Road", true),
    ("Inc.", "Incorporated", true),
    ("Ltd.", "Limited", true),
    ("Co.", "Company", true),
    ("Dept.", "Department", true),
    ("Apt.", "Apartment", false),
    ("Ste.", "Suite", false),
    ("Fl.", "Floor", false),
    ("ext.", "extension", false),
    ("Ext.", "Extension", false),
    ("Corp.", "Corporation", true),
    ("Hwy.", "Highway", true),
    ("Ln.", "Lane", true),
    ("Mt.", "Mount", false),
    ("est.", "estimated", false),
    ("max.", "maximum", false),
    ("qty.", "quantity", false),
    ("Jan.", "January", false),
    ("Feb.", "February", false),
    ("Mar.", "March", false),
    ("Apr.", "April", false),
    ("Aug.", "August", false),
    ("Sep.", "September", false),
    ("Sept.", "September", false),
    ("Oct.", "October", false),
    ("Nov.", "November", false),
    ("Dec.", "December", false),
    ("Mon.", "Monday", false),
    ("Tue.", "Tuesday", false),
    ("Wed.", "Wednesday", false),
    ("Thu.", "Thursday", false),
    ("Fri.", "Friday", false),
    ("Sat.", "Saturday", false),
    ("Sun.", "Sunday", false),
    ("U.S.", "U-S", true),
    ("a.m.", "A-M", true),
    ("p.m.", "P-M", true),
    // Letter acronyms espeak-ng would read as a word ("ID" → /ɪd/).
    ("ID", "I-D", false),
    ("IT", "I-T", false),
    ("IDs", "I-Ds", false),
    ("PIN", "pin", false),
    ("SSN", "S-S-N", false),
    ("ZIP", "zip", false),
    ("FAQ", "F-A-Q", false),
    ("ETA", "E-T-A", false),
    ("USA", "U-S-A", false),
];

/// An abbreviation at `i`: its expansion and the index after it (the dot is kept when the
/// abbreviation ends a sentence).
pub(crate) fn abbreviation(cs: &[char], i: usize, prev_word: &str) -> Option<(String, usize)> {
    let starts = |s: &str| {
        let w: Vec<char> = s.chars().collect();
        cs.len() >= i + w.len()
            && cs[i..i + w.len()] == w[..]
            && !cs.get(i + w.len()).is_some_and(|c| c.is_alphabetic())
    };
    let next_word_start = |end: usize| {
        let mut j = end;
        while j < cs.len() && cs[j] == ' ' {
            j += 1;
        }
        cs.get(j).copied()
    };
    if starts("No.") && next_word_start(i + 3).is_some_and(|c| c.is_ascii_digit()) {
        return Some(("number".into(), i + 3));
    }
    if starts("St.") {
        // "St. Louis" is a saint; "Baker St." is a street.
        let next = next_word_start(i + 3);
        let prev_is_name = prev_word.chars().next().is_some_and(char::is_alphabetic)
            && i >= 2
            && cs[..i - 1]
                .iter()
                .rev()
                .take_while(|c| c.is_alphabetic())
                .last()
                .is_some_and(|c| c.is_uppercase());
        if next.is_some_and(char::is_uppercase) && !prev_is_name {
            return Some(("Saint".into(), i + 3));
        }
        let mut words = String::from("Street");
        if ends_sentence_at(cs, 3 + i) {
            words.push('.');
        }
        return Some((words, i + 3));
    }
    for (written, expansion, may_end) in ABBREVIATIONS {
        if starts(written) {
            let end = i + written.chars().count();
            let mut words = expansion.to_string();
            if *may_end && ends_sentence_at(cs, end) {
                words.push('.');
            }
            return Some((words, end));
        }
    }
    None
}
