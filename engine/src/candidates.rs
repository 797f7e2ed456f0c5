//! Candidates: several edits of each song at different temperatures, rendered, with the
//! manifest people rate from (DESIGN.md, "Candidates manifest").
//!
//! Per song: analysis (cached) → the policy's logits once → one decode per temperature
//! (seeded; a plan equal to an earlier one is redrawn with another seed, and after
//! [`RAISE_AFTER`] redraws at a slightly higher temperature, up to
//! [`MAX_REDRAWS`]) → each plan rendered to `OUT/<song_id>/<id>.wav` → a manifest entry.
//! Without a trained model the [`BaselinePolicy`] supplies the logits; a model plugs in
//! by implementing [`Policy`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::analysis::cache::{Cache, analyze_file};
use crate::audio::{WavFormat, write_wav};
use crate::edit::{
    Action, Constraints, Crossfade, EditError, Plan, baseline_logits, decode, render,
};
use crate::error::{Error, Result};
use crate::reward::{DenseReward, dense_reward};

/// Temperatures of the default candidate set.
pub const DEFAULT_TEMPERATURES: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];
/// Default target length as a share of the song's length.
pub const DEFAULT_TARGET_FRACTION: f64 = 0.75;
/// Most redraws when a plan duplicates an earlier candidate or cannot reach the target.
pub const MAX_REDRAWS: u64 = 16;
/// Redraws at the requested temperature before it is raised.
pub const RAISE_AFTER: u64 = 4;
/// Temperature added per redraw after [`RAISE_AFTER`].
pub const TEMPERATURE_STEP: f64 = 0.1;
/// Manifest file name inside the output folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Something that scores `[keep, cut, loop]` per beat: the baseline or a trained model.
pub trait Policy {
    /// One `[keep, cut, loop]` logit row per beat of `analysis`.
    fn logits(&self, analysis: &Analysis) -> Result<Vec<[f32; 3]>>;
    /// Where the model came from (`None` for built-in policies).
    fn path(&self) -> Option<String> {
        None
    }
    /// Version recorded in the manifest.
    fn model_version(&self) -> String;
}

/// The structural baseline ([`baseline_logits`]): no model needed.
#[derive(Debug, Clone, Copy, Default)]
pub struct BaselinePolicy;

impl Policy for BaselinePolicy {
    fn logits(&self, analysis: &Analysis) -> Result<Vec<[f32; 3]>> {
        Ok(baseline_logits(analysis))
    }
    fn model_version(&self) -> String {
        "baseline".into()
    }
}

/// A trained ONNX policy (`models/policy.onnx` or any model the trainer exported).
impl Policy for crate::model::PolicyModel {
    fn logits(&self, analysis: &Analysis) -> Result<Vec<[f32; 3]>> {
        self.logits_for(analysis)
    }
    fn path(&self) -> Option<String> {
        Some(self.info().path.display().to_string())
    }
    fn model_version(&self) -> String {
        self.info().model_version.clone()
    }
}

/// The policy at `path` when given and loadable, else the baseline; a model that cannot
/// be used is reported through `warn` (the baseline keeps Recut usable, DESIGN.md).
pub fn load_policy(
    path: Option<&Path>,
    warn: &mut dyn FnMut(&crate::Error),
) -> Box<dyn Policy + Send + Sync> {
    match path.map(crate::model::PolicyModel::load) {
        Some(Ok(model)) => Box::new(model),
        Some(Err(e)) => {
            warn(&e);
            Box::new(BaselinePolicy)
        }
        None => Box::new(BaselinePolicy),
    }
}

/// How long the candidates should be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Seconds.
    Seconds(f64),
    /// Share of the song's own length (0.75 = three quarters).
    Fraction(f64),
}

