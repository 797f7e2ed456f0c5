//! The reference policy π_ref by behaviour cloning of the baseline, and the evaluation of
//! one policy against another by a simulated rater.
//!
//! Behaviour cloning: for every song, `plans_per_song` plans are decoded from the baseline
//! logits ([`recut_engine::edit::baseline_logits`]) at target shares in [0.5, 0.9] and
//! temperatures in [0.1, 0.5]; the policy network learns them with a masked per-beat
//! cross-entropy (Adam). Each step draws `batch_size` (song, plan) items and crops each to a
//! window of at most `window` beats at a random offset, which bounds the cost of long
//! songs. The result reproduces the baseline's decisions inside an ONNX-exportable
//! network, the starting point and the KL anchor of DPO ([`crate::dpo`]).
//!
//! Evaluation ([`evaluate`]): for every song, `plans` plans are decoded per policy with the
//! same constraints, temperature and seeds; the rater's utility picks the winner of each
//! (old, new) pair (a tie counts ½).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use recut_engine::edit::{Constraints, baseline_logits, decode};
use recut_engine::{Analysis, FEATURE_DIM};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn, nn::OptimizerConfig};

use crate::error::{Result, TrainError};
use crate::model::{Batch, PolicyNet};
use crate::raters::{Rater, output_beats};
use crate::rng::Rng;

/// An analysed song with its id.
#[derive(Debug, Clone)]
pub struct Song {
    pub id: String,
    pub analysis: Arc<Analysis>,
}

impl Song {
    pub fn new(id: impl Into<String>, analysis: Arc<Analysis>) -> Song {
        Song {
            id: id.into(),
            analysis,
        }
    }

    pub fn features(&self) -> &[[f32; FEATURE_DIM]] {
        &self.analysis.features
    }

    pub fn len(&self) -> usize {
        self.analysis.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every audio file in `dir` (sorted by name, at most `limit`), analysed through the
/// default analysis cache (song id = file stem).
pub fn load_songs(dir: &Path, limit: Option<usize>) -> Result<Vec<Song>> {
    Ok(load_song_files(dir, limit)?
        .into_iter()
        .map(|(_, s)| s)
        .collect())
}

/// `items` split into training and held-out (the last `held_out`), or an error when no item
/// would be left to train on.
pub fn split_held_out<T>(items: &[T], held_out: usize) -> Result<(&[T], &[T])> {
    if items.len() <= held_out {
        return Err(TrainError::Data(format!(
            "{} songs, need more than the {held_out} held out",
            items.len()
        )));
    }
    Ok(items.split_at(items.len() - held_out))
}

/// The audio files of `dir` (or `dir` itself when it is a file; sorted by name, at most
/// `limit`) with their songs, analysed through the default analysis cache.
pub fn load_song_files(dir: &Path, limit: Option<usize>) -> Result<Vec<(PathBuf, Song)>> {
    let mut files = if dir.is_file() {
        vec![dir.to_owned()]
    } else {
        recut_engine::audio::list_audio_files(dir)?
    };
    files.truncate(limit.unwrap_or(usize::MAX));
    if files.is_empty() {
        return Err(TrainError::Data(format!(
            "no audio files in {}",
            dir.display()
        )));
    }
    let cache = recut_engine::analysis::cache::Cache::default_location();
    files
        .into_iter()
        .map(|p| {
            let (a, _) = recut_engine::analysis::cache::analyze_file(
                &p,
                &Default::default(),
                Some(&cache),
                &mut |_| {},
            )?;
            let song = Song::new(recut_engine::candidates::song_id(&p), Arc::new(a));
            Ok((p, song))
        })
        .collect()
}

/// One plan decoded from the baseline: its action codes per beat.
#[derive(Debug, Clone)]
pub struct Demo {
    /// Index into the song list.
    pub song: usize,
    pub actions: Vec<u8>,
    pub share: f64,
    pub temperature: f64,
}

/// `k` plans of `song` decoded from the baseline at random shares in [0.5, 0.9] and
/// temperatures in [0.1, 0.5] (plans the decoder cannot make are skipped).
pub fn baseline_plans(song: &Song, k: usize, rng: &mut Rng) -> Vec<(Vec<u8>, f64, f64)> {
    let a = &song.analysis;
    let logits = baseline_logits(a);
    let mut out = Vec::with_capacity(k);
    for _ in 0..k {
        let share = rng.range(0.5, 0.9);
        let temperature = rng.range(0.1, 0.5);
        let seed = rng.next_u64();
        if let Ok(plan) = decode(
            a,
            &logits,
            &Constraints::new(share * a.duration_s),
            temperature,
            seed,
        ) {
            out.push((plan.action_indices(), share, temperature));
        }
    }
    out
}

/// [`baseline_plans`] for every song.
pub fn baseline_demos(songs: &[Song], k: usize, seed: u64) -> Vec<Demo> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for (i, s) in songs.iter().enumerate() {
        for (actions, share, temperature) in baseline_plans(s, k, &mut rng) {
            out.push(Demo {
                song: i,
                actions,
                share,
                temperature,
            });
        }
    }
    out
}

/// Behaviour-cloning settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BcConfig {
    pub steps: usize,
    /// Plans per step.
    pub batch_size: usize,
    pub lr: f64,
    pub grad_clip: f64,
    /// Longest window of beats an item is cropped to.
    pub window: usize,
    /// Plans sampled per song.
    pub plans_per_song: usize,
    pub seed: u64,
}

