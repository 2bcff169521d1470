//! End-of-turn benchmark (`agent bench turn`): how soon after the caller's true end each rule
//! ends the turn, and how often it cuts in at a mid-sentence thinking pause.
//!
//! The pause set is spoken by a real Piper voice: each utterance is synthesised as one
//! sentence, cut at its thinking points and re-joined with 300–1200 ms of silence there
//! ("my order number is … four five … seven"), so the words before a pause keep the prosody
//! of a sentence that goes on.
//! Each clip is streamed through the real Silero endpointer in 20 ms frames, and at each
//! short pause the rule decides as it would in a call:
//! - **silence + punctuation** (today's rule): at `short_ms` of silence Whisper transcribes
//!   the turn; a transcript ending in `. ? ! …` ends the turn when it is ready, otherwise the
//!   turn ends at `long_ms` of silence unless the caller speaks again;
//! - **smart-turn**: at `short_ms` of silence smart-turn scores the last 8 s; at or above its
//!   threshold the turn ends when the score is ready, otherwise at `long_ms` of silence.
//!
//! As in a call, the models can start before the short pause (the VAD reports the utterance at
//! the rule's `vad_pause`, `--transcribe-ms`): the decision is then due at the later of the
//! silence the rule waits and the report plus the models' compute.
//!
//! A decision before the clip's last speech is a premature cut. Decision times are media time
//! plus the measured compute time of the model that decided (Whisper or smart-turn) that is
//! left after the silence it waits.

