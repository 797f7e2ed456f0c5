//! The feedback subcommands of `recut-trainer`: `import-csv`, `stats`, `evaluate`,
//! `cycle`, and where `reward` gets its pairs (`--ratings` or `--pairs-from-taste`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use recut_engine::candidates::{BaselinePolicy, Policy};
use recut_engine::feedback::{CandidateIndex, Mode};
use recut_trainer::cycle::{
    AUTO_FOLDS, CYCLE_FEATURE_SHIFT, CYCLE_POLICY_MIX, CYCLE_PPO_EXCERPT, CYCLE_PPO_ROLLBACK,
    CYCLE_PPO_ROLLOUTS, CYCLE_PPO_STEPS, CYCLE_REWARD_FOLDS, CYCLE_REWARD_LASSO,
    CYCLE_REWARD_WEIGHT_DECAY, CYCLE_TEMPERATURES, CycleConfig, PolicyAlgorithm, RatingsSource,
    run_cycle,
};
use recut_trainer::data::{PreferencePair, SongLibrary, pairs_from_ratings};
use recut_trainer::dpo::{DpoConfig, DpoLoss};
use recut_trainer::evaluate::{
    EvalOptions, EvalSong, Judge, RESULTS_FILE, evaluate_policies, reward_judge,
};
use recut_trainer::import::{describe_problems, load_ratings, read_index};
use recut_trainer::json::write_json;
use recut_trainer::model::{MlpConfig, PolicyConfig, RewardConfig};
use recut_trainer::ppo::PpoConfig;
use recut_trainer::raters::{Answer, Rater};
use recut_trainer::sim::{SimSong, simulate_pairs};
use recut_trainer::stats::rating_stats;
use recut_trainer::train_policy::BcConfig;
use recut_trainer::train_reward::TrainConfig;

use super::parse_taste;

/// How to treat a bad record in a ratings file.
#[derive(Args, Clone, Debug)]
pub struct ModeArgs {
    /// Stop at the first malformed, unresolvable or duplicate record.
    #[arg(long, conflicts_with = "lenient")]
    pub strict: bool,
    /// Keep every good record and report the bad ones (the default).
    #[arg(long)]
    pub lenient: bool,
}

impl ModeArgs {
    pub fn mode(&self) -> Mode {
        if self.strict {
            Mode::Strict
        } else {
            Mode::Lenient
        }
    }
}

fn print_problems(problems: &[recut_engine::feedback::RecordError]) {
    for line in describe_problems(problems) {
        eprintln!("{line}");
    }
}

fn index(manifest: Option<&Path>) -> Result<Option<CandidateIndex>> {
    manifest
        .map(|m| read_index(m).with_context(|| format!("reading {}", m.display())))
        .transpose()
}

/// `recut-trainer import-csv`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Ratings: CSV (`song_id,edit_a,edit_b,preference,strength`), a JSON array or JSON
    /// lines in the seed's short or full form, or a feedback store folder.
    pub input: PathBuf,
    /// Where the ratings go, as a JSON array in the seed's full form.
    #[arg(long, default_value = "feedback/preferences.json")]
    pub out: PathBuf,
    /// Candidates manifest that resolves edit ids (`eval_outputs/manifest.json`).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    #[command(flatten)]
    pub mode: ModeArgs,
}

/// Reads, checks and converts ratings; every record not kept is reported with its index
/// and field. Returns an error in strict mode at the first bad record (nothing written).
pub fn import(a: ImportArgs) -> Result<()> {
    let index = index(a.manifest.as_deref())?;
    let loaded = load_ratings(&a.input, index.as_ref(), a.mode.mode())
        .with_context(|| format!("importing {} (nothing written)", a.input.display()))?;
    print_problems(&loaded.problems);
    if let Some(d) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    recut_engine::feedback::write_json(&a.out, &loaded.ratings)?;
    let errors = loaded.errors().count();
    let warnings = loaded.warnings().count();
    println!(
        "{} ratings written to {}; {errors} records not kept, {warnings} warnings",
        loaded.ratings.len(),
        a.out.display()
    );
    Ok(())
}

