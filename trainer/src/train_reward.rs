//! Reward-model training on preference pairs (Bradley–Terry, [`crate::loss`]).
//!
//! Validation is split by song ([`crate::data::split_by_song`]), never by pair, so the
//! validation accuracy says how the model does on songs it has not seen. Adam with
//! gradient-norm clipping; after every epoch the validation loss, accuracy (overall and
//! per strength 1–3, over decided pairs) are recorded, and the weights with the lowest
//! validation loss are kept (restored at the end, and saved as a tch checkpoint when a path
//! is given). Fine-tuning (v2 from v1) is the same call on a model loaded from v1's
//! checkpoint ([`crate::model::RewardModel::load`]).

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn, nn::OptimizerConfig};

use crate::data::{PreferencePair, data_fingerprint, song_folds, split_by_song};
use crate::error::{Result, TrainError};
use crate::history::TrainingHistory;
use crate::loss::{LossConfig, bradley_terry, correct, targets};
use crate::model::batch::to_vec_f32;
use crate::model::reward::{MlpConfig, RewardConfig, RewardNet, merge_mlps};
use crate::model::summary::edit_summary;
use crate::model::{Batch, RewardModel};
use crate::rng::Rng;

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Pairs per optimiser step (each pair is two forward items).
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Group-lasso weight λ on the summary MLP's input weights (0 = off; the transformer
    /// ignores it): after every step each descriptor entry's weight column shrinks by
    /// `lr · λ` ([`crate::model::reward::RewardMlp::shrink_inputs`]). A few hundred ratings
    /// of one policy's edits can be explained by many entries that merely co-vary with
    /// what the rater hears; the lasso keeps the few that explain them best, and a policy
    /// trained against the model cannot push the ones it dropped.
    pub input_lasso: f64,
    /// Gradient-norm clip (0 = none).
    pub grad_clip: f64,
    /// Share of songs held out for validation.
    pub val_fraction: f64,
    /// Seeds the split and the shuffles (libtorch's own seed is set by the caller).
    pub seed: u64,
    pub loss: LossConfig,
    /// Show an indicatif progress bar.
    pub progress: bool,
    /// Where to save the best weights (tch VarStore file + config sidecar).
    pub checkpoint: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 16,
            lr: 3e-4,
            weight_decay: 0.0,
            input_lasso: 0.0,
            grad_clip: 1.0,
            val_fraction: 0.2,
            seed: 0,
            loss: LossConfig::default(),
            progress: false,
            checkpoint: None,
        }
    }
}

/// Accuracy of a model on a set of pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Mean Bradley–Terry loss (without centring).
    pub loss: f64,
    /// Share of decided pairs ordered as the rater ordered them (`None` without any).
    pub accuracy: Option<f64>,
    /// The same per strength 1, 2, 3.
    pub accuracy_by_strength: [Option<f64>; 3],
    /// Pairs evaluated (ties included) and decided pairs.
    pub pairs: usize,
    pub decided: usize,
    /// Decided pairs per strength 1, 2, 3 (what [`Self::combine`] weights by).
    #[serde(default)]
    pub decided_by_strength: [usize; 3],
}

