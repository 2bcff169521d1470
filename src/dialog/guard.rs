//! The reply guard: a phone reply is one to three sentences, so a degenerate model (a small
//! base model looping "You are open-door dental clinic." 256 times) must never talk for a
//! minute. The guard sits between the model's visible text and the caller and stops the
//! reply when
//! - it has said `max_sentences` sentences (cut exactly at the end of the last one),
//! - it repeats a sentence it already said, or repeats a run of [`LOOP_WORDS`] words (a loop
//!   without punctuation) — the repetition is never spoken, because text that echoes earlier
//!   text is held back until it either diverges (then released) or proves to be a loop,
//! - it has produced `max_tokens` tokens of spoken text.
//!
//! Holding back costs nothing in the common case: only a word that starts like an earlier one
//! waits for the next token.

use super::chunker::SentenceChunker;

/// Consecutive words that, repeated, make a loop (a 6-gram said twice, a 3-gram three times…).
pub const LOOP_WORDS: usize = 6;

/// What the guard enforces; zero turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplyLimits {
    /// Most sentences per reply (0 = no limit).
    pub max_sentences: u32,
    /// Most tokens of spoken text per reply (0 = no limit).
    pub max_tokens: u32,
    /// Stop at a repeated sentence or word loop.
    pub stop_repetition: bool,
}

impl ReplyLimits {
    /// No limits: the guard passes everything through.
    pub fn off() -> Self {
        Self::default()
    }

    /// Whether any limit is on.
    pub fn is_on(&self) -> bool {
        self.max_sentences > 0 || self.max_tokens > 0 || self.stop_repetition
    }
}

/// Why the guard stopped a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardStop {
    /// `max_sentences` reached.
    Sentences,
    /// `max_tokens` of spoken text reached.
    Tokens,
    /// A sentence or a run of words repeated.
    Repetition,
}

impl GuardStop {
    /// Label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardStop::Sentences => "sentences",
            GuardStop::Tokens => "tokens",
            GuardStop::Repetition => "repetition",
        }
    }
}

#[derive(Debug, Clone)]
struct Word {
    norm: String,
    start: usize,
}

/// Streaming guard over one reply's visible text (see the module docs).
#[derive(Debug, Clone)]
pub struct ReplyGuard {
    limits: ReplyLimits,
    text: String,
    released: usize,
    words: Vec<Word>,
    /// Byte offset up to which complete words were taken.
    word_scan: usize,
    /// Active echoes: (index of the earlier word matched last, length in words).
    echoes: Vec<(usize, usize)>,
    sentences: SentenceChunker,
    /// Byte offset where the chunker's unfinished sentence starts.
    sentence_cursor: usize,
    said: Vec<String>,
    tokens: u32,
    stopped: Option<GuardStop>,
}

impl ReplyGuard {
    /// A guard enforcing `limits`.
    pub fn new(limits: ReplyLimits) -> Self {
        ReplyGuard {
            limits,
            text: String::new(),
            released: 0,
            words: Vec::new(),
            word_scan: 0,
            echoes: Vec::new(),
            sentences: SentenceChunker::sentences_only(),
            sentence_cursor: 0,
            said: Vec::new(),
            tokens: 0,
            stopped: None,
        }
    }

    /// Why the reply was stopped, once it was.
    pub fn stopped(&self) -> Option<GuardStop> {
        self.stopped
    }

    /// Tokens of spoken text seen.
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Feeds one token's visible text; returns the text that may be spoken now. After a stop
    /// everything is swallowed.
    pub fn push(&mut self, piece: &str) -> String {
        if self.stopped.is_some() || piece.is_empty() {
            return String::new();
        }
        if !self.limits.is_on() {
            self.text.push_str(piece);
            return self.release_to(self.text.len());
        }
        self.text.push_str(piece);
        if !piece.trim().is_empty() {
            self.tokens += 1;
        }
        if let Some(cut) = self.take_words(false) {
            return self.stop(GuardStop::Repetition, cut);
        }
        let done = self.sentences.push(piece);
        if let Some((reason, cut)) = self.check_sentences(done) {
            return self.stop(reason, cut);
        }
        if self.limits.max_tokens > 0 && self.tokens >= self.limits.max_tokens {
            let cut = self.hold_from();
            return self.stop(GuardStop::Tokens, cut);
        }
        // Trailing whitespace waits for the next word (so a cut never leaves a dangling space).
        let upto = self.hold_from().min(self.text.trim_end().len());
        self.release_to(upto)
    }

