//! The policy: DPO-family losses move the right way, behaviour cloning of the baseline
//! learns its per-beat decisions, DPO on one simulated taste beats the reference on a song
//! it has not seen, and the exported ONNX policy gives the tch logits.

mod common;

use std::sync::Arc;

use common::song;
use recut_trainer::dpo::{
    DpoConfig, DpoLoss, clone_policy, dpo_loss, sequence_logp, simulate_dpo_pairs, train_dpo,
};
use recut_trainer::model::policy::MAX_POLICY_MIX;
use recut_trainer::model::{PolicyConfig, PolicyNet};
use recut_trainer::raters::{Rater, Taste};
use recut_trainer::train_policy::{
    BcConfig, EvalConfig, Logits, Song, baseline_demos, bc_accuracy, evaluate,
    masked_cross_entropy, train_bc,
};
use tch::{Device, Kind, Tensor};

const TRAIN: [&str; 2] = ["hedgewars_city.ogg", "hedgewars_freeway.ogg"];
const HELD_OUT: &str = "hedgewars_golf.ogg";
const DPO_TRAIN: [&str; 8] = [
    "hedgewars_city.ogg",
    "hedgewars_freeway.ogg",
    "hedgewars_golf.ogg",
    "hedgewars_olympics.ogg",
    "hedgewars_oriental.ogg",
    "hedgewars_pirate.ogg",
    "hedgewars_rock.ogg",
    "lincity_pronobozo_lincity.ogg",
];
const DPO_HELD_OUT: [&str; 2] = ["wesnoth_heroes_rite.ogg", "wesnoth_traveling_minstrels.ogg"];

/// Tests that draw from libtorch's global generator run one at a time, so each sees the
/// same initial weights whatever else runs beside it.
fn torch_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn load(name: &str) -> Song {
    Song::new(name.trim_end_matches(".ogg"), song(name))
}

fn small_config() -> PolicyConfig {
    PolicyConfig {
        layers: 1,
        heads: 2,
        width: 32,
        mlp_ratio: 2,
        dropout: 0.0,
    }
}

fn bc_config() -> BcConfig {
    BcConfig {
        steps: 80,
        batch_size: 4,
        lr: 2e-3,
        window: 256,
        plans_per_song: 8,
        seed: 3,
        ..Default::default()
    }
}

/// Each loss falls when the chosen sequence's log-probability rises (all else equal).
#[test]
fn losses_fall_as_the_chosen_edit_gains_probability() {
    let r = Tensor::from_slice(&[-10.0f32, -12.0]);
    let l = Tensor::from_slice(&[-11.0f32, -12.5]);
    for loss in [
        DpoLoss::Sigmoid,
        DpoLoss::Ipo,
        DpoLoss::Robust { epsilon: 0.1 },
    ] {
        let at = |shift: f32| {
            let w = Tensor::from_slice(&[-10.0f32 + shift, -12.0 + shift]);
            dpo_loss(loss, 0.1, &w, &l, &r, &l).double_value(&[])
        };
        let (lo, mid, hi) = (at(-1.0), at(0.0), at(1.0));
        assert!(lo > mid && mid > hi, "{loss:?}: {lo} {mid} {hi}");
        // And the gradient with respect to logπ(w) is negative.
        let w = Tensor::from_slice(&[-10.0f32, -12.0]).set_requires_grad(true);
        dpo_loss(loss, 0.1, &w, &l, &r, &l).backward();
        let g = w.grad();
        assert!(
            g.lt(0.0).all().int64_value(&[]) == 1,
            "{loss:?}: gradient {g:?}"
        );
    }
    // At h = 0 the sigmoid loss is log 2.
    let z = Tensor::from_slice(&[0.0f32]);
    let v = dpo_loss(DpoLoss::Sigmoid, 0.1, &z, &z, &z, &z).double_value(&[]);
    assert!((v - std::f64::consts::LN_2).abs() < 1e-6);
}

/// Sequence log-probabilities sum over real beats only.
#[test]
fn sequence_logp_ignores_padding() {
    let logits = Tensor::zeros([1, 3, 3], (Kind::Float, Device::Cpu));
    let actions = Tensor::from_slice(&[0i64, 1, 2]).view([1, 3]);
    let mask = Tensor::from_slice(&[1.0f32, 1.0, 0.0]).view([1, 3]);
    let lp = sequence_logp(&logits, &actions, &mask).double_value(&[0]);
    assert!((lp - 2.0 * (1.0f64 / 3.0).ln()).abs() < 1e-5, "{lp}");
    let ce = masked_cross_entropy(&logits, &actions, &mask).double_value(&[]);
    assert!((ce - 3f64.ln()).abs() < 1e-5, "{ce}");
}

