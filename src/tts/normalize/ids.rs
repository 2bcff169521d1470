//! Things a phone agent must spell out rather than read as words or numbers: alphanumeric
//! order and policy IDs (`AB-12345`, `A7X93`, `PLX-2049-77`), long digit runs (grouped), and
//! e-mail addresses (`john.doe@example.com` → "john dot doe at example dot com").

use super::Language;

/// Longest run of letters that still counts as part of an ID (`PLX-2049`); longer runs are
/// words (`COVID-19`, `Model3` stay words).
const MAX_ID_LETTERS: usize = 4;

const EN_DIGITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
const RU_DIGITS: [&str; 10] = [
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
];

/// How Russian speakers name Latin letters in codes («эй», «би»…).
const RU_LATIN_LETTERS: [&str; 26] = [
    "эй",
    "би",
    "си",
    "ди",
    "и",
    "эф",
    "джи",
    "эйч",
    "ай",
    "джей",
    "кей",
    "эл",
    "эм",
    "эн",
    "оу",
    "пи",
    "кью",
    "ар",
    "эс",
    "ти",
    "ю",
    "ви",
    "дабл-ю",
    "экс",
    "уай",
    "зед",
];

/// Sizes of the groups a digit run of `n` digits is read in: up to 4 at once, longer runs in
/// threes with the remainder at the end (`5550123` → 3 + 4, `12345` → 3 + 2).
pub(crate) fn digit_groups(n: usize) -> Vec<usize> {
    if n <= 4 {
        return vec![n];
    }
    let mut groups = vec![3; n / 3];
    match n % 3 {
        0 => {}
        1 => *groups.last_mut().expect("n > 4") += 1,
        _ => groups.push(2),
    }
    groups
}

/// A digit string read digit by digit in groups separated by commas (pauses).
pub(crate) fn spell_digits(digits: &str, lang: Language) -> String {
    let names = match lang {
        Language::English => &EN_DIGITS,
        Language::Russian => &RU_DIGITS,
    };
    let ds: Vec<usize> = digits
        .chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| d as usize)
        .collect();
    let mut out = Vec::new();
    let mut at = 0;
    for g in digit_groups(ds.len()) {
        let words: Vec<&str> = ds[at..at + g].iter().map(|&d| names[d]).collect();
        out.push(words.join(" "));
        at += g;
    }
    out.join(", ")
}

