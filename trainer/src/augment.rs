//! Augmentations of the policy's training songs: timbre shift and excerpts.
//!
//! **Timbre shift.** The features are on fixed scales
//! ([`recut_engine::analysis::features`]), so a song of another kind (orchestral after
//! game music) reaches the policy as a shifted input. A
//! policy fine-tuned on a few songs learns their absolute timbre along with the taste;
//! seeing each song with a random offset per feature, about as large as the songs differ
//! from each other, asks it to act on what does not move with the timbre: the song's
//! structure and the contrasts within it. PPO and DPO use it (`feature_shift` in their
//! settings); the decoder, the dense reward and the reward model always see the song as it
//! is.
//!
//! **Excerpts.** A policy fine-tuned on a few whole songs can also learn where in each of
//! them to cut. Replacing a song by a run of its whole phrases puts the same music at other
//! song positions, beside other neighbours and at other lengths. PPO uses it (`excerpt` in
//! its settings, off by default); everything, decoder and reward included, sees the
//! excerpt.

use recut_engine::{Analysis, FEATURE_DIM};

use crate::rng::Rng;
use crate::train_policy::Song;

/// Mixed into the seed of a training step's shifts: they draw from a generator of their
/// own, so turning the augmentation on leaves the step's other draws (songs, shares, plan
/// seeds, batches) as they were.
const SHIFT_SEED_MIX: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// The generator of step `step`'s shifts (counted from 1) in a run seeded with `seed`.
pub fn step_rng(seed: u64, step: usize) -> Rng {
    Rng::new(seed ^ SHIFT_SEED_MIX.wrapping_mul(step as u64))
}

/// The drawn song indices, each once, in the order first drawn (a step draws a song once
/// per plan; the augmentation is one per song, and its random draws go in this order).
fn distinct(drawn: &[usize]) -> Vec<usize> {
    let mut seen = std::collections::BTreeSet::new();
    drawn.iter().copied().filter(|&i| seen.insert(i)).collect()
}

/// Checks an augmentation size: finite and ≥ 0 (in spreads).
pub fn check_feature_shift(shift: f64) -> crate::Result<()> {
    if shift.is_finite() && shift >= 0.0 {
        Ok(())
    } else {
        Err(crate::TrainError::Config(format!(
            "feature shift {shift} must be ≥ 0 (in spreads of the training songs)"
        )))
    }
}

/// Whether `shift` moves anything: it is on and some feature differs between the songs.
pub fn shifts_anything(shift: f64, spread: &[f32; FEATURE_DIM]) -> bool {
    shift > 0.0 && spread.iter().any(|&s| s > 0.0)
}

/// Spread of each feature over songs: the standard deviation (over `songs`) of the
/// song's mean of that feature, in feature units; the scale of
/// [`crate::ppo::PpoConfig::feature_shift`]. All zeros with fewer than two songs.
pub fn timbre_spread(songs: &[Song]) -> [f32; FEATURE_DIM] {
    let means: Vec<[f64; FEATURE_DIM]> = songs
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut m = [0.0f64; FEATURE_DIM];
            for row in s.features() {
                m.iter_mut().zip(row).for_each(|(m, &x)| *m += f64::from(x));
            }
            m.map(|v| v / s.len() as f64)
        })
        .collect();
    let mut out = [0.0f32; FEATURE_DIM];
    if means.len() < 2 {
        return out;
    }
    let n = means.len() as f64;
    for (j, o) in out.iter_mut().enumerate() {
        let mu = means.iter().map(|m| m[j]).sum::<f64>() / n;
        let var = means.iter().map(|m| (m[j] - mu).powi(2)).sum::<f64>() / (n - 1.0);
        *o = var.sqrt() as f32;
    }
    out
}

/// `songs` with every song in `drawn` timbre-shifted
/// ([`crate::ppo::PpoConfig::feature_shift`]): one offset per feature,
/// `shift · spread_j · N(0, 1)`, added to each of the song's beats. The other songs are
/// shared, not copied.
pub fn shifted_songs(
    songs: &[Song],
    drawn: &[usize],
    shift: f64,
    spread: &[f32; FEATURE_DIM],
    rng: &mut Rng,
) -> Vec<Song> {
    let mut out = songs.to_vec();
    for i in distinct(drawn) {
        let offset: Vec<f32> = spread
            .iter()
            .map(|&s| (shift * f64::from(s) * rng.normal()) as f32)
            .collect();
        let mut a = (*songs[i].analysis).clone();
        for row in &mut a.features {
            row.iter_mut().zip(&offset).for_each(|(x, d)| *x += d);
        }
        out[i] = Song::new(songs[i].id.clone(), std::sync::Arc::new(a));
    }
    out
}