impl Target {
    /// The target in seconds for a song of `duration_s` seconds.
    pub fn seconds(&self, duration_s: f64) -> f64 {
        match *self {
            Target::Seconds(s) => s,
            Target::Fraction(f) => f * duration_s,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct CandidateOptions {
    /// One candidate per temperature, in this order.
    pub temperatures: Vec<f64>,
    /// Target length.
    pub target: Target,
    /// Constraints (their `target_s` is replaced by `target` per song).
    pub constraints: Constraints,
    /// Crossfade at splices.
    pub crossfade: Crossfade,
    /// Base seed (each candidate derives its own).
    pub seed: u64,
    /// Format of the rendered files.
    pub wav_format: WavFormat,
    /// Render and write each candidate's WAV (about 30 MB per 3-minute stereo candidate at
    /// 16 bits). Without it the manifest carries the plans only, with an empty `path`: what
    /// a simulated rater or a training run needs, at no disk cost.
    pub write_audio: bool,
}

impl Default for CandidateOptions {
    fn default() -> Self {
        CandidateOptions {
            temperatures: DEFAULT_TEMPERATURES.to_vec(),
            target: Target::Fraction(DEFAULT_TARGET_FRACTION),
            constraints: Constraints::new(1.0),
            crossfade: Crossfade::default(),
            seed: 0,
            wav_format: WavFormat::Int16,
            write_audio: true,
        }
    }
}

/// One decoded candidate (not yet rendered).
#[derive(Debug, Clone)]
pub struct Candidate {
    /// `temp_<temperature>`, e.g. `temp_0.1`.
    pub id: String,
    /// Requested temperature.
    pub temperature: f64,
    /// Temperature actually sampled at (higher after duplicate redraws).
    pub sampled_temperature: f64,
    /// Seed it was drawn with.
    pub seed: u64,
    /// The edit.
    pub plan: Plan,
    /// Its dense reward.
    pub dense: DenseReward,
}

/// Seed of draw `attempt` of candidate `k` (SplitMix-style mixing of the base seed).
fn derive_seed(base: u64, k: usize, attempt: u64) -> u64 {
    let mut z = base
        ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ attempt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

/// Candidate id for a temperature: `temp_0.1`.
pub fn candidate_id(temperature: f64) -> String {
    format!("temp_{temperature}")
}

/// Decodes one candidate per temperature from `logits`, replacing duplicates by distinct
/// plans where the song allows. A temperature whose every draw fails gives the last error.
pub fn decode_candidates(
    analysis: &Analysis,
    logits: &[[f32; 3]],
    opts: &CandidateOptions,
) -> Result<Vec<Candidate>> {
    if opts.temperatures.is_empty() {
        return Err(EditError::NoCandidates.into());
    }
    let mut constraints = opts.constraints.clone();
    constraints.target_s = opts.target.seconds(analysis.duration_s);
    let mut out: Vec<Candidate> = Vec::with_capacity(opts.temperatures.len());
    for (k, &t) in opts.temperatures.iter().enumerate() {
        let mut last_err: Option<EditError> = None;
        let mut chosen: Option<Candidate> = None;
        for attempt in 0..=MAX_REDRAWS {
            let sampled = t + attempt.saturating_sub(RAISE_AFTER) as f64 * TEMPERATURE_STEP;
            let seed = derive_seed(opts.seed, k, attempt);
            match decode(analysis, logits, &constraints, sampled, seed) {
                Ok(plan) => {
                    let duplicate = out.iter().any(|c| c.plan.actions == plan.actions);
                    let cand = Candidate {
                        id: candidate_id(t),
                        temperature: t,
                        sampled_temperature: sampled,
                        seed,
                        dense: dense_reward(analysis, &plan),
                        plan,
                    };
                    if !duplicate {
                        chosen = Some(cand);
                        break;
                    }
                    // Keep the first duplicate in case no distinct plan exists.
                    chosen.get_or_insert(cand);
                }
                // Another draw may reach the target.
                Err(e @ EditError::Unreachable { .. }) => last_err = Some(e),
                // Bounds and constraint errors do not depend on the draw: stop at once.
                Err(e) => return Err(e.into()),
            }
        }
        match chosen {
            Some(c) => out.push(c),
            None => return Err(last_err.unwrap_or(EditError::NoCandidates).into()),
        }
    }
    Ok(out)
}

/// One candidate in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateEntry {
    /// `temp_<temperature>`.
    pub id: String,
    /// Requested temperature.
    pub temperature: f64,
    /// Rendered WAV, relative to the manifest's folder.
    pub path: String,
    /// Length of the edit, seconds.
    pub duration_seconds: f64,
    /// Number of splices.
    pub splices: usize,
    /// One action per beat (0 keep, 1 cut, 2 loop).
    pub actions: Vec<Action>,
    /// Dense reward (mean of its four terms), 0–1.
    #[serde(default)]
    pub dense_reward: Option<f64>,
    /// Temperature actually sampled at.
    #[serde(default)]
    pub sampled_temperature: Option<f64>,
    /// Seed of the draw.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// One song in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SongEntry {
    /// File stem of the song.
    pub song_id: String,
    /// The song's path as given.
    pub path: String,
    /// blake3 of the file, hex.
    pub content_hash: String,
    /// Length of the original, seconds.
    pub duration_seconds: f64,
    /// Tempo, BPM.
    pub tempo_bpm: f64,
    /// The candidates, in temperature order.
    pub candidates: Vec<CandidateEntry>,
}

/// The policy that made the candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyEntry {
    /// Model file (`null` for the baseline).
    pub path: Option<String>,
    /// Model version (`baseline` without a model).
    pub model_version: String,
}

/// `eval_outputs/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of Recut that wrote it.
    pub recut_version: String,
    /// Feature layout version of the analyses.
    pub features_version: u32,
    /// The policy.
    pub policy: PolicyEntry,
    /// The songs.
    pub songs: Vec<SongEntry>,
}

impl Manifest {
    /// An empty manifest for `policy`.
    pub fn new(policy: &dyn Policy) -> Self {
        Manifest {
            recut_version: env!("CARGO_PKG_VERSION").into(),
            features_version: crate::FEATURES_VERSION,
            policy: PolicyEntry {
                path: policy.path(),
                model_version: policy.model_version(),
            },
            songs: Vec::new(),
        }
    }

