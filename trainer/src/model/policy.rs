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

use recut_engine::model::{POLICY_WINDOW_BEATS, PolicyWindow, policy_windows};

use super::batch::{Batch, to_vec_f32};
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

/// Largest policy mix a cycle accepts ([`PolicyNet::scale_fine_tuning`]): the runs in
/// `trainer/MEASUREMENTS.md` measured mixes up to 2.1 times the fine-tuning; far beyond
/// that the policy is no longer near anything that was trained.
pub const MAX_POLICY_MIX: f64 = 3.0;

/// Refuses a policy mix ([`PolicyNet::scale_fine_tuning`]) outside [0, [`MAX_POLICY_MIX`]]:
/// below 0 it would undo the fine-tuning, and far above 1 extrapolate it beyond anything
/// measured.
pub fn check_policy_mix(mix: f64) -> Result<()> {
    if (0.0..=MAX_POLICY_MIX).contains(&mix) {
        Ok(())
    } else {
        Err(TrainError::Config(format!(
            "the policy mix is how many times the fine-tuning's change is kept, in \
             [0, {MAX_POLICY_MIX}]; got {mix}"
        )))
    }
}

/// One beat's features, as the engine stores them.
type Beat = [f32; recut_engine::FEATURE_DIM];

/// Most attention cells per head (rows × beats², padding included) one evaluation pass of
/// [`PolicyNet::song_outputs`] may hold: two full windows, 8.4 M cells, 134 MB per
/// attention tensor at the default 4 heads. Every batch the corpus cycles build (at most
/// 12 songs of at most 660 beats, 5.2 M cells) fits in one pass, as it did before long
/// songs were windowed, so their outputs are unchanged to the bit.
pub const OUTPUT_BATCH_CELLS: usize = 2 * POLICY_WINDOW_BEATS * POLICY_WINDOW_BEATS;

/// A policy's outputs for one song, per beat: action logits (Keep, Cut, Loop) and values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SongOutput {
    pub logits: Vec<[f32; recut_engine::model::N_ACTIONS]>,
    pub values: Vec<f32>,
}

