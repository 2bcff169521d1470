//! Russian: numbers with gender and plural agreement, ordinals in six cases, dates, money,
//! percentages, phone numbers, abbreviations.

use super::lexer::{ends_sentence_at, Amount, Context, Currency, NumericToken, Scale};

/// Grammatical gender of the counted noun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// Masculine (рубль, доллар, процент).
    Masc,
    /// Feminine (тысяча, копейка).
    Fem,
    /// Neuter (число, евро in some usage).
    Neut,
}

/// Grammatical case of an ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Nominative.
    Nom,
    /// Genitive.
    Gen,
    /// Dative.
    Dat,
    /// Accusative (inanimate).
    Acc,
    /// Instrumental.
    Ins,
    /// Prepositional.
    Prep,
}

/// The three plural forms of a Russian noun after a number: 1 рубль, 2 рубля, 5 рублей.
pub fn plural(n: u64, forms: [&str; 3]) -> &str {
    let (d, h) = (n % 10, n % 100);
    if (11..=14).contains(&h) {
        forms[2]
    } else if d == 1 {
        forms[0]
    } else if (2..=4).contains(&d) {
        forms[1]
    } else {
        forms[2]
    }
}

const UNITS: [&str; 20] = [
    "ноль",
    "один",
    "два",
    "три",
    "четыре",
    "пять",
    "шесть",
    "семь",
    "восемь",
    "девять",
    "десять",
    "одиннадцать",
    "двенадцать",
    "тринадцать",
    "четырнадцать",
    "пятнадцать",
    "шестнадцать",
    "семнадцать",
    "восемнадцать",
    "девятнадцать",
];
const TENS: [&str; 10] = [
    "",
    "",
    "двадцать",
    "тридцать",
    "сорок",
    "пятьдесят",
    "шестьдесят",
    "семьдесят",
    "восемьдесят",
    "девяносто",
];
const HUNDREDS: [&str; 10] = [
    "",
    "сто",
    "двести",
    "триста",
    "четыреста",
    "пятьсот",
    "шестьсот",
    "семьсот",
    "восемьсот",
    "девятьсот",
];
/// Scales above a thousand: value, gender, plural forms.
const SCALES: [(u64, Gender, [&str; 3]); 4] = [
    (
        1_000_000_000_000,
        Gender::Masc,
        ["триллион", "триллиона", "триллионов"],
    ),
    (
        1_000_000_000,
        Gender::Masc,
        ["миллиард", "миллиарда", "миллиардов"],
    ),
    (
        1_000_000,
        Gender::Masc,
        ["миллион", "миллиона", "миллионов"],
    ),
    (1_000, Gender::Fem, ["тысяча", "тысячи", "тысяч"]),
];

fn unit_word(n: u64, g: Gender) -> &'static str {
    match (n, g) {
        (1, Gender::Fem) => "одна",
        (1, Gender::Neut) => "одно",
        (2, Gender::Fem) => "две",
        _ => UNITS[n as usize],
    }
}

/// Words of 1..=999 in gender `g`.
fn triple(n: u64, g: Gender, out: &mut Vec<&'static str>) {
    let (h, rest) = (n / 100, n % 100);
    if h > 0 {
        out.push(HUNDREDS[h as usize]);
    }
    if rest >= 20 {
        out.push(TENS[(rest / 10) as usize]);
        if rest % 10 > 0 {
            out.push(unit_word(rest % 10, g));
        }
    } else if rest > 0 {
        out.push(unit_word(rest, g));
    }
}

/// Cardinal number in the nominative, agreeing with a noun of gender `g`:
/// `cardinal(21_000, Masc)` = «двадцать одна тысяча».
pub fn cardinal(n: u64, g: Gender) -> String {
    if n == 0 {
        return "ноль".into();
    }
    let mut out = Vec::new();
    let mut rest = n;
    for (value, gender, forms) in SCALES {
        let count = rest / value;
        if count > 0 {
            triple(count, gender, &mut out);
            out.push(plural(count, forms));
            rest %= value;
        }
    }
    if rest > 0 {
        triple(rest, g, &mut out);
    }
    out.join(" ")
}

/// How an ordinal's last word declines.
#[derive(Clone, Copy)]
enum OrdKind {
    /// Unstressed `-ый` (первый).
    Hard,
    /// Stressed `-ой` (второй).
    Stressed,
    /// третий.
    Third,
}

