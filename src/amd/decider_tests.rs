//! Scripted-event tests of the AMD state machine.

use super::*;

const FRAME: Duration = Duration::from_millis(20);

/// Feeds `(voiced, ms)` segments as 20 ms frames; returns every output with the frame's end.
fn play(d: &mut Decider, segments: &[(bool, u64)]) -> Vec<AmdOutput> {
    let mut out = Vec::new();
    for &(voiced, ms) in segments {
        for _ in 0..ms / 20 {
            let end = d.now() + FRAME;
            out.extend(d.on(AmdInput::Frame {
                end,
                len: FRAME,
                voiced,
                tone: false,
                dbfs: if voiced { -12.0 } else { -60.0 },
            }));
        }
    }
    out
}

fn decided(out: &[AmdOutput]) -> Option<&Decision> {
    out.iter().find_map(|o| match o {
        AmdOutput::Decided(d) => Some(d),
        _ => None,
    })
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn hello_and_a_pause_is_a_human_after_the_silence() {
    let mut d = Decider::new(AmdParams::default());
    let out = play(&mut d, &[(false, 400), (true, 600), (false, 1500)]);
    let dec = decided(&out).expect("a verdict");
    assert_eq!(dec.verdict, Verdict::Human);
    assert_eq!(dec.reason, Reason::ShortGreeting { speech_ms: 600 });
    // 400 ms before, 600 ms of "hello?", 900 ms of silence.
    assert_eq!(dec.at, ms(1900));
    assert!(!d.is_done(), "still open for a late beep");
    play(&mut d, &[(false, 2500)]);
    assert!(d.is_done());
}

#[test]
fn three_words_with_pauses_between_them_are_a_human() {
    // "Yes … speaking … hello": Asterisk's AMD counts three words and says machine.
    let mut d = Decider::new(AmdParams::default());
    let out = play(
        &mut d,
        &[
            (false, 300),
            (true, 300),
            (false, 500),
            (true, 500),
            (false, 600),
            (true, 400),
            (false, 1200),
        ],
    );
    let dec = decided(&out).expect("a verdict");
    assert_eq!(dec.verdict, Verdict::Human, "{dec:?}");
    assert_eq!(dec.at, ms(300 + 300 + 500 + 500 + 600 + 400 + 900));
}

#[test]
fn a_greeting_that_talks_on_is_a_machine_at_max_greeting() {
    let mut d = Decider::new(AmdParams::default());
    // Sentences with short pauses in between (under the human silence).
    let out = play(
        &mut d,
        &[
            (false, 200),
            (true, 1400),
            (false, 400),
            (true, 1800),
            (false, 300),
            (true, 2000),
        ],
    );
    let dec = decided(&out).expect("a verdict");
    assert_eq!(dec.verdict, Verdict::Machine { beep_at: None });
    assert!(matches!(dec.reason, Reason::LongGreeting { .. }));
    // Greeting started at 200 ms: the first voiced frame after 3 s of greeting.
    assert_eq!(dec.at, ms(200 + 3020));
    assert!(!d.is_done(), "it waits for the greeting's end");
}

#[test]
fn a_beep_decides_at_once_and_cues_the_message_after_it() {
    let mut d = Decider::new(AmdParams::default());
    play(&mut d, &[(true, 1500), (false, 400)]);
    let out = d.on(AmdInput::Beep(Beep {
        start: ms(1900),
        end: ms(2300),
        hz: 1000.0,
        dbfs: -12.0,
    }));
    let dec = decided(&out).expect("a verdict");
    assert_eq!(
        dec.verdict,
        Verdict::Machine {
            beep_at: Some(ms(1900))
        }
    );
    assert_eq!(dec.reason, Reason::Beep { hz: 1000.0 });
    // The beep was reported at its end (2300 ms of media, fed so far only 1900 ms).
    let out = play(&mut d, &[(false, 600)]);
    let cue = out
        .iter()
        .find_map(|o| match o {
            AmdOutput::SpeakNow { at, cue } => Some((*at, *cue)),
            _ => None,
        })
        .expect("cued");
    assert_eq!(cue.1, Cue::Beep { hz: 1000.0 });
    assert_eq!(
        cue.0,
        ms(2300 + 160),
        "150 ms after the beep, on a frame edge"
    );
    assert!(d.is_done());
}

#[test]
fn a_machine_without_a_beep_is_cued_by_the_silence_after_its_greeting() {
    let mut d = Decider::new(AmdParams::default());
    let out = play(
        &mut d,
        &[(true, 4000), (false, 400), (true, 2000), (false, 3000)],
    );
    assert!(decided(&out).is_some_and(Decision::is_machine));
    let cue = out.iter().find_map(|o| match o {
        AmdOutput::SpeakNow { at, cue } => Some((*at, *cue)),
        _ => None,
    });
    assert_eq!(cue, Some((ms(6400 + 2500), Cue::Silence)));
}

#[test]
fn a_greeting_that_never_ends_gives_up() {
    let p = AmdParams {
        max_message_wait: ms(5000),
        ..AmdParams::default()
    };
    let mut d = Decider::new(p);
    let out = play(&mut d, &[(true, 9000)]);
    assert!(out
        .iter()
        .any(|o| matches!(o, AmdOutput::GaveUp { at } if *at == ms(3020 + 5000))));
}

#[test]
fn a_voicemail_phrase_makes_a_short_greeting_a_machine() {
    // "Please leave a message." (1.2 s) and silence, no beep: acoustically a human.
    let mut d = Decider::new(AmdParams::default());
    play(&mut d, &[(false, 300), (true, 1200), (false, 500)]);
    assert!(d.on(AmdInput::TranscriptPending).is_empty());
    // The silence passes 900 ms: the verdict waits for the transcript.
    let out = play(&mut d, &[(false, 600)]);
    assert!(decided(&out).is_none(), "waits for the transcript: {out:?}");
    let out = d.on(AmdInput::Transcript("Please leave a message.".into()));
    let dec = decided(&out).expect("a verdict");
    assert_eq!(dec.verdict, Verdict::Machine { beep_at: None });
    assert_eq!(dec.reason, Reason::VoicemailPhrase("leave message".into()));
    assert_eq!(dec.at, ms(2600));
    assert_eq!(d.transcript(), "Please leave a message.");
}

#[test]
fn an_ordinary_transcript_lets_the_human_verdict_through_at_once() {
    let mut d = Decider::new(AmdParams::default());
    play(&mut d, &[(true, 800), (false, 300)]);
    d.on(AmdInput::TranscriptPending);
    let out = play(&mut d, &[(false, 1000)]);
    assert!(decided(&out).is_none());
    let out = d.on(AmdInput::Transcript("Hello, who is this?".into()));
    assert_eq!(decided(&out).map(|d| d.verdict), Some(Verdict::Human));
}

#[test]
fn a_transcript_that_never_comes_is_waited_for_only_so_long() {
    let mut d = Decider::new(AmdParams::default());
    play(&mut d, &[(true, 800)]);
    d.on(AmdInput::TranscriptPending);
    let out = play(&mut d, &[(false, 3000)]);
    let dec = decided(&out).expect("a verdict");
    assert_eq!(dec.verdict, Verdict::Human);
    assert_eq!(dec.at, ms(800 + 900 + 1500));
}

#[test]
fn ivr_phrases_are_machines_of_the_ivr_kind() {
    let mut d = Decider::new(AmdParams::default());
    play(&mut d, &[(true, 1000)]);
    d.on(AmdInput::TranscriptPending);
    let out = d.on(AmdInput::Transcript(
        "Для связи с оператором нажмите ноль".into(),
    ));
    let dec = decided(&out).expect("a verdict");
    assert!(dec.is_machine() && dec.is_ivr(), "{dec:?}");
}

#[test]
fn silence_is_undecided_and_clicks_do_not_start_a_greeting() {
    let mut d = Decider::new(AmdParams::default());
    // A 40 ms click every second: never min_speech of voice.
    let mut script = Vec::new();
    for _ in 0..5 {
        script.push((true, 40));
        script.push((false, 960));
    }
    let out = play(&mut d, &script);
    let dec = decided(&out).expect("a verdict");
    assert_eq!(dec.verdict, Verdict::Undecided);
    assert_eq!(dec.reason, Reason::NoSpeech);
    assert_eq!(dec.at, ms(4000));
}

#[test]
fn a_late_beep_revises_a_human_verdict_within_the_window_only() {
    // "Leave a message." — human by its length — then the beep 1.2 s later.
    let mut d = Decider::new(AmdParams::default());
    let out = play(&mut d, &[(true, 900), (false, 1000)]);
    assert_eq!(decided(&out).map(|d| d.verdict), Some(Verdict::Human));
    let beep = Beep {
        start: ms(2100),
        end: ms(2400),
        hz: 1000.0,
        dbfs: -10.0,
    };
    play(&mut d, &[(false, 500)]);
    let out = d.on(AmdInput::Beep(beep));
    let revised = out.iter().find_map(|o| match o {
        AmdOutput::Revised(d) => Some(d.clone()),
        _ => None,
    });
    let revised = revised.expect("revised");
    assert_eq!(
        revised.verdict,
        Verdict::Machine {
            beep_at: Some(ms(2100))
        }
    );
    let out = play(&mut d, &[(false, 400)]);
    assert!(
        out.iter().any(|o| matches!(
            o,
            AmdOutput::SpeakNow {
                cue: Cue::Beep { .. },
                ..
            }
        )),
        "the message follows the beep: {out:?}"
    );

    // After the window, nothing changes the verdict.
    let mut d = Decider::new(AmdParams::default());
    let out = play(&mut d, &[(true, 600), (false, 1000)]);
    assert_eq!(decided(&out).map(|d| d.verdict), Some(Verdict::Human));
    play(&mut d, &[(false, 2600)]);
    assert!(d.is_done());
    let out = d.on(AmdInput::Transcript("leave a message".into()));
    assert!(out.is_empty());
    assert!(d
        .on(AmdInput::Beep(Beep {
            start: ms(1700),
            end: ms(1900),
            hz: 800.0,
            dbfs: -10.0
        }))
        .is_empty());
    assert_eq!(d.decision().map(|d| d.verdict), Some(Verdict::Human));
}

#[test]
fn tone_frames_are_not_speech() {
    // A short hello, then a long tone the VAD calls voiced: still a human-length greeting
    // as far as speech goes (the beep itself is what decides).
    let mut d = Decider::new(AmdParams::default());
    play(&mut d, &[(true, 500), (false, 300)]);
    let mut out = Vec::new();
    for _ in 0..100 {
        let end = d.now() + FRAME;
        out.extend(d.on(AmdInput::Frame {
            end,
            len: FRAME,
            voiced: true,
            tone: true,
            dbfs: -10.0,
        }));
    }
    assert_eq!(decided(&out).map(|d| d.verdict), Some(Verdict::Human));
}

#[test]
fn quiet_voices_behind_the_answer_are_background() {
    // "Hi, who's this?" over a TV 20 dB down that the VAD also calls speech.
    let mut d = Decider::new(AmdParams::default());
    let mut out = Vec::new();
    let mut feed = |d: &mut Decider, voiced: bool, dbfs: f32, ms: u64| {
        for _ in 0..ms / 20 {
            let end = d.now() + FRAME;
            out.extend(d.on(AmdInput::Frame {
                end,
                len: FRAME,
                voiced,
                tone: false,
                dbfs,
            }));
        }
    };
    feed(&mut d, true, -32.0, 400);
    feed(&mut d, true, -12.0, 900);
    feed(&mut d, true, -32.0, 4000);
    let dec = decided(&out).expect("a verdict");
    assert_eq!(dec.verdict, Verdict::Human, "{dec:?}");
    // The TV's frames right after the answer still count (300 ms hold), then not.
    assert_eq!(dec.at, ms(400 + 900 + 300 + 900));
}

#[test]
fn soft_frames_inside_a_greeting_are_still_the_greeting() {
    // A machine's sentences with soft ends (25 dB under its loudest frame) around short
    // pauses: one greeting, a machine.
    let mut d = Decider::new(AmdParams::default());
    let mut out = Vec::new();
    for _ in 0..4 {
        for (voiced, dbfs, n) in [(true, -8.0, 40), (true, -33.0, 10), (false, -60.0, 15)] {
            for _ in 0..n {
                let end = d.now() + FRAME;
                out.extend(d.on(AmdInput::Frame {
                    end,
                    len: FRAME,
                    voiced,
                    tone: false,
                    dbfs,
                }));
            }
        }
    }
    let dec = decided(&out).expect("a verdict");
    assert!(matches!(dec.reason, Reason::LongGreeting { .. }), "{dec:?}");
}
