//! A Piper voice: its `.onnx.json` config and ONNX Runtime sessions, loaded once per process.

use super::error::TtsError;
use super::normalize::Language;
use super::phonemize::PhonemeIdMap;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The parts of Piper's `.onnx.json` that synthesis needs (other keys are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct PiperConfig {
    /// `audio.sample_rate` (22 050 for medium voices, 16 000 for low).
    pub audio: AudioSection,
    /// `espeak.voice`: the espeak-ng voice used for phonemes.
    pub espeak: Option<EspeakSection>,
    /// Default scales.
    #[serde(default)]
    pub inference: InferenceSection,
    /// `espeak` (the only kind supported here).
    #[serde(default = "default_phoneme_type")]
    pub phoneme_type: String,
    /// Size of the model's symbol table.
    pub num_symbols: Option<i64>,
    /// Number of speakers; above 1 the model takes `sid`.
    #[serde(default = "one")]
    pub num_speakers: u32,
    /// Speaker name → id.
    #[serde(default)]
    pub speaker_id_map: BTreeMap<String, i64>,
    /// Phoneme (one code point) → ids.
    pub phoneme_id_map: BTreeMap<String, Vec<i64>>,
}

fn default_phoneme_type() -> String {
    "espeak".into()
}

fn one() -> u32 {
    1
}

/// `audio` section.
#[derive(Debug, Clone, Deserialize)]
pub struct AudioSection {
    /// Output sample rate in Hz.
    pub sample_rate: u32,
}

/// `espeak` section.
#[derive(Debug, Clone, Deserialize)]
pub struct EspeakSection {
    /// espeak-ng voice name (`ru`, `en-us`).
    pub voice: String,
}

/// `inference` section: the voice's default scales.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
pub struct InferenceSection {
    /// Noise of the flow (variation).
    #[serde(default = "d_noise")]
    pub noise_scale: f32,
    /// Speaking rate: phoneme durations are multiplied by it (larger = slower).
    #[serde(default = "d_length")]
    pub length_scale: f32,
    /// Noise of the duration predictor.
    #[serde(default = "d_noise_w")]
    pub noise_w: f32,
}

fn d_noise() -> f32 {
    0.667
}
fn d_length() -> f32 {
    1.0
}
fn d_noise_w() -> f32 {
    0.8
}

impl Default for InferenceSection {
    fn default() -> Self {
        InferenceSection {
            noise_scale: d_noise(),
            length_scale: d_length(),
            noise_w: d_noise_w(),
        }
    }
}

/// How voices are loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceOptions {
    /// ONNX sessions per voice (a run needs one exclusively); at least 1.
    pub sessions: usize,
    /// Intra-op threads per session; 0 = ONNX Runtime's default (all cores).
    pub intra_threads: usize,
    /// ONNX Runtime graph optimisation level, 0 (none) to 3 (all, ORT's default). Piper's
    /// VITS graph runs no faster with the fusions and layout passes of levels 2–3, which cost
    /// seconds per session at load (see [`DEFAULT_GRAPH_OPTIMIZATION`]).
    pub graph_optimization: u8,
}

/// Default of [`VoiceOptions::graph_optimization`]: level 1 (constant folding, redundant node
/// removal). Measured on en_US-joe-medium (2-core box, loaded): with ONNX Runtime 1.32 a
/// session loads in 1.9–2.2 s at level 1 against 3.3 s at ORT's default (all), with the same
/// synthesis speed; ONNX Runtime 1.31.1 spends 10–13 s at any level (a slower runtime, not
/// the options).
pub const DEFAULT_GRAPH_OPTIMIZATION: u8 = 1;

impl Default for VoiceOptions {
    fn default() -> Self {
        VoiceOptions {
            sessions: 1,
            intra_threads: 0,
            graph_optimization: DEFAULT_GRAPH_OPTIMIZATION,
        }
    }
}

fn optimization_level(level: u8) -> ort::session::builder::GraphOptimizationLevel {
    use ort::session::builder::GraphOptimizationLevel as L;
    match level {
        0 => L::Disable,
        1 => L::Level1,
        2 => L::Level2,
        _ => L::All,
    }
}

