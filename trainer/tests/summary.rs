//! The edit descriptor counts what it says it counts: on a real song and edits with cut
//! and looped stretches anywhere (the opening and the ending included), its structure,
//! placement and splice entries equal the same quantities computed beat by beat from the
//! played sequence, the way the simulated raters compute them. Items are batched with
//! padding, so the padded path is checked too.

mod common;

use common::{Rng, song};
use recut_engine::FEATURE_DIM;
use recut_trainer::model::Batch;
use recut_trainer::model::MlpConfig;
use recut_trainer::model::batch::to_vec_f32;
use recut_trainer::model::reward::RewardMlp;
use recut_trainer::model::summary::{
    PLACEMENT, PLAYED, SPLICES, STRUCTURE, SUMMARY_DIM, edit_summary, entry_name,
};
use recut_trainer::raters::{PHRASE_START, output_beats, splices, transition_cost};
use tch::Device;

/// Song position (feature 99) inside the played part of the descriptor: the second range
/// (95–100) starts after the 10 features of the first (79–88).
const SONG_POSITION: usize = PLAYED as usize + 10 + 4;
/// The phrase-start flag among the placement sums (after the count and 4 sin/cos).
const PLACEMENT_PHRASE: usize = PLACEMENT as usize + 1 + 4;

/// An edit of `n` beats in stretches of 1–12 beats: Keep 60 %, Cut 30 %, Loop 10 %.
fn stretches(n: usize, rng: &mut Rng) -> Vec<u8> {
    let mut a = Vec::with_capacity(n);
    while a.len() < n {
        let action = match rng.below(10) {
            0..=5 => 0,
            6..=8 => 1,
            _ => 2,
        };
        let len = 1 + rng.below(12) as usize;
        a.extend(std::iter::repeat_n(action, len.min(n - a.len())));
    }
    a
}

fn runs(a: &[u8], action: u8) -> usize {
    (0..a.len())
        .filter(|&i| a[i] == action && (i == 0 || a[i - 1] != action))
        .count()
}

/// Cut boundaries off a phrase start, as the `phrase_aware` rater counts them.
fn off_phrase(f: &[[f32; FEATURE_DIM]], out: &[usize]) -> usize {
    let n = f.len();
    let on = |i: usize| i >= n || f[i][PHRASE_START] > 0.5;
    let mut bad = 0;
    if let Some(&first) = out.first().filter(|&&b| b > 0) {
        bad += !on(first) as usize;
    }
    for (p, q) in splices(out) {
        if q > p {
            bad += !on(p + 1) as usize;
        }
        bad += !on(q) as usize;
    }
    if let Some(&last) = out.last() {
        bad += !on(last + 1) as usize;
    }
    bad
}

fn close(what: &str, got: f32, want: f64) {
    assert!(
        (got as f64 - want).abs() <= 1e-3 * want.abs().max(1.0),
        "{what}: descriptor {got}, counted {want}"
    );
}

