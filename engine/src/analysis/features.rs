//! The 125 per-beat features a policy or reward model sees. [`FEATURE_TABLE`] is the
//! source of truth (printed by `recut analyze --features-doc`).
//!
//! Every value is a mean over the beat's frames unless its description says otherwise,
//! and is scaled by fixed, documented constants (never fitted per song), so a model sees
//! the same scale on every song.

use std::ops::Range;

use super::bars::{Meter, cosine};
use super::spectrum::{N_CONTRAST, N_MELS, Spectra};

/// Values per beat.
pub const FEATURE_DIM: usize = 125;
/// Bumped on any change to the layout, the formulas or the scaling constants.
pub const FEATURES_VERSION: u32 = 1;

/// Mel dB value mapped to 0 (typical band level of mixed music, dB re full-scale sine).
pub const MEL_DB_CENTRE: f32 = -50.0;
/// Mel dB range mapped to 1 unit.
pub const MEL_DB_SCALE: f32 = 25.0;
/// Spectral contrast dB mapped to 1 unit.
pub const CONTRAST_DB_SCALE: f32 = 40.0;
/// Centroid and bandwidth Hz mapped to 1 unit.
pub const SHAPE_HZ_SCALE: f32 = 5000.0;
/// Roll-off Hz mapped to 1 unit.
pub const ROLLOFF_HZ_SCALE: f32 = 10_000.0;
/// Zero-crossing rate multiplier (typical music ZCR 0.02–0.2 → 0.1–1).
pub const ZCR_SCALE: f32 = 5.0;
/// RMS dBFS mapped to 0.
pub const RMS_DB_CENTRE: f32 = -30.0;
/// RMS dB range mapped to 1 unit.
pub const RMS_DB_SCALE: f32 = 30.0;
/// Onset strength (mean dB rise per mel band per frame) mapped to 1 unit.
pub const ONSET_SCALE: f32 = 5.0;
/// Tempo in BPM mapped to 1.
pub const TEMPO_BPM_SCALE: f32 = 120.0;
/// Beats on each side compared for the novelty of a beat (two bars of 4/4).
const NOVELTY_CONTEXT_BEATS: usize = 8;
/// Cosine similarity above which two phrases count as the same section.
const SECTION_SIMILARITY: f64 = 0.9;
/// Section loudness dB mapped to 1 unit.
const SECTION_DB_SCALE: f32 = 10.0;

/// One feature group: where it sits in the row and what it means.
#[derive(Debug, Clone, Copy)]
pub struct FeatureGroup {
    /// Short name.
    pub name: &'static str,
    /// First index in the row.
    pub offset: usize,
    /// Number of values.
    pub len: usize,
    /// What the values are, with units and scaling.
    pub description: &'static str,
}

