//! `recut-trainer policy`: behaviour cloning and DPO of the policy.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use recut_trainer::device;
use recut_trainer::dpo::{DpoConfig, DpoLoss, clone_policy, simulate_dpo_pairs, train_dpo};
use recut_trainer::export::{ExportInfo, write_policy};
use recut_trainer::json::write_json;
use recut_trainer::model::{PolicyConfig, PolicyNet};
use recut_trainer::raters::Rater;
use recut_trainer::train_policy::{
    BcConfig, EvalConfig, Logits, baseline_demos, bc_accuracy, bc_accuracy_full, evaluate,
    load_songs, train_bc,
};

pub struct Args {
    pub dpo: bool,
    pub songs: PathBuf,
    pub max_songs: Option<usize>,
    pub held_out: usize,
    pub window: usize,
    pub steps: usize,
    pub batch_size: usize,
    pub lr: Option<f64>,
    pub plans_per_song: usize,
    pub config: PolicyConfig,
    pub from: Option<PathBuf>,
    pub taste: String,
    pub n_pairs: usize,
    pub temperature: f64,
    pub loss: DpoLoss,
    pub beta: f64,
    /// DPO's timbre shift ([`recut_trainer::augment`]).
    pub feature_shift: f64,
    pub only_if_better: bool,
    pub seed: u64,
    pub checkpoint: PathBuf,
    pub out: PathBuf,
    pub history: PathBuf,
    pub report: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let t0 = Instant::now();
    let dev = device::pick_device();
    tch::manual_seed(a.seed as i64);
    eprintln!("analysing songs in {} …", a.songs.display());
    let songs = load_songs(&a.songs, a.max_songs)?;
    let (train, test) = recut_trainer::train_policy::split_held_out(&songs, a.held_out)?;
    let test_ids: Vec<&str> = test.iter().map(|s| s.id.as_str()).collect();
    let created = recut_engine::model::onnx::now_rfc3339();
    let stamp = created.replace([':', '-'], "");
    let stamp = stamp.trim_end_matches('Z');
    let mut figures = serde_json::Map::new();
    if !a.dpo {
        let mut net = PolicyNet::new(&a.config, dev)?;
        let demos = baseline_demos(train, a.plans_per_song, a.seed);
        let cfg = BcConfig {
            steps: a.steps,
            batch_size: a.batch_size,
            lr: a.lr.unwrap_or(1e-3),
            window: a.window,
            plans_per_song: a.plans_per_song,
            seed: a.seed,
            ..Default::default()
        };
        eprintln!(
            "behaviour cloning {} baseline plans of {} songs ({}) on {}",
            demos.len(),
            train.len(),
            net.architecture(),
            device::device_name(dev)
        );
        let rep = train_bc(&mut net, train, &demos, &cfg)?;
        let (train_acc, train_keep) = bc_accuracy(&net, train, &demos);
        let test_demos = baseline_demos(test, a.plans_per_song, a.seed.wrapping_add(99));
        let full = bc_accuracy_full(&net, test, &test_demos);
        let (acc, keep) = (full.accuracy, full.keep_share);
        println!(
            "bc: {} steps in {:.1} s, final loss {:.4}; per-beat accuracy train {:.3} (keep share {:.3}), held-out {:?} {:.3} (keep share {:.3}, per-beat majority ceiling {:.3})",
            cfg.steps,
            rep.seconds,
            rep.losses.last().copied().unwrap_or(f64::NAN),
            train_acc,
            train_keep,
            test_ids,
            acc,
            keep,
            full.majority_ceiling
        );
        figures.insert(
            "bc_heldout_majority_ceiling".into(),
            full.majority_ceiling.into(),
        );
        figures.insert(
            "bc_loss".into(),
            rep.losses.last().copied().unwrap_or(f64::NAN).into(),
        );
        figures.insert("bc_train_accuracy".into(), train_acc.into());
        figures.insert("bc_heldout_accuracy".into(), acc.into());
        figures.insert("bc_heldout_keep_share".into(), keep.into());
        figures.insert("demos".into(), demos.len().into());
        net.save(&a.checkpoint)?;
        let info = ExportInfo {
            model_version: format!("policy-bc-{stamp}"),
            parent: None,
            trained_on: format!("baseline-bc:{}", demos.len()),
            created,
        };
        write_policy(&net, &info, &a.out)?;
        println!("wrote {} and {}", a.out.display(), a.checkpoint.display());
    } else {
        let Some(from) = &a.from else {
            bail!("dpo needs --from <reference checkpoint>")
        };
        let taste = super::parse_taste(&a.taste)?;
        let rater = Rater::new(taste).with_temperature(a.temperature);
        let reference =
            PolicyNet::load(from, dev).with_context(|| format!("loading {}", from.display()))?;
        let mut policy = clone_policy(&reference)?;
        let (pairs, answers) = simulate_dpo_pairs(train, &rater, a.n_pairs, a.window, a.seed);
        eprintln!(
            "dpo ({:?}, beta {}) on {} decided pairs of {} answered (ceiling {:.3}) from taste `{}`",
            a.loss,
            a.beta,
            pairs.len(),
            answers.len(),
            Rater::ceiling(&answers),
            taste.name()
        );
        let cfg = DpoConfig {
            loss: a.loss,
            beta: a.beta,
            steps: a.steps,
            batch_size: a.batch_size,
            lr: a.lr.unwrap_or(1e-4),
            feature_shift: a.feature_shift,
            seed: a.seed,
            ..Default::default()
        };
        let rep = train_dpo(&mut policy, &reference, train, &pairs, &cfg)?;
        rep.history().write(&a.history)?;
        let ev = evaluate(
            &Logits::Net(&reference),
            &Logits::Net(&policy),
            test,
            &rater,
            &EvalConfig::default(),
        )?;
        let n = rep.loss.len();
        let tail = |v: &[f64]| {
            v[n.saturating_sub(10)..].iter().sum::<f64>()
                / v[n.saturating_sub(10)..].len().max(1) as f64
        };
        println!(
            "dpo: {} steps in {:.1} s, loss {:.4} -> {:.4}, kl {:.3}, entropy {:.3}, reward accuracy {:.3}",
            n,
            rep.seconds,
            rep.loss.first().copied().unwrap_or(f64::NAN),
            tail(&rep.loss),
            tail(&rep.kl),
            tail(&rep.entropy),
            tail(&rep.reward_accuracy)
        );
        println!(
            "held-out {:?}: win rate of dpo over reference {:.3} ({} comparisons, {} ties); utility {:.3} -> {:.3}; keep ratio {:.3} -> {:.3}; duration {:.1} -> {:.1} s; splices {:.2} -> {:.2}",
            test_ids,
            ev.win_rate,
            ev.comparisons,
            ev.ties,
            ev.old.utility,
            ev.new.utility,
            ev.old.keep_ratio,
            ev.new.keep_ratio,
            ev.old.duration_s,
            ev.new.duration_s,
            ev.old.splices,
            ev.new.splices
        );
        figures.insert("dpo_pairs".into(), pairs.len().into());
        figures.insert("ceiling".into(), Rater::ceiling(&answers).into());
        figures.insert("win_rate".into(), ev.win_rate.into());
        figures.insert("eval".into(), serde_json::to_value(&ev)?);
        figures.insert("final_loss".into(), tail(&rep.loss).into());
        figures.insert("kl".into(), tail(&rep.kl).into());
        let to = super::PolicyOutputs {
            checkpoint: &a.checkpoint,
            out: &a.out,
            only_if_better: a.only_if_better,
        };
        let exported = super::save_if_better(&policy, "dpo", ev.win_rate, &to, || ExportInfo {
            model_version: format!("policy-dpo-{}-{stamp}", taste.name()),
            parent: Some(from.display().to_string()),
            trained_on: format!("simulated-{}:{}", taste.name(), pairs.len()),
            created,
        })?;
        figures.insert("exported".into(), exported.into());
    }
    figures.insert("seconds".into(), t0.elapsed().as_secs_f64().into());
    if let Some(p) = &a.report {
        write_json(p, &figures)?;
    }
    Ok(())
}