/// A loaded Piper voice, shared by all calls.
pub struct Voice {
    /// Model file.
    pub path: PathBuf,
    /// Parsed config.
    pub config: PiperConfig,
    /// espeak-ng voice.
    pub espeak_voice: String,
    /// Normalisation language (`None`: neither Russian nor English, no normalisation).
    pub language: Option<Language>,
    /// Phoneme ids.
    pub id_map: PhonemeIdMap,
    sessions: Vec<Mutex<ort::session::Session>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice")
            .field("path", &self.path)
            .field("espeak_voice", &self.espeak_voice)
            .field("sample_rate", &self.config.audio.sample_rate)
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

type Registry = Mutex<HashMap<(PathBuf, usize, usize, u8), Arc<Voice>>>;
static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();

/// Reads and checks a voice config (`<model>.onnx.json`).
pub fn read_config(json_path: &Path) -> Result<PiperConfig, TtsError> {
    let text = std::fs::read_to_string(json_path).map_err(|e| TtsError::Config {
        path: json_path.to_path_buf(),
        message: format!(
            "cannot read it: {e} (a Piper voice is a .onnx file with a .onnx.json beside it)"
        ),
    })?;
    let config: PiperConfig = serde_json::from_str(&text).map_err(|e| TtsError::Config {
        path: json_path.to_path_buf(),
        message: format!("not a Piper voice config: {e}"),
    })?;
    let bad = |message: String| TtsError::Config {
        path: json_path.to_path_buf(),
        message,
    };
    if config.phoneme_type != "espeak" {
        return Err(bad(format!(
            "phoneme_type `{}` is not supported (only `espeak` voices)",
            config.phoneme_type
        )));
    }
    if !(8_000..=48_000).contains(&config.audio.sample_rate) {
        return Err(bad(format!(
            "audio.sample_rate {} is outside 8000..=48000",
            config.audio.sample_rate
        )));
    }
    match &config.espeak {
        Some(e) if !e.voice.trim().is_empty() => {}
        _ => {
            return Err(bad(
                "`espeak.voice` is missing (e.g. \"ru\" or \"en-us\")".into()
            ))
        }
    }
    if config.num_speakers == 0 {
        return Err(bad("num_speakers is 0".into()));
    }
    Ok(config)
}

impl Voice {
    /// Loads a voice (`model.onnx` with `model.onnx.json` beside it), once per process: a second
    /// call with the same file and options returns the same `Arc`.
    pub fn load(onnx_path: &Path, opts: &VoiceOptions) -> Result<Arc<Voice>, TtsError> {
        let canonical = onnx_path.canonicalize().map_err(|e| TtsError::Model {
            path: onnx_path.to_path_buf(),
            message: format!("cannot open it: {e}"),
        })?;
        let key = (
            canonical.clone(),
            opts.sessions.max(1),
            opts.intra_threads,
            opts.graph_optimization,
        );
        let registry = REGISTRY.get_or_init(Default::default);
        // Loading holds the lock: two calls for the same voice must not both load it.
        let mut map = registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = map.get(&key) {
            return Ok(v.clone());
        }
        let voice = Arc::new(Self::load_uncached(&canonical, opts)?);
        map.insert(key, voice.clone());
        Ok(voice)
    }

