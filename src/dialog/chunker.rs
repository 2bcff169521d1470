//! Streaming text shaping for speech: a sentence chunker (Russian and English) and a markup
//! filter that keeps tool calls, `<think>` blocks and special tokens out of what is spoken.
//!
//! Both are pure streaming structs: feed pieces as the model produces them, get complete units
//! back as soon as they are known to be complete.

/// Abbreviations after which a period never ends a sentence (lowercase, without final dot).
const STRONG_ABBREVIATIONS: &[&str] = &[
    // Russian
    "т.е",
    "г",
    "т.к",
    "т.н",
    "ул",
    "д",
    "кв",
    "стр",
    "им",
    "напр",
    "проф",
    "акад",
    "доц",
    "ок",
    "см",
    "рис",
    "тел",
    "пер",
    "пр",
    "просп",
    "обл",
    "р-н",
    "корп",
    "каб",
    "ст",
    "гр",
    "и.о",
    "т",
    "ср",
    "мн",
    "н.э",
    "с",
    "нач",
    "зам",
    // English
    "dr",
    "mr",
    "mrs",
    "ms",
    "prof",
    "sr",
    "jr",
    "st",
    "vs",
    "e.g",
    "i.e",
    "inc",
    "ltd",
    "co",
    "mt",
    "ave",
    "approx",
    "dept",
    "fig",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "tel",
    "ext",
    "cf",
    "gen",
    "gov",
    "rev",
    "lt",
    "col",
];

/// Abbreviations that often close a sentence: a period after them ends the sentence only when
/// the next word starts with a capital letter.
const WEAK_ABBREVIATIONS: &[&str] = &[
    "т.д", "т.п", "др", "гг", "в", "вв", "etc", "a.m", "p.m", "u.s", "мин", "сек", "ч", "руб",
    "коп", "тыс", "млн", "млрд",
];

/// Closing quotes and brackets that belong to the sentence before the break.
fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '»' | '”' | '’' | ')' | ']' | '}' | '“')
}

/// Words the first chunk needs before it may end at a clause boundary (see
/// [`SentenceChunker::new`]).
pub const DEFAULT_FIRST_CLAUSE_WORDS: usize = 4;

/// Words the first chunk needs before [`SentenceChunker::release_first_words`] may cut it
/// without any boundary (a slow LLM).
pub const DEFAULT_FIRST_CHUNK_WORDS: usize = 6;

/// Spoken digits and number words (en, ru): part of a number run that is never split.
const NUMBER_WORDS: &[&str] = &[
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
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
    "million",
    "double",
    "triple",
    "ноль",
    "один",
    "одна",
    "два",
    "две",
    "три",
    "четыре",
    "пять",
    "шесть",
    "семь",
    "восемь",
    "девять",
    "десять",
    "сто",
    "тысяча",
    "тысячи",
    "тысяч",
];

/// Words a slow-LLM cut never ends a chunk on (it would sound cut off): articles,
/// prepositions, conjunctions, copulas, possessives (en, ru).
const NO_CUT_AFTER: &[&str] = &[
    "a", "an", "the", "to", "of", "for", "from", "with", "at", "in", "on", "by", "and", "or",
    "but", "is", "are", "was", "were", "be", "my", "your", "our", "their", "his", "her", "its",
    "than", "that", "и", "или", "но", "а", "в", "на", "с", "к", "по", "для", "от", "до", "из", "у",
    "о", "не", "ваш", "ваша", "ваше", "мой", "моя",
];

/// Whether `word` belongs to a number, phone number or ID being spoken ("555-1234", "42,",
/// "five", "K"): the text normaliser reads such runs in digit groups, so a chunk never ends
/// inside one.
fn numberish(word: &str) -> bool {
    if word.chars().any(|c| c.is_ascii_digit()) {
        return true;
    }
    let bare: String = word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    if NUMBER_WORDS.contains(&bare.as_str()) {
        return true;
    }
    // A lone capital letter other than "I"/"A" spells an ID ("K L M 983").
    let letters: Vec<char> = word.chars().filter(|c| c.is_alphabetic()).collect();
    matches!(letters.as_slice(), [c] if c.is_uppercase() && !matches!(c, 'I' | 'A'))
}

/// Conjunctions a first chunk may end before (lowercase, whole words).
const CLAUSE_CONJUNCTIONS: &[&str] = &["and", "but", "и", "но"];

