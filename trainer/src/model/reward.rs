//! The reward models: a score in [-10, 10] for an edit (one action per beat) of a song.
//!
//! * [`RewardTransformer`] (the seed's architecture): per beat, `Linear(125 → d)(features)
//!   + Embedding(3 → d)(action)`; `layers` pre-norm encoder layers with key-padding-masked
//!   multi-head self-attention and a GELU MLP; a final LayerNorm; masked mean pooling;
//!   `Linear(d → 1)`; clamp to [-10, 10]. Defaults are the seed's: 3 layers, 4 heads, width
//!   256.
//! * [`RewardMlp`]: an MLP over the 43-number edit descriptor of [`super::summary`] (what
//!   is played, how it is cut, where the cuts fall, how the splices sound), normalised by
//!   the training data → `hidden` (64) → GELU → score, clamped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use super::summary::{SUMMARY_DIM, edit_summary};
use super::{EncoderLayer, FEATURE_DIM, N_ACTIONS, SCORE_CLAMP, key_bias, ln, masked_mean};
use crate::error::{Result, TrainError};
use crate::json::{read_json, write_json};

/// Transformer reward model shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    pub layers: i64,
    pub heads: i64,
    pub width: i64,
    /// MLP hidden units per layer = `mlp_ratio · width`.
    pub mlp_ratio: i64,
    /// Dropout on attention weights and residual branches while training.
    pub dropout: f64,
}

impl Default for TransformerConfig {
    /// The seed's: 3 layers, 4 heads, width 256.
    fn default() -> Self {
        TransformerConfig {
            layers: 3,
            heads: 4,
            width: 256,
            mlp_ratio: 4,
            dropout: 0.1,
        }
    }
}

impl TransformerConfig {
    /// The tiny shape the tests use: 1 layer, 2 heads, width 16.
    pub fn tiny() -> Self {
        TransformerConfig {
            layers: 1,
            heads: 2,
            width: 16,
            mlp_ratio: 2,
            dropout: 0.0,
        }
    }
}

/// Summary-MLP reward model shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    pub hidden: i64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig { hidden: 64 }
    }
}

/// Which reward architecture, with its shape (saved beside checkpoints as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "snake_case")]
pub enum RewardConfig {
    Transformer(TransformerConfig),
    Mlp(MlpConfig),
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig::Transformer(TransformerConfig::default())
    }
}

impl RewardConfig {
    /// `recut.architecture`: `reward-transformer-3x256h4`, `reward-mlp-16`.
    pub fn architecture(&self) -> String {
        match self {
            RewardConfig::Transformer(c) => {
                format!("reward-transformer-{}x{}h{}", c.layers, c.width, c.heads)
            }
            RewardConfig::Mlp(c) => format!("reward-mlp-{}", c.hidden),
        }
    }

