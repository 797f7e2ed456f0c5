//! tch models: the reward models ([`reward`]) and the policy ([`policy`]), built from the
//! shared pieces here (pre-norm encoder layer with hand-written attention, masked mean
//! pooling) so the ONNX exporter ([`crate::export`]) can mirror exactly the same ops.
//!
//! Conventions every model follows (DESIGN.md "Models"): `features` f32 `[B, T, 125]`,
//! `mask` f32 `[B, T]` (1 = real beat, 0 = padding), `actions` i64 `[B, T]`. Padding beats
//! are excluded from attention (as keys, with a large negative bias) and from pooling;
//! padded query rows compute garbage that nothing reads.

pub mod batch;
pub mod policy;
pub mod reward;
pub mod summary;

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

pub use batch::Batch;
pub use policy::{PolicyConfig, PolicyNet};
pub use reward::{MlpConfig, RewardConfig, RewardModel, RewardNet, TransformerConfig};

/// Features per beat (`recut_engine::FEATURE_DIM`).
pub const FEATURE_DIM: i64 = recut_engine::FEATURE_DIM as i64;
/// Keep, Cut, Loop.
pub const N_ACTIONS: i64 = 3;
/// LayerNorm epsilon (torch's default; the export writes the same).
pub const LN_EPS: f64 = 1e-5;
/// Added to attention scores of padded keys: `(mask - 1) * MASK_BIAS`.
pub const MASK_BIAS: f64 = 1e9;
/// Score range of the reward models (DESIGN.md).
pub const SCORE_CLAMP: f64 = 10.0;

fn ln(p: nn::Path, d: i64) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![d],
        nn::LayerNormConfig {
            eps: LN_EPS,
            ..Default::default()
        },
    )
}

/// One pre-norm transformer encoder layer:
/// `x += Wo·MHA(LN1(x))`, `x += W2·GELU(W1·LN2(x))`.
/// Attention is written out (matmul, scale, additive key mask, softmax, matmul) instead
/// of calling a fused kernel, so the ONNX graph computes the same thing op for op.
#[derive(Debug)]
pub struct EncoderLayer {
    pub ln1: nn::LayerNorm,
    pub q: nn::Linear,
    pub k: nn::Linear,
    pub v: nn::Linear,
    pub o: nn::Linear,
    pub ln2: nn::LayerNorm,
    pub fc1: nn::Linear,
    pub fc2: nn::Linear,
    pub width: i64,
    pub heads: i64,
    pub dropout: f64,
}

impl EncoderLayer {
    /// A layer of width `width` with `heads` heads (must divide `width`) and an MLP of
    /// `mlp_ratio · width` hidden units.
    pub fn new(p: nn::Path, width: i64, heads: i64, mlp_ratio: i64, dropout: f64) -> EncoderLayer {
        assert!(
            heads > 0 && width % heads == 0,
            "{heads} heads do not divide width {width}"
        );
        let lin = |name: &str, i: i64, o: i64| nn::linear(&p / name, i, o, Default::default());
        EncoderLayer {
            ln1: ln(&p / "ln1", width),
            q: lin("q", width, width),
            k: lin("k", width, width),
            v: lin("v", width, width),
            o: lin("o", width, width),
            ln2: ln(&p / "ln2", width),
            fc1: lin("fc1", width, mlp_ratio * width),
            fc2: lin("fc2", mlp_ratio * width, width),
            width,
            heads,
            dropout,
        }
    }

    /// `x` `[B, T, d]`, `key_bias` `[B, 1, 1, T]` (0 for real beats, −1e9 for padding).
    pub fn forward_t(&self, x: &Tensor, key_bias: &Tensor, train: bool) -> Tensor {
        let (b, t, d) = x.size3().expect("encoder input is [B, T, d]");
        let dh = d / self.heads;
        let h = self.ln1.forward(x);
        let split = |y: Tensor| y.view([b, t, self.heads, dh]).permute([0, 2, 1, 3]);
        let q = split(self.q.forward(&h));
        let k = split(self.k.forward(&h));
        let v = split(self.v.forward(&h));
        let scores = q.matmul(&k.transpose(-2, -1)) * (1.0 / (dh as f64).sqrt()) + key_bias;
        let attn = scores.softmax(-1, Kind::Float).dropout(self.dropout, train);
        let ctx = attn
            .matmul(&v)
            .permute([0, 2, 1, 3])
            .contiguous()
            .view([b, t, d]);
        let x = x + self.o.forward(&ctx).dropout(self.dropout, train);
        let h = self
            .fc2
            .forward(&self.fc1.forward(&self.ln2.forward(&x)).gelu("none"));
        x + h.dropout(self.dropout, train)
    }
}

/// `[B, 1, 1, T]` additive attention bias from a `[B, T]` mask: `(mask − 1) · 1e9`.
pub fn key_bias(mask: &Tensor) -> Tensor {
    ((mask - 1.0) * MASK_BIAS).unsqueeze(1).unsqueeze(1)
}

/// Mean of `x` `[B, T, d]` over real beats: `Σ x·mask / max(Σ mask, 1)` → `[B, d]`.
pub fn masked_mean(x: &Tensor, mask: &Tensor) -> Tensor {
    let num = (x * mask.unsqueeze(-1)).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let den = mask
        .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
        .clamp_min(1.0);
    num / den
}
