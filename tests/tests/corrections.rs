//! The correction API: half/double tempo, forced meter, first downbeat, downbeat shift.
//! Runs on the synthesised 4/4 drum pattern, where the uncorrected grid is exact.

use std::sync::OnceLock;

use recut_engine::Error;
use recut_engine::analysis::{Analysis, Analyzer, Corrections, TempoCorrection, analyze_audio};
use recut_tests::synth;

fn analyzer() -> &'static Analyzer {
    static A: OnceLock<Analyzer> = OnceLock::new();
    A.get_or_init(|| {
        Analyzer::new(&synth::drums(120.0, 30.0, 22_050).audio, "drums".into()).expect("analysis")
    })
}

fn with(c: Corrections) -> Analysis {
    analyzer()
        .analyze(&c)
        .unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

fn plain() -> Analysis {
    with(Corrections::default())
}

fn median_period(a: &Analysis) -> f64 {
    let mut d: Vec<f64> = a.beats.windows(2).map(|w| w[1] - w[0]).collect();
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

fn check_grid(a: &Analysis) {
    let n = a.beats.len();
    assert!(a.beats.windows(2).all(|w| w[1] > w[0]));
    assert!(a.downbeats.windows(2).all(|w| w[1] > w[0]) && a.downbeats.iter().all(|d| *d < n));
    assert_eq!(a.features.len(), n);
    assert_eq!(a.phrases.first().map(|r| r.start), Some(0));
    assert_eq!(a.phrases.last().map(|r| r.end), Some(n));
    assert!(a.phrases.windows(2).all(|w| w[0].end == w[1].start));
}

#[test]
fn uncorrected_is_what_analyze_audio_gives() {
    let direct = analyze_audio(
        &synth::drums(120.0, 30.0, 22_050).audio,
        "drums".into(),
        &Corrections::default(),
    )
    .unwrap();
    let d = recut_tests::analysis_diff(&direct, &plain(), 0.0);
    assert!(d.is_empty(), "{}", d.join("\n"));
    assert_eq!(plain().corrections, Corrections::default());
}

#[test]
fn half_tempo_halves_the_beats_and_doubles_the_period() {
    let (p, h) = (
        plain(),
        with(Corrections {
            tempo: TempoCorrection::Half,
            ..Default::default()
        }),
    );
    check_grid(&h);
    assert!(
        h.beats.len().abs_diff(p.beats.len() / 2) <= 1,
        "{} beats halved to {}",
        p.beats.len(),
        h.beats.len()
    );
    let ratio = median_period(&h) / median_period(&p);
    assert!((ratio - 2.0).abs() < 0.05, "period ratio {ratio}");
    assert!(
        (h.tempo_bpm * 2.0 / p.tempo_bpm - 1.0).abs() < 0.03,
        "{} → {}",
        p.tempo_bpm,
        h.tempo_bpm
    );
    // Every kept beat is one of the original beats.
    assert!(
        h.beats
            .iter()
            .all(|t| p.beats.iter().any(|u| (t - u).abs() < 1e-9))
    );
    assert_eq!(h.corrections.tempo, TempoCorrection::Half);
}

#[test]
fn double_tempo_doubles_the_beats_and_halves_the_period() {
    let (p, d) = (
        plain(),
        with(Corrections {
            tempo: TempoCorrection::Double,
            ..Default::default()
        }),
    );
    check_grid(&d);
    assert!(
        d.beats.len().abs_diff(2 * p.beats.len()) <= 1,
        "{} beats doubled to {}",
        p.beats.len(),
        d.beats.len()
    );
    let ratio = median_period(&d) / median_period(&p);
    assert!((ratio - 0.5).abs() < 0.03, "period ratio {ratio}");
    assert!(
        (d.tempo_bpm / (2.0 * p.tempo_bpm) - 1.0).abs() < 0.03,
        "{} → {}",
        p.tempo_bpm,
        d.tempo_bpm
    );
    // The original beats are all still there.
    assert!(
        p.beats
            .iter()
            .all(|t| d.beats.iter().any(|u| (t - u).abs() < 1e-9))
    );
}

#[test]
fn forced_meter_sets_bar_length() {
    for m in [3u32, 5, 7, 2] {
        let a = with(Corrections {
            meter: Some(m),
            ..Default::default()
        });
        check_grid(&a);
        assert_eq!(a.meter.beats_per_bar, m);
        assert!(
            a.downbeats.windows(2).all(|w| w[1] - w[0] == m as usize),
            "meter {m}: {:?}",
            a.downbeats
        );
        assert!(a.downbeats[0] < m as usize);
        let bars = a.bars();
        assert!(bars.iter().rev().skip(1).all(|b| b.len() == m as usize));
        // The beat-in-bar position feature follows the forced meter: sin/cos of 2π·k/m.
        let pos = recut_engine::analysis::FEATURE_TABLE
            .iter()
            .find(|g| g.name == "position")
            .unwrap()
            .offset;
        let d = a.downbeats[1];
        assert!(
            (a.features[d][pos + 1] - 1.0).abs() < 1e-4,
            "cos at a downbeat = 1 (meter {m})"
        );
    }
}

#[test]
fn meter_zero_is_correction_error() {
    let e = analyzer()
        .analyze(&Corrections {
            meter: Some(0),
            ..Default::default()
        })
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::Correction(_)), "{e:?}");
}

