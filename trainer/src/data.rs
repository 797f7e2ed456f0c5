//! Preference pairs in memory, independent of the file formats (the three formats of
//! DESIGN.md "Preference data" are read by `recut_engine::feedback` and adapted to
//! [`PreferencePair`]), and the split into training and validation by song.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use recut_engine::FEATURE_DIM;

use crate::error::Result;
use crate::rng::Rng;

/// Which edit the rater preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preference {
    A,
    B,
    Tie,
}

impl Preference {
    /// The Bradley–Terry target: P(a preferred) = 1, 0 or ½.
    pub fn target(self) -> f64 {
        match self {
            Preference::A => 1.0,
            Preference::B => 0.0,
            Preference::Tie => 0.5,
        }
    }
}

/// One rated pair of edits of one song.
#[derive(Debug, Clone)]
pub struct PreferencePair {
    /// The song's per-beat features (shared between the pairs of a song).
    pub song_features: Arc<Vec<[f32; FEATURE_DIM]>>,
    /// Edit A, one action code (Keep 0, Cut 1, Loop 2) per beat.
    pub actions_a: Vec<u8>,
    /// Edit B.
    pub actions_b: Vec<u8>,
    pub preference: Preference,
    /// 0–3 (seed scale; 0 is used for ties and unknown strength).
    pub strength: u8,
    /// Which song (the validation split never separates a song's pairs).
    pub song_id: String,
}

impl PreferencePair {
    /// Checks lengths and codes.
    pub fn validate(&self) -> Result<(), String> {
        let t = self.song_features.len();
        if t == 0 {
            return Err(format!("song {}: no beats", self.song_id));
        }
        if self.actions_a.len() != t || self.actions_b.len() != t {
            return Err(format!(
                "song {}: {t} beats but edits of {} and {} actions",
                self.song_id,
                self.actions_a.len(),
                self.actions_b.len()
            ));
        }
        if self.actions_a.iter().chain(&self.actions_b).any(|&a| a > 2) {
            return Err(format!("song {}: action code above 2", self.song_id));
        }
        Ok(())
    }
}

/// Indices of training and validation pairs, split by song: a `val_fraction` of the songs
/// (at least one when there are two or more songs, none with a single song) goes to
/// validation with all its pairs. Songs are shuffled with `seed`.
pub fn split_by_song(
    pairs: &[PreferencePair],
    val_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let songs = shuffled_songs(pairs, seed);
    let n_val = if songs.len() < 2 || val_fraction <= 0.0 {
        0
    } else {
        ((songs.len() as f64 * val_fraction).round() as usize).clamp(1, songs.len() - 1)
    };
    let val: BTreeSet<&str> = songs[..n_val].iter().copied().collect();
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (i, p) in pairs.iter().enumerate() {
        if val.contains(p.song_id.as_str()) {
            valid.push(i)
        } else {
            train.push(i)
        }
    }
    (train, valid)
}

/// The distinct songs of `pairs`, sorted and then shuffled with `seed` (what the splits
/// draw from).
fn shuffled_songs(pairs: &[PreferencePair], seed: u64) -> Vec<&str> {
    let songs: BTreeSet<&str> = pairs.iter().map(|p| p.song_id.as_str()).collect();
    let mut songs: Vec<&str> = songs.into_iter().collect();
    Rng::new(seed).shuffle(&mut songs);
    songs
}

/// Pair indices of `k` folds of whole songs (an ensemble's members each validate on one):
/// the songs, shuffled with `seed`, are dealt to the folds in turn, so the folds differ by
/// at most one song. Fewer folds than `k` when there are fewer songs (`k` = 0 counts as
/// 1); none without pairs.
pub fn song_folds(pairs: &[PreferencePair], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let songs = shuffled_songs(pairs, seed);
    let k = k.max(1).min(songs.len());
    let fold_of: std::collections::HashMap<&str, usize> =
        songs.iter().enumerate().map(|(i, &s)| (s, i % k)).collect();
    let mut folds = vec![Vec::new(); k];
    for (i, p) in pairs.iter().enumerate() {
        if let Some(&f) = fold_of.get(p.song_id.as_str()) {
            folds[f].push(i);
        }
    }
    folds
}

/// `recut.trained_on`: `blake3:<first 16 hex of the hash of every pair>:<count>`.
pub fn data_fingerprint(pairs: &[PreferencePair]) -> String {
    let mut h = blake3::Hasher::new();
    for p in pairs {
        h.update(p.song_id.as_bytes());
        h.update(&[0]);
        h.update(&p.actions_a);
        h.update(&[0xff]);
        h.update(&p.actions_b);
        h.update(&[p.preference.target().to_bits() as u8, p.strength]);
    }
    let hex = h.finalize().to_hex();
    format!("blake3:{}:{}", &hex[..16], pairs.len())
}

