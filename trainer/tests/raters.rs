//! Simulated raters: each taste prefers its obvious edit, answers carry calibrated noise,
//! and the ceiling is a probability above chance.

mod common;

use common::song;
use recut_trainer::data::Preference;
use recut_trainer::raters::{PHRASE_START, RMS, Rater, Taste};
use recut_trainer::rng::Rng;
use recut_trainer::sim::{SimSong, random_plan, simulate_pairs};

fn freeway() -> SimSong {
    SimSong::from_analysis("hedgewars_freeway", &song("hedgewars_freeway.ogg"))
}

/// Plan keeping the bars for which `keep(bar index)` is true (beats outside bars kept).
fn bars_plan(s: &SimSong, keep: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut a = vec![0u8; s.features.len()];
    for (i, bar) in s.bars.iter().enumerate() {
        if !keep(i) {
            a[bar.clone()].iter_mut().for_each(|x| *x = 1);
        }
    }
    a
}

fn prefers(taste: Taste, s: &SimSong, good: &[u8], bad: &[u8]) {
    let (ug, ub) = (
        taste.utility(&s.features, good),
        taste.utility(&s.features, bad),
    );
    println!("{}: good {ug:.3} bad {ub:.3}", taste.name());
    assert!(
        ug > ub,
        "{} should prefer its obvious edit: {ug} vs {ub}",
        taste.name()
    );
    // With little noise the rater says so nearly always.
    let r = Rater::new(taste).with_temperature(1e-3);
    let mut rng = Rng::new(3);
    let ans = r.answer(&s.features, good, bad, &mut rng);
    assert_eq!(ans.preference, Preference::A);
    assert_eq!(ans.strength, 3);
}

#[test]
fn each_taste_prefers_its_obvious_edit() {
    let s = freeway();
    let nb = s.bars.len();
    assert!(nb >= 16, "{nb} bars");
    let all = vec![0u8; s.features.len()];
    // tight: the same share removed in one stretch beats removing every fourth bar.
    prefers(
        Taste::Tight,
        &s,
        &bars_plan(&s, |i| i < nb * 3 / 4),
        &bars_plan(&s, |i| i % 4 != 3),
    );
    // opening: keeping the first half beats keeping the second half.
    prefers(
        Taste::Opening,
        &s,
        &bars_plan(&s, |i| i < nb / 2),
        &bars_plan(&s, |i| i >= nb / 2),
    );
    // smooth: no splices beats cutting every other bar.
    prefers(Taste::Smooth, &s, &all, &bars_plan(&s, |i| i % 2 == 0));
    // energetic: the loudest half of the bars beats the quietest half.
    let loud: Vec<f32> = s
        .bars
        .iter()
        .map(|b| b.clone().map(|i| s.features[i][RMS]).sum::<f32>() / b.len() as f32)
        .collect();
    let mut order: Vec<usize> = (0..nb).collect();
    order.sort_by(|&a, &b| loud[b].total_cmp(&loud[a]));
    let top: Vec<usize> = order[..nb / 2].to_vec();
    prefers(
        Taste::Energetic,
        &s,
        &bars_plan(&s, |i| top.contains(&i)),
        &bars_plan(&s, |i| !top.contains(&i)),
    );
    // phrase_aware: cutting one whole phrase beats cutting as many beats from mid-phrase.
    let starts: Vec<usize> = (0..s.features.len())
        .filter(|&i| s.features[i][PHRASE_START] > 0.5)
        .collect();
    assert!(starts.len() >= 3, "phrase starts {starts:?}");
    let (p0, p1) = (starts[1], starts[2]);
    let mut aligned = vec![0u8; s.features.len()];
    aligned[p0..p1].iter_mut().for_each(|x| *x = 1);
    let shift = (p0 + 2..p1).find(|&i| {
        s.features[i][PHRASE_START] < 0.5 && s.features[i + p1 - p0][PHRASE_START] < 0.5
    });
    let shift = shift.expect("a mid-phrase offset");
    let mut mid = vec![0u8; s.features.len()];
    mid[shift..shift + (p1 - p0)]
        .iter_mut()
        .for_each(|x| *x = 1);
    prefers(Taste::PhraseAware, &s, &aligned, &mid);
}

#[test]
fn taste_names_parse() {
    for t in Taste::ALL {
        assert_eq!(Taste::parse(t.name()), Some(t));
    }
    assert_eq!(Taste::parse("phrase-aware"), Some(Taste::PhraseAware));
    assert_eq!(Taste::parse("nope"), None);
}

#[test]
fn ceilings_are_above_chance_and_noise_is_calibrated() {
    let songs = vec![
        freeway(),
        SimSong::from_analysis("hedgewars_city", &song("hedgewars_city.ogg")),
    ];
    for taste in Taste::ALL {
        let rater = Rater::new(taste);
        let (pairs, answers) = simulate_pairs(&songs, &rater, 400, 17);
        let ceiling = Rater::ceiling(&answers);
        let deltas: Vec<f64> = answers.iter().map(|a| a.delta).collect();
        let sd = (deltas.iter().map(|d| d * d).sum::<f64>() / deltas.len() as f64).sqrt();
        let ties = answers
            .iter()
            .filter(|a| a.preference == Preference::Tie)
            .count();
        let mut by = [0usize; 4];
        answers.iter().for_each(|a| by[a.strength as usize] += 1);
        // How often the noisy answer agrees with the utility ordering.
        let agree = answers
            .iter()
            .filter(|a| a.preference != Preference::Tie)
            .filter(|a| (a.preference == Preference::A) == (a.delta > 0.0))
            .count() as f64
            / (answers.len() - ties).max(1) as f64;
        println!(
            "{:>12}: ceiling {ceiling:.3} rms Δu {sd:.3} ties {ties} strengths {by:?} agreement {agree:.3}",
            taste.name()
        );
        assert!(
            ceiling > 0.5 && ceiling <= 1.0,
            "{}: ceiling {ceiling}",
            taste.name()
        );
        assert!(
            ceiling < 0.999,
            "{}: the noise should matter (ceiling {ceiling})",
            taste.name()
        );
        assert_eq!(pairs.len(), 400);
        assert!(
            (agree - ceiling).abs() < 0.08,
            "{}: agreement {agree} vs ceiling {ceiling}",
            taste.name()
        );
    }
    // Random plans are valid and vary.
    let mut rng = Rng::new(1);
    let a = random_plan(&songs[0], &mut rng);
    let b = random_plan(&songs[0], &mut rng);
    assert_eq!(a.len(), songs[0].features.len());
    assert_ne!(a, b);
    assert!(a.iter().any(|&x| x != 1));
}
