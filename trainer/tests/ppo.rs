//! PPO: GAE against a hand-computed episode, the clipped objective's gradient, the value
//! head's per-beat values against the exported pooled value, and short seeded runs on the
//! first beats of corpus songs: the dense reward rises over the reference, a resumed run
//! continues the step count, the history has the seed keys.

mod common;

use std::sync::Arc;

use common::song;
use recut_engine::Analysis;
use recut_engine::FEATURE_DIM;
use recut_trainer::augment::{
    MIN_EXCERPT_PHRASES, SONG_POSITION, excerpt, excerpted_songs, shifted_songs, timbre_spread,
};
use recut_trainer::history::TrainingHistory;
use recut_trainer::model::{Batch, PolicyConfig, PolicyNet};
use recut_trainer::ppo::{
    Advantage, PpoConfig, RewardMix, RewardSource, Rollout, assign_advantages, clipped_surrogate,
    crop_rollouts, gae, load_checkpoint, masked_kl, start_from, train_ppo,
};
use recut_trainer::rng::Rng;
use recut_trainer::train_policy::Song;
use tch::{Device, Kind, Tensor};

/// Songs of the short runs (their first [`BEATS`] beats).
const SONGS: [&str; 3] = [
    "hedgewars_city.ogg",
    "hedgewars_freeway.ogg",
    "hedgewars_rock.ogg",
];
/// Beats kept of each song: enough for a few bars to cut, little enough to train fast.
const BEATS: usize = 96;

