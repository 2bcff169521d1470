//! What the caller actually heard of an interrupted reply, for the history and the record.

/// The text of `sentences` that was played, given how many samples of each went out.
///
/// Sentences played in full are kept whole; of the one being played at the cut, the words
/// in proportion to the samples sent (speech rate is close to even within a sentence); the
/// rest is dropped. `sentences` is `(text, sent_samples, total_samples)` in playing order.
pub fn played_text(sentences: &[(String, usize, usize)]) -> String {
    let mut out: Vec<String> = Vec::new();
    for (text, sent, total) in sentences {
        if *total == 0 || *sent >= *total {
            out.push(text.clone());
            continue;
        }
        if *sent == 0 {
            break;
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        let n = (words.len() * sent) / total;
        if n > 0 {
            out.push(format!("{}…", words[..n].join(" ")));
        }
        break;
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::played_text;

    #[test]
    fn keeps_whole_sentences_and_the_heard_part_of_the_cut_one() {
        let s = vec![
            ("Hello there.".to_string(), 100, 100),
            ("Your order ships on Monday morning.".to_string(), 50, 100),
            ("Anything else?".to_string(), 0, 80),
        ];
        assert_eq!(played_text(&s), "Hello there. Your order ships…");
    }

    #[test]
    fn nothing_heard_is_empty() {
        let s = vec![("Привет.".to_string(), 0, 100)];
        assert_eq!(played_text(&s), "");
    }

    #[test]
    fn a_later_sentence_never_counts_after_a_cut() {
        let s = vec![
            ("One two three four.".to_string(), 10, 100),
            ("Five.".to_string(), 100, 100),
        ];
        assert_eq!(played_text(&s), "");
    }
}