    /// Ends the reply: returns the held-back text, unless it is a repetition.
    pub fn finish(&mut self) -> String {
        if self.stopped.is_some() {
            return String::new();
        }
        if !self.limits.is_on() {
            return self.release_to(self.text.len());
        }
        if let Some(cut) = self.take_words(true) {
            return self.stop(GuardStop::Repetition, cut);
        }
        let last: Vec<String> = self.sentences.finish().into_iter().collect();
        if let Some((reason, cut)) = self.check_sentences(last) {
            if reason == GuardStop::Repetition {
                return self.stop(reason, cut);
            }
        }
        self.release_to(self.text.len())
    }

    fn stop(&mut self, reason: GuardStop, cut: usize) -> String {
        self.stopped = Some(reason);
        // Never end on the whitespace before the cut.
        let cut = self.text[..cut].trim_end().len().max(self.released);
        self.release_to(cut)
    }

    fn release_to(&mut self, upto: usize) -> String {
        if upto <= self.released {
            return String::new();
        }
        let out = self.text[self.released..upto].to_string();
        self.released = upto;
        out
    }

    /// Where held-back text starts: the start of an echo of earlier words, or of an unfinished
    /// last word that begins like an earlier word.
    fn hold_from(&self) -> usize {
        let mut from = self.text.len();
        if !self.limits.stop_repetition {
            return self.text.trim_end().len();
        }
        if let Some(len) = self.echoes.iter().map(|&(_, l)| l).max() {
            let first = self.words.len() - len;
            from = from.min(self.words[first].start);
        }
        let tail = &self.text[self.word_scan..];
        let tail_norm = normalize_word(tail);
        if !tail_norm.is_empty() && self.words.iter().any(|w| w.norm.starts_with(&tail_norm)) {
            from = from.min(self.word_scan);
        }
        // Hold the whitespace before the held word too.
        self.text[..from].trim_end().len()
    }

    /// Takes the words completed since the last call (all of them at the end of the reply);
    /// returns where to cut if a word loop appeared.
    fn take_words(&mut self, at_end: bool) -> Option<usize> {
        let region = &self.text[self.word_scan..];
        let complete = if at_end {
            region.len()
        } else {
            region.rfind(char::is_whitespace)?
        };
        let mut found = Vec::new();
        let mut offset = self.word_scan;
        for part in region[..complete].split_inclusive(char::is_whitespace) {
            let word = part.trim();
            if !word.is_empty() {
                let lead = part.len() - part.trim_start().len();
                found.push((normalize_word(word), offset + lead));
            }
            offset += part.len();
        }
        self.word_scan += complete;
        for (norm, start) in found {
            if norm.is_empty() {
                continue; // punctuation alone ("—")
            }
            if let Some(cut) = self.add_word(norm, start) {
                return Some(cut);
            }
        }
        None
    }

    fn add_word(&mut self, norm: String, start: usize) -> Option<usize> {
        let i = self.words.len();
        let mut next: Vec<(usize, usize)> = Vec::new();
        if self.limits.stop_repetition {
            for &(p, len) in &self.echoes {
                if p + 1 < i && self.words[p + 1].norm == norm {
                    next.push((p + 1, len + 1));
                }
            }
            for (j, w) in self.words.iter().enumerate() {
                if w.norm == norm && !next.iter().any(|&(p, _)| p == j) {
                    next.push((j, 1));
                }
            }
        }
        self.words.push(Word { norm, start });
        self.echoes = next;
        let longest = self.echoes.iter().map(|&(_, l)| l).max().unwrap_or(0);
        (longest >= LOOP_WORDS).then(|| self.words[i + 1 - longest].start)
    }

    /// Counts the sentences just completed; a stop and its cut if one is due.
    fn check_sentences(&mut self, done: Vec<String>) -> Option<(GuardStop, usize)> {
        for sentence in done {
            let at = self.text[self.sentence_cursor..]
                .find(sentence.as_str())
                .map_or(self.sentence_cursor, |p| p + self.sentence_cursor);
            let end = at + sentence.len();
            self.sentence_cursor = end;
            let norm = normalize_sentence(&sentence);
            if self.limits.stop_repetition && !norm.is_empty() && self.said.contains(&norm) {
                return Some((GuardStop::Repetition, at));
            }
            self.said.push(norm);
            let max = self.limits.max_sentences as usize;
            if max > 0 && self.said.len() >= max {
                return Some((GuardStop::Sentences, end));
            }
        }
        None
    }
}