/// Tests that draw from libtorch's global generator run one at a time.
fn torch_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first `BEATS` beats of a song as a song of its own (beat grid, phrases, features
/// and duration cut to match).
fn short(name: &str) -> Song {
    let a = song(name);
    let n = BEATS.min(a.beats.len() - 1);
    let mut c: Analysis = (*a).clone();
    c.duration_s = a.beats[n];
    c.beats.truncate(n);
    c.features.truncate(n);
    c.downbeats.retain(|&d| d < n);
    c.phrases = a
        .phrases
        .iter()
        .filter(|p| p.start < n)
        .map(|p| p.start..p.end.min(n))
        .collect();
    Song::new(name.trim_end_matches(".ogg"), Arc::new(c))
}

fn tiny() -> PolicyConfig {
    PolicyConfig {
        layers: 1,
        heads: 2,
        width: 16,
        mlp_ratio: 2,
        dropout: 0.0,
    }
}

fn quick(out_dir: &std::path::Path, steps: usize) -> PpoConfig {
    PpoConfig {
        steps,
        rollouts_per_step: 12,
        plans_per_song: 4,
        ppo_epochs: 3,
        minibatch_size: 12,
        window: 0,
        lr: 3e-3,
        kl_coef: 0.0,
        eval_every: 0,
        checkpoint_every: 3,
        out_dir: out_dir.to_owned(),
        history: Some(out_dir.join("training_history.json")),
        log: Some(out_dir.join("ppo.log")),
        plot: Some(out_dir.join("progress.png")),
        seed: 7,
        ..Default::default()
    }
}

/// A rollout of `n` beats of song `song` at `share` with total reward `total`.
fn rollout(song: usize, share: f64, n: usize, total: f64) -> Rollout {
    Rollout {
        song,
        share,
        range: 0..n,
        actions: vec![0; n],
        old_logp: vec![0.0; n],
        ref_logp: vec![0.0; 3 * n],
        values: (0..n).map(|i| (i as f32 * 0.37).sin()).collect(),
        learned: None,
        dense: total,
        total,
        advantages: Vec::new(),
        returns: Vec::new(),
    }
}

/// Group-relative advantages: every beat of a plan carries its reward minus the mean of
/// its group (same song, same share), normalised over the step, whatever the value head
/// says; plans of one song at another share are another group.
#[test]
fn group_advantages_are_the_plan_reward_against_its_group() {
    let mut rs = vec![
        rollout(0, 0.7, 10, 1.0),
        rollout(0, 0.7, 10, 3.0),
        rollout(0, 0.8, 10, 10.0),
        rollout(0, 0.8, 10, 10.0),
        rollout(1, 0.7, 6, -5.0),
        rollout(1, 0.7, 6, -1.0),
    ];
    let cfg = PpoConfig::default();
    assert_eq!(cfg.advantage, Advantage::Group);
    assign_advantages(&mut rs, &cfg);
    let centred = [-1.0, 1.0, 0.0, 0.0, -2.0, 2.0];
    let first = rs[1].advantages[0] as f64;
    for (r, c) in rs.iter().zip(centred) {
        assert!(
            r.advantages.iter().all(|&a| a == r.advantages[0]),
            "one advantage per plan"
        );
        // Normalisation divides by one common scale: a plan's advantage is proportional
        // to its centred reward.
        let a = r.advantages[0] as f64;
        assert!(
            (a - c * first).abs() < 1e-5,
            "advantage {a} for centred reward {c}"
        );
    }
    // With GAE the value head's wobble shapes the per-beat advantages.
    let mut gae_rs = rs.clone();
    assign_advantages(
        &mut gae_rs,
        &PpoConfig {
            advantage: Advantage::Gae,
            ..Default::default()
        },
    );
    assert!(
        gae_rs[1]
            .advantages
            .iter()
            .any(|&a| a != gae_rs[1].advantages[0])
    );
}

/// The plans of one song share their update window, so the beats they agree on get
/// advantages that cancel; different songs draw their own windows. Every window's old and
/// reference log-probabilities are those of the two nets run on that window alone (the
/// nets run once per window and its plans share the rows).
#[test]
fn plans_of_a_song_share_their_window() {
    let _g = torch_lock();
    tch::manual_seed(3);
    let songs: Vec<Song> = SONGS[..2].iter().map(|n| short(n)).collect();
    let policy = PolicyNet::new(&tiny(), Device::Cpu).unwrap();
    let reference = PolicyNet::new(&tiny(), Device::Cpu).unwrap();
    let temperature = 0.5;
    let logp_on = |net: &PolicyNet, r: &Rollout| -> Vec<f32> {
        let feats = &songs[r.song].features()[r.range.clone()];
        let b = Batch::new(&[(feats, &[][..])], Device::Cpu);
        let (logits, _) = tch::no_grad(|| net.forward_t(&b.features, &b.mask, false));
        Vec::<f32>::try_from(
            (logits / temperature)
                .log_softmax(-1, Kind::Float)
                .flatten(0, -1),
        )
        .unwrap()
    };
    let n0 = songs[0].features().len();
    let n1 = songs[1].features().len();
    let mut rs: Vec<Rollout> = (0..8)
        .map(|i| {
            let n = if i % 2 == 0 { n0 } else { n1 };
            Rollout {
                actions: (0..n).map(|k| ((k + i) % 3) as u8).collect(),
                ..rollout(i % 2, 0.7, n, i as f64)
            }
        })
        .collect();
    assign_advantages(&mut rs, &PpoConfig::default());
    for seed in 0..5 {
        let out = crop_rollouts(
            &policy,
            &reference,
            &songs,
            &rs,
            32,
            temperature,
            &mut Rng::new(seed),
        );
        for r in &out {
            let (now, by_ref) = (logp_on(&policy, r), logp_on(&reference, r));
            let picked: Vec<f32> = r
                .actions
                .iter()
                .enumerate()
                .map(|(i, &a)| now[3 * i + usize::from(a)])
                .collect();
            for (got, want, what) in [
                (&r.ref_logp, &by_ref, "π_ref's log-probabilities"),
                (&r.old_logp, &picked, "old log-probabilities"),
            ] {
                assert!(
                    got.len() == want.len()
                        && got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5),
                    "song {} window {:?}: {what} are not the net's on the window",
                    r.song,
                    r.range
                );
            }
        }
        for song in 0..2 {
            let windows: Vec<_> = out
                .iter()
                .filter(|r| r.song == song)
                .map(|r| r.range.clone())
                .collect();
            assert_eq!(windows.len(), 4);
            assert!(
                windows.iter().all(|w| *w == windows[0] && w.len() == 32),
                "{windows:?}"
            );
        }
    }
}