impl Evaluation {
    /// The figures of several disjoint sets of pairs taken together (an ensemble's
    /// out-of-fold validation): the loss weighted by pairs, the accuracies by decided pairs.
    pub fn combine(parts: &[Evaluation]) -> Evaluation {
        let pairs: usize = parts.iter().map(|e| e.pairs).sum();
        let decided: usize = parts.iter().map(|e| e.decided).sum();
        // The mean of a share `acc` over the parts, weighted by the count `n` it is of.
        let weighted = |acc: &dyn Fn(&Evaluation) -> Option<f64>,
                        n: &dyn Fn(&Evaluation) -> usize| {
            let total: usize = parts.iter().map(n).sum();
            (total > 0).then(|| {
                parts
                    .iter()
                    .map(|e| acc(e).unwrap_or(0.0) * n(e) as f64)
                    .sum::<f64>()
                    / total as f64
            })
        };
        Evaluation {
            loss: if pairs > 0 {
                parts.iter().map(|e| e.loss * e.pairs as f64).sum::<f64>() / pairs as f64
            } else {
                0.0
            },
            accuracy: weighted(&|e| e.accuracy, &|e| e.decided),
            accuracy_by_strength: std::array::from_fn(|s| {
                weighted(&|e| e.accuracy_by_strength[s], &|e| {
                    e.decided_by_strength[s]
                })
            }),
            pairs,
            decided,
            decided_by_strength: std::array::from_fn(|s| {
                parts.iter().map(|e| e.decided_by_strength[s]).sum()
            }),
        }
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub train_loss: f64,
    pub val: Option<Evaluation>,
}

/// What training did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs: Vec<EpochStats>,
    /// Epoch (1-based) whose weights were kept (the last one without validation data).
    pub best_epoch: usize,
    /// Validation figures of the kept weights.
    pub best_val: Option<Evaluation>,
    pub train_pairs: usize,
    pub val_pairs: usize,
    pub train_songs: Vec<String>,
    pub val_songs: Vec<String>,
    /// `recut.trained_on` for the data.
    pub trained_on: String,
    pub seconds: f64,
    /// Seconds from the start until the kept epoch had finished (the time to the best
    /// validation loss, which the 60 s target of `cargo xtask bench` is about).
    pub seconds_to_best: f64,
    /// Models trained: 1, or an ensemble's members ([`train_reward_ensemble`]), whose
    /// validation figures are out of fold over every pair.
    #[serde(default = "one")]
    pub members: usize,
    /// Descriptor entries the kept summary MLP uses (non-zero input weights), by index
    /// (`None` for the transformer). All of them without `input_lasso`.
    pub inputs_in_use: Option<Vec<usize>>,
}

fn one() -> usize {
    1
}

impl TrainReport {
    /// The DESIGN.md history (reward keys filled, the rest empty).
    pub fn history(&self) -> TrainingHistory {
        let mut h = TrainingHistory::default();
        for e in &self.epochs {
            h.train_loss.push(e.train_loss);
            h.val_loss.push(e.val.as_ref().map(|v| v.loss));
            h.val_accuracy.push(e.val.as_ref().and_then(|v| v.accuracy));
            h.val_accuracy_by_strength.push(
                e.val
                    .as_ref()
                    .map(|v| v.accuracy_by_strength)
                    .unwrap_or([None; 3]),
            );
        }
        h
    }
}

fn songs_of(pairs: &[PreferencePair], idx: &[usize]) -> Vec<String> {
    let s: std::collections::BTreeSet<&str> =
        idx.iter().map(|&i| pairs[i].song_id.as_str()).collect();
    s.into_iter().map(str::to_owned).collect()
}

/// The edit descriptors of both edits of every pair, computed once before training: the
/// summary MLP's input does not depend on its weights, and computing it (then with a `T²`
/// splice pairing) was 2 s of every epoch on 500 pairs.
pub struct Descriptors {
    /// `[pairs, SUMMARY_DIM]` for edits A and B.
    a: Tensor,
    b: Tensor,
}

impl Descriptors {
    /// The descriptors of `pairs`, `DESCRIPTOR_CHUNK` pairs per pass.
    pub fn new(pairs: &[PreferencePair], device: tch::Device) -> Descriptors {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        tch::no_grad(|| {
            for chunk in pairs.chunks(DESCRIPTOR_CHUNK) {
                let of = |pick: fn(&PreferencePair) -> &[u8]| {
                    let items: Vec<_> = chunk
                        .iter()
                        .map(|p| (p.song_features.as_slice(), pick(p)))
                        .collect();
                    let batch = Batch::new(&items, device);
                    edit_summary(&batch.features, &batch.actions, &batch.mask)
                };
                a.push(of(|p| &p.actions_a));
                b.push(of(|p| &p.actions_b));
            }
        });
        Descriptors {
            a: Tensor::cat(&a, 0),
            b: Tensor::cat(&b, 0),
        }
    }

