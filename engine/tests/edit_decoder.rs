//! The constrained decoder, the baseline policy and transition costs.
// Constraint lists of one beat range each are what these tests mean.
#![allow(clippy::single_range_in_vec_init)]

mod edit_support;

use edit_support::{BPB, PHRASE, default_song};
use recut_engine::edit::decoder::{Constraints, decode};
use recut_engine::edit::{Action, EditError, Granularity, TransitionModel, baseline_logits};

fn full(a: &recut_engine::Analysis) -> f64 {
    a.duration_s
}

#[test]
fn transition_cost_is_zero_for_the_grid_and_normalised() {
    let (_, a) = default_song();
    let tm = TransitionModel::new(&a);
    assert!(tm.cost(10, 11).abs() < 1e-6);
    // Jumping a whole phrase keeps the position; jumping a single beat lands off the bar.
    assert!(tm.parts(11, 28).position < 1e-6);
    assert!(
        tm.parts(11, 16).position > 0.0 && tm.parts(11, 16).position < tm.parts(11, 14).position
    );
    assert!(tm.parts(11, 14).position > 0.5);
    // Sections 0 1 2 1 2 3 1 4: from the end of phrase 1 (section 1, followed by 2) to
    // phrase 4 (section 2, preceded by 1) is clean; to phrase 7 (section 4) is not.
    assert!(tm.cost(31, 64) < 0.5, "{}", tm.cost(31, 64));
    assert!(tm.cost(31, 64) < tm.cost(31, 112));
}

#[test]
fn decodes_to_target_within_slack_keeping_intro_and_ending() {
    let (audio, a) = default_song();
    let logits = baseline_logits(&a);
    let target = full(&a) * 0.6;
    let c = Constraints::new(target);
    for (t, seed) in [(0.0, 0), (0.3, 1), (0.9, 2), (2.0, 3)] {
        let plan = decode(&a, &logits, &c, t, seed).unwrap();
        assert!(
            (plan.duration_s() - target).abs() <= 2.0,
            "T={t}: {} vs {target}",
            plan.duration_s()
        );
        assert!(plan.actions[..PHRASE].iter().all(|x| *x == Action::Keep));
        assert!(
            plan.actions[a.beats.len() - PHRASE..]
                .iter()
                .all(|x| *x == Action::Keep)
        );
        // Bar granularity: every bar carries one action.
        for bar in plan.actions.chunks(BPB) {
            assert!(bar.iter().all(|x| *x == bar[0]));
        }
        assert_eq!(plan.sample_rate, audio.sample_rate);
        // Cut runs are at least a bar long.
        for (from, to) in plan.beat_splices() {
            assert!(to <= from || to - from > BPB, "short jump {from}->{to}");
        }
    }
}

#[test]
fn deterministic_for_a_seed() {
    let (_, a) = default_song();
    let logits = baseline_logits(&a);
    let c = Constraints::new(full(&a) * 0.7);
    let p1 = decode(&a, &logits, &c, 0.8, 42).unwrap();
    let p2 = decode(&a, &logits, &c, 0.8, 42).unwrap();
    assert_eq!(p1, p2);
}

#[test]
fn lengthens_with_loops() {
    let (_, a) = default_song();
    let logits = baseline_logits(&a);
    let target = full(&a) * 1.2;
    let plan = decode(&a, &logits, &Constraints::new(target), 0.0, 0).unwrap();
    assert!((plan.duration_s() - target).abs() <= 2.0);
    assert!(plan.actions.contains(&Action::Loop));
}

#[test]
fn exact_mode_reports_the_closest_length() {
    let (_, a) = default_song();
    let logits = baseline_logits(&a);
    let target = full(&a) * 0.55 + 0.3;
    let c = Constraints {
        slack_s: None,
        granularity: Granularity::Beat,
        ..Constraints::new(target)
    };
    let plan = decode(&a, &logits, &c, 0.0, 0).unwrap();
    // The beat is 0.5 s; the closest reachable length is within half a beat or so.
    assert!(
        (plan.duration_s() - target).abs() <= 0.5,
        "{} vs {target}",
        plan.duration_s()
    );
}

/// Any length within the slack is as good as the exact target, so the repair finishes on
/// the cheapest move that lands there: with every bar equally (and mildly) kept by the
/// policy, that is the shortest cut that reaches the slack, not the one nearest the target.
#[test]
fn repair_finishes_on_the_cheapest_edit_within_the_slack() {
    let (_, a) = default_song();
    // Keep preferred over cut by 0.2 nats on every beat; loops ruled out.
    let logits = vec![[0.2f32, 0.0, -20.0]; a.beats.len()];
    let bar_s = BPB as f64 * 60.0 / 120.0;
    // 10.75 bars too long: cutting 10 bars lands 1.5 s over the target, 11 bars 0.5 s
    // under it, both within the 2 s slack; 9 bars would be 3.5 s over.
    let target = full(&a) - 10.75 * bar_s;
    let plan = decode(&a, &logits, &Constraints::new(target), 0.0, 0).unwrap();
    let cut = plan.actions.iter().filter(|x| **x == Action::Cut).count();
    assert_eq!(plan.splice_count(), 1, "{:?}", plan.actions);
    assert_eq!(
        cut,
        10 * BPB,
        "{} s for a target of {target} s",
        plan.duration_s()
    );
    assert!((plan.duration_s() - target).abs() <= 2.0);
    // With the exact target asked for, the nearest length wins instead.
    let exact = Constraints {
        slack_s: None,
        ..Constraints::new(target)
    };
    let plan = decode(&a, &logits, &exact, 0.0, 0).unwrap();
    let cut = plan.actions.iter().filter(|x| **x == Action::Cut).count();
    assert_eq!(cut, 11 * BPB, "{} s", plan.duration_s());
}

