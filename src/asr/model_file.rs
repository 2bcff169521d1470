//! Validation of whisper.cpp ggml model files in Rust, before whisper.cpp ever sees them.
//!
//! whisper.cpp's loader trusts the file: a weight-less test file loads "successfully" (and then
//! runs on uninitialised memory), a truncated one reads past the end, a bad one may abort the
//! process. This parser walks the whole layout — magic, hyper-parameters, mel filters, vocabulary,
//! every tensor header — and checks that every tensor whisper.cpp will create is present once,
//! with the right shape, a known type and all of its bytes, and that nothing trails the last one.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// `ggml` in little-endian: the first four bytes of every whisper.cpp model file.
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// The hyper-parameters stored at the start of a whisper ggml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WhisperHparams {
    /// Vocabulary size (51865 multilingual, 51864 English-only, 51866 large-v3).
    pub n_vocab: i32,
    /// Encoder positions (1500 = 30 s).
    pub n_audio_ctx: i32,
    /// Encoder width.
    pub n_audio_state: i32,
    /// Encoder attention heads.
    pub n_audio_head: i32,
    /// Encoder layers.
    pub n_audio_layer: i32,
    /// Decoder positions (448).
    pub n_text_ctx: i32,
    /// Decoder width (equal to the encoder's).
    pub n_text_state: i32,
    /// Decoder attention heads.
    pub n_text_head: i32,
    /// Decoder layers.
    pub n_text_layer: i32,
    /// Mel bands (80, or 128 for large-v3).
    pub n_mels: i32,
    /// Weight type code (`ggml_ftype`, plus 1000 × quantisation version).
    pub ftype: i32,
}

/// What a valid file holds, as far as the checks went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WhisperFileInfo {
    /// Hyper-parameters from the header.
    pub hparams: WhisperHparams,
    /// Tokens stored in the file's vocabulary (whisper.cpp synthesises the rest up to `n_vocab`).
    pub n_vocab_stored: usize,
    /// Tensors found (all of them, checked).
    pub n_tensors: usize,
    /// Bytes of tensor data.
    pub weight_bytes: u64,
    /// Model size name whisper.cpp would print (`tiny`, `base`, … or `custom`).
    pub size_name: &'static str,
}

/// Why a file is not a loadable whisper model. Every message names the file and a fix.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be opened or read.
    #[error("whisper model {path}: cannot read: {source}. Check the path (`asr.model` / --model)")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The first four bytes are not `ggml`.
    #[error(
        "whisper model {path}: not a whisper.cpp ggml file (magic {found:#010x}, expected \
         {GGML_MAGIC:#010x}). Use a ggml-*.bin from whisper.cpp (`agent download-models`), not \
         a GGUF, safetensors or PyTorch checkpoint"
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// What was there.
        found: u32,
    },
    /// The file ends inside its header, vocabulary or a tensor.
    #[error(
        "whisper model {path}: truncated: {what} needs bytes up to offset {needed}, but the file \
         has {len} bytes. The download or copy was cut short; fetch the file again and check its \
         sha256"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The part that is incomplete.
        what: String,
        /// Offset its end would be at.
        needed: u64,
        /// Actual file length.
        len: u64,
    },
    /// The file has a vocabulary but no tensors (e.g. whisper.cpp's `for-tests-ggml-*.bin`).
    #[error(
        "whisper model {path}: has no weights (header and vocabulary only, {len} bytes; it is a \
         loader test file such as whisper.cpp's for-tests-ggml-tiny.bin). Point `asr.model` at a \
         real model (`agent download-models`) or a synthetic one (`bash scripts/synth-models.sh`)"
    )]
    NoWeights {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// Something in the layout is inconsistent.
    #[error("whisper model {path}: invalid at offset {offset}: {message}. The file is corrupt or not a whisper model; fetch it again")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Byte offset where the problem was found.
        offset: u64,
        /// What is wrong.
        message: String,
    },
}