/// Behaviour cloning learns the baseline's plans: per-beat accuracy on a held-out song
/// above a floor measured on this set-up (a bit below what it reaches).
#[test]
fn behaviour_cloning_learns_the_baseline() {
    let _guard = torch_lock();
    tch::manual_seed(0);
    let train: Vec<Song> = TRAIN.iter().map(|n| load(n)).collect();
    let test = vec![load(HELD_OUT)];
    let demos = baseline_demos(&train, 8, 1);
    assert!(demos.len() >= 12, "{} demos", demos.len());
    let mut net = PolicyNet::new(&small_config(), Device::Cpu).unwrap();
    let rep = train_bc(&mut net, &train, &demos, &bc_config()).unwrap();
    let first = rep.losses[..5].iter().sum::<f64>() / 5.0;
    let last = rep.losses[rep.losses.len() - 5..].iter().sum::<f64>() / 5.0;
    let test_demos = baseline_demos(&test, 8, 2);
    let (acc, keep) = bc_accuracy(&net, &test, &test_demos);
    let (train_acc, _) = bc_accuracy(&net, &train, &demos);
    eprintln!(
        "bc: loss {first:.3} -> {last:.3}, train accuracy {train_acc:.3}, held-out accuracy {acc:.3} (keep share {keep:.3}), {:.1} s",
        rep.seconds
    );
    assert!(last < first, "loss {first} -> {last}");
    assert!(acc >= BC_FLOOR, "held-out accuracy {acc} below {BC_FLOOR}");
}

/// Floor of the held-out per-beat accuracy of [`behaviour_cloning_learns_the_baseline`].
const BC_FLOOR: f64 = 0.55;

/// DPO on the `energetic` taste: the new policy's plans beat the reference's on a song
/// neither saw, as judged by that taste.
#[test]
fn dpo_beats_the_reference_on_a_held_out_song() {
    let _guard = torch_lock();
    tch::manual_seed(0);
    let train: Vec<Song> = TRAIN.iter().map(|n| load(n)).collect();
    let dpo_train: Vec<Song> = DPO_TRAIN.iter().map(|n| load(n)).collect();
    let test: Vec<Song> = DPO_HELD_OUT.iter().map(|n| load(n)).collect();
    let demos = baseline_demos(&train, 8, 1);
    let mut reference = PolicyNet::new(&small_config(), Device::Cpu).unwrap();
    train_bc(&mut reference, &train, &demos, &bc_config()).unwrap();
    let rater = Rater::new(Taste::Energetic);
    // Whole songs (no crop): the rater judges the whole edit.
    let (pairs, answers) = simulate_dpo_pairs(&dpo_train, &rater, 128, 4096, 5);
    let mut policy = clone_policy(&reference).unwrap();
    let cfg = DpoConfig {
        steps: 120,
        batch_size: 4,
        lr: 1e-4,
        seed: 5,
        ..Default::default()
    };
    let rep = train_dpo(&mut policy, &reference, &dpo_train, &pairs, &cfg).unwrap();
    let ev = evaluate(
        &Logits::Net(&reference),
        &Logits::Net(&policy),
        &test,
        &rater,
        &EvalConfig {
            plans: 8,
            ..Default::default()
        },
    )
    .unwrap();
    eprintln!(
        "dpo: {} pairs (ceiling {:.3}), loss {:.3} -> {:.3}, win rate {:.3} over {} comparisons; utility {:.3} -> {:.3}",
        pairs.len(),
        Rater::ceiling(&answers),
        rep.loss[0],
        rep.loss.last().unwrap(),
        ev.win_rate,
        ev.comparisons,
        ev.old.utility,
        ev.new.utility
    );
    assert!(ev.comparisons >= 8);
    assert!(ev.win_rate > 0.5, "win rate {}", ev.win_rate);
    assert!(ev.new.utility > ev.old.utility);
    let h = rep.history();
    assert_eq!(h.kl.len(), cfg.steps);
    assert_eq!(h.policy_loss.len(), cfg.steps);
}

/// The exported policy gives the tch logits through the engine's ONNX runtime.
#[test]
fn exported_policy_matches_tch() {
    let _guard = torch_lock();
    tch::manual_seed(0);
    let s = load(HELD_OUT);
    let net = PolicyNet::new(&small_config(), Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.onnx");
    recut_trainer::export::write_policy(&net, &Default::default(), &path).unwrap();
    let model = match recut_engine::model::PolicyModel::load(&path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipping: ONNX Runtime unavailable: {e}");
            return;
        }
    };
    let onnx = model.logits_for(&s.analysis).unwrap();
    let tch = recut_trainer::train_policy::policy_logits(&net, s.features());
    assert_eq!(onnx.len(), tch.len());
    let worst = onnx
        .iter()
        .zip(&tch)
        .flat_map(|(a, b)| (0..3).map(move |k| (a[k] - b[k]).abs()))
        .fold(0f32, f32::max);
    assert!(worst < 1e-3, "max |onnx − tch| = {worst}");
    let _ = Arc::clone(&s.analysis);
}

/// Largest absolute difference between two policies' weights of the same name.
fn max_weight_gap(a: &PolicyNet, b: &PolicyNet) -> f64 {
    let bv = b.vs.variables();
    a.vs.variables()
        .iter()
        .map(|(name, t)| f64::try_from((t - &bv[name]).abs().max()).expect("scalar"))
        .fold(0.0, f64::max)
}

