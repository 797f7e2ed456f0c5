//! Proximal policy optimisation (PPO) of the policy against a reward model and the dense
//! reward, anchored to the frozen reference policy π_ref by a KL penalty.
//!
//! **Rollouts.** Each step draws `rollouts_per_step / plans_per_song` training songs and,
//! for each, `plans_per_song` plans: one target share per song in `share_range`, a seed each, and the
//! engine's constrained decoder ([`recut_engine::edit::decode`]) sampling from the
//! policy's per-beat logits at `temperature`, exactly as candidates are made. A plan that
//! cannot reach its target is skipped (and counted). A song longer than the engine's policy
//! window (2048 beats) gets its logits in the engine's windows
//! ([`PolicyNet::song_outputs`]), the logits the exported model will give it.
//!
//! **Reward** (sequence level, reward units): with a reward model,
//! `R = learned_weight · clamp((score + offset) · scale, ±clamp) + dense_weight · dense`
//! (defaults 0.8 / 0.2, scale 1, offset 0, clamp 10); without one, `R = dense` (the dense
//! reward alone, said in the log). `dense` is the engine's dense reward, in [0, 1].
//!
//! **Advantages.** Steps are beats. With `group_baseline` (default), `R` is first centred
//! on the mean `R` of the step's plans of the same song and length, so an advantage says how much
//! better a plan is than its siblings rather than how good its song is. With
//! [`Advantage::Group`] (default) every beat of the plan gets that centred reward; with
//! [`Advantage::Gae`] it is spread evenly over the plan's beats (`r_t = R/n`; or, with
//! `spread_reward = false`, given at the last beat), and GAE(γ, λ) runs over the beats with
//! the value head's per-beat values ([`PolicyNet::forward_values`]; the exported `value` is
//! their mean). GAE is not the default because the value head's beat-to-beat differences
//! swamp `R/n` (see [`Advantage::Gae`]). Advantages are normalised over the step's beats;
//! the value head is trained on the GAE returns either way.
//!
//! **Log-probabilities, honestly.** The decoder does not sample beats independently: it
//! samples one action per bar from the mean of the bar's beat logits with a stickiness
//! bonus, respects locks (intro, ending) and repairs the length. Its exact probability of a
//! plan is not available, so PPO uses the per-beat surrogate
//! `log π(a_t) = log_softmax(logits_t / temperature)[a_t]` of the *final* actions (after
//! locks and repair), the same for the rollout (old) and the update (new) policy. Ratios
//! and the KL are therefore of this per-beat distribution, not of the decoder's.
//!
//! **Timbre shift** (`feature_shift` > 0, off by default; `cycle` turns it on): at each step
//! the policy and the reference see every drawn song with one random offset per feature
//! added to all its beats, of `feature_shift` times that feature's spread over the training
//! songs ([`crate::augment`]); the decoder, the dense reward and the
//! reward model see the song as it is. The offsets draw from a generator of their own, so
//! the step's songs, shares and plan seeds are those of an unshifted run.
//!
//! **Excerpts** (`excerpt` < 1, off by default): at each step every drawn song is replaced
//! by a run of its whole phrases, at least `excerpt` of them, at a random start
//! ([`crate::augment::excerpted_songs`]), and everything (policy, decoder, reward) sees the
//! excerpt; its own generator again, so the step's other draws are unchanged. The
//! evaluation behind `policy_best` uses the whole songs.
//!
//! **Update.** Each rollout is cut to one window of at most `window` beats (default 128,
//! 0 = whole songs; [`crop_rollouts`]: the attention is quadratic in the beats, and this
//! keeps a step about a second on two CPU cores), then `ppo_epochs` passes go over the
//! windows in minibatches of `minibatch_size`:
//! `loss = −mean min(ρA, clip(ρ, 1 ± clip)·A) + value_coef · mean (V − G)²
//! − entropy_coef · H + kl_coef · KL(π‖π_ref)` with `ρ = exp(log π − log π_old)`, `G` the
//! GAE returns and the KL exact over the three actions per beat at `temperature`, all
//! masked means over real beats; Adam with gradient-norm clipping.
//!
//! **Roll-back** (`rollback_drop` > 0, off by default; `cycle` turns it on): when an
//! evaluation falls more than `rollback_drop` below the best so far, the policy goes back
//! to the best one's weights and training goes on from there at `rollback_lr_factor` times
//! the learning rate, with Adam's moments restarted. The decoder turns small changes of the
//! per-beat logits into other cuts, so one step too large can cost more reward than the KL
//! to π_ref shows (`tight`, seed 7 of a cycle: KL 0.02 per beat after 5 steps, evaluation
//! reward 0.774 → 0.253, and no later step got back above the start); this is a trust
//! region measured on the evaluation plans rather than on the logits. Runs whose evaluations
//! never fall that far are unchanged.
//!
//! **Outputs** (in `out_dir`): a checkpoint every `checkpoint_every` steps
//! (`ppo_step_NNNNNN/` with the policy, the reference and `state.json`; [`load_checkpoint`]
//! resumes from it with the step count, history and best score; Adam's moments restart),
//! `policy_best.safetensors` (best mean reward on a fixed evaluation set of the training
//! songs: `eval_plans_per_song` plans per song at share [`EVAL_SHARE`], temperature `eval_temperature`, fixed
//! seeds; evaluated every `eval_every` steps), `policy_final.safetensors`; optionally a
//! text log, `logs/training_history.json` (DESIGN.md keys) and a training-progress PNG.
//! Deterministic for a given seed on the CPU (every step's rollouts draw from a generator
//! seeded by `(seed, step)`, so a resumed run draws what the uninterrupted one would).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use recut_engine::FEATURE_DIM;
use recut_engine::edit::{Constraints, decode};
use recut_engine::reward::dense_reward;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn, nn::OptimizerConfig};

use crate::dpo::clone_policy;
use crate::error::{Result, TrainError};
use crate::history::TrainingHistory;
use crate::json::{read_json, write_json};
use crate::model::batch::to_vec_f32;
use crate::model::policy::SongOutput;
use crate::model::{Batch, N_ACTIONS, PolicyNet, RewardModel};
use crate::raters::Rater;
use crate::rng::Rng;
use crate::train_policy::Song;

