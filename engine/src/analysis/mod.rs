//! Analysis: from samples to beats, bars, phrases and per-beat features.
//!
//! Stages (one module each, in order): [`spectrum`] (STFT summaries) → [`onset`] (onset
//! envelope) → [`tempo`] (global and local period) → [`beats`] (dynamic-programming
//! tracker) → [`bars`] (meter, downbeats) → [`phrases`] → [`features`]; [`cache`] keeps
//! results by content hash. [`Analyzer`] keeps the expensive front half so grid
//! corrections (half/double tempo, meter, downbeat) re-run only the cheap back half.

pub mod bars;
pub mod beats;
pub mod cache;
pub mod features;
pub mod onset;
pub mod phrases;
pub mod spectrum;
pub mod tempo;

use std::ops::Range;

use serde::{Deserialize, Serialize};

pub use bars::Meter;
pub use features::{FEATURE_DIM, FEATURE_TABLE, FEATURES_VERSION};

use crate::audio::Audio;
use crate::error::{Error, Result};

/// Constant latency of the onset envelope relative to the perceived beat, in seconds:
/// subtracted from every beat time (measured on the annotated corpus).
pub const BEAT_LATENCY_S: f64 = 0.007;
/// Fewest bars a song must have for an edit to make sense.
pub const MIN_BARS: usize = 4;
/// Peak level under which audio counts as silence, in dBFS.
pub const SILENCE_DBFS: f32 = -70.0;
/// Frame RMS under which a frame counts as silent for trimming edge beats, in dBFS.
const EDGE_SILENCE_DBFS: f32 = -60.0;
/// Tempo confidence under which noise-like audio is said to have no beat (white noise
/// reads ≈ 0.05; some real classical excerpts read less, so this alone never rejects).
pub const MIN_TEMPO_CONFIDENCE: f64 = 0.1;
/// Mean spectral flatness above which audio is noise-like (white noise ≈ 0.5; music well
/// under 0.2 on the corpus).
pub const NOISE_FLATNESS: f64 = 0.3;

/// A requested fix of the automatic grid (the correction API). Corrections apply in the
/// order of the fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Corrections {
    /// Halve or double the tracked tempo.
    pub tempo: TempoCorrection,
    /// Force this many beats a bar.
    pub meter: Option<u32>,
    /// Force the first downbeat to this beat index (earlier beats form a pickup).
    pub first_downbeat: Option<usize>,
    /// Move every downbeat by this many beats (after the above).
    pub downbeat_shift: i32,
}

/// Metrical-level fix of the tracked tempo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TempoCorrection {
    /// As tracked.
    #[default]
    None,
    /// Keep every other beat (the tracker locked to the eighth notes).
    Half,
    /// Add a beat between every two (the tracker locked to half notes).
    Double,
}

/// Everything Recut knows about a song's time structure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Feature layout version ([`FEATURES_VERSION`]).
    pub features_version: u32,
    /// blake3 of the decoded audio's source bytes, hex.
    pub content_hash: String,
    /// Sample rate of the source, Hz.
    pub sample_rate: u32,
    /// Duration, seconds.
    pub duration_s: f64,
    /// Global tempo, BPM.
    pub tempo_bpm: f64,
    /// How periodic the onset envelope is at that tempo, 0–1.
    pub tempo_confidence: f64,
    /// Time signature.
    pub meter: Meter,
    /// Beat times, seconds.
    pub beats: Vec<f64>,
    /// Beat indices that start a bar.
    pub downbeats: Vec<usize>,
    /// Phrases as beat-index ranges covering every beat.
    pub phrases: Vec<Range<usize>>,
    /// One feature row per beat.
    #[serde(with = "rows")]
    pub features: Vec<[f32; FEATURE_DIM]>,
    /// The corrections applied.
    pub corrections: Corrections,
}

