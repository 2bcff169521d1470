//! Russian number words: cardinals with gender, ordinals in six cases, plural forms,
//! decimals, digit by digit.

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

pub(crate) const UNITS: [&str; 20] = [
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

/// A decimal fraction: «две целых пять десятых» (feminine, as with «доля»).
pub(crate) fn decimal(int: u64, frac: &str) -> String {
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

/// Digits read one by one.
pub(crate) fn digits(s: &str) -> String {
    s.chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| UNITS[d as usize])
        .collect::<Vec<_>>()
        .join(" ")
}