/// Splits streamed text into speakable chunks as soon as each one is known to be complete:
/// sentences, except that the FIRST chunk may end at a clause boundary (comma, semicolon,
/// colon, spaced dash, or before "and"/"but"/"и"/"но") once it has a few words, so that
/// speech starts before the whole first sentence is generated.
#[derive(Debug, Clone)]
pub struct SentenceChunker {
    buf: String,
    /// Byte offset in `buf` up to which no boundary can exist.
    scanned: usize,
    /// Words the first chunk needs to end at a clause; `None` = sentences only.
    first_clause_words: Option<usize>,
    /// Whether a chunk was released already.
    released_any: bool,
}

impl Default for SentenceChunker {
    fn default() -> Self {
        Self::new()
    }
}

impl SentenceChunker {
    /// A chunker whose first chunk may end at a clause boundary after
    /// [`DEFAULT_FIRST_CLAUSE_WORDS`] words; later chunks are sentences.
    pub fn new() -> Self {
        Self::with_first_clause(Some(DEFAULT_FIRST_CLAUSE_WORDS))
    }

    /// A chunker that releases whole sentences only.
    pub fn sentences_only() -> Self {
        Self::with_first_clause(None)
    }

    /// A chunker whose first chunk may end at a clause boundary once it has `min_words`
    /// words (`None`: sentences only).
    pub fn with_first_clause(min_words: Option<usize>) -> Self {
        SentenceChunker {
            buf: String::new(),
            scanned: 0,
            first_clause_words: min_words,
            released_any: false,
        }
    }

    /// Feeds a piece of text; returns every chunk completed by it (trimmed, non-empty).
    pub fn push(&mut self, piece: &str) -> Vec<String> {
        self.buf.push_str(piece);
        let mut out = Vec::new();
        loop {
            let sentence = self.find_boundary();
            let clause = match self.first_clause_words {
                Some(min) if !self.released_any => {
                    // A clause must end before the sentence does (or before an undecided
                    // terminator, which `find_boundary` left `scanned` at).
                    let limit = sentence.map_or(self.scanned, |(end, _)| end);
                    find_clause(&self.buf[..limit], &self.buf, min)
                }
                _ => None,
            };
            let Some((end, next)) = clause.or(sentence) else {
                break;
            };
            let chunk = self.buf[..end].trim().to_string();
            self.buf.drain(..next);
            self.scanned = 0;
            if !chunk.is_empty() {
                self.released_any = true;
                out.push(chunk);
            }
        }
        out
    }

