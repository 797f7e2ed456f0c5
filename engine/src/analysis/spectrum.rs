//! Short-time spectra: the one pass over the samples that every later stage reads.
//!
//! The song is mixed to mono and decimated to about 22 kHz (beats and timbre live below
//! 11 kHz), then a Hann-windowed STFT with centred frames is taken. Per frame we keep only
//! compact summaries (mel bands, chroma, contrast, spectral shape, RMS, ZCR), so memory
//! grows by ~64 floats a frame (80 MB for a 60-minute song) rather than by whole spectra.

use realfft::RealFftPlanner;

/// Target analysis rate in Hz; the input is decimated by an integer factor towards it.
pub const ANALYSIS_RATE_HZ: f64 = 22_050.0;
/// FFT length in samples at the analysis rate (~46 ms at 22.05 kHz).
pub const N_FFT: usize = 1024;
/// Hop in seconds between frames (~11.6 ms, 256 samples at 22.05 kHz).
pub const HOP_S: f64 = 256.0 / 22_050.0;
/// Mel bands (also the first feature group).
pub const N_MELS: usize = 40;
/// Lowest mel band edge in Hz.
pub const MEL_FMIN_HZ: f64 = 30.0;
/// Highest mel band edge in Hz (clamped to Nyquist for low-rate audio).
pub const MEL_FMAX_HZ: f64 = 11_000.0;
/// Spectral-contrast bands: edges in Hz (the last band runs to Nyquist).
pub const CONTRAST_EDGES_HZ: [f64; 7] = [0.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0];
/// Number of spectral-contrast values per frame.
pub const N_CONTRAST: usize = CONTRAST_EDGES_HZ.len();
/// Share of a band's bins that count as its peak or valley for the contrast.
const CONTRAST_QUANTILE: f64 = 0.02;
/// Lowest frequency mapped to chroma, in Hz (below it FFT bins are too coarse for pitch).
const CHROMA_FMIN_HZ: f64 = 65.0;
/// Highest frequency mapped to chroma, in Hz.
const CHROMA_FMAX_HZ: f64 = 5_000.0;
/// Power floor added before logarithms (−100 dB).
pub const POWER_FLOOR: f64 = 1e-10;
/// Share of spectral energy under the roll-off frequency.
const ROLLOFF_SHARE: f64 = 0.85;
/// Upper edge of the "bass" mel bands used for downbeat evidence, in Hz.
pub const BASS_MAX_HZ: f64 = 200.0;

/// Per-frame summaries of the whole song.
#[derive(Debug, Clone, Default)]
pub struct Spectra {
    /// Analysis sample rate after decimation, in Hz.
    pub rate_hz: f64,
    /// Hop between frames, in samples at the analysis rate.
    pub hop: usize,
    /// Number of frames.
    pub n_frames: usize,
    /// Mel band power in dB (`N_MELS` per frame, row-major).
    pub mel_db: Vec<f32>,
    /// Chroma energy per pitch class (12 per frame, unnormalised power).
    pub chroma: Vec<f32>,
    /// Spectral contrast in dB (`N_CONTRAST` per frame).
    pub contrast: Vec<f32>,
    /// Spectral centroid in Hz.
    pub centroid_hz: Vec<f32>,
    /// Spectral bandwidth (2nd moment about the centroid) in Hz.
    pub bandwidth_hz: Vec<f32>,
    /// 85 % roll-off frequency in Hz.
    pub rolloff_hz: Vec<f32>,
    /// Spectral flatness (geometric / arithmetic mean of power), 0–1.
    pub flatness: Vec<f32>,
    /// Zero-crossing rate: crossings per sample, 0–1.
    pub zcr: Vec<f32>,
    /// Frame RMS of the decimated mono signal (linear, full scale = 1).
    pub rms: Vec<f32>,
    /// Number of mel bands whose centre lies below [`BASS_MAX_HZ`].
    pub n_bass_bands: usize,
}

impl Spectra {
    /// Time of frame `k`'s centre in seconds.
    pub fn frame_time(&self, k: usize) -> f64 {
        k as f64 * self.hop as f64 / self.rate_hz
    }

    /// Frames per second.
    pub fn frame_rate(&self) -> f64 {
        self.rate_hz / self.hop as f64
    }

    /// The mel row of frame `k`.
    pub fn mel_row(&self, k: usize) -> &[f32] {
        &self.mel_db[k * N_MELS..(k + 1) * N_MELS]
    }
}

/// Integer decimation factor that brings `sample_rate` closest to (not below) ~22 kHz.
pub fn decimation_factor(sample_rate: u32) -> usize {
    ((f64::from(sample_rate) / ANALYSIS_RATE_HZ).floor() as usize).max(1)
}