/// GAE on a 3-step episode, by hand: γ = 0.9, λ = 0.8, r = (1, 0, 2), V = (0.5, 1, 1.5),
/// terminal. δ = (1 + 0.9·1 − 0.5, 0 + 0.9·1.5 − 1, 2 − 1.5) = (1.4, 0.35, 0.5);
/// A₂ = 0.5, A₁ = 0.35 + 0.72·0.5 = 0.71, A₀ = 1.4 + 0.72·0.71 = 1.9112; G = A + V.
#[test]
fn gae_matches_a_hand_computed_episode() {
    let (adv, ret) = gae(&[1.0, 0.0, 2.0], &[0.5, 1.0, 1.5], 0.0, 0.9, 0.8);
    let want = [1.9112, 0.71, 0.5];
    for (a, w) in adv.iter().zip(want) {
        assert!((a - w).abs() < 1e-12, "{adv:?}");
    }
    for ((g, a), v) in ret.iter().zip(&adv).zip([0.5, 1.0, 1.5]) {
        assert!((g - (a + v)).abs() < 1e-12);
    }
    // λ = 1, γ = 1: the advantage is the return-to-go minus the value.
    let (adv, _) = gae(&[0.0, 0.0, 3.0], &[1.0, 2.0, 0.0], 0.0, 1.0, 1.0);
    assert_eq!(adv, vec![2.0, 1.0, 3.0]);
    // A bootstrap value counts as the value after the last step.
    let (adv, _) = gae(&[1.0], &[0.0], 2.0, 0.5, 1.0);
    assert_eq!(adv, vec![2.0]);
}

/// The clipped surrogate's gradient is zero where the ratio is past the clip range in the
/// advantage's favour and −A·ρ/n (n = real beats) elsewhere; padded beats get none.
#[test]
fn clipped_objective_has_no_gradient_outside_the_clip_range() {
    let clip = 0.2;
    // ρ = 1.5 (A > 0, clipped), 0.5 (A < 0, clipped), 1.1 (A > 0, inside),
    // 0.5 (A > 0: below the range but against the advantage, not clipped), padding.
    let rho = [1.5f64, 0.5, 1.1, 0.5, 1.0];
    let adv = [1.0f32, -1.0, 2.0, 1.0, 5.0];
    let mask = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 1.0, 0.0]).view([1, 5]);
    let old = Tensor::zeros([1, 5], (Kind::Float, Device::Cpu));
    let logp = Tensor::from_slice(&rho.map(|r| r.ln() as f32))
        .view([1, 5])
        .set_requires_grad(true);
    let a = Tensor::from_slice(&adv).view([1, 5]);
    let loss = clipped_surrogate(&logp, &old, &a, &mask, clip);
    loss.backward();
    let g = Vec::<f32>::try_from(logp.grad().view([5])).unwrap();
    assert_eq!(g[0], 0.0, "{g:?}");
    assert_eq!(g[1], 0.0, "{g:?}");
    assert!((g[2] - (-2.0 * 1.1 / 4.0)).abs() < 1e-5, "{g:?}");
    assert!((g[3] - (-0.5 / 4.0)).abs() < 1e-5, "{g:?}");
    assert_eq!(g[4], 0.0, "{g:?}");
    // The value: −mean of min(ρA, clip(ρ)A) over the real beats
    // = −(min(1.5, 1.2) + min(−0.5, −0.8) + 2.2 + min(0.5, 0.8)) / 4 = −3.1 / 4.
    let want = -3.1 / 4.0;
    assert!(
        (loss.double_value(&[]) - want).abs() < 1e-5,
        "{} vs {want}",
        loss.double_value(&[])
    );
}

/// The KL is zero for identical distributions, positive otherwise, and ignores padding.
#[test]
fn kl_to_the_reference_is_masked_and_nonnegative() {
    let a = Tensor::from_slice(&[0.0f32, 1.0, -1.0, 2.0, 0.0, 0.0])
        .view([1, 2, 3])
        .log_softmax(-1, Kind::Float);
    let b = Tensor::from_slice(&[0.0f32, 1.0, -1.0, -3.0, 9.0, 0.0])
        .view([1, 2, 3])
        .log_softmax(-1, Kind::Float);
    let first = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
    let both = Tensor::from_slice(&[1.0f32, 1.0]).view([1, 2]);
    assert!(masked_kl(&a, &b, &first).double_value(&[]).abs() < 1e-6);
    assert!(masked_kl(&a, &b, &both).double_value(&[]) > 1.0);
    assert!(masked_kl(&a, &a, &both).double_value(&[]).abs() < 1e-6);
}

/// The per-beat values' masked mean is the exported pooled value (the head is linear).
#[test]
fn per_beat_values_average_to_the_exported_value() {
    let _guard = torch_lock();
    tch::manual_seed(1);
    let s = short(SONGS[0]);
    let net = PolicyNet::new(&tiny(), Device::Cpu).unwrap();
    let f = s.features();
    let b = Batch::new(&[(f, &[][..]), (&f[..40], &[][..])], Device::Cpu);
    let (l1, pooled) = net.forward_t(&b.features, &b.mask, false);
    let (l2, values) = net.forward_values(&b.features, &b.mask, false);
    let mean = (values * &b.mask).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        / b.mask
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let diff = (mean - pooled).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "{diff}");
    assert!((l1 - l2).abs().max().double_value(&[]) == 0.0);
}

