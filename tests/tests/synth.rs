//! Synthesised signals with exactly known beats: clicks, a drum pattern, a tempo change,
//! 3/4 and 6/8 (see `recut_tests::synth`). Floors are set a little below what the engine
//! measured when they were written; the measured figure is in each test's comment.
//! F = mir_eval-style beat F-measure, 70 ms window, beats before 5 s skipped.

use recut_engine::analysis::{Analysis, Corrections, Meter, analyze_audio};
use recut_tests::synth::{self, Synth};
use recut_tests::{beat_f_measure, beat_f_measure_with, downbeat_times};

const SR: u32 = 22_050;

fn analyse(s: &Synth) -> Analysis {
    analyze_audio(&s.audio, "synth".into(), &Corrections::default())
        .expect("analysis of a synthesised signal")
}

/// Beat F and downbeat F, printed (run with `--nocapture` to see the figures).
fn scores(name: &str, s: &Synth, a: &Analysis) -> (f64, f64) {
    let f = beat_f_measure(&a.beats, &s.beats);
    let fd = beat_f_measure(&downbeat_times(a), &s.downbeats);
    println!(
        "{name}: beat F {f:.3}, downbeat F {fd:.3}, tempo {:.1} BPM, meter {} ({} beats found / {} true)",
        a.tempo_bpm,
        a.meter,
        a.beats.len(),
        s.beats.len()
    );
    (f, fd)
}

fn assert_tempo(a: &Analysis, bpm: f64) {
    assert!(
        (a.tempo_bpm / bpm - 1.0).abs() < 0.03,
        "tempo {:.1} BPM, expected {bpm}",
        a.tempo_bpm
    );
}

fn clicks(bpm: f64) {
    let s = synth::clicks(bpm, 4, 30.0, SR);
    let a = analyse(&s);
    let (f, fd) = scores(&format!("clicks {bpm} BPM"), &s, &a);
    assert!(f >= 0.95, "clicks at {bpm} BPM: beat F {f:.3} < 0.95");
    assert!(fd >= 0.9, "clicks at {bpm} BPM: downbeat F {fd:.3} < 0.9");
    assert_tempo(&a, bpm);
    assert_eq!(
        a.meter,
        Meter {
            beats_per_bar: 4,
            subdivision: 2
        }
    );
}

// Measured: 90 BPM F 1.000, 120 BPM F 0.990, 150 BPM F 0.984 (152.0 BPM), downbeat F
// ≥ 0.968 each, meter 4/4. 150 BPM was tracked at half tempo until the level choice
// (engine::analysis::beats::choose_level).
#[test]
fn clicks_90_bpm() {
    clicks(90.0);
}

#[test]
fn clicks_120_bpm() {
    clicks(120.0);
}

#[test]
fn clicks_150_bpm() {
    clicks(150.0);
}

// Measured: 120 BPM F 1.000, downbeat F 1.000; 96 BPM F 1.000, downbeat F 1.000; 4/4.
#[test]
fn drum_pattern_beats_downbeats_and_4_4() {
    for bpm in [120.0, 96.0] {
        let s = synth::drums(bpm, 30.0, SR);
        let a = analyse(&s);
        let (f, fd) = scores(&format!("drums {bpm} BPM"), &s, &a);
        assert!(f >= 0.95, "drums at {bpm} BPM: beat F {f:.3} < 0.95");
        assert!(fd >= 0.9, "drums at {bpm} BPM: downbeat F {fd:.3} < 0.9");
        assert_tempo(&a, bpm);
        assert_eq!(
            a.meter,
            Meter {
                beats_per_bar: 4,
                subdivision: 2
            },
            "drums at {bpm} BPM"
        );
    }
}

/// Splits beats at `t`: (before, at or after).
fn split(times: &[f64], t: f64) -> (Vec<f64>, Vec<f64>) {
    (
        times.iter().copied().filter(|x| *x < t - 0.1).collect(),
        times.iter().copied().filter(|x| *x >= t - 0.1).collect(),
    )
}

/// (whole-signal F, F before the switch, F after it); the halves skip nothing but the
/// first 5 s of the signal.
fn tempo_change_scores() -> (f64, f64, f64) {
    let s = synth::tempo_change(100.0, 130.0, 40.0, SR);
    let a = analyse(&s);
    let (f, _) = scores("tempo change 100 → 130 BPM", &s, &a);
    let switch = s
        .beats
        .windows(2)
        .find(|w| w[1] - w[0] < 0.55)
        .expect("the tempo changes")[0];
    let (est1, est2) = split(&a.beats, switch);
    let (ref1, ref2) = split(&s.beats, switch);
    let f1 = beat_f_measure(&est1, &ref1);
    let f2 = beat_f_measure_with(&est2, &ref2, 0.07, 0.0);
    println!("tempo change at {switch:.2} s: F before {f1:.3}, after {f2:.3}");
    (f, f1, f2)
}

// Measured: whole F 0.678 at 473f206 (F before the switch 1.000, after it 0.400); at
// 4804d10 whole F 0.667 (before 0.273, after 1.000). Either way only one tempo is followed.
#[test]
fn tempo_change_floor() {
    let (f, _, _) = tempo_change_scores();
    assert!(f >= 0.6, "tempo change 100 → 130 BPM: beat F {f:.3} < 0.6");
}

#[test]
fn tempo_change_follows_both_tempos() {
    let (_, f1, f2) = tempo_change_scores();
    assert!(
        f1 >= 0.9 && f2 >= 0.9,
        "F before the switch {f1:.3}, after {f2:.3}; both should be ≥ 0.9"
    );
}

