//! ONNX export of the tch models through the engine's [`GraphBuilder`], op for op the same
//! computation as the tch forward pass in evaluation mode (dropout off), per DESIGN.md's
//! contracts: reward `features` f32 `[B,T,125]`, `actions` i64 `[B,T]`, `mask` f32 `[B,T]`
//! → `score` f32 `[B]` (clamped to [-10, 10]); policy `features`, `mask` → `logits` f32
//! `[B,T,3]`, `value` f32 `[B]`. Opset 17, `recut.*` metadata.
//!
//! Weights are copied out of the VarStore tensors (`Linear` weights transposed to
//! `[in, out]`, as `MatMul` wants them).

use std::path::Path;

use recut_engine::model::onnx::proto::ModelProto;
use recut_engine::model::onnx::{Dim, ElemType, GraphBuilder, Metadata, ModelKind, OnnxModelExt};
use tch::nn;

use crate::error::Result;
use crate::model::batch::to_vec_f32;
use crate::model::reward::{RewardMlp, RewardTransformer};
use crate::model::{
    EncoderLayer, FEATURE_DIM, LN_EPS, MASK_BIAS, N_ACTIONS, PolicyNet, RewardModel, RewardNet,
    SCORE_CLAMP,
};

/// What to write into `recut.*` besides kind, features version and architecture.
#[derive(Debug, Clone, Default)]
pub struct ExportInfo {
    /// `recut.model_version` (defaults to `<architecture>-<created>` when empty).
    pub model_version: String,
    /// `recut.parent`.
    pub parent: Option<String>,
    /// `recut.trained_on` (`none` when empty).
    pub trained_on: String,
    /// `recut.created` (now when empty).
    pub created: String,
}

impl ExportInfo {
    fn metadata(&self, kind: ModelKind, architecture: String) -> Metadata {
        let created = if self.created.is_empty() {
            recut_engine::model::onnx::now_rfc3339()
        } else {
            self.created.clone()
        };
        let version = if self.model_version.is_empty() {
            format!("{architecture}-{created}")
        } else {
            self.model_version.clone()
        };
        let mut m = Metadata::new(kind, version);
        m.parent = self.parent.clone();
        m.trained_on = if self.trained_on.is_empty() {
            "none".into()
        } else {
            self.trained_on.clone()
        };
        m.created = created;
        m.architecture = architecture;
        m
    }
}

/// A [`GraphBuilder`] plus the tch → ONNX building blocks.
struct Writer {
    g: GraphBuilder,
}

impl Writer {
    fn weight(&mut self, name: &str, t: &tch::Tensor) -> String {
        let shape = t.size();
        self.g.initializer(name, &shape, &to_vec_f32(t))
    }

    /// `x @ Wᵀ + b` for a tch `Linear` (weight `[out, in]`).
    fn linear(&mut self, x: &str, l: &nn::Linear, name: &str) -> String {
        let w = self.weight(&format!("{name}.weight_t"), &l.ws.tr());
        let b =
            l.bs.as_ref()
                .map(|b| self.weight(&format!("{name}.bias"), b));
        self.g.linear(x, &w, b.as_deref())
    }

    fn layer_norm(&mut self, x: &str, l: &nn::LayerNorm, name: &str) -> String {
        let scale = self.weight(
            &format!("{name}.weight"),
            l.ws.as_ref().expect("affine LayerNorm"),
        );
        let bias =
            l.bs.as_ref()
                .map(|b| self.weight(&format!("{name}.bias"), b));
        self.g
            .layer_norm(x, &scale, bias.as_deref(), -1, LN_EPS as f32)
    }

    /// `[B,1,1,T]` attention bias `(mask − 1) · 1e9`.
    fn key_bias(&mut self, mask: &str) -> String {
        let one = self.g.scalar_f32(1.0);
        let big = self.g.scalar_f32(MASK_BIAS as f32);
        let m1 = self.g.sub(mask, &one);
        let b = self.g.mul(&m1, &big);
        self.g.unsqueeze(&b, &[1, 2])
    }

    /// `Σ_t x·mask / max(Σ_t mask, 1)`: `[B,T,d]`, `[B,T]` → `[B,d]`.
    fn masked_mean(&mut self, x: &str, mask: &str) -> String {
        let m = self.g.unsqueeze(mask, &[2]);
        let xm = self.g.mul(x, &m);
        let num = self.g.reduce_sum(&xm, &[1], false);
        let den = self.total(mask);
        self.g.div(&num, &den)
    }

    /// `max(Σ_t mask, 1)` `[B,1]`.
    fn total(&mut self, mask: &str) -> String {
        let s = self.g.reduce_sum(mask, &[1], true);
        let one = self.g.scalar_f32(1.0);
        self.g.max(&s, &one)
    }

