//! Direct preference optimisation of the policy against a frozen reference π_ref.
//!
//! A sequence's log-probability is `logπ(a) = Σ_t mask_t · log_softmax(logits_t)[a_t]`.
//! With `h = (logπ(w) − logπ_ref(w)) − (logπ(l) − logπ_ref(l))` for the chosen `w` and the
//! rejected `l`:
//! * sigmoid (DPO): `−log σ(β·h)`;
//! * IPO: `(h − 1/(2β))²`;
//! * robust (rDPO, label noise ε): `((1−ε)·(−log σ(β·h)) − ε·(−log σ(−β·h))) / (1 − 2ε)`.
//!
//! Ties are skipped. Each pair is cropped once (a window of at most `window` beats, the same
//! for both edits), so the reference log-probabilities are computed once, without
//! gradients, before training.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn, nn::OptimizerConfig};

use crate::data::Preference;
use crate::error::{Result, TrainError};
use crate::history::TrainingHistory;
use crate::model::batch::to_vec_f32;
use crate::model::{Batch, PolicyNet};
use crate::raters::{Answer, Rater};
use crate::rng::Rng;
use crate::train_policy::{Song, baseline_plans, crop};

/// Pairs per forward pass when the reference's log-probabilities are computed once up front
/// (no timbre shift).
const REFERENCE_CHUNK: usize = 8;

/// Which DPO-family loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DpoLoss {
    Sigmoid,
    Ipo,
    /// Label noise ε in [0, 0.5).
    Robust {
        epsilon: f64,
    },
}

/// `[B]` sequence log-probabilities of `actions` under `logits` `[B,T,3]` over real beats.
pub fn sequence_logp(logits: &Tensor, actions: &Tensor, mask: &Tensor) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    let picked = logp
        .gather(-1, &actions.unsqueeze(-1), false)
        .squeeze_dim(-1);
    (picked * mask).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
}

/// Mean loss over the batch; all inputs `[B]`.
pub fn dpo_loss(
    loss: DpoLoss,
    beta: f64,
    logp_w: &Tensor,
    logp_l: &Tensor,
    ref_w: &Tensor,
    ref_l: &Tensor,
) -> Tensor {
    let h = (logp_w - ref_w) - (logp_l - ref_l);
    match loss {
        DpoLoss::Sigmoid => -(&h * beta).log_sigmoid().mean(Kind::Float),
        DpoLoss::Ipo => (h - 1.0 / (2.0 * beta)).square().mean(Kind::Float),
        DpoLoss::Robust { epsilon } => {
            let pos = -(&h * beta).log_sigmoid();
            let neg = -(&h * -beta).log_sigmoid();
            ((pos * (1.0 - epsilon) - neg * epsilon) / (1.0 - 2.0 * epsilon)).mean(Kind::Float)
        }
    }
}

/// A decided pair for DPO: the chosen and rejected actions of a song, cropped to `range`.
#[derive(Debug, Clone)]
pub struct DpoPair {
    pub song: usize,
    pub range: std::ops::Range<usize>,
    pub chosen: Vec<u8>,
    pub rejected: Vec<u8>,
}

/// `n_pairs` pairs of baseline plans spread over `songs`, answered by `rater` (ties
/// dropped), each cropped once to a window of at most `window` beats. Returns the pairs and
/// every answer (ties included, for [`Rater::ceiling`]).
pub fn simulate_dpo_pairs(
    songs: &[Song],
    rater: &Rater,
    n_pairs: usize,
    window: usize,
    seed: u64,
) -> (Vec<DpoPair>, Vec<Answer>) {
    let mut rng = Rng::new(seed);
    let (mut pairs, mut answers) = (Vec::new(), Vec::new());
    if songs.is_empty() {
        return (pairs, answers);
    }
    for k in 0..n_pairs {
        let si = k % songs.len();
        let s = &songs[si];
        let plans = baseline_plans(s, 2, &mut rng);
        if plans.len() < 2 {
            continue;
        }
        let (a, b) = (&plans[0].0, &plans[1].0);
        let ans = rater.answer(s.features(), a, b, &mut rng);
        answers.push(ans);
        let (w, l) = match ans.preference {
            Preference::A => (a, b),
            Preference::B => (b, a),
            Preference::Tie => continue,
        };
        let range = crop(s.len(), window, &mut rng);
        pairs.push(DpoPair {
            song: si,
            chosen: w[range.clone()].to_vec(),
            rejected: l[range.clone()].to_vec(),
            range,
        });
    }
    (pairs, answers)
}