/// Bytes per block and elements per block of the ggml tensor types whisper files use.
pub fn ggml_type_layout(ttype: i32) -> Option<(u64, u64)> {
    Some(match ttype {
        0 => (4, 1),     // F32
        1 => (2, 1),     // F16
        2 => (18, 32),   // Q4_0
        3 => (20, 32),   // Q4_1
        6 => (22, 32),   // Q5_0
        7 => (24, 32),   // Q5_1
        8 => (34, 32),   // Q8_0
        9 => (36, 32),   // Q8_1
        10 => (84, 256), // Q2_K
        11 => (110, 256),
        12 => (144, 256),
        13 => (176, 256),
        14 => (210, 256),
        15 => (292, 256),
        30 => (2, 1), // BF16
        _ => return None,
    })
}

/// Every tensor whisper.cpp's `whisper_model_load` creates for these hyper-parameters, with
/// its shape in ggml order (ne0, ne1, ne2).
pub fn expected_tensors(h: &WhisperHparams) -> HashMap<String, [i64; 3]> {
    let s = h.n_audio_state as i64;
    let t = h.n_text_state as i64;
    let mut m = HashMap::new();
    let mut put = |name: String, ne: [i64; 3]| {
        m.insert(name, ne);
    };
    put(
        "encoder.positional_embedding".into(),
        [s, h.n_audio_ctx as i64, 1],
    );
    put("encoder.conv1.weight".into(), [3, h.n_mels as i64, s]);
    put("encoder.conv1.bias".into(), [1, s, 1]);
    put("encoder.conv2.weight".into(), [3, s, s]);
    put("encoder.conv2.bias".into(), [1, s, 1]);
    put("encoder.ln_post.weight".into(), [s, 1, 1]);
    put("encoder.ln_post.bias".into(), [s, 1, 1]);
    let block = |put: &mut dyn FnMut(String, [i64; 3]), p: String, w: i64, attns: &[&str]| {
        put(format!("{p}.mlp_ln.weight"), [w, 1, 1]);
        put(format!("{p}.mlp_ln.bias"), [w, 1, 1]);
        put(format!("{p}.mlp.0.weight"), [w, 4 * w, 1]);
        put(format!("{p}.mlp.0.bias"), [4 * w, 1, 1]);
        put(format!("{p}.mlp.2.weight"), [4 * w, w, 1]);
        put(format!("{p}.mlp.2.bias"), [w, 1, 1]);
        for a in attns {
            put(format!("{p}.{a}_ln.weight"), [w, 1, 1]);
            put(format!("{p}.{a}_ln.bias"), [w, 1, 1]);
            for mat in ["query", "key", "value", "out"] {
                put(format!("{p}.{a}.{mat}.weight"), [w, w, 1]);
                if mat != "key" {
                    put(format!("{p}.{a}.{mat}.bias"), [w, 1, 1]);
                }
            }
        }
    };
    for i in 0..h.n_audio_layer {
        block(&mut put, format!("encoder.blocks.{i}"), s, &["attn"]);
    }
    put(
        "decoder.positional_embedding".into(),
        [t, h.n_text_ctx as i64, 1],
    );
    put(
        "decoder.token_embedding.weight".into(),
        [t, h.n_vocab as i64, 1],
    );
    put("decoder.ln.weight".into(), [t, 1, 1]);
    put("decoder.ln.bias".into(), [t, 1, 1]);
    for i in 0..h.n_text_layer {
        block(
            &mut put,
            format!("decoder.blocks.{i}"),
            t,
            &["attn", "cross_attn"],
        );
    }
    m
}

struct Reader<'a> {
    inner: BufReader<std::fs::File>,
    pos: u64,
    len: u64,
    path: &'a Path,
}