    fn encoder_layer(&mut self, x: &str, bias: &str, l: &EncoderLayer, name: &str) -> String {
        let (d, h) = (l.width, l.heads);
        let dh = d / h;
        let n = self.layer_norm(x, &l.ln1, &format!("{name}.ln1"));
        let heads = |g: &mut Self, lin: &nn::Linear, part: &str, perm: &[i64]| {
            let y = g.linear(&n, lin, &format!("{name}.{part}"));
            let y = g.g.reshape(&y, &[0, 0, h, dh]);
            g.g.transpose(&y, perm)
        };
        let q = heads(self, &l.q, "q", &[0, 2, 1, 3]);
        let k = heads(self, &l.k, "k", &[0, 2, 3, 1]);
        let v = heads(self, &l.v, "v", &[0, 2, 1, 3]);
        let s = self.g.matmul(&q, &k);
        let scale = self.g.scalar_f32((1.0 / (dh as f64).sqrt()) as f32);
        let s = self.g.mul(&s, &scale);
        let s = self.g.add(&s, bias);
        let a = self.g.softmax(&s, -1);
        let c = self.g.matmul(&a, &v);
        let c = self.g.transpose(&c, &[0, 2, 1, 3]);
        let c = self.g.reshape(&c, &[0, 0, d]);
        let o = self.linear(&c, &l.o, &format!("{name}.o"));
        let x = self.g.add(x, &o);
        let n2 = self.layer_norm(&x, &l.ln2, &format!("{name}.ln2"));
        let f = self.linear(&n2, &l.fc1, &format!("{name}.fc1"));
        let f = self.g.gelu(&f);
        let f = self.linear(&f, &l.fc2, &format!("{name}.fc2"));
        self.g.add(&x, &f)
    }

    /// `[B,1]` → `[B]`, clamped to [-10, 10], written as `score`.
    fn score_output(&mut self, s: &str) {
        let s = self.g.squeeze(s, &[-1]);
        let s = self.g.clip(&s, -SCORE_CLAMP as f32, SCORE_CLAMP as f32);
        self.g.identity_as(&s, "score");
        self.g.output_f32("score", [Dim::sym("B")]);
    }

    fn reward_transformer(&mut self, m: &RewardTransformer, feats: &str, acts: &str, mask: &str) {
        let x = self.linear(feats, &m.input, "input");
        let emb = self.weight("action_emb.weight", &m.action_emb.ws);
        let e = self.g.gather(&emb, acts, 0);
        let mut x = self.g.add(&x, &e);
        let bias = self.key_bias(mask);
        for (i, l) in m.layers.iter().enumerate() {
            x = self.encoder_layer(&x, &bias, l, &format!("layers.{i}"));
        }
        let x = self.layer_norm(&x, &m.ln_f, "ln_f");
        let pooled = self.masked_mean(&x, mask);
        let s = self.linear(&pooled, &m.head, "head");
        self.score_output(&s);
    }

    fn slice(&mut self, x: &str, start: i64, end: i64, axis: i64) -> String {
        let starts = self.g.const_i64(&[start]);
        let ends = self.g.const_i64(&[end]);
        let axes = self.g.const_i64(&[axis]);
        self.g.op("Slice", &[x, &starts, &ends, &axes], vec![])
    }

    /// Mirrors [`crate::model::reward::edit_summary`].
    fn edit_summary(&mut self, feats: &str, acts: &str, mask: &str) -> String {
        let total = self.total(mask);
        let mut means = Vec::new();
        let mut shares = Vec::new();
        let mean_all = self.masked_mean(feats, mask);
        let zero = self.g.scalar_f32(0.0);
        let mut eqs = Vec::new();
        for c in [0i64, 2] {
            let cc = self.g.const_i64(&[c]);
            let eq = self.g.equal(acts, &cc);
            eqs.push(self.g.cast(&eq, ElemType::F32));
        }
        let two = self.g.scalar_f32(2.0);
        let loops2 = self.g.mul(&eqs[1], &two);
        let played = self.g.add(&eqs[0], &loops2);
        let played = self.g.mul(&played, mask);
        let pm = self.masked_mean(feats, &played);
        means.push(self.g.sub(&pm, &mean_all));
        for c in 0..N_ACTIONS {
            let cc = self.g.const_i64(&[c]);
            let eq = self.g.equal(acts, &cc);
            let eqf = self.g.cast(&eq, ElemType::F32);
            let m = self.g.mul(&eqf, mask);
            let n = self.g.reduce_sum(&m, &[1], true);
            let present = self.g.greater(&n, &zero);
            let present = self.g.cast(&present, ElemType::F32);
            let mean = self.masked_mean(feats, &m);
            let rel = self.g.sub(&mean, &mean_all);
            means.push(self.g.mul(&rel, &present));
            shares.push(self.g.div(&n, &total));
        }
        let next = self.slice(acts, 1, i64::MAX, 1);
        let prev = self.slice(acts, 0, -1, 1);
        let same = self.g.equal(&next, &prev);
        let diff = self.g.op("Not", &[&same], vec![]);
        let diff = self.g.cast(&diff, ElemType::F32);
        let mnext = self.slice(mask, 1, i64::MAX, 1);
        let sw = self.g.mul(&diff, &mnext);
        let sw = self.g.reduce_sum(&sw, &[1], true);
        let rate = self.g.div(&sw, &total);
        let mut all: Vec<&str> = means.iter().map(String::as_str).collect();
        all.extend(shares.iter().map(String::as_str));
        all.push(&rate);
        self.g.concat(&all, 1)
    }

