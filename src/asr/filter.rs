//! Hallucination filter: decides, per decoded segment, whether its text is kept.
//!
//! Whisper's best-known failure on phone lines is inventing text on silence and line noise
//! ("Thank you.", "Субтитры сделал DimaTorzok", repeated phrases). These are pure functions over
//! the decoder's own statistics (no-speech probability, average token log-probability) and the
//! input level, so they are tested without a model.

use serde::Serialize;

/// Thresholds of the filter (from `[asr]`).
#[derive(Debug, Clone, PartialEq)]
pub struct FilterConfig {
    /// Whisper's rule, part 1: no-speech probability above this …
    pub no_speech_threshold: f32,
    /// … together with an average log-probability below this drops the segment.
    pub logprob_threshold: f32,
    /// A segment whose no-speech probability alone is above this is dropped.
    pub drop_no_speech_prob: f32,
    /// A segment whose average token log-probability alone is below this is dropped.
    pub drop_avg_logprob: f32,
    /// Input quieter than this (dBFS RMS) counts as near-silent: known hallucination
    /// phrases are dropped on it.
    pub quiet_dbfs: f32,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            no_speech_threshold: 0.6,
            logprob_threshold: -1.0,
            drop_no_speech_prob: 0.8,
            drop_avg_logprob: -1.5,
            quiet_dbfs: -45.0,
        }
    }
}

/// What the filter looks at for one segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentEvidence<'a> {
    /// Decoded text.
    pub text: &'a str,
    /// Whisper's no-speech probability for the window the segment came from.
    pub no_speech_prob: f32,
    /// Mean log-probability of the segment's text tokens.
    pub avg_logprob: f32,
    /// RMS level of the whole input, dBFS.
    pub input_dbfs: f32,
}

/// Why a segment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// No letters or digits in the text.
    Empty,
    /// Whisper's own rule: likely no speech and low confidence.
    NoSpeech,
    /// No-speech probability alone is very high.
    NoSpeechHigh,
    /// Token confidence alone is very low.
    LowConfidence,
    /// A phrase Whisper is known to invent, on near-silent input.
    KnownHallucination,
    /// The same words repeated over and over (decoder loop).
    Repetition,
    /// The segment repeats text an earlier kept segment already has (a loop across
    /// segments: with a short encoder window Whisper re-reads the same sentence per segment).
    RepeatedSegment,
    /// A doubtful segment after real speech with less audio than its words need (Whisper
    /// decoding the silence at the end of a short encoder window: "… himself. Thank you.").
    ImplausiblyShort,
}

/// Phrases Whisper produces on silence/noise (normalised: lowercase, letters and spaces only).
const KNOWN_HALLUCINATIONS: &[&str] = &[
    "thank you",
    "thanks for watching",
    "thank you for watching",
    "thank you very much",
    "please subscribe",
    "subtitles by the amara org community",
    "you",
    "bye",
    "music",
    "blank audio",
    "silence",
    "продолжение следует",
    "спасибо за просмотр",
    "спасибо",
    "субтитры сделал dimatorzok",
    "субтитры создавал dimatorzok",
    "субтитры делал dimatorzok",
    "редактор субтитров а синецкая корректор а егорова",
    "подписывайтесь на канал",
    "музыка",
];

/// Lowercases and keeps letters/digits, collapsing everything else to single spaces.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    out.trim_end().to_string()
}

/// True if `text` is one of the phrases Whisper invents on silence.
pub fn is_known_hallucination(text: &str) -> bool {
    let n = normalise(text);
    KNOWN_HALLUCINATIONS.contains(&n.as_str())
}

/// True if the text is a decoder loop: at least 8 words and under a quarter of them distinct,
/// or one word/character n-gram repeated to fill most of the text.
pub fn is_repetition(text: &str) -> bool {
    let n = normalise(text);
    let words: Vec<&str> = n.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() >= 8 {
        let mut distinct = words.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() * 4 < words.len() {
            return true;
        }
    }
    false
}

/// Shortest segment (in words) the cross-segment rule judges: "no. no." is a caller, not a loop.
const REPEAT_MIN_WORDS: usize = 3;

/// True if `text` repeats what one of `kept` (earlier kept segments' texts) already says: its
/// normalised words appear, in order, inside one earlier segment, or the two differ in under
/// a fifth of their words. Real callers do not repeat a sentence of three words or more
/// verbatim within one turn; Whisper's cross-segment loops do exactly that.
pub fn is_repeated_segment(kept: &[&str], text: &str) -> bool {
    let n = normalise(text);
    let words: Vec<&str> = n.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() < REPEAT_MIN_WORDS {
        return false;
    }
    kept.iter().any(|earlier| {
        let e = normalise(earlier);
        let prev: Vec<&str> = e.split(' ').filter(|w| !w.is_empty()).collect();
        if prev.len() < REPEAT_MIN_WORDS {
            return false;
        }
        if prev.windows(words.len()).any(|w| w == words.as_slice()) {
            return true;
        }
        let distance = edit_distance(&prev, &words);
        distance * 5 < prev.len().max(words.len())
    })
}

/// Least audio a spoken word takes; faster is not speech but text decoded from padding.
const MIN_SECONDS_PER_WORD: f64 = 0.08;
/// Average token log-probability under which a too-short trailing segment counts as doubtful.
const SHORT_SEGMENT_MAX_LOGPROB: f32 = -0.7;

/// True if a segment that follows kept speech is too short for its words (under 80 ms of audio
/// per word) and decoded with doubt (average log-probability below −0.7). Whisper places such
/// segments at the very end of the audio when its encoder window has silence after the speech.
pub fn is_implausibly_short(
    follows_speech: bool,
    start: f64,
    end: f64,
    text: &str,
    avg_logprob: f32,
) -> bool {
    let words = normalise(text).split(' ').filter(|w| !w.is_empty()).count();
    follows_speech
        && words > 0
        && (end - start) < MIN_SECONDS_PER_WORD * words as f64
        && avg_logprob < SHORT_SEGMENT_MAX_LOGPROB
}