    fn rows(&self, idx: &[usize]) -> (Tensor, Tensor) {
        let i = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>())
            .to_device(self.a.device());
        (self.a.index_select(0, &i), self.b.index_select(0, &i))
    }
}

/// Pairs per descriptor pass (bounds the `[chunk, T, 125]` feature batch of a pass).
const DESCRIPTOR_CHUNK: usize = 32;

/// `(s_a, s_b)` scores `[n]` of the pairs `idx`: from the descriptors when the model is
/// the summary MLP and they are given, else in one forward pass of `2n` items.
fn forward_pairs(
    model: &RewardModel,
    pairs: &[PreferencePair],
    idx: &[usize],
    train: bool,
    descriptors: Option<&Descriptors>,
) -> (Tensor, Tensor) {
    if let (RewardNet::Mlp(mlp), Some(d)) = (&model.net, descriptors) {
        let (a, b) = d.rows(idx);
        return (mlp.forward_summary(&a), mlp.forward_summary(&b));
    }
    let mut items: Vec<(&[[f32; recut_engine::FEATURE_DIM]], &[u8])> =
        Vec::with_capacity(2 * idx.len());
    items.extend(idx.iter().map(|&i| {
        (
            pairs[i].song_features.as_slice(),
            pairs[i].actions_a.as_slice(),
        )
    }));
    items.extend(idx.iter().map(|&i| {
        (
            pairs[i].song_features.as_slice(),
            pairs[i].actions_b.as_slice(),
        )
    }));
    let b = Batch::new(&items, model.vs.device());
    let s = model.forward_t(&b.features, &b.actions, &b.mask, train);
    let n = idx.len() as i64;
    (s.narrow(0, 0, n), s.narrow(0, n, n))
}

/// Scores both edits of each pair `idx` (evaluation mode): `(s_a, s_b)` per pair.
pub fn score_pairs(
    model: &RewardModel,
    pairs: &[PreferencePair],
    idx: &[usize],
    batch_size: usize,
) -> Vec<(f64, f64)> {
    score_pairs_with(model, pairs, idx, batch_size, None)
}

fn score_pairs_with(
    model: &RewardModel,
    pairs: &[PreferencePair],
    idx: &[usize],
    batch_size: usize,
    descriptors: Option<&Descriptors>,
) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(idx.len());
    tch::no_grad(|| {
        for chunk in idx.chunks(batch_size.max(1)) {
            let (a, b) = forward_pairs(model, pairs, chunk, false, descriptors);
            out.extend(
                to_vec_f32(&a)
                    .into_iter()
                    .zip(to_vec_f32(&b))
                    .map(|(a, b)| (a as f64, b as f64)),
            );
        }
    });
    out
}

/// Loss and accuracy of `model` on the pairs `idx`.
pub fn evaluate(
    model: &RewardModel,
    pairs: &[PreferencePair],
    idx: &[usize],
    loss: &LossConfig,
    batch_size: usize,
) -> Evaluation {
    evaluate_with(model, pairs, idx, loss, batch_size, None)
}