fn ord_stem_units(n: u64) -> (&'static str, OrdKind) {
    use OrdKind::*;
    match n {
        0 => ("нулев", Stressed),
        1 => ("перв", Hard),
        2 => ("втор", Stressed),
        3 => ("трет", Third),
        4 => ("четвёрт", Hard),
        5 => ("пят", Hard),
        6 => ("шест", Stressed),
        7 => ("седьм", Stressed),
        8 => ("восьм", Stressed),
        9 => ("девят", Hard),
        10 => ("десят", Hard),
        11 => ("одиннадцат", Hard),
        12 => ("двенадцат", Hard),
        13 => ("тринадцат", Hard),
        14 => ("четырнадцат", Hard),
        15 => ("пятнадцат", Hard),
        16 => ("шестнадцат", Hard),
        17 => ("семнадцат", Hard),
        18 => ("восемнадцат", Hard),
        _ => ("девятнадцат", Hard),
    }
}

fn ord_stem_tens(t: u64) -> (&'static str, OrdKind) {
    let stem = [
        "",
        "",
        "двадцат",
        "тридцат",
        "сороков",
        "пятидесят",
        "шестидесят",
        "семидесят",
        "восьмидесят",
        "девяност",
    ][t as usize];
    (
        stem,
        if t == 4 {
            OrdKind::Stressed
        } else {
            OrdKind::Hard
        },
    )
}

fn ord_stem_hundreds(h: u64) -> &'static str {
    [
        "",
        "сот",
        "двухсот",
        "трёхсот",
        "четырёхсот",
        "пятисот",
        "шестисот",
        "семисот",
        "восьмисот",
        "девятисот",
    ][h as usize]
}

/// Genitive combining form of 1..=999 for compounds like «двухтысячный».
fn genitive_prefix(n: u64) -> String {
    const U: [&str; 20] = [
        "",
        "",
        "двух",
        "трёх",
        "четырёх",
        "пяти",
        "шести",
        "семи",
        "восьми",
        "девяти",
        "десяти",
        "одиннадцати",
        "двенадцати",
        "тринадцати",
        "четырнадцати",
        "пятнадцати",
        "шестнадцати",
        "семнадцати",
        "восемнадцати",
        "девятнадцати",
    ];
    const T: [&str; 10] = [
        "",
        "",
        "двадцати",
        "тридцати",
        "сорока",
        "пятидесяти",
        "шестидесяти",
        "семидесяти",
        "восьмидесяти",
        "девяноста",
    ];
    let mut s = String::new();
    let (h, rest) = (n / 100, n % 100);
    if h > 0 {
        s.push_str(if h == 1 {
            "сто"
        } else {
            ord_stem_hundreds(h)
        });
    }
    if rest >= 20 {
        s.push_str(T[(rest / 10) as usize]);
        if rest % 10 == 1 {
            s.push_str("одно");
        } else {
            s.push_str(U[(rest % 10) as usize]);
        }
    } else if rest == 1 && h > 0 {
        s.push_str("одно");
    } else {
        s.push_str(U[rest as usize]);
    }
    s
}

fn ending(kind: OrdKind, g: Gender, case: Case) -> &'static str {
    use Case::*;
    use Gender::*;
    match kind {
        OrdKind::Third => match (g, case) {
            (Masc, Nom | Acc) => "ий",
            (Fem, Nom) => "ья",
            (Neut, Nom | Acc) => "ье",
            (Masc | Neut, Gen) => "ьего",
            (Masc | Neut, Dat) => "ьему",
            (Masc | Neut, Ins) => "ьим",
            (Masc | Neut, Prep) => "ьем",
            (Fem, Acc) => "ью",
            (Fem, _) => "ьей",
        },
        _ => match (g, case) {
            (Masc, Nom | Acc) => {
                if matches!(kind, OrdKind::Stressed) {
                    "ой"
                } else {
                    "ый"
                }
            }
            (Fem, Nom) => "ая",
            (Neut, Nom | Acc) => "ое",
            (Masc | Neut, Gen) => "ого",
            (Masc | Neut, Dat) => "ому",
            (Masc | Neut, Ins) => "ым",
            (Masc | Neut, Prep) => "ом",
            (Fem, Acc) => "ую",
            (Fem, _) => "ой",
        },
    }
}

