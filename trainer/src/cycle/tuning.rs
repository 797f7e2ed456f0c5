//! Fine-tuning a copy of the cycle's reference policy with DPO or PPO ([`Tuning`]): the
//! DPO pairs (rated, and π_ref's own edits labelled by the reward model) and PPO's
//! reward (the reward model, or with `oracle_reward` the simulated rater's utility).
//! The cycle calls it once for the final policy, and `algorithm = auto`'s trials once
//! per algorithm and fold.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use recut_engine::edit::{Constraints, decode};

use super::{
    CycleConfig, LABEL_TEMPERATURES, PPO_SHARE_SPREAD, PolicyAlgorithm, RatingsSource, say,
};
use crate::data::PreferencePair;
use crate::dpo::{DpoPair, clone_policy, train_dpo};
use crate::error::{Result, TrainError};
use crate::evaluate::NetPolicy;
use crate::model::{PolicyNet, RewardModel};
use crate::ppo::{PpoConfig, RewardMix, RewardSource, train_ppo};
use crate::raters::Rater;
use crate::rng::Rng;
use crate::train_policy::{Song, crop, policy_logits};
use crate::train_reward::score_pairs;

/// Salt of the seed of DPO's pair cropping and labelling.
const DPO_PAIRS_SALT: u64 = 0xD90;

/// DPO pairs from the decided rated pairs (cropped once to `window` beats).
fn rated_dpo_pairs(
    pairs: &[PreferencePair],
    index_of: &HashMap<String, usize>,
    window: usize,
    rng: &mut Rng,
) -> Vec<DpoPair> {
    use crate::data::Preference;
    pairs
        .iter()
        .filter_map(|p| {
            let song = *index_of.get(&p.song_id)?;
            let (w, l) = match p.preference {
                Preference::A => (&p.actions_a, &p.actions_b),
                Preference::B => (&p.actions_b, &p.actions_a),
                Preference::Tie => return None,
            };
            let range = crop(w.len(), window, rng);
            Some(DpoPair {
                song,
                chosen: w[range.clone()].to_vec(),
                rejected: l[range.clone()].to_vec(),
                range,
            })
        })
        .collect()
}

/// `n` pairs of π_ref's edits of the training songs labelled by `reward` (see the module
/// doc).
fn labelled_dpo_pairs(
    reference: &PolicyNet,
    reward: &RewardModel,
    songs: &[Song],
    cfg: &CycleConfig,
    rng: &mut Rng,
) -> Vec<DpoPair> {
    if cfg.reward_pairs == 0 || songs.is_empty() {
        return Vec::new();
    }
    let logits: Vec<Vec<[f32; 3]>> = songs
        .iter()
        .map(|s| policy_logits(reference, s.features()))
        .collect();
    let mut drafts: Vec<(usize, PreferencePair)> = Vec::with_capacity(cfg.reward_pairs);
    for k in 0..cfg.reward_pairs {
        let si = k % songs.len();
        let a = &songs[si].analysis;
        let c = Constraints::new(cfg.target_fraction * a.duration_s);
        let mut plan = || {
            let t = rng.range(LABEL_TEMPERATURES.0, LABEL_TEMPERATURES.1);
            decode(a, &logits[si], &c, t, rng.next_u64()).ok()
        };
        let (Some(x), Some(y)) = (plan(), plan()) else {
            continue;
        };
        if x.actions == y.actions {
            continue;
        }
        drafts.push((
            si,
            PreferencePair {
                song_features: Arc::new(Vec::new()),
                actions_a: x.action_indices(),
                actions_b: y.action_indices(),
                preference: crate::data::Preference::Tie,
                strength: 0,
                song_id: songs[si].id.clone(),
            },
        ));
    }
    // Score with the song's features (shared per song).
    let feats: Vec<Arc<Vec<[f32; recut_engine::FEATURE_DIM]>>> = songs
        .iter()
        .map(|s| Arc::new(s.analysis.features.clone()))
        .collect();
    let pairs: Vec<PreferencePair> = drafts
        .iter()
        .map(|(si, p)| PreferencePair {
            song_features: feats[*si].clone(),
            ..p.clone()
        })
        .collect();
    let idx: Vec<usize> = (0..pairs.len()).collect();
    let scores = score_pairs(reward, &pairs, &idx, 8);
    let mut out = Vec::new();
    for ((si, p), (sa, sb)) in drafts.iter().zip(scores) {
        if (sa - sb).abs() < cfg.reward_margin {
            continue;
        }
        let (w, l) = if sa > sb {
            (&p.actions_a, &p.actions_b)
        } else {
            (&p.actions_b, &p.actions_a)
        };
        let range = crop(w.len(), cfg.window, rng);
        out.push(DpoPair {
            song: *si,
            chosen: w[range.clone()].to_vec(),
            rejected: l[range.clone()].to_vec(),
            range,
        });
    }
    out
}

