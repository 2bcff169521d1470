//! Sentence splitting for streaming synthesis (Russian and English punctuation, abbreviations,
//! initials, decimals), plus chunking of over-long sentences.
//!
//! A sentence ends at `.`, `!`, `?` or `…` (with closing quotes/brackets) followed by white
//! space and a capital letter, digit or quote — or at the end of the text, or at a blank line.
//! A dot after a known abbreviation that precedes a name (`ул.`, `Dr.`) or after a single
//! capital (an initial: `А. С. Пушкин`) does not end a sentence; `3.5` has no space after the
//! dot and never splits.

/// Abbreviations that are followed by a name or number, never the end of a sentence.
const NON_FINAL: &[&str] = &[
    "ул",
    "д",
    "кв",
    "г",
    "пер",
    "просп",
    "корп",
    "стр",
    "им",
    "обл",
    "тел",
    "см",
    "напр",
    "т",
    "ст",
    "гр",
    "dr",
    "mr",
    "mrs",
    "ms",
    "prof",
    "st",
    "no",
    "vs",
    "e.g",
    "i.e",
    "apt",
    "fig",
    "т.е",
    "т.к",
];

/// Default longest chunk handed to the voice at once (characters); longer sentences are cut
/// at commas, then at spaces.
pub const DEFAULT_MAX_CHARS: usize = 400;

/// Splits `text` into sentences (trimmed, non-empty), each at most `max_chars` characters.
pub fn split_sentences(text: &str, max_chars: usize) -> Vec<String> {
    let mut splitter = SentenceSplitter::new(max_chars);
    let mut out = splitter.push(text);
    out.extend(splitter.finish());
    out
}

/// Incremental sentence splitter for streamed text (an LLM's tokens): sentences come out as
/// soon as the character after their terminator shows they are complete.
#[derive(Debug)]
pub struct SentenceSplitter {
    buf: String,
    max_chars: usize,
}

impl SentenceSplitter {
    /// A splitter that never emits chunks longer than `max_chars` (minimum 20).
    pub fn new(max_chars: usize) -> Self {
        SentenceSplitter {
            buf: String::new(),
            max_chars: max_chars.max(20),
        }
    }

    /// Adds text; returns the sentences completed by it.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.buf.push_str(text);
        let cs: Vec<char> = self.buf.chars().collect();
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < cs.len() {
            if let Some(end) = sentence_end(&cs, i) {
                // `end` is the index after the sentence's last char; None if undecidable yet.
                match end {
                    Some(e) => {
                        emit(&cs[start..e], self.max_chars, &mut out);
                        start = e;
                        i = e;
                        continue;
                    }
                    None => break,
                }
            }
            i += 1;
        }
        // Keep over-long unterminated text from growing without bound.
        if cs.len() - start > self.max_chars * 2 {
            let cut = cut_point(&cs[start..], self.max_chars) + start;
            emit(&cs[start..cut], self.max_chars, &mut out);
            start = cut;
        }
        self.buf = cs[start..].iter().collect();
        out
    }

    /// Returns what is left as the last sentence(s).
    pub fn finish(&mut self) -> Vec<String> {
        let cs: Vec<char> = std::mem::take(&mut self.buf).chars().collect();
        let mut out = Vec::new();
        emit(&cs, self.max_chars, &mut out);
        out
    }
}

/// At a terminator at `i`: `Some(Some(end))` if a sentence ends here, `Some(None)` if that
/// depends on text not seen yet, `None` if not a sentence end.
fn sentence_end(cs: &[char], i: usize) -> Option<Option<usize>> {
    let c = cs[i];
    if c == '\n' && cs.get(i + 1) == Some(&'\n') {
        return Some(Some(i + 1));
    }
    if !matches!(c, '.' | '!' | '?' | '…') {
        return None;
    }
    let mut j = i + 1;
    while j < cs.len() && matches!(cs[j], '.' | '!' | '?' | '…' | '"' | '»' | '”' | ')' | '\'')
    {
        j += 1;
    }
    if j >= cs.len() {
        return Some(None);
    }
    if !cs[j].is_whitespace() {
        return None; // `3.5`, `т.е.`, `example.com`
    }
    let end = j;
    while j < cs.len() && cs[j].is_whitespace() {
        j += 1;
    }
    if j >= cs.len() {
        return Some(None);
    }
    let next = cs[j];
    let starts_sentence = next.is_uppercase()
        || next.is_ascii_digit()
        || matches!(next, '"' | '«' | '“' | '(' | '-' | '—' | '¿' | '¡');
    if !starts_sentence {
        return None;
    }
    if c == '.' && is_non_final_word(cs, i) {
        return None;
    }
    Some(Some(end))
}

/// Whether the word before the dot at `i` is an abbreviation that never ends a sentence or a
/// single capital letter (an initial).
fn is_non_final_word(cs: &[char], i: usize) -> bool {
    let mut k = i;
    while k > 0
        && (cs[k - 1].is_alphabetic() || (cs[k - 1] == '.' && k >= 2 && cs[k - 2].is_alphabetic()))
    {
        k -= 1;
    }
    let word: String = cs[k..i].iter().collect();
    if word.chars().count() == 1 && word.chars().all(char::is_uppercase) {
        return true;
    }
    NON_FINAL.contains(&word.to_lowercase().as_str())
}

/// Pushes a trimmed chunk, cut into pieces no longer than `max_chars`.
fn emit(cs: &[char], max_chars: usize, out: &mut Vec<String>) {
    let mut rest = cs;
    loop {
        let trimmed = trim(rest);
        if trimmed.is_empty() {
            return;
        }
        if trimmed.len() <= max_chars {
            out.push(trimmed.iter().collect());
            return;
        }
        let cut = cut_point(trimmed, max_chars);
        out.push(trim(&trimmed[..cut]).iter().collect());
        rest = &trimmed[cut..];
    }
}

/// Where to cut a too-long chunk: after the last `,;:` before `max_chars`, else the last space,
/// else hard at `max_chars`.
fn cut_point(cs: &[char], max_chars: usize) -> usize {
    let limit = max_chars.min(cs.len());
    let window = &cs[..limit];
    let min = limit / 3;
    if let Some(p) = window
        .iter()
        .rposition(|c| matches!(c, ',' | ';' | ':' | '—'))
    {
        if p > min {
            return p + 1;
        }
    }
    if let Some(p) = window.iter().rposition(|c| c.is_whitespace()) {
        if p > min {
            return p + 1;
        }
    }
    limit
}

fn trim(cs: &[char]) -> &[char] {
    let start = cs
        .iter()
        .position(|c| !c.is_whitespace())
        .unwrap_or(cs.len());
    let end = cs
        .iter()
        .rposition(|c| !c.is_whitespace())
        .map_or(start, |p| p + 1);
    &cs[start..end.max(start)]
}