/// Ordinal number: `ordinal(2026, Masc, Gen)` = «две тысячи двадцать шестого».
pub fn ordinal(n: u64, g: Gender, case: Case) -> String {
    let last = n % 1000;
    let (prefix, stem, kind) = if n == 0 {
        (String::new(), "нулев".to_string(), OrdKind::Stressed)
    } else if last == 0 {
        // «тысячный», «двухтысячный», «миллионный»: the count fuses into one word.
        let (scale_value, scale_stem) = if n.is_multiple_of(1_000_000_000) {
            (1_000_000_000, "миллиардн")
        } else if n.is_multiple_of(1_000_000) {
            (1_000_000, "миллионн")
        } else {
            (1_000, "тысячн")
        };
        let count = (n / scale_value) % 1000;
        let higher = n - count * scale_value;
        let prefix = if higher > 0 {
            cardinal(higher, Gender::Masc)
        } else {
            String::new()
        };
        (
            prefix,
            format!("{}{scale_stem}", genitive_prefix(count)),
            OrdKind::Hard,
        )
    } else {
        let mut words = Vec::new();
        let higher = n - last;
        let mut prefix = if higher > 0 {
            cardinal(higher, Gender::Masc)
        } else {
            String::new()
        };
        let (h, rest) = (last / 100, last % 100);
        let (stem, kind) = if rest == 0 {
            (ord_stem_hundreds(h), OrdKind::Hard)
        } else {
            if h > 0 {
                words.push(HUNDREDS[h as usize]);
            }
            if rest < 20 {
                ord_stem_units(rest)
            } else if rest % 10 == 0 {
                ord_stem_tens(rest / 10)
            } else {
                words.push(TENS[(rest / 10) as usize]);
                ord_stem_units(rest % 10)
            }
        };
        if !words.is_empty() {
            if !prefix.is_empty() {
                prefix.push(' ');
            }
            prefix.push_str(&words.join(" "));
        }
        (prefix, stem.to_string(), kind)
    };
    let word = format!("{stem}{}", ending(kind, g, case));
    // Ordinals say «тысяча девятьсот…», not «одна тысяча девятьсот…».
    let prefix = prefix.strip_prefix("одна ").unwrap_or(&prefix).to_string();
    if prefix.is_empty() {
        word
    } else {
        format!("{prefix} {word}")
    }
}

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

/// A decimal fraction: «две целых пять десятых» (feminine, as with «доля»).
fn decimal(int: u64, frac: &str) -> String {
    const DENOM: [[&str; 2]; 6] = [
        ["десятая", "десятых"],
        ["сотая", "сотых"],
        ["тысячная", "тысячных"],
        ["десятитысячная", "десятитысячных"],
        ["стотысячная", "стотысячных"],
        ["миллионная", "миллионных"],
    ];
    let int_words = format!(
        "{} {}",
        cardinal(int, Gender::Fem),
        plural(int, ["целая", "целых", "целых"])
    );
    let Ok(f) = frac.parse::<u64>() else {
        return int_words;
    };
    if frac.len() > DENOM.len() {
        return format!("{int_words} {}", digits(frac));
    }
    let d = DENOM[frac.len() - 1];
    let one = f % 10 == 1 && f % 100 != 11;
    format!(
        "{int_words} {} {}",
        cardinal(f, Gender::Fem),
        if one { d[0] } else { d[1] }
    )
}

/// A number agreeing with a noun of gender `g` and the noun's plural form after it.
fn counted(amount: &Amount, g: Gender, forms: [&str; 3]) -> String {
    match &amount.frac {
        None => format!("{} {}", cardinal(amount.int, g), plural(amount.int, forms)),
        // After a fraction the noun is genitive singular: «две целых пять десятых процента».
        Some(f) => format!("{} {}", decimal(amount.int, f), forms[1]),
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
        NumericToken::DayOfMonth(day) => day_words(*day, ctx.prev_word),
        NumericToken::Time { hour, minute } => time(*hour, *minute),
        NumericToken::Phone { plus, groups } => phone(*plus, groups),
        NumericToken::Digits(d) => digits(d),
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