impl Default for BcConfig {
    fn default() -> Self {
        BcConfig {
            steps: 300,
            batch_size: 8,
            lr: 1e-3,
            grad_clip: 1.0,
            window: 512,
            plans_per_song: 16,
            seed: 0,
        }
    }
}

/// What behaviour cloning did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BcReport {
    /// Cross-entropy per step.
    pub losses: Vec<f64>,
    pub demos: usize,
    pub seconds: f64,
}

/// A random window of at most `window` beats of `0..n`.
pub fn crop(n: usize, window: usize, rng: &mut Rng) -> std::ops::Range<usize> {
    if n <= window || window == 0 {
        return 0..n;
    }
    let start = rng.below(n - window + 1);
    start..start + window
}

/// Masked mean cross-entropy of `logits` `[B,T,3]` against `actions` `[B,T]`.
pub fn masked_cross_entropy(logits: &Tensor, actions: &Tensor, mask: &Tensor) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    let picked = logp
        .gather(-1, &actions.unsqueeze(-1), false)
        .squeeze_dim(-1);
    -(picked * mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// Trains `net` to reproduce the demos (see the module doc).
pub fn train_bc(
    net: &mut PolicyNet,
    songs: &[Song],
    demos: &[Demo],
    cfg: &BcConfig,
) -> Result<BcReport> {
    let start = Instant::now();
    if demos.is_empty() {
        return Err(TrainError::Data("no demonstrations to clone".into()));
    }
    let mut opt = nn::Adam::default().build(&net.vs, cfg.lr)?;
    let mut rng = Rng::new(cfg.seed.wrapping_add(7));
    let device = net.vs.device();
    let mut losses = Vec::with_capacity(cfg.steps);
    for _ in 0..cfg.steps {
        let mut items = Vec::with_capacity(cfg.batch_size);
        for _ in 0..cfg.batch_size.max(1) {
            let d = &demos[rng.below(demos.len())];
            let f = songs[d.song].features();
            let r = crop(f.len(), cfg.window, &mut rng);
            items.push((&f[r.clone()], &d.actions[r]));
        }
        let b = Batch::new(&items, device);
        let (logits, _) = net.forward_t(&b.features, &b.mask, true);
        let loss = masked_cross_entropy(&logits, &b.actions, &b.mask);
        if cfg.grad_clip > 0.0 {
            opt.backward_step_clip_norm(&loss, cfg.grad_clip);
        } else {
            opt.backward_step(&loss);
        }
        losses.push(loss.double_value(&[]));
    }
    Ok(BcReport {
        losses,
        demos: demos.len(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The policy's logits for a whole song (evaluation mode), windowed as the engine runs the
/// exported model ([`PolicyNet::song_outputs`]).
pub fn policy_logits(net: &PolicyNet, features: &[[f32; FEATURE_DIM]]) -> Vec<[f32; 3]> {
    net.song_outputs(&[features])
        .pop()
        .map(|o| o.logits)
        .unwrap_or_default()
}

/// Per-beat accuracy of the policy's argmax against the demos' actions over the demos
/// given, with two references: the share of Keep beats (the accuracy of always answering
/// Keep) and the accuracy of the per-beat majority action of each song's demos (the best
/// any per-beat predictor can do against these stochastic, length-constrained plans).
pub fn bc_accuracy(net: &PolicyNet, songs: &[Song], demos: &[Demo]) -> (f64, f64) {
    let a = bc_accuracy_full(net, songs, demos);
    (a.accuracy, a.keep_share)
}

/// Figures of [`bc_accuracy_full`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BcAccuracy {
    pub accuracy: f64,
    pub keep_share: f64,
    pub majority_ceiling: f64,
}

/// See [`bc_accuracy`].
pub fn bc_accuracy_full(net: &PolicyNet, songs: &[Song], demos: &[Demo]) -> BcAccuracy {
    let (mut right, mut keep, mut n) = (0usize, 0usize, 0usize);
    let mut cache: Vec<Option<Vec<u8>>> = vec![None; songs.len()];
    let mut counts: Vec<Vec<[usize; 3]>> = songs.iter().map(|s| vec![[0; 3]; s.len()]).collect();
    for d in demos {
        let pred = cache[d.song].get_or_insert_with(|| {
            policy_logits(net, songs[d.song].features())
                .iter()
                .map(argmax3)
                .collect()
        });
        for (i, (p, a)) in pred.iter().zip(&d.actions).enumerate() {
            right += (p == a) as usize;
            keep += (*a == 0) as usize;
            n += 1;
            if let Some(c) = counts[d.song].get_mut(i) {
                c[*a as usize] += 1;
            }
        }
    }
    let best: usize = counts
        .iter()
        .flatten()
        .map(|c| *c.iter().max().unwrap_or(&0))
        .sum();
    let n = n.max(1) as f64;
    BcAccuracy {
        accuracy: right as f64 / n,
        keep_share: keep as f64 / n,
        majority_ceiling: best as f64 / n,
    }
}

fn argmax3(l: &[f32; 3]) -> u8 {
    let mut best = 0;
    for k in 1..3 {
        if l[k] > l[best] {
            best = k;
        }
    }
    best as u8
}

/// Decoding settings of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Target length as a share of the song.
    pub share: f64,
    pub temperature: f64,
    /// Plans per song and policy (seeds shared between the policies).
    pub plans: usize,
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            share: 0.75,
            temperature: 0.3,
            plans: 8,
            seed: 1234,
        }
    }
}

/// Figures of one policy's plans.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanStats {
    /// Mean share of source beats played at least once.
    pub keep_ratio: f64,
    /// Mean duration, seconds.
    pub duration_s: f64,
    /// Mean splices per plan.
    pub splices: f64,
    /// Mean rater utility.
    pub utility: f64,
}

