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

/// Splits streamed text into complete sentences as soon as each one is known to be complete.
#[derive(Debug, Default, Clone)]
pub struct SentenceChunker {
    buf: String,
    /// Byte offset in `buf` up to which no boundary can exist.
    scanned: usize,
}

impl SentenceChunker {
    /// A new, empty chunker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a piece of text; returns every sentence completed by it (trimmed, non-empty).
    pub fn push(&mut self, piece: &str) -> Vec<String> {
        self.buf.push_str(piece);
        let mut out = Vec::new();
        while let Some((end, next)) = self.find_boundary() {
            let sentence = self.buf[..end].trim().to_string();
            self.buf.drain(..next);
            self.scanned = 0;
            if !sentence.is_empty() {
                out.push(sentence);
            }
        }
        out
    }

    /// Ends the stream: returns the remaining text (trimmed) if any.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_string())
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