/// Box-filter decimation: a mean over `factor` samples. Crude as an anti-alias filter, but
/// the energy it lets alias sits above 10 kHz where no beat or timbre feature looks.
pub fn decimate(mono: &[f32], factor: usize) -> Vec<f32> {
    if factor <= 1 {
        return mono.to_vec();
    }
    mono.chunks(factor)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect()
}

/// Triangular mel filters (Slaney-style area normalisation) over `n_bins` FFT bins.
fn mel_filters(rate_hz: f64, n_bins: usize) -> Vec<(usize, Vec<f32>)> {
    let hz_to_mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
    let mel_to_hz = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
    let fmax = MEL_FMAX_HZ.min(rate_hz / 2.0);
    let (lo, hi) = (hz_to_mel(MEL_FMIN_HZ), hz_to_mel(MEL_FMAX_HZ));
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    let bin_hz = rate_hz / N_FFT as f64;
    (0..N_MELS)
        .map(|m| {
            let (f0, f1, f2) = (edges[m], edges[m + 1], edges[m + 2]);
            let first = ((f0 / bin_hz).ceil() as usize).min(n_bins);
            let last = ((f2 / bin_hz).floor() as usize).min(n_bins.saturating_sub(1));
            let norm = 2.0 / (f2 - f0);
            let weights = (first..=last.max(first))
                .map(|b| {
                    let f = b as f64 * bin_hz;
                    if f > fmax || b > last {
                        return 0.0;
                    }
                    let w = if f <= f1 {
                        (f - f0) / (f1 - f0)
                    } else {
                        (f2 - f) / (f2 - f1)
                    };
                    (w.max(0.0) * norm) as f32
                })
                .collect();
            (first, weights)
        })
        .collect()
}

/// Pitch class (0 = C) of each FFT bin, or `None` outside the chroma range.
fn chroma_map(rate_hz: f64, n_bins: usize) -> Vec<Option<usize>> {
    let bin_hz = rate_hz / N_FFT as f64;
    (0..n_bins)
        .map(|b| {
            let f = b as f64 * bin_hz;
            (CHROMA_FMIN_HZ..=CHROMA_FMAX_HZ).contains(&f).then(|| {
                let midi = 69.0 + 12.0 * (f / 440.0).log2();
                (midi.round() as i64).rem_euclid(12) as usize
            })
        })
        .collect()
}