impl Analysis {
    /// Bars as beat-index ranges (a pickup before the first downbeat is not a bar).
    pub fn bars(&self) -> Vec<Range<usize>> {
        let mut out: Vec<Range<usize>> = self.downbeats.windows(2).map(|w| w[0]..w[1]).collect();
        if let Some(&last) = self.downbeats.last() {
            out.push(last..self.beats.len());
        }
        out
    }
}

/// `[f32; 125]` rows as JSON arrays (serde derives arrays only up to 32).
mod rows {
    use super::FEATURE_DIM;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    pub fn serialize<S: Serializer>(rows: &[[f32; FEATURE_DIM]], s: S) -> Result<S::Ok, S::Error> {
        let v: Vec<&[f32]> = rows.iter().map(|r| &r[..]).collect();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<[f32; FEATURE_DIM]>, D::Error> {
        let v: Vec<Vec<f32>> = Vec::deserialize(d)?;
        v.into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.try_into().map_err(|r: Vec<f32>| {
                    D::Error::custom(format!(
                        "feature row {i} has {} values, expected {FEATURE_DIM}",
                        r.len()
                    ))
                })
            })
            .collect()
    }
}

/// The expensive, correction-independent half of an analysis: spectra, onset envelope,
/// tempo and the raw beat grid.
pub struct Analyzer {
    content_hash: String,
    sample_rate: u32,
    duration_s: f64,
    spectra: spectrum::Spectra,
    onset: Vec<f32>,
    bass_onset: Vec<f32>,
    tempo: tempo::Tempo,
    beat_frames: Vec<usize>,
}

impl Analyzer {
    /// Runs the front half on decoded audio. `content_hash` identifies the source.
    pub fn new(audio: &Audio, content_hash: String) -> Result<Self> {
        let mono = audio.mono();
        let peak = mono.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        if peak <= 0.0 || 20.0 * peak.log10() < SILENCE_DBFS {
            return Err(Error::Analysis(format!(
                "the audio is silent (peak {:.1} dBFS, below {SILENCE_DBFS} dBFS): there is no beat to find",
                20.0 * (peak + 1e-12).log10()
            )));
        }
        let spectra = spectrum::compute(&mono, audio.sample_rate);
        drop(mono);
        let onset = onset::onset_strength(&spectra);
        let observation = onset::normalised(&onset, spectra.frame_rate());
        let frame_rate = spectra.frame_rate();
        let tempogram = tempo::estimate(&observation, frame_rate);
        let flatness = spectra.flatness.iter().map(|f| f64::from(*f)).sum::<f64>()
            / spectra.n_frames.max(1) as f64;
        if flatness > NOISE_FLATNESS && tempogram.confidence < MIN_TEMPO_CONFIDENCE {
            return Err(Error::Analysis(format!(
                "no steady beat found: the audio is noise-like (spectral flatness {flatness:.2} > {NOISE_FLATNESS}) \
                 and its onsets are not periodic (periodicity {:.3} < {MIN_TEMPO_CONFIDENCE})",
                tempogram.confidence
            )));
        }
        let tempo = tempogram.tempo();
        let raw = beats::track(&observation, &tempo.local_period);
        let raw = best_of_triple_relations(raw, &observation, &tempogram, tempo.period_frames);
        let bass_onset = onset::onset_strength_bands(&spectra, 0..spectra.n_bass_bands);
        let raw = beats::fix_offbeat(&raw, &bass_onset, &observation);
        let raw = beats::choose_level(&raw, &observation, frame_rate);
        let raw = beats::halve_if_too_fast(&raw, frame_rate, &bass_onset, &observation);
        let raw = beats::fix_swing(&raw, &bass_onset, &observation);
        let floor = 10f32.powf(EDGE_SILENCE_DBFS / 20.0);
        let active: Vec<bool> = spectra.rms.iter().map(|r| *r > floor).collect();
        let beat_frames = beats::trim_silent(&raw, &active);
        Ok(Analyzer {
            content_hash,
            sample_rate: audio.sample_rate,
            duration_s: audio.duration_s(),
            spectra,
            onset,
            bass_onset,
            tempo,
            beat_frames,
        })
    }

