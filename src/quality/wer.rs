//! Word error rate (WER): word-level edit distance between a reference and a hypothesis,
//! after a normalisation that ignores case and punctuation (what a listener ignores too).

/// The edit counts behind a WER figure; add several together for a corpus WER.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WerStats {
    /// Reference words replaced by another word.
    pub substitutions: usize,
    /// Reference words missing from the hypothesis.
    pub deletions: usize,
    /// Hypothesis words not in the reference.
    pub insertions: usize,
    /// Words in the (normalised) reference.
    pub reference_words: usize,
}

impl WerStats {
    /// Total edits.
    pub fn errors(&self) -> usize {
        self.substitutions + self.deletions + self.insertions
    }

    /// WER as a fraction (0.0 = perfect; can exceed 1.0 with many insertions). An empty
    /// reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    pub fn rate(&self) -> f64 {
        if self.reference_words == 0 {
            return if self.insertions == 0 { 0.0 } else { 1.0 };
        }
        self.errors() as f64 / self.reference_words as f64
    }
}

/// Sums two sets of counts (corpus WER = total errors / total reference words).
impl std::ops::Add for WerStats {
    type Output = WerStats;
    fn add(self, other: WerStats) -> WerStats {
        WerStats {
            substitutions: self.substitutions + other.substitutions,
            deletions: self.deletions + other.deletions,
            insertions: self.insertions + other.insertions,
            reference_words: self.reference_words + other.reference_words,
        }
    }
}

impl std::iter::Sum for WerStats {
    fn sum<I: Iterator<Item = WerStats>>(iter: I) -> WerStats {
        iter.fold(WerStats::default(), |a, b| a + b)
    }
}

/// Lower-cases, maps every character that is not a letter, digit or an apostrophe inside a
/// word to a space, and splits on whitespace. Works for Cyrillic as for Latin (ё → е, as
/// Russian transcripts mix them).
pub fn normalize_for_wer(text: &str) -> Vec<String> {
    let lowered: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ё' => 'е',
            '’' | '`' => '\'',
            c => c,
        })
        .collect();
    let chars: Vec<char> = lowered.chars().collect();
    let mut cleaned = String::with_capacity(lowered.len());
    for (i, &c) in chars.iter().enumerate() {
        let keep = c.is_alphanumeric()
            || (c == '\''
                && i > 0
                && chars[i - 1].is_alphanumeric()
                && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric()));
        cleaned.push(if keep { c } else { ' ' });
    }
    cleaned.split_whitespace().map(str::to_string).collect()
}

/// WER of `hypothesis` against `reference`, both normalised with [`normalize_for_wer`].
pub fn word_error_rate(reference: &str, hypothesis: &str) -> WerStats {
    align(
        &normalize_for_wer(reference),
        &normalize_for_wer(hypothesis),
    )
}

/// Minimum-edit alignment of two word sequences (Levenshtein, ties broken towards
/// substitutions so the counts match the usual `jiwer`-style figures).
pub fn align(reference: &[String], hypothesis: &[String]) -> WerStats {
    let (n, m) = (reference.len(), hypothesis.len());
    // cost[i][j] = (edits, subs, dels, ins) for reference[..i] vs hypothesis[..j].
    let mut prev: Vec<(usize, usize, usize, usize)> = (0..=m).map(|j| (j, 0, 0, j)).collect();
    for i in 1..=n {
        let mut cur = vec![(i, 0, i, 0); m + 1];
        for j in 1..=m {
            let same = reference[i - 1] == hypothesis[j - 1];
            let diag = prev[j - 1];
            let sub = if same {
                diag
            } else {
                (diag.0 + 1, diag.1 + 1, diag.2, diag.3)
            };
            let del = (prev[j].0 + 1, prev[j].1, prev[j].2 + 1, prev[j].3);
            let ins = (
                cur[j - 1].0 + 1,
                cur[j - 1].1,
                cur[j - 1].2,
                cur[j - 1].3 + 1,
            );
            let mut best = sub;
            for cand in [del, ins] {
                if cand.0 < best.0 {
                    best = cand;
                }
            }
            cur[j] = best;
        }
        prev = cur;
    }
    let (_, substitutions, deletions, insertions) = prev[m];
    WerStats {
        substitutions,
        deletions,
        insertions,
        reference_words: n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_after_normalisation_is_zero() {
        let s = word_error_rate(
            "And so, my fellow Americans: ask not!",
            "and so my fellow americans ask not",
        );
        assert_eq!(s.errors(), 0);
        assert_eq!(s.reference_words, 7);
    }

    #[test]
    fn counts_each_kind_of_edit() {
        let s = word_error_rate("a b c d", "a x c d e");
        assert_eq!((s.substitutions, s.deletions, s.insertions), (1, 0, 1));
        let s = word_error_rate("a b c d", "a d");
        assert_eq!((s.substitutions, s.deletions, s.insertions), (0, 2, 0));
        assert!((s.rate() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn apostrophes_inside_words_are_kept_and_cyrillic_works() {
        assert_eq!(normalize_for_wer("Don't 'quote'"), vec!["don't", "quote"]);
        assert_eq!(normalize_for_wer("Ещё раз, Ёж."), vec!["еще", "раз", "еж"]);
    }

    #[test]
    fn empty_reference() {
        assert_eq!(word_error_rate("", "").rate(), 0.0);
        assert_eq!(word_error_rate("", "hello").rate(), 1.0);
    }
}
