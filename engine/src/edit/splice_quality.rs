//! How audible a splice is: the discontinuity at a point of a signal, measured the same
//! way at an edit's splices and at the song's own beat boundaries, so a splice can be
//! judged against the changes the music makes by itself every beat.
//!
//! Two measures at a position `p` (frames) of the mono mix:
//! - spectral flux: the mean positive change in log magnitude (dB) between the
//!   [`WINDOW`]-frame Hann windows just before and just after `p` (how much new sound
//!   appears; a beat's own attack scores high here too);
//! - sample step: `|x[p] − x[p−1]|` over the RMS of the surrounding window (a click).

use realfft::RealFftPlanner;

use super::Plan;
use crate::audio::Audio;

/// Analysis window on each side of the point, frames (23 ms at 44.1 kHz).
pub const WINDOW: usize = 1024;
/// Magnitude floor for the logarithm (−100 dB re full scale).
const MAG_FLOOR: f32 = 1e-5;

/// Discontinuity at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Discontinuity {
    /// Mean positive log-magnitude change across the point, dB.
    pub flux_db: f64,
    /// Sample step across the point relative to the local RMS.
    pub step: f64,
}

/// Measures discontinuities of one signal at many points (FFT planned once).
pub struct Meter {
    mono: Vec<f32>,
    fft: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    window: Vec<f32>,
}

impl Meter {
    /// A meter over the mono mix of `audio`.
    pub fn new(audio: &Audio) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let window = (0..WINDOW)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / WINDOW as f64).cos()) as f32
            })
            .collect();
        Meter {
            mono: audio.mono(),
            fft: planner.plan_fft_forward(WINDOW),
            window,
        }
    }

    fn log_magnitudes(&self, start: usize) -> Vec<f32> {
        let mut input: Vec<f32> = self.mono[start..start + WINDOW]
            .iter()
            .zip(&self.window)
            .map(|(x, w)| x * w)
            .collect();
        let mut spectrum = self.fft.make_output_vec();
        // Buffers come from the same plan, so lengths always match.
        let _ = self.fft.process(&mut input, &mut spectrum);
        spectrum
            .iter()
            .map(|c| 20.0 * (c.norm() + MAG_FLOOR).log10())
            .collect()
    }

    /// The discontinuity at frame `p`, or `None` too near either end for a full window.
    pub fn at(&self, p: usize) -> Option<Discontinuity> {
        if p < WINDOW || p + WINDOW > self.mono.len() {
            return None;
        }
        let before = self.log_magnitudes(p - WINDOW);
        let after = self.log_magnitudes(p);
        let flux_db = before
            .iter()
            .zip(&after)
            .map(|(b, a)| f64::from((a - b).max(0.0)))
            .sum::<f64>()
            / before.len() as f64;
        let around = &self.mono[p - WINDOW..p + WINDOW];
        let rms = (around.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / around.len() as f64)
            .sqrt();
        let step = f64::from((self.mono[p] - self.mono[p - 1]).abs()) / rms.max(1e-6);
        Some(Discontinuity { flux_db, step })
    }
}

/// Output positions (frames) of a plan's splices: where one source segment ends and a
/// non-contiguous one begins.
pub fn splice_positions(plan: &Plan) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    for w in plan.segments.windows(2) {
        pos += w[0].len();
        if w[0].end != w[1].start {
            out.push(pos);
        }
    }
    out
}
