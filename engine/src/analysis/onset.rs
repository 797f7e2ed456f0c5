//! Onset strength: how much new energy each frame brings, from the log-mel spectra.
//!
//! Positive log-mel flux with SuperFlux's maximum filter across neighbouring bands (so
//! vibrato and glides do not read as onsets), floored 80 dB under the song's peak so
//! silence and dither do not flicker.

use super::spectrum::{N_MELS, Spectra};

/// Frames between the two spectra compared (2 × 11.6 ms), so slow attacks still register.
pub const ONSET_LAG_FRAMES: usize = 2;
/// Dynamic range kept below the loudest mel value, in dB.
const ONSET_RANGE_DB: f32 = 80.0;
/// Length of the moving average removed before beat tracking, in seconds.
const DETREND_WINDOW_S: f64 = 0.4;

/// Raw onset strength per frame: mean positive dB rise across mel bands (dB per band).
pub fn onset_strength(s: &Spectra) -> Vec<f32> {
    onset_strength_bands(s, 0..N_MELS)
}

/// Onset strength restricted to mel bands `bands` (the bass bands serve the downbeats).
pub fn onset_strength_bands(s: &Spectra, bands: std::ops::Range<usize>) -> Vec<f32> {
    let peak = s.mel_db.iter().copied().fold(f32::MIN, f32::max);
    let floor = peak - ONSET_RANGE_DB;
    let n_bands = bands.len().max(1) as f32;
    let mut out = vec![0.0f32; s.n_frames];
    let lag = ONSET_LAG_FRAMES;
    for (t, o) in out.iter_mut().enumerate().skip(lag) {
        let cur = s.mel_row(t);
        let prev = s.mel_row(t - lag);
        let mut acc = 0.0f32;
        for b in bands.clone() {
            let lo = b.saturating_sub(1);
            let hi = (b + 1).min(N_MELS - 1);
            let reference = prev[lo..=hi]
                .iter()
                .copied()
                .fold(f32::MIN, f32::max)
                .max(floor);
            acc += (cur[b].max(floor) - reference).max(0.0);
        }
        *o = acc / n_bands;
    }
    out
}

/// Onset strength with its slow trend removed, half-wave rectified and scaled to unit
/// standard deviation: the observation the tempo and beat stages use.
pub fn normalised(onset: &[f32], frame_rate: f64) -> Vec<f32> {
    let w = ((DETREND_WINDOW_S * frame_rate).round() as usize).max(1) | 1;
    let trend = moving_average(onset, w);
    let mut out: Vec<f32> = onset
        .iter()
        .zip(&trend)
        .map(|(o, t)| (o - t).max(0.0))
        .collect();
    let n = out.len().max(1) as f64;
    let mean = out.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
    let var = out
        .iter()
        .map(|v| (f64::from(*v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let sd = var.sqrt();
    if sd > 1e-9 {
        for v in &mut out {
            *v = (f64::from(*v) / sd) as f32;
        }
    }
    out
}

/// Centred moving average of odd length `w` (edges use the part of the window inside).
pub fn moving_average(x: &[f32], w: usize) -> Vec<f32> {
    let half = w / 2;
    let mut prefix = Vec::with_capacity(x.len() + 1);
    prefix.push(0.0f64);
    for v in x {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + f64::from(*v));
    }
    (0..x.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(x.len());
            ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32
        })
        .collect()
}
