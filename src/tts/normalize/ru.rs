//! Russian: numbers with gender and plural agreement, ordinals in six cases, dates, money,
//! percentages, phone numbers, abbreviations.

use super::lexer::{ends_sentence_at, Amount, Context, Currency, NumericToken, Scale};
pub use super::ru_numbers::{cardinal, ordinal, plural, Case, Gender};
use super::ru_numbers::{decimal, digits, UNITS};

const MONTHS_GEN: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];

/// Month number of a genitive month name («ноября» → 11).
pub fn month_genitive(word: &str) -> Option<u32> {
    MONTHS_GEN
        .iter()
        .position(|m| *m == word)
        .map(|i| i as u32 + 1)
}

/// Case a preposition before a date or ordinal asks for.
fn case_after(prev_word: &str) -> Case {
    match prev_word {
        "до" | "с" | "со" | "от" | "после" | "около" | "из" | "у" | "для" | "кроме" | "начиная"
        | "позднее" | "раньше" => Case::Gen,
        "к" | "ко" | "по" => Case::Dat,
        _ => Case::Nom,
    }
}

/// Words of a day of month: «двадцать первое» / «двадцать первого» after «до».
fn day_words(day: u32, prev_word: &str) -> String {
    let case = case_after(prev_word);
    let case = if case == Case::Acc { Case::Nom } else { case };
    ordinal(day as u64, Gender::Neut, case)
}

/// A year as an ordinal, «две тысячи двадцать шестого», in `case`.
fn year_words(year: u64, case: Case) -> String {
    ordinal(year, Gender::Masc, case)
}

/// Whether `suffix` (after `N-`) is an ordinal ending we know.
pub(crate) fn is_ordinal_suffix(suffix: &str) -> bool {
    ordinal_form(suffix).is_some()
}

/// Gender and case of an ordinal written `N-суффикс`.
fn ordinal_form(suffix: &str) -> Option<(Gender, Case)> {
    use Case::*;
    use Gender::*;
    Some(match suffix {
        "й" | "ый" | "ий" | "ой" => (Masc, Nom),
        "го" | "ого" | "его" => (Masc, Gen),
        "му" | "ому" | "ему" => (Masc, Dat),
        "м" | "ом" | "ем" => (Masc, Prep),
        "ым" | "им" => (Masc, Ins),
        "я" | "ая" | "ья" => (Fem, Nom),
        "ю" | "ую" | "ью" => (Fem, Acc),
        "е" | "ое" | "ье" => (Neut, Nom),
        _ => return None,
    })
}

/// End of a year marker («г.», «год», «года», «году», «годом») starting at `i`.
pub(crate) fn year_marker(cs: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    while j < cs.len() && cs[j].is_alphabetic() {
        j += 1;
    }
    let word: String = cs[i..j].iter().collect();
    match word.as_str() {
        "г" if cs.get(j) == Some(&'.') => Some(if ends_sentence_at(cs, j + 1) {
            j
        } else {
            j + 1
        }),
        "год" | "года" | "году" | "годом" | "годе" => Some(j),
        _ => None,
    }
}

/// The currency a Russian word after an amount names (`руб`, `рублей`, `коп`, `долларов`…).
pub(crate) fn currency_word(lower: &str) -> Option<Currency> {
    if lower == "р" || lower == "руб" || lower.starts_with("рубл") {
        Some(Currency::Rub)
    } else if lower == "коп" || lower.starts_with("копе") {
        Some(Currency::Kopeck)
    } else if lower == "долл" || lower.starts_with("доллар") {
        Some(Currency::Usd)
    } else if lower == "евро" {
        Some(Currency::Eur)
    } else if lower.starts_with("цент") {
        Some(Currency::Cent)
    } else if lower.starts_with("фунт") {
        Some(Currency::Gbp)
    } else {
        None
    }
}