    fn reward_mlp(&mut self, m: &RewardMlp, feats: &str, acts: &str, mask: &str) {
        let s = self.edit_summary(feats, acts, mask);
        let h = self.linear(&s, &m.fc1, "fc1");
        let h = self.g.gelu(&h);
        let o = self.linear(&h, &m.fc2, "fc2");
        self.score_output(&o);
    }
}

/// The reward model as an ONNX model (not yet written).
pub fn reward_to_onnx(model: &RewardModel, info: &ExportInfo) -> Result<ModelProto> {
    let mut w = Writer {
        g: GraphBuilder::new("recut_reward"),
    };
    w.g.doc(&format!("Recut reward model ({})", model.architecture()));
    let feats = w.g.input_f32(
        "features",
        [Dim::sym("B"), Dim::sym("T"), Dim::fixed(FEATURE_DIM)],
    );
    let acts = w.g.input_i64("actions", [Dim::sym("B"), Dim::sym("T")]);
    let mask = w.g.input_f32("mask", [Dim::sym("B"), Dim::sym("T")]);
    tch::no_grad(|| match &model.net {
        RewardNet::Transformer(m) => w.reward_transformer(m, &feats, &acts, &mask),
        RewardNet::Mlp(m) => w.reward_mlp(m, &feats, &acts, &mask),
    });
    Ok(w.g.finish(&info.metadata(ModelKind::Reward, model.architecture()))?)
}

/// The policy as an ONNX model (not yet written).
pub fn policy_to_onnx(model: &PolicyNet, info: &ExportInfo) -> Result<ModelProto> {
    let mut w = Writer {
        g: GraphBuilder::new("recut_policy"),
    };
    w.g.doc(&format!("Recut policy ({})", model.architecture()));
    let feats = w.g.input_f32(
        "features",
        [Dim::sym("B"), Dim::sym("T"), Dim::fixed(FEATURE_DIM)],
    );
    let mask = w.g.input_f32("mask", [Dim::sym("B"), Dim::sym("T")]);
    tch::no_grad(|| {
        let x = w.linear(&feats, &model.input, "input");
        let mut x = w.g.gelu(&x);
        let bias = w.key_bias(&mask);
        for (i, l) in model.layers.iter().enumerate() {
            x = w.encoder_layer(&x, &bias, l, &format!("layers.{i}"));
        }
        let h = w.layer_norm(&x, &model.ln_f, "ln_f");
        let logits = w.linear(&h, &model.logits_head, "logits_head");
        w.g.identity_as(&logits, "logits");
        let pooled = w.masked_mean(&h, &mask);
        let v = w.linear(&pooled, &model.value_head, "value_head");
        let v = w.g.squeeze(&v, &[-1]);
        w.g.identity_as(&v, "value");
    });
    w.g.output_f32(
        "logits",
        [Dim::sym("B"), Dim::sym("T"), Dim::fixed(N_ACTIONS)],
    );
    w.g.output_f32("value", [Dim::sym("B")]);
    Ok(w.g.finish(&info.metadata(ModelKind::Policy, model.architecture()))?)
}

/// Exports the reward model to `path` (atomically).
pub fn write_reward(model: &RewardModel, info: &ExportInfo, path: &Path) -> Result<ModelProto> {
    let m = reward_to_onnx(model, info)?;
    m.write(path)?;
    Ok(m)
}

/// Exports the policy to `path` (atomically).
pub fn write_policy(model: &PolicyNet, info: &ExportInfo, path: &Path) -> Result<ModelProto> {
    let m = policy_to_onnx(model, info)?;
    m.write(path)?;
    Ok(m)
}
