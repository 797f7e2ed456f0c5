//! The ONNX writer and the ort sessions, end to end: graphs written in Rust, run by ONNX
//! Runtime, compared with the same arithmetic done in Rust; and every way a model can be
//! refused. ONNX Runtime is loaded once per process (`runtime::init`), so every test here
//! uses the default search (the repository's `.deps/onnxruntime/` on a dev machine) and the
//! missing-library cases go through `resolve`/`resolve_among`, which load nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use recut_engine::model::onnx::{
    Dim, ElemType, GraphBuilder, Metadata, ModelKind, OnnxModelExt, keys,
};
use recut_engine::model::runtime::{self, LibrarySource};
use recut_engine::model::{
    ModelError, PolicyModel, Provider, RewardModel, SessionOptions, policy_windows,
};
use recut_engine::{Error, FEATURE_DIM, FEATURES_VERSION};

type Row = [f32; FEATURE_DIM];

/// Deterministic xorshift numbers in [-1, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
    fn rows(&mut self, t: usize) -> Vec<Row> {
        (0..t)
            .map(|_| std::array::from_fn(|_| self.next()))
            .collect()
    }
}

fn close(a: f32, b: f64, what: &str) {
    let tol = 1e-5 * b.abs().max(1.0);
    assert!(
        (a as f64 - b).abs() <= tol,
        "{what}: ort {a} vs rust {b} (tolerance {tol})"
    );
}

/// ort's per-beat logits against the Rust ones, beat count included.
fn close_logits(got: &[[f32; 3]], want: &[[f64; 3]], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: beats");
    for (i, (got, want)) in got.iter().zip(want).enumerate() {
        for a in 0..3 {
            close(got[a], want[a], &format!("{what}: beat {i} action {a}"));
        }
    }
}

fn bt(last: Option<i64>) -> Vec<Dim> {
    let mut d = vec![Dim::sym("B"), Dim::sym("T")];
    d.extend(last.map(Dim::Fixed));
    d
}

/// A tiny policy: `logits = features · W + b` per beat; `value = tanh(mean of the masked
/// logits over real beats and actions)`.
struct TinyPolicy {
    w: Vec<f32>, // [125, 3]
    b: [f32; 3],
}

impl TinyPolicy {
    fn new(seed: u64) -> TinyPolicy {
        let mut r = Rng(seed);
        TinyPolicy {
            w: r.vec(FEATURE_DIM * 3, 0.05),
            b: [0.1, -0.2, 0.05],
        }
    }

    fn graph(&self, features_name: &str) -> GraphBuilder {
        let mut g = GraphBuilder::new("tiny_policy");
        let x = g.input_f32(features_name, bt(Some(FEATURE_DIM as i64)));
        let mask = g.input_f32("mask", bt(None));
        let w = g.initializer("w", &[FEATURE_DIM as i64, 3], &self.w);
        let b = g.initializer("b", &[3], &self.b);
        let logits = g.linear(&x, &w, Some(&b));
        g.identity_as(&logits, "logits");
        let m3 = g.unsqueeze(&mask, &[2]);
        let masked = g.mul(&logits, &m3);
        let s = g.reduce_sum(&masked, &[1, 2], false);
        let n = g.reduce_sum(&mask, &[1], false);
        let three = g.scalar_f32(3.0);
        let n3 = g.mul(&n, &three);
        let mean = g.div(&s, &n3);
        let value = g.tanh(&mean);
        g.identity_as(&value, "value");
        g.output_f32("logits", bt(Some(3)));
        g.output_f32("value", [Dim::sym("B")]);
        g
    }

    fn metadata() -> Metadata {
        Metadata {
            architecture: "linear-125x3".into(),
            ..Metadata::new(ModelKind::Policy, "tiny-policy-1")
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.graph("features")
            .finish(&Self::metadata())
            .unwrap()
            .encode()
    }

    fn logits(&self, rows: &[Row]) -> Vec<[f64; 3]> {
        rows.iter()
            .map(|r| {
                std::array::from_fn(|a| {
                    self.b[a] as f64
                        + (0..FEATURE_DIM)
                            .map(|i| r[i] as f64 * self.w[i * 3 + a] as f64)
                            .sum::<f64>()
                })
            })
            .collect()
    }

    fn value(&self, rows: &[Row]) -> f64 {
        let l = self.logits(rows);
        (l.iter().flatten().sum::<f64>() / (3 * rows.len()) as f64).tanh()
    }
}

/// A tiny reward: `score = clip(Σ_beats mask · (features · w + emb[action]), -10, 10)`.
struct TinyReward {
    w: Vec<f32>, // [125, 1]
    emb: [f32; 3],
}

impl TinyReward {
    fn new(seed: u64) -> TinyReward {
        let mut r = Rng(seed);
        TinyReward {
            w: r.vec(FEATURE_DIM, 0.01),
            emb: [0.05, -0.04, 0.03],
        }
    }