/// Default weight of the reward model's score in the total reward (the seed's 0.8).
pub const DEFAULT_LEARNED_WEIGHT: f64 = 0.8;
/// Default weight of the dense reward in the total reward (the seed's 0.2).
pub const DEFAULT_DENSE_WEIGHT: f64 = 0.2;
/// Default clamp of the scaled reward-model score, reward units (the models' own range).
pub const DEFAULT_REWARD_CLAMP: f64 = crate::model::SCORE_CLAMP;
/// Target length of the evaluation plans behind `policy_best`, as a share of the song (the
/// candidates' default).
pub const EVAL_SHARE: f64 = recut_engine::candidates::DEFAULT_TARGET_FRACTION;
/// Standard deviation floor when normalising advantages (avoids dividing by ~0 when every
/// plan of a step scores the same).
const ADV_STD_FLOOR: f64 = 1e-6;
/// Mixed into the seed per step so each step's generator differs (golden-ratio constant).
const STEP_SEED_MIX: u64 = 0x9E37_79B9_7F4A_7C15;
/// Name of the state file inside a checkpoint folder.
const STATE_FILE: &str = "state.json";
/// Policy weights inside a checkpoint folder.
const POLICY_FILE: &str = "policy.safetensors";
/// Reference weights inside a checkpoint folder.
const REFERENCE_FILE: &str = "reference.safetensors";
/// The best policy in `out_dir`.
pub const BEST_FILE: &str = "policy_best.safetensors";
/// The last policy in `out_dir`.
pub const FINAL_FILE: &str = "policy_final.safetensors";

/// How the sequence reward is made from the reward model's score and the dense reward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RewardMix {
    /// Weight of the (scaled, clamped) reward-model score.
    pub learned_weight: f64,
    /// Weight of the dense reward (in [0, 1]).
    pub dense_weight: f64,
    /// Multiplies the score after the offset (score units → reward units).
    pub scale: f64,
    /// Added to the score before scaling, score units.
    pub offset: f64,
    /// The scaled score is clamped to `±clamp`, reward units.
    pub clamp: f64,
}

impl Default for RewardMix {
    fn default() -> Self {
        RewardMix {
            learned_weight: DEFAULT_LEARNED_WEIGHT,
            dense_weight: DEFAULT_DENSE_WEIGHT,
            scale: 1.0,
            offset: 0.0,
            clamp: DEFAULT_REWARD_CLAMP,
        }
    }
}

impl RewardMix {
    /// The learned part: `clamp((score + offset) · scale, ±clamp)`.
    pub fn learned(&self, score: f64) -> f64 {
        let c = self.clamp.abs();
        ((score + self.offset) * self.scale).clamp(-c, c)
    }

    /// The total reward: weighted learned + dense, or the dense reward alone without a
    /// reward model.
    pub fn total(&self, learned: Option<f64>, dense: f64) -> f64 {
        match learned {
            Some(l) => self.learned_weight * l + self.dense_weight * dense,
            None => dense,
        }
    }
}

/// Where the learned part of the reward comes from.
pub enum RewardSource {
    /// No reward model: the dense reward alone.
    Dense,
    /// A tch checkpoint written by `recut-trainer reward`.
    Tch(RewardModel),
    /// An exported `reward.onnx`, run by the engine's ONNX Runtime session.
    Onnx(recut_engine::model::RewardModel),
    /// A simulated rater's own utility over its temperature, `u / τ`: the score a perfect
    /// Bradley–Terry model of its answers would give (it prefers A with probability
    /// `σ((u_a − u_b)/τ)`). A diagnostic, not a way to train for people: PPO against it
    /// tells whether a policy that misses on held-out songs was misled by its reward model
    /// or cannot act on the taste there at all.
    Rater(Rater),
}

impl std::fmt::Debug for RewardSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl RewardSource {
    /// Loads `path`: an `.onnx` file through ONNX Runtime, anything else as a tch
    /// checkpoint (with its `.json` sidecar).
    pub fn load(path: &Path, device: Device) -> Result<RewardSource> {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        {
            Ok(RewardSource::Onnx(recut_engine::model::RewardModel::load(
                path,
            )?))
        } else {
            Ok(RewardSource::Tch(RewardModel::load(path, device)?))
        }
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        match self {
            RewardSource::Dense => "dense reward only (no reward model)".into(),
            RewardSource::Tch(m) => format!(
                "reward model {} ({})",
                m.model_version.as_deref().unwrap_or("unversioned"),
                m.architecture()
            ),
            RewardSource::Onnx(m) => format!(
                "reward model {} (ONNX, {})",
                m.info().model_version,
                m.active_provider()
            ),
            RewardSource::Rater(r) => format!(
                "the simulated `{}` rater's own utility / {} (oracle)",
                r.taste.name(),
                r.temperature
            ),
        }
    }

    /// Reward-model scores of the edits, or `None` for [`RewardSource::Dense`].
    pub fn scores(
        &self,
        items: &[(&[[f32; FEATURE_DIM]], &[u8])],
        device: Device,
    ) -> Result<Option<Vec<f64>>> {
        if items.is_empty() {
            return Ok(Some(Vec::new()).filter(|_| !matches!(self, RewardSource::Dense)));
        }
        match self {
            RewardSource::Dense => Ok(None),
            RewardSource::Tch(m) => {
                let b = Batch::new(items, device);
                Ok(Some(
                    to_vec_f32(&m.score(&b))
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                ))
            }
            RewardSource::Onnx(m) => Ok(Some(
                m.score_batch(items)?.into_iter().map(f64::from).collect(),
            )),
            RewardSource::Rater(r) => Ok(Some(
                items
                    .iter()
                    .map(|(f, a)| r.utility(f, a) / r.temperature)
                    .collect(),
            )),
        }
    }
}