/// Computes the per-frame summaries of a mono signal at `sample_rate` Hz.
pub fn compute(mono: &[f32], sample_rate: u32) -> Spectra {
    let factor = decimation_factor(sample_rate);
    let x = decimate(mono, factor);
    let rate_hz = f64::from(sample_rate) / factor as f64;
    let hop = ((HOP_S * rate_hz).round() as usize).max(1);
    let n_frames = x.len() / hop + 1;
    let n_bins = N_FFT / 2 + 1;
    let bin_hz = rate_hz / N_FFT as f64;

    let window: Vec<f32> = (0..N_FFT)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32)
        .collect();
    // Power normalised so that a full-scale sine reads about 0 dB in its band.
    let win_sum: f32 = window.iter().sum();
    let power_scale = 4.0 / (win_sum * win_sum);
    let mels = mel_filters(rate_hz, n_bins);
    let chroma_of = chroma_map(rate_hz, n_bins);
    let contrast_bins: Vec<(usize, usize)> = (0..N_CONTRAST)
        .map(|i| {
            let lo = (CONTRAST_EDGES_HZ[i] / bin_hz).round() as usize;
            let hi = CONTRAST_EDGES_HZ
                .get(i + 1)
                .map_or(n_bins, |f| (f / bin_hz).round() as usize);
            (lo.min(n_bins), hi.clamp(lo.min(n_bins), n_bins))
        })
        .collect();
    let n_bass_bands = {
        let hz_to_mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
        let (lo, hi) = (hz_to_mel(MEL_FMIN_HZ), hz_to_mel(MEL_FMAX_HZ));
        let step = (hi - lo) / (N_MELS + 1) as f64;
        (((hz_to_mel(BASS_MAX_HZ) - lo) / step).floor() as usize).clamp(1, N_MELS)
    };

    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(N_FFT);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut power = vec![0.0f32; n_bins];
    let mut band = Vec::with_capacity(n_bins);

    let mut s = Spectra {
        rate_hz,
        hop,
        n_frames,
        mel_db: Vec::with_capacity(n_frames * N_MELS),
        chroma: Vec::with_capacity(n_frames * 12),
        contrast: Vec::with_capacity(n_frames * N_CONTRAST),
        centroid_hz: Vec::with_capacity(n_frames),
        bandwidth_hz: Vec::with_capacity(n_frames),
        rolloff_hz: Vec::with_capacity(n_frames),
        flatness: Vec::with_capacity(n_frames),
        zcr: Vec::with_capacity(n_frames),
        rms: Vec::with_capacity(n_frames),
        n_bass_bands,
    };
    let half = N_FFT / 2;
    for k in 0..n_frames {
        // Centred frame: sample k·hop sits in the middle of the window; zero padding at edges.
        let centre = k * hop;
        let start = centre as isize - half as isize;
        let (mut sum_sq, mut crossings, mut prev_sign, mut n_real) =
            (0.0f64, 0usize, None::<bool>, 0usize);
        for (i, (inp, w)) in input.iter_mut().zip(&window).enumerate() {
            let j = start + i as isize;
            let v = if j >= 0 && (j as usize) < x.len() {
                x[j as usize]
            } else {
                0.0
            };
            *inp = v * w;
            // RMS and ZCR over the central hop-long stretch (what this frame stands for).
            if (i + hop / 2 >= half)
                && (i < half + hop - hop / 2)
                && j >= 0
                && (j as usize) < x.len()
            {
                sum_sq += f64::from(v) * f64::from(v);
                n_real += 1;
                let sign = v >= 0.0;
                if prev_sign.is_some_and(|p| p != sign) {
                    crossings += 1;
                }
                prev_sign = Some(sign);
            }
        }
        // A length mismatch is impossible here: all buffers come from the same plan.
        let _ = fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch);
        let mut total = 0.0f64;
        let (mut wsum, mut log_sum) = (0.0f64, 0.0f64);
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = (c.re * c.re + c.im * c.im) * power_scale;
            total += f64::from(*p);
        }
        for (b, p) in power.iter().enumerate() {
            wsum += b as f64 * bin_hz * f64::from(*p);
        }
        // Sum of logs as the log of products of 8 (one `ln` per 8 bins; the floor keeps
        // each product above 1e-80, far from underflow).
        for chunk in power.chunks(8) {
            log_sum += chunk
                .iter()
                .map(|p| f64::from(*p) + POWER_FLOOR)
                .product::<f64>()
                .ln();
        }
        let centroid = if total > 0.0 { wsum / total } else { 0.0 };
        let mut var = 0.0f64;
        let mut cum = 0.0f64;
        let mut rolloff = 0.0f64;
        let mut rolled = false;
        for (b, p) in power.iter().enumerate() {
            let f = b as f64 * bin_hz;
            var += (f - centroid).powi(2) * f64::from(*p);
            cum += f64::from(*p);
            if !rolled && cum >= ROLLOFF_SHARE * total {
                rolloff = f;
                rolled = true;
            }
        }
        s.centroid_hz.push(centroid as f32);
        s.bandwidth_hz.push(if total > 0.0 {
            (var / total).sqrt() as f32
        } else {
            0.0
        });
        s.rolloff_hz.push(rolloff as f32);
        let arith = total / n_bins as f64 + POWER_FLOOR;
        s.flatness
            .push(((log_sum / n_bins as f64).exp() / arith).clamp(0.0, 1.0) as f32);
        for (first, weights) in &mels {
            let e: f32 = weights
                .iter()
                .zip(&power[*first..])
                .map(|(w, p)| w * p)
                .sum();
            s.mel_db
                .push((10.0 * (f64::from(e) + POWER_FLOOR).log10()) as f32);
        }
        let mut chroma = [0.0f32; 12];
        for (p, pc) in power.iter().zip(&chroma_of) {
            if let Some(pc) = pc {
                chroma[*pc] += *p;
            }
        }
        s.chroma.extend_from_slice(&chroma);
        for &(lo, hi) in &contrast_bins {
            band.clear();
            band.extend(power[lo..hi].iter().map(|p| f64::from(*p) + POWER_FLOOR));
            s.contrast.push(contrast_db(&mut band) as f32);
        }
        s.rms.push(if n_real > 0 {
            (sum_sq / n_real as f64).sqrt() as f32
        } else {
            0.0
        });
        s.zcr.push(if n_real > 1 {
            crossings as f32 / (n_real - 1) as f32
        } else {
            0.0
        });
    }
    s
}

/// Peak minus valley of a band in dB: the mean dB of its top and bottom
/// [`CONTRAST_QUANTILE`] of bins. Selection runs on power (dB is monotonic in power), so
/// only the selected bins pay for a logarithm.
fn contrast_db(band_power: &mut [f64]) -> f64 {
    let n = band_power.len();
    if n < 2 {
        return 0.0;
    }
    let db = |p: &f64| 10.0 * p.log10();
    let k = ((n as f64 * CONTRAST_QUANTILE).round() as usize).clamp(1, n / 2);
    band_power.select_nth_unstable_by(k - 1, f64::total_cmp);
    let valley = band_power[..k].iter().map(db).sum::<f64>() / k as f64;
    band_power.select_nth_unstable_by(n - k, f64::total_cmp);
    let peak = band_power[n - k..].iter().map(db).sum::<f64>() / k as f64;
    peak - valley
}