    fn graph(&self) -> GraphBuilder {
        let mut g = GraphBuilder::new("tiny_reward");
        let x = g.input_f32("features", bt(Some(FEATURE_DIM as i64)));
        let actions = g.input_i64("actions", bt(None));
        let mask = g.input_f32("mask", bt(None));
        let w = g.initializer("w", &[FEATURE_DIM as i64, 1], &self.w);
        let emb = g.initializer("action_embedding", &[3], &self.emb);
        let h = g.matmul(&x, &w);
        let h = g.squeeze(&h, &[2]);
        let e = g.gather(&emb, &actions, 0);
        let per = g.add(&h, &e);
        let per = g.mul(&per, &mask);
        let s = g.reduce_sum(&per, &[1], false);
        let score = g.clip(&s, -10.0, 10.0);
        g.identity_as(&score, "score");
        g.output_f32("score", [Dim::sym("B")]);
        g
    }

    fn bytes(&self) -> Vec<u8> {
        self.graph()
            .finish(&Metadata::new(ModelKind::Reward, "tiny-reward-1"))
            .unwrap()
            .encode()
    }

    fn score(&self, rows: &[Row], actions: &[i64]) -> f64 {
        let s: f64 = rows
            .iter()
            .zip(actions)
            .map(|(r, &a)| {
                (0..FEATURE_DIM)
                    .map(|i| r[i] as f64 * self.w[i] as f64)
                    .sum::<f64>()
                    + self.emb[a as usize] as f64
            })
            .sum();
        s.clamp(-10.0, 10.0)
    }
}

fn opts() -> SessionOptions {
    SessionOptions::default()
}

fn policy_from(bytes: Vec<u8>) -> Result<PolicyModel, Error> {
    PolicyModel::from_bytes(bytes, "test-policy.onnx", &opts())
}

fn reward_from(bytes: Vec<u8>) -> Result<RewardModel, Error> {
    RewardModel::from_bytes(bytes, "test-reward.onnx", &opts())
}

fn model_err(e: Error) -> ModelError {
    match e {
        Error::Model(m) => m,
        other => panic!("expected a model error, got: {other}"),
    }
}

#[test]
fn model_runtime_is_there() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/onnxruntime/libonnxruntime.so");
    assert!(
        lib.is_file() || std::env::var_os("ORT_DYLIB_PATH").is_some(),
        "run `cargo xtask setup` first: {} is missing",
        lib.display()
    );
    let info = runtime::init(None).unwrap();
    assert!(info.path.is_file());
}

#[test]
fn model_policy_matches_rust_for_any_length() {
    let p = TinyPolicy::new(7);
    let model = policy_from(p.bytes()).unwrap();
    let mut r = Rng(99);
    for t in [1usize, 10, 500] {
        let rows = r.rows(t);
        let out = model.evaluate(&rows).unwrap();
        close_logits(&out.logits, &p.logits(&rows), &format!("T={t}"));
        close(out.value, p.value(&rows), &format!("T={t} value"));
        // run() is evaluate() without the value, and the session is reused.
        assert_eq!(model.run(&rows).unwrap(), out.logits);
    }
}

#[test]
fn model_policy_batch_pads_and_masks() {
    let p = TinyPolicy::new(11);
    let model = policy_from(p.bytes()).unwrap();
    let mut r = Rng(5);
    let (a, b) = (r.rows(37), r.rows(12));
    let outs = model.evaluate_batch(&[&a, &b]).unwrap();
    assert_eq!(outs.len(), 2);
    for (rows, out) in [(&a, &outs[0]), (&b, &outs[1])] {
        close_logits(&out.logits, &p.logits(rows), "batched");
        // The padded beats of the shorter song do not leak into its value.
        close(out.value, p.value(rows), "batched value");
    }
}

#[test]
fn model_reward_matches_rust_and_clamps() {
    let m = TinyReward::new(3);
    let model = reward_from(m.bytes()).unwrap();
    let mut r = Rng(17);
    for t in [10usize, 500] {
        let rows = r.rows(t);
        let actions: Vec<i64> = (0..t).map(|i| ((i * 7 + i / 3) % 3) as i64).collect();
        let got = model.score(&rows, &actions).unwrap();
        close(got, m.score(&rows, &actions), &format!("T={t} score"));
        // All Keep over 500 beats sums past 10, all Cut past -10: the clamp holds.
        let keep = vec![0u8; t];
        let cut = vec![1u8; t];
        let s_keep = model.score(&rows, &keep).unwrap();
        let s_cut = model.score(&rows, &cut).unwrap();
        close(s_keep, m.score(&rows, &vec![0; t]), "all keep");
        close(s_cut, m.score(&rows, &vec![1; t]), "all cut");
        if t == 500 {
            assert_eq!(s_keep, 10.0);
            assert_eq!(s_cut, -10.0);
        }
    }
    // The engine's own Action type works as an action code.
    use recut_engine::edit::Action;
    let rows = r.rows(6);
    let acts = [
        Action::Keep,
        Action::Cut,
        Action::Loop,
        Action::Loop,
        Action::Cut,
        Action::Keep,
    ];
    close(
        model.score(&rows, &acts).unwrap(),
        m.score(&rows, &[0, 1, 2, 2, 1, 0]),
        "Action codes",
    );
    // Batch with different lengths.
    let (a, b) = (r.rows(20), r.rows(9));
    let (aa, ab): (Vec<i64>, Vec<i64>) = (
        (0..20).map(|i| i % 3).collect(),
        (0..9).map(|i| (i + 1) % 3).collect(),
    );
    let scores = model
        .score_batch(&[(&a[..], &aa[..]), (&b[..], &ab[..])])
        .unwrap();
    close(scores[0], m.score(&a, &aa), "batch 0");
    close(scores[1], m.score(&b, &ab), "batch 1");
}