fn evaluate_with(
    model: &RewardModel,
    pairs: &[PreferencePair],
    idx: &[usize],
    loss: &LossConfig,
    batch_size: usize,
    descriptors: Option<&Descriptors>,
) -> Evaluation {
    if idx.is_empty() {
        return Evaluation::default();
    }
    let scores = score_pairs_with(model, pairs, idx, batch_size, descriptors);
    let prefs: Vec<_> = idx
        .iter()
        .map(|&i| (pairs[i].preference, pairs[i].strength))
        .collect();
    let (t, m) = targets(loss, &prefs, tch::Device::Cpu);
    let sa = Tensor::from_slice(&scores.iter().map(|s| s.0 as f32).collect::<Vec<_>>());
    let sb = Tensor::from_slice(&scores.iter().map(|s| s.1 as f32).collect::<Vec<_>>());
    let l = bradley_terry(&sa, &sb, &t, &m, 0.0).double_value(&[]);
    let (mut right, mut n) = (0usize, 0usize);
    let mut by = [(0usize, 0usize); 3];
    for (&i, &(a, b)) in idx.iter().zip(&scores) {
        let p = &pairs[i];
        if let Some(ok) = correct(a, b, p.preference) {
            n += 1;
            right += ok as usize;
            let s = p.strength.clamp(1, 3) as usize - 1;
            by[s].1 += 1;
            by[s].0 += ok as usize;
        }
    }
    let frac = |r: usize, n: usize| (n > 0).then(|| r as f64 / n as f64);
    Evaluation {
        loss: l,
        accuracy: frac(right, n),
        accuracy_by_strength: [
            frac(by[0].0, by[0].1),
            frac(by[1].0, by[1].1),
            frac(by[2].0, by[2].1),
        ],
        pairs: idx.len(),
        decided: n,
        decided_by_strength: by.map(|b| b.1),
    }
}

/// Trains `model` on `pairs` (see the module doc). The model ends with the best weights.
pub fn train_reward(
    model: &mut RewardModel,
    pairs: &[PreferencePair],
    cfg: &TrainConfig,
) -> Result<TrainReport> {
    let start = Instant::now();
    validate_pairs(pairs)?;
    let (train, val) = split_by_song(pairs, cfg.val_fraction, cfg.seed);
    if train.is_empty() {
        return Err(TrainError::Data("no training pairs".into()));
    }
    let descriptors =
        matches!(model.net, RewardNet::Mlp(_)).then(|| Descriptors::new(pairs, model.vs.device()));
    train_reward_split(model, pairs, (train, val), descriptors.as_ref(), cfg, start)
}

/// Refuses pairs whose edits do not fit their song ([`PreferencePair::validate`]).
fn validate_pairs(pairs: &[PreferencePair]) -> Result<()> {
    pairs
        .iter()
        .try_for_each(|p| p.validate().map_err(TrainError::Data))
}