    fn load_uncached(path: &Path, opts: &VoiceOptions) -> Result<Voice, TtsError> {
        let started = std::time::Instant::now();
        let mut json = path.as_os_str().to_owned();
        json.push(".json");
        let json = PathBuf::from(json);
        let config = read_config(&json)?;
        let espeak_voice = config
            .espeak
            .as_ref()
            .map(|e| e.voice.clone())
            .unwrap_or_default();
        let id_map = PhonemeIdMap::new(&config.phoneme_id_map).map_err(|m| TtsError::Config {
            path: json.clone(),
            message: m,
        })?;
        if let Some(n) = config.num_symbols {
            if id_map.max_id() >= n {
                return Err(TtsError::Config {
                    path: json.clone(),
                    message: format!(
                        "phoneme_id_map uses id {} but num_symbols is {n}",
                        id_map.max_id()
                    ),
                });
            }
        }
        // Fail now, not on the first call, when espeak-ng lacks the voice.
        super::phonemize::phonemize("", &espeak_voice).map_err(|e| TtsError::Config {
            path: json.clone(),
            message: e.to_string(),
        })?;
        let espeak_ready = started.elapsed();
        crate::onnx::environment()?;
        let runtime_ready = started.elapsed();
        let model_err = |message: String| TtsError::Model {
            path: path.to_path_buf(),
            message,
        };
        let mut sessions = Vec::new();
        for _ in 0..opts.sessions.max(1) {
            // $ENCLAVE_TTS_GRAPH_OPT (0–3) overrides the level, for load-time measurements.
            let level = std::env::var("ENCLAVE_TTS_GRAPH_OPT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(opts.graph_optimization);
            let mut builder = crate::onnx::session_builder(crate::onnx::OnnxUse::Tts)
                .map_err(model_err)?
                .with_optimization_level(optimization_level(level))
                .map_err(|e| model_err(e.to_string()))?;
            if opts.intra_threads > 0 {
                builder = builder
                    .with_intra_threads(opts.intra_threads)
                    .map_err(|e| model_err(e.to_string()))?;
            }
            let session = builder
                .commit_from_file(path)
                .map_err(|e| model_err(format!("not a loadable ONNX model: {e}")))?;
            sessions.push(Mutex::new(session));
        }
        tracing::debug!(
            voice = %path.display(),
            espeak_ms = espeak_ready.as_millis() as u64,
            runtime_ms = (runtime_ready - espeak_ready).as_millis() as u64,
            sessions_ms = (started.elapsed() - runtime_ready).as_millis() as u64,
            sessions = sessions.len(),
            "tts: voice loaded"
        );
        check_signature(&sessions[0].lock().expect("fresh"), &config, path, &json)?;
        Ok(Voice {
            path: path.to_path_buf(),
            language: Language::from_espeak_voice(&espeak_voice),
            espeak_voice,
            config,
            id_map,
            sessions,
            next: AtomicUsize::new(0),
        })
    }

    /// Output sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.config.audio.sample_rate
    }

    /// Whether the model takes a speaker id.
    pub fn is_multi_speaker(&self) -> bool {
        self.config.num_speakers > 1
    }

