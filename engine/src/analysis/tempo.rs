//! Tempo: the beat period over time, from autocorrelations of the onset envelope.
//!
//! A tempogram (autocorrelation in overlapping windows) gives each window's periodicity.
//! The global period is the best lag of the summed tempogram under a log-normal prior
//! around 120 BPM, checked against its double and half with a metrical-evidence test
//! (the usual failure of trackers is an octave error). The local period then follows the
//! tempogram by Viterbi within ±35 % of the global one, so drifts, ramps and tempo changes
//! are tracked without jumping octaves.

/// Slowest tempo considered, in BPM.
pub const MIN_BPM: f64 = 40.0;
/// Fastest tempo considered, in BPM.
pub const MAX_BPM: f64 = 240.0;
/// Centre of the tempo prior, in BPM.
const PRIOR_CENTRE_BPM: f64 = 130.0;
/// Width of the tempo prior, in octaves (standard deviation of log2 tempo).
const PRIOR_WIDTH_OCTAVES: f64 = 1.3;
/// Tempogram window length in seconds.
const WINDOW_S: f64 = 8.0;
/// Tempogram hop in seconds.
const WINDOW_HOP_S: f64 = 1.0;
/// Largest local deviation from the global tempo that the local path may reach (ratio).
const LOCAL_RANGE: f64 = 1.35;
/// Viterbi penalty on the squared log-ratio of consecutive window periods.
const LOCAL_SMOOTHNESS: f64 = 300.0;

/// The tempo estimate of a song.
#[derive(Debug, Clone)]
pub struct Tempo {
    /// Global beat period in frames.
    pub period_frames: f64,
    /// Local beat period in frames, one per frame.
    pub local_period: Vec<f64>,
    /// How clearly periodic the song is: the normalised autocorrelation at the period, 0–1.
    pub confidence: f64,
}

/// Autocorrelation of `x` for lags `0..=max_lag`, normalised by lag 0 (unbiased per lag).
fn autocorrelation(x: &[f32], max_lag: usize) -> Vec<f64> {
    let n = x.len();
    let mut acf = vec![0.0f64; max_lag + 1];
    for (lag, a) in acf.iter_mut().enumerate() {
        if lag >= n {
            break;
        }
        let s: f64 = x[..n - lag]
            .iter()
            .zip(&x[lag..])
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        *a = s / (n - lag) as f64;
    }
    let zero = acf[0];
    if zero > 0.0 {
        for a in &mut acf {
            *a /= zero;
        }
    }
    acf
}

/// Prior weight of a period in frames.
fn prior(lag: f64, frame_rate: f64) -> f64 {
    let bpm = 60.0 * frame_rate / lag;
    (-0.5 * ((bpm / PRIOR_CENTRE_BPM).log2() / PRIOR_WIDTH_OCTAVES).powi(2)).exp()
}

/// Value of `acf` at a fractional lag (linear interpolation).
fn at(acf: &[f64], lag: f64) -> f64 {
    let i = lag.floor() as usize;
    if i + 1 >= acf.len() {
        return 0.0;
    }
    let f = lag - i as f64;
    acf[i] * (1.0 - f) + acf[i + 1] * f
}

/// Periodicity evidence for a beat period: the autocorrelation at the period and at its
/// multiples (a true beat repeats at 2, 3, 4 periods; an off-beat tatum repeats too, which
/// the prior and the octave test resolve).
fn salience(acf: &[f64], lag: f64) -> f64 {
    at(acf, lag) + 0.5 * at(acf, 2.0 * lag) + 0.25 * at(acf, 4.0 * lag)
}

/// The tempogram of a song and its best beat period.
pub struct Tempogram {
    windows: Vec<(usize, Vec<f64>)>,
    n_frames: usize,
    /// Best global beat period in frames.
    pub period: f64,
    /// Excess of the normalised autocorrelation at the best period over its mean, 0–1.
    pub confidence: f64,
}

