//! Text normalisation (Russian and English) and sentence splitting, table-driven.

use enclave::tts::normalize::{en, normalize, ru, Language};
use enclave::tts::sentences::{split_sentences, SentenceSplitter};

fn check(lang: Language, cases: &[(&str, &str)]) {
    let mut bad = Vec::new();
    for (input, want) in cases {
        let got = normalize(input, lang);
        if got != *want {
            bad.push(format!("{input:?}\n   want {want:?}\n   got  {got:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} wrong:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

#[test]
fn russian_cardinals_agree_in_gender_and_number() {
    use ru::Gender::*;
    let cases = [
        (0, Masc, "ноль"),
        (1, Masc, "один"),
        (1, Fem, "одна"),
        (1, Neut, "одно"),
        (2, Fem, "две"),
        (11, Masc, "одиннадцать"),
        (21, Fem, "двадцать одна"),
        (100, Masc, "сто"),
        (999, Masc, "девятьсот девяносто девять"),
        (1000, Masc, "одна тысяча"),
        (2000, Masc, "две тысячи"),
        (5000, Masc, "пять тысяч"),
        (11_000, Masc, "одиннадцать тысяч"),
        (21_000, Masc, "двадцать одна тысяча"),
        (22_000, Masc, "двадцать две тысячи"),
        (1_000_000, Masc, "один миллион"),
        (2_500_000, Masc, "два миллиона пятьсот тысяч"),
        (5_000_000_000, Masc, "пять миллиардов"),
        (1_250, Masc, "одна тысяча двести пятьдесят"),
    ];
    for (n, g, want) in cases {
        assert_eq!(ru::cardinal(n, g), want, "{n} {g:?}");
    }
}

#[test]
fn russian_ordinals_decline() {
    use ru::{Case::*, Gender::*};
    let cases = [
        (1, Neut, Nom, "первое"),
        (21, Neut, Nom, "двадцать первое"),
        (21, Neut, Gen, "двадцать первого"),
        (3, Fem, Nom, "третья"),
        (3, Masc, Gen, "третьего"),
        (2, Masc, Nom, "второй"),
        (40, Masc, Nom, "сороковой"),
        (2026, Masc, Gen, "две тысячи двадцать шестого"),
        (2026, Masc, Prep, "две тысячи двадцать шестом"),
        (1990, Masc, Gen, "тысяча девятьсот девяностого"),
        (2000, Masc, Gen, "двухтысячного"),
        (1000, Masc, Nom, "тысячный"),
        (300, Fem, Acc, "трёхсотую"),
        (7, Fem, Ins, "седьмой"),
    ];
    for (n, g, c, want) in cases {
        assert_eq!(ru::ordinal(n, g, c), want, "{n} {g:?} {c:?}");
    }
}

#[test]
fn russian_plural_forms() {
    let f = ["рубль", "рубля", "рублей"];
    for (n, want) in [
        (1, "рубль"),
        (2, "рубля"),
        (5, "рублей"),
        (11, "рублей"),
        (12, "рублей"),
        (21, "рубль"),
        (22, "рубля"),
        (111, "рублей"),
        (101, "рубль"),
    ] {
        assert_eq!(ru::plural(n, f), want, "{n}");
    }
}

#[test]
fn russian_text() {
    check(
        Language::Russian,
        &[
            ("21.11.2026", "двадцать первое ноября две тысячи двадцать шестого года"),
            ("до 21.11.2026", "до двадцать первого ноября две тысячи двадцать шестого года"),
            ("01.01.2000", "первое января двухтысячного года"),
            ("Сумма 1 250,50 ₽", "Сумма одна тысяча двести пятьдесят рублей пятьдесят копеек"),
            ("1250.50 руб.", "одна тысяча двести пятьдесят рублей пятьдесят копеек."),
            ("1 руб. 1 коп.", "один рубль одна копейка."),
            ("22 рубля 45 коп. Спасибо", "двадцать два рубля сорок пять копеек. Спасибо"),
            ("0,5 рубля", "пятьдесят копеек"),
            ("2 000 руб. за всё", "две тысячи рублей за всё"),
            ("$15.99", "пятнадцать долларов девяносто девять центов"),
            ("€3", "три евро"),
            ("100 USD", "сто долларов"),
            ("21 000", "двадцать одна тысяча"),
            ("5 тыс. руб. в месяц", "пять тысяч рублей в месяц"),
            ("1 тыс. руб.", "одна тысяча рублей."),
            ("1 млн руб", "один миллион рублей"),
            ("1,5 млн", "одна целая пять десятых миллиона"),
            ("3,14", "три целых четырнадцать сотых"),
            ("1,1", "одна целая одна десятая"),
            ("Встреча в 14:30", "Встреча в четырнадцать тридцать"),
            ("в 9:05 и 10:00", "в девять ноль пять и десять ноль ноль"),
            ("Скидка 5%", "Скидка пять процентов"),
            ("1% и 3%", "один процент и три процента"),
            ("2,5%", "две целых пять десятых процента"),
            ("+7 (999) 123-45-67", "плюс семь, девятьсот девяносто девять, сто двадцать три, сорок пять, шестьдесят семь"),
            ("8-800-555-35-35", "восемь, восемьсот, пятьсот пятьдесят пять, тридцать пять, тридцать пять"),
            ("8 800 555 35 35", "восемь, восемьсот, пятьсот пятьдесят пять, тридцать пять, тридцать пять"),
            ("код 0042", "код ноль ноль четыре два"),
            ("т.е. всё", "то есть всё"),
            ("и т.д. Потом", "и так далее. Потом"),
            ("и т. п.", "и тому подобное."),
            ("г. Москва, ул. Ленина, д. 5, кв. 12", "город Москва, улица Ленина, дом пять, квартира двенадцать"),
            ("в 2026 г. было", "в две тысячи двадцать шестом году было"),
            ("с 1990 года", "с тысяча девятьсот девяностого года"),
            ("1-й этаж", "первый этаж"),
            ("2-го числа", "второго числа"),
            ("3-я попытка", "третья попытка"),
            ("21 ноября", "двадцать первое ноября"),
            ("до 1 января", "до первого января"),
            ("№ 5", "номер пять"),
            ("Вы & мы", "Вы и мы"),
            ("Привет 😀 мир 你好", "Привет мир"),
            ("5 кг сахара", "пять килограммов сахара"),
            ("ждать 1 мин.", "ждать одна минута."),
            ("через 2 ч и 21 мин", "через два часа и двадцать одна минута"),
            ("1,5 км", "одна целая пять десятых километра"),
            ("5 г. соли", "пять граммов соли"),
        ],
    );
}

#[test]
fn english_numbers() {
    for (n, want) in [
        (0, "zero"),
        (13, "thirteen"),
        (21, "twenty-one"),
        (100, "one hundred"),
        (1250, "one thousand two hundred fifty"),
        (1_000_001, "one million one"),
    ] {
        assert_eq!(en::cardinal(n), want);
    }
    for (n, want) in [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (12, "twelfth"),
        (20, "twentieth"),
        (21, "twenty-first"),
        (100, "one hundredth"),
    ] {
        assert_eq!(en::ordinal(n), want);
    }
    for (n, want) in [
        (2026, "twenty twenty-six"),
        (2005, "two thousand five"),
        (1900, "nineteen hundred"),
        (1905, "nineteen oh five"),
        (2000, "two thousand"),
        (2010, "twenty ten"),
    ] {
        assert_eq!(en::year(n), want);
    }
}

#[test]
fn english_text() {
    check(
        Language::English,
        &[
            ("21.11.2026", "November twenty-first, twenty twenty-six"),
            ("11/21/2026", "November twenty-first, twenty twenty-six"),
            ("2026-11-21", "November twenty-first, twenty twenty-six"),
            ("$15.99", "fifteen dollars and ninety-nine cents"),
            ("$1.00", "one dollar"),
            ("$0.50", "fifty cents"),
            ("€3", "three euros"),
            ("£2.01", "two pounds and one penny"),
            (
                "1250.50 RUB.",
                "one thousand two hundred fifty rubles and fifty kopecks.",
            ),
            ("$1.5 million", "one point five million dollars"),
            (
                "1,250,000 people",
                "one million two hundred fifty thousand people",
            ),
            ("I have 1 dollars", "I have one dollar"),
            ("Meet at 14:30", "Meet at fourteen thirty"),
            ("at 9:05 or 10:00.", "at nine oh five or ten o'clock."),
            ("5% and 2.5%", "five percent and two point five percent"),
            (
                "Call 555-123-4567",
                "Call five five five, one two three, four five six seven",
            ),
            (
                "+1 (800) 555-0199",
                "plus one, eight zero zero, five five five, zero one nine nine",
            ),
            ("the 21st and 2nd", "the twenty-first and second"),
            ("born in 1990", "born in nineteen ninety"),
            ("on November 21.", "on November twenty-first."),
            ("21 November", "twenty-first November"),
            ("Dr. Smith", "Doctor Smith"),
            ("Mr. and Mrs. Jones", "Mister and Missus Jones"),
            (
                "221 Baker St. It is",
                "two hundred twenty-one Baker Street. It is",
            ),
            ("St. Patrick", "Saint Patrick"),
            ("apples, pears, etc. Then", "apples, pears, et cetera. Then"),
            ("No. 5", "number five"),
            ("3.14159", "three point one four one five nine"),
            ("e.g. this", "for example this"),
            ("Tom & Jerry", "Tom and Jerry"),
            ("ok 👍 好", "ok"),
            ("5 kg and 1 min", "five kilograms and one minute"),
            ("2.5 km", "two point five kilometers"),
        ],
    );
}

#[test]
fn language_from_espeak_voice() {
    assert_eq!(Language::from_espeak_voice("ru"), Some(Language::Russian));
    assert_eq!(
        Language::from_espeak_voice("en-us"),
        Some(Language::English)
    );
    assert_eq!(
        Language::from_espeak_voice("en-gb-x-rp"),
        Some(Language::English)
    );
    assert_eq!(Language::from_espeak_voice("de"), None);
}

#[test]
fn sentences_split_on_ru_and_en_punctuation() {
    let cases: &[(&str, &[&str])] = &[
        (
            "Привет! Как дела? Хорошо.",
            &["Привет!", "Как дела?", "Хорошо."],
        ),
        (
            "Hello. How are you? Fine!",
            &["Hello.", "How are you?", "Fine!"],
        ),
        ("Это стоит 3.5 рубля. Да.", &["Это стоит 3.5 рубля.", "Да."]),
        (
            "Dr. Smith is here. Mr. Jones too.",
            &["Dr. Smith is here.", "Mr. Jones too."],
        ),
        (
            "Улица: ул. Ленина, д. 5. Ждём.",
            &["Улица: ул. Ленина, д. 5.", "Ждём."],
        ),
        (
            "Поэт А. С. Пушкин родился. Да.",
            &["Поэт А. С. Пушкин родился.", "Да."],
        ),
        ("и т.д. Потом всё.", &["и т.д.", "Потом всё."]),
        (
            "Wait... What? «Да». Ok",
            &["Wait...", "What?", "«Да».", "Ok"],
        ),
        ("lower. case continues", &["lower. case continues"]),
        ("Абзац\n\nДругой", &["Абзац", "Другой"]),
        ("   ", &[]),
    ];
    for (text, want) in cases {
        assert_eq!(split_sentences(text, 400), *want, "{text:?}");
    }
}

#[test]
fn long_sentences_are_cut_at_commas_then_spaces() {
    let long = "слово, ".repeat(200); // 1400 chars, no sentence end
    let parts = split_sentences(&long, 100);
    assert!(parts.len() >= 14, "{}", parts.len());
    assert!(parts.iter().all(|p| p.chars().count() <= 100));
    assert!(
        parts.iter().all(|p| p.ends_with(',')),
        "cut after commas: {parts:?}"
    );
    let words = "word ".repeat(100);
    assert!(split_sentences(&words, 50)
        .iter()
        .all(|p| p.len() <= 50 && !p.contains("wor ")));
    let no_spaces = "x".repeat(1000);
    let parts = split_sentences(&no_spaces, 300);
    assert_eq!(parts.concat(), no_spaces);
}

#[test]
fn streaming_splitter_emits_sentences_as_they_complete() {
    let mut s = SentenceSplitter::new(400);
    assert!(s.push("Здравствуйте! ").is_empty(), "next char unknown yet");
    assert_eq!(s.push("Ваш баланс 3."), vec!["Здравствуйте!"]);
    assert!(s.push("5 руб").is_empty(), "3.5 is a decimal");
    assert_eq!(s.push("лей. Спасибо"), vec!["Ваш баланс 3.5 рублей."]);
    assert_eq!(s.finish(), vec!["Спасибо"]);
}

#[test]
fn ten_thousand_characters_normalise_and_split_without_loss() {
    let text = "Ваш платёж 1 250,50 ₽ принят 21.11.2026 в 14:30. ".repeat(250);
    assert!(text.chars().count() > 10_000);
    let norm = normalize(&text, Language::Russian);
    assert_eq!(
        norm.matches("одна тысяча двести пятьдесят рублей").count(),
        250
    );
    let parts = split_sentences(&norm, 400);
    assert_eq!(parts.len(), 250);
}

/// What a phone agent must say digit by digit, letter by letter, or as a date (issue 9).
#[test]
fn english_phone_agent_reads_codes_dates_and_addresses() {
    check(
        Language::English,
        &[
            (
                "+1 (555) 012-3456",
                "plus one, five five five, zero one two, three four five six",
            ),
            ("Call 555-0123.", "Call five five five, zero one two three."),
            (
                "1-800-555-0199",
                "one, eight zero zero, five five five, zero one nine nine",
            ),
            (
                "5550123456",
                "five five five, zero one two, three four five six",
            ),
            ("ZIP 94105", "zip nine four one, zero five"),
            ("on 11/28", "on November twenty-eighth"),
            ("on 1/5", "on January fifth"),
            ("11/28/2026", "November twenty-eighth, twenty twenty-six"),
            ("2026-11-28", "November twenty-eighth, twenty twenty-six"),
            (
                "November 28, 2026",
                "November twenty-eighth, twenty twenty-six",
            ),
            ("at 2:30 PM", "at two thirty P-M"),
            ("at 10:00 a.m. on Monday", "at ten A-M on Monday"),
            ("by 9 am", "by nine A-M"),
            ("AB-12345", "A-B, one two three, four five"),
            ("order #A7X93", "order number A- seven X nine three"),
            (
                "policy PLX-2049-77",
                "policy P-L-X, two zero four nine, seven seven",
            ),
            ("ticket 2049-77", "ticket two zero four nine, seven seven"),
            ("COVID-19 rules", "COVID nineteen rules"),
            ("john.doe@example.com", "john dot doe at example dot com"),
            (
                "Write to j_smith42@mail.shop.co.uk.",
                "Write to J underscore smith four two at mail dot shop dot co dot U-K.",
            ),
            ("Visit example.com.", "Visit example dot com."),
            ("12.5% APR", "twelve point five percent APR"),
            ("25°C", "twenty-five degrees Celsius"),
            ("77 °F", "seventy-seven degrees Fahrenheit"),
            ("500 mg", "five hundred milligrams"),
            ("60 km/h", "sixty kilometers per hour"),
            ("1 GB", "one gigabyte"),
            (
                "$1,250.50",
                "one thousand two hundred fifty dollars and fifty cents",
            ),
            ("$45", "forty-five dollars"),
            ("25 people", "twenty-five people"),
            ("Ste. 200", "Suite two hundred"),
            ("your ID is", "your I-D is"),
            ("Dec. 3", "December third"),
            ("call ext. 204", "call extension two hundred four"),
            ("on St. Mary's Rd.", "on Saint Mary's Road."),
            ("card ending in 4417", "card ending in four four one seven"),
            ("2500 people", "two thousand five hundred people"),
            ("March 1st, 2024", "March first, twenty twenty-four"),
            ("the IT team", "the I-T team"),
        ],
    );
}

/// The same for Russian: phone groups as Russians say them, dates with case, codes spelled.
#[test]
fn russian_phone_agent_reads_codes_dates_and_addresses() {
    check(
        Language::Russian,
        &[
            (
                "8 800 555-35-35",
                "восемь, восемьсот, пятьсот пятьдесят пять, тридцать пять, тридцать пять",
            ),
            (
                "+7 912 345-67-89",
                "плюс семь, девятьсот двенадцать, триста сорок пять, шестьдесят семь, восемьдесят девять",
            ),
            (
                "28.11.2026",
                "двадцать восьмое ноября две тысячи двадцать шестого года",
            ),
            ("до 28.11", "до двадцать восьмого ноября"),
            ("12.50 руб.", "двенадцать рублей пятьдесят копеек."),
            (
                "28 ноября 2026",
                "двадцать восьмое ноября две тысячи двадцать шестого года",
            ),
            (
                "28 ноября 2026 года",
                "двадцать восьмое ноября две тысячи двадцать шестого года",
            ),
            ("заказ AB-12345", "заказ эй-би, один два три, четыре пять"),
            ("полис ПЛХ-2049", "полис П-Л-Х, два ноль четыре девять"),
            ("код 123456", "код один два три, четыре пять шесть"),
            (
                "ivan.petrov@mail.ru",
                "ivan точка petrov собака mail точка ru",
            ),
            ("25°C", "двадцать пять градусов Цельсия"),
            ("60 км/ч", "шестьдесят километров в час"),
            ("500 мг", "пятьсот миллиграммов"),
            ("оф. 12", "офис двенадцать"),
            ("заказ №12345", "заказ номер один два три, четыре пять"),
            ("25 человек", "двадцать пять человек"),
        ],
    );
}