/// DPO settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpoConfig {
    pub loss: DpoLoss,
    pub beta: f64,
    pub steps: usize,
    /// Pairs per step.
    pub batch_size: usize,
    pub lr: f64,
    pub grad_clip: f64,
    /// Timbre-shift augmentation ([`crate::augment`]), in spreads of the training songs
    /// (0 = off): each step the batch's songs are seen shifted by the policy and the
    /// reference alike.
    #[serde(default)]
    pub feature_shift: f64,
    pub seed: u64,
}

impl Default for DpoConfig {
    fn default() -> Self {
        DpoConfig {
            loss: DpoLoss::Sigmoid,
            beta: 0.1,
            steps: 200,
            batch_size: 8,
            lr: 1e-4,
            grad_clip: 1.0,
            feature_shift: 0.0,
            seed: 0,
        }
    }
}

/// What DPO did, step by step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DpoReport {
    pub loss: Vec<f64>,
    /// Mean `logπ − logπ_ref` over the step's chosen and rejected edits.
    pub kl: Vec<f64>,
    /// Mean per-beat policy entropy.
    pub entropy: Vec<f64>,
    /// Mean implicit reward margin `β·h`.
    pub margin: Vec<f64>,
    /// Share of the step's pairs with `h > 0`.
    pub reward_accuracy: Vec<f64>,
    pub pairs: usize,
    pub seconds: f64,
}

impl DpoReport {
    /// The DESIGN.md history: `episode`/`step` = step, `policy_loss`, `kl`, `entropy`,
    /// `total_reward` = implicit reward margin, `learned_reward` = its accuracy on the batch.
    pub fn history(&self) -> TrainingHistory {
        let mut h = TrainingHistory::default();
        for i in 0..self.loss.len() {
            h.episode.push(i as u64);
            h.step.push(i as u64 + 1);
            h.policy_loss.push(self.loss[i]);
            h.kl.push(self.kl[i]);
            h.entropy.push(self.entropy[i]);
            h.total_reward.push(self.margin[i]);
            h.learned_reward.push(self.reward_accuracy[i]);
        }
        h
    }
}

/// The pairs `idx` as one batch: their chosen edits in rows `0..n`, then their rejected
/// edits in rows `n..2n`, row `i` and row `n + i` over the same beats.
fn pair_batch(songs: &[Song], pairs: &[DpoPair], idx: &[usize], device: tch::Device) -> Batch {
    let beats = |p: &DpoPair| &songs[p.song].features()[p.range.clone()];
    let items: Vec<_> = idx
        .iter()
        .map(|&i| (beats(&pairs[i]), pairs[i].chosen.as_slice()))
        .chain(
            idx.iter()
                .map(|&i| (beats(&pairs[i]), pairs[i].rejected.as_slice())),
        )
        .collect();
    Batch::new(&items, device)
}

fn forward_pairs(
    net: &PolicyNet,
    songs: &[Song],
    pairs: &[DpoPair],
    idx: &[usize],
    train: bool,
) -> (Tensor, Tensor, Tensor) {
    let b = pair_batch(songs, pairs, idx, net.vs.device());
    let (logits, _) = net.forward_t(&b.features, &b.mask, train);
    let lp = sequence_logp(&logits, &b.actions, &b.mask);
    let n = idx.len() as i64;
    let logp = logits.log_softmax(-1, Kind::Float);
    let ent = -(logp.exp() * &logp).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
    let ent = (ent * &b.mask).sum(Kind::Float) / b.mask.sum(Kind::Float).clamp_min(1.0);
    (lp.narrow(0, 0, n), lp.narrow(0, n, n), ent)
}

/// π_ref's sequence log-probabilities `(chosen, rejected)` `[n]` of the pairs `idx`, without
/// gradients. A pair's two edits are of the same beats and the reference runs in evaluation
/// mode, so its logits do not depend on the actions: it runs once per pair, on the chosen
/// rows of [`pair_batch`] (not once per edit, as the policy in training must, its dropout
/// differing between the two rows), and both edits are read from the same logits.
fn reference_pair_logps(
    net: &PolicyNet,
    songs: &[Song],
    pairs: &[DpoPair],
    idx: &[usize],
) -> (Tensor, Tensor) {
    let b = pair_batch(songs, pairs, idx, net.vs.device());
    let n = idx.len() as i64;
    let (features, mask) = (b.features.narrow(0, 0, n), b.mask.narrow(0, 0, n));
    tch::no_grad(|| {
        let (logits, _) = net.forward_t(&features, &mask, false);
        (
            sequence_logp(&logits, &b.actions.narrow(0, 0, n), &mask),
            sequence_logp(&logits, &b.actions.narrow(0, n, n), &mask),
        )
    })
}