/// Splits `pieces` (song, window), in order, into runs whose padded attention
/// (rows × longest window's beats²) stays within `cells`; a piece larger than that alone
/// makes a run.
fn output_batches(pieces: &[(usize, PolicyWindow)], cells: usize) -> Vec<&[(usize, PolicyWindow)]> {
    let mut runs = Vec::new();
    let (mut start, mut longest) = (0, 0);
    for (k, (_, w)) in pieces.iter().enumerate() {
        let t = longest.max(w.window.len());
        if k > start && (k - start + 1) * t * t > cells {
            runs.push(&pieces[start..k]);
            start = k;
            longest = w.window.len();
        } else {
            longest = t;
        }
    }
    if start < pieces.len() {
        runs.push(&pieces[start..]);
    }
    runs
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

    /// Logits and per-beat values of whole songs as the engine decodes them (evaluation
    /// mode, no gradient): a song longer than [`POLICY_WINDOW_BEATS`] beats runs in the
    /// engine's overlapping windows ([`policy_windows`]), each beat answered by the window
    /// that gives it context on both sides, exactly as `PolicyModel::evaluate` runs the
    /// exported model. So rollouts, evaluations and candidates see the logits the shipped
    /// model will give, and an hour-long song (7200 beats at 120 BPM) costs a few windows
    /// instead of one `[T, T]` attention of 207 MB per head. The windows of all songs run in
    /// padded batches of at most [`OUTPUT_BATCH_CELLS`].
    pub fn song_outputs(&self, songs: &[&[Beat]]) -> Vec<SongOutput> {
        let pieces: Vec<(usize, PolicyWindow)> = songs
            .iter()
            .enumerate()
            .flat_map(|(i, s)| policy_windows(s.len()).into_iter().map(move |w| (i, w)))
            .collect();
        let mut out: Vec<SongOutput> = songs
            .iter()
            .map(|s| SongOutput {
                logits: Vec::with_capacity(s.len()),
                values: Vec::with_capacity(s.len()),
            })
            .collect();
        for group in output_batches(&pieces, OUTPUT_BATCH_CELLS) {
            let items: Vec<&[Beat]> = group
                .iter()
                .map(|(i, w)| &songs[*i][w.window.clone()])
                .collect();
            for ((i, w), part) in group.iter().zip(self.batch_outputs(&items)) {
                out[*i]
                    .logits
                    .extend_from_slice(&part.logits[w.answer_rows()]);
                out[*i]
                    .values
                    .extend_from_slice(&part.values[w.answer_rows()]);
            }
        }
        out
    }

    /// Logits and per-beat values of each item whole, in one padded batch (evaluation
    /// mode, no gradient): what the PPO update's own pass sees of its windows. Memory grows
    /// with items × the longest item's beats²; [`Self::song_outputs`] windows long songs.
    pub fn batch_outputs(&self, items: &[&[Beat]]) -> Vec<SongOutput> {
        tch::no_grad(|| {
            let packed: Vec<(&[Beat], &[u8])> = items.iter().map(|s| (*s, &[][..])).collect();
            let b = Batch::new(&packed, self.vs.device());
            let (logits, values) = self.forward_values(&b.features, &b.mask, false);
            let t = b.mask.size()[1] as usize;
            let (l, v) = (to_vec_f32(&logits), to_vec_f32(&values));
            items
                .iter()
                .enumerate()
                .map(|(i, s)| SongOutput {
                    logits: (0..s.len())
                        .map(|k| {
                            let at = (i * t + k) * N_ACTIONS as usize;
                            [l[at], l[at + 1], l[at + 2]]
                        })
                        .collect(),
                    values: v[i * t..i * t + s.len()].to_vec(),
                })
                .collect()
        })
    }

    /// `recut.architecture`.
    pub fn architecture(&self) -> String {
        self.config.architecture()
    }

    /// Scales the fine-tuning in weight space: every weight becomes
    /// `θ_ref + mix · (θ − θ_ref)`, so `mix = 1` keeps `self`, `mix = 0` gives the
    /// reference back, a mix under 1 interpolates towards the reference (WiSE-FT,
    /// Wortsman et al. 2022) and one above 1 extrapolates the fine-tuning (ExPO, Zheng et
    /// al. 2024).
    ///
    /// Why: a cycle fine-tunes on a few training songs, and how much of what it learned
    /// carries over to songs it never saw depends on how far the weights moved: part of
    /// the way back drops some of the song-specific part, further along the same direction
    /// makes the new policy differ from the reference on more songs. Which share is best
    /// is measured, not assumed (figures at [`crate::cycle::CYCLE_POLICY_MIX`]). Both
    /// networks must have the same shape.
    pub fn scale_fine_tuning(&mut self, reference: &PolicyNet, mix: f64) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(lens: &[usize]) -> Vec<(usize, PolicyWindow)> {
        lens.iter()
            .enumerate()
            .flat_map(|(i, &n)| policy_windows(n).into_iter().map(move |w| (i, w)))
            .collect()
    }

    fn run_lengths(p: &[(usize, PolicyWindow)]) -> Vec<usize> {
        output_batches(p, OUTPUT_BATCH_CELLS)
            .iter()
            .map(|r| r.len())
            .collect()
    }

    #[test]
    fn corpus_sized_batches_stay_whole() {
        // Twelve songs of 660 beats, the corpus's longest: one pass, as before windows.
        assert_eq!(run_lengths(&pieces(&[660; 12])), [12]);
        assert_eq!(run_lengths(&pieces(&[])), Vec::<usize>::new());
    }

    #[test]
    fn long_songs_split_into_passes_within_the_budget() {
        // 5000 beats: 4 windows of 2048 beats, two per pass; a short song rides along.
        let p = pieces(&[300, 5000, 400]);
        assert_eq!(p.len(), 6);
        let runs = output_batches(&p, OUTPUT_BATCH_CELLS);
        assert_eq!(runs.iter().map(|r| r.len()).collect::<Vec<_>>(), [2, 2, 2]);
        for r in &runs {
            let t = r.iter().map(|(_, w)| w.window.len()).max().unwrap_or(0);
            assert!(r.len() * t * t <= OUTPUT_BATCH_CELLS);
        }
        // A budget below one window still runs every piece, one per pass.
        assert_eq!(output_batches(&p, 1).len(), 6);
    }
}