    /// Ends the stream: returns the remaining text (trimmed) if any.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        let rest = rest.trim();
        (!rest.is_empty()).then(|| {
            self.released_any = true;
            rest.to_string()
        })
    }

    /// For a slow LLM: releases the first chunk now, without a clause or sentence boundary,
    /// when nothing was released yet and it holds at least `min_words` complete words. The
    /// cut goes after the last complete word that is followed by another complete word,
    /// neither of them part of a number run ([`numberish`]: a phone number or ID is never
    /// split between chunks), not both capitalised (a name) and the first not a word a
    /// phrase cannot end on ("the", "to").
    /// Later chunks stay sentences.
    pub fn release_first_words(&mut self, min_words: usize) -> Option<String> {
        if self.released_any || min_words == 0 {
            return None;
        }
        // Complete words: (start, end) byte spans of words followed by whitespace.
        let text = self.buf.as_str();
        let mut words = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    words.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        // Markup or a terminator the sentence scan is still deciding on: leave it alone.
        if text.contains('<') {
            return None;
        }
        let spoken = |k: usize| {
            words[..=k]
                .iter()
                .filter(|&&(a, b)| text[a..b].chars().any(char::is_alphanumeric))
                .count()
        };
        let cut = (0..words.len().saturating_sub(1)).rev().find(|&k| {
            let (w, next) = (
                &text[words[k].0..words[k].1],
                &text[words[k + 1].0..words[k + 1].1],
            );
            let bare = w
                .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase();
            // Two capitalised words in a row are a name ("Open Door", "Baker Street").
            let capital = |x: &str| x.chars().next().is_some_and(char::is_uppercase);
            let name = k > 0 && capital(w) && capital(next);
            spoken(k) >= min_words
                && !numberish(w)
                && !numberish(next)
                && !name
                && !NO_CUT_AFTER.contains(&bare.as_str())
        })?;
        let (end, next) = (words[cut].1, words[cut + 1].0);
        let chunk = self.buf[..end].trim().to_string();
        self.buf.drain(..next);
        self.scanned = 0;
        self.released_any = true;
        Some(chunk)
    }

    /// Whether a chunk was released already.
    pub fn released_any(&self) -> bool {
        self.released_any
    }

    /// Bytes fed but not yet released (the unfinished chunk).
    pub fn pending_len(&self) -> usize {
        self.buf.len()
    }

    /// Finds the first sentence boundary: (end of sentence, start of the next one).
    fn find_boundary(&mut self) -> Option<(usize, usize)> {
        let text = self.buf.as_str();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut idx = chars.iter().position(|&(b, _)| b >= self.scanned)?;
        while idx < chars.len() {
            let (_, c) = chars[idx];
            if c == '\n' {
                // A line break after text (list items, paragraphs) is a boundary of its own.
                let before = text[..chars[idx].0].trim();
                if !before.is_empty() {
                    let mut k = idx;
                    while k < chars.len() && chars[k].1.is_whitespace() {
                        k += 1;
                    }
                    let next = chars.get(k).map_or(text.len(), |&(b, _)| b);
                    return Some((chars[idx].0, next));
                }
                idx += 1;
                continue;
            }
            if !matches!(c, '.' | '!' | '?' | '…' | ';') {
                idx += 1;
                continue;
            }
            // Extend over the whole terminator cluster and closing quotes/brackets.
            let mut j = idx;
            while j < chars.len() && matches!(chars[j].1, '.' | '!' | '?' | '…') {
                j += 1;
            }
            while j < chars.len() && is_closer(chars[j].1) {
                j += 1;
            }
            if j >= chars.len() {
                self.scanned = chars[idx].0;
                return None; // need to see what follows
            }
            if !chars[j].1.is_whitespace() {
                idx = j.max(idx + 1); // "3.14", "т.е", "a.m." inside a word: not a boundary
                continue;
            }
            let mut k = j;
            while k < chars.len() && chars[k].1.is_whitespace() {
                k += 1;
            }
            if k >= chars.len() {
                self.scanned = chars[idx].0;
                return None; // the next word decides (abbreviation, lowercase continuation)
            }
            let cluster: String = chars[idx..j].iter().map(|&(_, c)| c).collect();
            let next_char = chars[k].1;
            if self.is_break(text, chars[idx].0, &cluster, next_char) {
                let end = chars.get(j).map_or(text.len(), |&(b, _)| b);
                return Some((end, chars[k].0));
            }
            idx = j;
        }
        self.scanned = text.len();
        None
    }

    /// Whether the terminator cluster starting at byte `at` ends a sentence.
    fn is_break(&self, text: &str, at: usize, cluster: &str, next: char) -> bool {
        let next_starts_sentence = !next.is_lowercase();
        if cluster.contains('!') || cluster.contains('?') {
            return true;
        }
        if cluster.starts_with(';') {
            return false;
        }
        if cluster.starts_with("..") || cluster.starts_with('…') {
            return next.is_uppercase();
        }
        // A single period: look at the word before it.
        let word: String = text[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '.' || *c == '-')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let word = word.trim_start_matches('.').to_lowercase();
        if word.is_empty() {
            return next_starts_sentence;
        }
        if word.chars().all(|c| c.is_ascii_digit()) {
            // "1." at the start of a line is a list number, not a sentence end.
            let before = text[..at - word.len()].trim_end_matches([' ', '\t']);
            if before.is_empty() || before.ends_with('\n') {
                return false;
            }
            return next_starts_sentence;
        }
        if word == "no" || word == "nr" {
            // "No. 5" is a number sign; "no." before a word ends a sentence.
            return !next.is_ascii_digit() && next_starts_sentence;
        }
        if STRONG_ABBREVIATIONS.contains(&word.as_str()) {
            return false;
        }
        if WEAK_ABBREVIATIONS.contains(&word.as_str()) {
            return next.is_uppercase();
        }
        // A single capital letter is an initial ("А. С. Пушкин", "J. Smith").
        let original: Vec<char> = text[..at].chars().rev().take(2).collect();
        if let [letter, before] = original.as_slice() {
            if letter.is_uppercase() && !before.is_alphanumeric() {
                return false;
            }
        } else if original.len() == 1 && original[0].is_uppercase() {
            return false;
        }
        next_starts_sentence
    }
}