    /// Resolves a speaker given as a number or a name from `speaker_id_map`.
    pub fn speaker_id(&self, speaker: &str) -> Result<i64, TtsError> {
        let n = self.config.num_speakers as i64;
        let id = match speaker.parse::<i64>() {
            Ok(id) => id,
            Err(_) => *self.config.speaker_id_map.get(speaker).ok_or_else(|| {
                TtsError::Speaker(format!(
                    "no speaker `{speaker}` in this voice (known: {})",
                    self.config
                        .speaker_id_map
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        };
        if !(0..n).contains(&id) {
            return Err(TtsError::Speaker(format!(
                "speaker {id} is out of range: this voice has {n} speaker(s), ids 0..{}",
                n - 1
            )));
        }
        Ok(id)
    }

    /// Runs the model on one sentence's ids: raw float audio at [`Voice::sample_rate`].
    pub fn infer(
        &self,
        ids: &[i64],
        scales: [f32; 3],
        speaker: Option<i64>,
    ) -> Result<Vec<f32>, TtsError> {
        use ort::value::Tensor;
        let infer_err = |e: ort::Error| TtsError::Inference(e.to_string());
        let n = ids.len();
        let input = Tensor::from_array(([1usize, n], ids.to_vec())).map_err(infer_err)?;
        let lengths = Tensor::from_array(([1usize], vec![n as i64])).map_err(infer_err)?;
        let scales = Tensor::from_array(([3usize], scales.to_vec())).map_err(infer_err)?;
        let mut session = self.session();
        let outputs = if self.is_multi_speaker() {
            let sid =
                Tensor::from_array(([1usize], vec![speaker.unwrap_or(0)])).map_err(infer_err)?;
            session.run(ort::inputs![
                "input" => input, "input_lengths" => lengths, "scales" => scales, "sid" => sid
            ])
        } else {
            session.run(ort::inputs![
                "input" => input, "input_lengths" => lengths, "scales" => scales
            ])
        }
        .map_err(infer_err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(infer_err)?;
        Ok(audio.to_vec())
    }

    /// A free session, or the next one in turn (waiting for it) when all are busy.
    fn session(&self) -> std::sync::MutexGuard<'_, ort::session::Session> {
        for s in &self.sessions {
            if let Ok(g) = s.try_lock() {
                return g;
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        let _waiting = crate::metrics::jobs::queued(crate::metrics::jobs::Engine::Tts);
        self.sessions[i].lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Checks the model's inputs against Piper's signature and the config's speaker count.
fn check_signature(
    session: &ort::session::Session,
    config: &PiperConfig,
    path: &Path,
    json: &Path,
) -> Result<(), TtsError> {
    let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let mismatch = |message: String| TtsError::Mismatch {
        model: path.to_path_buf(),
        config: json.to_path_buf(),
        message,
    };
    for required in ["input", "input_lengths", "scales"] {
        if !names.contains(&required) {
            return Err(mismatch(format!(
                "the model has no `{required}` input (inputs: {}); not a Piper voice",
                names.join(", ")
            )));
        }
    }
    let has_sid = names.contains(&"sid");
    if has_sid != (config.num_speakers > 1) {
        return Err(mismatch(format!(
            "config says num_speakers = {} but the model {} a `sid` input",
            config.num_speakers,
            if has_sid { "has" } else { "lacks" }
        )));
    }
    if session.outputs().is_empty() {
        return Err(mismatch("the model has no output".into()));
    }
    Ok(())
}

/// The model's float audio as the pipeline's samples in [-1, 1], levelled as Piper's
/// `audio_float_to_int16`: scaled so the peak reaches full scale (32767 of 32768, the level
/// Piper's 16-bit output peaks at; peaks below 0.01 are treated as 0.01), clipped; non-finite
/// samples become 0. Without `peak_normalize`: scaled by the same full scale and clipped
/// (what newer Piper releases do). Conversion to 16 bits happens where audio leaves the process.
pub fn normalize_audio(audio: &[f32], peak_normalize: bool) -> Vec<f32> {
    const MAX: f32 = 32767.0 / 32768.0;
    let scale = if peak_normalize {
        let peak = audio
            .iter()
            .filter(|x| x.is_finite())
            .fold(0.0f32, |m, x| m.max(x.abs()));
        MAX / peak.max(0.01)
    } else {
        MAX
    };
    audio
        .iter()
        .map(|x| {
            let v = if x.is_finite() { x * scale } else { 0.0 };
            v.clamp(-MAX, MAX)
        })
        .collect()
}

/// Finds a voice given as a path (`voices/ru.onnx`) or a name (`ru_RU-denis-medium`), looking
/// for `<dir>/<name>.onnx`, `<dir>/<name>/<name>.onnx` and `<dir>/piper/<name>.onnx` in `dirs`.
pub fn resolve_voice(name_or_path: &str, dirs: &[PathBuf]) -> Result<PathBuf, TtsError> {
    let direct = PathBuf::from(name_or_path);
    if direct.is_file() {
        return Ok(direct);
    }
    let with_ext = PathBuf::from(format!("{name_or_path}.onnx"));
    if with_ext.is_file() {
        return Ok(with_ext);
    }
    let name = name_or_path.trim_end_matches(".onnx");
    let mut searched = vec![direct.display().to_string()];
    for dir in dirs {
        for cand in [
            dir.join(format!("{name}.onnx")),
            dir.join(name).join(format!("{name}.onnx")),
            dir.join("piper").join(format!("{name}.onnx")),
        ] {
            if cand.is_file() {
                return Ok(cand);
            }
            searched.push(cand.display().to_string());
        }
    }
    Err(TtsError::VoiceNotFound {
        name: name_or_path.to_string(),
        searched: searched.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::normalize_audio;

    #[test]
    fn peak_normalisation_reaches_piper_full_scale_and_clips() {
        let full = 32767.0 / 32768.0;
        let out = normalize_audio(&[0.25, -0.5, 0.1, f32::NAN, f32::INFINITY], true);
        assert_eq!(out[1], -full, "the peak goes to full scale");
        assert!((out[0] - full / 2.0).abs() < 1e-6);
        assert_eq!(&out[3..], &[0.0, 0.0], "non-finite samples are silence");
        // As 16 bits, the peak is Piper's 32767.
        assert_eq!(crate::audio::pcm::f32_to_i16(out[1]), -32767);
        // Quiet audio is scaled as if its peak were 0.01.
        let quiet = normalize_audio(&[0.001], true);
        assert!((quiet[0] - full / 10.0).abs() < 1e-6);
        // Without normalisation: full scale, clipped.
        let plain = normalize_audio(&[0.5, 2.0, -3.0], false);
        assert_eq!(plain, vec![0.5 * full, full, -full]);
    }
}