/// Result of [`evaluate`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Share of (old, new) comparisons the new policy wins (ties ½).
    pub win_rate: f64,
    pub comparisons: usize,
    pub ties: usize,
    pub old: PlanStats,
    pub new: PlanStats,
}

/// Which logits a policy gives for a song: a tch network or anything else (the baseline,
/// an ONNX model through `recut_engine::candidates::Policy`).
pub enum Logits<'a> {
    Net(&'a PolicyNet),
    Fn(&'a dyn Fn(&Analysis) -> Result<Vec<[f32; 3]>>),
}

impl Logits<'_> {
    fn of(&self, a: &Analysis) -> Result<Vec<[f32; 3]>> {
        match self {
            Logits::Net(n) => Ok(policy_logits(n, &a.features)),
            Logits::Fn(f) => f(a),
        }
    }
}

/// Compares `new` with `old` on `songs` as judged by `rater`'s utility (see module doc).
pub fn evaluate(
    old: &Logits,
    new: &Logits,
    songs: &[Song],
    rater: &Rater,
    cfg: &EvalConfig,
) -> Result<EvalReport> {
    let mut rng = Rng::new(cfg.seed);
    let mut report = EvalReport::default();
    let (mut wins, mut n) = (0.0, 0usize);
    let mut acc = [PlanStats::default(), PlanStats::default()];
    for s in songs {
        let a = &s.analysis;
        let lo = old.of(a)?;
        let ln = new.of(a)?;
        let c = Constraints::new(cfg.share * a.duration_s);
        for _ in 0..cfg.plans {
            let seed = rng.next_u64();
            let (Ok(po), Ok(pn)) = (
                decode(a, &lo, &c, cfg.temperature, seed),
                decode(a, &ln, &c, cfg.temperature, seed),
            ) else {
                continue;
            };
            let mut u = [0.0; 2];
            for (k, p) in [&po, &pn].into_iter().enumerate() {
                let acts = p.action_indices();
                u[k] = rater.utility(&a.features, &acts);
                let played = {
                    let mut o = output_beats(&acts);
                    o.dedup();
                    o.len()
                };
                acc[k].keep_ratio += played as f64 / acts.len().max(1) as f64;
                acc[k].duration_s += p.duration_s();
                acc[k].splices += p.splice_count() as f64;
                acc[k].utility += u[k];
            }
            if (u[1] - u[0]).abs() < 1e-9 {
                wins += 0.5;
                report.ties += 1;
            } else if u[1] > u[0] {
                wins += 1.0;
            }
            n += 1;
        }
    }
    let d = n.max(1) as f64;
    for s in &mut acc {
        s.keep_ratio /= d;
        s.duration_s /= d;
        s.splices /= d;
        s.utility /= d;
    }
    let [o, nw] = acc;
    report.old = o;
    report.new = nw;
    report.comparisons = n;
    report.win_rate = if n == 0 { 0.5 } else { wins / d };
    Ok(report)
}