use crate::asr::{AsrEngine, TranscribeOptions};
use crate::config::VadConfig;
use crate::conversation::turn_taking::{silence_needed, TurnTakingConfig};
use crate::vad::{EndOfTurnModel, Endpointer, SileroModel, VadEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sample rate of the clips.
pub const RATE: u32 = 16_000;

/// The pause set's utterances: fragments between thinking points.
pub const PAUSE_SET: &[&[&str]] = &[
    &["My order number is", "four five", "seven."],
    &["I'd like to book a table", "for Tuesday."],
    &[
        "My date of birth is the",
        "fourteenth of March,",
        "nineteen eighty two.",
    ],
    &["My name is", "John", "Smith."],
    &["I want to change my flight to", "Friday the twelfth."],
    &["The account is under", "Maria Garcia."],
    &["Can you send it to", "forty two", "Baker Street?"],
    &[
        "My phone number is",
        "five five five,",
        "one two three,",
        "four five six seven.",
    ],
    &["I'm calling about the invoice from", "last month."],
    &[
        "Could you move my appointment to",
        "next Wednesday",
        "at three?",
    ],
    &["I'd like to order", "two large pizzas", "and a salad."],
    &["My card ends in", "four four", "two one."],
    &["I need a taxi", "from the station", "to the airport."],
    &["Please cancel", "my subscription."],
    &["The meeting is on the", "third of June."],
    &["My email is", "john dot smith", "at example dot com."],
    &["I was charged", "twice for the same order."],
    &["We are", "four people", "for dinner on Saturday."],
    &["I'd like to speak to", "someone in billing."],
    &["The booking reference is", "K L M", "nine eight three."],
];

/// Thinking-pause lengths, cycled through the set (milliseconds).
pub const PAUSES_MS: &[u32] = &[300, 500, 700, 900, 1200, 400, 600, 800, 1000, 1100];

/// One clip to decide on.
#[derive(Debug, Clone)]
pub struct PauseClip {
    /// What is said (fragments joined with " … ").
    pub name: String,
    /// 16 kHz mono audio, ending in enough silence for the longest rule.
    pub audio: Vec<f32>,
    /// Mid-sentence pauses in it (where a decision would be premature).
    pub mid_pauses: usize,
}

/// What a rule consults at a short pause. Share one `Arc` between rules with different
/// silences or thresholds: its answers (the model's probability, the transcript) are cached
/// per turn audio, so each pause costs one model run whatever the rules make of it.
pub enum Decider {
    /// Nothing: the turn ends at the long silence.
    Silence,
    /// Whisper: a transcript ending in `. ? ! …` ends the turn (the call's rule without a model).
    Punctuation(Arc<AsrEngine>, TranscribeOptions, AnswerCache),
    /// smart-turn (or any end-of-turn model) alone: at or above the threshold ends the turn.
    Model(Arc<dyn EndOfTurnModel>, AnswerCache),
    /// What a call does: smart-turn and the transcript (Whisper, run at the same pause),
    /// weighed by `turn_taking::silence_needed`.
    ModelAndWords(
        Arc<dyn EndOfTurnModel>,
        Arc<AsrEngine>,
        TranscribeOptions,
        AnswerCache,
    ),
}

/// What a decider's models said about one turn, and what it cost.
#[derive(Debug, Clone)]
pub struct Signals {
    /// The end-of-turn model's probability of "finished" (None: not asked).
    pub probability: Option<f32>,
    /// The transcript (None: not transcribed).
    pub text: Option<String>,
    /// Wall time of the compute (both models side by side: the slower one).
    pub wall: Duration,
    /// CPU time of the compute (process CPU time over the call; both models: the larger one).
    pub cpu: Duration,
}

/// Cached answers of a decider, keyed by a fingerprint of the turn audio.
pub type AnswerCache = Arc<std::sync::Mutex<std::collections::HashMap<u64, Signals>>>;

/// CPU time of this process so far (all threads: the engines' pools included).
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f`, returning its result with its wall and process CPU time.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (t, c) = (Instant::now(), process_cpu_time());
    let out = f();
    (out, t.elapsed(), process_cpu_time().saturating_sub(c))
}

impl Decider {
    /// A Whisper punctuation decider.
    pub fn punctuation(asr: Arc<AsrEngine>, opts: TranscribeOptions) -> Arc<Decider> {
        Arc::new(Decider::Punctuation(asr, opts, AnswerCache::default()))
    }

    /// An end-of-turn model decider.
    pub fn model(model: Arc<dyn EndOfTurnModel>) -> Arc<Decider> {
        Arc::new(Decider::Model(model, AnswerCache::default()))
    }

    /// smart-turn and the transcript together (the call's rule).
    pub fn model_and_words(
        model: Arc<dyn EndOfTurnModel>,
        asr: Arc<AsrEngine>,
        opts: TranscribeOptions,
    ) -> Arc<Decider> {
        Arc::new(Decider::ModelAndWords(
            model,
            asr,
            opts,
            AnswerCache::default(),
        ))
    }

    /// What the models say about the turn so far (cached per turn audio).
    pub fn signals(&self, turn_audio: &[f32]) -> anyhow::Result<Signals> {
        let cache = match self {
            Decider::Silence => {
                return Ok(Signals {
                    probability: None,
                    text: None,
                    wall: Duration::ZERO,
                    cpu: Duration::ZERO,
                })
            }
            Decider::Punctuation(_, _, c)
            | Decider::Model(_, c)
            | Decider::ModelAndWords(_, _, _, c) => c,
        };
        let key = fingerprint(turn_audio);
        if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(hit.clone());
        }
        let probability = |model: &Arc<dyn EndOfTurnModel>| {
            timed(|| futures::executor::block_on(model.finished_probability(turn_audio.to_vec())))
        };
        let transcript = |asr: &AsrEngine, opts: &TranscribeOptions| {
            timed(|| asr.transcribe_blocking(turn_audio, opts))
        };
        let answer = match self {
            Decider::Silence => unreachable!(),
            Decider::Punctuation(asr, opts, _) => {
                let (tr, wall, cpu) = transcript(asr, opts);
                Signals {
                    probability: None,
                    text: Some(tr?.text),
                    wall,
                    cpu,
                }
            }
            Decider::Model(model, _) => {
                let (p, wall, cpu) = probability(model);
                Signals {
                    probability: Some(p?),
                    text: None,
                    wall,
                    cpu,
                }
            }
            Decider::ModelAndWords(model, asr, opts, _) => {
                let (p, w1, c1) = probability(model);
                let (tr, w2, c2) = transcript(asr, opts);
                // In a call both run at the same pause, side by side.
                Signals {
                    probability: Some(p?),
                    text: Some(tr?.text),
                    wall: w1.max(w2),
                    cpu: c1.max(c2),
                }
            }
        };
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, answer.clone());
        Ok(answer)
    }
}

fn fingerprint(audio: &[f32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    audio.len().hash(&mut h);
    for s in audio.iter().step_by(97) {
        s.to_bits().hash(&mut h);
    }
    h.finish()
}

/// Which compute time delays a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Wall time (what this run's box gave the models).
    Wall,
    /// Process CPU time (load-independent; an upper bound on an idle core's wall time for a
    /// single-threaded engine).
    Cpu,
}

/// A rule that ends turns: consult `decider` at the short pause, then wait for the silence
/// `turn_taking::silence_needed` gives for what it said.
pub struct Rule {
    /// The silences (and the punctuation requirement) of the call's turn-taking.
    pub turn: TurnTakingConfig,
    /// Probability at or above which the end-of-turn model's answer is "finished".
    pub threshold: f32,
    /// What decides at the short pause.
    pub decider: Arc<Decider>,
}

impl Rule {
    /// Short silence (ms) at which the decider runs (also the VAD's trailing silence).
    pub fn short_ms(&self) -> u32 {
        self.turn.short_pause.as_millis() as u32
    }

    /// The long silence (ms).
    pub fn long_ms(&self) -> u32 {
        self.turn.long_silence.as_millis() as u32
    }

    /// A short name for reports.
    pub fn label(&self) -> String {
        let (short, long) = (self.short_ms(), self.long_ms());
        let medium = self.turn.medium_silence.as_millis() as u32;
        let tiers = if medium < long {
            format!("{short}/{medium}/{long}")
        } else {
            format!("{short}/{long}")
        };
        let thr = self.threshold;
        match &*self.decider {
            Decider::Silence => format!("silence {long} ms only"),
            Decider::Punctuation(..) => format!("silence {short}/{long} + punctuation"),
            Decider::Model(..) => format!("smart-turn@{thr} {tiers}"),
            Decider::ModelAndWords(..) => format!(
                "st@{thr}+words{} {tiers}",
                if self.turn.require_punctuation {
                    "+punct"
                } else {
                    ""
                }
            ),
        }
    }

    /// The silence (total, after the last speech) this rule waits given the signals, and
    /// whether it is the short pause (the models decided) rather than a waited silence.
    pub fn needed(&self, s: &Signals) -> Duration {
        let finished = s.probability.map(|p| p >= self.threshold);
        match &*self.decider {
            Decider::Silence => self.turn.long_silence,
            Decider::Punctuation(..) => {
                silence_needed(&self.turn, None, s.text.as_deref().unwrap_or("")).0
            }
            Decider::Model(..) => {
                // The model alone: "finished" or the long silence.
                if finished == Some(true) {
                    self.turn.short_pause
                } else {
                    self.turn.long_silence
                }
            }
            Decider::ModelAndWords(..) => {
                silence_needed(&self.turn, finished, s.text.as_deref().unwrap_or("")).0
            }
        }
    }
}

/// One decision a rule took on a clip.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Media time (s) of the pause that triggered it (or of the long-silence deadline).
    pub media_s: f64,
    /// Compute time (s) before the decision could be acted on (wall or CPU: [`Timing`]).
    pub compute_s: f64,
    /// Wall time (s) of the models' run at this pause.
    pub wall_s: f64,
    /// Process CPU time (s) of the models' run at this pause.
    pub cpu_s: f64,
    /// True when it came from the long silence rather than the model.
    pub by_silence: bool,
    /// Before the clip's last speech: the caller had not finished.
    pub premature: bool,
    /// Premature and heard: the answer's first audio (`answer_s` after the decision) would
    /// play before the VAD confirms the caller's next words (a call retracts an answer not
    /// yet heard, so an early decision the caller talks over in time costs only compute).
    pub heard: bool,
    /// What the model said (transcript or probability).
    pub evidence: String,
}

/// Everything a rule decided on one clip.
#[derive(Debug, Clone)]
pub struct ClipResult {
    /// The clip.
    pub name: String,
    /// Media time (s) at which the last speech ends (VAD).
    pub true_end_s: f64,
    /// Every point at which the rule would have ended the turn (premature ones included:
    /// the evaluation pretends the agent held back, to count every pause).
    pub decisions: Vec<Decision>,
    /// Mid-sentence pauses in the clip.
    pub mid_pauses: usize,
}

impl ClipResult {
    /// Delay (s) from the true end to the first decision after it, compute included.
    pub fn end_delay_s(&self) -> Option<f64> {
        self.decisions
            .iter()
            .find(|d| !d.premature)
            .map(|d| d.media_s + d.compute_s - self.true_end_s)
    }

    /// Premature decisions.
    pub fn premature(&self) -> usize {
        self.decisions.iter().filter(|d| d.premature).count()
    }
}

/// Media time (s) at which the caller's last speech ends: the end of the last utterance the
/// endpointer confirms (at least `min_speech_ms` of speech, so a breath or click after the
/// sentence does not count), without end padding.
pub fn true_end(silero: &Arc<SileroModel>, audio: &[f32], vad: &VadConfig) -> anyhow::Result<f64> {
    let cfg = VadConfig {
        trailing_silence_ms: 100,
        pre_roll_ms: 0,
        ..vad.clone()
    };
    let segs = crate::vad::detect_segments(&cfg, Some(silero), audio)?;
    segs.last()
        .map(|s| s.end)
        .ok_or_else(|| anyhow::anyhow!("no speech in the clip"))
}

/// Streams `clip` through the endpointer and applies `rule` at every short pause.
pub fn evaluate(
    rule: &Rule,
    clip: &PauseClip,
    vad: &VadConfig,
    silero: &Arc<SileroModel>,
    timing: Timing,
    answer_s: f64,
) -> anyhow::Result<ClipResult> {
    let true_end_s = true_end(silero, &clip.audio, vad)?;
    // As in a call, the VAD reports the utterance at `vad_pause` (before the short pause when
    // the transcription starts early) and the models run from there.
    let cfg = VadConfig {
        trailing_silence_ms: rule.turn.vad_trailing_ms(),
        ..vad.clone()
    };
    let mut ep = Endpointer::new(&cfg, Some(silero))?;
    let reported = rule.turn.vad_pause;
    // The decision a pause leads to, due at a media time (the pause plus the decider's
    // compute, or the silence the rule waits): as in a call, confirmed speech before it is
    // due drops it (the caller went on while the model or Whisper was still working), and a
    // waited silence only runs out while no utterance is open (`TurnInput::MediaTime`'s
    // `in_speech`: a call does not count an unconfirmed utterance as silence either).
    let mut pending: Option<(Duration, Decision)> = None;
    let mut decisions: Vec<Decision> = Vec::new();
    // Decisions before this index have met the caller's next words already.
    let mut resolved = 0usize;
    let decision = |media: Duration, s: &Signals, compute: Duration, by_silence: bool| {
        let media_s = media.as_secs_f64();
        Decision {
            media_s,
            compute_s: compute.as_secs_f64(),
            wall_s: s.wall.as_secs_f64(),
            cpu_s: s.cpu.as_secs_f64(),
            by_silence,
            // A decision inside the last window of speech still counts as at the end.
            premature: media_s + 1e-3 < true_end_s,
            heard: false,
            evidence: match (&s.probability, &s.text) {
                (Some(p), Some(t)) => format!("p={p:.3} {t:?}"),
                (Some(p), None) => format!("p={p:.3}"),
                (None, Some(t)) => format!("{t:?}"),
                (None, None) => String::new(),
            },
        }
    };
    for frame in clip.audio.chunks(320) {
        let events = ep.push(frame)?;
        let now = ep.now();
        for e in events {
            match e {
                VadEvent::SpeechStart { .. } => {
                    pending = None;
                    // The caller went on: was an early answer heard before this?
                    for d in decisions[resolved..].iter_mut().filter(|d| d.premature) {
                        if !d.heard && d.media_s + d.compute_s + answer_s < now.as_secs_f64() {
                            d.heard = true;
                        }
                    }
                    resolved = decisions.len();
                }
                VadEvent::EndOfUtterance { .. } => {
                    let turn = &clip.audio[..(now.as_secs_f64() * RATE as f64) as usize];
                    let signals = rule.decider.signals(turn)?;
                    let compute = match timing {
                        Timing::Wall => signals.wall,
                        Timing::Cpu => signals.cpu,
                    };
                    let needed = rule.needed(&signals);
                    let due = DueDecision::after_report(reported, needed, compute);
                    let by_silence = needed > rule.turn.short_pause;
                    let d = decision(now + due.wait, &signals, due.compute_left, by_silence);
                    pending = Some((now + due.wait + due.compute_left, d));
                }
                VadEvent::SpeechContinue { .. } => {}
            }
        }
        let due = pending
            .as_ref()
            .is_some_and(|(due, d)| now >= *due && !(d.by_silence && ep.in_speech()));
        if due {
            let (_, mut d) = pending.take().expect("checked");
            if d.by_silence && now.as_secs_f64() > d.media_s + d.compute_s + 1e-3 {
                // Held by an utterance that never got confirmed: the silence ran out now.
                d.media_s = now.as_secs_f64() - d.compute_s;
                d.premature = d.media_s + 1e-3 < true_end_s;
            }
            decisions.push(d);
        }
    }
    if let Some((_, d)) = pending {
        decisions.push(d);
    }
    // A premature decision the caller never talked over (cannot happen on a clip that
    // ends in speech, but count it as heard).
    for d in decisions[resolved..].iter_mut().filter(|d| d.premature) {
        d.heard = true;
    }
    Ok(ClipResult {
        name: clip.name.clone(),
        true_end_s,
        decisions,
        mid_pauses: clip.mid_pauses,
    })
}

/// When a decision reported at a pause is taken: after the silence the rule still waits
/// from the report, and the models' compute that is left once that silence has passed (they
/// started at the report; the transcript is needed either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueDecision {
    /// Silence still to wait after the report (the media time of the decision).
    pub wait: Duration,
    /// Compute that runs past that silence.
    pub compute_left: Duration,
}

impl DueDecision {
    /// The VAD reported at `reported` of silence, the rule needs `needed` in all, and the
    /// models take `compute` from the report.
    pub fn after_report(reported: Duration, needed: Duration, compute: Duration) -> DueDecision {
        let wait = needed.saturating_sub(reported);
        DueDecision {
            wait,
            compute_left: compute.saturating_sub(wait),
        }
    }
}

/// A rule's numbers over the whole set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleSummary {
    /// The rule.
    pub rule: String,
    /// Clips evaluated.
    pub clips: usize,
    /// End-of-turn delay after the true end, compute included: p50 (ms).
    pub delay_p50_ms: f64,
    /// p95 (ms).
    pub delay_p95_ms: f64,
    /// Media-only delay p50 (ms): what the rule waits for, without the model's compute time.
    pub media_delay_p50_ms: f64,
    /// Media-only delay p95 (ms).
    pub media_delay_p95_ms: f64,
    /// Clips with at least one premature cut / clips.
    pub premature_clip_rate: f64,
    /// Premature cuts / mid-sentence pauses.
    pub premature_pause_rate: f64,
    /// Premature cuts the caller would hear (see [`Decision::heard`]) / mid-sentence pauses.
    pub heard_pause_rate: f64,
    /// Clips whose end was decided by the long silence rather than the model.
    pub ended_by_silence: usize,
    /// Mean compute per model call (ms), wall time.
    pub compute_mean_ms: f64,
    /// Mean process CPU time per model call (ms).
    pub cpu_mean_ms: f64,
}

/// p-quantile of `v` (nearest rank on the sorted values).
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

/// Summarises one rule's results.
pub fn summarise(rule: &str, results: &[ClipResult]) -> RuleSummary {
    let delays: Vec<f64> = results
        .iter()
        .filter_map(|r| r.end_delay_s())
        .map(|d| d * 1000.0)
        .collect();
    let media: Vec<f64> = results
        .iter()
        .filter_map(|r| {
            r.decisions
                .iter()
                .find(|d| !d.premature)
                .map(|d| (d.media_s - r.true_end_s) * 1000.0)
        })
        .collect();
    let pauses: usize = results.iter().map(|r| r.mid_pauses).sum();
    let premature: usize = results.iter().map(|r| r.premature()).sum();
    let calls: Vec<&Decision> = results
        .iter()
        .flat_map(|r| r.decisions.iter())
        .filter(|d| d.wall_s > 0.0 || d.cpu_s > 0.0)
        .collect();
    let mean = |f: fn(&Decision) -> f64| {
        if calls.is_empty() {
            0.0
        } else {
            calls.iter().map(|d| f(d) * 1000.0).sum::<f64>() / calls.len() as f64
        }
    };
    RuleSummary {
        rule: rule.to_string(),
        clips: results.len(),
        delay_p50_ms: quantile(&delays, 0.5),
        delay_p95_ms: quantile(&delays, 0.95),
        media_delay_p50_ms: quantile(&media, 0.5),
        media_delay_p95_ms: quantile(&media, 0.95),
        premature_clip_rate: results.iter().filter(|r| r.premature() > 0).count() as f64
            / results.len().max(1) as f64,
        premature_pause_rate: premature as f64 / pauses.max(1) as f64,
        heard_pause_rate: results
            .iter()
            .flat_map(|r| r.decisions.iter())
            .filter(|d| d.heard)
            .count() as f64
            / pauses.max(1) as f64,
        ended_by_silence: results
            .iter()
            .filter(|r| {
                r.decisions
                    .iter()
                    .find(|d| !d.premature)
                    .is_some_and(|d| d.by_silence)
            })
            .count(),
        compute_mean_ms: mean(|d| d.wall_s),
        cpu_mean_ms: mean(|d| d.cpu_s),
    }
}

/// Joins fragments (16 kHz) with the given pauses, with `lead` and `tail` silence (ms).
pub fn join_fragments(
    fragments: &[Vec<f32>],
    pauses_ms: &[u32],
    lead_ms: u32,
    tail_ms: u32,
) -> Vec<f32> {
    let silence = |ms: u32| vec![0f32; (ms as usize) * RATE as usize / 1000];
    let mut out = silence(lead_ms);
    for (i, f) in fragments.iter().enumerate() {
        if i > 0 {
            out.extend(silence(pauses_ms[(i - 1) % pauses_ms.len()]));
        }
        out.extend_from_slice(f);
    }
    out.extend(silence(tail_ms));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_are_joined_with_their_pauses() {
        let a = vec![0.5f32; 160];
        let b = vec![0.25f32; 320];
        let out = join_fragments(&[a, b], &[100], 10, 20);
        assert_eq!(out.len(), 160 + 160 + 1600 + 320 + 320);
        assert_eq!(out[160], 0.5);
        assert_eq!(out[160 + 160], 0.0);
        assert_eq!(out[160 + 160 + 1600], 0.25);
    }

    #[test]
    fn an_early_report_hides_the_models_compute_behind_the_short_pause() {
        let ms = Duration::from_millis;
        // Reported at the short pause (no early transcription): all compute comes after it.
        let at_short = DueDecision::after_report(ms(300), ms(300), ms(290));
        assert_eq!((at_short.wait, at_short.compute_left), (ms(0), ms(290)));
        // Reported at 120 ms: 180 ms of the 290 ms pass inside the short pause.
        let early = DueDecision::after_report(ms(120), ms(300), ms(290));
        assert_eq!((early.wait, early.compute_left), (ms(180), ms(110)));
        // Fast models: the short pause itself is the delay.
        let fast = DueDecision::after_report(ms(120), ms(300), ms(50));
        assert_eq!((fast.wait, fast.compute_left), (ms(180), ms(0)));
        // A long silence decides: compute is long done.
        let long = DueDecision::after_report(ms(120), ms(1000), ms(290));
        assert_eq!((long.wait, long.compute_left), (ms(880), ms(0)));
    }

    #[test]
    fn a_decision_before_the_last_speech_is_premature_and_delay_counts_compute() {
        let r = ClipResult {
            name: "x".into(),
            true_end_s: 2.0,
            decisions: vec![
                Decision {
                    media_s: 1.0,
                    compute_s: 0.05,
                    wall_s: 0.05,
                    cpu_s: 0.05,
                    by_silence: false,
                    premature: true,
                    heard: true,
                    evidence: String::new(),
                },
                Decision {
                    media_s: 2.2,
                    compute_s: 0.05,
                    wall_s: 0.05,
                    cpu_s: 0.05,
                    by_silence: false,
                    premature: false,
                    heard: false,
                    evidence: String::new(),
                },
            ],
            mid_pauses: 2,
        };
        assert_eq!(r.premature(), 1);
        assert!((r.end_delay_s().unwrap() - 0.25).abs() < 1e-9);
        let s = summarise("t", &[r]);
        assert_eq!(s.premature_clip_rate, 1.0);
        assert_eq!(s.premature_pause_rate, 0.5);
        assert!((s.delay_p50_ms - 250.0).abs() < 1e-6);
    }
}