/// What fine-tuning needs besides the algorithm and the songs: the cycle's reference
/// policy, rated pairs and reward model.
pub(super) struct Tuning<'a> {
    pub(super) reference: &'a NetPolicy<'a>,
    pub(super) pairs: &'a [PreferencePair],
    pub(super) reward: &'a RewardModel,
    pub(super) reward_ckpt: &'a Path,
    pub(super) reward_version: &'a str,
    pub(super) val_accuracy_text: &'a str,
    pub(super) cfg: &'a CycleConfig,
    pub(super) dev: tch::Device,
}

/// A fine-tuned policy and what its training reported.
pub(super) struct FineTuned {
    pub(super) policy: PolicyNet,
    pub(super) history: crate::history::TrainingHistory,
    pub(super) figures: serde_json::Value,
    /// The policy step handed back the reference as it was (PPO: no step scored above
    /// it), so there is no fine-tuning to mix or to report.
    pub(super) unchanged: bool,
    pub(super) n_rated: usize,
    pub(super) n_labelled: usize,
}

impl Tuning<'_> {
    /// Fine-tunes a copy of the reference on `songs` with `algorithm` (DPO or PPO; PPO
    /// writes its checkpoints to `ppo_dir`). Rated pairs of other songs are left out.
    /// Every draw starts from the cycle's seed, so the same songs give the same policy
    /// whether or not a trial ran before.
    pub(super) fn fine_tune(
        &self,
        algorithm: PolicyAlgorithm,
        songs: &[Song],
        ppo_dir: &Path,
    ) -> Result<FineTuned> {
        let cfg = self.cfg;
        let reference = self.reference.net;
        let mut policy = clone_policy(reference)?;
        if algorithm == PolicyAlgorithm::Dpo {
            let mut rng = Rng::new(cfg.seed.wrapping_add(DPO_PAIRS_SALT));
            let index_of: HashMap<String, usize> = songs
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect();
            let mut dpo_pairs = rated_dpo_pairs(self.pairs, &index_of, cfg.window, &mut rng);
            let n_rated = dpo_pairs.len();
            let labelled = labelled_dpo_pairs(reference, self.reward, songs, cfg, &mut rng);
            let n_labelled = labelled.len();
            dpo_pairs.extend(labelled);
            say(
                cfg.progress,
                format!(
                    "dpo on {n_rated} rated + {n_labelled} reward-labelled pairs of {} songs, \
                     {} steps",
                    songs.len(),
                    cfg.dpo.steps
                ),
            );
            let drep = train_dpo(&mut policy, reference, songs, &dpo_pairs, &cfg.dpo)?;
            return Ok(FineTuned {
                policy,
                history: drep.history(),
                figures: serde_json::json!({
                    "dpo_final_loss": drep.loss.last().copied(),
                    "dpo_rated_pairs": n_rated,
                    "dpo_labelled_pairs": n_labelled,
                }),
                unchanged: false,
                n_rated,
                n_labelled,
            });
        }
        let (source, reward) = match oracle_rater(cfg)? {
            Some(rater) => (
                RewardSource::Rater(rater),
                RewardMix {
                    clamp: ORACLE_REWARD_CLAMP,
                    ..Default::default()
                },
            ),
            None => (
                RewardSource::load(self.reward_ckpt, self.dev)?,
                RewardMix::default(),
            ),
        };
        let against = match &source {
            RewardSource::Rater(_) => source.describe(),
            _ => self.reward_version.to_owned(),
        };
        say(
            cfg.progress,
            format!(
                "ppo against {against} on {} songs, {} steps, timbre shift {}, excerpts of {} of a song or more",
                songs.len(),
                cfg.ppo_steps,
                cfg.feature_shift,
                cfg.ppo_excerpt
            ),
        );
        let pcfg = PpoConfig {
            steps: cfg.ppo_steps,
            lr: cfg.ppo_lr,
            rollouts_per_step: cfg.ppo_rollouts,
            kl_coef: cfg.ppo_kl,
            rollback_drop: cfg.ppo_rollback,
            feature_shift: cfg.feature_shift,
            excerpt: cfg.ppo_excerpt,
            share_range: (
                (cfg.target_fraction - PPO_SHARE_SPREAD).max(0.05),
                cfg.target_fraction + PPO_SHARE_SPREAD,
            ),
            out_dir: ppo_dir.to_owned(),
            progress: cfg.progress,
            seed: cfg.seed,
            reward,
            ..Default::default()
        };
        let prep = train_ppo(&pcfg, &mut policy, reference, songs, &source, None)?;
        // The step that scored best on the training songs' evaluation plans (the
        // reference itself when no step beat it), not whichever step came last: PPO
        // against a learned reward wanders.
        let policy = PolicyNet::load(&prep.best_path, self.dev)?;
        let unchanged = prep.state.best_step == 0;
        if unchanged {
            say(
                cfg.progress,
                format!(
                    "ppo: no step scored above the starting policy on the training songs' \
                     evaluation plans ({:.4} at step 0), so the new policy is the starting \
                     one; usually the reward model did not learn the ratings (validation \
                     accuracy {})",
                    prep.start_eval, self.val_accuracy_text,
                ),
            );
        }
        if !prep.state.rollback_steps.is_empty() {
            say(
                cfg.progress,
                format!(
                    "ppo: rolled back to the best policy after the evaluations of steps {:?} \
                     (more than {} below the best), learning rate now {:.2e}",
                    prep.state.rollback_steps,
                    cfg.ppo_rollback,
                    prep.state.lr.unwrap_or(cfg.ppo_lr),
                ),
            );
        }
        Ok(FineTuned {
            policy,
            figures: serde_json::json!({
                "ppo_rollback_steps": prep.state.rollback_steps,
                "ppo_start_eval": prep.start_eval,
                "ppo_final_eval": prep.final_eval,
                "ppo_best_eval": prep.state.best_eval,
                "ppo_best_step": prep.state.best_step,
                "ppo_steps": prep.state.step,
            }),
            history: prep.state.history,
            unchanged,
            n_rated: 0,
            n_labelled: 0,
        })
    }
}