/// `recut-trainer stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Ratings file (any of the three shapes) or feedback store folder.
    pub input: PathBuf,
    /// Candidates manifest that resolves edit ids.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub mode: ModeArgs,
}

pub fn stats(a: StatsArgs) -> Result<()> {
    let index = index(a.manifest.as_deref())?;
    let loaded = load_ratings(&a.input, index.as_ref(), a.mode.mode())
        .with_context(|| format!("reading {}", a.input.display()))?;
    print_problems(&loaded.problems);
    let s = rating_stats(&loaded.ratings);
    print!("{s}");
    if let Some(p) = &a.json {
        write_json(p, &s)?;
    }
    Ok(())
}

/// `--ratings`: pairs of a ratings file / store whose songs are in `songs`.
pub fn rated_pairs(
    ratings: &Path,
    manifest: Option<&Path>,
    mode: Mode,
    songs: &Path,
) -> Result<Vec<PreferencePair>> {
    let index = index(manifest)?;
    let loaded = load_ratings(ratings, index.as_ref(), mode)
        .with_context(|| format!("reading {}", ratings.display()))?;
    print_problems(&loaded.problems);
    let wanted = recut_trainer::cycle::rated_songs(&loaded.ratings);
    eprintln!(
        "{} ratings of {} songs; analysing them in {} …",
        loaded.ratings.len(),
        wanted.len(),
        songs.display()
    );
    let library = SongLibrary::analyze_dir(songs, Some(&wanted))?;
    let (pairs, skipped) = pairs_from_ratings(&loaded.ratings, |r| library.features_for(r));
    for s in &skipped {
        eprintln!("skipped: {s}");
    }
    if pairs.is_empty() {
        bail!(
            "none of the {} ratings can be used (see above)",
            loaded.ratings.len()
        );
    }
    Ok(pairs)
}

/// Where `reward` gets its pairs from.
pub struct RewardData {
    pub pairs: Vec<PreferencePair>,
    /// The simulated rater's answers (for its ceiling), when simulated.
    pub answers: Option<Vec<Answer>>,
    /// In words, for the log.
    pub source: String,
}

/// Pairs for `reward`: rated pairs from `ratings`, or simulated pairs of `taste`.
#[allow(clippy::too_many_arguments)]
pub fn reward_data(
    ratings: Option<&Path>,
    manifest: Option<&Path>,
    mode: Mode,
    taste: Option<&str>,
    songs: &Path,
    max_songs: Option<usize>,
    max_beats: Option<usize>,
    n_pairs: usize,
    temperature: f64,
    seed: u64,
) -> Result<RewardData> {
    match (ratings, taste) {
        (Some(r), None) => {
            let pairs = rated_pairs(r, manifest, mode, songs)?;
            Ok(RewardData {
                source: format!("ratings {}", r.display()),
                pairs,
                answers: None,
            })
        }
        (None, Some(t)) => {
            let taste = parse_taste(t)?;
            eprintln!("analysing songs in {} …", songs.display());
            let mut songs = SimSong::analyze_dir(songs, max_songs)?;
            if let Some(n) = max_beats {
                songs = songs.iter().map(|s| s.crop(n)).collect();
            }
            let rater = Rater::new(taste).with_temperature(temperature);
            let (pairs, answers) = simulate_pairs(&songs, &rater, n_pairs, seed);
            Ok(RewardData {
                source: format!(
                    "{} songs, taste `{}` (ceiling {:.3})",
                    songs.len(),
                    taste.name(),
                    Rater::ceiling(&answers)
                ),
                pairs,
                answers: Some(answers),
            })
        }
        _ => bail!("give either --ratings or --pairs-from-taste"),
    }
}