    /// Global tempo in BPM as tracked (before corrections).
    pub fn tracked_bpm(&self) -> f64 {
        60.0 * self.spectra.frame_rate() / self.tempo.period_frames
    }

    /// Runs the back half with `corrections`: tempo fix, meter, downbeats, phrases, features.
    pub fn analyze(&self, corrections: &Corrections) -> Result<Analysis> {
        let frames = match corrections.tempo {
            TempoCorrection::None => self.beat_frames.clone(),
            TempoCorrection::Half => self.halved(),
            TempoCorrection::Double => beats::doubled(&self.beat_frames),
        };
        let frame_rate = self.spectra.frame_rate();
        let n = frames.len();
        let period = median_interval(&frames).max(1.0);
        let min_beats = MIN_BARS * corrections.meter.unwrap_or(4) as usize;
        if n < min_beats {
            return Err(Error::Analysis(format!(
                "too short: {n} beats found ({:.1} s), an edit needs at least {MIN_BARS} bars ({min_beats} beats)",
                self.duration_s
            )));
        }
        let beat_times: Vec<f64> = frames
            .iter()
            .map(|f| (self.spectra.frame_time(*f) - BEAT_LATENCY_S).max(0.0))
            .collect();
        let tempo_bpm = 60.0 * frame_rate / period;
        let summaries = features::beat_summaries(&self.spectra, &frames);
        let at = |env: &[f32], f: usize| -> f32 {
            let lo = f.saturating_sub(2);
            let hi = (f + 3).min(env.len());
            env.get(lo..hi)
                .map_or(0.0, |w| w.iter().copied().fold(0.0, f32::max))
        };
        let bass: Vec<f32> = frames.iter().map(|f| at(&self.bass_onset, *f)).collect();
        let on: Vec<f32> = frames.iter().map(|f| at(&self.onset, *f)).collect();
        let evidence = bars::downbeat_evidence(&summaries.chroma, &bass, &on);
        let (bpb, auto_phase) = bars::choose(&evidence, corrections.meter);
        if bpb == 0 {
            return Err(Error::Correction("a bar needs at least one beat".into()));
        }
        let m = bpb as usize;
        // A downbeat at beat d implies bar lines every m beats before and after it.
        let anchor = match corrections.first_downbeat {
            Some(d) if d >= n => {
                return Err(Error::Correction(format!(
                    "first downbeat {d} is past the last beat ({})",
                    n - 1
                )));
            }
            Some(d) => d,
            None => auto_phase,
        };
        let phase =
            (anchor as i64 + i64::from(corrections.downbeat_shift)).rem_euclid(m as i64) as usize;
        let downbeats: Vec<usize> = (phase..n).step_by(m).collect();
        let subdivision = bars::subdivision(&onset::normalised(&self.onset, frame_rate), period);
        let meter = Meter {
            beats_per_bar: bpb,
            subdivision,
        };
        // Phrases from bar novelty.
        let bar_ranges: Vec<Range<usize>> = downbeats
            .iter()
            .enumerate()
            .map(|(k, &d)| d..downbeats.get(k + 1).copied().unwrap_or(n))
            .collect();
        let bar_vectors: Vec<Vec<f32>> = bar_ranges
            .iter()
            .map(|r| {
                let mut v = vec![0.0f32; spectrum::N_MELS + 12];
                for b in r.clone() {
                    for (o, x) in v
                        .iter_mut()
                        .zip(summaries.mel[b].iter().chain(&summaries.chroma[b]))
                    {
                        *o += x / r.len() as f32;
                    }
                }
                // Centre the mel part so timbre changes move the cosine.
                let mel_mean = v[..spectrum::N_MELS].iter().sum::<f32>() / spectrum::N_MELS as f32;
                v[..spectrum::N_MELS]
                    .iter_mut()
                    .for_each(|x| *x -= mel_mean);
                v
            })
            .collect();
        let novelty = phrases::bar_novelty(&bar_vectors);
        let phrase_bars = phrases::segment(&novelty);
        let mut phrase_beats: Vec<Range<usize>> = phrase_bars
            .iter()
            .map(|r| bar_ranges[r.start].start..bar_ranges[r.end - 1].end)
            .collect();
        if let Some(first) = phrase_beats.first_mut() {
            first.start = 0; // a pickup belongs to the first phrase
        }
        let features = features::extract(
            &features::FeatureInput {
                spectra: &self.spectra,
                onset: &self.onset,
                beat_frames: &frames,
                beat_times: &beat_times,
                downbeats: &downbeats,
                phrases: &phrase_beats,
                meter,
                tempo_bpm,
                tempo_confidence: self.tempo.confidence,
                duration_s: self.duration_s,
            },
            &summaries,
        );
        Ok(Analysis {
            features_version: FEATURES_VERSION,
            content_hash: self.content_hash.clone(),
            sample_rate: self.sample_rate,
            duration_s: self.duration_s,
            tempo_bpm,
            tempo_confidence: self.tempo.confidence,
            meter,
            beats: beat_times,
            downbeats,
            phrases: phrase_beats,
            features,
            corrections: *corrections,
        })
    }

