#!/usr/bin/env python3
"""Reference Whisper log-mel features (numpy only) and the golden file the Rust tests compare to.

Follows OpenAI Whisper's `log_mel_spectrogram` (torch.stft centre=True with reflect padding,
periodic Hann window, n_fft 400, hop 160, |X|^2, librosa's Slaney mel filters, log10 with a
1e-10 floor, last frame dropped, clamp to max - 8, (x + 4) / 4) and smart-turn v3's input
(last 8 s, zero-padded at the start, zero-mean unit-variance waveform as Pipecat's
`do_normalize=True`). Everything in float64 like numpy's reference path.

    python3 scripts/mel_reference.py ../shared/fixtures/audio/jfk.wav tests/smart_turn_mel_golden.json
"""

import json
import sys
import wave

import numpy as np

N_FFT, HOP, N_MELS, SR = 400, 160, 80, 16000
EVERY = 100  # frames kept in the golden file (all 80 bands of every 100th frame)


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    lin = 3.0 * f / 200.0
    log = 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(f >= 1000.0, log, lin)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    lin = 200.0 * m / 3.0
    log = 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0))
    return np.where(m >= 15.0, log, lin)


def mel_filters():
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) (Slaney scale and norm): [80, 201]."""
    fft_freqs = np.linspace(0, SR / 2, N_FFT // 2 + 1)
    pts = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SR / 2), N_MELS + 2))
    fdiff = np.diff(pts)
    ramps = pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0, np.minimum(lower, upper))
    return w * (2.0 / (pts[2 : N_MELS + 2] - pts[:N_MELS]))[:, None]


def log_mel(audio):
    x = np.asarray(audio, dtype=np.float64)
    pad = N_FFT // 2
    xp = np.pad(x, (pad, pad), mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    n_frames = 1 + (len(xp) - N_FFT) // HOP
    frames = np.stack([xp[i * HOP : i * HOP + N_FFT] for i in range(n_frames)])
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2  # [T, 201]
    mel = mel_filters() @ power.T  # [80, T]
    log_spec = np.log10(np.maximum(mel, 1e-10))[:, :-1]
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def smart_turn_features(audio):
    n = 8 * SR
    x = np.asarray(audio, dtype=np.float32)[-n:]
    x = np.pad(x, (n - len(x), 0))
    x64 = x.astype(np.float64)
    x = ((x64 - x64.mean()) / np.sqrt(x64.var() + 1e-7)).astype(np.float32)
    return log_mel(x)


def read_wav(path):
    with wave.open(path) as w:
        assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def summary(name, feats, note):
    kept = list(range(0, feats.shape[1], EVERY))
    return {
        "name": name,
        "note": note,
        "frames": int(feats.shape[1]),
        "mean": float(feats.mean()),
        "min": float(feats.min()),
        "max": float(feats.max()),
        "kept_frames": kept,
        # values[i][m] = band m of frame kept_frames[i]
        "values": [[round(float(v), 6) for v in feats[:, t]] for t in kept],
    }


def main():
    wav, out = sys.argv[1], sys.argv[2]
    audio = read_wav(wav)
    cut = int(7.8 * SR)
    golden = {
        "source": "jfk.wav (whisper.cpp samples), written by scripts/mel_reference.py",
        "cases": [
            summary("log_mel_whole", log_mel(audio), "Whisper log_mel_spectrogram of all 11 s"),
            summary("smart_turn_first_7_8s", smart_turn_features(audio[:cut]),
                    "smart-turn input of the first 7.8 s (zero-padded at the start)"),
            summary("smart_turn_last_8s", smart_turn_features(audio), "smart-turn input of the last 8 s"),
        ],
    }
    with open(out, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