/// Gender and plural forms of a unit of measure written after a number.
pub(crate) fn unit_forms(unit: &str) -> Option<(Gender, [&'static str; 3])> {
    use Gender::*;
    Some(match unit {
        "кг" => (Masc, ["килограмм", "килограмма", "килограммов"]),
        "г" | "гр" => (Masc, ["грамм", "грамма", "граммов"]),
        "км" => (Masc, ["километр", "километра", "километров"]),
        "м" => (Masc, ["метр", "метра", "метров"]),
        "см" => (Masc, ["сантиметр", "сантиметра", "сантиметров"]),
        "мм" => (Masc, ["миллиметр", "миллиметра", "миллиметров"]),
        "л" => (Masc, ["литр", "литра", "литров"]),
        "мин" => (Fem, ["минута", "минуты", "минут"]),
        "ч" => (Masc, ["час", "часа", "часов"]),
        "сек" => (Fem, ["секунда", "секунды", "секунд"]),
        "шт" => (Fem, ["штука", "штуки", "штук"]),
        "мес" => (Masc, ["месяц", "месяца", "месяцев"]),
        "чел" => (Masc, ["человек", "человека", "человек"]),
        "мг" => (Masc, ["миллиграмм", "миллиграмма", "миллиграммов"]),
        "мл" => (Masc, ["миллилитр", "миллилитра", "миллилитров"]),
        "км/ч" => (
            Masc,
            ["километр в час", "километра в час", "километров в час"],
        ),
        "гб" => (Masc, ["гигабайт", "гигабайта", "гигабайт"]),
        "мб" => (Masc, ["мегабайт", "мегабайта", "мегабайт"]),
        "квт" => (Masc, ["киловатт", "киловатта", "киловатт"]),
        "°" => (Masc, ["градус", "градуса", "градусов"]),
        "°c" => (
            Masc,
            ["градус Цельсия", "градуса Цельсия", "градусов Цельсия"],
        ),
        _ => return None,
    })
}

/// Gender and plural forms of a currency and of its minor unit.
fn currency_forms(c: Currency) -> (Gender, [&'static str; 3], Option<[&'static str; 3]>) {
    match c {
        Currency::Rub => (
            Gender::Masc,
            ["рубль", "рубля", "рублей"],
            Some(["копейка", "копейки", "копеек"]),
        ),
        Currency::Kopeck => (Gender::Fem, ["копейка", "копейки", "копеек"], None),
        Currency::Usd => (
            Gender::Masc,
            ["доллар", "доллара", "долларов"],
            Some(["цент", "цента", "центов"]),
        ),
        Currency::Cent => (Gender::Masc, ["цент", "цента", "центов"], None),
        Currency::Eur => (
            Gender::Masc,
            ["евро", "евро", "евро"],
            Some(["цент", "цента", "центов"]),
        ),
        Currency::Gbp => (
            Gender::Masc,
            ["фунт", "фунта", "фунтов"],
            Some(["пенс", "пенса", "пенсов"]),
        ),
    }
}

fn scale_forms(s: Scale) -> (u64, Gender, [&'static str; 3]) {
    match s {
        Scale::Thousand => (1_000, Gender::Fem, ["тысяча", "тысячи", "тысяч"]),
        Scale::Million => (
            1_000_000,
            Gender::Masc,
            ["миллион", "миллиона", "миллионов"],
        ),
        Scale::Billion => (
            1_000_000_000,
            Gender::Masc,
            ["миллиард", "миллиарда", "миллиардов"],
        ),
    }
}

/// A number agreeing with a noun of gender `g` and the noun's plural form after it.
fn counted(amount: &Amount, g: Gender, forms: [&str; 3]) -> String {
    match &amount.frac {
        None => format!("{} {}", cardinal(amount.int, g), plural(amount.int, forms)),
        // After a fraction the noun is genitive singular: «две целых пять десятых процента».
        Some(f) => format!("{} {}", decimal(amount.int, f), forms[1]),
    }
}

fn money(amount: &Amount, currency: Currency, scale: Option<Scale>) -> String {
    let (gender, forms, minor) = currency_forms(currency);
    if let Some(s) = scale {
        let (_, sg, sforms) = scale_forms(s);
        return format!("{} {}", counted(amount, sg, sforms), forms[2]);
    }
    let minor_value = amount.frac.as_ref().and_then(|f| {
        let two: String = f.chars().chain(std::iter::repeat('0')).take(2).collect();
        two.parse::<u64>().ok()
    });
    match (minor, minor_value) {
        (Some(mforms), Some(m)) => {
            let major = if amount.int > 0 || m == 0 {
                format!(
                    "{} {}",
                    cardinal(amount.int, gender),
                    plural(amount.int, forms)
                )
            } else {
                String::new()
            };
            if m == 0 {
                return major;
            }
            let mgender = if currency == Currency::Rub {
                Gender::Fem
            } else {
                Gender::Masc
            };
            let minor = format!("{} {}", cardinal(m, mgender), plural(m, mforms));
            if major.is_empty() {
                minor
            } else {
                format!("{major} {minor}")
            }
        }
        _ => counted(amount, gender, forms),
    }
}

fn number(amount: &Amount, scale: Option<Scale>) -> String {
    if let Some(s) = scale {
        let (_, g, forms) = scale_forms(s);
        return counted(amount, g, forms);
    }
    match &amount.frac {
        None => cardinal(amount.int, Gender::Masc),
        Some(f) => decimal(amount.int, f),
    }
}

fn phone(plus: bool, groups: &[String]) -> String {
    let mut parts = Vec::new();
    for (k, g) in groups.iter().enumerate() {
        let words = if g.starts_with('0') || g.len() > 3 {
            digits(g)
        } else {
            cardinal(g.parse().unwrap_or(0), Gender::Masc)
        };
        if k == 0 && plus {
            parts.push(format!("плюс {words}"));
        } else {
            parts.push(words);
        }
    }
    parts.join(", ")
}

fn time(hour: u32, minute: u32) -> String {
    let h = cardinal(hour as u64, Gender::Masc);
    match minute {
        0 => format!("{h} ноль ноль"),
        1..=9 => format!("{h} ноль {}", UNITS[minute as usize]),
        _ => format!("{h} {}", cardinal(minute as u64, Gender::Fem)),
    }
}

/// Words for a numeric token in Russian.
pub(crate) fn speak(tok: &NumericToken, ctx: Context<'_>) -> String {
    match tok {
        NumericToken::Date { day, month, year } => format!(
            "{} {} {} года",
            day_words(*day, ctx.prev_word),
            MONTHS_GEN[*month as usize - 1],
            year_words(*year as u64, Case::Gen)
        ),
        NumericToken::DayMonth { day, month } => format!(
            "{} {}",
            day_words(*day, ctx.prev_word),
            MONTHS_GEN[*month as usize - 1]
        ),
        NumericToken::DayOfMonth(day) => day_words(*day, ctx.prev_word),
        NumericToken::Time { hour, minute } => time(*hour, *minute),
        NumericToken::Phone { plus, groups } => phone(*plus, groups),
        NumericToken::Digits(d) => super::ids::spell_digits(d, super::Language::Russian),
        NumericToken::Money {
            amount,
            currency,
            scale,
        } => money(amount, *currency, *scale),
        NumericToken::Percent(a) => counted(a, Gender::Masc, ["процент", "процента", "процентов"]),
        NumericToken::Ordinal { n, suffix } => {
            let (g, case) = ordinal_form(suffix).unwrap_or((Gender::Masc, Case::Nom));
            ordinal(*n, g, case)
        }
        NumericToken::Year { n, marker } => {
            let (case, noun) = match marker.as_str() {
                "год" => (Case::Nom, "год"),
                "года" => (Case::Gen, "года"),
                "году" if matches!(ctx.prev_word, "к" | "по") => (Case::Dat, "году"),
                "году" | "годе" => (Case::Prep, "году"),
                "годом" => (Case::Ins, "годом"),
                // «г.»: «в 2026 г.» → «в … шестом году», otherwise «… шестого года».
                _ if matches!(ctx.prev_word, "в" | "во") => (Case::Prep, "году"),
                _ => (Case::Gen, "года"),
            };
            format!("{} {noun}", year_words(*n, case))
        }
        NumericToken::Measure { amount, unit } => match unit_forms(unit) {
            Some((g, forms)) => counted(amount, g, forms),
            None => number(amount, None),
        },
        NumericToken::Number { amount, scale } => number(amount, *scale),
    }
}

/// Abbreviations: (written form, expansion, may end a sentence).
const ABBREVIATIONS: &[(&str, &str, bool)] = &[
    ("т.е.", "то есть", false),
    ("т. е.", "то есть", false),
    ("т.д.", "так далее", true),
    ("т. д.", "так далее", true),
    ("т.п.", "тому подобное", true),
    ("т. п.", "тому подобное", true),
    ("т.к.", "так как", false),
    ("т. к.", "так как", false),
    ("и.о.", "исполняющий обязанности", false),
    ("ул.", "улица", false),
    ("пр-т", "проспект", false),
    ("просп.", "проспект", false),
    ("пер.", "переулок", false),
    ("д.", "дом", false),
    ("кв.", "квартира", false),
    ("корп.", "корпус", false),
    ("стр.", "строение", false),
    ("г.", "город", false),
    ("обл.", "область", false),
    ("руб.", "рублей", true),
    ("коп.", "копеек", true),
    ("тыс.", "тысяч", true),
    ("млн.", "миллионов", true),
    ("млн", "миллионов", true),
    ("млрд.", "миллиардов", true),
    ("млрд", "миллиардов", true),
    ("тел.", "телефон", false),
    ("см.", "смотрите", false),
    ("др.", "другие", true),
    ("напр.", "например", false),
    ("оф.", "офис", false),
    ("эт.", "этаж", false),
    ("каб.", "кабинет", false),
    ("пл.", "площадь", false),
    ("наб.", "набережная", false),
    ("ш.", "шоссе", false),
    ("пос.", "посёлок", false),
    ("доб.", "добавочный", false),
    ("мес.", "месяцев", true),
    ("ок.", "около", false),
    ("зам.", "заместитель", false),
];

/// An abbreviation at `i`: its expansion and the index after it (the dot is kept when the
/// abbreviation ends a sentence).
pub(crate) fn abbreviation(cs: &[char], i: usize, _prev_word: &str) -> Option<(String, usize)> {
    for (written, expansion, may_end) in ABBREVIATIONS {
        let w: Vec<char> = written.chars().collect();
        if cs.len() < i + w.len() {
            continue;
        }
        let matches = cs[i..i + w.len()]
            .iter()
            .zip(&w)
            .all(|(a, b)| a.to_lowercase().eq(b.to_lowercase()));
        let end = i + w.len();
        if !matches || cs.get(end).is_some_and(|c| c.is_alphabetic()) {
            continue;
        }
        let mut words = expansion.to_string();
        if *may_end && written.ends_with('.') && ends_sentence_at(cs, end) {
            words.push('.');
        }
        if cs[i].is_uppercase() {
            let mut chars = words.chars();
            if let Some(first) = chars.next() {
                words = first.to_uppercase().chain(chars).collect();
            }
        }
        return Some((words, end));
    }
    None
}