// Measured: 120 BPM F 0.990, downbeat F 1.000; 90 BPM F 1.000, downbeat F 1.000; 3/4.
#[test]
fn waltz_is_3_4() {
    for bpm in [120.0, 90.0] {
        let s = synth::waltz(bpm, 30.0, SR);
        let a = analyse(&s);
        let (f, fd) = scores(&format!("waltz {bpm} BPM"), &s, &a);
        assert_eq!(
            a.meter,
            Meter {
                beats_per_bar: 3,
                subdivision: 2
            },
            "waltz at {bpm} BPM"
        );
        assert!(f >= 0.95, "waltz at {bpm} BPM: beat F {f:.3} < 0.95");
        assert!(fd >= 0.9, "waltz at {bpm} BPM: downbeat F {fd:.3} < 0.9");
        assert!(a.downbeats.windows(2).all(|w| w[1] - w[0] == 3));
    }
}

// Measured at 85 dotted quarters a minute (473f206): F 1.000, downbeat F 1.000, meter 6/8.
// Only 85 of 50, 55, ..., 90 is right at 473f206 (at 4804d10 it was 70).
#[test]
fn six_eight_is_compound_duple() {
    let s = synth::six_eight(85.0, 30.0, SR);
    let a = analyse(&s);
    let (f, fd) = scores("6/8 at 85", &s, &a);
    assert_eq!(
        a.meter,
        Meter {
            beats_per_bar: 2,
            subdivision: 3
        }
    );
    assert_eq!(a.meter.to_string(), "6/8");
    assert!(f >= 0.95, "6/8: beat F {f:.3} < 0.95");
    assert!(fd >= 0.9, "6/8: downbeat F {fd:.3} < 0.9");
}

#[test]
#[ignore = "engine: compound meter below 85 dotted quarters/min is read as simple: 6/8 at 60 tracks the eighths (178 BPM, 3/4, F 0.50), at 70 and 80 the quarter level (105/120 BPM, 3/4); the level choice looks at halves and doubles only, not thirds"]
fn six_eight_at_60_70_80() {
    for bpm in [60.0, 70.0, 80.0] {
        let s = synth::six_eight(bpm, 30.0, SR);
        let a = analyse(&s);
        let (f, _) = scores(&format!("6/8 at {bpm}"), &s, &a);
        assert_eq!(
            a.meter,
            Meter {
                beats_per_bar: 2,
                subdivision: 3
            },
            "6/8 at {bpm}"
        );
        assert!(f >= 0.9, "6/8 at {bpm}: beat F {f:.3} < 0.9");
    }
}

// The swung off-beat is louder than the beat: a tracker locks to it unless it hears the
// long-short pairing (engine::analysis::beats::fix_swing).
// Measured: F 1.000 at 100, 120 and 140 BPM.
#[test]
fn shuffle_beat_on_the_long_note() {
    for bpm in [100.0, 120.0, 140.0] {
        let s = synth::shuffle(bpm, 30.0, SR);
        let a = analyse(&s);
        let (f, _) = scores(&format!("shuffle {bpm} BPM"), &s, &a);
        assert!(f >= 0.9, "shuffle at {bpm} BPM: beat F {f:.3} < 0.9");
    }
}

const SWEEP_BPM: [f64; 12] = [
    70.0, 80.0, 90.0, 96.0, 100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.0, 175.0,
];

/// (bpm, tracked bpm, beat F) for the drum pattern across `SWEEP_BPM`.
fn drum_sweep() -> Vec<(f64, f64, f64)> {
    SWEEP_BPM
        .iter()
        .map(|&bpm| {
            let s = synth::drums(bpm, 30.0, SR);
            let a = analyse(&s);
            let f = beat_f_measure(&a.beats, &s.beats);
            println!(
                "drums {bpm} BPM → tracked {:.1} BPM, beat F {f:.3}",
                a.tempo_bpm
            );
            (bpm, a.tempo_bpm, f)
        })
        .collect()
}

/// Slowest tempo of the sweep that must be tracked at exactly its own level: at 70 BPM the
/// pattern (kick, hat, snare, hat on the eighths) reads as well at 140, and the engine does not
/// halve below `MIN_TACTUS_BPM` (halving there read two swing pieces of the corpus at half).
const SWEEP_EXACT_FROM_BPM: f64 = 80.0;

// Measured: every tempo from 80 to 175 BPM right (F ≥ 0.97), 70 BPM tracked at 139.7 (F
// 0.667); mean F 0.966. Before the level choice (473f206): double at 70, 80, 90 and half at
// 150, 175, mean F 0.857.
#[test]
fn drum_pattern_every_tempo_right() {
    let sweep = drum_sweep();
    let mean = sweep.iter().map(|r| r.2).sum::<f64>() / sweep.len() as f64;
    println!("drum sweep: mean F {mean:.3}");
    let wrong: Vec<_> = sweep
        .iter()
        .filter(|r| r.0 >= SWEEP_EXACT_FROM_BPM && r.2 < 0.9)
        .collect();
    assert!(
        wrong.is_empty(),
        "wrong metrical level (bpm, tracked, F): {wrong:?}"
    );
    for (bpm, tracked, _) in sweep.iter().filter(|r| r.0 < SWEEP_EXACT_FROM_BPM) {
        let ratio = tracked / bpm;
        assert!(
            (ratio - 1.0).abs() < 0.03 || (ratio - 2.0).abs() < 0.06,
            "drums at {bpm} BPM tracked at {tracked:.1}: neither the tempo nor its double"
        );
    }
    assert!(
        mean >= 0.93,
        "drum sweep 70-175 BPM: mean beat F {mean:.3} < 0.93"
    );
}