/// The feature layout (DESIGN.md, "Features").
pub const FEATURE_TABLE: [FeatureGroup; 11] = [
    FeatureGroup {
        name: "mel",
        offset: 0,
        len: 40,
        description: "log-mel band energies, 40 bands 30 Hz-11 kHz: (dB + 50) / 25",
    },
    FeatureGroup {
        name: "mfcc",
        offset: 40,
        len: 20,
        description: "MFCC 0-19: orthonormal DCT-II of the 40 scaled mel values",
    },
    FeatureGroup {
        name: "chroma",
        offset: 60,
        len: 12,
        description: "chroma C..B, 65 Hz-5 kHz, beat sum divided by its maximum (0-1)",
    },
    FeatureGroup {
        name: "contrast",
        offset: 72,
        len: 7,
        description: "spectral contrast (peak minus valley dB) in bands 0-200-400-800-1600-3200-6400-Nyquist Hz, / 40",
    },
    FeatureGroup {
        name: "shape",
        offset: 79,
        len: 6,
        description: "centroid / 5 kHz, bandwidth / 5 kHz, 85% roll-off / 10 kHz, flatness (0-1), zero-crossing rate x 5, RMS (dBFS + 30) / 30",
    },
    FeatureGroup {
        name: "onset",
        offset: 85,
        len: 4,
        description: "onset strength mean / 5, max / 5, value at the beat / 5; spectral flux = mean positive change of scaled mel from the previous beat",
    },
    FeatureGroup {
        name: "tonnetz",
        offset: 89,
        len: 6,
        description: "tonal centroid (fifths, minor thirds, major thirds; sin/cos each) of the L1-normalised chroma",
    },
    FeatureGroup {
        name: "position",
        offset: 95,
        len: 6,
        description: "beat-in-bar sin/cos, bar-in-phrase sin/cos, song position 0-1, phrase-start flag (0/1)",
    },
    FeatureGroup {
        name: "tempo",
        offset: 101,
        len: 4,
        description: "local BPM / 120, beat length in seconds, local / global tempo - 1, tempo confidence 0-1",
    },
    FeatureGroup {
        name: "delta",
        offset: 105,
        len: 12,
        description: "change from the previous beat: mel means of 4 band quarters, MFCC 0-3, chroma (1 - cosine), RMS, onset mean, centroid (all in scaled units)",
    },
    FeatureGroup {
        name: "context",
        offset: 117,
        len: 8,
        description: "timbre (MFCC 1-19) and chroma cosine to the same beat one bar back, then one phrase back; novelty (cosine distance of the 8 beats before and after); section id (0-1, phrases clustered by similarity); position in phrase 0-1; phrase loudness vs song (dB / 10)",
    },
];

/// Everything the feature extraction reads.
pub struct FeatureInput<'a> {
    /// Frame summaries.
    pub spectra: &'a Spectra,
    /// Raw onset strength per frame.
    pub onset: &'a [f32],
    /// Beat positions in frames.
    pub beat_frames: &'a [usize],
    /// Beat times in seconds.
    pub beat_times: &'a [f64],
    /// Indices of beats that start a bar.
    pub downbeats: &'a [usize],
    /// Phrases as beat ranges.
    pub phrases: &'a [Range<usize>],
    /// Meter.
    pub meter: Meter,
    /// Global tempo in BPM.
    pub tempo_bpm: f64,
    /// Tempo confidence 0–1.
    pub tempo_confidence: f64,
    /// Song duration in seconds.
    pub duration_s: f64,
}

/// Per-beat averages of the frame summaries (before scaling into the row).
pub struct BeatSummaries {
    /// Scaled mel per beat.
    pub mel: Vec<[f32; N_MELS]>,
    /// Chroma per beat, divided by its maximum.
    pub chroma: Vec<[f32; 12]>,
}

/// Frame range `[start, end)` that beat `i` covers (at least one frame).
fn beat_span(beat_frames: &[usize], i: usize, n_frames: usize) -> Range<usize> {
    let start = beat_frames[i].min(n_frames.saturating_sub(1));
    let end = match beat_frames.get(i + 1) {
        Some(&next) => next,
        None => {
            let period = if i > 0 {
                beat_frames[i] - beat_frames[i - 1]
            } else {
                1
            };
            beat_frames[i] + period
        }
    };
    start..end.clamp(start + 1, n_frames.max(start + 1))
}

fn mean_frames(values: &[f32], width: usize, span: &Range<usize>, out: &mut [f32]) {
    out.iter_mut().for_each(|o| *o = 0.0);
    let n_frames = values.len() / width.max(1);
    let mut count = 0usize;
    for k in span.start..span.end.min(n_frames) {
        for (o, v) in out.iter_mut().zip(&values[k * width..(k + 1) * width]) {
            *o += v;
        }
        count += 1;
    }
    if count > 0 {
        out.iter_mut().for_each(|o| *o /= count as f32);
    }
}