impl Reader<'_> {
    fn need(&self, n: u64, what: &str) -> Result<(), ModelFileError> {
        if self.pos + n > self.len {
            return Err(ModelFileError::Truncated {
                path: self.path.to_path_buf(),
                what: what.to_string(),
                needed: self.pos + n,
                len: self.len,
            });
        }
        Ok(())
    }

    fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>, ModelFileError> {
        self.need(n, what)?;
        let mut buf = vec![0u8; n as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|source| self.io(source))?;
        self.pos += n;
        Ok(buf)
    }

    fn i32(&mut self, what: &str) -> Result<i32, ModelFileError> {
        let b = self.bytes(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), ModelFileError> {
        self.need(n, what)?;
        self.inner
            .seek_relative(n as i64)
            .map_err(|source| self.io(source))?;
        self.pos += n;
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> ModelFileError {
        ModelFileError::Io {
            path: self.path.to_path_buf(),
            source,
        }
    }

    fn invalid(&self, message: impl Into<String>) -> ModelFileError {
        ModelFileError::Invalid {
            path: self.path.to_path_buf(),
            offset: self.pos,
            message: message.into(),
        }
    }
}

/// Parses and checks a whole whisper ggml file without loading its weights into memory.
pub fn validate_whisper_file(path: &Path) -> Result<WhisperFileInfo, ModelFileError> {
    let io = |source| ModelFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut r = Reader {
        inner: BufReader::with_capacity(1 << 16, file),
        pos: 0,
        len,
        path,
    };
    let magic = r.i32("the magic number")? as u32;
    if magic != GGML_MAGIC {
        return Err(ModelFileError::BadMagic {
            path: path.to_path_buf(),
            found: magic,
        });
    }
    let mut v = [0i32; 11];
    for x in v.iter_mut() {
        *x = r.i32("the hyper-parameters")?;
    }
    let h = WhisperHparams {
        n_vocab: v[0],
        n_audio_ctx: v[1],
        n_audio_state: v[2],
        n_audio_head: v[3],
        n_audio_layer: v[4],
        n_text_ctx: v[5],
        n_text_state: v[6],
        n_text_head: v[7],
        n_text_layer: v[8],
        n_mels: v[9],
        ftype: v[10],
    };
    check_hparams(&h).map_err(|m| r.invalid(m))?;
    let n_mel = r.i32("the mel filter header")?;
    let n_fft = r.i32("the mel filter header")?;
    if !(1..=512).contains(&n_mel) || !(1..=4096).contains(&n_fft) {
        return Err(r.invalid(format!("mel filter size {n_mel}×{n_fft} is out of range")));
    }
    r.skip(4 * n_mel as u64 * n_fft as u64, "the mel filters")?;
    let n_tokens = r.i32("the vocabulary size")?;
    if !(0..=h.n_vocab).contains(&n_tokens) {
        return Err(r.invalid(format!(
            "vocabulary holds {n_tokens} tokens, hyper-parameters say at most {}",
            h.n_vocab
        )));
    }
    for i in 0..n_tokens {
        let token_len = r.i32("the vocabulary")? as u32;
        if token_len > 1024 {
            return Err(r.invalid(format!("token {i} is {token_len} bytes long")));
        }
        r.skip(token_len as u64, "the vocabulary")?;
    }
    if r.pos == len {
        return Err(ModelFileError::NoWeights {
            path: path.to_path_buf(),
            len,
        });
    }
    let expected = expected_tensors(&h);
    let mut seen: HashMap<String, ()> = HashMap::new();
    let mut weight_bytes = 0u64;
    while r.pos < len {
        let n_dims = r.i32("a tensor header")?;
        let name_len = r.i32("a tensor header")?;
        let ttype = r.i32("a tensor header")?;
        if !(1..=4).contains(&n_dims) || !(1..=256).contains(&name_len) {
            return Err(r.invalid(format!(
                "tensor header #{} has n_dims {n_dims}, name length {name_len}",
                seen.len()
            )));
        }
        let mut ne = [1i64; 4];
        for d in ne.iter_mut().take(n_dims as usize) {
            *d = r.i32("a tensor header")? as i64;
            if *d <= 0 {
                return Err(r.invalid(format!("tensor #{} has a dimension of {d}", seen.len())));
            }
        }
        let name =
            String::from_utf8_lossy(&r.bytes(name_len as u64, "a tensor name")?).into_owned();
        let Some(want) = expected.get(&name) else {
            return Err(r.invalid(format!(
                "unknown tensor `{name}` for these hyper-parameters"
            )));
        };
        if ne[..3] != want[..] || ne[3] != 1 {
            return Err(r.invalid(format!(
                "tensor `{name}` has shape {:?}, whisper.cpp expects {:?}",
                &ne[..n_dims as usize],
                want
            )));
        }
        let Some((block_bytes, block_elems)) = ggml_type_layout(ttype) else {
            return Err(r.invalid(format!("tensor `{name}` has unknown ggml type {ttype}")));
        };
        let elems: i64 = ne.iter().product();
        if !(ne[0] as u64).is_multiple_of(block_elems) {
            return Err(r.invalid(format!(
                "tensor `{name}`: row of {} elements does not fit ggml type {ttype} blocks of {block_elems}",
                ne[0]
            )));
        }
        let data = elems as u64 / block_elems * block_bytes;
        r.skip(data, &format!("the data of tensor `{name}`"))?;
        weight_bytes += data;
        if seen.insert(name.clone(), ()).is_some() {
            return Err(r.invalid(format!("tensor `{name}` appears twice")));
        }
    }
    if seen.len() != expected.len() {
        let mut missing: Vec<&String> =
            expected.keys().filter(|k| !seen.contains_key(*k)).collect();
        missing.sort();
        return Err(r.invalid(format!(
            "{} of {} tensors present; missing e.g. {:?}",
            seen.len(),
            expected.len(),
            missing.iter().take(3).collect::<Vec<_>>()
        )));
    }
    Ok(WhisperFileInfo {
        hparams: h,
        n_vocab_stored: n_tokens as usize,
        n_tensors: seen.len(),
        weight_bytes,
        size_name: size_name(h.n_audio_layer),
    })
}

fn size_name(n_audio_layer: i32) -> &'static str {
    match n_audio_layer {
        4 => "tiny",
        6 => "base",
        12 => "small",
        24 => "medium",
        32 => "large",
        _ => "custom",
    }
}