#[test]
fn weight_mix_scales_the_fine_tuning_from_the_reference() {
    let _g = torch_lock();
    tch::manual_seed(11);
    let reference = PolicyNet::new(&PolicyConfig::tiny(), Device::Cpu).expect("reference");
    tch::manual_seed(12);
    let tuned = PolicyNet::new(&PolicyConfig::tiny(), Device::Cpu).expect("tuned");
    let gap = max_weight_gap(&tuned, &reference);
    assert!(gap > 1e-2, "two random inits should differ ({gap})");

    let mut same = clone_policy(&tuned).expect("clone");
    same.scale_fine_tuning(&reference, 1.0).expect("mix 1");
    assert!(
        max_weight_gap(&same, &tuned) < 1e-7,
        "mix 1 keeps the tuned weights"
    );

    let mut back = clone_policy(&tuned).expect("clone");
    back.scale_fine_tuning(&reference, 0.0).expect("mix 0");
    assert!(
        max_weight_gap(&back, &reference) < 1e-7,
        "mix 0 is the reference"
    );

    // Halfway: each weight is as far from one end as from the other, half the full gap.
    let mut half = clone_policy(&tuned).expect("clone");
    half.scale_fine_tuning(&reference, 0.5).expect("mix 0.5");
    let (to_ref, to_tuned) = (
        max_weight_gap(&half, &reference),
        max_weight_gap(&half, &tuned),
    );
    assert!((to_ref - gap / 2.0).abs() < 1e-6, "{to_ref} vs {gap}/2");
    assert!((to_tuned - gap / 2.0).abs() < 1e-6, "{to_tuned} vs {gap}/2");

    // Twice the fine-tuning: as far again beyond the tuned weights as they lie from the
    // reference.
    let mut twice = clone_policy(&tuned).expect("clone");
    twice.scale_fine_tuning(&reference, 2.0).expect("mix 2");
    let (twice_to_ref, twice_to_tuned) = (
        max_weight_gap(&twice, &reference),
        max_weight_gap(&twice, &tuned),
    );
    assert!(
        (twice_to_ref - 2.0 * gap).abs() < 1e-6,
        "{twice_to_ref} vs 2 × {gap}"
    );
    assert!(
        (twice_to_tuned - gap).abs() < 1e-6,
        "{twice_to_tuned} vs {gap}"
    );

    // Nonsense is refused, and the policy is left as it was.
    for mix in [-0.5, MAX_POLICY_MIX + 0.5] {
        let err = half
            .scale_fine_tuning(&reference, mix)
            .expect_err("mix out of range");
        assert!(err.to_string().contains("[0, 3]"), "{err}");
    }
    let other = PolicyNet::new(&PolicyConfig::default(), Device::Cpu).expect("default shape");
    let err = half
        .scale_fine_tuning(&other, 0.5)
        .expect_err("other shape");
    assert!(
        err.to_string().contains("policy-transformer-2x128h4"),
        "{err}"
    );
    assert!((max_weight_gap(&half, &reference) - to_ref).abs() < 1e-12);
}

/// DPO with the timbre shift: the reference is scored on the same shifted songs as the
/// policy, so at the first step (policy = reference) every pair's log-ratio difference is
/// 0 and the sigmoid loss is exactly ln 2, as without the shift; later steps learn; a
/// negative shift is refused.
#[test]
fn timbre_shifted_dpo_compares_policy_and_reference_on_one_input() {
    let _guard = torch_lock();
    tch::manual_seed(4);
    let songs: Vec<Song> = DPO_TRAIN[..3].iter().map(|n| load(n)).collect();
    let reference = PolicyNet::new(&small_config(), Device::Cpu).unwrap();
    let rater = Rater::new(Taste::Energetic);
    let (pairs, _) = simulate_dpo_pairs(&songs, &rater, 24, 128, 9);
    assert!(pairs.len() >= 8, "{} decided pairs", pairs.len());
    for shift in [0.0, 1.0] {
        let mut policy = clone_policy(&reference).unwrap();
        let cfg = DpoConfig {
            steps: 6,
            batch_size: 4,
            lr: 1e-3,
            feature_shift: shift,
            seed: 3,
            ..Default::default()
        };
        let rep = train_dpo(&mut policy, &reference, &songs, &pairs, &cfg).unwrap();
        assert!(
            (rep.loss[0] - std::f64::consts::LN_2).abs() < 1e-5,
            "shift {shift}: first loss {} is not ln 2",
            rep.loss[0]
        );
        assert!(
            rep.margin[0].abs() < 1e-6,
            "shift {shift}: {:?}",
            rep.margin
        );
        assert!(
            rep.loss.iter().all(|l| l.is_finite()) && rep.loss[5] != rep.loss[0],
            "shift {shift}: {:?}",
            rep.loss
        );
    }
    let mut policy = clone_policy(&reference).unwrap();
    let bad = DpoConfig {
        feature_shift: f64::NAN,
        ..Default::default()
    };
    let err = train_dpo(&mut policy, &reference, &songs, &pairs, &bad).unwrap_err();
    assert!(err.to_string().contains("feature shift"), "{err}");
}
