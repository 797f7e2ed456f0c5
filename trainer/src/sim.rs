//! Simulated preference data: random bar-level plans of corpus songs, answered by a
//! [`crate::raters::Rater`].

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use recut_engine::{Analysis, FEATURE_DIM};

use crate::data::PreferencePair;
use crate::error::{Result, TrainError};
use crate::raters::{Answer, Rater};
use crate::rng::Rng;

/// A song as the simulator needs it.
#[derive(Debug, Clone)]
pub struct SimSong {
    pub id: String,
    pub features: Arc<Vec<[f32; FEATURE_DIM]>>,
    /// Bars as beat ranges (beats outside every bar, e.g. a pickup, are always kept).
    pub bars: Vec<Range<usize>>,
}

impl SimSong {
    pub fn from_analysis(id: impl Into<String>, a: &Analysis) -> SimSong {
        SimSong {
            id: id.into(),
            features: Arc::new(a.features.clone()),
            bars: a.bars(),
        }
    }

    /// The first `max_beats` beats only (bars cut to fit): quick experiments and tests.
    pub fn crop(&self, max_beats: usize) -> SimSong {
        let n = self.features.len().min(max_beats);
        SimSong {
            id: self.id.clone(),
            features: Arc::new(self.features[..n].to_vec()),
            bars: self.bars.iter().filter(|b| b.end <= n).cloned().collect(),
        }
    }

    /// Analyses an audio file (song id = file stem).
    pub fn analyze(path: &Path) -> Result<SimSong> {
        let (a, _) = recut_engine::analysis::cache::analyze_file(
            path,
            &Default::default(),
            None,
            &mut |_| {},
        )?;
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(SimSong::from_analysis(id, &a))
    }

    /// Every audio file in `dir` (sorted by name), analysed.
    pub fn analyze_dir(dir: &Path, limit: Option<usize>) -> Result<Vec<SimSong>> {
        let mut files = recut_engine::audio::list_audio_files(dir)?;
        files.truncate(limit.unwrap_or(usize::MAX));
        if files.is_empty() {
            return Err(TrainError::Data(format!(
                "no audio files in {}",
                dir.display()
            )));
        }
        files.iter().map(|p| SimSong::analyze(p)).collect()
    }
}

/// A random bar-level plan: a keep probability drawn in [0.3, 0.95] and a loop probability
/// in [0, 0.1] for the whole plan, then per bar Keep / Loop / Cut; at least one bar kept.
pub fn random_plan(song: &SimSong, rng: &mut Rng) -> Vec<u8> {
    let mut actions = vec![0u8; song.features.len()];
    let p_keep = rng.range(0.3, 0.95);
    let p_loop = rng.range(0.0, 0.1);
    let mut kept = false;
    for bar in &song.bars {
        let r = rng.f64();
        let a = if r < p_loop {
            2
        } else if r < p_loop + p_keep {
            0
        } else {
            1
        };
        kept |= a != 1;
        actions[bar.clone()].iter_mut().for_each(|x| *x = a);
    }
    if !kept && let Some(bar) = song.bars.first() {
        actions[bar.clone()].iter_mut().for_each(|x| *x = 0);
    }
    actions
}

/// `n_pairs` pairs of random plans, spread evenly over `songs`, answered by `rater`.
/// Returns the pairs and the rater's answers (same order; [`Rater::ceiling`] of any subset).
pub fn simulate_pairs(
    songs: &[SimSong],
    rater: &Rater,
    n_pairs: usize,
    seed: u64,
) -> (Vec<PreferencePair>, Vec<Answer>) {
    let mut rng = Rng::new(seed);
    let mut pairs = Vec::with_capacity(n_pairs);
    let mut answers = Vec::with_capacity(n_pairs);
    if songs.is_empty() {
        return (pairs, answers);
    }
    for k in 0..n_pairs {
        let song = &songs[k % songs.len()];
        let a = random_plan(song, &mut rng);
        let b = random_plan(song, &mut rng);
        let ans = rater.answer(&song.features, &a, &b, &mut rng);
        pairs.push(PreferencePair {
            song_features: song.features.clone(),
            actions_a: a,
            actions_b: b,
            preference: ans.preference,
            strength: ans.strength,
            song_id: song.id.clone(),
        });
        answers.push(ans);
    }
    (pairs, answers)
}