/// [`train_reward`] on a given split `(train, val)` of `pairs` (validated by the caller,
/// `train` not empty) with their descriptors (for the summary MLP); `start` is when the
/// caller's timing began.
fn train_reward_split(
    model: &mut RewardModel,
    pairs: &[PreferencePair],
    (train, val): (Vec<usize>, Vec<usize>),
    descriptors: Option<&Descriptors>,
    cfg: &TrainConfig,
    start: Instant,
) -> Result<TrainReport> {
    if let (RewardNet::Mlp(mlp), Some(d)) = (&mut model.net, descriptors) {
        // Fitted on the training pairs' edits, unless fitted before: a model fine-tuned
        // from an earlier one keeps its parent's, so the parent's weights keep their meaning.
        if !mlp.is_fitted() {
            let (a, b) = d.rows(&train);
            mlp.fit_normalisation(&Tensor::cat(&[&a, &b], 0), &(&a - &b));
        }
    }
    let mut opt = nn::Adam {
        wd: cfg.weight_decay,
        ..Default::default()
    }
    .build(&model.vs, cfg.lr)?;
    let mut rng = Rng::new(cfg.seed.wrapping_add(1));
    let batch = cfg.batch_size.max(1);
    let steps = cfg.epochs * train.len().div_ceil(batch);
    let bar = if cfg.progress {
        ProgressBar::new(steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("reward");
    let device = model.vs.device();
    // (validation loss, epoch, weights, evaluation, seconds at its end) of the best epoch so far.
    type Best = (f64, usize, Vec<(String, Tensor)>, Option<Evaluation>, f64);
    let mut best: Option<Best> = None;
    let mut epochs = Vec::new();
    let mut order = train.clone();
    for epoch in 1..=cfg.epochs {
        rng.shuffle(&mut order);
        let (mut sum, mut count) = (0.0, 0usize);
        for chunk in order.chunks(batch) {
            let (sa, sb) = forward_pairs(model, pairs, chunk, true, descriptors);
            let prefs: Vec<_> = chunk
                .iter()
                .map(|&i| (pairs[i].preference, pairs[i].strength))
                .collect();
            let (t, m) = targets(&cfg.loss, &prefs, device);
            let loss = bradley_terry(&sa, &sb, &t, &m, cfg.loss.centring);
            if cfg.grad_clip > 0.0 {
                opt.backward_step_clip_norm(&loss, cfg.grad_clip);
            } else {
                opt.backward_step(&loss);
            }
            if let RewardNet::Mlp(mlp) = &mut model.net {
                mlp.shrink_inputs(cfg.lr * cfg.input_lasso);
            }
            sum += loss.double_value(&[]) * chunk.len() as f64;
            count += chunk.len();
            bar.inc(1);
        }
        let train_loss = sum / count.max(1) as f64;
        let v = (!val.is_empty())
            .then(|| evaluate_with(model, pairs, &val, &cfg.loss, 2 * batch, descriptors));
        let key = v.as_ref().map_or(f64::NEG_INFINITY, |v| v.loss);
        if best.as_ref().is_none_or(|b| key <= b.0) {
            let elapsed = start.elapsed().as_secs_f64();
            best = Some((key, epoch, snapshot(model), v.clone(), elapsed));
        }
        bar.set_message(match &v {
            Some(v) => format!(
                "epoch {epoch}: train {train_loss:.4} val {:.4} acc {}",
                v.loss,
                v.accuracy.map_or("-".into(), |a| format!("{:.3}", a))
            ),
            None => format!("epoch {epoch}: train {train_loss:.4}"),
        });
        epochs.push(EpochStats {
            epoch,
            train_loss,
            val: v,
        });
    }
    bar.finish();
    let (best_epoch, best_val, seconds_to_best) = match best {
        Some((_, e, snap, v, t)) => {
            restore(model, &snap);
            (e, v, t)
        }
        None => (0, None, start.elapsed().as_secs_f64()),
    };
    if let Some(path) = &cfg.checkpoint {
        model.save(path)?;
    }
    Ok(TrainReport {
        members: 1,
        inputs_in_use: inputs_in_use(model),
        epochs,
        best_epoch,
        best_val,
        train_pairs: train.len(),
        val_pairs: val.len(),
        train_songs: songs_of(pairs, &train),
        val_songs: songs_of(pairs, &val),
        trained_on: data_fingerprint(pairs),
        seconds: start.elapsed().as_secs_f64(),
        seconds_to_best,
    })
}

/// Trains a song-fold ensemble of summary MLPs and merges it into one model
/// ([`crate::model::reward::merge_mlps`]): the songs are dealt into `folds` folds
/// ([`crate::data::song_folds`]), member `k` trains on every fold but `k` and keeps its
/// weights with the lowest validation loss on fold `k`, and the ensemble scores the mean
/// of the members.
///
/// Why: a few hundred ratings of one policy's edits are explained by many descriptor
/// entries that merely co-vary with what the rater hears on those songs, and which ones a
/// single model picks up depends on which songs it validated on. On the 200 `phrase_aware`
/// ratings of one cycle, four single models trained on four song splits judged the same
/// new policy's edits of a held-out song better than the old ones in 0.12, 0.00, 1.00 and
/// 0.88 of comparisons. What the members agree on is what the ratings say; a policy
/// trained against their mean cannot push what only one of them believes. (A cycle's
/// PPO did worse against the ensemble on `tight`, so cycles train one model by default:
/// [`crate::cycle::CYCLE_REWARD_FOLDS`].)
///
/// The input normalisation is fitted once on every pair's edits and shared. Every pair is
/// in exactly one member's validation fold, so the report's validation figures are
/// out-of-fold ([`Evaluation::combine`] of the members' best epochs) over all the
/// ratings rather than one split's; its epochs combine the members' epoch by epoch, and
/// `best_epoch` is the latest member's. With fewer than two folds (`folds` below 2, or
/// fewer than two songs) this is [`train_reward`] of one model.
pub fn train_reward_ensemble(
    config: &MlpConfig,
    pairs: &[PreferencePair],
    folds: usize,
    cfg: &TrainConfig,
    device: Device,
) -> Result<(RewardModel, TrainReport)> {
    let start = Instant::now();
    let arch = RewardConfig::Mlp(config.clone());
    let folds = song_folds(pairs, folds, cfg.seed);
    if folds.len() < 2 {
        let mut model = RewardModel::new(&arch, device)?;
        let report = train_reward(&mut model, pairs, cfg)?;
        return Ok((model, report));
    }
    validate_pairs(pairs)?;
    let descriptors = Descriptors::new(pairs, device);
    let all: Vec<usize> = (0..pairs.len()).collect();
    let (a, b) = descriptors.rows(&all);
    let (edits, spread) = (Tensor::cat(&[&a, &b], 0), &a - &b);
    let mut members = Vec::with_capacity(folds.len());
    let mut reports = Vec::with_capacity(folds.len());
    for (k, val) in folds.iter().enumerate() {
        let train: Vec<usize> = folds
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != k)
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        let mut member = RewardModel::new(&arch, device)?;
        if let RewardNet::Mlp(mlp) = &mut member.net {
            mlp.fit_normalisation(&edits, &spread);
        }
        // The members' own shuffles differ; the merged model alone is saved.
        let member_cfg = TrainConfig {
            seed: cfg.seed.wrapping_add(k as u64),
            checkpoint: None,
            ..cfg.clone()
        };
        reports.push(train_reward_split(
            &mut member,
            pairs,
            (train, val.clone()),
            Some(&descriptors),
            &member_cfg,
            Instant::now(),
        )?);
        members.push(member);
    }
    let model = merge_mlps(&members, device)?;
    if let Some(path) = &cfg.checkpoint {
        model.save(path)?;
    }
    let combined = |pick: &dyn Fn(&TrainReport) -> Option<Evaluation>| {
        let parts: Option<Vec<Evaluation>> = reports.iter().map(pick).collect();
        parts.map(|p| Evaluation::combine(&p))
    };
    let epochs = (0..cfg.epochs)
        .map(|e| EpochStats {
            epoch: e + 1,
            train_loss: reports
                .iter()
                .map(|r| r.epochs.get(e).map_or(0.0, |x| x.train_loss))
                .sum::<f64>()
                / reports.len() as f64,
            val: combined(&|r| r.epochs.get(e).and_then(|x| x.val.clone())),
        })
        .collect();
    let seconds = start.elapsed().as_secs_f64();
    let report = TrainReport {
        members: reports.len(),
        inputs_in_use: inputs_in_use(&model),
        epochs,
        best_epoch: reports.iter().map(|r| r.best_epoch).max().unwrap_or(0),
        best_val: combined(&|r| r.best_val.clone()),
        train_pairs: pairs.len(),
        val_pairs: pairs.len(),
        train_songs: songs_of(pairs, &all),
        val_songs: songs_of(pairs, &all),
        trained_on: data_fingerprint(pairs),
        seconds,
        // The ensemble exists once its last member is trained.
        seconds_to_best: seconds,
    };
    Ok((model, report))
}

/// Descriptor entries a summary MLP uses (non-zero input weights), by index; `None` for
/// the transformer.
fn inputs_in_use(model: &RewardModel) -> Option<Vec<usize>> {
    match &model.net {
        RewardNet::Mlp(mlp) => Some(
            mlp.input_norms()
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0.0)
                .map(|(j, _)| j)
                .collect(),
        ),
        RewardNet::Transformer(_) => None,
    }
}

fn snapshot(model: &RewardModel) -> Vec<(String, Tensor)> {
    model
        .vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect()
}

fn restore(model: &mut RewardModel, snap: &[(String, Tensor)]) {
    let vars = model.vs.variables();
    tch::no_grad(|| {
        for (k, t) in snap {
            if let Some(v) = vars.get(k) {
                let mut v = v.shallow_clone();
                v.copy_(t);
            }
        }
    });
}