/// Reference log-probabilities `(chosen, rejected)` of every pair, without gradients.
pub fn reference_logps(net: &PolicyNet, songs: &[Song], pairs: &[DpoPair]) -> (Vec<f32>, Vec<f32>) {
    let (mut w, mut l) = (Vec::new(), Vec::new());
    let idx: Vec<usize> = (0..pairs.len()).collect();
    for chunk in idx.chunks(REFERENCE_CHUNK) {
        let (a, b) = reference_pair_logps(net, songs, pairs, chunk);
        w.extend(to_vec_f32(&a));
        l.extend(to_vec_f32(&b));
    }
    (w, l)
}

/// A copy of `net` (same config and weights).
pub fn clone_policy(net: &PolicyNet) -> Result<PolicyNet> {
    let mut c = PolicyNet::new(&net.config, net.vs.device())?;
    c.vs.copy(&net.vs)?;
    Ok(c)
}

/// Fine-tunes `policy` (initialised from π_ref) on `pairs` against the reference
/// log-probabilities of `reference`.
pub fn train_dpo(
    policy: &mut PolicyNet,
    reference: &PolicyNet,
    songs: &[Song],
    pairs: &[DpoPair],
    cfg: &DpoConfig,
) -> Result<DpoReport> {
    let start = Instant::now();
    if pairs.is_empty() {
        return Err(TrainError::Data("no decided pairs for DPO".into()));
    }
    crate::augment::check_feature_shift(cfg.feature_shift)?;
    let spread = crate::augment::timbre_spread(songs);
    let shifting = crate::augment::shifts_anything(cfg.feature_shift, &spread);
    // Shifted steps compute the reference on their own input.
    let (rw, rl) = if shifting {
        (Vec::new(), Vec::new())
    } else {
        reference_logps(reference, songs, pairs)
    };
    let mut opt = nn::Adam::default().build(&policy.vs, cfg.lr)?;
    let mut rng = Rng::new(cfg.seed.wrapping_add(11));
    let device = policy.vs.device();
    let mut report = DpoReport {
        pairs: pairs.len(),
        ..Default::default()
    };
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    let mut pos = order.len();
    for step in 0..cfg.steps {
        let mut idx = Vec::with_capacity(cfg.batch_size);
        while idx.len() < cfg.batch_size.max(1).min(pairs.len()) {
            if pos >= order.len() {
                rng.shuffle(&mut order);
                pos = 0;
            }
            idx.push(order[pos]);
            pos += 1;
        }
        let (lw, ll, ent, ref_w, ref_l) = if shifting {
            // The reference sees the same shifted songs as the policy, so the log-ratio
            // compares the two on one input (its unshifted log-probabilities do not apply).
            let drawn: Vec<usize> = idx.iter().map(|&i| pairs[i].song).collect();
            let mut aug = crate::augment::step_rng(cfg.seed, step + 1);
            let seen =
                crate::augment::shifted_songs(songs, &drawn, cfg.feature_shift, &spread, &mut aug);
            let (ref_w, ref_l) = reference_pair_logps(reference, &seen, pairs, &idx);
            let (lw, ll, ent) = forward_pairs(policy, &seen, pairs, &idx, true);
            (lw, ll, ent, ref_w, ref_l)
        } else {
            let (lw, ll, ent) = forward_pairs(policy, songs, pairs, &idx, true);
            let pick = |v: &[f32]| {
                Tensor::from_slice(&idx.iter().map(|&i| v[i]).collect::<Vec<_>>()).to_device(device)
            };
            (lw, ll, ent, pick(&rw), pick(&rl))
        };
        let loss = dpo_loss(cfg.loss, cfg.beta, &lw, &ll, &ref_w, &ref_l);
        let (kl, margin, acc) = tch::no_grad(|| {
            let dw = &lw - &ref_w;
            let dl = &ll - &ref_l;
            let h = &dw - &dl;
            let kl = (dw.mean(Kind::Float) + dl.mean(Kind::Float)).double_value(&[]) / 2.0;
            let margin = (&h * cfg.beta).mean(Kind::Float).double_value(&[]);
            let acc = h
                .gt(0.0)
                .to_kind(Kind::Float)
                .mean(Kind::Float)
                .double_value(&[]);
            (kl, margin, acc)
        });
        if cfg.grad_clip > 0.0 {
            opt.backward_step_clip_norm(&loss, cfg.grad_clip);
        } else {
            opt.backward_step(&loss);
        }
        report.loss.push(loss.double_value(&[]));
        report.kl.push(kl);
        report.entropy.push(ent.double_value(&[]));
        report.margin.push(margin);
        report.reward_accuracy.push(acc);
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}
