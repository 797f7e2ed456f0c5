//! `recut-trainer policy --algorithm ppo`: PPO of the policy from a reference checkpoint
//! (or a PPO checkpoint to resume), judged on the held-out songs by a simulated taste.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use recut_trainer::device;
use recut_trainer::export::ExportInfo;
use recut_trainer::json::write_json;
use recut_trainer::model::PolicyNet;
use recut_trainer::ppo::{
    Advantage, PpoConfig, RewardMix, RewardSource, load_checkpoint, start_from, train_ppo,
};
use recut_trainer::raters::Rater;
use recut_trainer::train_policy::{EvalConfig, Logits, evaluate, load_songs};

/// PPO steps when `--steps` is not given.
pub const DEFAULT_STEPS: usize = 40;

/// The PPO-only flags of `recut-trainer policy`.
#[derive(clap::Args)]
pub struct PpoFlags {
    /// ppo: reward model, a `reward.onnx` or a tch checkpoint from `recut-trainer
    /// reward`; without it the dense reward alone (said in the log).
    #[arg(long)]
    pub reward_model: Option<PathBuf>,
    /// ppo: weight of the reward model's (scaled, clamped) score.
    #[arg(long, default_value_t = recut_trainer::ppo::DEFAULT_LEARNED_WEIGHT)]
    pub learned_weight: f64,
    /// ppo: weight of the dense reward (0–1).
    #[arg(long, default_value_t = recut_trainer::ppo::DEFAULT_DENSE_WEIGHT)]
    pub dense_weight: f64,
    /// ppo: the score is multiplied by this after the offset.
    #[arg(long, default_value_t = 1.0)]
    pub reward_scale: f64,
    /// ppo: added to the score before scaling.
    #[arg(long, default_value_t = 0.0)]
    pub reward_offset: f64,
    /// ppo: the scaled score is clamped to ± this.
    #[arg(long, default_value_t = recut_trainer::ppo::DEFAULT_REWARD_CLAMP)]
    pub reward_clamp: f64,
    /// ppo: clip range of the probability ratio.
    #[arg(long, default_value_t = 0.2)]
    pub clip: f64,
    /// ppo: weight of the per-beat KL to the reference policy.
    #[arg(long, default_value_t = PpoConfig::default().kl_coef)]
    pub kl_coef: f64,
    /// ppo: roll-back: when an evaluation falls more than this (reward units) below the
    /// best so far, go back to the best policy and on at the learning rate times
    /// --rollback-lr-factor (0 = never, the default here; `cycle` uses 0.25).
    #[arg(long, default_value_t = PpoConfig::default().rollback_drop)]
    pub rollback_drop: f64,
    /// ppo: learning-rate factor of each roll-back, in (0, 1].
    #[arg(long, default_value_t = PpoConfig::default().rollback_lr_factor)]
    pub rollback_lr_factor: f64,
    /// ppo and dpo: timbre-shift augmentation: each step the policy sees its songs with
    /// one random offset per feature, this many times the features' spread over the
    /// training songs (0 = off; `cycle` uses 1).
    #[arg(long, default_value_t = PpoConfig::default().feature_shift)]
    pub feature_shift: f64,
    /// ppo: excerpt augmentation: each step every drawn song is replaced by a run of its
    /// whole phrases, at least this share of them, at a random start (1 = whole songs,
    /// the default).
    #[arg(long, default_value_t = PpoConfig::default().excerpt)]
    pub excerpt: f64,
    /// ppo: per-beat advantages: the plan's group-centred reward on every beat (group),
    /// or GAE over the beats with the value head (gae).
    #[arg(long, value_enum, default_value_t = PpoConfig::default().advantage)]
    pub advantage: Advantage,
    /// ppo: GAE λ.
    #[arg(long, default_value_t = 0.95)]
    pub gae_lambda: f64,
    /// ppo: discount per beat.
    #[arg(long, default_value_t = 1.0)]
    pub gamma: f64,
    /// ppo: passes over each batch of rollouts.
    #[arg(long, default_value_t = PpoConfig::default().ppo_epochs)]
    pub ppo_epochs: usize,
    /// ppo: plans sampled per step.
    #[arg(long, default_value_t = PpoConfig::default().rollouts_per_step)]
    pub rollouts_per_step: usize,
    /// ppo: plans of the same song per step (their mean reward is the baseline).
    #[arg(long, default_value_t = PpoConfig::default().plans_per_song)]
    pub group_size: usize,
    /// ppo: songs per gradient step.
    #[arg(long, default_value_t = PpoConfig::default().minibatch_size)]
    pub minibatch_size: usize,
    /// ppo: decoder temperature of the rollouts.
    #[arg(long, default_value_t = PpoConfig::default().temperature)]
    pub rollout_temperature: f64,
    /// ppo: evaluate on the training songs (for policy_best) every N steps.
    #[arg(long, default_value_t = PpoConfig::default().eval_every)]
    pub eval_every: usize,
    /// ppo: plans per training song in that evaluation.
    #[arg(long, default_value_t = PpoConfig::default().eval_plans_per_song)]
    pub eval_plans_per_song: usize,
    /// ppo: write a resumable checkpoint every N steps (0 = none).
    #[arg(long, default_value_t = 10)]
    pub checkpoint_every: usize,
    /// ppo: resume from a checkpoint folder (`<ppo-dir>/ppo_step_NNNNNN`).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// ppo: folder of checkpoints, policy_best and policy_final [default: `ppo` beside
    /// --out].
    #[arg(long)]
    pub ppo_dir: Option<PathBuf>,
    /// ppo: text log (appended).
    #[arg(long, default_value = "logs/ppo.log")]
    pub log: PathBuf,
    /// ppo: training-progress picture.
    #[arg(long, default_value = "logs/ppo_progress.png")]
    pub plot: PathBuf,
    /// ppo: plans per held-out song and policy in the final comparison.
    #[arg(long, default_value_t = 8)]
    pub eval_plans: usize,
}