/// Feature index of the song position (0–1, the beat's time over the song's duration).
pub const SONG_POSITION: usize = 99;
/// Fewest phrases an excerpt keeps: an intro, an ending and something between them to cut.
pub const MIN_EXCERPT_PHRASES: usize = 3;
/// Mixed into the seed of a training step's excerpts (a generator of their own, as the
/// shifts have).
const EXCERPT_SEED_MIX: u64 = 0x1656_67B1_9E37_79F9;

/// The generator of step `step`'s excerpts (counted from 1) in a run seeded with `seed`.
pub fn excerpt_rng(seed: u64, step: usize) -> Rng {
    Rng::new(seed ^ EXCERPT_SEED_MIX.wrapping_mul(step as u64))
}

/// Checks an excerpt share: in (0, 1] (1 = whole songs).
pub fn check_excerpt(share: f64) -> crate::Result<()> {
    if share > 0.0 && share <= 1.0 {
        Ok(())
    } else {
        Err(crate::TrainError::Config(format!(
            "excerpt share {share} must be in (0, 1] (1 = whole songs)"
        )))
    }
}

/// The song made of phrases `phrases` of `a` alone, as if it had been analysed on its own:
/// beat times start at 0 s, bars and phrases are re-indexed, and the song-position feature
/// runs over the excerpt. The other song-relative features (section id, phrase loudness
/// against the song) keep the whole song's values. `None` for an empty or out-of-range run.
pub fn excerpt(a: &Analysis, phrases: std::ops::Range<usize>) -> Option<Analysis> {
    let first = a.phrases.get(phrases.start)?;
    let last = a.phrases.get(phrases.end.checked_sub(1)?)?;
    let (b0, b1) = (first.start, last.end.min(a.beats.len()));
    if b0 >= b1 {
        return None;
    }
    let t0 = a.beats[b0];
    let end_s = a.beats.get(b1).copied().unwrap_or(a.duration_s);
    let duration_s = (end_s - t0).max(0.0);
    let beats: Vec<f64> = a.beats[b0..b1].iter().map(|t| t - t0).collect();
    let mut features = a.features.get(b0..b1)?.to_vec();
    for (row, t) in features.iter_mut().zip(&beats) {
        row[SONG_POSITION] = (t / duration_s.max(1e-9)).clamp(0.0, 1.0) as f32;
    }
    Some(Analysis {
        duration_s,
        beats,
        downbeats: a
            .downbeats
            .iter()
            .filter(|&&d| (b0..b1).contains(&d))
            .map(|d| d - b0)
            .collect(),
        phrases: a.phrases[phrases]
            .iter()
            .map(|p| p.start - b0..p.end.min(b1) - b0)
            .collect(),
        features,
        ..a.clone()
    })
}

/// `songs` with every song in `drawn` replaced by an excerpt of consecutive whole phrases:
/// a share uniform in [`min_share`, 1] of its phrases (at least [`MIN_EXCERPT_PHRASES`]),
/// at a uniform start. A policy fine-tuned on a few whole songs can learn where in each of
/// them to cut; excerpts put the same music at other song positions, beside other
/// neighbours and at other lengths, so what it learns has to hold across them. Songs with
/// fewer phrases than the minimum are kept whole; `min_share` = 1 changes nothing.
pub fn excerpted_songs(
    songs: &[Song],
    drawn: &[usize],
    min_share: f64,
    rng: &mut Rng,
) -> Vec<Song> {
    let mut out = songs.to_vec();
    if min_share >= 1.0 {
        return out;
    }
    for i in distinct(drawn) {
        let a = &songs[i].analysis;
        let n = a.phrases.len();
        let keep = ((rng.range(min_share, 1.0) * n as f64).round() as usize)
            .clamp(MIN_EXCERPT_PHRASES.min(n), n);
        if keep >= n {
            continue;
        }
        let start = rng.below(n - keep + 1);
        if let Some(x) = excerpt(a, start..start + keep) {
            out[i] = Song::new(songs[i].id.clone(), std::sync::Arc::new(x));
        }
    }
    out
}
