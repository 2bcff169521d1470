//! Speech synthesis: text normalisation, espeak-ng phonemisation as Piper does it, Piper voices through ONNX Runtime.