    /// Writes the manifest to `path` atomically (temporary file + rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |source: std::io::Error| Error::Io {
            path: path.to_owned(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a manifest.
    pub fn read(path: &Path) -> Result<Self> {
        let io = |source: std::io::Error| Error::Io {
            path: path.to_owned(),
            source,
        };
        let bytes = std::fs::read(path).map_err(io)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }
}

/// Song id of a file: its stem.
pub fn song_id(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Analyses (through `cache`), decodes, renders and writes the candidates of one song
/// under `out_dir/<song_id>/`, returning its manifest entry.
pub fn process_song(
    song: &Path,
    policy: &dyn Policy,
    opts: &CandidateOptions,
    out_dir: &Path,
    cache: Option<&Cache>,
) -> Result<SongEntry> {
    let mut ignore = |_: &Error| {};
    let (analysis, _) = analyze_file(song, &Default::default(), cache, &mut ignore)?;
    let logits = policy.logits(&analysis)?;
    let cands = decode_candidates(&analysis, &logits, opts)?;
    let id = song_id(song);
    let dir = out_dir.join(&id);
    let audio = if opts.write_audio {
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Some(crate::audio::decode_file(song)?)
    } else {
        None
    };
    let mut entries = Vec::with_capacity(cands.len());
    for c in cands {
        let mut path = String::new();
        if let Some(audio) = &audio {
            let rendered = render(audio, &c.plan, opts.crossfade)?;
            write_wav(
                &dir.join(format!("{}.wav", c.id)),
                &rendered,
                opts.wav_format,
            )?;
            path = PathBuf::from(&id)
                .join(format!("{}.wav", c.id))
                .to_string_lossy()
                .into_owned();
        }
        entries.push(CandidateEntry {
            path,
            duration_seconds: c.plan.duration_s(),
            splices: c.plan.splice_count(),
            actions: c.plan.actions.clone(),
            dense_reward: Some(c.dense.total),
            sampled_temperature: Some(c.sampled_temperature),
            seed: Some(c.seed),
            id: c.id,
            temperature: c.temperature,
        });
    }
    Ok(SongEntry {
        song_id: id,
        path: song.display().to_string(),
        content_hash: analysis.content_hash.clone(),
        duration_seconds: analysis.duration_s,
        tempo_bpm: analysis.tempo_bpm,
        candidates: entries,
    })
}