/// `recut-trainer evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The old policy: an ONNX file, or `baseline`.
    #[arg(long)]
    pub old: String,
    /// The new policy: an ONNX file, or `baseline`.
    #[arg(long)]
    pub new: String,
    /// Folder of songs to evaluate on (every audio file in it).
    #[arg(long)]
    pub songs: PathBuf,
    #[arg(long)]
    pub max_songs: Option<usize>,
    /// Judge by this simulated rater's taste (tight, opening, smooth, energetic, phrase_aware).
    #[arg(long)]
    pub rater: Option<String>,
    /// Judge by this reward model (ONNX) when no --rater is given.
    #[arg(long)]
    pub reward_model: Option<PathBuf>,
    /// Target length, share of each song.
    #[arg(long, default_value_t = recut_engine::candidates::DEFAULT_TARGET_FRACTION)]
    pub target_fraction: f64,
    /// Decoder temperature.
    #[arg(long, default_value_t = 0.3)]
    pub temperature: f64,
    /// Edits per song and policy (same seeds for both).
    #[arg(long, default_value_t = 8)]
    pub plans: usize,
    /// Edits sampled per song to find how much better than the old policy's edits the
    /// judge can be pleased (songs where the old edits are already the best found can only
    /// be tied); 0 = off.
    #[arg(long, default_value_t = recut_trainer::evaluate::DEFAULT_HEADROOM_PLANS)]
    pub headroom: usize,
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Output folder: `test_results.json` and `<song>/{old,new}.wav`.
    #[arg(long, default_value = "policy_test_output")]
    pub out: PathBuf,
    /// Do not render the old/new WAVs.
    #[arg(long)]
    pub no_wavs: bool,
}

fn load_policy(spec: &str) -> Result<Box<dyn Policy>> {
    if spec == "baseline" {
        return Ok(Box::new(BaselinePolicy));
    }
    let m =
        recut_engine::PolicyModel::load(spec).with_context(|| format!("loading policy {spec}"))?;
    Ok(Box::new(m))
}