/// Clamp of the oracle's scores in PPO's reward (reward units), in effect none. The
/// default clamp (±10) guards against a learned model's outliers; a taste's utility over
/// its temperature is bounded by the taste, and reaches past ±10 on whole songs
/// (`energetic` on `wesnoth_heroes_rite`: +32), where a clamp would flatten every plan of
/// the song to the same reward. The group baseline takes out the per-song level.
const ORACLE_REWARD_CLAMP: f64 = 1e9;

/// The rater PPO trains against with [`CycleConfig::oracle_reward`], `None` without it;
/// an error when there is no simulated rater or no PPO to train.
pub(super) fn oracle_rater(cfg: &CycleConfig) -> Result<Option<Rater>> {
    if !cfg.oracle_reward {
        return Ok(None);
    }
    if cfg.algorithm == PolicyAlgorithm::Dpo {
        return Err(TrainError::Config(
            "the oracle reward replaces PPO's reward model: it needs --algorithm ppo or auto, \
             not dpo"
                .into(),
        ));
    }
    match &cfg.ratings {
        RatingsSource::Simulated { rater, .. } => Ok(Some(*rater)),
        RatingsSource::File { path, .. } => Err(TrainError::Config(format!(
            "the oracle reward is a simulated rater's own utility: it needs --taste, and the \
             ratings come from {}",
            path.display()
        ))),
    }
}