fn check_hparams(h: &WhisperHparams) -> Result<(), String> {
    let ranges = [
        ("n_vocab", h.n_vocab, 1, 1 << 20),
        ("n_audio_ctx", h.n_audio_ctx, 1, 1 << 16),
        ("n_audio_state", h.n_audio_state, 1, 1 << 14),
        ("n_audio_head", h.n_audio_head, 1, 1024),
        ("n_audio_layer", h.n_audio_layer, 1, 1024),
        ("n_text_ctx", h.n_text_ctx, 1, 1 << 16),
        ("n_text_state", h.n_text_state, 1, 1 << 14),
        ("n_text_head", h.n_text_head, 1, 1024),
        ("n_text_layer", h.n_text_layer, 1, 1024),
        ("n_mels", h.n_mels, 1, 512),
        ("ftype", h.ftype, 0, 100_000),
    ];
    for (name, value, lo, hi) in ranges {
        if !(lo..=hi).contains(&value) {
            return Err(format!(
                "hyper-parameter {name} = {value} is out of range {lo}..={hi}"
            ));
        }
    }
    if h.n_text_state != h.n_audio_state {
        return Err(format!(
            "n_text_state {} differs from n_audio_state {} (whisper.cpp asserts they are equal)",
            h.n_text_state, h.n_audio_state
        ));
    }
    if h.n_audio_state % h.n_audio_head != 0 || h.n_text_state % h.n_text_head != 0 {
        return Err("state width is not a multiple of the head count".into());
    }
    Ok(())
}
