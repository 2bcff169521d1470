//! Voicemail and IVR phrases (English and Russian) found in a greeting's transcript.
//!
//! A phrase is a token pattern matched in order on the normalised transcript (lower case,
//! `ё` → `е`, apostrophes dropped, other punctuation a space), with up to [`MAX_GAP`] other
//! words between its tokens ("leave a message", "leave me a short message"). A token ending
//! in `*` matches any word it begins (Russian endings: `сообщени*`); `#` matches a digit, in
//! figures or words ("press 1", "press one", "нажмите один"). Lists are kept specific to
//! machines: a person may say "he's not available" or "call back later", so those are not
//! phrases here; "the subscriber is not available" and "leave a message" are.

/// Words allowed between two tokens of a phrase.
pub const MAX_GAP: usize = 2;

/// Phrases of voicemail greetings and network announcements.
pub const VOICEMAIL: &[&str] = &[
    // English
    "leave message",
    "leave name number",
    "leave your name",
    "after tone",
    "at tone",
    "after beep",
    "at beep",
    "after signal",
    "record message",
    "record your message",
    "voicemail",
    "voice mail",
    "mailbox",
    "answering machine",
    "cant take call",
    "cannot take call",
    "can not take call",
    "unable take call",
    "not available take call",
    "cant come phone",
    "cannot come phone",
    "unable answer",
    "cant answer phone",
    "person you calling",
    "party you calling",
    "number you dialed",
    "number you have dialed",
    "subscriber you calling",
    "subscriber not available",
    "subscriber is not available",
    "not in service",
    "get back to you",
    "return your call",
    "call you back as soon",
    // Russian
    "остав* сообщени*",
    "остав* голосов* сообщени*",
    "после сигнал*",
    "после гудк*",
    "после звуков*",
    "голосов* почт*",
    "голосов* ящик*",
    "автоответчик*",
    "абонент* недоступ*",
    "абонент* не доступ*",
    "абонент* не может ответить",
    "абонент* не отвечает",
    "абонент* занят",
    "вне зоны",
    "аппарат* абонент* выключен*",
    "номер* не существует",
    "неправильно набран*",
    "не могу* ответить",
    "не может* ответить",
    "перезвон* вам",
];

/// Phrases of IVR menus and queue announcements.
pub const IVR: &[&str] = &[
    // English
    "press #",
    "dial #",
    "press star",
    "press pound",
    "press the pound",
    "for english",
    "para espanol",
    "main menu",
    "menu options",
    "options have changed",
    "listen carefully",
    "your call is important",
    "call may be recorded",
    "call will be recorded",
    "calls are recorded",
    "stay on line",
    "remain on line",
    "next available",
    "party extension",
    "know extension",
    "say or press",
    // Russian
    "нажмите",
    "нажм* #",
    "набер* #",
    "тонал* режим*",
    "ваш звонок важен",
    "ваш звонок очень важен",
    "оставайтесь на линии",
    "ожидайте ответа",
    "связ* с оператор*",
    "добавочн*",
    "разговор* записыва*",
    "может быть записан*",
    "главн* меню",
];

/// Which kind of machine a phrase belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhraseKind {
    /// A voicemail greeting or network announcement.
    Voicemail,
    /// An IVR menu.
    Ivr,
}

/// Lower case, `ё` → `е`, apostrophes dropped, anything not a letter or digit a space.
pub fn normalise(text: &str) -> Vec<String> {
    let mut s = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'ё' => s.push('е'),
            '\'' | '’' | '`' => {}
            c if c.is_alphanumeric() => s.push(c),
            _ => s.push(' '),
        }
    }
    s.split_whitespace().map(str::to_string).collect()
}

const DIGIT_WORDS: &[&str] = &[
    "zero",
    "oh",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ноль",
    "один",
    "одну",
    "одна",
    "единицу",
    "два",
    "две",
    "двойку",
    "три",
    "тройку",
    "четыре",
    "пять",
    "шесть",
    "семь",
    "восемь",
    "девять",
    "star",
    "pound",
    "hash",
    "звездочку",
    "решетку",
];

fn token_matches(pattern: &str, word: &str) -> bool {
    if pattern == "#" {
        return word.chars().all(|c| c.is_ascii_digit()) || DIGIT_WORDS.contains(&word);
    }
    match pattern.strip_suffix('*') {
        Some(stem) => word.starts_with(stem),
        None => word == pattern,
    }
}