/// Word-level Levenshtein distance.
fn edit_distance(a: &[&str], b: &[&str]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, wa) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, wb) in b.iter().enumerate() {
            let next = (diag + usize::from(wa != wb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The filter's decision for one segment: `None` keeps it.
pub fn judge_segment(seg: &SegmentEvidence<'_>, cfg: &FilterConfig) -> Option<DropReason> {
    let norm = normalise(seg.text);
    if norm.is_empty() {
        return Some(DropReason::Empty);
    }
    if seg.no_speech_prob > cfg.no_speech_threshold && seg.avg_logprob < cfg.logprob_threshold {
        return Some(DropReason::NoSpeech);
    }
    if seg.no_speech_prob > cfg.drop_no_speech_prob {
        return Some(DropReason::NoSpeechHigh);
    }
    if seg.avg_logprob < cfg.drop_avg_logprob {
        return Some(DropReason::LowConfidence);
    }
    if KNOWN_HALLUCINATIONS.contains(&norm.as_str())
        && (seg.input_dbfs < cfg.quiet_dbfs || seg.no_speech_prob > 0.3)
    {
        return Some(DropReason::KnownHallucination);
    }
    if is_repetition(seg.text) {
        return Some(DropReason::Repetition);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(text: &str, ns: f32, lp: f32, db: f32) -> SegmentEvidence<'_> {
        SegmentEvidence {
            text,
            no_speech_prob: ns,
            avg_logprob: lp,
            input_dbfs: db,
        }
    }

    #[test]
    fn keeps_confident_speech() {
        let c = FilterConfig::default();
        assert_eq!(
            judge_segment(&ev(" And so my fellow Americans", 0.01, -0.3, -20.0), &c),
            None
        );
        assert_eq!(
            judge_segment(
                &ev("Здравствуйте, я по поводу кредита", 0.1, -0.5, -25.0),
                &c
            ),
            None
        );
    }

    #[test]
    fn drops_by_probabilities() {
        let c = FilterConfig::default();
        assert_eq!(
            judge_segment(&ev("hello there", 0.7, -1.2, -30.0), &c),
            Some(DropReason::NoSpeech)
        );
        assert_eq!(
            judge_segment(&ev("hello there", 0.9, -0.2, -30.0), &c),
            Some(DropReason::NoSpeechHigh)
        );
        assert_eq!(
            judge_segment(&ev("hello there", 0.1, -2.0, -30.0), &c),
            Some(DropReason::LowConfidence)
        );
        // Whisper's rule needs both conditions.
        assert_eq!(
            judge_segment(&ev("hello there", 0.7, -0.5, -30.0), &c),
            None
        );
    }

    #[test]
    fn drops_known_phrases_only_on_quiet_input() {
        let c = FilterConfig::default();
        assert_eq!(
            judge_segment(&ev(" Thank you.", 0.1, -0.4, -60.0), &c),
            Some(DropReason::KnownHallucination)
        );
        assert_eq!(
            judge_segment(&ev("Субтитры сделал DimaTorzok", 0.05, -0.3, -70.0), &c),
            Some(DropReason::KnownHallucination)
        );
        // A caller who really says "thank you" on a live line keeps it.
        assert_eq!(
            judge_segment(&ev(" Thank you.", 0.05, -0.4, -22.0), &c),
            None
        );
    }

    #[test]
    fn drops_empty_and_loops() {
        let c = FilterConfig::default();
        assert_eq!(
            judge_segment(&ev(" ... ", 0.0, -0.1, -20.0), &c),
            Some(DropReason::Empty)
        );
        let looped = "the the the the the the the the the the";
        assert_eq!(
            judge_segment(&ev(looped, 0.0, -0.1, -20.0), &c),
            Some(DropReason::Repetition)
        );
    }

    #[test]
    fn drops_segments_that_repeat_earlier_ones() {
        let first = " And so, my fellow Americans, ask not what your country can do for you.";
        // The same sentence again, a fragment of it, a near copy: loops.
        assert!(is_repeated_segment(&[first], first));
        assert!(is_repeated_segment(&[first], " ask not what your country"));
        assert!(is_repeated_segment(
            &[first],
            " And so my fellow Americans, ask not what the country can do for you."
        ));
        // New words are kept; a short real repetition ("no, no") is kept.
        assert!(!is_repeated_segment(
            &[first],
            " Ask what you can do for your country."
        ));
        assert!(!is_repeated_segment(&[" No.", " no"], " No, no."));
        assert!(!is_repeated_segment(&[], first));
    }

    #[test]
    fn drops_trailing_text_decoded_from_silence() {
        // Measured: librivox clip 0930 at 8 kHz with dynamic_audio_ctx, 3.16 → 3.29 s, −1.1.
        assert!(is_implausibly_short(true, 3.16, 3.29, " Thank you.", -1.1));
        // A confident short answer, the only segment, or one with time for its words stays.
        assert!(!is_implausibly_short(true, 3.16, 3.29, " Thank you.", -0.3));
        assert!(!is_implausibly_short(false, 0.0, 0.1, " Yes.", -1.1));
        assert!(!is_implausibly_short(true, 3.0, 3.6, " Thank you.", -1.1));
    }

    #[test]
    fn normalises() {
        assert_eq!(normalise("  Thank you!!  "), "thank you");
        assert_eq!(
            normalise("Редактор субтитров А.Синецкая"),
            "редактор субтитров а синецкая"
        );
    }
}