/// Mel and chroma per beat: the basis of features, downbeat evidence and phrase novelty.
pub fn beat_summaries(spectra: &Spectra, beat_frames: &[usize]) -> BeatSummaries {
    let n = beat_frames.len();
    let mut mel = vec![[0.0f32; N_MELS]; n];
    let mut chroma = vec![[0.0f32; 12]; n];
    for i in 0..n {
        let span = beat_span(beat_frames, i, spectra.n_frames);
        mean_frames(&spectra.mel_db, N_MELS, &span, &mut mel[i]);
        for v in &mut mel[i] {
            *v = (*v - MEL_DB_CENTRE) / MEL_DB_SCALE;
        }
        mean_frames(&spectra.chroma, 12, &span, &mut chroma[i]);
        let max = chroma[i].iter().copied().fold(0.0f32, f32::max);
        if max > 0.0 {
            chroma[i].iter_mut().for_each(|c| *c /= max);
        }
    }
    BeatSummaries { mel, chroma }
}

/// Orthonormal DCT-II of `x`, first `n_out` coefficients.
fn dct(x: &[f32], n_out: usize) -> Vec<f32> {
    let n = x.len() as f64;
    (0..n_out)
        .map(|k| {
            let s: f64 = x
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    f64::from(*v) * (std::f64::consts::PI * k as f64 * (i as f64 + 0.5) / n).cos()
                })
                .sum();
            let norm = if k == 0 {
                (1.0 / n).sqrt()
            } else {
                (2.0 / n).sqrt()
            };
            (s * norm) as f32
        })
        .collect()
}

/// Tonal centroid (Harte, Sandler & Gasser 2006) of a chroma vector.
fn tonnetz(chroma: &[f32; 12]) -> [f32; 6] {
    let total: f32 = chroma.iter().sum();
    let mut out = [0.0f32; 6];
    if total <= 0.0 {
        return out;
    }
    use std::f32::consts::PI;
    let circles = [
        (7.0 * PI / 6.0, 1.0),
        (3.0 * PI / 2.0, 1.0),
        (2.0 * PI / 3.0, 0.5),
    ];
    for (l, c) in chroma.iter().enumerate() {
        let w = c / total;
        for (k, (angle, r)) in circles.iter().enumerate() {
            out[2 * k] += w * r * (l as f32 * angle).sin();
            out[2 * k + 1] += w * r * (l as f32 * angle).cos();
        }
    }
    out
}

fn mean(x: &[f32]) -> f32 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f32>() / x.len() as f32
    }
}

/// Index of the phrase holding each beat.
fn phrase_of_beats(phrases: &[Range<usize>], n: usize) -> Vec<usize> {
    let mut out = vec![0usize; n];
    for (p, r) in phrases.iter().enumerate() {
        for b in r.clone().filter(|b| *b < n) {
            out[b] = p;
        }
    }
    out
}

/// Section label per phrase: phrases are clustered greedily by the cosine similarity of
/// their mean timbre+harmony vector, so a returning chorus gets the chorus's label.
fn section_labels(phrases: &[Range<usize>], vectors: &[Vec<f32>]) -> (Vec<usize>, usize) {
    let mut reps: Vec<Vec<f32>> = Vec::new();
    let mut labels = Vec::with_capacity(phrases.len());
    for r in phrases {
        let dim = vectors.first().map_or(0, Vec::len);
        let mut m = vec![0.0f32; dim];
        for b in r.clone().filter(|b| *b < vectors.len()) {
            for (o, v) in m.iter_mut().zip(&vectors[b]) {
                *o += v / r.len().max(1) as f32;
            }
        }
        let found = reps
            .iter()
            .position(|rep| cosine(rep, &m) > SECTION_SIMILARITY);
        let label = found.unwrap_or_else(|| {
            reps.push(m);
            reps.len() - 1
        });
        labels.push(label);
    }
    let n = reps.len();
    (labels, n)
}

