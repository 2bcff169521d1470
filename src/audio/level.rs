//! Signal levels in dBFS, shared by the ASR's quiet-input filter and the VAD's quiet-tail rule.

/// The level given to digital silence (and to no audio at all), dBFS.
pub const SILENCE_DBFS: f32 = -120.0;

/// RMS level of `samples` (in [-1, 1]) in dBFS ([`SILENCE_DBFS`] for digital silence).
pub fn rms_dbfs(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return SILENCE_DBFS;
    }
    let mean_sq = samples
        .iter()
        .map(|s| (*s as f64) * (*s as f64))
        .sum::<f64>()
        / samples.len() as f64;
    if mean_sq <= 1e-12 {
        SILENCE_DBFS
    } else {
        (10.0 * mean_sq.log10()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(rms_dbfs(&[0.0; 100]), SILENCE_DBFS);
        assert_eq!(rms_dbfs(&[]), SILENCE_DBFS);
        let full = rms_dbfs(&[1.0, -1.0, 1.0, -1.0]);
        assert!(full.abs() < 1e-3, "{full}");
        assert!((rms_dbfs(&[0.01; 10]) + 40.0).abs() < 1e-3);
    }
}