#[test]
fn first_downbeat_makes_that_beat_a_downbeat() {
    let n = plain().beats.len();
    for k in [0, 1, 2, 3, 5, 10, n - 1] {
        let a = with(Corrections {
            first_downbeat: Some(k),
            ..Default::default()
        });
        assert!(
            a.downbeats.contains(&k),
            "first_downbeat {k}: {:?}",
            a.downbeats
        );
        assert!(a.downbeats.iter().all(|d| d % 4 == k % 4));
        assert!(a.downbeats[0] < 4);
    }
}

#[test]
fn first_downbeat_with_meter() {
    let a = with(Corrections {
        meter: Some(3),
        first_downbeat: Some(4),
        ..Default::default()
    });
    assert!(a.downbeats.contains(&4));
    assert!(a.downbeats.windows(2).all(|w| w[1] - w[0] == 3));
}

#[test]
fn shift_moves_every_downbeat_by_one() {
    let p = plain();
    let n = p.beats.len();
    for shift in [1i32, -1, 2, 4, -5] {
        let s = with(Corrections {
            downbeat_shift: shift,
            ..Default::default()
        });
        let want = (p.downbeats[0] as i64 + i64::from(shift)).rem_euclid(4) as usize;
        assert_eq!(s.downbeats[0], want, "shift {shift}");
        assert!(s.downbeats.windows(2).all(|w| w[1] - w[0] == 4));
        if shift == 1 {
            for d in &p.downbeats {
                assert!(
                    d + 1 >= n || s.downbeats.contains(&(d + 1)),
                    "downbeat {d} moved to {}",
                    d + 1
                );
            }
        }
    }
    // Shifting by a whole bar changes nothing.
    assert_eq!(
        with(Corrections {
            downbeat_shift: 4,
            ..Default::default()
        })
        .downbeats,
        p.downbeats
    );
}

#[test]
fn shift_after_first_downbeat() {
    let a = with(Corrections {
        first_downbeat: Some(2),
        downbeat_shift: 1,
        ..Default::default()
    });
    assert!(a.downbeats.contains(&3) && !a.downbeats.contains(&2));
}

#[test]
fn first_downbeat_past_the_end_is_correction_error() {
    let n = plain().beats.len();
    for k in [n, n + 1, usize::MAX] {
        let e = analyzer()
            .analyze(&Corrections {
                first_downbeat: Some(k),
                ..Default::default()
            })
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&e, Error::Correction(m) if m.contains(&k.to_string())),
            "{k}: {e:?}"
        );
    }
}

#[test]
fn half_tempo_on_a_short_song_is_too_short() {
    // 12 bars at 120 BPM halve to 6 bars of 4 half-tempo beats: still fine; 5 bars halve to
    // fewer than 4 bars' worth of beats.
    let a = Analyzer::new(&synth::drums(120.0, 11.0, 22_050).audio, "short".into()).unwrap();
    a.analyze(&Corrections::default()).expect("5 bars analyse");
    let e = a
        .analyze(&Corrections {
            tempo: TempoCorrection::Half,
            ..Default::default()
        })
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&e, Error::Analysis(m) if m.contains("too short")),
        "{e:?}"
    );
}

#[test]
fn corrections_round_trip_through_json() {
    let c = Corrections {
        tempo: TempoCorrection::Double,
        meter: Some(3),
        first_downbeat: Some(2),
        downbeat_shift: -1,
    };
    let back: Corrections = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    assert!(serde_json::to_string(&c).unwrap().contains("\"double\""));
}