/// A word for comparison: lowercase, without surrounding punctuation.
fn normalize_word(w: &str) -> String {
    w.trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

fn normalize_sentence(s: &str) -> String {
    s.split_whitespace()
        .map(normalize_word)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ReplyLimits {
        ReplyLimits {
            max_sentences: 3,
            max_tokens: 100,
            stop_repetition: true,
        }
    }

    /// Feeds `tokens` one by one; returns (spoken text, stop reason, tokens fed until the stop).
    fn run(tokens: &[&str], limits: ReplyLimits) -> (String, Option<GuardStop>, usize) {
        let mut g = ReplyGuard::new(limits);
        let mut out = String::new();
        let mut fed = 0;
        for t in tokens {
            if g.stopped().is_some() {
                break;
            }
            out.push_str(&g.push(t));
            fed += 1;
        }
        out.push_str(&g.finish());
        (out, g.stopped(), fed)
    }

    /// Splits text into word-ish tokens as a model streams them (" word", ".").
    fn tokens(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for c in text.chars() {
            if (c == ' ' || c == '.' || c == ',') && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    fn run_text(text: &str, limits: ReplyLimits) -> (String, Option<GuardStop>, usize) {
        let t = tokens(text);
        run(&t.iter().map(String::as_str).collect::<Vec<_>>(), limits)
    }

    #[test]
    fn a_looping_sentence_is_said_once() {
        let looping = "You are open-door dental clinic. ".repeat(256);
        let (spoken, stop, fed) = run_text(&looping, limits());
        assert_eq!(spoken, "You are open-door dental clinic.");
        assert_eq!(stop, Some(GuardStop::Repetition));
        assert!(fed < 20, "stopped after {fed} tokens");
    }

    #[test]
    fn a_loop_without_punctuation_stops_before_repeating() {
        let looping = "please hold the line while I check ".repeat(40);
        let (spoken, stop, fed) = run_text(&looping, limits());
        assert_eq!(spoken, "please hold the line while I check");
        assert_eq!(stop, Some(GuardStop::Repetition));
        assert!(fed < 20, "{fed}");
        // A short phrase repeated: caught once six words echo.
        let (spoken, stop, _) = run_text(&"dental clinic ".repeat(30), limits());
        assert_eq!(spoken, "dental clinic");
        assert_eq!(stop, Some(GuardStop::Repetition));
    }

    #[test]
    fn the_sentence_cap_cuts_at_a_sentence_end() {
        let text = "Your order shipped. It arrives Monday. The courier calls first. \
                    Anything else? Have a nice day.";
        let (spoken, stop, _) = run_text(text, limits());
        assert_eq!(
            spoken,
            "Your order shipped. It arrives Monday. The courier calls first."
        );
        assert_eq!(stop, Some(GuardStop::Sentences));
    }

    #[test]
    fn the_token_cap_stops_an_endless_sentence() {
        let words: Vec<String> = (0..500).map(|i| format!(" word{i}")).collect();
        let toks: Vec<&str> = words.iter().map(String::as_str).collect();
        let (spoken, stop, fed) = run(&toks, limits());
        assert_eq!(stop, Some(GuardStop::Tokens));
        assert_eq!(fed, 100);
        assert!(spoken.ends_with("word99"), "{spoken}");
    }

    #[test]
    fn ordinary_replies_pass_unchanged_and_in_order() {
        for text in [
            "Sure, I can help you with that. What is your order number?",
            "Your appointment is on Monday. Your appointment can be moved.",
            "Да, конечно. Ваш заказ отправлен, он придёт в понедельник.",
            "The the cat sat on the mat and the dog sat on the rug.",
        ] {
            let (spoken, stop, _) = run_text(text, limits());
            assert_eq!(spoken, text);
            assert_eq!(stop, None);
        }
    }

    #[test]
    fn held_text_is_released_as_soon_as_it_diverges() {
        let mut g = ReplyGuard::new(limits());
        let mut spoken = g.push("I can help");
        spoken += &g.push(".");
        spoken += &g.push(" I");
        assert_eq!(
            spoken, "I can help.",
            "a word that starts like an earlier one waits"
        );
        spoken += &g.push(" will");
        assert_eq!(spoken, "I can help.", "an echo of earlier words waits");
        spoken += &g.push(" call");
        assert_eq!(
            spoken, "I can help. I will call",
            "released once it diverges"
        );
        spoken += &g.finish();
        assert_eq!(spoken, "I can help. I will call");
    }

    #[test]
    fn russian_repeats_are_caught_too() {
        let (spoken, stop, _) = run_text(&"Вы позвонили в клинику. ".repeat(10), limits());
        assert_eq!(spoken, "Вы позвонили в клинику.");
        assert_eq!(stop, Some(GuardStop::Repetition));
    }

    #[test]
    fn limits_off_pass_everything() {
        let text = "You are here. ".repeat(5);
        let (spoken, stop, _) = run_text(&text, ReplyLimits::off());
        assert_eq!(spoken, text);
        assert_eq!(stop, None);
    }
}
