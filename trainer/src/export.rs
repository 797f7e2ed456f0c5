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
use recut_engine::model::onnx::{
    Dim, ElemType, GraphBuilder, Metadata, ModelKind, OnnxModelExt, attr,
};
use tch::nn;

use crate::error::Result;
use crate::model::batch::to_vec_f32;
use crate::model::reward::{RewardMlp, RewardTransformer};
use crate::model::summary;
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

    /// `Σ_t x` over beats, kept as `[B,1]`.
    fn beat_sum(&mut self, x: &str) -> String {
        self.g.reduce_sum(x, &[1], true)
    }

    /// `[B,T]` zeros shaped like `x`'s first beat column `[B,1]`.
    fn zero_column(&mut self, x: &str) -> String {
        let first = self.slice(x, 0, 1, 1);
        let zero = self.g.scalar_f32(0.0);
        self.g.mul(&first, &zero)
    }

    /// Mirrors [`summary::prev`].
    fn prev(&mut self, x: &str) -> String {
        let z = self.zero_column(x);
        let body = self.slice(x, 0, -1, 1);
        self.g.concat(&[&z, &body], 1)
    }

    /// Mirrors [`summary::next`].
    fn next(&mut self, x: &str) -> String {
        let z = self.zero_column(x);
        let body = self.slice(x, 1, i64::MAX, 1);
        self.g.concat(&[&body, &z], 1)
    }

    /// Mirrors [`summary::following`].
    fn following(&mut self, f: &str, mask: &str) -> String {
        let tail = self.slice(f, 1, i64::MAX, 1);
        let last_beat = self.slice(f, -1, i64::MAX, 1);
        let next_f = self.g.concat(&[&tail, &last_beat], 1);
        let has_next = self.next(mask);
        let has_next = self.g.unsqueeze(&has_next, &[2]);
        let a = self.g.mul(&next_f, &has_next);
        let no_next = self.one_minus(&has_next);
        let b = self.g.mul(f, &no_next);
        self.g.add(&a, &b)
    }

    /// `1 − x`.
    fn one_minus(&mut self, x: &str) -> String {
        let one = self.g.scalar_f32(1.0);
        self.g.sub(&one, x)
    }

    /// Mirrors [`summary::ranges`].
    fn ranges(&mut self, f: &str, r: &[(i64, i64)]) -> String {
        let parts: Vec<String> = r.iter().map(|&(a, b)| self.slice(f, a, b, 2)).collect();
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.g.concat(&refs, 2)
    }

    /// Mirrors [`summary::splice_distances`].
    fn splice_distances(&mut self, a: &str, b: &str) -> String {
        let d = self.g.sub(a, b);
        let eps = self.g.scalar_f32(summary::EPS as f32);
        let (m0, m1) = summary::SPLICE_MFCC;
        let dm = self.slice(&d, m0, m1, 2);
        let sq = self.g.mul(&dm, &dm);
        let ms = self.g.reduce_mean(&sq, &[2], true);
        let ms = self.g.add(&ms, &eps);
        let mfcc = self.g.sqrt(&ms);
        let (c0, c1) = summary::SPLICE_CHROMA;
        let ca = self.slice(a, c0, c1, 2);
        let cb = self.slice(b, c0, c1, 2);
        let mut sum_of = |x: &str, y: &str| {
            let p = self.g.mul(x, y);
            self.g.reduce_sum(&p, &[2], true)
        };
        let dot = sum_of(&ca, &cb);
        let na = sum_of(&ca, &ca);
        let nb = sum_of(&cb, &cb);
        let nn = self.g.mul(&na, &nb);
        let nn = self.g.add(&nn, &eps);
        let nn = self.g.sqrt(&nn);
        let cos = self.g.div(&dot, &nn);
        let chroma = self.one_minus(&cos);
        let mut parts = vec![mfcc, chroma];
        for i in [
            summary::SPLICE_CENTROID,
            summary::SPLICE_RMS,
            summary::SPLICE_ONSET,
        ] {
            let x = self.slice(&d, i, i + 1, 2);
            parts.push(self.g.op("Abs", &[&x], vec![]));
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.g.concat(&refs, 2)
    }

    /// `CumSum` over beats (axis 1).
    fn beat_cumsum(&mut self, x: &str) -> String {
        let axis = self.g.fresh("const");
        let axis = self.g.initializer_i64(&axis, &[], &[1]);
        self.g.op("CumSum", &[x, &axis], vec![])
    }

    /// Mirrors the splice pairing of [`summary::edit_summary`]: for each resume beat, the
    /// splice features `spl` `[B,T,d]` of its removed stretch's first beat (the latest
    /// inner cut start before it; beat 0's where there is none, for the caller to mask),
    /// and the `[B,T]` 0/1 of resume beats that have one. ONNX has no `cummax`, so the latest start is looked up
    /// by run number instead: the run numbers (`CumSum` of the starts) index a table of the
    /// starts' beat indices, built by one `ScatterElements` (runs are numbered 1, 2, …;
    /// slot 0 only ever receives zeros). Linear in the beats, where a one-hot `[T, T]`
    /// match of run numbers (this graph before) held T² floats per edit: 207 MB for an
    /// hour at 120 BPM. Both pick exact values, so the scores are the same.
    fn splice_starts(&mut self, inner_start: &str, resume: &str, spl: &str) -> (String, String) {
        let run = self.beat_cumsum(inner_start);
        let prev_run = self.prev(&run);
        let paired = self.g.clip(&prev_run, 0.0, 1.0);
        let paired = self.g.mul(&paired, resume);
        let zero = self.g.scalar_f32(0.0);
        let zeros = self.g.mul(&run, &zero);
        let one = self.g.scalar_f32(1.0);
        let ones = self.g.add(&zeros, &one);
        let beat = self.beat_cumsum(&ones);
        let beat = self.g.sub(&beat, &one);
        let slot = self.g.mul(&run, inner_start);
        let slot = self.g.cast(&slot, ElemType::I64);
        let start_beat = self.g.mul(&beat, inner_start);
        let table = self.g.op(
            "ScatterElements",
            &[&zeros, &slot, &start_beat],
            vec![attr::int("axis", 1), attr::string("reduction", "add")],
        );
        let prev_run = self.g.cast(&prev_run, ElemType::I64);
        let latest = self.g.op(
            "GatherElements",
            &[&table, &prev_run],
            vec![attr::int("axis", 1)],
        );
        let latest = self.g.cast(&latest, ElemType::I64);
        let latest = self.g.unsqueeze(&latest, &[2]);
        let shape = self.g.shape(spl);
        let latest = self.g.op("Expand", &[&latest, &shape], vec![]);
        let natural = self.g.op(
            "GatherElements",
            &[spl, &latest],
            vec![attr::int("axis", 1)],
        );
        (natural, paired)
    }

    /// Mirrors [`summary::edit_summary`].
    fn edit_summary(&mut self, feats: &str, acts: &str, mask: &str) -> String {
        let mut is = |c: i64| {
            let cc = self.g.const_i64(&[c]);
            let eq = self.g.equal(acts, &cc);
            let eq = self.g.cast(&eq, ElemType::F32);
            self.g.mul(&eq, mask)
        };
        let (cut, lp) = (is(1), is(2));
        let n = self.total(mask);
        let per_beats = self.g.scalar_f32(summary::PER_BEATS as f32);
        let per = self.g.div(&per_beats, &n);
        let not_cut = self.g.sub(mask, &cut);
        let played = self.g.add(&not_cut, &lp);

        let sel = self.ranges(feats, &summary::PLAYED_RANGES);
        let pm = self.masked_mean(&sel, &played);
        let am = self.masked_mean(&sel, mask);
        let played_rel = self.g.sub(&pm, &am);

        let prev_mask = self.prev(mask);
        let prev_cut = self.prev(&cut);
        let fresh = self.one_minus(&prev_cut);
        let cut_start = self.g.mul(&cut, &fresh);
        let prev_lp = self.prev(&lp);
        let fresh = self.one_minus(&prev_lp);
        let loop_start = self.g.mul(&lp, &fresh);
        let next_mask = self.next(mask);
        let ends = self.one_minus(&next_mask);
        let last = self.g.mul(mask, &ends);
        let mut structure = Vec::new();
        for (x, scale) in [(&cut, &n), (&lp, &n)] {
            let s = self.beat_sum(x);
            structure.push(self.g.div(&s, scale));
        }
        for x in [&cut_start, &loop_start] {
            let s = self.beat_sum(x);
            structure.push(self.g.mul(&s, &per));
        }
        structure.push(self.slice(&cut, 0, 1, 1));
        let cl = self.g.mul(&cut, &last);
        structure.push(self.beat_sum(&cl));

        let inner_start = self.g.mul(&cut_start, &prev_mask);
        let resume = self.g.mul(&not_cut, &prev_cut);
        let boundary = self.g.add(&inner_start, &resume);
        let boundary = self.g.add(&boundary, &lp);
        let nb = self.beat_sum(&boundary);
        let mut placement = vec![self.g.mul(&nb, &per)];
        for k in summary::PLACEMENT_FEATURES {
            let fk = self.slice(feats, k, k + 1, 2);
            let fk = self.g.squeeze(&fk, &[2]);
            let w = self.g.mul(&fk, &boundary);
            let w = self.beat_sum(&w);
            placement.push(self.g.mul(&w, &per));
        }

        let spl = self.ranges(feats, &summary::SPLICE_RANGES);
        let (natural, paired) = self.splice_starts(&inner_start, &resume, &spl);
        let paired3 = self.g.unsqueeze(&paired, &[2]);
        let natural = self.g.mul(&natural, &paired3);
        let cut_d = self.splice_distances(&natural, &spl);
        let cut_d = self.g.mul(&cut_d, &paired3);
        let following = self.following(&spl, mask);
        let loop_d = self.splice_distances(&following, &spl);
        let lp3 = self.g.unsqueeze(&lp, &[2]);
        let loop_d = self.g.mul(&loop_d, &lp3);
        let d = self.g.add(&cut_d, &loop_d);
        let d = self.g.reduce_sum(&d, &[1], false);
        let dist = self.g.mul(&d, &per);
        let all = self.g.add(&paired, &lp);
        let all = self.beat_sum(&all);
        let splices = self.g.mul(&all, &per);

        let mut parts = vec![played_rel];
        parts.extend(structure);
        parts.extend(placement);
        parts.push(splices);
        parts.push(dist);
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.g.concat(&refs, 1)
    }

    fn reward_mlp(&mut self, m: &RewardMlp, feats: &str, acts: &str, mask: &str) {
        let s = self.edit_summary(feats, acts, mask);
        let shift = self.weight("shift", &m.shift);
        let scale = self.weight("scale", &m.scale);
        let s = self.g.sub(&s, &shift);
        let s = self.g.mul(&s, &scale);
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