    /// Every other beat, keeping the phase whose beats carry more onset energy.
    fn halved(&self) -> Vec<usize> {
        let energy = |phase: usize| -> f32 {
            self.beat_frames
                .iter()
                .skip(phase)
                .step_by(2)
                .map(|f| self.onset.get(*f).copied().unwrap_or(0.0))
                .sum()
        };
        let phase = if energy(1) > energy(0) { 1 } else { 0 };
        self.beat_frames
            .iter()
            .skip(phase)
            .step_by(2)
            .copied()
            .collect()
    }
}

/// The tracked grid, or the grid tracked at 2:3 or 3:2 of its tempo when that one fits the
/// onsets [`beats::TRIPLE_RELATION_MARGIN`] times better ([`beats::metrical_fit`]) with beats
/// at least as strong: the autocorrelation cannot tell a tempo from its 3:2 relative when the
/// music has triplets or dotted rhythms; the grid's subdivision can. The beat-strength
/// condition keeps compound meter (6/8), whose dotted-quarter grid also has strong thirds,
/// on its accented beats.
fn best_of_triple_relations(
    tracked: Vec<usize>,
    observation: &[f32],
    tempogram: &tempo::Tempogram,
    period: f64,
) -> Vec<usize> {
    let base_fit = beats::metrical_fit(observation, &tracked);
    let base_beat = beats::grid_strength(observation, &tracked);
    let base_interval = median_interval(&tracked);
    let mut best = (tracked, base_fit);
    for factor in [2.0 / 3.0, 1.5] {
        let grid = beats::track(observation, &tempogram.local_periods(period * factor));
        // The tracker may have settled on an octave of the base instead: not a 3:2 relative.
        let ratio = median_interval(&grid) / base_interval.max(1.0);
        if (ratio / factor - 1.0).abs() > TRIPLE_RATIO_TOLERANCE {
            continue;
        }
        let fit = beats::metrical_fit(observation, &grid);
        if fit > beats::TRIPLE_RELATION_MARGIN * base_fit
            && beats::grid_strength(observation, &grid) >= base_beat
            && fit > best.1
        {
            best = (grid, fit);
        }
    }
    best.0
}

/// Relative tolerance on a 3:2 candidate's tempo ratio to the tracked grid.
const TRIPLE_RATIO_TOLERANCE: f64 = 0.08;

/// Median distance between consecutive beat frames.
fn median_interval(frames: &[usize]) -> f64 {
    let mut d: Vec<usize> = frames.windows(2).map(|w| w[1] - w[0]).collect();
    if d.is_empty() {
        return 0.0;
    }
    d.sort_unstable();
    d[d.len() / 2] as f64
}

/// Analyses decoded audio with corrections (no cache).
pub fn analyze_audio(
    audio: &Audio,
    content_hash: String,
    corrections: &Corrections,
) -> Result<Analysis> {
    Analyzer::new(audio, content_hash)?.analyze(corrections)
}