/// PPO settings (see the module doc for what each does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PpoConfig {
    /// Total PPO steps (a resumed run continues up to this count).
    pub steps: usize,
    /// Plans per step (rounded down to a multiple of `plans_per_song`, at least one song).
    pub rollouts_per_step: usize,
    /// Plans of the same song per step (the group of the group baseline).
    pub plans_per_song: usize,
    /// Passes over each step's rollouts.
    pub ppo_epochs: usize,
    /// Songs per gradient step.
    pub minibatch_size: usize,
    /// Longest window of beats a rollout is cut to for the update (0 = whole songs); see
    /// [`crop_rollouts`].
    pub window: usize,
    pub lr: f64,
    /// PPO clip range ε of the probability ratio.
    pub clip: f64,
    /// Weight of the KL(π‖π_ref) penalty, per beat.
    pub kl_coef: f64,
    /// Discount per beat.
    pub gamma: f64,
    /// GAE λ.
    pub gae_lambda: f64,
    /// Weight of the value loss.
    pub value_coef: f64,
    /// Weight of the entropy bonus.
    pub entropy_coef: f64,
    /// Gradient-norm clip (0 = off).
    pub grad_clip: f64,
    /// Decoder temperature of the rollouts (and of the per-beat distributions).
    pub temperature: f64,
    /// Target length of rollout plans, as a share of the song: uniform in this range.
    pub share_range: (f64, f64),
    /// Centre each plan's reward on the mean of its group (the step's plans of the same song
    /// and target share).
    pub group_baseline: bool,
    /// Spread the sequence reward over the beats (`true`) or give it at the last beat.
    pub spread_reward: bool,
    /// How per-beat advantages are made from the plan's reward.
    pub advantage: Advantage,
    pub reward: RewardMix,
    /// Decoder temperature of the evaluation plans behind `policy_best`.
    pub eval_temperature: f64,
    /// Evaluate (and maybe save `policy_best`) every this many steps (0 = only at the end).
    pub eval_every: usize,
    /// At most this many training songs in the evaluation set (0 = all).
    pub eval_songs: usize,
    /// Timbre-shift augmentation, in units of the training songs' spread (0 = off): at each
    /// step every drawn song is seen by the policy (and the reference, for the KL) with one
    /// offset per feature added to all its beats, drawn from N(0, (shift · σ_j)²), where σ_j
    /// is the spread of feature j's song means over the training songs; see
    /// [`crate::augment::timbre_spread`]. The reward model and the decoder see the song as it is. A policy
    /// fine-tuned on a few songs learns their absolute timbre; shifted copies ask it to act on
    /// what does not move with the timbre (structure, contrasts within the song).
    pub feature_shift: f64,
    /// Excerpt augmentation: the smallest share of a song's phrases an excerpt keeps (1 =
    /// whole songs, off). At each step every drawn song is replaced by a run of its whole
    /// phrases, a share uniform in [excerpt, 1], at a random start
    /// ([`crate::augment::excerpted_songs`]); the policy, the decoder and the reward all
    /// see the excerpt. The evaluation behind `policy_best` uses the whole songs.
    pub excerpt: f64,
    /// Plans per song in the evaluation set (one plan per song scored the policy too
    /// noisily for `policy_best` to mean anything).
    pub eval_plans_per_song: usize,
    /// Roll back when an evaluation falls more than this below the best one (reward
    /// units; 0 = never): the policy returns to `policy_best`'s weights and training goes
    /// on from there with the learning rate times `rollback_lr_factor` and Adam's moments
    /// restarted. See the module doc ("Roll-back").
    pub rollback_drop: f64,
    /// Learning-rate factor of each roll-back, in (0, 1].
    pub rollback_lr_factor: f64,
    /// Write a checkpoint every this many steps (0 = none).
    pub checkpoint_every: usize,
    /// Folder of checkpoints, `policy_best` and `policy_final`.
    pub out_dir: PathBuf,
    /// Append a text log here.
    pub log: Option<PathBuf>,
    /// Write the history here (at every checkpoint and at the end).
    pub history: Option<PathBuf>,
    /// Draw the training-progress PNG here (at every checkpoint and at the end).
    pub plot: Option<PathBuf>,
    /// Show an indicatif progress bar.
    pub progress: bool,
    pub seed: u64,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            steps: 40,
            rollouts_per_step: 16,
            plans_per_song: 4,
            ppo_epochs: 4,
            minibatch_size: 8,
            window: 128,
            lr: 3e-4,
            clip: 0.2,
            kl_coef: 0.05,
            gamma: 1.0,
            gae_lambda: 0.95,
            value_coef: 0.5,
            entropy_coef: 0.0,
            grad_clip: 1.0,
            temperature: 0.5,
            share_range: (0.6, 0.9),
            group_baseline: true,
            spread_reward: true,
            advantage: Advantage::Group,
            reward: RewardMix::default(),
            eval_temperature: 0.3,
            eval_every: 5,
            eval_songs: 0,
            feature_shift: 0.0,
            excerpt: 1.0,
            eval_plans_per_song: 4,
            rollback_drop: 0.0,
            rollback_lr_factor: 0.5,
            checkpoint_every: 0,
            out_dir: PathBuf::from("models/ppo"),
            log: None,
            history: None,
            plot: None,
            progress: false,
            seed: 0,
        }
    }
}

/// Refuses a roll-back drop that is negative or not finite, or a learning-rate factor
/// outside (0, 1] ([`PpoConfig::rollback_drop`]).
pub fn check_rollback(drop: f64, lr_factor: f64) -> Result<()> {
    if !(drop.is_finite() && drop >= 0.0) {
        return Err(TrainError::Config(format!(
            "ppo: roll-back drop {drop} must be ≥ 0 (0 = off)"
        )));
    }
    if !(lr_factor > 0.0 && lr_factor <= 1.0) {
        return Err(TrainError::Config(format!(
            "ppo: roll-back learning-rate factor {lr_factor} must be in (0, 1]"
        )));
    }
    Ok(())
}

impl PpoConfig {
    fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(TrainError::Config(format!("ppo: {what}")));
        let (lo, hi) = self.share_range;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return bad(&format!(
                "share range {lo}..{hi} must be positive and ordered"
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad(&format!("temperature {} must be > 0", self.temperature));
        }
        if !(self.clip > 0.0 && self.clip < 1.0) {
            return bad(&format!("clip {} must be in (0, 1)", self.clip));
        }
        if !(0.0..=1.0).contains(&self.gamma) || !(0.0..=1.0).contains(&self.gae_lambda) {
            return bad("gamma and gae_lambda must be in [0, 1]");
        }
        if self.rollouts_per_step == 0 || self.plans_per_song == 0 || self.ppo_epochs == 0 {
            return bad("rollouts_per_step, plans_per_song and ppo_epochs must be > 0");
        }
        check_rollback(self.rollback_drop, self.rollback_lr_factor)?;
        crate::augment::check_feature_shift(self.feature_shift)?;
        crate::augment::check_excerpt(self.excerpt)
    }

    /// Songs drawn per step.
    fn songs_per_step(&self) -> usize {
        (self.rollouts_per_step / self.plans_per_song.max(1)).max(1)
    }
}

/// Generalised advantage estimation over one episode: `rewards[t]` and `values[t]` per
/// step, `last_value` the value after the last step (0 when the episode ends there).
/// `δ_t = r_t + γ·V_{t+1} − V_t`, `A_t = δ_t + γλ·A_{t+1}`; returns `(A, A + V)`.
pub fn gae(
    rewards: &[f64],
    values: &[f64],
    last_value: f64,
    gamma: f64,
    lambda: f64,
) -> (Vec<f64>, Vec<f64>) {
    let n = rewards.len().min(values.len());
    let mut adv = vec![0.0; n];
    let mut next_value = last_value;
    let mut next_adv = 0.0;
    for t in (0..n).rev() {
        let delta = rewards[t] + gamma * next_value - values[t];
        next_adv = delta + gamma * lambda * next_adv;
        adv[t] = next_adv;
        next_value = values[t];
    }
    let ret = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    (adv, ret)
}

