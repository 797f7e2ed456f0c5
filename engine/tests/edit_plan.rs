//! Plans: segments from actions on the beat grid.

mod edit_support;

use edit_support::{BPB, default_song};
use recut_engine::edit::{Action, Granularity, Plan, Segment, units};

fn frame(t: f64, sr: u32) -> usize {
    (t * f64::from(sr)).round() as usize
}

#[test]
fn all_keep_is_one_segment_covering_the_song() {
    let (audio, a) = default_song();
    let plan =
        Plan::from_actions(&a, vec![Action::Keep; a.beats.len()], audio.sample_rate).unwrap();
    assert_eq!(
        plan.segments,
        vec![Segment {
            start: 0,
            end: audio.frames()
        }]
    );
    assert_eq!(plan.splice_count(), 0);
    assert!((plan.duration_s() - audio.duration_s()).abs() < 1e-9);
    assert!(plan.beat_splices().is_empty());
}

#[test]
fn cut_bar_makes_one_splice_and_shortens_by_the_bar() {
    let (audio, a) = default_song();
    let sr = audio.sample_rate;
    let mut actions = vec![Action::Keep; a.beats.len()];
    actions[8..12].fill(Action::Cut);
    let plan = Plan::from_actions(&a, actions, sr).unwrap();
    assert_eq!(plan.segments.len(), 2);
    assert_eq!(
        plan.segments[0],
        Segment {
            start: 0,
            end: frame(a.beats[8], sr)
        }
    );
    assert_eq!(
        plan.segments[1],
        Segment {
            start: frame(a.beats[12], sr),
            end: audio.frames()
        }
    );
    assert_eq!(plan.splice_count(), 1);
    assert_eq!(plan.beat_splices(), vec![(7, 12)]);
    let bar = frame(a.beats[12], sr) - frame(a.beats[8], sr);
    assert_eq!(plan.output_frames(), audio.frames() - bar);
}

#[test]
fn pickup_belongs_to_the_first_beat() {
    let (audio, a) = default_song();
    let sr = audio.sample_rate;
    let mut actions = vec![Action::Keep; a.beats.len()];
    actions[0] = Action::Cut;
    let plan = Plan::from_actions(&a, actions, sr).unwrap();
    // Cutting beat 0 removes the pickup too; no splice (the edit starts later).
    assert_eq!(
        plan.segments,
        vec![Segment {
            start: frame(a.beats[1], sr),
            end: audio.frames()
        }]
    );
    assert_eq!(plan.splice_count(), 0);
}

#[test]
fn loop_plays_the_beat_twice_and_the_repeat_skips_the_pickup() {
    let (audio, a) = default_song();
    let sr = audio.sample_rate;
    let mut actions = vec![Action::Keep; a.beats.len()];
    actions[0] = Action::Loop;
    actions[5] = Action::Loop;
    let plan = Plan::from_actions(&a, actions, sr).unwrap();
    let f = |i: usize| frame(a.beats[i], sr);
    assert_eq!(
        plan.segments,
        vec![
            Segment {
                start: 0,
                end: f(1)
            },
            Segment {
                start: f(0),
                end: f(6)
            },
            Segment {
                start: f(5),
                end: audio.frames()
            },
        ]
    );
    assert_eq!(plan.splice_count(), 2);
    assert_eq!(plan.beat_splices(), vec![(0, 0), (5, 5)]);
    assert_eq!(
        plan.output_frames(),
        audio.frames() + (f(1) - f(0)) + (f(6) - f(5))
    );
}

#[test]
fn looped_bar_repeats_as_a_block_at_bar_granularity() {
    let (audio, a) = default_song();
    let us = units(&a, Granularity::Bar);
    assert_eq!(us.len(), a.beats.len() / BPB);
    let mut ua = vec![Action::Keep; us.len()];
    ua[2] = Action::Loop;
    let plan = Plan::from_units(&a, Granularity::Bar, &ua, audio.sample_rate).unwrap();
    assert_eq!(
        &plan.sequence[6..18],
        &[6, 7, 8, 9, 10, 11, 8, 9, 10, 11, 12, 13]
    );
    assert_eq!(plan.beat_splices(), vec![(11, 8)]);
    assert_eq!(plan.splice_count(), 1);
    assert!(plan.actions[8..12].iter().all(|x| *x == Action::Loop));
}

#[test]
fn units_partition_every_beat() {
    let (_, mut a) = default_song();
    a.downbeats = vec![2, 6, 10];
    for g in [Granularity::Beat, Granularity::Bar, Granularity::Phrase] {
        let us = units(&a, g);
        assert_eq!(us.first().unwrap().start, 0);
        assert_eq!(us.last().unwrap().end, a.beats.len());
        assert!(
            us.windows(2)
                .all(|w| w[0].end == w[1].start && !w[0].is_empty())
        );
    }
    // A pickup before the first downbeat is its own bar unit.
    assert_eq!(units(&a, Granularity::Bar)[0], 0..2);
}

#[test]
fn wrong_action_count_is_a_clear_error() {
    let (audio, a) = default_song();
    let e = Plan::from_actions(&a, vec![Action::Keep; 3], audio.sample_rate).unwrap_err();
    assert!(e.to_string().contains("expected one per beat"), "{e}");
}

#[test]
fn actions_serialise_as_integers_and_read_names() {
    let json = serde_json::to_string(&vec![Action::Keep, Action::Cut, Action::Loop]).unwrap();
    assert_eq!(json, "[0,1,2]");
    let back: Vec<Action> = serde_json::from_str("[0, \"cut\", 2]").unwrap();
    assert_eq!(back, vec![Action::Keep, Action::Cut, Action::Loop]);
    assert!(serde_json::from_str::<Vec<Action>>("[3]").is_err());
    let (audio, a) = default_song();
    let plan =
        Plan::from_actions(&a, vec![Action::Keep; a.beats.len()], audio.sample_rate).unwrap();
    let text = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
    assert!(text.contains("\"granularity\":\"beat\""));
}