/// The `policy` flags PPO shares with bc and dpo.
pub struct Common {
    pub songs: PathBuf,
    pub max_songs: Option<usize>,
    pub held_out: usize,
    pub steps: usize,
    pub lr: Option<f64>,
    pub from: Option<PathBuf>,
    pub taste: String,
    pub temperature: f64,
    pub only_if_better: bool,
    pub seed: u64,
    pub checkpoint: PathBuf,
    pub out: PathBuf,
    pub history: PathBuf,
    pub report: Option<PathBuf>,
}

pub fn run(c: Common, f: PpoFlags) -> Result<()> {
    let t0 = Instant::now();
    let dev = device::pick_device();
    tch::manual_seed(c.seed as i64);
    let taste = super::parse_taste(&c.taste)?;
    let rater = Rater::new(taste).with_temperature(c.temperature);
    eprintln!("analysing songs in {} …", c.songs.display());
    let songs = load_songs(&c.songs, c.max_songs)?;
    let (train, test) = recut_trainer::train_policy::split_held_out(&songs, c.held_out)?;
    let test_ids: Vec<&str> = test.iter().map(|s| s.id.as_str()).collect();
    let (mut policy, reference, state, parent) = match (&f.resume, &c.from) {
        (Some(r), _) => {
            let (p, rf, st) = load_checkpoint(r, dev)
                .with_context(|| format!("resuming from {}", r.display()))?;
            (p, rf, Some(st), r.display().to_string())
        }
        (None, Some(from)) => {
            let rf = PolicyNet::load(from, dev)
                .with_context(|| format!("loading {}", from.display()))?;
            (start_from(&rf)?, rf, None, from.display().to_string())
        }
        (None, None) => {
            bail!("ppo needs --from <reference checkpoint> or --resume <checkpoint>")
        }
    };
    let reward = match &f.reward_model {
        Some(p) => RewardSource::load(p, dev)
            .with_context(|| format!("loading reward model {}", p.display()))?,
        None => RewardSource::Dense,
    };
    let cfg = PpoConfig {
        steps: c.steps,
        rollouts_per_step: f.rollouts_per_step,
        plans_per_song: f.group_size,
        ppo_epochs: f.ppo_epochs,
        minibatch_size: f.minibatch_size,
        lr: c.lr.unwrap_or(PpoConfig::default().lr),
        clip: f.clip,
        kl_coef: f.kl_coef,
        rollback_drop: f.rollback_drop,
        rollback_lr_factor: f.rollback_lr_factor,
        feature_shift: f.feature_shift,
        excerpt: f.excerpt,
        gamma: f.gamma,
        gae_lambda: f.gae_lambda,
        advantage: f.advantage,
        temperature: f.rollout_temperature,
        reward: RewardMix {
            learned_weight: f.learned_weight,
            dense_weight: f.dense_weight,
            scale: f.reward_scale,
            offset: f.reward_offset,
            clamp: f.reward_clamp,
        },
        eval_every: f.eval_every,
        eval_plans_per_song: f.eval_plans_per_song,
        checkpoint_every: f.checkpoint_every,
        out_dir: f.ppo_dir.clone().unwrap_or_else(|| {
            c.out
                .parent()
                .unwrap_or(std::path::Path::new(""))
                .join("ppo")
        }),
        log: Some(f.log.clone()),
        history: Some(c.history.clone()),
        plot: Some(f.plot.clone()),
        progress: true,
        seed: c.seed,
        ..Default::default()
    };
    eprintln!(
        "ppo on {} training songs ({}) on {}; held out {:?}",
        train.len(),
        policy.architecture(),
        device::device_name(dev),
        test_ids
    );
    let rep = train_ppo(&cfg, &mut policy, &reference, train, &reward, state)?;
    let best = PolicyNet::load(&rep.best_path, dev)
        .with_context(|| format!("loading {}", rep.best_path.display()))?;
    let ev_cfg = EvalConfig {
        plans: f.eval_plans,
        ..Default::default()
    };
    let ev = evaluate(
        &Logits::Net(&reference),
        &Logits::Net(&best),
        test,
        &rater,
        &ev_cfg,
    )?;
    let mut songs_won = 0usize;
    for s in test {
        let e = evaluate(
            &Logits::Net(&reference),
            &Logits::Net(&best),
            std::slice::from_ref(s),
            &rater,
            &ev_cfg,
        )?;
        songs_won += usize::from(e.win_rate > 0.5);
    }
    println!(
        "ppo: {} steps in {:.1} s ({}), evaluation reward {:.4} -> {:.4} (best {:.4} at step {})",
        rep.state.step,
        rep.seconds,
        rep.reward_source,
        rep.start_eval,
        rep.final_eval,
        rep.state.best_eval.unwrap_or(f64::NAN),
        rep.state.best_step
    );
    println!(
        "held-out {:?}, taste `{}`: win rate of ppo (best) over reference {:.3} ({} comparisons, {} ties), songs won {}/{}; utility {:.3} -> {:.3}; keep ratio {:.3} -> {:.3}; splices {:.2} -> {:.2}",
        test_ids,
        taste.name(),
        ev.win_rate,
        ev.comparisons,
        ev.ties,
        songs_won,
        test.len(),
        ev.old.utility,
        ev.new.utility,
        ev.old.keep_ratio,
        ev.new.keep_ratio,
        ev.old.splices,
        ev.new.splices
    );
    let to = super::PolicyOutputs {
        checkpoint: &c.checkpoint,
        out: &c.out,
        only_if_better: c.only_if_better,
    };
    let exported = super::save_if_better(&best, "ppo", ev.win_rate, &to, || {
        let created = recut_engine::model::onnx::now_rfc3339();
        let stamp = created.replace([':', '-'], "");
        let source = match &f.reward_model {
            Some(p) => format!("reward:{}", p.display()),
            None => "dense".into(),
        };
        ExportInfo {
            model_version: format!("policy-ppo-{}", stamp.trim_end_matches('Z')),
            parent: Some(parent),
            trained_on: format!("ppo-{source}:{}", rep.state.step * cfg.rollouts_per_step),
            created,
        }
    })?;
    if let Some(p) = &c.report {
        let figures = serde_json::json!({
            "algorithm": "ppo",
            "taste": taste.name(),
            "reward_source": rep.reward_source,
            "steps": rep.state.step,
            "ppo_seconds": rep.seconds,
            "seconds": t0.elapsed().as_secs_f64(),
            "start_eval_reward": rep.start_eval,
            "final_eval_reward": rep.final_eval,
            "best_eval_reward": rep.state.best_eval,
            "best_step": rep.state.best_step,
            "win_rate": ev.win_rate,
            "songs_won": songs_won,
            "held_out": test_ids,
            "eval": ev,
            "exported": exported,
        });
        write_json(p, &figures)?;
    }
    Ok(())
}