pub fn evaluate(a: EvaluateArgs) -> Result<()> {
    let old = load_policy(&a.old)?;
    let new = load_policy(&a.new)?;
    let judge = match (&a.rater, &a.reward_model) {
        (Some(t), _) => Some(Judge::Rater(Rater::new(parse_taste(t)?))),
        (None, Some(p)) => Some(reward_judge(
            recut_engine::RewardModel::load(p)
                .with_context(|| format!("loading {}", p.display()))?,
        )),
        (None, None) => None,
    };
    let mut files = recut_engine::audio::list_audio_files(&a.songs)?;
    files.truncate(a.max_songs.unwrap_or(usize::MAX));
    if files.is_empty() {
        bail!("no audio files in {}", a.songs.display());
    }
    let cache = recut_engine::analysis::cache::Cache::default_location();
    let songs = files
        .iter()
        .map(|p| {
            let (an, _) = recut_engine::analysis::cache::analyze_file(
                p,
                &Default::default(),
                Some(&cache),
                &mut |_| {},
            )
            .with_context(|| format!("analysing {}", p.display()))?;
            Ok(EvalSong {
                id: recut_engine::candidates::song_id(p),
                analysis: Arc::new(an),
                path: Some(p.clone()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = EvalOptions {
        target_fraction: a.target_fraction,
        temperature: a.temperature,
        plans: a.plans,
        seed: a.seed,
        headroom_plans: a.headroom,
        ..Default::default()
    };
    let results = evaluate_policies(
        old.as_ref(),
        new.as_ref(),
        &songs,
        judge.as_ref(),
        &opts,
        (!a.no_wavs).then_some(a.out.as_path()),
        true,
    )?;
    let path = a.out.join(RESULTS_FILE);
    results.write(&path)?;
    print!("{}", results.table());
    println!("wrote {}", path.display());
    Ok(())
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CycleAlgorithm {
    Dpo,
    Ppo,
    Auto,
}

/// The shipped default policy's checkpoint (what `cargo xtask train-default` writes beside
/// `models/policy.onnx`), relative to the working directory.
pub const DEFAULT_POLICY_CHECKPOINT: &str = "models/policy.safetensors";

/// `recut-trainer cycle`.
#[derive(Args, Debug)]
pub struct CycleArgs {
    /// Folder of songs (or one song's folder); the last --held-out (by file name) are for
    /// evaluation only.
    #[arg(long)]
    pub songs: PathBuf,
    #[arg(long)]
    pub max_songs: Option<usize>,
    #[arg(long, default_value_t = 4)]
    pub held_out: usize,
    /// Models folder: the cycle goes to `<dir>/cycles/<id>/`, the lineage to
    /// `<dir>/lineage.json`.
    #[arg(long, default_value = "models")]
    pub out_dir: PathBuf,
    /// Policy checkpoint the cycle starts from and compares against (e.g. the last
    /// cycle's `policy.safetensors`); default: the shipped default policy,
    /// `models/policy.safetensors`, when it exists.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Start from a reference behaviour-cloned from the baseline policy instead of the
    /// default policy.
    #[arg(long, conflicts_with = "from")]
    pub from_scratch: bool,
    /// Simulated rater taste (tight, opening, smooth, energetic, phrase_aware).
    #[arg(long, conflicts_with = "ratings", required_unless_present = "ratings")]
    pub taste: Option<String>,
    /// Human ratings (file or store folder) instead of a simulated rater; edit ids
    /// resolve through this cycle's candidates manifest.
    #[arg(long)]
    pub ratings: Option<PathBuf>,
    #[command(flatten)]
    pub mode: ModeArgs,
    /// Simulated ratings to collect.
    #[arg(long, default_value_t = 200)]
    pub n_ratings: usize,
    /// Simulated rater temperature (utility units; lower = less noisy).
    #[arg(long, default_value_t = 0.25)]
    pub rater_temperature: f64,
    /// Candidate temperatures (one candidate each).
    #[arg(long, value_delimiter = ',', default_values_t = CYCLE_TEMPERATURES.to_vec())]
    pub temperatures: Vec<f64>,
    /// Target length of the edits, share of each song.
    #[arg(long, default_value_t = recut_engine::candidates::DEFAULT_TARGET_FRACTION)]
    pub target_fraction: f64,
    /// Candidates at several lengths (shares of each song, e.g. 0.6,0.75,0.9), one set of
    /// --temperatures each, so a taste for length shows in the ratings; default: only
    /// --target-fraction.
    #[arg(long, value_delimiter = ',')]
    pub candidate_fractions: Vec<f64>,
    /// Behaviour-cloning steps of a reference trained from scratch.
    #[arg(long, default_value_t = 200)]
    pub bc_steps: usize,
    /// Policy width (a reference trained from scratch).
    #[arg(long, default_value_t = 64)]
    pub width: i64,
    #[arg(long, default_value_t = 2)]
    pub layers: i64,
    /// Reward model MLP hidden units.
    #[arg(long, default_value_t = 64)]
    pub reward_hidden: i64,
    /// Reward model epochs (cheap: the edit descriptors are computed once; the weights of
    /// the epoch with the lowest validation loss are kept).
    #[arg(long, default_value_t = 100)]
    pub reward_epochs: usize,
    /// L2 weight decay of the reward model (Adam).
    #[arg(long, default_value_t = CYCLE_REWARD_WEIGHT_DECAY)]
    pub reward_weight_decay: f64,
    /// Group lasso on the reward model's descriptor inputs (0 = off): the model keeps
    /// the few descriptor entries that explain the ratings, so PPO cannot push the ones
    /// that only co-varied with them.
    #[arg(long, default_value_t = CYCLE_REWARD_LASSO)]
    pub reward_lasso: f64,
    /// The reward model is an ensemble of this many summary MLPs, each validated on its
    /// own fold of the training songs, scoring their mean (1 = one model on one split),
    /// with an out-of-fold accuracy over every rating. The members disagree on what a few
    /// hundred ratings of few songs say beyond the rater's taste; their mean keeps what
    /// they agree on. Not the default: on the simulated tastes 4 folds met the held-out
    /// target in 5 of 11 auto runs where one model met it in 8 (`tight` lost its PPO wins).
    #[arg(long, default_value_t = CYCLE_REWARD_FOLDS)]
    pub reward_folds: usize,
    /// Diagnostic: PPO (and auto's PPO trial) trains against the simulated rater's own
    /// utility, what a perfect reward model of the taste would say, instead of the reward
    /// model learned from the ratings. Needs --taste. If the policy still misses on the
    /// held-out songs, the reward model is not what holds it back.
    #[arg(long)]
    pub oracle_reward: bool,
    /// Policy step: PPO against the reward model, DPO on rated + reward-labelled pairs,
    /// or auto (default): both fine-tune on all training songs but three, the reward
    /// model judges them against the starting policy on those three, once for each of
    /// --auto-folds sets of three, and PPO fine-tunes on all unless DPO won at least a
    /// quarter more of the comparisons (12 of 48 with two folds) while beating the starting
    /// policy in more than 0.6 of them, or both lost fewer than a quarter and the reward
    /// model prefers DPO's edits to the starting policy's by odds of 2 to 1 or more, or
    /// PPO's edits there score no higher than the starting policy's in the reward model's
    /// eyes while DPO's score higher and beat it in more than 0.6 (then DPO). Auto costs
    /// two more fine-tunings a fold (a cycle of 200 ratings on 2 cores: 151–231 s with two
    /// folds and 104–129 s with one on an AMD EPYC; 77–122 s with one, 36 s for PPO and
    /// 40 s for DPO on an Intel Xeon). With fewer than 5 training songs auto runs PPO.
    /// How often each algorithm met the held-out target on the corpus: the README, and
    /// run by run `trainer/MEASUREMENTS.md`.
    #[arg(long, value_enum, default_value_t = CycleAlgorithm::Auto)]
    pub algorithm: CycleAlgorithm,
    /// With --algorithm auto: how many disjoint sets of three training songs judge the
    /// trials, each with its own PPO and DPO trial; the verdict pools them, so more folds
    /// make it less noisy. Each fold adds two fine-tunings; capped where a fold would
    /// train on fewer than two songs (two folds for eight training songs).
    #[arg(long, default_value_t = AUTO_FOLDS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=8))]
    pub auto_folds: usize,
    #[arg(long, default_value_t = 150)]
    pub dpo_steps: usize,
    #[arg(long, default_value_t = 0.1)]
    pub beta: f64,
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Pairs of the reference's own edits labelled by the reward model for DPO.
    #[arg(long, default_value_t = 400)]
    pub reward_pairs: usize,
    /// Smallest reward difference of a labelled pair.
    #[arg(long, default_value_t = 0.1)]
    pub reward_margin: f64,
    /// PPO steps (--algorithm ppo).
    #[arg(long, default_value_t = CYCLE_PPO_STEPS)]
    pub ppo_steps: usize,
    /// PPO learning rate (--algorithm ppo).
    #[arg(long, default_value_t = PpoConfig::default().lr)]
    pub ppo_lr: f64,
    /// PPO plans sampled per step (4 plans of each of 8 songs by default).
    #[arg(long, default_value_t = CYCLE_PPO_ROLLOUTS)]
    pub ppo_rollouts: usize,
    /// PPO weight of the KL penalty to the starting policy.
    #[arg(long, default_value_t = PpoConfig::default().kl_coef)]
    pub ppo_kl: f64,
    /// PPO roll-back: when an evaluation of the policy on the training songs falls more than
    /// this (reward units) below the best so far, PPO goes back to the best policy and
    /// goes on at half the learning rate (0 = never).
    #[arg(long, default_value_t = CYCLE_PPO_ROLLBACK)]
    pub ppo_rollback: f64,
    /// Timbre-shift augmentation (PPO and DPO): each step the policy sees its songs with a random
    /// offset per feature, this many times the features' spread over the training songs
    /// (0 = off). Teaches the policy the taste rather than the training songs' sound, so it
    /// carries over to songs of another kind.
    #[arg(long, default_value_t = CYCLE_FEATURE_SHIFT)]
    pub feature_shift: f64,
    /// PPO excerpt augmentation: each step every drawn training song is replaced by a run
    /// of its whole phrases, at least this share of them, at a random start (1 = whole
    /// songs, the default). Asks the policy for what holds across song positions and
    /// lengths rather than where to cut each training song; 0.5 made `--algorithm ppo`
    /// cycles better on held-out songs and `--algorithm auto` worse
    /// (`trainer/MEASUREMENTS.md`).
    #[arg(long, default_value_t = CYCLE_PPO_EXCERPT)]
    pub ppo_excerpt: f64,
    /// How much of the fine-tuning the new policy keeps, 0–3: its weights are the
    /// reference's plus this many times the change (1 = the fine-tuned policy as it is,
    /// under 1 part of the way back to the reference, above 1 further along the same
    /// direction). On songs the policy never saw, 1 did better than 0.7 (the default until
    /// 2026-12-07) and than 1.4 (`trainer/MEASUREMENTS.md`).
    #[arg(long, default_value_t = CYCLE_POLICY_MIX)]
    pub policy_mix: f64,
    /// Longest window of beats a DPO pair is cropped to.
    #[arg(long, default_value_t = 512)]
    pub window: usize,
    /// Edits per held-out song and policy in the evaluation.
    #[arg(long, default_value_t = 8)]
    pub eval_plans: usize,
    /// Do not render old/new WAVs of the held-out songs.
    #[arg(long)]
    pub no_wavs: bool,
    /// Also render the candidates' WAVs (about 30 MB each), to listen to what the
    /// simulated rater judged; ratings and training need only the plans.
    #[arg(long)]
    pub candidate_wavs: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the cycle's report (`cycle.json`) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

pub fn cycle(a: CycleArgs) -> Result<()> {
    let ratings = match (&a.ratings, &a.taste) {
        (Some(p), _) => RatingsSource::File {
            path: p.clone(),
            mode: a.mode.mode(),
        },
        (None, Some(t)) => RatingsSource::Simulated {
            rater: Rater::new(parse_taste(t)?).with_temperature(a.rater_temperature),
            n_ratings: a.n_ratings,
        },
        (None, None) => bail!("give --taste (simulated ratings) or --ratings"),
    };
    let from = match (&a.from, a.from_scratch) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => None,
        (None, false) => {
            let shipped = PathBuf::from(DEFAULT_POLICY_CHECKPOINT);
            if shipped.is_file() {
                println!("starting from the default policy {}", shipped.display());
                Some(shipped)
            } else {
                println!(
                    "no {DEFAULT_POLICY_CHECKPOINT} here: the reference is behaviour-cloned from the baseline"
                );
                None
            }
        }
    };
    let cfg = CycleConfig {
        songs_dir: a.songs.clone(),
        max_songs: a.max_songs,
        held_out: a.held_out,
        models_dir: a.out_dir.clone(),
        from,
        policy_config: PolicyConfig {
            layers: a.layers,
            heads: 4,
            width: a.width,
            mlp_ratio: 2,
            dropout: 0.0,
        },
        bc: BcConfig {
            steps: a.bc_steps,
            seed: a.seed,
            ..Default::default()
        },
        ratings,
        temperatures: a.temperatures.clone(),
        target_fraction: a.target_fraction,
        candidate_fractions: a.candidate_fractions.clone(),
        reward_config: RewardConfig::Mlp(MlpConfig {
            hidden: a.reward_hidden,
        }),
        reward_train: TrainConfig {
            epochs: a.reward_epochs,
            weight_decay: a.reward_weight_decay,
            input_lasso: a.reward_lasso,
            lr: 1e-3,
            seed: a.seed,
            ..Default::default()
        },
        reward_folds: a.reward_folds,
        oracle_reward: a.oracle_reward,
        algorithm: match a.algorithm {
            CycleAlgorithm::Dpo => PolicyAlgorithm::Dpo,
            CycleAlgorithm::Ppo => PolicyAlgorithm::Ppo,
            CycleAlgorithm::Auto => PolicyAlgorithm::Auto,
        },
        auto_folds: a.auto_folds,
        dpo: DpoConfig {
            loss: DpoLoss::Sigmoid,
            beta: a.beta,
            steps: a.dpo_steps,
            lr: a.lr,
            feature_shift: a.feature_shift,
            seed: a.seed,
            ..Default::default()
        },
        window: a.window,
        reward_pairs: a.reward_pairs,
        reward_margin: a.reward_margin,
        ppo_steps: a.ppo_steps,
        ppo_lr: a.ppo_lr,
        ppo_rollouts: a.ppo_rollouts,
        ppo_kl: a.ppo_kl,
        ppo_rollback: a.ppo_rollback,
        feature_shift: a.feature_shift,
        ppo_excerpt: a.ppo_excerpt,
        policy_mix: a.policy_mix,
        eval: EvalOptions {
            target_fraction: a.target_fraction,
            plans: a.eval_plans,
            ..Default::default()
        },
        wavs: !a.no_wavs,
        candidate_wavs: a.candidate_wavs,
        seed: a.seed,
        progress: true,
    };
    let r = run_cycle(&cfg)?;
    if r.evaluated_on_training_songs {
        println!("no song held out: before/after figures are on the training songs");
    } else {
        println!("before (reference) / after (new policy) on the held-out songs:");
    }
    print!("{}", r.results.table());
    let s = &r.seconds;
    println!(
        "{}: {} candidates, {} ratings, reward val accuracy {}, {}",
        r.cycle,
        r.candidates,
        r.ratings,
        r.reward_val_accuracy
            .map_or("-".into(), |v| format!("{v:.3}")),
        if r.algorithm == PolicyAlgorithm::Dpo {
            format!(
                "dpo on {} rated + {} labelled pairs",
                r.dpo_rated_pairs, r.dpo_labelled_pairs
            )
        } else if r.policy_unchanged {
            "ppo policy unchanged: no step scored above the starting one".to_owned()
        } else {
            "ppo policy".to_owned()
        }
    );
    if let Some(c) = &r.algorithm_choice {
        println!(
            "auto chose {}: win rate over the reference on {} (held out of the trial \
             fine-tunings), ppo {:.3}, dpo {:.3} (score gain {:.3}, {:.3}), judged by the {}",
            c.chosen.name(),
            c.selection_songs.join(", "),
            c.ppo.win_rate,
            c.dpo.win_rate,
            c.ppo.score_gain,
            c.dpo.score_gain,
            c.judge
        );
    }
    if let Some(used) = r
        .reward_inputs
        .as_deref()
        .filter(|u| recut_trainer::model::summary::dropped_any(u))
    {
        println!(
            "the reward model {}",
            recut_trainer::model::summary::describe_entries(used)
        );
    }
    println!(
        "seconds: analysis {:.1}, reference {:.1}, candidates {:.1}, ratings {:.1}, reward {:.1}, policy {:.1}, evaluation {:.1}; total {:.1}",
        s.analysis, s.reference, s.candidates, s.ratings, s.reward, s.policy, s.evaluation, s.total
    );
    println!(
        "new policy {} (parent {}), reward {}: {}",
        r.policy_version,
        r.reference_version,
        r.reward_version,
        r.dir.display()
    );
    if let Some(p) = &a.report {
        write_json(p, &r)?;
    }
    Ok(())
}
