//! Cancelling synthesis (barge-in, hang-up, budget): the work itself stops, between pieces
//! and between espeak-ng phrases, and the `tts` job gauge proves it. One test function, so
//! no other synthesis in this binary moves the gauge.

use enclave::cancel::CancelHandle;
use enclave::metrics::jobs::{active, Engine};
use enclave::tts::engine::split_first_clause;
use enclave::tts::{SynthOptions, Tts, TtsError, Voice, VoiceOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn engine(opts: SynthOptions) -> Tts {
    let dir = std::env::var_os("ENCLAVE_SYNTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/enclave/synthetic")
        });
    let p = dir.join("piper-test-en.onnx");
    assert!(
        p.is_file(),
        "synthetic voice {} is missing: run `bash scripts/synth-models.sh`",
        p.display()
    );
    let voice = Voice::load(&p, &VoiceOptions::default()).unwrap();
    Tts::new(voice, &opts, None).unwrap()
}

#[test]
fn cancelled_synthesis_stops_and_releases_its_job() {
    let tts = engine(SynthOptions::default());

    // Cancelled before it starts: nothing is synthesised.
    let cancel = CancelHandle::new();
    cancel.cancel();
    assert!(matches!(
        tts.synthesize_cancellable("Hello there. How are you?", &cancel),
        Err(TtsError::Cancelled)
    ));
    assert_eq!(active(Engine::Tts), 0);

    // A stream cancelled after its first piece: one Cancelled, then the end; the later
    // sentences are never synthesised.
    let cancel = CancelHandle::new();
    let mut stream = tts
        .synthesize_stream_cancellable(
            "One sentence. Two sentences. Three sentences.",
            cancel.clone(),
        )
        .unwrap();
    assert!(stream.next().unwrap().is_ok());
    cancel.cancel();
    assert!(matches!(stream.next(), Some(Err(TtsError::Cancelled))));
    assert!(stream.next().is_none());
    assert_eq!(stream.remaining(), 1, "the third sentence was skipped");

    // A long text on another thread: the job counts while it runs and is released when the
    // cancel stops it, long before the text would have been finished.
    let long = "This is a sentence that takes a while to say. ".repeat(200);
    let whole_text_pieces = tts.pieces(&long).unwrap().len();
    let cancel = CancelHandle::new();
    let worker = {
        let (tts, cancel) = (tts.clone(), cancel.clone());
        std::thread::spawn(move || {
            let mut done = 0usize;
            for chunk in tts.synthesize_stream_cancellable(&long, cancel).unwrap() {
                match chunk {
                    Ok(_) => done += 1,
                    Err(TtsError::Cancelled) => return (done, true),
                    Err(e) => panic!("{e}"),
                }
            }
            (done, false)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while active(Engine::Tts) == 0 {
        assert!(Instant::now() < deadline, "synthesis never started");
        std::thread::yield_now();
    }
    cancel.cancel();
    let (done, cancelled) = worker.join().unwrap();
    assert!(cancelled, "the stream ended with Cancelled");
    assert!(
        done < whole_text_pieces,
        "{done} of {whole_text_pieces} pieces"
    );
    assert_eq!(active(Engine::Tts), 0, "no synthesis job left running");
}

#[test]
fn first_clause_split_needs_room_on_both_sides() {
    assert_eq!(
        split_first_clause(
            "Your appointment is confirmed for Tuesday, and a reminder will follow."
        ),
        Some((
            "Your appointment is confirmed for Tuesday,".to_string(),
            "and a reminder will follow.".to_string()
        ))
    );
    assert_eq!(
        split_first_clause("Yes, that is right and it is done."),
        None
    );
    assert_eq!(
        split_first_clause("The total comes to 1,250 dollars and fifty cents today."),
        None
    );
    let tts = engine(SynthOptions::default());
    let text = "Your appointment with the doctor is confirmed for Tuesday afternoon, and a reminder will be sent the day before. Thank you.";
    let pieces = tts.pieces(text).unwrap();
    assert_eq!(pieces.len(), 3, "{pieces:?}");
    assert_eq!(tts.sentences(text).unwrap().len(), 2);
    let whole = engine(SynthOptions {
        first_piece_chars: 0,
        ..Default::default()
    });
    assert_eq!(whole.pieces(text).unwrap().len(), 2);
}