#[test]
fn descriptor_counts_what_the_raters_count() {
    let a = song("hedgewars_freeway.ogg");
    let full = &a.features[..];
    let short = &a.features[..full.len() * 2 / 3];
    let mut rng = Rng(7);
    let mut checked_edges = [false; 2];
    for round in 0..12 {
        let edits = [
            stretches(full.len(), &mut rng),
            stretches(short.len(), &mut rng),
        ];
        let songs = [full, short];
        let batch = Batch::new(
            &[(songs[0], &edits[0][..]), (songs[1], &edits[1][..])],
            Device::Cpu,
        );
        let d = to_vec_f32(&edit_summary(&batch.features, &batch.actions, &batch.mask));
        assert_eq!(d.len(), 2 * SUMMARY_DIM as usize);
        for (k, (f, e)) in songs.iter().zip(&edits).enumerate() {
            let row = &d[k * SUMMARY_DIM as usize..(k + 1) * SUMMARY_DIM as usize];
            let what = |s: &str| format!("round {round} item {k}: {s}");
            let t = f.len() as f64;
            let per = 32.0 / t;
            let out = output_beats(e);
            checked_edges[0] |= e[0] == 1;
            checked_edges[1] |= *e.last().unwrap() == 1;

            let s = STRUCTURE as usize;
            let n_cut = e.iter().filter(|&&x| x == 1).count() as f64;
            let n_loop = e.iter().filter(|&&x| x == 2).count() as f64;
            close(&what("cut share"), row[s], n_cut / t);
            close(&what("loop share"), row[s + 1], n_loop / t);
            close(
                &what("removed stretches"),
                row[s + 2],
                runs(e, 1) as f64 * per,
            );
            close(
                &what("repeated stretches"),
                row[s + 3],
                runs(e, 2) as f64 * per,
            );
            close(&what("opening cut"), row[s + 4], (e[0] == 1) as u8 as f64);
            close(
                &what("ending cut"),
                row[s + 5],
                (e[e.len() - 1] == 1) as u8 as f64,
            );

            // Song position of what is played, relative to the song's mean.
            let mean = |beats: &mut dyn Iterator<Item = usize>| {
                let v: Vec<f64> = beats.map(|i| f[i][99] as f64).collect();
                v.iter().sum::<f64>() / v.len() as f64
            };
            let rel = mean(&mut out.iter().copied()) - mean(&mut (0..f.len()));
            close(&what("played song position"), row[SONG_POSITION], rel);

            // Boundaries off a phrase start = boundaries − phrase starts among them.
            let off = row[PLACEMENT as usize] - row[PLACEMENT_PHRASE];
            close(
                &what("boundaries off a phrase"),
                off,
                off_phrase(f, &out) as f64 * per,
            );

            // Splices and their MFCC + chroma cost (the `smooth` rater's transition cost).
            let sp: Vec<_> = splices(&out).collect();
            let sp_i = SPLICES as usize;
            close(&what("splices"), row[sp_i], sp.len() as f64 * per);
            let cost: f64 = sp.iter().map(|&(p, q)| transition_cost(f, p, q)).sum();
            close(
                &what("splice cost"),
                row[sp_i + 1] + row[sp_i + 2],
                cost * per,
            );
        }
    }
    assert!(
        checked_edges.iter().all(|&c| c),
        "the random edits should cut the opening and the ending at least once: {checked_edges:?}"
    );
}

#[test]
fn every_entry_has_its_own_name() {
    let names: Vec<String> = (0..SUMMARY_DIM as usize).map(entry_name).collect();
    let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with("entry ")), "{names:?}");
    assert_eq!(names[SONG_POSITION], "played − song, feature 99");
    assert_eq!(names[PLACEMENT_PHRASE], "boundaries: phrase starts");
    assert_eq!(names[STRUCTURE as usize + 2], "removed stretches");
    assert_eq!(names[SPLICES as usize], "splices");
    assert_eq!(
        entry_name(SUMMARY_DIM as usize),
        format!("entry {SUMMARY_DIM}")
    );
}

#[test]
fn lasso_step_shrinks_each_input_column_by_its_norm() {
    tch::manual_seed(17);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let mut mlp = RewardMlp::new(vs.root(), &MlpConfig { hidden: 8 });
    let before = mlp.input_norms();
    assert_eq!(before.len(), SUMMARY_DIM as usize);
    // Shrink by a step between the two middle norms: the smaller half ends at exactly 0,
    // the rest lose the step. (No column sits on the step itself, where a norm recomputed
    // in another summation order could land either side of it.)
    let mut sorted = before.clone();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let amount = 0.5 * (sorted[mid - 1] + sorted[mid]);
    assert!(
        sorted[mid - 1] < amount && amount < sorted[mid],
        "{sorted:?}"
    );
    mlp.shrink_inputs(amount);
    for (b, a) in before.iter().zip(mlp.input_norms()) {
        if *b <= amount {
            assert_eq!(a, 0.0, "a column of norm {b} ≤ {amount} is zeroed");
        } else {
            assert!((a - (b - amount)).abs() < 1e-5, "{b} − {amount} ≠ {a}");
        }
    }
    // Zeroed columns stay at 0 (no division by their zero norm).
    mlp.shrink_inputs(amount);
    assert!(mlp.input_norms().iter().all(|n| n.is_finite()));
}

#[test]
fn a_lasso_step_equal_to_a_columns_norm_zeroes_it_exactly() {
    tch::manual_seed(18);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let mut mlp = RewardMlp::new(vs.root(), &MlpConfig { hidden: 8 });
    let start = mlp.fc1.ws.copy();
    let norms = mlp.input_norms();
    // From the same start each time, a step of exactly column j's norm: the step subtracts
    // the norm from itself (1 − step/norm in f32 is a rounding error off 0 for some norms).
    for (j, &n) in norms.iter().enumerate() {
        tch::no_grad(|| mlp.fc1.ws.shallow_clone().copy_(&start));
        mlp.shrink_inputs(n);
        let after = mlp.input_norms();
        assert_eq!(after[j], 0.0, "column {j} of norm {n}");
        assert!(after.iter().all(|a| a.is_finite()));
    }
}
