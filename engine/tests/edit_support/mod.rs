//! Synthetic songs for the edit tests: a click track with a hand-made analysis whose
//! structure (bars, phrases, sections, tempo) is known exactly.
#![allow(dead_code)]

use recut_engine::analysis::{Analysis, Corrections, FEATURE_DIM, FEATURES_VERSION, Meter};
use recut_engine::audio::Audio;

/// Beats per bar of the synthetic songs.
pub const BPB: usize = 4;
/// Beats per phrase (4 bars).
pub const PHRASE: usize = 16;

/// How the synthetic song is laid out.
pub struct Spec {
    pub sample_rate: u32,
    pub bpm: f64,
    pub n_beats: usize,
    /// Silence before the first beat, seconds.
    pub pickup_s: f64,
    /// Tail after the last beat, seconds.
    pub tail_s: f64,
    /// Section id per phrase (repeats share an id).
    pub sections: Vec<usize>,
    /// From this beat on the tempo is `bpm * tempo_jump_factor`.
    pub tempo_jump_at: Option<usize>,
    pub tempo_jump_factor: f64,
    pub channels: usize,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            sample_rate: 22_050,
            bpm: 120.0,
            n_beats: 128,
            pickup_s: 0.1,
            tail_s: 0.5,
            sections: vec![0, 1, 2, 1, 2, 3, 1, 4],
            tempo_jump_at: None,
            tempo_jump_factor: 1.0,
            channels: 2,
        }
    }
}

/// A synthetic song: a click track (a different pitch on every beat so any misplaced
/// sample shows) and its exact analysis.
pub fn song(spec: &Spec) -> (Audio, Analysis) {
    let mut beats = Vec::with_capacity(spec.n_beats);
    let mut t = spec.pickup_s;
    for i in 0..spec.n_beats {
        beats.push(t);
        let bpm = match spec.tempo_jump_at {
            Some(j) if i + 1 >= j => spec.bpm * spec.tempo_jump_factor,
            _ => spec.bpm,
        };
        t += 60.0 / bpm;
    }
    let duration_s = beats.last().copied().unwrap_or(0.0) + spec.tail_s;
    let sr = spec.sample_rate;
    let frames = (duration_s * f64::from(sr)).round() as usize;
    let mut channels = vec![vec![0.0f32; frames]; spec.channels];
    for (i, b) in beats.iter().enumerate() {
        let start = (b * f64::from(sr)).round() as usize;
        let freq = 300.0 + 7.0 * i as f64;
        let amp = if i % BPB == 0 { 0.8 } else { 0.4 };
        for k in 0..(sr as usize / 10) {
            let idx = start + k;
            if idx >= frames {
                break;
            }
            let x = amp
                * (-(k as f64) / (0.02 * f64::from(sr))).exp()
                * (2.0 * std::f64::consts::PI * freq * k as f64 / f64::from(sr)).sin();
            for (c, ch) in channels.iter_mut().enumerate() {
                ch[idx] += (x * if c == 0 { 1.0 } else { 0.9 }) as f32;
            }
        }
        // A low hum so every frame differs.
    }
    for (c, ch) in channels.iter_mut().enumerate() {
        for (k, s) in ch.iter_mut().enumerate() {
            *s += 0.01 * ((k as f32) * 0.0031 + c as f32).sin();
        }
    }
    let audio = Audio {
        sample_rate: sr,
        channels,
    };
    let n = spec.n_beats;
    let downbeats: Vec<usize> = (0..n).step_by(BPB).collect();
    let phrases: Vec<std::ops::Range<usize>> = (0..n)
        .step_by(PHRASE)
        .map(|s| s..(s + PHRASE).min(n))
        .collect();
    let n_sections = spec.sections.iter().copied().max().unwrap_or(0) + 1;
    let features: Vec<[f32; FEATURE_DIM]> = (0..n)
        .map(|i| {
            let mut row = [0.0f32; FEATURE_DIM];
            let p = i / PHRASE;
            let section = spec.sections.get(p).copied().unwrap_or(p);
            // Timbre: a section signature plus a small per-beat wobble.
            for k in 0..20 {
                row[40 + k] =
                    ((section * 7 + k * 3) % 11) as f32 * 0.1 + 0.02 * ((i * 13 + k) % 5) as f32;
            }
            for k in 0..12 {
                row[60 + k] = if (k + section * 5) % 12 < 3 {
                    1.0
                } else {
                    0.1 + 0.05 * ((i + k) % 3) as f32
                };
            }
            row[84] = 0.5 + 0.05 * section as f32 + 0.01 * (i % 4) as f32;
            let bib = i % BPB;
            let a = 2.0 * std::f32::consts::PI * bib as f32 / BPB as f32;
            row[95] = a.sin();
            row[96] = a.cos();
            let bip = (i % PHRASE) / BPB;
            let a = 2.0 * std::f32::consts::PI * bip as f32 / (PHRASE / BPB) as f32;
            row[97] = a.sin();
            row[98] = a.cos();
            row[99] = (beats[i] / duration_s) as f32;
            row[100] = if i % PHRASE == 0 { 1.0 } else { 0.0 };
            let len = beats.get(i + 1).map_or(60.0 / spec.bpm, |nb| nb - beats[i]);
            row[101] = (60.0 / len / 120.0) as f32;
            row[102] = len as f32;
            row[117] = 0.9;
            row[118] = 0.9;
            row[122] = if n_sections > 1 {
                section as f32 / (n_sections - 1) as f32
            } else {
                0.0
            };
            row
        })
        .collect();
    let analysis = Analysis {
        features_version: FEATURES_VERSION,
        content_hash: "synthetic".into(),
        sample_rate: sr,
        duration_s: frames as f64 / f64::from(sr),
        tempo_bpm: spec.bpm,
        tempo_confidence: 1.0,
        meter: Meter {
            beats_per_bar: BPB as u32,
            subdivision: 2,
        },
        beats,
        downbeats,
        phrases,
        features,
        corrections: Corrections::default(),
    };
    (audio, analysis)
}

/// The default synthetic song.
pub fn default_song() -> (Audio, Analysis) {
    song(&Spec::default())
}