    fn validate(&self) -> Result<()> {
        match self {
            RewardConfig::Transformer(c) => {
                if c.layers < 0
                    || c.width <= 0
                    || c.heads <= 0
                    || c.width % c.heads != 0
                    || c.mlp_ratio <= 0
                {
                    return Err(TrainError::Config(format!(
                        "transformer needs layers ≥ 0, width > 0 and heads dividing width; got {c:?}"
                    )));
                }
            }
            RewardConfig::Mlp(c) => {
                if c.hidden <= 0 {
                    return Err(TrainError::Config(format!(
                        "mlp needs hidden > 0; got {c:?}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The seed's transformer reward model.
#[derive(Debug)]
pub struct RewardTransformer {
    pub input: nn::Linear,
    pub action_emb: nn::Embedding,
    pub layers: Vec<EncoderLayer>,
    pub ln_f: nn::LayerNorm,
    pub head: nn::Linear,
    pub config: TransformerConfig,
}

impl RewardTransformer {
    pub fn new(p: nn::Path, c: &TransformerConfig) -> RewardTransformer {
        let d = c.width;
        RewardTransformer {
            input: nn::linear(&p / "input", FEATURE_DIM, d, Default::default()),
            action_emb: nn::embedding(
                &p / "action_emb",
                N_ACTIONS,
                d,
                nn::EmbeddingConfig {
                    ws_init: nn::Init::Randn {
                        mean: 0.0,
                        stdev: 0.02,
                    },
                    ..Default::default()
                },
            ),
            layers: (0..c.layers)
                .map(|i| EncoderLayer::new(&p / "layers" / i, d, c.heads, c.mlp_ratio, c.dropout))
                .collect(),
            ln_f: ln(&p / "ln_f", d),
            head: nn::linear(&p / "head", d, 1, Default::default()),
            config: c.clone(),
        }
    }

    pub fn forward_t(
        &self,
        features: &Tensor,
        actions: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> Tensor {
        let mut x = self.input.forward(features) + self.action_emb.forward(actions);
        let bias = key_bias(mask);
        for layer in &self.layers {
            x = layer.forward_t(&x, &bias, train);
        }
        let pooled = masked_mean(&self.ln_f.forward(&x), mask);
        self.head
            .forward(&pooled)
            .squeeze_dim(-1)
            .clamp(-SCORE_CLAMP, SCORE_CLAMP)
    }
}

/// The edit-descriptor MLP reward model: `(summary − shift) · scale` → `Linear(43 →
/// hidden)` → GELU → `Linear(hidden → 1)` → clamp. `shift` and `scale` are not trained:
/// they are the training pairs' descriptor mean and 1 / the standard deviation of the
/// descriptor's difference between a pair's two edits, fitted once before the first step
/// ([`RewardMlp::fit_normalisation`]) so that every input is of unit scale whatever its
/// unit (shares, counts per 32 beats, dB differences); `fitted` records that, so a
/// fine-tuned model keeps its parent's.
///
/// Why the within-pair spread and not the spread of the descriptors themselves: the
/// Bradley–Terry loss only sees score differences between two edits of one song, and an
/// entry can vary a lot between songs but little between two edits of the same song. The
/// played-minus-song loudness (`energetic`'s whole taste) is such an entry: scaled by its
/// overall spread it needed weights the weight decay and the group lasso held down, and
/// on the 200 ratings of `energetic` cycles (seeds 0, 1, 2) the model reached 0.54 / 0.54
/// / 0.60 validation accuracy; scaled by its within-pair spread (floored at
/// [`MIN_PAIR_SPREAD_SHARE`] of the overall one), 0.84 / 0.90 / 0.64, with the other
/// tastes within ±4 points.
#[derive(Debug)]
pub struct RewardMlp {
    pub shift: Tensor,
    pub scale: Tensor,
    pub fitted: Tensor,
    pub fc1: nn::Linear,
    pub fc2: nn::Linear,
    pub config: MlpConfig,
}

/// Smallest column norm [`RewardMlp::shrink_inputs`] divides by (a column already at 0
/// stays there).
const EPS_NORM: f64 = 1e-12;

/// L2 norm of each column of `w` (`[out, in]` → `[in]`, or `[1, in]` with `keepdim`): the
/// size of each descriptor entry's input weights, which the group lasso shrinks.
fn column_norms(w: &Tensor, keepdim: bool) -> Tensor {
    w.square()
        .sum_dim_intlist([0i64].as_slice(), keepdim, Kind::Float)
        .sqrt()
}

/// Smallest standard deviation a descriptor entry is divided by (entries that never vary
/// in the training data stay near zero instead of exploding).
pub const MIN_STD: f64 = 1e-3;

/// Smallest within-pair spread an entry is divided by, as a share of its overall spread.
/// Entries that vary between songs but hardly ever between two edits of one song (the
/// played beats' mean beat-in-bar position, 0.01 of its overall spread on bar-level edits)
/// would otherwise be scaled up a hundredfold, and a policy that moved them slightly would
/// read the reward model far outside what it was trained on. At 0.25 `energetic`'s
/// loudness entry (0.13–0.18 of its overall spread) still gets 4× the scale it had: on the
/// three `energetic` cycles' ratings validation accuracy was 0.84 / 0.90 / 0.64 at 0.25,
/// 0.88 / 0.94 / 0.66 with no floor and 0.52 / 0.62 / 0.60 at 1.
pub const MIN_PAIR_SPREAD_SHARE: f64 = 0.25;

impl RewardMlp {
    pub fn new(p: nn::Path, c: &MlpConfig) -> RewardMlp {
        RewardMlp {
            shift: p.zeros_no_train("shift", &[SUMMARY_DIM]),
            scale: p.ones_no_train("scale", &[SUMMARY_DIM]),
            fitted: p.zeros_no_train("fitted", &[1]),
            fc1: nn::linear(&p / "fc1", SUMMARY_DIM, c.hidden, Default::default()),
            fc2: nn::linear(&p / "fc2", c.hidden, 1, Default::default()),
            config: c.clone(),
        }
    }

    /// Whether [`Self::fit_normalisation`] has run (on this model or the one it was
    /// fine-tuned from).
    pub fn is_fitted(&self) -> bool {
        self.fitted.double_value(&[0]) > 0.5
    }

    /// Sets `shift` to the mean of `summaries` `[N, SUMMARY_DIM]` and `scale` to 1/std of
    /// `spread` `[M, SUMMARY_DIM]` (training uses the differences between the two edits
    /// of each pair; see the type's doc), but at least [`MIN_PAIR_SPREAD_SHARE`] of the
    /// std of `summaries`.
    pub fn fit_normalisation(&mut self, summaries: &Tensor, spread: &Tensor) {
        tch::no_grad(|| {
            let mean = summaries.mean_dim([0i64].as_slice(), false, Kind::Float);
            let level = summaries.std_dim([0i64].as_slice(), false, false);
            let std = spread
                .std_dim([0i64].as_slice(), false, false)
                .maximum(&(level * MIN_PAIR_SPREAD_SHARE))
                .clamp_min(MIN_STD);
            self.shift.copy_(&mean);
            self.scale.copy_(&std.reciprocal());
            let _ = self.fitted.fill_(1.0);
        });
    }

    /// L2 norm of each descriptor entry's input weights (the columns of `fc1`),
    /// `SUMMARY_DIM` numbers: 0 for an entry the model does not use.
    pub fn input_norms(&self) -> Vec<f64> {
        let norms = tch::no_grad(|| column_norms(&self.fc1.ws, false));
        crate::model::batch::to_vec_f32(&norms)
            .into_iter()
            .map(f64::from)
            .collect()
    }

    /// Group-lasso proximal step: shrinks every descriptor entry's input-weight column
    /// by `amount` (its L2 norm), to exactly 0 when the column is smaller. Applied after
    /// each optimiser step with `amount = lr · λ`, it minimises the loss plus
    /// `λ · Σ_j ‖fc1[:, j]‖`, so entries the ratings do not need drop out of the model
    /// altogether rather than only shrinking as under weight decay.
    pub fn shrink_inputs(&mut self, amount: f64) {
        if amount <= 0.0 {
            return;
        }
        tch::no_grad(|| {
            let mut w = self.fc1.ws.shallow_clone();
            let norms = column_norms(&w, true).clamp_min(EPS_NORM);
            // (‖w‖ − amount)₊ / ‖w‖ rather than 1 − amount / ‖w‖: a column whose norm
            // equals the step ends at exactly 0 instead of a rounding error away from it.
            let factor = (&norms - amount).clamp_min(0.0) / &norms;
            let shrunk = &w * factor;
            w.copy_(&shrunk);
        });
    }

    pub fn forward_t(
        &self,
        features: &Tensor,
        actions: &Tensor,
        mask: &Tensor,
        _train: bool,
    ) -> Tensor {
        self.forward_summary(&edit_summary(features, actions, mask))
    }

    /// Scores `[B]` of descriptors `[B, SUMMARY_DIM]` (what [`Self::forward_t`] computes
    /// after the descriptor; training caches the descriptors).
    pub fn forward_summary(&self, summary: &Tensor) -> Tensor {
        let s = (summary - &self.shift) * &self.scale;
        self.fc2
            .forward(&self.fc1.forward(&s).gelu("none"))
            .squeeze_dim(-1)
            .clamp(-SCORE_CLAMP, SCORE_CLAMP)
    }
}

/// Either reward architecture.
#[derive(Debug)]
pub enum RewardNet {
    Transformer(Box<RewardTransformer>),
    Mlp(RewardMlp),
}

/// A reward model: its variables, its network and its config.
pub struct RewardModel {
    pub vs: nn::VarStore,
    pub net: RewardNet,
    pub config: RewardConfig,
    /// The version this model was saved or exported as (set by training / the CLI; becomes
    /// `recut.parent` of a model fine-tuned from it).
    pub model_version: Option<String>,
}

/// What [`RewardModel::save`] writes beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RewardSidecar {
    config: RewardConfig,
    model_version: Option<String>,
}

impl std::fmt::Debug for RewardModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewardModel")
            .field("config", &self.config)
            .finish()
    }
}

impl RewardModel {
    /// A freshly initialised model (seed libtorch with `tch::manual_seed` first for
    /// reproducible weights).
    pub fn new(config: &RewardConfig, device: Device) -> Result<RewardModel> {
        config.validate()?;
        let vs = nn::VarStore::new(device);
        let root = vs.root() / "reward";
        let net = match config {
            RewardConfig::Transformer(c) => {
                RewardNet::Transformer(Box::new(RewardTransformer::new(root, c)))
            }
            RewardConfig::Mlp(c) => RewardNet::Mlp(RewardMlp::new(root, c)),
        };
        Ok(RewardModel {
            vs,
            net,
            config: config.clone(),
            model_version: None,
        })
    }

    /// Scores `[B]` for `features` `[B,T,125]`, `actions` i64 `[B,T]`, `mask` `[B,T]`.
    pub fn forward_t(
        &self,
        features: &Tensor,
        actions: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> Tensor {
        match &self.net {
            RewardNet::Transformer(m) => m.forward_t(features, actions, mask, train),
            RewardNet::Mlp(m) => m.forward_t(features, actions, mask, train),
        }
    }

    /// Evaluation-mode scores of a [`super::Batch`] (no gradient).
    pub fn score(&self, batch: &super::Batch) -> Tensor {
        tch::no_grad(|| self.forward_t(&batch.features, &batch.actions, &batch.mask, false))
    }

    /// `recut.architecture`.
    pub fn architecture(&self) -> String {
        self.config.architecture()
    }

    /// Number of trainable parameters.
    pub fn n_params(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    }

    /// Saves the weights to `path` (a tch VarStore file, `.safetensors` or `.ot`) and the
    /// config and model version beside it (`path` + `.json`), so [`Self::load`] can rebuild the model.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| TrainError::Io {
                path: dir.to_owned(),
                source: e,
            })?;
        }
        self.vs.save(path)?;
        write_json(
            &config_path(path),
            &RewardSidecar {
                config: self.config.clone(),
                model_version: self.model_version.clone(),
            },
        )
    }

    /// Loads a model saved by [`Self::save`].
    pub fn load(path: &Path, device: Device) -> Result<RewardModel> {
        let side: RewardSidecar = read_json(&config_path(path))?;
        let mut m = RewardModel::new(&side.config, device)?;
        m.vs.load(path)?;
        m.model_version = side.model_version;
        Ok(m)
    }
}

/// One summary MLP that scores what the mean of `members` scores (before the
/// [`SCORE_CLAMP`]): their hidden units side by side (`hidden` = the members' sum), the
/// output weights divided by their number and the output biases averaged. The members
/// must share their input normalisation ([`RewardMlp::fit_normalisation`], fitted once
/// for all of them), which the merged model keeps. Exact, and the merged model is an
/// ordinary `reward-mlp-<hidden>` that saves, loads and exports as any other.
pub fn merge_mlps(members: &[RewardModel], device: Device) -> Result<RewardModel> {
    let mlps: Vec<&RewardMlp> = members
        .iter()
        .filter_map(|m| match &m.net {
            RewardNet::Mlp(mlp) => Some(mlp),
            RewardNet::Transformer(_) => None,
        })
        .collect();
    let Some(first) = mlps.first() else {
        return Err(TrainError::Config(
            "an ensemble needs at least one summary-MLP member".into(),
        ));
    };
    if mlps.len() != members.len() {
        return Err(TrainError::Config(
            "only summary-MLP reward models can be merged into one".into(),
        ));
    }
    let hidden = mlps.iter().map(|m| m.config.hidden).sum();
    let mut merged = RewardModel::new(&RewardConfig::Mlp(MlpConfig { hidden }), device)?;
    let k = mlps.len() as f64;
    let RewardNet::Mlp(out) = &mut merged.net else {
        return Err(TrainError::Config(
            "the merged model is not a summary MLP".into(),
        ));
    };
    tch::no_grad(|| {
        let cat = |f: fn(&RewardMlp) -> &Tensor, dim: i64| {
            Tensor::cat(&mlps.iter().map(|m| f(m)).collect::<Vec<_>>(), dim)
        };
        out.shift.copy_(&first.shift);
        out.scale.copy_(&first.scale);
        out.fitted.copy_(&first.fitted);
        out.fc1.ws.copy_(&cat(|m| &m.fc1.ws, 0));
        if let Some(b) = out.fc1.bs.as_mut() {
            b.copy_(&Tensor::cat(
                &mlps
                    .iter()
                    .map(|m| match &m.fc1.bs {
                        Some(b) => b.shallow_clone(),
                        None => Tensor::zeros([m.config.hidden], (Kind::Float, device)),
                    })
                    .collect::<Vec<_>>(),
                0,
            ));
        }
        out.fc2.ws.copy_(&(cat(|m| &m.fc2.ws, 1) / k));
        if let Some(b) = out.fc2.bs.as_mut() {
            let sum = mlps
                .iter()
                .filter_map(|m| m.fc2.bs.as_ref())
                .fold(Tensor::zeros([1], (Kind::Float, device)), |acc, b| acc + b);
            b.copy_(&(sum / k));
        }
    });
    Ok(merged)
}

/// The config sidecar of a checkpoint: `reward.safetensors` → `reward.safetensors.json`.
pub fn config_path(checkpoint: &Path) -> PathBuf {
    let mut s = checkpoint.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}
