//! The exported ONNX models compute what the tch models compute: randomly initialised
//! (seeded) models are exported, loaded through the engine's contract-checking sessions, and
//! fed a real song's features (200 beats, B = 2 with padding) and random actions.

#![allow(clippy::type_complexity)]

mod common;

use common::{Rng, song};
use recut_engine::FEATURE_DIM;
use recut_engine::model::onnx::{OnnxModelExt, keys};
use recut_trainer::export::{ExportInfo, write_policy, write_reward};
use recut_trainer::model::batch::to_vec_f32;
use recut_trainer::model::summary::edit_summary;
use recut_trainer::model::{
    Batch, MlpConfig, PolicyConfig, PolicyNet, RewardConfig, RewardModel, RewardNet,
    TransformerConfig,
};
use tch::Device;

const TOL: f32 = 1e-4;

/// Two items: the first 200 beats of the song, and beats 40..170 (130 beats, so padded).
fn items() -> (
    Vec<[f32; FEATURE_DIM]>,
    Vec<[f32; FEATURE_DIM]>,
    Vec<u8>,
    Vec<u8>,
) {
    let a = song("hedgewars_freeway.ogg");
    assert!(
        a.features.len() >= 200,
        "song has {} beats",
        a.features.len()
    );
    let f0 = a.features[..200].to_vec();
    let f1 = a.features[40..170].to_vec();
    let mut rng = Rng(11);
    let a0 = (0..f0.len()).map(|_| rng.below(3) as u8).collect();
    let a1 = (0..f1.len()).map(|_| rng.below(3) as u8).collect();
    (f0, f1, a0, a1)
}