#[test]
fn phrase_granularity_cuts_whole_phrases() {
    let (_, a) = default_song();
    let logits = baseline_logits(&a);
    let c = Constraints {
        granularity: Granularity::Phrase,
        slack_s: Some(8.1),
        ..Constraints::new(full(&a) * 0.5)
    };
    let plan = decode(&a, &logits, &c, 0.0, 0).unwrap();
    for p in plan.actions.chunks(PHRASE) {
        assert!(p.iter().all(|x| *x == p[0]));
    }
    assert!(plan.actions.contains(&Action::Cut));
}

#[test]
fn must_keep_and_must_cut_are_honoured() {
    let (_, a) = default_song();
    let logits = baseline_logits(&a);
    let c = Constraints {
        must_keep: vec![48..64],
        must_cut: vec![80..96],
        ..Constraints::new(full(&a) * 0.6)
    };
    let plan = decode(&a, &logits, &c, 0.5, 7).unwrap();
    assert!(plan.actions[48..64].iter().all(|x| *x != Action::Cut));
    assert!(plan.actions[80..96].iter().all(|x| *x == Action::Cut));
}

#[test]
fn max_splices_is_honoured() {
    let (_, a) = default_song();
    let logits = baseline_logits(&a);
    let c = Constraints {
        max_splices: Some(1),
        ..Constraints::new(full(&a) * 0.6)
    };
    for seed in 0..5 {
        let plan = decode(&a, &logits, &c, 1.5, seed).unwrap();
        assert!(plan.splice_count() <= 1, "{} splices", plan.splice_count());
    }
}

#[test]
fn impossible_requests_are_clear_errors() {
    let (_, a) = default_song();
    let logits = baseline_logits(&a);
    let e = decode(&a, &logits, &Constraints::new(5.0), 0.0, 0).unwrap_err();
    assert!(matches!(e, EditError::TargetTooShort { .. }), "{e}");
    assert!(e.to_string().contains("intro and ending"), "{e}");
    let e = decode(&a, &logits, &Constraints::new(full(&a) * 3.0), 0.0, 0).unwrap_err();
    assert!(matches!(e, EditError::TargetTooLong { .. }), "{e}");
    let no_loops = Constraints {
        allow_loops: false,
        ..Constraints::new(full(&a) * 1.2)
    };
    assert!(matches!(
        decode(&a, &logits, &no_loops, 0.0, 0),
        Err(EditError::TargetTooLong { .. })
    ));
    let clash = Constraints {
        must_keep: vec![40..50],
        must_cut: vec![48..60],
        ..Constraints::new(full(&a) * 0.6)
    };
    assert!(matches!(
        decode(&a, &logits, &clash, 0.0, 0),
        Err(EditError::ConflictingSections { .. })
    ));
    let bad = Constraints {
        must_cut: vec![500..600],
        ..Constraints::new(full(&a) * 0.6)
    };
    assert!(matches!(
        decode(&a, &logits, &bad, 0.0, 0),
        Err(EditError::BadSection { .. })
    ));
    assert!(matches!(
        decode(&a, &logits[..3], &Constraints::new(30.0), 0.0, 0),
        Err(EditError::Length { .. })
    ));
    assert!(decode(&a, &logits, &Constraints::new(f64::NAN), 0.0, 0).is_err());
    // A single-phrase request with no slack on a bar grid is unreachable.
    let tight = Constraints {
        slack_s: Some(0.01),
        ..Constraints::new(full(&a) * 0.6 + 0.25)
    };
    assert!(matches!(
        decode(&a, &logits, &tight, 0.0, 0),
        Err(EditError::Unreachable { .. })
    ));
}

#[test]
fn baseline_prefers_cutting_repeated_sections_and_keeps_the_edges() {
    let (_, a) = default_song();
    let l = baseline_logits(&a);
    assert_eq!(l.len(), a.beats.len());
    // Sections 0 1 2 1 2 3 1 4: phrase 3 repeats section 1, phrase 1 is its first time.
    assert!(l[3 * PHRASE][1] > l[PHRASE][1]);
    assert!(l[0][1] < l[PHRASE][1]);
    assert!(l[a.beats.len() - 1][1] < l[PHRASE][1]);
}