/// PPO's clipped surrogate loss, a masked mean over beats:
/// `−min(ρ·A, clip(ρ, 1 − ε, 1 + ε)·A)` with `ρ = exp(logp − old_logp)`. Its gradient is
/// zero for a beat whose ratio is already past the clip range in the advantage's favour
/// (ρ > 1 + ε with A > 0, ρ < 1 − ε with A < 0). All inputs `[B, T]`.
pub fn clipped_surrogate(
    logp: &Tensor,
    old_logp: &Tensor,
    advantages: &Tensor,
    mask: &Tensor,
    clip: f64,
) -> Tensor {
    let ratio = (logp - old_logp).exp();
    let unclipped = &ratio * advantages;
    let clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * advantages;
    let surr = unclipped.minimum(&clipped);
    -(surr * mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// Masked mean over beats of `KL(π‖π_ref) = Σ_a π(a)·(log π(a) − log π_ref(a))`, from
/// log-probabilities `[B, T, 3]`.
pub fn masked_kl(logp: &Tensor, ref_logp: &Tensor, mask: &Tensor) -> Tensor {
    let kl =
        (logp.exp() * (logp - ref_logp)).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
    (kl * mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// Masked mean over beats of the entropy of the per-beat distributions `[B, T, 3]`.
pub fn masked_entropy(logp: &Tensor, mask: &Tensor) -> Tensor {
    let h = -(logp.exp() * logp).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
    (h * mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// `log_softmax(row / temperature)` of one logit row.
fn log_softmax_t(row: &[f32], temperature: f64) -> [f64; 3] {
    let x = [0, 1, 2].map(|k| f64::from(row[k]) / temperature);
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    x.map(|v| v - lse)
}

/// One sampled plan with what PPO needs from it.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// Index into the training songs.
    pub song: usize,
    /// Target length as a share of the song.
    pub share: f64,
    /// The beats of the song this rollout covers in the update (the whole song as
    /// sampled; a window after [`crop_rollouts`]); every per-beat field is of these beats.
    pub range: std::ops::Range<usize>,
    /// Final actions per beat (after the decoder's locks and repair).
    pub actions: Vec<u8>,
    /// Per-beat log-probability of `actions` under the rollout policy (module doc; empty
    /// until [`crop_rollouts`] computes it on the update's window).
    pub old_logp: Vec<f32>,
    /// Per-beat log-probabilities of every action under π_ref, `3·n` values (empty until
    /// [`crop_rollouts`] computes them on the update's window).
    pub ref_logp: Vec<f32>,
    /// Per-beat values of the rollout policy.
    pub values: Vec<f32>,
    /// The scaled, clamped reward-model score (`None` without a reward model).
    pub learned: Option<f64>,
    /// The dense reward, 0–1.
    pub dense: f64,
    /// The total reward.
    pub total: f64,
    pub advantages: Vec<f32>,
    pub returns: Vec<f32>,
}

/// What [`sample_plans`] asks the decoder for: (song index, target share, seed).
type PlanSpec = (usize, f64, u64);

/// Decodes every spec from `policy`'s logits (of the songs as `seen`, which may be
/// timbre-shifted) at `temperature` and scores it on `songs` as they are; specs whose
/// target cannot be reached are dropped. Returns the rollouts (advantages not yet set,
/// `old_logp` and `ref_logp` empty: [`crop_rollouts`] computes both on the window the update
/// sees, and the evaluation needs only the rewards) and the number dropped.
fn sample_plans(
    policy: &PolicyNet,
    seen: &[Song],
    songs: &[Song],
    specs: &[PlanSpec],
    temperature: f64,
    reward: &RewardSource,
    mix: &RewardMix,
) -> Result<(Vec<Rollout>, usize)> {
    let mut unique: Vec<usize> = specs.iter().map(|s| s.0).collect();
    unique.sort_unstable();
    unique.dedup();
    let refs: Vec<&[[f32; FEATURE_DIM]]> = unique.iter().map(|&i| seen[i].features()).collect();
    let outs = policy.song_outputs(&refs);
    let slot = |song: usize| unique.binary_search(&song).unwrap_or(0);
    let mut rollouts = Vec::with_capacity(specs.len());
    let mut failed = 0;
    for &(song, share, seed) in specs {
        let a = &songs[song].analysis;
        let SongOutput { logits, values } = &outs[slot(song)];
        let plan = match decode(
            a,
            logits,
            &Constraints::new(share * a.duration_s),
            temperature,
            seed,
        ) {
            Ok(p) => p,
            Err(_) => {
                failed += 1;
                continue;
            }
        };
        let actions = plan.action_indices();
        rollouts.push(Rollout {
            song,
            share,
            range: 0..actions.len(),
            actions,
            old_logp: Vec::new(),
            ref_logp: Vec::new(),
            values: values.clone(),
            learned: None,
            dense: dense_reward(a, &plan).total,
            total: 0.0,
            advantages: Vec::new(),
            returns: Vec::new(),
        });
    }
    let items: Vec<(&[[f32; FEATURE_DIM]], &[u8])> = rollouts
        .iter()
        .map(|r| (songs[r.song].features(), r.actions.as_slice()))
        .collect();
    let scores = reward.scores(&items, policy.vs.device())?;
    for (i, r) in rollouts.iter_mut().enumerate() {
        r.learned = scores.as_ref().map(|s| mix.learned(s[i]));
        r.total = mix.total(r.learned, r.dense);
    }
    Ok((rollouts, failed))
}

/// How a plan's sequence reward becomes per-beat advantages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Advantage {
    /// Every beat of a plan gets the plan's reward centred on its song's group (group
    /// baseline), normalised over the step: the plan-level estimator (as in GRPO). The value
    /// head is still trained (its loss is logged), but it does not shape the advantages.
    Group,
    /// GAE(γ, λ) over the beats with the value head's per-beat values. With one reward per
    /// plan spread over hundreds of beats (`R/n` ≈ 0.002 per beat), the temporal
    /// differences are dominated by the value head's beat-to-beat wobble: measured in a
    /// cycle (taste `tight`, 60 steps, lr 1e-4) the evaluation reward fell from 0.58 to
    /// −0.30 while the reward model's validation accuracy was 0.79.
    Gae,
}

/// Sets every rollout's advantages and returns (module doc: group baseline, spreading,
/// GAE, normalisation over all beats).
pub fn assign_advantages(rollouts: &mut [Rollout], cfg: &PpoConfig) {
    let centred: Vec<f64> = rollouts
        .iter()
        .map(|r| {
            if !cfg.group_baseline {
                return r.total;
            }
            let group: Vec<f64> = rollouts
                .iter()
                .filter(|o| o.song == r.song && o.share == r.share)
                .map(|o| o.total)
                .collect();
            if group.len() < 2 {
                r.total
            } else {
                r.total - group.iter().sum::<f64>() / group.len() as f64
            }
        })
        .collect();
    for (r, big_r) in rollouts.iter_mut().zip(centred) {
        let n = r.actions.len();
        let mut rewards = vec![0.0; n];
        if cfg.spread_reward {
            rewards
                .iter_mut()
                .for_each(|x| *x = big_r / n.max(1) as f64);
        } else if let Some(last) = rewards.last_mut() {
            *last = big_r;
        }
        let values: Vec<f64> = r.values.iter().map(|&v| f64::from(v)).collect();
        let (adv, ret) = gae(&rewards, &values, 0.0, cfg.gamma, cfg.gae_lambda);
        r.advantages = match cfg.advantage {
            Advantage::Gae => adv.iter().map(|&x| x as f32).collect(),
            Advantage::Group => vec![big_r as f32; n],
        };
        r.returns = ret.iter().map(|&x| x as f32).collect();
    }
    let all: Vec<f64> = rollouts
        .iter()
        .flat_map(|r| r.advantages.iter().map(|&x| f64::from(x)))
        .collect();
    if all.is_empty() {
        return;
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let std = (all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / all.len() as f64)
        .sqrt()
        .max(ADV_STD_FLOOR);
    for r in rollouts.iter_mut() {
        r.advantages
            .iter_mut()
            .for_each(|x| *x = ((f64::from(*x) - mean) / std) as f32);
    }
}

/// Windows of at most `window` beats (0 = whole songs) of the rollouts, one per song at a
/// random offset (shared by that song's plans), for the update: actions, advantages and returns are cut to the window,
/// and the old (rollout) policy's and the reference's log-probabilities are recomputed on
/// the window alone, so the ratio and the KL compare the two policies on the same input
/// (the window sees less context than the whole song did when the plan was sampled). The
/// value targets stay those computed over the whole song. Bounds the update's cost: the
/// attention is quadratic in the beats.
pub fn crop_rollouts(
    policy: &PolicyNet,
    reference: &PolicyNet,
    songs: &[Song],
    rollouts: &[Rollout],
    window: usize,
    temperature: f64,
    rng: &mut Rng,
) -> Vec<Rollout> {
    // One window per song: the plans of a song share it, so on the beats where they agree
    // their group-centred advantages cancel exactly. With a window per plan they did not
    // (a beat inside one plan's window and outside another's got a push from noise alone),
    // and the policy drifted (KL 1.4 per beat after 40 steps) while its reward fell.
    let mut windows: std::collections::BTreeMap<usize, std::ops::Range<usize>> = Default::default();
    for r in rollouts {
        windows
            .entry(r.song)
            .or_insert_with(|| crate::train_policy::crop(r.actions.len(), window, rng));
    }
    let mut out: Vec<Rollout> = rollouts
        .iter()
        .map(|r| {
            let n = r.actions.len();
            let w = windows
                .get(&r.song)
                .filter(|w| w.end <= n)
                .cloned()
                .unwrap_or(0..n);
            let cut = |v: &[f32]| v[w.clone()].to_vec();
            Rollout {
                range: r.range.start + w.start..r.range.start + w.end,
                actions: r.actions[w.clone()].to_vec(),
                values: cut(&r.values),
                advantages: cut(&r.advantages),
                returns: cut(&r.returns),
                old_logp: Vec::new(),
                ref_logp: Vec::new(),
                ..r.clone()
            }
        })
        .collect();
    // The plans of a song share its window and its view of the song, so the two policies
    // run once per window (a song's `plans_per_song` plans reuse the rows).
    let mut cropped: Vec<(usize, std::ops::Range<usize>)> =
        out.iter().map(|r| (r.song, r.range.clone())).collect();
    cropped.sort_by_key(|(song, w)| (*song, w.start, w.end));
    cropped.dedup();
    const CHUNK: usize = 16;
    let mut logits: Vec<Vec<[f32; 3]>> = Vec::with_capacity(cropped.len());
    let mut ref_logits: Vec<Vec<[f32; 3]>> = Vec::with_capacity(cropped.len());
    for chunk in cropped.chunks(CHUNK) {
        let feats: Vec<&[[f32; FEATURE_DIM]]> = chunk
            .iter()
            .map(|(song, w)| &songs[*song].features()[w.clone()])
            .collect();
        // Unwindowed, as the update's own pass sees these windows (they are never longer
        // than a song, and only `--window 0` makes them whole songs).
        logits.extend(policy.batch_outputs(&feats).into_iter().map(|o| o.logits));
        ref_logits.extend(
            reference
                .batch_outputs(&feats)
                .into_iter()
                .map(|o| o.logits),
        );
    }
    for r in &mut out {
        // Every rollout's window is in `cropped` (built from them above).
        let Ok(at) = cropped
            .binary_search_by_key(&(r.song, r.range.start, r.range.end), |(song, w)| {
                (*song, w.start, w.end)
            })
        else {
            continue;
        };
        r.old_logp = logits[at]
            .iter()
            .zip(&r.actions)
            .map(|(row, &k)| log_softmax_t(row, temperature)[usize::from(k)] as f32)
            .collect();
        r.ref_logp = ref_logits[at]
            .iter()
            .flat_map(|row| log_softmax_t(row, temperature).map(|v| v as f32))
            .collect();
    }
    out
}

/// `[B, T]` tensor of per-beat values, zero-padded.
fn padded(rows: &[&[f32]], t: usize, device: Device) -> Tensor {
    let mut v = vec![0f32; rows.len() * t];
    for (i, r) in rows.iter().enumerate() {
        v[i * t..i * t + r.len()].copy_from_slice(r);
    }
    Tensor::from_slice(&v)
        .view([rows.len() as i64, t as i64])
        .to_device(device)
}

/// Losses of one minibatch: `(loss, policy_loss, value_loss, kl, entropy, clip_fraction)`.
fn minibatch_loss(
    policy: &PolicyNet,
    songs: &[Song],
    batch: &[&Rollout],
    cfg: &PpoConfig,
) -> (Tensor, [f64; 5]) {
    let device = policy.vs.device();
    let items: Vec<(&[[f32; FEATURE_DIM]], &[u8])> = batch
        .iter()
        .map(|r| {
            (
                &songs[r.song].features()[r.range.clone()],
                r.actions.as_slice(),
            )
        })
        .collect();
    let b = Batch::new(&items, device);
    let t = b.mask.size()[1] as usize;
    let pad = |f: &dyn Fn(&Rollout) -> &[f32]| {
        padded(&batch.iter().map(|r| f(r)).collect::<Vec<_>>(), t, device)
    };
    let old_logp = pad(&|r| &r.old_logp);
    let adv = pad(&|r| &r.advantages);
    let ret = pad(&|r| &r.returns);
    let ref_logp = {
        let mut v = vec![0f32; batch.len() * t * 3];
        for (i, r) in batch.iter().enumerate() {
            v[i * t * 3..i * t * 3 + r.ref_logp.len()].copy_from_slice(&r.ref_logp);
        }
        Tensor::from_slice(&v)
            .view([batch.len() as i64, t as i64, N_ACTIONS])
            .to_device(device)
    };
    let (logits, values) = policy.forward_values(&b.features, &b.mask, true);
    let logp_all = (logits / cfg.temperature).log_softmax(-1, Kind::Float);
    let logp = logp_all
        .gather(-1, &b.actions.unsqueeze(-1), false)
        .squeeze_dim(-1);
    let policy_loss = clipped_surrogate(&logp, &old_logp, &adv, &b.mask, cfg.clip);
    let denom = b.mask.sum(Kind::Float).clamp_min(1.0);
    let value_loss = ((values - &ret).square() * &b.mask).sum(Kind::Float) / &denom;
    let kl = masked_kl(&logp_all, &ref_logp, &b.mask);
    let entropy = masked_entropy(&logp_all, &b.mask);
    let clip_fraction = tch::no_grad(|| {
        let clipped = ((&logp - &old_logp).exp() - 1.0)
            .abs()
            .gt(cfg.clip)
            .to_kind(Kind::Float);
        ((clipped * &b.mask).sum(Kind::Float) / &denom).double_value(&[])
    });
    let loss = &policy_loss + &value_loss * cfg.value_coef - &entropy * cfg.entropy_coef
        + &kl * cfg.kl_coef;
    let stats = [
        policy_loss.double_value(&[]),
        value_loss.double_value(&[]),
        kl.double_value(&[]),
        entropy.double_value(&[]),
        clip_fraction,
    ];
    (loss, stats)
}

/// Where a run stands: what a checkpoint stores besides the weights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PpoState {
    /// Steps done.
    pub step: usize,
    pub history: TrainingHistory,
    /// Best evaluation reward so far and its step.
    pub best_eval: Option<f64>,
    pub best_step: usize,
    /// Training time so far, seconds (over all sessions of the run).
    pub seconds: f64,
    /// Plans the decoder could not make, over the run.
    pub failed_plans: usize,
    /// Learning rate now (`None`: the configured one; lower after roll-backs).
    pub lr: Option<f64>,
    /// Roll-backs so far: the steps whose evaluation fell more than `rollback_drop` below
    /// the best.
    pub rollback_steps: Vec<usize>,
    /// The settings of the run that wrote the state (informative).
    pub config: Option<PpoConfig>,
}

/// What a PPO run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PpoReport {
    pub state: PpoState,
    /// Evaluation reward of the starting policy (the reference, or the resumed policy).
    pub start_eval: f64,
    /// Evaluation reward of the final policy.
    pub final_eval: f64,
    /// `out_dir/policy_best.safetensors` and `out_dir/policy_final.safetensors`.
    pub best_path: PathBuf,
    pub final_path: PathBuf,
    /// Checkpoint folders written by this session.
    pub checkpoints: Vec<PathBuf>,
    /// Reward source, as logged.
    pub reward_source: String,
    /// Seconds of this session.
    pub seconds: f64,
}

/// Loads a checkpoint folder written by [`train_ppo`] (or the `state.json` inside it):
/// `(policy, reference, state)`.
pub fn load_checkpoint(path: &Path, device: Device) -> Result<(PolicyNet, PolicyNet, PpoState)> {
    let dir = if path.is_file() {
        path.parent().unwrap_or(Path::new(".")).to_owned()
    } else {
        path.to_owned()
    };
    let state: PpoState = read_json(&dir.join(STATE_FILE))?;
    let policy = PolicyNet::load(&dir.join(POLICY_FILE), device)?;
    let reference = PolicyNet::load(&dir.join(REFERENCE_FILE), device)?;
    Ok((policy, reference, state))
}

fn save_checkpoint(
    dir: &Path,
    policy: &PolicyNet,
    reference: &PolicyNet,
    state: &PpoState,
) -> Result<()> {
    policy.save(&dir.join(POLICY_FILE))?;
    reference.save(&dir.join(REFERENCE_FILE))?;
    write_json(&dir.join(STATE_FILE), state)
}

/// The text log: lines to stderr (above the progress bar) and, when set, appended to a file.
struct Log {
    file: Option<(PathBuf, std::fs::File)>,
    bar: ProgressBar,
}

impl Log {
    fn open(path: Option<&Path>, bar: ProgressBar) -> Result<Log> {
        let file = match path {
            Some(p) => {
                if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(d).map_err(|e| TrainError::Io {
                        path: d.to_owned(),
                        source: e,
                    })?;
                }
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| TrainError::Io {
                        path: p.to_owned(),
                        source: e,
                    })?;
                Some((p.to_owned(), f))
            }
            None => None,
        };
        Ok(Log { file, bar })
    }

    fn line(&mut self, text: &str) -> Result<()> {
        if !self.bar.is_hidden() {
            self.bar.println(text);
        }
        if let Some((p, f)) = &mut self.file {
            writeln!(f, "{} {text}", recut_engine::model::onnx::now_rfc3339()).map_err(|e| {
                TrainError::Io {
                    path: p.clone(),
                    source: e,
                }
            })?;
        }
        Ok(())
    }
}

/// Mean total reward of the evaluation plans (module doc) under `net`.
fn evaluation_reward(
    net: &PolicyNet,
    songs: &[Song],
    cfg: &PpoConfig,
    reward: &RewardSource,
) -> Result<f64> {
    let n = if cfg.eval_songs == 0 {
        songs.len()
    } else {
        cfg.eval_songs.min(songs.len())
    };
    let mut rng = Rng::new(cfg.seed.wrapping_add(STEP_SEED_MIX));
    let specs: Vec<PlanSpec> = (0..n)
        .flat_map(|i| std::iter::repeat_n(i, cfg.eval_plans_per_song.max(1)))
        .map(|i| (i, EVAL_SHARE, rng.next_u64()))
        .collect();
    let (rollouts, _) = sample_plans(
        net,
        songs,
        songs,
        &specs,
        cfg.eval_temperature,
        reward,
        &cfg.reward,
    )?;
    if rollouts.is_empty() {
        return Err(TrainError::Data(
            "ppo: no evaluation plan could be decoded".into(),
        ));
    }
    Ok(rollouts.iter().map(|r| r.total).sum::<f64>() / rollouts.len() as f64)
}

/// Writes the history and the progress picture where configured.
fn write_outputs(cfg: &PpoConfig, state: &PpoState) -> Result<()> {
    if let Some(p) = &cfg.history {
        state.history.write(p)?;
    }
    if let Some(p) = &cfg.plot {
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d).map_err(|e| TrainError::Io {
                path: d.to_owned(),
                source: e,
            })?;
        }
        let h = &state.history;
        let series: Vec<(&str, &[f64])> = vec![
            ("total reward (mean of the step's plans)", &h.total_reward),
            ("evaluation reward (fixed plans)", &h.eval_reward),
            ("learned reward (scaled score)", &h.learned_reward),
            ("dense reward", &h.dense_reward),
            ("policy loss (clipped surrogate)", &h.policy_loss),
            ("value loss", &h.value_loss),
            ("KL to the reference, per beat", &h.kl),
            ("entropy, per beat", &h.entropy),
        ];
        recut_engine::plot::plot_training_curves(p, "Recut PPO", "step / evaluation", &series)?;
    }
    Ok(())
}

