//! The policy: a per-beat actor over the beat sequence with a value head.
//!
//! `GELU(Linear(125 → d)(features))` → `layers` pre-norm encoder layers (the same layer as
//! the reward transformer, masked self-attention over the song's beats, so every beat's
//! action sees its context) → LayerNorm → `logits = Linear(d → 3)` per beat and
//! `value = Linear(d → 1)(masked mean)`. No positional table: position comes from the
//! features, so any `T` works. Exports to `policy.onnx` op for op ([`crate::export`]).

use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Tensor};

use super::reward::config_path;
use super::{EncoderLayer, FEATURE_DIM, N_ACTIONS, key_bias, ln, masked_mean};
use crate::error::{Result, TrainError};
use crate::json::{read_json, write_json};

/// Policy shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyConfig {
    pub layers: i64,
    pub heads: i64,
    pub width: i64,
    pub mlp_ratio: i64,
    pub dropout: f64,
}

impl Default for PolicyConfig {
    /// 2 layers, 4 heads, width 128.
    fn default() -> Self {
        PolicyConfig {
            layers: 2,
            heads: 4,
            width: 128,
            mlp_ratio: 4,
            dropout: 0.1,
        }
    }
}

impl PolicyConfig {
    /// The tiny shape tests use: 1 layer, 2 heads, width 16.
    pub fn tiny() -> Self {
        PolicyConfig {
            layers: 1,
            heads: 2,
            width: 16,
            mlp_ratio: 2,
            dropout: 0.0,
        }
    }

    /// `recut.architecture`: `policy-transformer-2x128h4`.
    pub fn architecture(&self) -> String {
        format!(
            "policy-transformer-{}x{}h{}",
            self.layers, self.width, self.heads
        )
    }
}

/// Refuses a policy mix ([`PolicyNet::interpolate_towards`]) outside [0, 1]: below 0 it
/// would undo the fine-tuning, above 1 extrapolate it, and neither was measured.
pub fn check_policy_mix(mix: f64) -> Result<()> {
    if (0.0..=1.0).contains(&mix) {
        Ok(())
    } else {
        Err(TrainError::Config(format!(
            "the policy mix is the share of the fine-tuning kept, in [0, 1]; got {mix}"
        )))
    }
}

/// The policy network with its variables.
pub struct PolicyNet {
    pub vs: nn::VarStore,
    pub input: nn::Linear,
    pub layers: Vec<EncoderLayer>,
    pub ln_f: nn::LayerNorm,
    pub logits_head: nn::Linear,
    pub value_head: nn::Linear,
    pub config: PolicyConfig,
}

impl std::fmt::Debug for PolicyNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyNet")
            .field("config", &self.config)
            .finish()
    }
}

impl PolicyNet {
    pub fn new(c: &PolicyConfig, device: Device) -> Result<PolicyNet> {
        if c.layers < 0
            || c.width <= 0
            || c.heads <= 0
            || c.width % c.heads != 0
            || c.mlp_ratio <= 0
        {
            return Err(TrainError::Config(format!(
                "policy needs width > 0 and heads dividing width; got {c:?}"
            )));
        }
        let vs = nn::VarStore::new(device);
        let p = vs.root() / "policy";
        let d = c.width;
        let input = nn::linear(&p / "input", FEATURE_DIM, d, Default::default());
        let layers = (0..c.layers)
            .map(|i| EncoderLayer::new(&p / "layers" / i, d, c.heads, c.mlp_ratio, c.dropout))
            .collect();
        let ln_f = ln(&p / "ln_f", d);
        let logits_head = nn::linear(&p / "logits", d, N_ACTIONS, Default::default());
        let value_head = nn::linear(&p / "value", d, 1, Default::default());
        Ok(PolicyNet {
            vs,
            input,
            layers,
            ln_f,
            logits_head,
            value_head,
            config: c.clone(),
        })
    }

    /// `(logits [B, T, 3], value [B])`.
    pub fn forward_t(&self, features: &Tensor, mask: &Tensor, train: bool) -> (Tensor, Tensor) {
        let h = self.hidden(features, mask, train);
        let logits = self.logits_head.forward(&h);
        let value = self
            .value_head
            .forward(&masked_mean(&h, mask))
            .squeeze_dim(-1);
        (logits, value)
    }

    /// `(logits [B, T, 3], per-beat values [B, T])` for PPO: the value head applied to every
    /// beat's hidden state. Because the head is linear, the masked mean of these per-beat
    /// values is exactly the `value [B]` of [`Self::forward_t`] (the exported ONNX output),
    /// so training per-beat values trains the exported one and the ONNX contract is
    /// unchanged. Values of padded beats are garbage that nothing should read.
    pub fn forward_values(
        &self,
        features: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> (Tensor, Tensor) {
        let h = self.hidden(features, mask, train);
        let logits = self.logits_head.forward(&h);
        let values = self.value_head.forward(&h).squeeze_dim(-1);
        (logits, values)
    }

    /// The final hidden states `[B, T, d]` both heads read.
    fn hidden(&self, features: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let mut x = self.input.forward(features).gelu("none");
        let bias = key_bias(mask);
        for layer in &self.layers {
            x = layer.forward_t(&x, &bias, train);
        }
        self.ln_f.forward(&x)
    }

    /// `recut.architecture`.
    pub fn architecture(&self) -> String {
        self.config.architecture()
    }

    /// Weight-space interpolation towards `reference` (WiSE-FT, Wortsman et al. 2022):
    /// every weight becomes `θ_ref + mix · (θ − θ_ref)`, so `mix = 1` keeps `self` and
    /// `mix = 0` gives the reference back.
    ///
    /// Why: a policy fine-tuned on a cycle's few training songs fits them more closely
    /// than the reference did, and on songs it never saw some of what it learned turns
    /// against it, even by its own reward model. Part of the way between the two networks keeps
    /// the direction of the fine-tuning and drops much of the song-specific part (figures at
    /// [`crate::cycle::CYCLE_POLICY_MIX`]). Both networks must have the same shape.
    pub fn interpolate_towards(&mut self, reference: &PolicyNet, mix: f64) -> Result<()> {
        check_policy_mix(mix)?;
        if self.config != reference.config {
            return Err(TrainError::Config(format!(
                "cannot interpolate a {} policy towards a {} one",
                self.architecture(),
                reference.architecture()
            )));
        }
        let reference_vars = reference.vs.variables();
        tch::no_grad(|| {
            for (name, mut weight) in self.vs.variables() {
                let r = reference_vars.get(&name).ok_or_else(|| {
                    TrainError::Config(format!("the reference policy has no weight `{name}`"))
                })?;
                let mixed = r * (1.0 - mix) + &weight * mix;
                weight.f_copy_(&mixed)?;
            }
            Ok(())
        })
    }

    /// Saves weights and the config sidecar (see [`super::RewardModel::save`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| TrainError::Io {
                path: dir.to_owned(),
                source: e,
            })?;
        }
        self.vs.save(path)?;
        write_json(&config_path(path), &self.config)
    }

    /// Loads a policy saved by [`Self::save`].
    pub fn load(path: &Path, device: Device) -> Result<PolicyNet> {
        let config: PolicyConfig = read_json(&config_path(path))?;
        let mut m = PolicyNet::new(&config, device)?;
        m.vs.load(path)?;
        Ok(m)
    }
}