#[test]
fn model_reward_rejects_bad_inputs() {
    let model = reward_from(TinyReward::new(1).bytes()).unwrap();
    let rows = Rng(2).rows(4);
    let e = model_err(model.score(&rows, &[0i64, 1, 2]).unwrap_err());
    assert!(matches!(e, ModelError::Input(_)), "{e}");
    assert!(
        e.to_string().contains("4 beats") && e.to_string().contains("3 actions"),
        "{e}"
    );
    let e = model_err(model.score(&rows, &[0i64, 1, 7, 0]).unwrap_err());
    assert!(e.to_string().contains("action code 7"), "{e}");
    let empty: [Row; 0] = [];
    assert!(model.score::<i64>(&empty, &[]).is_err());
}

/// A model whose declared outputs pass the contract but whose run answers in another
/// shape (here one score per beat, and a value per beat and action) is an inference
/// error naming the output and both shapes, not an out-of-range index or a silently
/// misread batch.
#[test]
fn model_outputs_of_the_wrong_shape_are_clear_errors() {
    let rows = Rng(3).rows(5);

    let mut g = GraphBuilder::new("per_beat_reward");
    let x = g.input_f32("features", bt(Some(FEATURE_DIM as i64)));
    g.input_i64("actions", bt(None));
    let mask = g.input_f32("mask", bt(None));
    let s = g.reduce_sum(&x, &[2], false);
    let per_beat = g.mul(&s, &mask);
    g.identity_as(&per_beat, "score");
    g.output_f32("score", [Dim::sym("B")]);
    let model = g.finish(&Metadata::new(ModelKind::Reward, "r")).unwrap();
    let model = reward_from(model.encode()).unwrap();
    let e = model_err(model.score(&rows, &[0i64; 5]).unwrap_err());
    assert!(matches!(e, ModelError::Inference { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("score has shape [1, 5], expected [1]"),
        "{e}"
    );

    let mut g = GraphBuilder::new("per_beat_value");
    let x = g.input_f32("features", bt(Some(FEATURE_DIM as i64)));
    g.input_f32("mask", bt(None));
    let w = g.initializer("w", &[FEATURE_DIM as i64, 3], &vec![0.0; FEATURE_DIM * 3]);
    let l = g.matmul(&x, &w);
    g.identity_as(&l, "logits");
    g.identity_as(&l, "value");
    g.output_f32("logits", bt(Some(3)))
        .output_f32("value", [Dim::sym("B")]);
    let model = g.finish(&TinyPolicy::metadata()).unwrap();
    let model = policy_from(model.encode()).unwrap();
    let e = model_err(model.evaluate(&rows).unwrap_err());
    assert!(
        e.to_string()
            .contains("value has shape [1, 5, 3], expected [1]"),
        "{e}"
    );
}

#[test]
fn model_wrong_kind_names_both() {
    let e = model_err(policy_from(TinyReward::new(1).bytes()).unwrap_err());
    assert!(matches!(e, ModelError::WrongKind { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("policy") && msg.contains("`reward`") && msg.contains("test-policy.onnx"),
        "{msg}"
    );

    let e = model_err(reward_from(TinyPolicy::new(1).bytes()).unwrap_err());
    let msg = e.to_string();
    assert!(msg.contains("reward") && msg.contains("`policy`"), "{msg}");
}

#[test]
fn model_wrong_features_version_names_both() {
    let p = TinyPolicy::new(1);
    let mut model = p.graph("features").finish(&TinyPolicy::metadata()).unwrap();
    let other = (FEATURES_VERSION + 41).to_string();
    model.set_meta(keys::FEATURES_VERSION, &other);
    let e = model_err(policy_from(model.encode()).unwrap_err());
    assert!(matches!(e, ModelError::FeaturesVersion { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&other) && msg.contains(&format!("features version {FEATURES_VERSION}")),
        "{msg}"
    );

    // Not a number at all: still refused, with the value shown.
    model.set_meta(keys::FEATURES_VERSION, "v-one");
    let msg = model_err(policy_from(model.encode()).unwrap_err()).to_string();
    assert!(msg.contains("v-one"), "{msg}");
}

#[test]
fn model_missing_metadata_is_named() {
    let p = TinyPolicy::new(1);
    let props: Vec<(String, String)> = TinyPolicy::metadata()
        .to_props()
        .into_iter()
        .filter(|(k, _)| k != keys::KIND)
        .collect();
    let model = p.graph("features").finish_with_props(props).unwrap();
    let e = model_err(policy_from(model.encode()).unwrap_err());
    assert!(matches!(e, ModelError::MissingMetadata { .. }), "{e}");
    assert!(e.to_string().contains("recut.kind"), "{e}");

    // A model with no metadata at all (e.g. a plain torch export).
    let model = p.graph("features").finish_with_props(vec![]).unwrap();
    let e = model_err(policy_from(model.encode()).unwrap_err());
    assert!(matches!(e, ModelError::MissingMetadata { .. }), "{e}");
}

#[test]
fn model_wrong_input_names_are_refused() {
    let p = TinyPolicy::new(1);
    let model = p.graph("feats").finish(&TinyPolicy::metadata()).unwrap();
    let e = model_err(policy_from(model.encode()).unwrap_err());
    assert!(matches!(e, ModelError::Signature { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("feats") && msg.contains("features, mask"),
        "{msg}"
    );

    // A reward graph missing its `actions` input.
    let mut g = GraphBuilder::new("r");
    let x = g.input_f32("features", bt(Some(FEATURE_DIM as i64)));
    let mask = g.input_f32("mask", bt(None));
    let s = g.reduce_sum(&x, &[1, 2], false);
    let n = g.reduce_sum(&mask, &[1], false);
    let score = g.add(&s, &n);
    g.identity_as(&score, "score");
    g.output_f32("score", [Dim::sym("B")]);
    let model = g.finish(&Metadata::new(ModelKind::Reward, "r")).unwrap();
    let msg = model_err(reward_from(model.encode()).unwrap_err()).to_string();
    assert!(msg.contains("actions"), "{msg}");

    // Right names, wrong type: `mask` as i64.
    let mut g = GraphBuilder::new("p");
    let x = g.input_f32("features", bt(Some(FEATURE_DIM as i64)));
    g.input_i64("mask", bt(None));
    let w = g.initializer("w", &[FEATURE_DIM as i64, 3], &vec![0.0; FEATURE_DIM * 3]);
    let l = g.matmul(&x, &w);
    g.identity_as(&l, "logits");
    let v = g.reduce_mean(&l, &[1, 2], false);
    g.identity_as(&v, "value");
    g.output_f32("logits", bt(Some(3)))
        .output_f32("value", [Dim::sym("B")]);
    let model = g.finish(&TinyPolicy::metadata()).unwrap();
    let msg = model_err(policy_from(model.encode()).unwrap_err()).to_string();
    assert!(
        msg.contains("mask: f32") && msg.contains("mask: i64"),
        "{msg}"
    );
}

#[test]
fn model_corrupt_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Random bytes.
    let mut r = Rng(1234);
    let junk: Vec<u8> = (0..4096)
        .map(|_| (r.next() * 127.0 + 128.0) as u8)
        .collect();
    let path = dir.path().join("junk.onnx");
    std::fs::write(&path, &junk).unwrap();
    let e = model_err(PolicyModel::load(&path).unwrap_err());
    assert!(matches!(e, ModelError::Corrupt { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("junk.onnx") && msg.contains("not a valid ONNX model"),
        "{msg}"
    );

    // Empty file.
    let path = dir.path().join("empty.onnx");
    std::fs::write(&path, b"").unwrap();
    let msg = model_err(RewardModel::load(&path).unwrap_err()).to_string();
    assert!(msg.contains("empty"), "{msg}");

    // Truncated model.
    let bytes = TinyPolicy::new(1).bytes();
    let path = dir.path().join("truncated.onnx");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = model_err(PolicyModel::load(&path).unwrap_err());
    assert!(
        matches!(
            e,
            ModelError::Corrupt { .. }
                | ModelError::MissingMetadata { .. }
                | ModelError::Session { .. }
        ),
        "{e}"
    );

    // Missing file.
    let e = model_err(PolicyModel::load(dir.path().join("nope.onnx")).unwrap_err());
    assert!(
        matches!(e, ModelError::Read { .. }) && e.to_string().contains("nope.onnx"),
        "{e}"
    );

    // Metadata and names right, graph broken (an op reading a value nothing defines is
    // caught by the writer; here a node with an unknown op reaches ONNX Runtime).
    let mut g = TinyPolicy::new(1).graph("features");
    g.op("NoSuchOp", &["features"], vec![]);
    let model = g.finish(&TinyPolicy::metadata()).unwrap();
    let e = model_err(policy_from(model.encode()).unwrap_err());
    assert!(matches!(e, ModelError::Session { .. }), "{e}");
    assert!(e.to_string().contains("NoSuchOp"), "{e}");
}

#[test]
fn model_missing_runtime_library_lists_what_was_tried() {
    let bogus = PathBuf::from("/nonexistent/recut/libonnxruntime.so");
    let msg = runtime::resolve(Some(&bogus)).unwrap_err().to_string();
    assert!(
        msg.contains("/nonexistent/recut/libonnxruntime.so") && msg.contains("explicit"),
        "{msg}"
    );

    let tried = vec![
        (
            PathBuf::from("/nonexistent/a/libonnxruntime.so"),
            LibrarySource::Environment,
        ),
        (
            PathBuf::from("/nonexistent/b/libonnxruntime.so"),
            LibrarySource::BesideBinary,
        ),
        (
            PathBuf::from("/nonexistent/c/libonnxruntime.so"),
            LibrarySource::RepoDeps,
        ),
    ];
    let msg = runtime::resolve_among(None, tried).unwrap_err().to_string();
    for p in [
        "/nonexistent/a/",
        "/nonexistent/b/",
        "/nonexistent/c/",
        "ORT_DYLIB_PATH",
        "beside the binary",
        "xtask setup",
    ] {
        assert!(msg.contains(p), "`{p}` missing from: {msg}");
    }
    // The default search order ends with the repository's .deps.
    let all = runtime::candidates(Some(&bogus));
    assert_eq!(all.first().map(|c| c.1), Some(LibrarySource::Explicit));
    assert_eq!(all.last().map(|c| c.1), Some(LibrarySource::RepoDeps));
}

#[test]
fn model_provider_is_reported() {
    let model = policy_from(TinyPolicy::new(1).bytes()).unwrap();
    let info = model.info();
    let lib_dir = info.runtime.path.parent().unwrap().to_owned();
    let has_cuda_provider = lib_dir.join("libonnxruntime_providers_cuda.so").is_file();
    if !has_cuda_provider {
        assert_eq!(model.active_provider(), Provider::Cpu);
        assert!(
            info.provider_note.as_deref().unwrap_or("").contains("CUDA"),
            "{:?}",
            info.provider_note
        );
    }
    // Process-wide: the provider of the latest session (tests run in parallel, so only
    // check that one is known).
    assert!(recut_engine::model::active_provider().is_some());
    // CPU forced always gives CPU.
    let cpu = PolicyModel::from_bytes(
        TinyPolicy::new(1).bytes(),
        "cpu.onnx",
        &SessionOptions {
            cpu_only: true,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(cpu.active_provider(), Provider::Cpu);
    assert!(cpu.info().to_string().contains("on CPU"), "{}", cpu.info());
}

#[test]
fn model_file_round_trip_and_info() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models/policy.onnx");
    let p = TinyPolicy::new(5);
    let meta = Metadata {
        parent: Some("policy-0".into()),
        trained_on: "blake3:abcd:12".into(),
        created: "2026-11-03T10:00:00Z".into(),
        ..TinyPolicy::metadata()
    };
    p.graph("features")
        .finish(&meta)
        .unwrap()
        .write(&path)
        .unwrap();
    let model = PolicyModel::load(&path).unwrap();
    let info = model.info();
    assert_eq!(info.kind, ModelKind::Policy);
    assert_eq!(info.model_version, "tiny-policy-1");
    assert_eq!(info.features_version, FEATURES_VERSION);
    assert_eq!(info.parent.as_deref(), Some("policy-0"));
    assert_eq!(info.trained_on.as_deref(), Some("blake3:abcd:12"));
    assert_eq!(info.created.as_deref(), Some("2026-11-03T10:00:00Z"));
    assert_eq!(info.architecture.as_deref(), Some("linear-125x3"));
    assert_eq!(info.path, path);

    // The file parses back to the same model; default metadata has parent none and a date.
    let back = recut_engine::model::onnx::proto::ModelProto::parse(&std::fs::read(&path).unwrap())
        .unwrap();
    assert_eq!(back.meta(keys::KIND), Some("policy"));
    assert_eq!(back.opset_import[0].version, Some(17));
    let fresh = p.graph("features").finish(&TinyPolicy::metadata()).unwrap();
    assert_eq!(fresh.meta(keys::PARENT), Some("none"));
    let created = fresh.meta(keys::CREATED).unwrap();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.starts_with("20"),
        "{created}"
    );
    let none = PolicyModel::from_bytes(fresh.encode(), "x", &opts()).unwrap();
    assert_eq!(none.info().parent, None);
}

#[test]
fn model_shared_between_threads() {
    let p = TinyPolicy::new(8);
    let model = Arc::new(policy_from(p.bytes()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                let rows = Rng(100 + k).rows(50 + k as usize);
                (model.run(&rows).unwrap(), rows)
            })
        })
        .collect();
    for h in handles {
        let (got, rows) = h.join().unwrap();
        let want = p.logits(&rows);
        for (g, w) in got.iter().zip(&want) {
            for a in 0..3 {
                close(g[a], w[a], "threaded");
            }
        }
    }
}

#[test]
fn model_writer_catches_graph_mistakes() {
    let mut g = GraphBuilder::new("bad");
    let x = g.input_f32("features", bt(Some(FEATURE_DIM as i64)));
    let y = g.add(&x, "nowhere");
    g.identity_as(&y, "logits");
    g.output_f32("logits", bt(Some(3)));
    let e = g.finish(&TinyPolicy::metadata()).unwrap_err();
    assert!(e.to_string().contains("`nowhere`"), "{e}");

    let mut g = GraphBuilder::new("bad");
    let x = g.input_f32("features", bt(Some(FEATURE_DIM as i64)));
    g.relu(&x);
    g.output_f32("logits", bt(Some(3)));
    let e = g.finish(&TinyPolicy::metadata()).unwrap_err();
    assert!(e.to_string().contains("output `logits`"), "{e}");

    let mut g = GraphBuilder::new("bad");
    let x = g.input_f32("x", [1i64]);
    g.identity_as(&x, "y");
    g.identity_as(&x, "y");
    g.output_f32("y", [1i64]);
    let e = g.finish(&TinyPolicy::metadata()).unwrap_err();
    assert!(e.to_string().contains("already defined"), "{e}");
}

/// Every typed helper, run by ONNX Runtime on a small tensor and checked against Rust, so
/// the opset-17 signatures (axes as attribute or input, Clip bounds as inputs, …) are right
/// for the trainer's exports.
#[test]
fn model_typed_helpers_run_in_onnx_runtime() {
    use ort::session::Session;
    use ort::value::Tensor;

    let (d0, d1, d2) = (2usize, 3usize, 4usize);
    let n = d0 * d1 * d2;
    let mut r = Rng(77);
    let x: Vec<f32> = r.vec(n, 2.0);
    let scale: Vec<f32> = r.vec(d2, 1.0);
    let bias: Vec<f32> = r.vec(d2, 1.0);
    let gw: Vec<f32> = r.vec(3 * d2, 1.0); // [3, 4], used transposed
    let gc: Vec<f32> = r.vec(3, 1.0);

    let mut g = GraphBuilder::new("zoo");
    let xi = g.input_f32(
        "x",
        [Dim::sym("A"), Dim::fixed(d1 as i64), Dim::fixed(d2 as i64)],
    );
    let idx = g.input_i64("idx", [Dim::sym("K")]);
    let s = g.initializer("scale", &[d2 as i64], &scale);
    let b = g.initializer("bias", &[d2 as i64], &bias);
    let w = g.initializer("gw", &[3, d2 as i64], &gw);
    let c = g.initializer("gc", &[3], &gc);
    let mut outs: Vec<(&str, String)> = Vec::new();
    let v = g.softmax(&xi, -1);
    outs.push(("softmax", v));
    let v = g.layer_norm(&xi, &s, Some(&b), -1, 1e-5);
    outs.push(("layer_norm", v));
    let flat = g.reshape(&xi, &[-1, d2 as i64]);
    let v = g.gemm(&flat, &w, Some(&c), false, true);
    outs.push(("gemm", v));
    let v = g.transpose(&xi, &[0, 2, 1]);
    outs.push(("transpose", v));
    let v = g.concat(&[&xi, &xi], 1);
    outs.push(("concat", v));
    let zero = g.scalar_f32(0.0);
    let pos = g.greater(&xi, &zero);
    let v = g.where_(&pos, &xi, &zero);
    outs.push(("where_relu", v));
    let v = g.relu(&xi);
    outs.push(("relu", v));
    let v = g.sigmoid(&xi);
    outs.push(("sigmoid", v));
    let v = g.tanh(&xi);
    outs.push(("tanh", v));
    let v = g.gelu(&xi);
    outs.push(("gelu", v));
    let v = g.reduce_mean(&xi, &[2], false);
    outs.push(("reduce_mean", v));
    let v = g.reduce_sum(&xi, &[2], true);
    outs.push(("reduce_sum", v));
    let u = g.unsqueeze(&xi, &[0]);
    let v = g.squeeze(&u, &[0]);
    outs.push(("squeeze_unsqueeze", v));
    let v = g.clip(&xi, -0.5, 0.5);
    outs.push(("clip", v));
    let two = g.scalar_f32(2.0);
    let sub = g.sub(&xi, &two);
    let v = g.div(&sub, &two);
    outs.push(("sub_div", v));
    let v = g.gather(&xi, &idx, 1);
    outs.push(("gather", v));
    let eq = g.equal(&idx, &idx);
    let v = g.cast(&eq, ElemType::F32);
    outs.push(("equal_cast", v));
    for (name, v) in &outs {
        g.identity_as(v, name);
        // Declared rank only; sizes symbolic so shape inference never disagrees.
        let rank = match *name {
            "gemm" => 2,
            "reduce_mean" => 2,
            "equal_cast" => 1,
            _ => 3,
        };
        g.output_f32(name, (0..rank).map(|i| Dim::Sym(format!("{name}_{i}"))));
    }
    let model = g.finish(&Metadata::new(ModelKind::Policy, "zoo")).unwrap();

    let (_, env) = runtime::environment(None).unwrap();
    let mut session = Session::builder(&env)
        .unwrap()
        .commit_from_memory(&model.encode())
        .unwrap();
    let xt = Tensor::from_array((vec![d0 as i64, d1 as i64, d2 as i64], x.clone())).unwrap();
    let it = Tensor::from_array((vec![2i64], vec![2i64, 0])).unwrap();
    let res = session.run(ort::inputs!["x" => xt, "idx" => it]).unwrap();
    let get = |name: &str| -> (Vec<i64>, Vec<f32>) {
        let (shape, data) = res[name].try_extract_tensor::<f32>().unwrap();
        (shape.to_vec(), data.to_vec())
    };
    let at = |i: usize, j: usize, k: usize| x[(i * d1 + j) * d2 + k] as f64;
    let check = |name: &str, shape: &[i64], want: Vec<f64>| {
        let (s, got) = get(name);
        assert_eq!(s, shape, "{name} shape");
        assert_eq!(got.len(), want.len(), "{name} size");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            close(*g, *w, &format!("{name}[{i}]"));
        }
    };
    let (a, b3, c3) = (d0 as i64, d1 as i64, d2 as i64);
    let rows = |f: &dyn Fn(&[f64]) -> Vec<f64>| -> Vec<f64> {
        (0..d0 * d1)
            .flat_map(|r| {
                f(&x[r * d2..(r + 1) * d2]
                    .iter()
                    .map(|v| *v as f64)
                    .collect::<Vec<_>>())
            })
            .collect()
    };
    check(
        "softmax",
        &[a, b3, c3],
        rows(&|v| {
            let m = v.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = v.iter().map(|x| (x - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|x| x / s).collect()
        }),
    );
    check(
        "layer_norm",
        &[a, b3, c3],
        rows(&|v| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
            v.iter()
                .enumerate()
                .map(|(k, x)| (x - mean) / (var + 1e-5).sqrt() * scale[k] as f64 + bias[k] as f64)
                .collect()
        }),
    );
    check(
        "gemm",
        &[a * b3, 3],
        rows(&|v| {
            (0..3)
                .map(|o| gc[o] as f64 + (0..d2).map(|k| v[k] * gw[o * d2 + k] as f64).sum::<f64>())
                .collect()
        }),
    );
    check("transpose", &[a, c3, b3], {
        let mut out = Vec::new();
        for i in 0..d0 {
            for k in 0..d2 {
                for j in 0..d1 {
                    out.push(at(i, j, k));
                }
            }
        }
        out
    });
    check("concat", &[a, 2 * b3, c3], {
        let mut out = Vec::new();
        for i in 0..d0 {
            for _ in 0..2 {
                for j in 0..d1 {
                    for k in 0..d2 {
                        out.push(at(i, j, k));
                    }
                }
            }
        }
        out
    });
    let map = |f: fn(f64) -> f64| x.iter().map(|v| f(*v as f64)).collect::<Vec<f64>>();
    check("where_relu", &[a, b3, c3], map(|v| v.max(0.0)));
    check("relu", &[a, b3, c3], map(|v| v.max(0.0)));
    check("sigmoid", &[a, b3, c3], map(|v| 1.0 / (1.0 + (-v).exp())));
    check("tanh", &[a, b3, c3], map(f64::tanh));
    check(
        "gelu",
        &[a, b3, c3],
        map(|v| 0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2))),
    );
    check(
        "reduce_mean",
        &[a, b3],
        rows(&|v| vec![v.iter().sum::<f64>() / v.len() as f64]),
    );
    check(
        "reduce_sum",
        &[a, b3, 1],
        rows(&|v| vec![v.iter().sum::<f64>()]),
    );
    check("squeeze_unsqueeze", &[a, b3, c3], map(|v| v));
    check("clip", &[a, b3, c3], map(|v| v.clamp(-0.5, 0.5)));
    check("sub_div", &[a, b3, c3], map(|v| (v - 2.0) / 2.0));
    check("gather", &[a, 2, c3], {
        let mut out = Vec::new();
        for i in 0..d0 {
            for j in [2, 0] {
                for k in 0..d2 {
                    out.push(at(i, j, k));
                }
            }
        }
        out
    });
    check("equal_cast", &[2], vec![1.0, 1.0]);
}

/// erf to ~1e-7 (Abramowitz–Stegun 7.1.26 is too coarse; use the series/continued form).
fn erf(x: f64) -> f64 {
    // Series for |x| < 3, which covers the test's inputs (|x| < 2 / √2).
    let mut sum = x;
    let mut term = x;
    let x2 = x * x;
    for n in 1..60 {
        term *= -x2 / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    2.0 / std::f64::consts::PI.sqrt() * sum
}

/// The windows of a long song: every beat is answered for by exactly one window, in order;
/// windows are `POLICY_WINDOW_BEATS` long and inside the song; each answered beat has at
/// least `POLICY_WINDOW_CONTEXT` beats of its window on both sides unless that side reaches
/// the song's end; songs up to the window length run whole.
#[test]
fn policy_windows_cover_every_beat_once_with_context() {
    use recut_engine::model::{POLICY_WINDOW_BEATS as W, POLICY_WINDOW_CONTEXT as C};
    for beats in [
        0,
        1,
        500,
        W - 1,
        W,
        W + 1,
        W + 1023,
        W + 1024,
        3 * W + 7,
        7200,
        100_000,
    ] {
        let windows = policy_windows(beats);
        if beats <= W {
            assert_eq!(windows.len(), 1, "{beats} beats");
            assert_eq!(windows[0].window, 0..beats);
            assert_eq!(windows[0].answers, 0..beats);
            continue;
        }
        let mut next = 0;
        for w in &windows {
            assert_eq!(
                w.answers.start, next,
                "{beats} beats: gap or overlap at {w:?}"
            );
            assert!(!w.answers.is_empty(), "{beats} beats: {w:?}");
            next = w.answers.end;
            assert_eq!(w.window.len(), W, "{beats} beats: {w:?}");
            assert!(w.window.end <= beats, "{beats} beats: {w:?}");
            assert!(w.window.start <= w.answers.start && w.answers.end <= w.window.end);
            let before = w.answers.start - w.window.start;
            let after = w.window.end - w.answers.end;
            assert!(before >= C || w.window.start == 0, "{beats} beats: {w:?}");
            assert!(after >= C || w.window.end == beats, "{beats} beats: {w:?}");
        }
        assert_eq!(next, beats, "{beats} beats: not all answered");
    }
}

/// A long song through `evaluate` is stitched beat for beat: with the context-free tiny
/// policy every beat's logits are its own, wherever the windows fall, and the value is the
/// windows' values weighted by the beats they answer for.
#[test]
fn model_policy_long_song_runs_in_windows() {
    let p = TinyPolicy::new(3);
    let model = policy_from(p.bytes()).unwrap();
    let t = 3 * recut_engine::model::POLICY_WINDOW_BEATS + 123;
    let rows = Rng(17).rows(t);
    let out = model.evaluate(&rows).unwrap();
    close_logits(&out.logits, &p.logits(&rows), "windowed");
    let windows = policy_windows(t);
    assert!(windows.len() > 3, "{} windows", windows.len());
    let value: f64 = windows
        .iter()
        .map(|w| p.value(&rows[w.window.clone()]) * w.answers.len() as f64 / t as f64)
        .sum();
    close(out.value, value, "value");
    assert_eq!(model.run(&rows).unwrap(), out.logits);
}

/// The shipped policy on a long real song (the demo song's beats repeated to twice the
/// window): windowed logits against one pass over all 4096 beats. The policy attends over
/// the whole song, so they are not equal, but a beat's answer should hardly depend on
/// music more than `POLICY_WINDOW_CONTEXT` beats away. Prints the measured agreement.
#[test]
fn shipped_policy_windowed_agrees_with_whole_song() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = PolicyModel::load_with(root.join("models/policy.onnx"), &opts()).unwrap();
    let audio =
        recut_engine::audio::decode_file(&root.join("assets/demo/hedgewars_freeway.ogg")).unwrap();
    let a =
        recut_engine::analysis::analyze_audio(&audio, "demo".into(), &Default::default()).unwrap();
    let t = 2 * recut_engine::model::POLICY_WINDOW_BEATS;
    let rows: Vec<Row> = a.features.iter().cycle().take(t).copied().collect();
    let windowed = model.evaluate(&rows).unwrap();
    let whole = model.evaluate_batch(&[&rows]).unwrap().remove(0);
    let argmax = |l: &[f32; 3]| (0..3).max_by(|&i, &j| l[i].total_cmp(&l[j]));
    let same = windowed
        .logits
        .iter()
        .zip(&whole.logits)
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count() as f64
        / t as f64;
    let max_diff = windowed
        .logits
        .iter()
        .zip(&whole.logits)
        .flat_map(|(a, b)| (0..3).map(move |k| (a[k] - b[k]).abs()))
        .fold(0.0f32, f32::max);
    println!(
        "{t} beats in {} windows: most likely action the same on {:.4} of the beats, \
         largest logit difference {max_diff:.4}",
        policy_windows(t).len(),
        same
    );
    assert!(same >= MIN_WINDOWED_AGREEMENT, "agreement {same}");
}

/// Floor of the windowed/whole agreement on the most likely action per beat.
const MIN_WINDOWED_AGREEMENT: f64 = 0.95;
