//! Call records for the console tests, written through the real records writer (SQLite, the
//! same code path as a live call) with a real stereo WAV recording.

use enclave::config::RecordsConfig;
use enclave::records::{
    recording_path, CallEnd, CallOutcome, CallStart, ModelsUsed, RecordStore, Role, ToolCallRecord,
    TurnLatencies, TurnRecord,
};
use std::path::Path;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// One seeded turn: who, what, where in the call (s), and the agent's turn latency.
pub struct SeedTurn {
    /// Who spoke.
    pub role: Role,
    /// What was said.
    pub text: &'static str,
    /// Start, seconds after the call start.
    pub start: f64,
    /// End, seconds after the call start.
    pub end: f64,
    /// End of caller speech → first agent audio (agent turns).
    pub latency_ms: Option<u32>,
    /// A tool call made in the turn.
    pub tool: Option<(&'static str, serde_json::Value, serde_json::Value)>,
}

/// A seeded call.
pub struct SeedCall {
    /// Uuid.
    pub uuid: Uuid,
    /// Caller id.
    pub caller_id: &'static str,
    /// Start.
    pub started_at: SystemTime,
    /// Length (s).
    pub secs: f64,
    /// How it ended.
    pub outcome: CallOutcome,
    /// `AGENT_TARGET`, when transferred.
    pub transfer_target: Option<&'static str>,
    /// `ru` / `en`.
    pub language: &'static str,
    /// Turns.
    pub turns: Vec<SeedTurn>,
    /// Post-call summary (written to `calls.summary`).
    pub summary: Option<&'static str>,
}

fn turn(role: Role, text: &'static str, start: f64, end: f64, latency_ms: Option<u32>) -> SeedTurn {
    SeedTurn {
        role,
        text,
        start,
        end,
        latency_ms,
        tool: None,
    }
}

/// The Russian call the test plays: greeting, question, a tool call, hand-over. Five turns
/// spread over 12 s so the playhead crosses several of them.
pub fn russian_call(started_at: SystemTime) -> SeedCall {
    let mut lookup = turn(
        Role::Agent,
        "Ваш заказ номер сорок два в пути, доставка завтра до обеда.",
        5.0,
        7.0,
        Some(1150),
    );
    lookup.tool = Some((
        "lookup_order",
        serde_json::json!({ "order": "42" }),
        serde_json::json!({ "status": "в пути", "eta": "завтра" }),
    ));
    SeedCall {
        uuid: Uuid::new_v4(),
        caller_id: "+7 495 123-45-67",
        started_at,
        secs: 12.0,
        outcome: CallOutcome::Transferred,
        transfer_target: Some("sales"),
        language: "ru",
        turns: vec![
            turn(
                Role::Agent,
                "Здравствуйте! Это виртуальный помощник. Чем могу помочь?",
                0.0,
                2.0,
                None,
            ),
            turn(
                Role::Caller,
                "Добрый день, где мой заказ номер сорок два?",
                2.5,
                4.5,
                None,
            ),
            lookup,
            turn(
                Role::Caller,
                "Соедините меня, пожалуйста, с оператором.",
                7.5,
                9.0,
                None,
            ),
            turn(
                Role::Agent,
                "Соединяю вас с оператором. Оставайтесь на линии.",
                9.5,
                11.5,
                Some(980),
            ),
        ],
        summary: Some("Клиент спрашивал о доставке заказа 42; переведён на оператора (sales)."),
    }
}

/// An English call that the agent handled alone.
pub fn english_call(started_at: SystemTime) -> SeedCall {
    SeedCall {
        uuid: Uuid::new_v4(),
        caller_id: "+1 415 555 0100",
        started_at,
        secs: 9.0,
        outcome: CallOutcome::Completed,
        transfer_target: None,
        language: "en",
        turns: vec![
            turn(
                Role::Agent,
                "Hello! You are speaking with an automated assistant. How can I help?",
                0.0,
                2.5,
                None,
            ),
            turn(
                Role::Caller,
                "What are your opening hours on Saturday?",
                3.0,
                4.8,
                None,
            ),
            turn(
                Role::Agent,
                "On Saturdays we are open from nine to three.",
                5.6,
                7.4,
                Some(760),
            ),
            turn(Role::Caller, "Great, thank you. Bye!", 7.8, 8.6, None),
        ],
        summary: Some("Asked for Saturday opening hours; answered."),
    }
}

/// `n` short filler calls with mixed outcomes and agent latencies of 600 + 37·i ms.
pub fn filler_calls(n: usize, newest: SystemTime) -> Vec<SeedCall> {
    const OUTCOMES: [CallOutcome; 5] = [
        CallOutcome::Completed,
        CallOutcome::CallerHangup,
        CallOutcome::Transferred,
        CallOutcome::Completed,
        CallOutcome::Timeout,
    ];
    (0..n)
        .map(|i| {
            let outcome = OUTCOMES[i % OUTCOMES.len()];
            SeedCall {
                uuid: Uuid::new_v4(),
                caller_id: Box::leak(format!("+1 202 555 {:04}", 1000 + i).into_boxed_str()),
                started_at: newest - Duration::from_secs(5 * i as u64 + 30),
                secs: 6.0,
                outcome,
                transfer_target: (outcome == CallOutcome::Transferred).then_some("support"),
                language: "en",
                turns: vec![
                    turn(Role::Agent, "Hello! How can I help?", 0.0, 1.5, None),
                    turn(
                        Role::Caller,
                        "I would like to check my balance.",
                        2.0,
                        3.5,
                        None,
                    ),
                    SeedTurn {
                        latency_ms: Some(600 + 37 * i as u32),
                        ..turn(
                            Role::Agent,
                            "Your balance is available in the app.",
                            4.2,
                            5.8,
                            None,
                        )
                    },
                ],
                summary: None,
            }
        })
        .collect()
}

/// Writes the calls through a [`RecordStore`] on `db`, and the stereo 8 kHz WAV recordings
/// of `recorded` into `recordings` (a tone on each side while that side speaks).
pub async fn write(db: &Path, recordings: &Path, calls: &[SeedCall], recorded: &[Uuid]) {
    let cfg = RecordsConfig {
        db_path: db.to_path_buf(),
        recordings_dir: Some(recordings.to_path_buf()),
        ..RecordsConfig::default()
    };
    let store = RecordStore::open(db, &cfg).expect("open the records database");
    let w = store.writer();
    for c in calls {
        assert!(w.call_started(CallStart {
            uuid: c.uuid,
            caller_id: Some(c.caller_id.to_string()),
            started_at: c.started_at,
            language: Some(c.language.to_string()),
            models: ModelsUsed {
                asr: Some("whisper-base".into()),
                llm: Some("qwen2.5-1.5b".into()),
                tts: Some("piper".into()),
                vad: Some("silero".into()),
            },
            profile: Some("default".into()),
        }));
        for (seq, t) in c.turns.iter().enumerate() {
            assert!(w.turn_completed(TurnRecord {
                call_uuid: c.uuid,
                seq: seq as u32,
                role: t.role,
                text: t.text.to_string(),
                started_at: c.started_at + Duration::from_secs_f64(t.start),
                ended_at: c.started_at + Duration::from_secs_f64(t.end),
                latencies: TurnLatencies {
                    turn_latency_ms: t.latency_ms,
                    asr_ms: t.latency_ms.map(|l| l / 4),
                    llm_ttft_ms: t.latency_ms.map(|l| l / 3),
                    tts_first_audio_ms: t.latency_ms.map(|l| l / 5),
                    ..TurnLatencies::default()
                },
                interrupted: false,
                tool_calls: t
                    .tool
                    .iter()
                    .map(|(name, args, result)| ToolCallRecord {
                        name: name.to_string(),
                        arguments: args.clone(),
                        result: result.clone(),
                        duration_ms: 42,
                    })
                    .collect(),
            }));
        }
        assert!(w.call_ended(CallEnd {
            uuid: c.uuid,
            ended_at: c.started_at + Duration::from_secs_f64(c.secs),
            outcome: c.outcome,
            transfer_target: c.transfer_target.map(str::to_string),
            language: None,
            error: None,
        }));
    }
    store.close().await.expect("commit the seeded records");
    // Summaries come from post-call work in a real agent; written directly here.
    let conn = rusqlite::Connection::open(db).unwrap();
    for c in calls {
        if let Some(s) = c.summary {
            conn.execute(
                "UPDATE calls SET summary = ?1 WHERE uuid = ?2",
                rusqlite::params![s, c.uuid.to_string()],
            )
            .unwrap();
        }
    }
    std::fs::create_dir_all(recordings).unwrap();
    for uuid in recorded {
        let c = calls
            .iter()
            .find(|c| c.uuid == *uuid)
            .expect("recorded call is seeded");
        write_wav(&recording_path(recordings, &uuid.to_string()), c);
    }
}

fn write_wav(path: &Path, c: &SeedCall) {
    const RATE: u32 = 8000;
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (c.secs * RATE as f64) as usize;
    for i in 0..n {
        let t = i as f64 / RATE as f64;
        let speaking = |role: Role| {
            c.turns
                .iter()
                .any(|x| x.role == role && x.start <= t && t < x.end)
        };
        let tone = |hz: f64| (0.25 * (2.0 * std::f64::consts::PI * hz * t).sin() * 32767.0) as i16;
        w.write_sample(if speaking(Role::Caller) {
            tone(440.0)
        } else {
            0
        })
        .unwrap();
        w.write_sample(if speaking(Role::Agent) {
            tone(660.0)
        } else {
            0
        })
        .unwrap();
    }
    w.finalize().unwrap();
}
