//! Timbre-shift augmentation of the policy's training songs.
//!
//! The features are on fixed scales ([`recut_engine::analysis::features`]), so a song of
//! another kind (orchestral after game music) reaches the policy as a shifted input. A
//! policy fine-tuned on a few songs learns their absolute timbre along with the taste;
//! seeing each song with a random offset per feature, about as large as the songs differ
//! from each other, asks it to act on what does not move with the timbre: the song's
//! structure and the contrasts within it. PPO and DPO use it (`feature_shift` in their
//! settings); the decoder, the dense reward and the reward model always see the song as it
//! is.

use recut_engine::FEATURE_DIM;

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
/// [`PpoConfig::feature_shift`]. All zeros with fewer than two songs.
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

/// `songs` with every song in `drawn` timbre-shifted ([`PpoConfig::feature_shift`]): one
/// offset per feature, `shift · spread_j · N(0, 1)`, added to each of the song's beats.
/// The other songs are shared, not copied.
pub fn shifted_songs(
    songs: &[Song],
    drawn: &[usize],
    shift: f64,
    spread: &[f32; FEATURE_DIM],
    rng: &mut Rng,
) -> Vec<Song> {
    let mut out = songs.to_vec();
    let mut done = std::collections::BTreeSet::new();
    for &i in drawn {
        if !done.insert(i) {
            continue;
        }
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