/// Computes the tempogram of a normalised onset envelope and its best period.
pub fn estimate(onset: &[f32], frame_rate: f64) -> Tempogram {
    let min_lag = (60.0 * frame_rate / MAX_BPM).floor().max(2.0) as usize;
    let max_lag = (60.0 * frame_rate / MIN_BPM).ceil() as usize;
    let win = ((WINDOW_S * frame_rate) as usize)
        .min(onset.len())
        .max(max_lag * 2 + 1);
    let hop = ((WINDOW_HOP_S * frame_rate) as usize).max(1);
    // Tempogram: one autocorrelation per window (long enough for 4 periods of the slowest tempo).
    let acf_len = 4 * max_lag + 2;
    let mut windows: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut start = 0usize;
    loop {
        let end = (start + win).min(onset.len());
        windows.push((
            start + (end - start) / 2,
            autocorrelation(&onset[start..end], acf_len),
        ));
        if end >= onset.len() {
            break;
        }
        start += hop;
    }
    let mut global = vec![0.0f64; acf_len + 1];
    for (_, acf) in &windows {
        for (g, a) in global.iter_mut().zip(acf) {
            *g += a / windows.len() as f64;
        }
    }
    let score = |lag: f64| salience(&global, lag) * prior(lag, frame_rate);
    let scores: Vec<f64> = (0..=max_lag)
        .map(|l| if l < min_lag { 0.0 } else { score(l as f64) })
        .collect();
    let best = (min_lag..=max_lag)
        .max_by(|a, b| scores[*a].total_cmp(&scores[*b]))
        .unwrap_or(min_lag) as f64;
    let period = refine(&global, best);
    // Confidence: how far the autocorrelation at the period stands above its own mean over
    // the tempo range. A rectified onset envelope correlates with itself at every lag (its
    // mean is positive), so the raw value reads ~0.3 even for white noise; the excess does not.
    let range = &global[min_lag..=max_lag.min(global.len() - 1)];
    let baseline = range.iter().sum::<f64>() / range.len().max(1) as f64;
    let confidence =
        ((at(&global, period) - baseline) / (1.0 - baseline).max(1e-9)).clamp(0.0, 1.0);
    Tempogram {
        windows,
        n_frames: onset.len(),
        period,
        confidence,
    }
}

impl Tempogram {
    /// The local period per frame following the tempogram near `period` (frames).
    pub fn local_periods(&self, period: f64) -> Vec<f64> {
        follow(&self.windows, period, self.n_frames)
    }

    /// The tempo estimate: global period and the local path around it.
    pub fn tempo(&self) -> Tempo {
        Tempo {
            period_frames: self.period,
            local_period: self.local_periods(self.period),
            confidence: self.confidence,
        }
    }
}

/// Parabolic refinement of an autocorrelation peak near integer lag `lag`.
fn refine(acf: &[f64], lag: f64) -> f64 {
    let i = lag.round() as usize;
    if i == 0 || i + 1 >= acf.len() {
        return lag;
    }
    let (a, b, c) = (acf[i - 1], acf[i], acf[i + 1]);
    let denom = a - 2.0 * b + c;
    if denom.abs() < 1e-12 {
        return lag;
    }
    i as f64 + (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
}

/// Viterbi over the tempogram windows: the smoothest path of periods within
/// [period / LOCAL_RANGE, period × LOCAL_RANGE] that keeps to strong autocorrelation.
fn follow(windows: &[(usize, Vec<f64>)], period: f64, n_frames: usize) -> Vec<f64> {
    let lo = (period / LOCAL_RANGE).floor().max(2.0) as usize;
    let hi = (period * LOCAL_RANGE).ceil() as usize;
    let lags: Vec<usize> = (lo..=hi).collect();
    let n_states = lags.len();
    if windows.len() < 2 || n_states == 0 {
        return vec![period; n_frames];
    }
    let emit = |acf: &Vec<f64>, l: usize| salience(acf, l as f64).max(1e-3).ln();
    let mut score: Vec<f64> = lags.iter().map(|&l| emit(&windows[0].1, l)).collect();
    let mut back = vec![vec![0usize; n_states]; windows.len()];
    for (w, (_, acf)) in windows.iter().enumerate().skip(1) {
        let mut next = vec![f64::MIN; n_states];
        for (j, &lj) in lags.iter().enumerate() {
            let mut best = (0usize, f64::MIN);
            for (i, &li) in lags.iter().enumerate() {
                let v = score[i] - LOCAL_SMOOTHNESS * (lj as f64 / li as f64).ln().powi(2);
                if v > best.1 {
                    best = (i, v);
                }
            }
            back[w][j] = best.0;
            next[j] = best.1 + emit(acf, lj);
        }
        score = next;
    }
    let mut state = score
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    let mut path = vec![0usize; windows.len()];
    for w in (0..windows.len()).rev() {
        path[w] = state;
        state = back[w][state];
    }
    // Refine each window's lag on its own autocorrelation, then interpolate per frame.
    let centres: Vec<(f64, f64)> = windows
        .iter()
        .zip(&path)
        .map(|((c, acf), &s)| (*c as f64, refine(acf, lags[s] as f64)))
        .collect();
    let mut k = 0usize;
    (0..n_frames)
        .map(|t| {
            let t = t as f64;
            while k < centres.len() && centres[k].0 < t {
                k += 1;
            }
            match k {
                0 => centres[0].1,
                k if k >= centres.len() => centres[centres.len() - 1].1,
                k => {
                    let (c0, p0) = centres[k - 1];
                    let (c1, p1) = centres[k];
                    p0 + (p1 - p0) * (t - c0) / (c1 - c0).max(1e-9)
                }
            }
        })
        .collect()
}
