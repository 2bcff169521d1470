//! Conversions between 16-bit little-endian PCM bytes, `i16` samples and `f32` samples.
//!
//! Inside the pipeline audio is `f32` in [-1.0, 1.0]; 16 bits exist only on the wire and in
//! recordings. `i16` becomes `f32` exactly (over 32768), and back without loss; conversion to
//! `i16` rounds and saturates, so loud resampler overshoot clips instead of wrapping around.

/// Decodes 16-bit little-endian PCM bytes into `out` (a trailing odd byte is ignored).
pub fn le_bytes_to_i16(bytes: &[u8], out: &mut Vec<i16>) {
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]])),
    );
}

/// Decodes 16-bit little-endian PCM bytes into `f32` samples appended to `out`.
pub fn le_bytes_to_f32(bytes: &[u8], out: &mut Vec<f32>) {
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|b| i16_to_f32(i16::from_le_bytes([b[0], b[1]]))),
    );
}

/// Encodes `i16` samples as little-endian bytes appended to `out`.
pub fn i16_to_le_bytes(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

/// Encodes `f32` samples as 16-bit little-endian bytes (rounded, saturated) appended to `out`.
pub fn f32_to_le_bytes(samples: &[f32], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for &s in samples {
        out.extend_from_slice(&f32_to_i16(s).to_le_bytes());
    }
}

/// One `i16` sample as `f32` in [-1.0, 1.0).
#[inline]
pub fn i16_to_f32(s: i16) -> f32 {
    s as f32 / 32768.0
}

/// One `f32` sample as `i16`: scaled by 32768, rounded (ties to even), saturated; NaN becomes 0.
#[inline]
pub fn f32_to_i16(s: f32) -> i16 {
    // `as` saturates and maps NaN to 0. Ties-to-even compiles to one vector instruction;
    // `round` (ties away from zero) is a libm call per sample.
    (s * 32768.0).round_ties_even() as i16
}

/// A slice of `i16` samples as `f32`.
pub fn i16_slice_to_f32(samples: &[i16]) -> Vec<f32> {
    samples.iter().copied().map(i16_to_f32).collect()
}

/// A slice of `f32` samples as `i16` (rounded, saturated).
pub fn f32_slice_to_i16(samples: &[f32]) -> Vec<i16> {
    samples.iter().copied().map(f32_to_i16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_through_i16_and_f32() {
        let samples: Vec<i16> = vec![0, 1, -1, i16::MAX, i16::MIN, 12345, -12345];
        let mut bytes = Vec::new();
        i16_to_le_bytes(&samples, &mut bytes);
        assert_eq!(bytes.len(), samples.len() * 2);
        assert_eq!(&bytes[2..4], &[1, 0]);
        let mut back = Vec::new();
        le_bytes_to_i16(&bytes, &mut back);
        assert_eq!(back, samples);
        let mut f = Vec::new();
        le_bytes_to_f32(&bytes, &mut f);
        let mut bytes2 = Vec::new();
        f32_to_le_bytes(&f, &mut bytes2);
        assert_eq!(bytes2, bytes, "i16 -> f32 -> i16 must be lossless");
    }

    #[test]
    fn every_i16_survives_f32_and_back() {
        // The pipeline carries caller audio and 16-bit sources as f32: the wire must get the
        // very same samples back.
        for s in i16::MIN..=i16::MAX {
            let f = i16_to_f32(s);
            assert!((-1.0..1.0).contains(&f), "{s} -> {f}");
            assert_eq!(f32_to_i16(f), s, "{s} -> {f} -> {}", f32_to_i16(f));
        }
        // Full scale in f32 saturates rather than wrapping.
        assert_eq!(f32_to_i16(1.0), i16::MAX);
        assert_eq!(f32_to_i16(-1.0), i16::MIN);
    }

    #[test]
    fn f32_conversion_saturates_and_handles_nan() {
        assert_eq!(f32_to_i16(1.5), i16::MAX);
        assert_eq!(f32_to_i16(-1.5), i16::MIN);
        assert_eq!(f32_to_i16(f32::NAN), 0);
        assert_eq!(f32_to_i16(0.5), 16384);
    }

    #[test]
    fn odd_trailing_byte_is_ignored() {
        let mut out = Vec::new();
        le_bytes_to_i16(&[1, 0, 7], &mut out);
        assert_eq!(out, vec![1]);
    }
}