/// The first clause boundary in `region` (a prefix of `text`) after at least `min_words`
/// words: (end of the chunk, start of the rest). Commas inside numbers ("1,500"), hyphens
/// inside words and times ("10:30") are not boundaries: the mark must be followed by a space.
fn find_clause(region: &str, text: &str, min_words: usize) -> Option<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let words_before = |end: usize| {
        text[..end]
            .split_whitespace()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .count()
    };
    let skip_space = |mut k: usize| {
        while k < chars.len() && chars[k].1.is_whitespace() {
            k += 1;
        }
        chars.get(k).map(|&(b, _)| b)
    };
    for (idx, &(at, c)) in chars.iter().enumerate() {
        if at >= region.len() {
            break;
        }
        let next_is_space = chars.get(idx + 1).is_some_and(|&(_, n)| n.is_whitespace());
        let prev_is_space = idx > 0 && chars[idx - 1].1.is_whitespace();
        let candidate = match c {
            ',' | ';' | ':' if next_is_space => {
                let end = at + c.len_utf8();
                skip_space(idx + 1).map(|next| (end, next))
            }
            '—' | '–' | '-' if next_is_space && prev_is_space => {
                let end = at + c.len_utf8();
                skip_space(idx + 1).map(|next| (end, next))
            }
            c if c.is_whitespace() => {
                // " and " / " и ": the chunk ends before the conjunction.
                let rest = &text[at + c.len_utf8()..];
                CLAUSE_CONJUNCTIONS.iter().find_map(|conj| {
                    let after = rest.strip_prefix(conj)?;
                    let follows = after.chars().next()?;
                    let before = text[..at].chars().next_back()?;
                    (follows.is_whitespace() && before.is_alphanumeric())
                        .then(|| (at, at + c.len_utf8()))
                })
            }
            _ => None,
        };
        if let Some((end, next)) = candidate {
            if end <= region.len() && words_before(end) >= min_words {
                return Some((end, next));
            }
        }
    }
    None
}

/// Blocks whose content is never spoken: (opener, closer). An empty closer runs to the end.
const HIDDEN_BLOCKS: &[(&str, &str)] = &[
    ("<tool_call>", "</tool_call>"),
    ("<think>", "</think>"),
    ("<|python_tag|>", ""),
    ("<tools>", "</tools>"),
];

/// Removes tool-call markup, `<think>` blocks and special tokens (`<|…|>`) from streamed text.
#[derive(Debug, Default, Clone)]
pub struct MarkupFilter {
    buf: String,
    /// Closer of the hidden block we are inside, if any ("" = until the end).
    inside: Option<&'static str>,
    /// Whether any visible non-space text was produced yet.
    started: bool,
    /// Treat a reply that starts with `{` as a bare JSON tool call (Llama 3 style).
    json_call_at_start: bool,
}

impl MarkupFilter {
    /// A filter; `json_call_at_start` hides a reply that begins with `{` (Llama 3 tool calls).
    pub fn new(json_call_at_start: bool) -> Self {
        MarkupFilter {
            json_call_at_start,
            ..Self::default()
        }
    }

    /// Feeds a piece; returns the text that is certainly visible.
    pub fn push(&mut self, piece: &str) -> String {
        self.buf.push_str(piece);
        let mut out = String::new();
        loop {
            if let Some(closer) = self.inside {
                if closer.is_empty() {
                    self.buf.clear();
                    return out;
                }
                match self.buf.find(closer) {
                    Some(pos) => {
                        self.buf.drain(..pos + closer.len());
                        self.inside = None;
                        continue;
                    }
                    None => return out,
                }
            }
            if !self.started && self.json_call_at_start {
                let trimmed = self.buf.trim_start();
                if trimmed.starts_with('{') {
                    self.inside = Some("");
                    continue;
                }
                if trimmed.is_empty() {
                    return out;
                }
            }
            let Some(lt) = self.buf.find('<') else {
                self.emit(&mut out, self.buf.len());
                return out;
            };
            self.emit(&mut out, lt);
            let rest = self.buf.as_str();
            if let Some(&(open, close)) = HIDDEN_BLOCKS.iter().find(|(o, _)| rest.starts_with(o)) {
                self.buf.drain(..open.len());
                self.inside = Some(close);
                continue;
            }
            if rest.starts_with("<|") {
                match rest.find("|>") {
                    Some(end) => {
                        self.buf.drain(..end + 2);
                        continue;
                    }
                    None if rest.len() < 64 => return out,
                    None => {}
                }
            }
            let maybe_opener = HIDDEN_BLOCKS.iter().any(|(o, _)| o.starts_with(rest));
            if maybe_opener || rest == "<" {
                return out; // wait for more text
            }
            self.emit(&mut out, 1);
        }
    }