/// A song of `beats` beats: a real song's features, repeated.
fn long_song(beats: usize) -> Vec<[f32; FEATURE_DIM]> {
    let a = song("hedgewars_freeway.ogg");
    a.features.iter().cycle().take(beats).copied().collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check_reward(config: RewardConfig) {
    tch::manual_seed(1234);
    let mut model = RewardModel::new(&config, Device::Cpu).unwrap();
    let (f0, f1, a0, a1) = items();
    let batch = Batch::new(&[(&f0, &a0), (&f1, &a1)], Device::Cpu);
    if let RewardNet::Mlp(m) = &mut model.net {
        // A fitted normalisation (not the identity), so the export must carry it.
        let s = edit_summary(&batch.features, &batch.actions, &batch.mask);
        m.fit_normalisation(&s, &s);
        assert!(m.is_fitted());
    }
    let torch = to_vec_f32(&model.score(&batch));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reward.onnx");
    let info = ExportInfo {
        model_version: "test-reward".into(),
        parent: Some("reward-v0".into()),
        trained_on: "none".into(),
        created: String::new(),
    };
    let proto = write_reward(&model, &info, &path).unwrap();
    assert_eq!(
        proto.meta(keys::ARCHITECTURE),
        Some(config.architecture().as_str())
    );
    let onnx = recut_engine::RewardModel::load(&path).unwrap();
    assert_eq!(onnx.info().model_version, "test-reward");
    assert_eq!(onnx.info().parent.as_deref(), Some("reward-v0"));
    let got = onnx
        .score_batch(&[(&f0[..], &a0[..]), (&f1[..], &a1[..])])
        .unwrap();
    let diff = max_abs_diff(&torch, &got);
    println!(
        "{}: tch {torch:?} onnx {got:?} max abs diff {diff:e}",
        config.architecture()
    );
    assert!(
        diff < TOL,
        "{}: ONNX differs from tch by {diff}",
        config.architecture()
    );
    assert!(
        (torch[0] - torch[1]).abs() > 1e-4,
        "scores should differ between items: {torch:?}"
    );

    // The single-item path (no padding) agrees with the padded batch.
    let single = onnx.score(&f1, &a1).unwrap();
    assert!(
        (single - torch[1]).abs() < TOL,
        "unpadded {single} vs padded {}",
        torch[1]
    );
}

#[test]
fn reward_transformer_tiny_export_matches_tch() {
    check_reward(RewardConfig::Transformer(TransformerConfig::tiny()));
}

#[test]
fn reward_transformer_seed_shape_export_matches_tch() {
    check_reward(RewardConfig::Transformer(TransformerConfig::default()));
}

#[test]
fn reward_mlp_export_matches_tch() {
    check_reward(RewardConfig::Mlp(MlpConfig::default()));
}

fn check_policy(config: PolicyConfig) {
    tch::manual_seed(99);
    let model = PolicyNet::new(&config, Device::Cpu).unwrap();
    let (f0, f1, _, _) = items();
    let batch = Batch::new(&[(&f0, &[]), (&f1, &[])], Device::Cpu);
    let (logits, value) = tch::no_grad(|| model.forward_t(&batch.features, &batch.mask, false));
    let logits = to_vec_f32(&logits);
    let value = to_vec_f32(&value);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.onnx");
    write_policy(
        &model,
        &ExportInfo {
            model_version: "test-policy".into(),
            ..Default::default()
        },
        &path,
    )
    .unwrap();
    let onnx = recut_engine::PolicyModel::load(&path).unwrap();
    let out = onnx.evaluate_batch(&[&f0[..], &f1[..]]).unwrap();
    let t = f0.len();
    let mut ldiff = 0f32;
    for (bi, o) in out.iter().enumerate() {
        for (i, row) in o.logits.iter().enumerate() {
            let at = (bi * t + i) * 3;
            ldiff = ldiff.max(max_abs_diff(row, &logits[at..at + 3]));
        }
    }
    let vdiff = max_abs_diff(&out.iter().map(|o| o.value).collect::<Vec<_>>(), &value);
    println!(
        "{}: logits max abs diff {ldiff:e}, value max abs diff {vdiff:e}",
        config.architecture()
    );
    assert!(
        ldiff < TOL && vdiff < TOL,
        "policy ONNX differs: logits {ldiff}, value {vdiff}"
    );
    assert_eq!(out[1].logits.len(), f1.len());
}

#[test]
fn policy_tiny_export_matches_tch() {
    check_policy(PolicyConfig::tiny());
}

#[test]
fn policy_default_export_matches_tch() {
    check_policy(PolicyConfig::default());
}

#[test]
fn checkpoint_round_trip_keeps_scores() {
    tch::manual_seed(5);
    let config = RewardConfig::Transformer(TransformerConfig::tiny());
    let model = RewardModel::new(&config, Device::Cpu).unwrap();
    let (f0, _, a0, _) = items();
    let batch = Batch::new(&[(&f0, &a0)], Device::Cpu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reward.safetensors");
    model.save(&path).unwrap();
    let back = RewardModel::load(&path, Device::Cpu).unwrap();
    assert_eq!(back.config, config);
    assert_eq!(
        to_vec_f32(&model.score(&batch)),
        to_vec_f32(&back.score(&batch))
    );
}

/// Beats in the long edit of [`reward_mlp_export_is_linear_in_beats`]: a song of 2 h 47 min
/// at 120 BPM. The graph that paired splices with a one-hot `[T, T]` match held several
/// `T²` tensors per edit here (1.6 GB each), so this also shows that the pairing is gone.
const LONG_BEATS: usize = 20_000;

/// The summary-MLP reward model's graph stays linear in the beats and still matches tch on
/// a very long edit: cuts from the first beat (a resume with no splice), stretches of every
/// length, loops, and a cut ending; and on songs of one to three beats. The only matrix
/// products are the MLP's two layers.
#[test]
fn reward_mlp_export_is_linear_in_beats() {
    tch::manual_seed(99);
    let mut model =
        RewardModel::new(&RewardConfig::Mlp(MlpConfig::default()), Device::Cpu).unwrap();
    let feats = long_song(LONG_BEATS);
    // Keep / cut / loop runs of 1–37 beats from a seeded draw; the opening and ending cut.
    let mut rng = Rng(5);
    let mut acts = Vec::with_capacity(LONG_BEATS);
    while acts.len() < LONG_BEATS {
        let len = 1 + rng.below(37) as usize;
        let action = rng.below(3) as u8;
        acts.extend(std::iter::repeat_n(action, len));
    }
    acts.truncate(LONG_BEATS);
    acts[..16].fill(1);
    acts[LONG_BEATS - 9..].fill(1);
    let short = (feats[..300].to_vec(), acts[..300].to_vec());
    // Songs of one to three beats: the shifted copies and the run table are one beat long.
    let tiny: Vec<(Vec<[f32; FEATURE_DIM]>, Vec<u8>)> = [vec![1], vec![1, 0], vec![0, 1, 0]]
        .into_iter()
        .map(|a: Vec<u8>| (feats[..a.len()].to_vec(), a))
        .collect();
    let batch = Batch::new(&[(&feats, &acts), (&short.0, &short.1)], Device::Cpu);
    if let RewardNet::Mlp(m) = &mut model.net {
        let s = edit_summary(&batch.features, &batch.actions, &batch.mask);
        m.fit_normalisation(&s, &s);
    }
    let torch = to_vec_f32(&model.score(&batch));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reward.onnx");
    let proto = write_reward(&model, &ExportInfo::default(), &path).unwrap();
    let matmuls = proto.graph.as_ref().map_or(0, |g| {
        g.node
            .iter()
            .filter(|n| n.op_type.as_deref() == Some("MatMul"))
            .count()
    });
    assert_eq!(matmuls, 2, "matrix products besides fc1 and fc2");
    let onnx = recut_engine::RewardModel::load(&path).unwrap();
    let got = onnx
        .score_batch(&[(&feats[..], &acts[..]), (&short.0[..], &short.1[..])])
        .unwrap();
    let diff = max_abs_diff(&torch, &got);
    println!("{LONG_BEATS} beats: tch {torch:?} onnx {got:?} max abs diff {diff:e}");
    assert!(diff < TOL, "ONNX differs from tch by {diff}");
    for (f, a) in &tiny {
        let torch = to_vec_f32(&model.score(&Batch::new(&[(f, a)], Device::Cpu)));
        let got = onnx.score(f, a).unwrap();
        assert!(
            (got - torch[0]).abs() < TOL,
            "{a:?}: tch {torch:?} onnx {got}"
        );
    }
}

/// Beats of the long song of [`policy_long_song_runs_in_the_engines_windows`]: three of the
/// engine's windows and part of a fourth (42 minutes at 120 BPM).
const WINDOWED_BEATS: usize = 5_000;

/// A song longer than the engine's policy window gets from the tch policy the logits the
/// exported model gives in the engine, window for window (`PolicyNet::song_outputs` against
/// `PolicyModel::evaluate`), and not those of one pass over the whole song, which differ;
/// songs within one window are one padded batch, bit for bit the plain forward pass.
#[test]
fn policy_long_song_runs_in_the_engines_windows() {
    tch::manual_seed(17);
    let model = PolicyNet::new(&PolicyConfig::tiny(), Device::Cpu).unwrap();
    let long = long_song(WINDOWED_BEATS);
    let (f0, f1, _, _) = items();
    let outs = model.song_outputs(&[&f0[..], &long[..], &f1[..]]);
    assert_eq!(
        outs.iter().map(|o| o.logits.len()).collect::<Vec<_>>(),
        [f0.len(), WINDOWED_BEATS, f1.len()]
    );
    assert!(outs.iter().all(|o| o.values.len() == o.logits.len()));
    let short = model.batch_outputs(&[&f0[..], &f1[..]]);
    assert_eq!(
        (&outs[0], &outs[2]),
        (&short[0], &short[1]),
        "short songs are not one plain pass"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.onnx");
    write_policy(&model, &ExportInfo::default(), &path).unwrap();
    let onnx = recut_engine::PolicyModel::load(&path).unwrap();
    let engine = onnx.evaluate(&long).unwrap().logits;
    let flat = |rows: &[[f32; 3]]| rows.concat();
    let diff = max_abs_diff(&flat(&engine), &flat(&outs[1].logits));
    let whole = model.batch_outputs(&[&long[..]]).remove(0).logits;
    let whole_diff = max_abs_diff(&flat(&engine), &flat(&whole));
    println!(
        "{WINDOWED_BEATS} beats: windowed tch vs engine {diff:e}, one whole pass vs engine \
         {whole_diff:e}"
    );
    assert!(diff < TOL, "windowed tch differs from the engine by {diff}");
    assert!(
        whole_diff > 10.0 * TOL,
        "one whole pass agrees with the windows ({whole_diff}): the test shows nothing"
    );
}