/// The reward mix: scale, offset and clamp on the score, 0.8 / 0.2 weights, and the dense
/// reward alone without a model.
#[test]
fn reward_mix_scales_clamps_and_weighs() {
    let m = RewardMix {
        scale: 2.0,
        offset: 1.0,
        clamp: 3.0,
        ..Default::default()
    };
    assert_eq!(m.learned(0.25), 2.5);
    assert_eq!(m.learned(5.0), 3.0);
    assert_eq!(m.learned(-9.0), -3.0);
    assert!((m.total(Some(2.5), 0.5) - (0.8 * 2.5 + 0.2 * 0.5)).abs() < 1e-12);
    assert_eq!(m.total(None, 0.5), 0.5);
}

/// A short seeded PPO run with the dense reward alone raises the dense reward of the fixed
/// evaluation plans over the reference policy's; it writes checkpoints, policy_best and
/// policy_final, a history with the seed keys, a log and a picture; resuming from the
/// step-3 checkpoint continues at step 4 and ends with the same step count and history
/// length as the uninterrupted run.
#[test]
fn short_run_improves_the_dense_reward_and_resumes() {
    let _guard = torch_lock();
    tch::manual_seed(2);
    let songs: Vec<Song> = SONGS.iter().map(|n| short(n)).collect();
    let reference = PolicyNet::new(&tiny(), Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick(dir.path(), 6);
    let mut policy = start_from(&reference).unwrap();
    let t0 = std::time::Instant::now();
    let rep = train_ppo(
        &cfg,
        &mut policy,
        &reference,
        &songs,
        &RewardSource::Dense,
        None,
    )
    .unwrap();
    eprintln!(
        "ppo: evaluation reward {:.4} -> {:.4} (best {:?} at {}), rewards per step {:?}, {:.1} s",
        rep.start_eval,
        rep.final_eval,
        rep.state.best_eval,
        rep.state.best_step,
        rep.state.history.total_reward,
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(rep.state.step, 6);
    assert!(
        rep.final_eval > rep.start_eval,
        "dense reward {} -> {}",
        rep.start_eval,
        rep.final_eval
    );
    assert!(rep.best_path.exists() && rep.final_path.exists());
    assert_eq!(rep.checkpoints.len(), 2);
    let text = std::fs::read_to_string(dir.path().join("training_history.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in [
        "episode",
        "step",
        "total_reward",
        "policy_loss",
        "value_loss",
        "learned_reward",
        "dense_reward",
        "kl",
        "entropy",
    ] {
        assert!(json.get(key).is_some_and(|v| v.is_array()), "missing {key}");
    }
    let h = TrainingHistory::read(&dir.path().join("training_history.json")).unwrap();
    assert_eq!(h.step, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(h.total_reward.len(), 6);
    assert!(
        h.learned_reward.is_empty(),
        "no reward model, no learned reward"
    );
    let log = std::fs::read_to_string(dir.path().join("ppo.log")).unwrap();
    assert!(log.contains("dense reward only"), "{log}");
    let png = std::fs::read(dir.path().join("progress.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");

    // Resume from step 3 into a fresh folder.
    let (mut resumed, ref2, state) = load_checkpoint(&rep.checkpoints[0], Device::Cpu).unwrap();
    assert_eq!(state.step, 3);
    let dir2 = tempfile::tempdir().unwrap();
    let cfg2 = quick(dir2.path(), 6);
    let rep2 = train_ppo(
        &cfg2,
        &mut resumed,
        &ref2,
        &songs,
        &RewardSource::Dense,
        Some(state),
    )
    .unwrap();
    assert_eq!(rep2.state.step, 6);
    assert_eq!(rep2.state.history.step, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        rep2.checkpoints.len(),
        1,
        "only the step-6 checkpoint is new"
    );
    // The first three steps are the original run's, carried over.
    assert_eq!(
        rep2.state.history.total_reward[..3],
        rep.state.history.total_reward[..3]
    );
    // Step 4 draws the same plans' songs and seeds; with Adam's moments restarted the
    // weights (and so the rewards) may differ, but the run continues and stays sane.
    assert!(
        rep2.state
            .history
            .total_reward
            .iter()
            .all(|r| r.is_finite())
    );
}

/// A fresh PPO run from `reference` on the dense reward alone.
fn dense_run(
    cfg: &PpoConfig,
    reference: &PolicyNet,
    songs: &[Song],
) -> recut_trainer::Result<recut_trainer::ppo::PpoReport> {
    let mut policy = start_from(reference)?;
    train_ppo(
        cfg,
        &mut policy,
        reference,
        songs,
        &RewardSource::Dense,
        None,
    )
}

/// A song whose every feature of every beat is `value` (the beat grid of a real song).
fn flat(name: &str, value: f32) -> Song {
    let s = short(name);
    let mut a: Analysis = (*s.analysis).clone();
    a.features.iter_mut().for_each(|row| row.fill(value));
    Song::new(s.id, Arc::new(a))
}

/// The augmentation's scale is the sample standard deviation of the songs' mean features:
/// two songs at 1 and 3 spread by √2 on every feature; one song has no spread.
#[test]
fn timbre_spread_is_the_spread_of_song_means() {
    let songs = [flat(SONGS[0], 1.0), flat(SONGS[1], 3.0)];
    let spread = timbre_spread(&songs);
    assert!(
        spread
            .iter()
            .all(|&s| (s - std::f32::consts::SQRT_2).abs() < 1e-6),
        "{spread:?}"
    );
    assert!(timbre_spread(&songs[..1]).iter().all(|&s| s == 0.0));
}

/// Each drawn song is moved by one offset vector on every beat (a new timbre, the same
/// structure), two songs by different vectors, features without spread not at all, and
/// the offsets have the asked-for size; songs not drawn are the originals, and nothing
/// but the features changes.
#[test]
fn timbre_shift_moves_each_drawn_song_by_one_offset() {
    let songs: Vec<Song> = SONGS.iter().map(|n| short(n)).collect();
    let spread = timbre_spread(&songs);
    let varied = spread.iter().filter(|&&s| s > 0.0).count();
    assert!(
        varied > FEATURE_DIM / 2,
        "only {varied} features vary over the songs"
    );
    let mut rng = Rng::new(5);
    let shifted = shifted_songs(&songs, &[2, 0, 2], 1.0, &spread, &mut rng);
    assert_eq!(shifted.len(), songs.len());
    assert!(Arc::ptr_eq(&shifted[1].analysis, &songs[1].analysis));
    let offset_of = |i: usize| -> Vec<f32> {
        let (new, old) = (shifted[i].features(), songs[i].features());
        assert_eq!(new.len(), old.len());
        assert_eq!(shifted[i].analysis.beats, songs[i].analysis.beats);
        assert_eq!(shifted[i].analysis.phrases, songs[i].analysis.phrases);
        let d: Vec<f32> = (0..FEATURE_DIM).map(|j| new[0][j] - old[0][j]).collect();
        for (row_new, row_old) in new.iter().zip(old) {
            for j in 0..FEATURE_DIM {
                assert!(
                    (row_new[j] - row_old[j] - d[j]).abs() < 1e-4,
                    "feature {j} moves by more than one offset"
                );
            }
        }
        d
    };
    let (d0, d2) = (offset_of(0), offset_of(2));
    assert_ne!(d0, d2, "two songs, two timbres");
    let mut z2 = Vec::new();
    for j in 0..FEATURE_DIM {
        if spread[j] == 0.0 {
            assert_eq!((d0[j], d2[j]), (0.0, 0.0), "feature {j} has no spread");
        } else {
            z2.extend([(d0[j] / spread[j]).powi(2), (d2[j] / spread[j]).powi(2)]);
        }
    }
    let mean_z2 = z2.iter().sum::<f32>() / z2.len() as f32;
    assert!(
        (0.7..1.3).contains(&mean_z2),
        "offsets of {mean_z2} spreads² on average, want about 1 (shift 1)"
    );
    // Shift 0 moves nothing.
    let same = shifted_songs(&songs, &[0, 1, 2], 0.0, &spread, &mut rng);
    for (a, b) in same.iter().zip(&songs) {
        assert_eq!(a.features(), b.features());
    }
}

/// Standard normal draws: mean 0 and variance 1 within sampling error (20 000 draws:
/// standard errors 0.007 and 0.01).
#[test]
fn normal_draws_have_unit_variance() {
    let mut rng = Rng::new(11);
    let xs: Vec<f64> = (0..20_000).map(|_| rng.normal()).collect();
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    assert!(mean.abs() < 0.03, "mean {mean}");
    assert!((var - 1.0).abs() < 0.05, "variance {var}");
    assert!(xs.iter().all(|x| x.is_finite()));
}

/// A short dense run with an augmentation set to `good` (by `apply`) still learns: the
/// dense reward of the evaluation plans, on the songs as they are, rises over the
/// reference. Each of the `bad` settings is refused before any work, saying `says`.
fn augmented_run_learns_and_bad_settings_are_refused(
    apply: impl Fn(&mut PpoConfig, f64),
    good: f64,
    bad: &[f64],
    says: &str,
) {
    let _guard = torch_lock();
    tch::manual_seed(2);
    let songs: Vec<Song> = SONGS.iter().map(|n| short(n)).collect();
    let reference = PolicyNet::new(&tiny(), Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = PpoConfig {
        checkpoint_every: 0,
        ..quick(dir.path(), 6)
    };
    apply(&mut cfg, good);
    let rep = dense_run(&cfg, &reference, &songs).unwrap();
    assert!(
        rep.final_eval > rep.start_eval,
        "dense reward {} -> {}",
        rep.start_eval,
        rep.final_eval
    );
    for &value in bad {
        let mut cfg = quick(dir.path(), 1);
        apply(&mut cfg, value);
        let err = dense_run(&cfg, &reference, &songs).unwrap_err();
        assert!(err.to_string().contains(says), "{value}: {err}");
    }
}

/// The timbre shift: a run with shift 1 learns, a negative shift is refused.
#[test]
fn timbre_shifted_run_learns_and_bad_shift_is_refused() {
    augmented_run_learns_and_bad_settings_are_refused(
        |c, v| c.feature_shift = v,
        1.0,
        &[-0.5, f64::NAN],
        "feature shift",
    );
}

/// Excerpts: a run on excerpts of at least half of each song learns, a share outside
/// (0, 1] is refused.
#[test]
fn excerpted_run_learns_and_bad_share_is_refused() {
    augmented_run_learns_and_bad_settings_are_refused(
        |c, v| c.excerpt = v,
        0.5,
        &[0.0, 1.5, f64::NAN],
        "excerpt share",
    );
}

/// One training song has no spread to shift by: the run says the shift is off and trains
/// as an unshifted run does, step for step.
#[test]
fn one_song_turns_the_timbre_shift_off() {
    let _guard = torch_lock();
    let songs = vec![short(SONGS[0])];
    let run = |shift: f64| {
        tch::manual_seed(3);
        let reference = PolicyNet::new(&tiny(), Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = PpoConfig {
            feature_shift: shift,
            checkpoint_every: 0,
            ..quick(dir.path(), 2)
        };
        let rep = dense_run(&cfg, &reference, &songs).unwrap();
        let log = std::fs::read_to_string(dir.path().join("ppo.log")).unwrap();
        (rep.state.history.total_reward, log)
    };
    let (with_shift, log) = run(1.0);
    assert!(log.contains("timbre shift off"), "{log}");
    let (without, log0) = run(0.0);
    assert!(!log0.contains("timbre shift"), "{log0}");
    assert_eq!(with_shift, without);
}

/// The oracle reward source scores an edit by its rater's utility over the rater's
/// temperature (the scale a Bradley–Terry model of the rater's answers learns), and says
/// which taste it is in the log line.
#[test]
fn the_oracle_reward_is_the_rater_utility_over_its_temperature() {
    use recut_trainer::raters::{Rater, Taste};
    let s = short(SONGS[0]);
    let n = s.analysis.features.len();
    // Everything kept; a cut of two bars in the middle; a cut starting one beat after a
    // phrase start (a phrase is at least a bar long, so that beat starts none).
    let kept = vec![0u8; n];
    let mut bars = kept.clone();
    bars[32..40].iter_mut().for_each(|a| *a = 1);
    let phrase = s.analysis.phrases[1].start;
    let mut odd = kept.clone();
    odd[phrase + 1..phrase + 10].iter_mut().for_each(|a| *a = 1);
    let features = &s.analysis.features;
    let items: Vec<(&[[f32; FEATURE_DIM]], &[u8])> =
        vec![(features, &kept), (features, &bars), (features, &odd)];
    let rater = Rater::new(Taste::PhraseAware).with_temperature(0.5);
    let source = RewardSource::Rater(rater);
    assert!(
        source.describe().contains("phrase_aware"),
        "{}",
        source.describe()
    );
    let scores = source.scores(&items, Device::Cpu).unwrap().unwrap();
    for ((f, a), got) in items.iter().zip(&scores) {
        assert!((got - rater.utility(f, a) / 0.5).abs() < 1e-12);
    }
    // The odd cut starts off the phrase grid, which the taste dislikes.
    assert!(scores[2] < scores[0], "{scores:?}");
}

/// An excerpt of phrases 1 and 2 of a whole corpus song is that music as a song of its
/// own: beats from 0 s at the same spacing, bars and phrases re-indexed onto them, the song
/// position running from 0 over the excerpt, every other feature as it was; an empty or
/// out-of-range run is no excerpt.
#[test]
fn an_excerpt_is_a_run_of_whole_phrases_as_a_song_of_its_own() {
    let a = song(SONGS[0]);
    assert!(a.phrases.len() >= 4, "{} phrases", a.phrases.len());
    let x = excerpt(&a, 1..3).unwrap();
    let (b0, b1) = (a.phrases[1].start, a.phrases[2].end);
    let n = b1 - b0;
    assert_eq!((x.beats.len(), x.features.len()), (n, n));
    for (i, t) in x.beats.iter().enumerate() {
        assert!(
            (t - (a.beats[b0 + i] - a.beats[b0])).abs() < 1e-9,
            "beat {i}"
        );
    }
    assert!((x.duration_s - (a.beats[b1] - a.beats[b0])).abs() < 1e-9);
    let first = a.phrases[1].len();
    assert_eq!(x.phrases, vec![0..first, first..n]);
    let downbeats: Vec<usize> = a
        .downbeats
        .iter()
        .filter(|d| (b0..b1).contains(d))
        .map(|d| d - b0)
        .collect();
    assert!(!downbeats.is_empty());
    assert_eq!(x.downbeats, downbeats);
    let pos: Vec<f32> = x.features.iter().map(|r| r[SONG_POSITION]).collect();
    assert_eq!(pos[0], 0.0);
    assert!(pos.windows(2).all(|w| w[1] > w[0]), "{pos:?}");
    assert!((0.9..1.0).contains(&pos[n - 1]), "{}", pos[n - 1]);
    for (i, row) in x.features.iter().enumerate() {
        for j in (0..FEATURE_DIM).filter(|&j| j != SONG_POSITION) {
            assert_eq!(row[j], a.features[b0 + i][j], "beat {i}, feature {j}");
        }
    }
    // The tempo, meter and the rest of the analysis are the song's.
    assert_eq!((x.tempo_bpm, x.meter), (a.tempo_bpm, a.meter));
    let p = a.phrases.len();
    assert!(excerpt(&a, 2..2).is_none());
    assert!(excerpt(&a, p..p + 1).is_none());
    assert!(excerpt(&a, 0..p).is_some());
}

/// Each drawn song becomes a run of at least the asked share of its phrases (never fewer
/// than three, and over 30 draws both shorter runs and several starts), the songs not
/// drawn stay shared, and a share of 1 keeps every song whole.
#[test]
fn excerpted_songs_keep_at_least_the_share_of_phrases() {
    let songs: Vec<Song> = SONGS
        .iter()
        .map(|n| Song::new(n.trim_end_matches(".ogg"), song(n)))
        .collect();
    let mut rng = Rng::new(7);
    let mut starts = std::collections::BTreeSet::new();
    let mut shorter = 0;
    for _ in 0..30 {
        let out = excerpted_songs(&songs, &[0, 2, 0], 0.5, &mut rng);
        assert!(Arc::ptr_eq(&out[1].analysis, &songs[1].analysis));
        for i in [0, 2] {
            let (whole, x) = (&songs[i].analysis, &out[i].analysis);
            let (p, k) = (whole.phrases.len(), x.phrases.len());
            let least = ((0.5 * p as f64).round() as usize)
                .max(MIN_EXCERPT_PHRASES)
                .min(p);
            assert!((least..=p).contains(&k), "{k} of {p} phrases");
            shorter += usize::from(k < p);
            // A run of whole phrases: the excerpt's beats are the song's from a phrase start.
            let start = whole
                .phrases
                .iter()
                .map(|r| r.start)
                .find(|&b| {
                    (0..x.features.len()).all(|t| {
                        x.features[t][..SONG_POSITION] == whole.features[b + t][..SONG_POSITION]
                    })
                })
                .expect("the excerpt starts on a phrase start of the song");
            if i == 0 {
                starts.insert(start);
            }
            assert_eq!(out[i].id, songs[i].id);
        }
    }
    assert!(
        shorter > 30,
        "only {shorter} of 60 excerpts were shorter than their song"
    );
    assert!(starts.len() > 3, "starts {starts:?}");
    for (a, b) in excerpted_songs(&songs, &[0, 1, 2], 1.0, &mut rng)
        .iter()
        .zip(&songs)
    {
        assert!(Arc::ptr_eq(&a.analysis, &b.analysis));
    }
}

/// Roll-back: with a learning rate large enough to wreck the policy, an evaluation falls
/// below the best; the policy returns to the best one and the learning rate drops by the
/// factor. With a factor so small that training then stands still, every later evaluation
/// is the best one's again (the evaluation plans are fixed), and the final policy is the
/// best. The reduced learning rate and the roll-backs travel in the checkpoints.
#[test]
fn an_evaluation_below_the_best_rolls_back_to_it() {
    let _guard = torch_lock();
    tch::manual_seed(4);
    let songs: Vec<Song> = SONGS.iter().map(|n| short(n)).collect();
    let reference = PolicyNet::new(&tiny(), Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let factor = 1e-12;
    let cfg = PpoConfig {
        lr: 1.0,
        grad_clip: 0.0,
        eval_every: 1,
        rollback_drop: 1e-9,
        rollback_lr_factor: factor,
        checkpoint_every: 8,
        ..quick(dir.path(), 8)
    };
    let rep = dense_run(&cfg, &reference, &songs).unwrap();
    let h = &rep.state.history;
    let first = *rep
        .state
        .rollback_steps
        .first()
        .unwrap_or_else(|| panic!("no roll-back; evaluations {:?}", h.eval_reward));
    // The first roll-back is at the first evaluation more than the drop below the best
    // before it.
    let at = |step: usize| {
        h.eval_step
            .iter()
            .position(|&s| s as usize == step)
            .unwrap()
    };
    let best_before = h.eval_reward[..at(first)]
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(h.eval_reward[at(first)] < best_before - cfg.rollback_drop);
    assert!(
        h.eval_reward[..at(first)]
            .windows(2)
            .all(|w| w[1] >= w[0] - cfg.rollback_drop || w[1] >= best_before),
        "an earlier fall should have rolled back: {:?}",
        h.eval_reward
    );
    let best = rep.state.best_eval.unwrap();
    assert_eq!(
        best, best_before,
        "nothing beat the best after the roll-back"
    );
    for (&s, &e) in h.eval_step.iter().zip(&h.eval_reward) {
        if s as usize > first {
            assert!(
                (e - best).abs() < 1e-9,
                "step {s}: evaluation {e}, the best policy's is {best}"
            );
        }
    }
    let final_policy = PolicyNet::load(&rep.final_path, Device::Cpu).unwrap();
    let best_policy = PolicyNet::load(&rep.best_path, Device::Cpu).unwrap();
    let drift = max_weight_difference(&final_policy, &best_policy);
    assert!(drift < 1e-6, "final policy {drift} from the best");
    let n = rep.state.rollback_steps.len() as i32;
    assert_eq!(rep.state.lr, Some(cfg.lr * factor.powi(n)));
    let log = std::fs::read_to_string(dir.path().join("ppo.log")).unwrap();
    assert!(log.contains("below the best: back to step"), "{log}");
    let (_, _, saved) = load_checkpoint(&rep.checkpoints[0], Device::Cpu).unwrap();
    assert_eq!(saved.lr, rep.state.lr);
    assert_eq!(saved.rollback_steps, rep.state.rollback_steps);
}

/// A negative or non-finite roll-back drop, and a factor outside (0, 1], are refused
/// before any work.
#[test]
fn bad_rollback_settings_are_refused() {
    let songs = vec![short(SONGS[0])];
    let reference = PolicyNet::new(&tiny(), Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (drop, factor) in [(-0.1, 0.5), (f64::NAN, 0.5), (0.25, 0.0), (0.25, 1.5)] {
        let cfg = PpoConfig {
            rollback_drop: drop,
            rollback_lr_factor: factor,
            ..quick(dir.path(), 1)
        };
        let err = dense_run(&cfg, &reference, &songs).unwrap_err();
        assert!(
            err.to_string().contains("roll-back"),
            "{drop} {factor}: {err}"
        );
    }
}

/// Largest absolute difference between two policies' weights, over every variable.
fn max_weight_difference(a: &PolicyNet, b: &PolicyNet) -> f64 {
    let bv = b.vs.variables();
    a.vs.variables()
        .iter()
        .map(|(name, t)| (t - &bv[name]).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}