/// Computes the feature rows, one per beat.
pub fn extract(input: &FeatureInput<'_>, summaries: &BeatSummaries) -> Vec<[f32; FEATURE_DIM]> {
    let s = input.spectra;
    let n = input.beat_frames.len();
    let frame_rate = s.frame_rate();
    let mut rows = vec![[0.0f32; FEATURE_DIM]; n];
    let bpb = input.meter.beats_per_bar.max(1) as usize;
    let first_down = input.downbeats.first().copied().unwrap_or(0);
    let phrase_idx = phrase_of_beats(input.phrases, n);
    let mut mfccs: Vec<Vec<f32>> = Vec::with_capacity(n);
    let mut rms_db = vec![0.0f32; n];
    let mut onset_mean = vec![0.0f32; n];
    let mut centroid = vec![0.0f32; n];
    for i in 0..n {
        let span = beat_span(input.beat_frames, i, s.n_frames);
        let row = &mut rows[i];
        row[0..40].copy_from_slice(&summaries.mel[i]);
        let mfcc = dct(&summaries.mel[i], 20);
        row[40..60].copy_from_slice(&mfcc);
        mfccs.push(mfcc);
        row[60..72].copy_from_slice(&summaries.chroma[i]);
        let mut contrast = [0.0f32; N_CONTRAST];
        mean_frames(&s.contrast, N_CONTRAST, &span, &mut contrast);
        for (k, c) in contrast.iter().enumerate() {
            row[72 + k] = c / CONTRAST_DB_SCALE;
        }
        let frames = span.start..span.end.min(s.n_frames);
        let rms = mean(&s.rms[frames.clone()]);
        rms_db[i] = 20.0 * (rms + 1e-5).log10();
        centroid[i] = mean(&s.centroid_hz[frames.clone()]) / SHAPE_HZ_SCALE;
        row[79] = centroid[i];
        row[80] = mean(&s.bandwidth_hz[frames.clone()]) / SHAPE_HZ_SCALE;
        row[81] = mean(&s.rolloff_hz[frames.clone()]) / ROLLOFF_HZ_SCALE;
        row[82] = mean(&s.flatness[frames.clone()]);
        row[83] = mean(&s.zcr[frames.clone()]) * ZCR_SCALE;
        row[84] = (rms_db[i] - RMS_DB_CENTRE) / RMS_DB_SCALE;
        let on =
            &input.onset[frames.start.min(input.onset.len())..frames.end.min(input.onset.len())];
        onset_mean[i] = mean(on) / ONSET_SCALE;
        row[85] = onset_mean[i];
        row[86] = on.iter().copied().fold(0.0f32, f32::max) / ONSET_SCALE;
        row[87] = input
            .onset
            .get(input.beat_frames[i])
            .copied()
            .unwrap_or(0.0)
            / ONSET_SCALE;
        row[88] = if i > 0 {
            mean(
                &summaries.mel[i]
                    .iter()
                    .zip(&summaries.mel[i - 1])
                    .map(|(a, b)| (a - b).max(0.0))
                    .collect::<Vec<_>>(),
            )
        } else {
            0.0
        };
        row[89..95].copy_from_slice(&tonnetz(&summaries.chroma[i]));
        // Position.
        let beat_in_bar = (i + bpb * (first_down / bpb + 1) - first_down) % bpb;
        let angle = 2.0 * std::f32::consts::PI * beat_in_bar as f32 / bpb as f32;
        row[95] = angle.sin();
        row[96] = angle.cos();
        let phrase = input.phrases.get(phrase_idx[i]).cloned().unwrap_or(0..n);
        let bars_in_phrase = input
            .downbeats
            .iter()
            .filter(|d| phrase.contains(d))
            .count()
            .max(1);
        let bar_in_phrase = input
            .downbeats
            .iter()
            .filter(|d| phrase.start <= **d && **d <= i)
            .count()
            .saturating_sub(1);
        let angle = 2.0 * std::f32::consts::PI * bar_in_phrase as f32 / bars_in_phrase as f32;
        row[97] = angle.sin();
        row[98] = angle.cos();
        row[99] = (input.beat_times[i] / input.duration_s.max(1e-9)).clamp(0.0, 1.0) as f32;
        row[100] = if phrase.start == i { 1.0 } else { 0.0 };
        // Tempo.
        let beat_len_frames = (span.end - span.start) as f64;
        let beat_len_s = beat_len_frames / frame_rate;
        let local_bpm = 60.0 / beat_len_s.max(1e-3);
        row[101] = (local_bpm / f64::from(TEMPO_BPM_SCALE)) as f32;
        row[102] = beat_len_s as f32;
        row[103] = (local_bpm / input.tempo_bpm.max(1e-3) - 1.0) as f32;
        row[104] = input.tempo_confidence as f32;
    }
    // Deltas and context need the neighbours.
    let timbre: Vec<&[f32]> = mfccs.iter().map(|m| &m[1..]).collect();
    let section_vectors: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            mfccs[i][1..]
                .iter()
                .chain(summaries.chroma[i].iter())
                .copied()
                .collect()
        })
        .collect();
    let (labels, n_sections) = section_labels(input.phrases, &section_vectors);
    let song_db = mean(&rms_db);
    let phrase_db: Vec<f32> = input
        .phrases
        .iter()
        .map(|r| mean(&rms_db[r.start.min(n)..r.end.min(n)]))
        .collect();
    for i in 0..n {
        let p = i.saturating_sub(1);
        let quarter = |m: &[f32; N_MELS], q: usize| mean(&m[q * 10..(q + 1) * 10]);
        for q in 0..4 {
            rows[i][105 + q] = quarter(&summaries.mel[i], q) - quarter(&summaries.mel[p], q);
        }
        for k in 0..4 {
            rows[i][109 + k] = mfccs[i][k] - mfccs[p][k];
        }
        rows[i][113] = if i > 0 {
            (1.0 - cosine(&summaries.chroma[i], &summaries.chroma[p])) as f32
        } else {
            0.0
        };
        rows[i][114] = (rms_db[i] - rms_db[p]) / RMS_DB_SCALE;
        rows[i][115] = onset_mean[i] - onset_mean[p];
        rows[i][116] = centroid[i] - centroid[p];
        // Context.
        let phrase = input.phrases.get(phrase_idx[i]).cloned().unwrap_or(0..n);
        let back = |k: usize| -> (f32, f32) {
            if k == 0 || i < k {
                return (0.0, 0.0);
            }
            (
                cosine(timbre[i], timbre[i - k]) as f32,
                cosine(&summaries.chroma[i], &summaries.chroma[i - k]) as f32,
            )
        };
        let (tb, cb) = back(bpb);
        let (tp, cp) = back(phrase.len());
        rows[i][117] = tb;
        rows[i][118] = cb;
        rows[i][119] = tp;
        rows[i][120] = cp;
        rows[i][121] = novelty(&section_vectors, i) as f32;
        rows[i][122] = if n_sections > 1 {
            labels[phrase_idx[i]] as f32 / (n_sections - 1) as f32
        } else {
            0.0
        };
        rows[i][123] = (i - phrase.start.min(i)) as f32 / phrase.len().max(1) as f32;
        rows[i][124] =
            (phrase_db.get(phrase_idx[i]).copied().unwrap_or(song_db) - song_db) / SECTION_DB_SCALE;
    }
    rows
}

/// Cosine distance between the mean vectors of the beats before and after beat `i`.
fn novelty(vectors: &[Vec<f32>], i: usize) -> f64 {
    if i == 0 || i >= vectors.len() {
        return 0.0;
    }
    let dim = vectors[0].len();
    let avg = |r: Range<usize>| {
        let mut m = vec![0.0f32; dim];
        for v in &vectors[r.clone()] {
            for (o, x) in m.iter_mut().zip(v) {
                *o += x / r.len() as f32;
            }
        }
        m
    };
    let before = avg(i.saturating_sub(NOVELTY_CONTEXT_BEATS)..i);
    let after = avg(i..(i + NOVELTY_CONTEXT_BEATS).min(vectors.len()));
    1.0 - cosine(&before, &after)
}