/// A run of letters spelled letter by letter. English: capitals joined by hyphens, which
/// espeak-ng reads as letter names ("A-B" → /eɪ biː/; a lone "A" would be the article).
/// Russian: Latin letters by their Russian names, Cyrillic capitals hyphen-joined.
fn spell_letters(letters: &str, lang: Language) -> String {
    let upper: Vec<char> = letters.chars().flat_map(char::to_uppercase).collect();
    match lang {
        Language::English => {
            let s: Vec<String> = upper.iter().map(char::to_string).collect();
            let joined = s.join("-");
            // A single letter: add a hyphen after A so it is not read as the article.
            if joined == "A" {
                "A-".into()
            } else {
                joined
            }
        }
        Language::Russian => {
            let s: Vec<String> = upper
                .iter()
                .map(|&c| {
                    if c.is_ascii_uppercase() {
                        RU_LATIN_LETTERS[(c as u8 - b'A') as usize].to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            s.join("-")
        }
    }
}

fn is_id_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// An alphanumeric ID starting at `i` (at a word start): letters and digits, optionally in
/// parts joined by `-`, with at least one letter and one digit, no letter run longer than
/// [`MAX_ID_LETTERS`]. Returns its spoken form and the index after it.
pub(crate) fn alphanumeric_id(cs: &[char], i: usize, lang: Language) -> Option<(String, usize)> {
    let mut j = i;
    loop {
        while j < cs.len() && is_id_char(cs[j]) {
            j += 1;
        }
        // `-` joins parts only between two ID characters (`AB-123`, not `AB-`).
        if j + 1 < cs.len() && cs[j] == '-' && is_id_char(cs[j + 1]) {
            j += 1;
        } else {
            break;
        }
    }
    let token: String = cs[i..j].iter().collect();
    if !token.chars().any(|c| c.is_ascii_digit()) || !token.chars().any(char::is_alphabetic) {
        return None;
    }
    let parts: Vec<&str> = token.split('-').collect();
    let mut spoken = Vec::new();
    for part in &parts {
        let mut runs: Vec<String> = Vec::new();
        let mut k = 0;
        let pc: Vec<char> = part.chars().collect();
        while k < pc.len() {
            let digit = pc[k].is_ascii_digit();
            let start = k;
            while k < pc.len() && pc[k].is_ascii_digit() == digit && pc[k].is_alphanumeric() {
                k += 1;
            }
            if k == start {
                return None; // a non-ASCII digit or other odd character: not an ID
            }
            let run: String = pc[start..k].iter().collect();
            if digit {
                runs.push(spell_digits(&run, lang));
            } else {
                if run.chars().count() > MAX_ID_LETTERS {
                    return None;
                }
                runs.push(spell_letters(&run, lang));
            }
        }
        spoken.push(runs.join(" "));
    }
    Some((spoken.join(", "), j))
}

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

/// Speaks one part of an address (`john.doe_1`): separators named, digit runs spelled,
/// letter runs kept as words (espeak-ng reads names and spells unpronounceable clusters).
fn address_part(part: &str, lang: Language) -> String {
    let (dot, underscore, dash, plus) = match lang {
        Language::English => ("dot", "underscore", "dash", "plus"),
        Language::Russian => ("точка", "нижнее подчёркивание", "дефис", "плюс"),
    };
    let mut out: Vec<String> = Vec::new();
    let cs: Vec<char> = part.chars().collect();
    let mut k = 0;
    while k < cs.len() {
        let c = cs[k];
        if c.is_ascii_digit() {
            let s = k;
            while k < cs.len() && cs[k].is_ascii_digit() {
                k += 1;
            }
            let run: String = cs[s..k].iter().collect();
            out.push(spell_digits(&run, lang).replace(", ", " "));
            continue;
        }
        if c.is_ascii_alphabetic() {
            let s = k;
            while k < cs.len() && cs[k].is_ascii_alphabetic() {
                k += 1;
            }
            let run: String = cs[s..k].iter().collect::<String>().to_lowercase();
            // One or two letters are spelled (`j.doe` → "J dot doe", `uk` → "U-K"), except
            // the two-letter parts people say as words (`co`, `ru`).
            const SAID: [&str; 9] = ["co", "ru", "me", "my", "go", "to", "no", "so", "do"];
            if run.len() <= 2 && !SAID.contains(&run.as_str()) {
                out.push(spell_letters(&run, lang));
            } else {
                out.push(run);
            }
            continue;
        }
        out.push(
            match c {
                '.' => dot,
                '_' => underscore,
                '-' => dash,
                '+' => plus,
                _ => "",
            }
            .to_string(),
        );
        k += 1;
    }
    out.retain(|w| !w.is_empty());
    out.join(" ")
}

/// An e-mail address starting at `i`; its spoken form and the index after it. A trailing dot
/// (end of sentence) is not part of the address.
pub(crate) fn email(cs: &[char], i: usize, lang: Language) -> Option<(String, usize)> {
    let mut at = i;
    while at < cs.len() && is_local_char(cs[at]) {
        at += 1;
    }
    if at == i || cs.get(at) != Some(&'@') {
        return None;
    }
    let mut end = at + 1;
    while end < cs.len() && is_domain_char(cs[end]) {
        end += 1;
    }
    while end > at + 1 && matches!(cs[end - 1], '.' | '-') {
        end -= 1;
    }
    let local: String = cs[i..at].iter().collect();
    let domain: String = cs[at + 1..end].iter().collect();
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| l.is_empty())
        || !labels.last()?.chars().all(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    let at_word = match lang {
        Language::English => "at",
        Language::Russian => "собака",
    };
    Some((
        format!(
            "{} {at_word} {}",
            address_part(&local, lang),
            address_part(&domain, lang)
        ),
        end,
    ))
}

/// A bare web domain at `i` (`example.com`, `www.shop.co.uk`): labels of letters, digits and
/// hyphens with a known top-level domain last.
pub(crate) fn domain(cs: &[char], i: usize, lang: Language) -> Option<(String, usize)> {
    const TLDS: [&str; 11] = [
        "com", "org", "net", "ru", "io", "us", "uk", "info", "biz", "edu", "gov",
    ];
    let mut end = i;
    while end < cs.len() && is_domain_char(cs[end]) {
        end += 1;
    }
    while end > i && matches!(cs[end - 1], '.' | '-') {
        end -= 1;
    }
    let text: String = cs[i..end].iter().collect();
    let labels: Vec<&str> = text.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    let tld = labels.last()?.to_lowercase();
    if !TLDS.contains(&tld.as_str()) || cs.get(end).is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    Some((address_part(&text, lang), end))
}
