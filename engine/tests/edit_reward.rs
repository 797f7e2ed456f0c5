//! Dense reward on constructed edits whose ordering is known.

mod edit_support;

use edit_support::{Spec, default_song, song};
use recut_engine::edit::{Action, Plan};
use recut_engine::reward::dense::{dense_reward, phrase_completeness};

fn cut(a: &recut_engine::Analysis, sr: u32, range: std::ops::Range<usize>) -> Plan {
    let mut actions = vec![Action::Keep; a.beats.len()];
    for b in range {
        actions[b] = Action::Cut;
    }
    Plan::from_actions(a, actions, sr).unwrap()
}

#[test]
fn no_splice_plan_scores_one_on_every_term() {
    let (audio, a) = default_song();
    let plan =
        Plan::from_actions(&a, vec![Action::Keep; a.beats.len()], audio.sample_rate).unwrap();
    let r = dense_reward(&a, &plan);
    assert_eq!(
        (r.tempo, r.energy, r.phrase, r.transition, r.total),
        (1.0, 1.0, 1.0, 1.0, 1.0)
    );
}

#[test]
fn the_same_cut_scores_higher_on_a_phrase_boundary_than_mid_phrase() {
    let (audio, a) = default_song();
    // 16 beats from a phrase start vs 16 beats from the bar line in the middle of a phrase.
    let on_phrase = dense_reward(&a, &cut(&a, audio.sample_rate, 32..48));
    let mid_phrase = dense_reward(&a, &cut(&a, audio.sample_rate, 40..56));
    assert_eq!(on_phrase.phrase, 1.0);
    assert!(
        on_phrase.phrase > mid_phrase.phrase,
        "{on_phrase:?} vs {mid_phrase:?}"
    );
}

#[test]
fn mid_bar_cut_scores_lower_than_on_bar() {
    let (audio, a) = default_song();
    let on_bar = cut(&a, audio.sample_rate, 36..44);
    let mid_bar = cut(&a, audio.sample_rate, 38..46);
    let s_on = phrase_completeness(&a, &on_bar.beat_splices());
    let s_mid = phrase_completeness(&a, &mid_bar.beat_splices());
    assert_eq!(s_mid, 0.0);
    assert!(s_on > s_mid);
    assert!(dense_reward(&a, &on_bar).total > dense_reward(&a, &mid_bar).total);
}

#[test]
fn a_splice_across_a_tempo_jump_scores_lower() {
    let spec = Spec {
        tempo_jump_at: Some(64),
        tempo_jump_factor: 1.25,
        ..Spec::default()
    };
    let (audio, a) = song(&spec);
    // Same shape of cut: within the steady first half vs across the 120 → 150 BPM jump.
    let steady = dense_reward(&a, &cut(&a, audio.sample_rate, 16..32));
    let across = dense_reward(&a, &cut(&a, audio.sample_rate, 48..80));
    assert_eq!(steady.tempo, 1.0);
    assert!(across.tempo < steady.tempo, "{across:?} vs {steady:?}");
}

#[test]
fn terms_stay_in_unit_range() {
    let (audio, a) = default_song();
    for r in [3..7, 10..90, 1..2, 100..127] {
        let d = dense_reward(&a, &cut(&a, audio.sample_rate, r));
        for v in [d.tempo, d.energy, d.phrase, d.transition, d.total] {
            assert!((0.0..=1.0).contains(&v), "{d:?}");
        }
    }
}

#[test]
fn cutting_to_a_matching_section_has_better_transition_than_to_a_foreign_one() {
    // Sections 0 1 2 1 2 3 1 4: jumping from the end of phrase 1 (section 1) to phrase 4
    // (section 2, what followed section 1 before) beats jumping into section 4.
    let (audio, a) = default_song();
    let matching = dense_reward(&a, &cut(&a, audio.sample_rate, 32..64));
    let foreign = dense_reward(&a, &cut(&a, audio.sample_rate, 32..112));
    assert!(
        matching.transition > foreign.transition,
        "{matching:?} vs {foreign:?}"
    );
}