/// True when `pattern` (space-separated tokens) occurs in `words` in order, with at most
/// [`MAX_GAP`] other words between consecutive tokens.
pub fn matches(pattern: &str, words: &[String]) -> bool {
    let tokens: Vec<&str> = pattern.split_whitespace().collect();
    let Some((first, rest)) = tokens.split_first() else {
        return false;
    };
    'start: for i in 0..words.len() {
        if !token_matches(first, &words[i]) {
            continue;
        }
        let mut at = i;
        for t in rest {
            let window = (at + 1)..(at + 2 + MAX_GAP).min(words.len());
            match window.clone().find(|&j| token_matches(t, &words[j])) {
                Some(j) => at = j,
                None => continue 'start,
            }
        }
        return true;
    }
    false
}

/// The first machine phrase in `transcript`, and its kind (IVR phrases are checked first: a
/// menu may also say "leave a message").
pub fn find(transcript: &str) -> Option<(PhraseKind, &'static str)> {
    let words = normalise(transcript);
    if words.is_empty() {
        return None;
    }
    IVR.iter()
        .find(|p| matches(p, &words))
        .map(|p| (PhraseKind::Ivr, *p))
        .or_else(|| {
            VOICEMAIL
                .iter()
                .find(|p| matches(p, &words))
                .map(|p| (PhraseKind::Voicemail, *p))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(t: &str) -> Option<PhraseKind> {
        find(t).map(|(k, _)| k)
    }

    #[test]
    fn english_voicemail_greetings_are_found() {
        for t in [
            "Hi, you've reached Mark. Please leave a message after the tone.",
            "I can't take your call right now.",
            "Leave me a short message and I'll get back to you.",
            "The person you are calling is not available.",
            "Please record your message.",
            "You have reached the voicemail of John Smith.",
            "The number you have dialed is not in service.",
            "Please leave your name and number.",
        ] {
            assert_eq!(kind(t), Some(PhraseKind::Voicemail), "{t}");
        }
    }

    #[test]
    fn russian_voicemail_greetings_are_found() {
        for t in [
            "Здравствуйте, оставьте сообщение после сигнала.",
            "Абонент недоступен или находится вне зоны действия сети.",
            "Аппарат абонента выключен.",
            "Я сейчас не могу ответить, оставьте, пожалуйста, ваше сообщение.",
            "Вы позвонили на автоответчик.",
            "Говорите после звукового сигнала.",
            "Абонент не может ответить на ваш звонок.",
            "Неправильно набран номер.",
            "ОСТАВЬТЕ ГОЛОСОВОЕ СООБЩЕНИЕ",
            "Оставьте сообщение, и мы вам перезвоним.",
        ] {
            assert_eq!(kind(t), Some(PhraseKind::Voicemail), "{t}");
        }
    }

    #[test]
    fn ivr_menus_are_found_in_both_languages() {
        for t in [
            "For account balances, press 1. For card services, press two.",
            "Your call is important to us. Please stay on the line.",
            "Please listen carefully, as our menu options have changed.",
            "If you know your party's extension, dial it now.",
            "Для связи с оператором нажмите ноль.",
            "Наберите добавочный номер в тональном режиме.",
            "Ваш звонок очень важен для нас, оставайтесь на линии.",
            "Разговор может быть записан.",
        ] {
            assert_eq!(kind(t), Some(PhraseKind::Ivr), "{t}");
        }
    }

    #[test]
    fn what_people_say_when_they_answer_is_no_phrase() {
        for t in [
            "Hello?",
            "Yes, speaking, hello.",
            "Hi, who's this?",
            "Yeah, he's not available right now, can I help?",
            "Hold on, I'll get her.",
            "Speaking. Who is calling, please?",
            "Good morning, Anna speaking.",
            "Sorry, I can't talk now, call me back later.",
            "Алло?",
            "Да, слушаю.",
            "Алло, кто это?",
            "Да, говорите.",
            "Его сейчас нет, перезвоните позже.",
            "Слушаю вас, алло.",
            "",
        ] {
            assert_eq!(find(t), None, "{t}");
        }
    }

    #[test]
    fn gaps_are_bounded_and_digits_match_words_and_figures() {
        let w = normalise("leave it on the table with a message");
        assert!(!matches("leave message", &w), "too many words between");
        assert!(matches("press #", &normalise("Press 3 now")));
        assert!(matches("press #", &normalise("press nine")));
        assert!(!matches("press #", &normalise("press the button")));
        assert_eq!(normalise("Всё, ЁЛКИ! can't"), vec!["все", "елки", "cant"]);
    }
}