/// Adapts ratings from the feedback store (or any of the three imported formats) to pairs.
/// `features_for` supplies the analysed features of a rating's song (by `song_id` /
/// `song_hash`), or why it cannot (song missing, another recording). Returns the pairs
/// and, for every rating that could not be used, why (song missing, features version or
/// beat count that does not match).
pub fn pairs_from_ratings(
    ratings: &[recut_engine::feedback::Rating],
    mut features_for: impl FnMut(
        &recut_engine::feedback::Rating,
    ) -> Result<Arc<Vec<[f32; FEATURE_DIM]>>, String>,
) -> (Vec<PreferencePair>, Vec<String>) {
    use recut_engine::feedback::Preference as P;
    let (mut pairs, mut skipped) = (Vec::new(), Vec::new());
    for r in ratings {
        let what = || {
            format!(
                "rating {} of {}",
                r.id.as_deref().unwrap_or("(no id)"),
                r.song_id
            )
        };
        if let Some(v) = r
            .features_version
            .filter(|&v| v != recut_engine::FEATURES_VERSION)
        {
            skipped.push(format!(
                "{}: features version {v}, this trainer needs {}",
                what(),
                recut_engine::FEATURES_VERSION
            ));
            continue;
        }
        let features = match features_for(r) {
            Ok(f) => f,
            Err(why) => {
                skipped.push(format!("{}: {why}", what()));
                continue;
            }
        };
        let pair = PreferencePair {
            song_features: features,
            actions_a: r.edit_a.actions.iter().map(|&a| a as u8).collect(),
            actions_b: r.edit_b.actions.iter().map(|&a| a as u8).collect(),
            preference: match r.preference {
                P::A => Preference::A,
                P::B => Preference::B,
                P::Tie => Preference::Tie,
            },
            strength: r.strength.min(3),
            song_id: r.song_id.clone(),
        };
        match pair.validate() {
            Ok(()) => pairs.push(pair),
            Err(e) => skipped.push(format!("{}: {e}", what())),
        }
    }
    (pairs, skipped)
}

/// A song's per-beat features, shared by every pair of the song.
pub type SongFeatures = Arc<Vec<[f32; FEATURE_DIM]>>;

/// Analysed songs by song id (file stem), for [`pairs_from_ratings`].
#[derive(Debug, Clone, Default)]
pub struct SongLibrary {
    /// Song id → (content hash, features shared by every pair of the song).
    songs: HashMap<String, (String, SongFeatures)>,
}

impl SongLibrary {
    /// Analyses (through the default analysis cache) the audio files of `dir` whose stem
    /// is in `wanted` (every file when `wanted` is `None`).
    pub fn analyze_dir(dir: &Path, wanted: Option<&BTreeSet<String>>) -> Result<SongLibrary> {
        let files = recut_engine::audio::list_audio_files(dir)?;
        let cache = recut_engine::analysis::cache::Cache::default_location();
        let mut songs = HashMap::new();
        for p in files {
            let id = recut_engine::candidates::song_id(&p);
            if wanted.is_some_and(|w| !w.contains(&id)) {
                continue;
            }
            let (a, _) = recut_engine::analysis::cache::analyze_file(
                &p,
                &Default::default(),
                Some(&cache),
                &mut |_| {},
            )?;
            songs.insert(id, (a.content_hash, Arc::new(a.features)));
        }
        Ok(SongLibrary { songs })
    }

    /// Adds an analysed song.
    pub fn insert(&mut self, id: impl Into<String>, analysis: &recut_engine::Analysis) {
        self.songs.insert(
            id.into(),
            (
                analysis.content_hash.clone(),
                Arc::new(analysis.features.clone()),
            ),
        );
    }

    pub fn len(&self) -> usize {
        self.songs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.songs.is_empty()
    }

    /// The features of a rating's song, or why not: the song is not in the library, or the
    /// rating's `song_hash` names another recording than the file of that name.
    pub fn features_for(&self, r: &recut_engine::feedback::Rating) -> Result<SongFeatures, String> {
        let (hash, features) = self
            .songs
            .get(&r.song_id)
            .ok_or_else(|| "song not among the songs given".to_owned())?;
        if let Some(h) = r.song_hash.as_deref().filter(|h| h != hash) {
            return Err(format!(
                "rated on a recording with hash {}…, the song file has {}…",
                h.get(..12).unwrap_or(h),
                hash.get(..12).unwrap_or(hash)
            ));
        }
        Ok(features.clone())
    }
}