/// Fine-tunes `policy` by PPO (module doc). `reference` is π_ref (frozen); `songs` the
/// training songs; `start` the state of a resumed run ([`load_checkpoint`]) or `None` for
/// a fresh one. Leaves `policy` at its final weights.
pub fn train_ppo(
    cfg: &PpoConfig,
    policy: &mut PolicyNet,
    reference: &PolicyNet,
    songs: &[Song],
    reward: &RewardSource,
    start: Option<PpoState>,
) -> Result<PpoReport> {
    let t0 = Instant::now();
    cfg.validate()?;
    if songs.is_empty() {
        return Err(TrainError::Data("ppo: no training songs".into()));
    }
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| TrainError::Io {
        path: cfg.out_dir.clone(),
        source: e,
    })?;
    let mut state = start.unwrap_or_default();
    state.config = Some(cfg.clone());
    let first_step = state.step;
    let bar = if cfg.progress {
        ProgressBar::new(cfg.steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .map_err(|e| TrainError::Config(format!("progress template: {e}")))?
            .progress_chars("=> "),
    );
    bar.set_prefix("ppo");
    bar.set_position(first_step as u64);
    let mut log = Log::open(cfg.log.as_deref(), bar.clone())?;
    let source = reward.describe();
    let mix = &cfg.reward;
    log.line(&format!(
        "ppo {} from step {first_step} to {} on {} songs; reward: {source}{}",
        if first_step == 0 { "starts" } else { "resumes" },
        cfg.steps,
        songs.len(),
        if matches!(reward, RewardSource::Dense) {
            String::new()
        } else {
            format!(
                " × {} + dense × {} (score scale {}, offset {}, clamp ±{})",
                mix.learned_weight, mix.dense_weight, mix.scale, mix.offset, mix.clamp
            )
        }
    ))?;
    let start_eval = evaluation_reward(policy, songs, cfg, reward)?;
    let best_path = cfg.out_dir.join(BEST_FILE);
    let final_path = cfg.out_dir.join(FINAL_FILE);
    // A fresh run, or a resumed one writing into a folder without its policy_best: the
    // starting policy is the best there is on disk, so the best score restarts from it.
    let fresh_best = first_step == 0 || !best_path.exists();
    if fresh_best || state.best_eval.is_none() {
        state.best_eval = Some(start_eval);
        state.best_step = first_step;
        policy.save(&best_path)?;
    }
    if state.history.eval_step.last() != Some(&(first_step as u64)) {
        state.history.eval_step.push(first_step as u64);
        state.history.eval_reward.push(start_eval);
    }
    log.line(&format!(
        "evaluation reward at step {first_step}: {start_eval:.4} (best so far {:.4} at step {})",
        state.best_eval.unwrap_or(start_eval),
        state.best_step
    ))?;
    let mut lr = state.lr.unwrap_or(cfg.lr);
    let mut opt = nn::Adam::default().build(&policy.vs, lr)?;
    // In memory for the roll-back (the one on disk is the same weights).
    let mut best_policy = if cfg.rollback_drop > 0.0 {
        Some(PolicyNet::load(&best_path, policy.vs.device())?)
    } else {
        None
    };
    let mut checkpoints = Vec::new();
    let spp = cfg.songs_per_step();
    let spread = crate::augment::timbre_spread(songs);
    let shifting = crate::augment::shifts_anything(cfg.feature_shift, &spread);
    if cfg.feature_shift > 0.0 && !shifting {
        log.line("timbre shift off: the training songs do not differ (one song)")?;
    }
    for step in first_step + 1..=cfg.steps {
        let ts = Instant::now();
        let mut rng = Rng::new(cfg.seed ^ STEP_SEED_MIX.wrapping_mul(step as u64));
        // Distinct songs, and one target share per song: the group baseline compares a
        // song's plans with each other, so they must be edits of the same length (a reward
        // model trained on candidates of one length scores other lengths by extrapolation,
        // and with a share per plan that extrapolation was the group's main difference).
        let mut order: Vec<usize> = (0..songs.len()).collect();
        rng.shuffle(&mut order);
        let mut specs = Vec::with_capacity(spp * cfg.plans_per_song);
        for k in 0..spp {
            let song = order[k % order.len()];
            let share = rng.range(cfg.share_range.0, cfg.share_range.1);
            for _ in 0..cfg.plans_per_song {
                specs.push((song, share, rng.next_u64()));
            }
        }
        let drawn: Vec<usize> = specs.iter().map(|s| s.0).collect();
        // The step's songs (excerpts of the drawn ones when that augmentation is on): what
        // the decoder and the reward see.
        let excerpted;
        let step_songs: &[Song] = if cfg.excerpt < 1.0 {
            let mut aug = crate::augment::excerpt_rng(cfg.seed, step);
            excerpted = crate::augment::excerpted_songs(songs, &drawn, cfg.excerpt, &mut aug);
            &excerpted
        } else {
            songs
        };
        // What the policies see this step (the step's songs without the timbre shift).
        let shifted;
        let seen: &[Song] = if shifting {
            let mut aug = crate::augment::step_rng(cfg.seed, step);
            shifted = crate::augment::shifted_songs(
                step_songs,
                &drawn,
                cfg.feature_shift,
                &spread,
                &mut aug,
            );
            &shifted
        } else {
            step_songs
        };
        let (mut rollouts, failed) = sample_plans(
            policy,
            seen,
            step_songs,
            &specs,
            cfg.temperature,
            reward,
            mix,
        )?;
        state.failed_plans += failed;
        if rollouts.is_empty() {
            log.line(&format!("step {step}: no plan could be decoded; skipped"))?;
            continue;
        }
        assign_advantages(&mut rollouts, cfg);
        let rollout_s = ts.elapsed().as_secs_f64();
        let mut sums = [0.0f64; 5];
        let mut updates = 0usize;
        let segments = crop_rollouts(
            policy,
            reference,
            seen,
            &rollouts,
            cfg.window,
            cfg.temperature,
            &mut rng,
        );
        let mut order: Vec<usize> = (0..segments.len()).collect();
        for _ in 0..cfg.ppo_epochs {
            rng.shuffle(&mut order);
            for chunk in order.chunks(cfg.minibatch_size.max(1)) {
                let batch: Vec<&Rollout> = chunk.iter().map(|&i| &segments[i]).collect();
                let (loss, stats) = minibatch_loss(policy, seen, &batch, cfg);
                if cfg.grad_clip > 0.0 {
                    opt.backward_step_clip_norm(&loss, cfg.grad_clip);
                } else {
                    opt.backward_step(&loss);
                }
                sums.iter_mut().zip(stats).for_each(|(s, x)| *s += x);
                updates += 1;
            }
        }
        let [pl, vl, kl, ent, cf] = sums.map(|s| s / updates.max(1) as f64);
        let n = rollouts.len() as f64;
        let mean_total = rollouts.iter().map(|r| r.total).sum::<f64>() / n;
        let mean_dense = rollouts.iter().map(|r| r.dense).sum::<f64>() / n;
        let mean_learned = rollouts
            .iter()
            .map(|r| r.learned)
            .sum::<Option<f64>>()
            .map(|s| s / n);
        let h = &mut state.history;
        h.episode.push(step as u64 - 1);
        h.step.push(step as u64);
        h.total_reward.push(mean_total);
        h.dense_reward.push(mean_dense);
        if let Some(l) = mean_learned {
            h.learned_reward.push(l);
        }
        h.policy_loss.push(pl);
        h.value_loss.push(vl);
        h.kl.push(kl);
        h.entropy.push(ent);
        h.clip_fraction.push(cf);
        state.step = step;
        let mut line = format!(
            "step {step}/{}: reward {mean_total:.4} (dense {mean_dense:.4}{}), policy loss {pl:.4}, value loss {vl:.5}, kl {kl:.4}, entropy {ent:.4}, clipped {cf:.3}, {} plans{}, {:.2} s (rollouts {rollout_s:.2} s)",
            cfg.steps,
            mean_learned.map_or(String::new(), |l| format!(", learned {l:.4}")),
            rollouts.len(),
            if failed > 0 {
                format!(" ({failed} undecodable)")
            } else {
                String::new()
            },
            ts.elapsed().as_secs_f64()
        );
        let eval_due = (cfg.eval_every > 0 && step % cfg.eval_every == 0) || step == cfg.steps;
        if eval_due {
            let e = evaluation_reward(policy, songs, cfg, reward)?;
            state.history.eval_step.push(step as u64);
            state.history.eval_reward.push(e);
            line.push_str(&format!("; evaluation {e:.4}"));
            if state.best_eval.is_none_or(|b| e > b) {
                state.best_eval = Some(e);
                state.best_step = step;
                policy.save(&best_path)?;
                if let Some(best) = best_policy.as_mut() {
                    best.vs.copy(&policy.vs)?;
                }
                line.push_str(" (best)");
            } else if let (Some(best), Some(b)) = (best_policy.as_ref(), state.best_eval)
                && e < b - cfg.rollback_drop
            {
                policy.vs.copy(&best.vs)?;
                lr *= cfg.rollback_lr_factor;
                opt = nn::Adam::default().build(&policy.vs, lr)?;
                state.lr = Some(lr);
                state.rollback_steps.push(step);
                line.push_str(&format!(
                    "; more than {} below the best: back to step {}'s policy, learning rate {lr:.3e}",
                    cfg.rollback_drop, state.best_step
                ));
            }
        }
        log.line(&line)?;
        bar.set_message(format!("reward {mean_total:.3} kl {kl:.3}"));
        bar.inc(1);
        if cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0 {
            state.seconds += t0.elapsed().as_secs_f64();
            let dir = cfg.out_dir.join(format!("ppo_step_{step:06}"));
            save_checkpoint(&dir, policy, reference, &state)?;
            state.seconds -= t0.elapsed().as_secs_f64();
            write_outputs(cfg, &state)?;
            log.line(&format!("checkpoint {}", dir.display()))?;
            checkpoints.push(dir);
        }
    }
    bar.finish_and_clear();
    let seconds = t0.elapsed().as_secs_f64();
    state.seconds += seconds;
    let final_eval = match state.history.eval_step.last() {
        Some(&s) if s as usize == state.step => state
            .history
            .eval_reward
            .last()
            .copied()
            .unwrap_or(start_eval),
        _ => evaluation_reward(policy, songs, cfg, reward)?,
    };
    policy.save(&final_path)?;
    write_outputs(cfg, &state)?;
    log.line(&format!(
        "ppo done: {} steps, evaluation reward {start_eval:.4} -> {final_eval:.4}, best {:.4} at step {}; {:.1} s; wrote {} and {}",
        state.step,
        state.best_eval.unwrap_or(final_eval),
        state.best_step,
        seconds,
        best_path.display(),
        final_path.display()
    ))?;
    Ok(PpoReport {
        state,
        start_eval,
        final_eval,
        best_path,
        final_path,
        checkpoints,
        reward_source: source,
        seconds,
    })
}

/// A fresh PPO start: the policy as a copy of the reference (π starts at π_ref).
pub fn start_from(reference: &PolicyNet) -> Result<PolicyNet> {
    clone_policy(reference)
}
