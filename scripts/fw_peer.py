#!/usr/bin/env python3
"""faster-whisper peer for `agent bench quality-asr`: transcribes the same WAV files with the same
CTranslate2 weights and prints one JSON object per line: {"file", "text", "ms", "cpu_ms"}
(wall time and the process's CPU time, all threads, per run).

Reads tab-separated `path` lines on stdin. Settings mirror ours: fixed language, no context
carried between files, no temperature fallback, no VAD (the bench feeds both engines the same
already-cut clips), the given beam and thread count. Each file is decoded `--runs` times after
one warm-up (only the last text is reported, every time is).
"""
import argparse, json, sys, time, wave

import numpy as np
from faster_whisper import WhisperModel


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--compute-type", default="int8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--beam", type=int, default=1)
    ap.add_argument("--language", default="en")
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    t = time.perf_counter()
    model = WhisperModel(a.model, device="cpu", compute_type=a.compute_type,
                         cpu_threads=a.threads, num_workers=1)
    print(json.dumps({"load_ms": (time.perf_counter() - t) * 1000}), flush=True)
    warmed = False
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        audio = read_wav(path)

        def run():
            t0, c0 = time.perf_counter(), time.process_time()
            segments, _ = model.transcribe(audio, language=a.language, beam_size=a.beam,
                                           best_of=1, temperature=0.0,
                                           condition_on_previous_text=False, vad_filter=False)
            text = " ".join(s.text.strip() for s in segments)
            return text, (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000

        if not warmed:
            run()
            warmed = True
        times, cpu = [], []
        for _ in range(max(1, a.runs)):
            text, ms, cpu_ms = run()
            times.append(ms)
            cpu.append(cpu_ms)
        print(json.dumps({"file": path, "text": text, "ms": times, "cpu_ms": cpu}), flush=True)


if __name__ == "__main__":
    main()