    /// Ends the stream: returns held-back visible text (an unfinished `<` that opened nothing).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.buf);
        if self.inside.is_some() {
            return String::new();
        }
        rest
    }

    fn emit(&mut self, out: &mut String, upto: usize) {
        let text: String = self.buf.drain(..upto).collect();
        if !text.trim().is_empty() {
            self.started = true;
        }
        out.push_str(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_first_chunk_is_cut_after_enough_words_and_later_chunks_stay_sentences() {
        let mut c = SentenceChunker::new();
        assert!(c
            .push("I can book you in on Tuesday morning with Dr")
            .is_empty());
        assert_eq!(
            c.release_first_words(6).as_deref(),
            Some("I can book you in on Tuesday morning")
        );
        // Only the first chunk is cut early.
        assert_eq!(c.release_first_words(1), None);
        assert_eq!(
            c.push(" Smith, if that suits. See"),
            vec!["with Dr Smith, if that suits.".to_string()]
        );
        assert_eq!(c.finish().as_deref(), Some("See"));
    }

    #[test]
    fn too_few_words_or_markup_release_nothing() {
        let mut c = SentenceChunker::new();
        c.push("Let me check that");
        assert_eq!(c.release_first_words(6), None);
        let mut c = SentenceChunker::new();
        c.push("One moment while I look <tool_call>{\"name\": ");
        assert_eq!(c.release_first_words(3), None);
        assert_eq!(SentenceChunker::new().release_first_words(0), None);
    }

    #[test]
    fn a_number_run_is_never_split_between_chunks() {
        let mut c = SentenceChunker::new();
        c.push("Your number is 555 123 4567 and");
        // Every cut with six words before it would split the digits (or end on "is").
        assert_eq!(c.release_first_words(6), None);
        // (Here the clause rule ends the chunk before "and", after the number.)
        assert_eq!(
            c.push(" we will call you back"),
            vec!["Your number is 555 123 4567".to_string()]
        );
        let mut c = SentenceChunker::new();
        c.push("Call 555 123 4567 ");
        assert_eq!(c.release_first_words(1), None);
        c.push("today please ");
        assert_eq!(
            c.release_first_words(3).as_deref(),
            Some("Call 555 123 4567 today")
        );
        // Spelled digits and ID letters are runs too.
        let mut c = SentenceChunker::new();
        c.push("The reference is K L M nine eight three ");
        assert_eq!(c.release_first_words(3), None);
        c.push("nine four ");
        assert_eq!(c.release_first_words(3), None);
        let mut c = SentenceChunker::new();
        c.push("Your order for twenty two items ships today ");
        assert_eq!(
            c.release_first_words(4).as_deref(),
            Some("Your order for twenty two items ships")
        );
        assert!(numberish("+7(495)") && numberish("five,") && numberish("K"));
        assert!(!numberish("I") && !numberish("and") && !numberish("Kate"));
    }

    #[test]
    fn a_slow_cut_never_ends_on_a_word_a_phrase_cannot_end_on() {
        let mut c = SentenceChunker::new();
        c.push("Please bring your insurance card to the front ");
        assert_eq!(c.release_first_words(6), None);
        assert_eq!(
            c.release_first_words(4).as_deref(),
            Some("Please bring your insurance card")
        );
        assert_eq!(c.finish().as_deref(), Some("to the front"));
        // Nor inside a name.
        let mut c = SentenceChunker::new();
        c.push("You are the receptionist of Open Door ");
        assert_eq!(c.release_first_words(5), None, "not after \"Open\"");
        c.push("dental ");
        assert_eq!(
            c.release_first_words(5).as_deref(),
            Some("You are the receptionist of Open Door")
        );
    }
}
