//! Simulated raters: tastes that score an edit of a song, and answer pairs the way a
//! person would, with Bradley–Terry noise.
//!
//! A taste maps (song features, actions) to a utility `u` computed from the features only
//! (so it works on any [`crate::data::PreferencePair`]). A rater with temperature `τ`
//! prefers A with probability `P(a) = σ((u_a − u_b)/τ)`, says "tie" when
//! `|u_a − u_b|/τ` is below its tie threshold, and rates the strength from `|u_a − u_b|/τ`
//! (1 below 1, 2 below 2.5, else 3). Its ceiling on a set of answered pairs is the expected
//! accuracy of a model that knows `u` exactly: the mean over decided pairs of
//! `max(p, 1 − p)`.
//!
//! Every taste judges edits of one given length: Recut's decoder meets the length the user
//! asked for (± 2 s), so a taste for length itself (shorter, longer) can neither be learned
//! by a policy nor told apart in its edits; the tastes are about what is kept and where it
//! is cut.
//!
//! Tastes (utilities are scaled so that random bar-level plans differ by about one unit):
//! * `tight` — decisive edits: material removed in few whole stretches rather than
//!   nibbled at in many places: per 32 source beats, the number of removed stretches (runs
//!   of cut beats) and of repeated ones (runs of looped beats).
//! * `opening` — keeps the song's opening and cuts from later on (the radio edit that keeps
//!   intro, verse and first chorus and drops the repeats): the mean song position of the
//!   played beats, lower is better.
//! * `smooth` — few and cheap splices: per 32 source beats, the summed MFCC + chroma
//!   distance between the beat played after a splice and the beat that would naturally
//!   have followed.
//! * `energetic` — loud output: mean RMS (feature 84) of the played beats relative to the
//!   song's mean.
//! * `phrase_aware` — cuts on phrase starts (feature 100): per 32 source beats, the number
//!   of cut boundaries (where a skip starts or where playback resumes) off a phrase start.

use recut_engine::FEATURE_DIM;
use serde::{Deserialize, Serialize};

use crate::data::Preference;
use crate::rng::Rng;

/// Feature index of RMS (dB, scaled).
pub const RMS: usize = 84;
/// Feature index of the phrase-start flag.
pub const PHRASE_START: usize = 100;
/// MFCC 0–19.
pub const MFCC: std::ops::Range<usize> = 40..60;
/// Chroma.
pub const CHROMA: std::ops::Range<usize> = 60..72;

/// What a simulated rater likes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Taste {
    Tight,
    Opening,
    Smooth,
    Energetic,
    PhraseAware,
}

impl Taste {
    /// Every taste with its defaults.
    pub const ALL: [Taste; 5] = [
        Taste::Tight,
        Taste::Opening,
        Taste::Smooth,
        Taste::Energetic,
        Taste::PhraseAware,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Taste::Tight => "tight",
            Taste::Opening => "opening",
            Taste::Smooth => "smooth",
            Taste::Energetic => "energetic",
            Taste::PhraseAware => "phrase_aware",
        }
    }

    /// Parses a name (`tight`, `opening`, `smooth`, `energetic`, `phrase_aware`/`phrase-aware`).
    pub fn parse(s: &str) -> Option<Taste> {
        let s = s.replace('-', "_");
        Taste::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The utility of `actions` on a song with `features` (higher is better).
    pub fn utility(&self, features: &[[f32; FEATURE_DIM]], actions: &[u8]) -> f64 {
        let t = features.len().max(1) as f64;
        let out = output_beats(actions);
        match *self {
            Taste::Tight => {
                let stretches = runs_of(actions, 1) + runs_of(actions, 2);
                -TIGHT_WEIGHT * stretches as f64 / (t / 32.0)
            }
            Taste::Opening => {
                if out.is_empty() {
                    return -10.0;
                }
                let mean_pos = out.iter().map(|&i| i as f64 / t).sum::<f64>() / out.len() as f64;
                OPENING_WEIGHT * (0.5 - mean_pos)
            }
            Taste::Smooth => {
                let cost: f64 = splices(&out)
                    .map(|(p, q)| transition_cost(features, p, q))
                    .sum();
                -SMOOTH_WEIGHT * cost / (t / 32.0)
            }
            Taste::Energetic => {
                if out.is_empty() {
                    return -10.0;
                }
                let mean_all = features.iter().map(|f| f[RMS] as f64).sum::<f64>() / t;
                let mean_out =
                    out.iter().map(|&i| features[i][RMS] as f64).sum::<f64>() / out.len() as f64;
                ENERGETIC_WEIGHT * (mean_out - mean_all)
            }
            Taste::PhraseAware => {
                let n = features.len();
                let on_phrase = |i: usize| i >= n || features[i][PHRASE_START] > 0.5;
                let mut bad = 0usize;
                if let Some(&first) = out.first().filter(|&&f| f > 0) {
                    bad += !on_phrase(first) as usize;
                }
                for (p, q) in splices(&out) {
                    // The skip starts at p + 1 (unless it is a loop) and playback resumes at q.
                    if q > p {
                        bad += !on_phrase(p + 1) as usize;
                    }
                    bad += !on_phrase(q) as usize;
                }
                if let Some(&last) = out.last() {
                    bad += !on_phrase(last + 1) as usize;
                }
                -PHRASE_WEIGHT * bad as f64 / (t / 32.0)
            }
        }
    }
}

// The weights are set so that a rater with the default temperature (0.25) tells a cycle's
// candidates apart about as well as a person would: its ceiling on pairs of one cycle's
// candidates (the default policy's edits of the 8 training songs at temperatures 0.1–1.6,
// `recut-trainer cycle --taste T`) is 0.83–0.89. They were first set on pairs of random
// bar-level plans, which differ ten times more (tens of splices against one to three);
// on a cycle's candidates those raters were at 0.58–0.64 for `tight`, `smooth` and
// `phrase_aware`: their 200 ratings were mostly coin flips and no reward model could
// learn from them. On random plans the raters are now nearly noiseless.

/// Utility per removed or repeated stretch per 32 source beats (`tight`; ceiling 0.85 on
/// a cycle's candidates).
const TIGHT_WEIGHT: f64 = 5.0;
/// Utility per unit of mean song position (`opening`; ceiling 0.87).
const OPENING_WEIGHT: f64 = 30.0;
/// Utility per unit of splice cost per 32 source beats (`smooth`; ceiling 0.89).
const SMOOTH_WEIGHT: f64 = 24.0;
/// Utility per unit of played-minus-song RMS (scaled dB, `energetic`; ceiling 0.83).
const ENERGETIC_WEIGHT: f64 = 90.0;
/// Utility per cut boundary off a phrase start per 32 source beats (`phrase_aware`;
/// ceiling 0.87).
const PHRASE_WEIGHT: f64 = 4.0;

/// Number of maximal runs of `action` in `actions`.
fn runs_of(actions: &[u8], action: u8) -> usize {
    actions
        .iter()
        .enumerate()
        .filter(|&(i, &a)| a == action && (i == 0 || actions[i - 1] != action))
        .count()
}

/// Source beat indices in output order (Keep plays a beat, Loop twice, Cut not at all).
pub fn output_beats(actions: &[u8]) -> Vec<usize> {
    let mut out = Vec::with_capacity(actions.len());
    for (i, &a) in actions.iter().enumerate() {
        match a {
            0 => out.push(i),
            2 => {
                out.push(i);
                out.push(i);
            }
            _ => {}
        }
    }
    out
}

/// Consecutive output beats `(p, q)` that are not consecutive in the source.
pub fn splices(out: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    out.windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|&(p, q)| q != p + 1)
}

/// How audible a splice `p → q` is: the MFCC distance (per coefficient, RMS) plus the
/// chroma cosine distance between `q` and the beat that would have followed `p`.
pub fn transition_cost(features: &[[f32; FEATURE_DIM]], p: usize, q: usize) -> f64 {
    let natural = &features[(p + 1).min(features.len() - 1)];
    let played = &features[q];
    let mfcc = (MFCC
        .map(|i| (natural[i] - played[i]) as f64)
        .map(|d| d * d)
        .sum::<f64>()
        / MFCC.len() as f64)
        .sqrt();
    let dot: f64 = CHROMA.map(|i| natural[i] as f64 * played[i] as f64).sum();
    let na: f64 = CHROMA
        .map(|i| (natural[i] as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let nb: f64 = CHROMA
        .map(|i| (played[i] as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let chroma = if na > 0.0 && nb > 0.0 {
        1.0 - dot / (na * nb)
    } else {
        1.0
    };
    mfcc + chroma
}

/// A rater's answer to one pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub preference: Preference,
    /// 1–3 for decided pairs, 0 for ties.
    pub strength: u8,
    /// P(a preferred) under the rater's noise.
    pub p_a: f64,
    /// `u_a − u_b`.
    pub delta: f64,
}

/// A simulated rater: a taste, a temperature and a tie threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rater {
    pub taste: Taste,
    /// Bradley–Terry temperature τ (utility units).
    pub temperature: f64,
    /// `|Δu|/τ` below which the rater says "tie".
    pub tie_threshold: f64,
}

impl Rater {
    /// A rater with temperature 0.25 and tie threshold 0.05.
    pub fn new(taste: Taste) -> Rater {
        Rater {
            taste,
            temperature: 0.25,
            tie_threshold: 0.05,
        }
    }

    pub fn with_temperature(mut self, temperature: f64) -> Rater {
        self.temperature = temperature;
        self
    }

    pub fn utility(&self, features: &[[f32; FEATURE_DIM]], actions: &[u8]) -> f64 {
        self.taste.utility(features, actions)
    }

    /// The answer for utilities `u_a`, `u_b`, drawing the choice from `rng`.
    pub fn answer_utilities(&self, u_a: f64, u_b: f64, rng: &mut Rng) -> Answer {
        let delta = u_a - u_b;
        let z = delta / self.temperature.max(1e-12);
        let p_a = 1.0 / (1.0 + (-z).exp());
        if z.abs() < self.tie_threshold {
            return Answer {
                preference: Preference::Tie,
                strength: 0,
                p_a,
                delta,
            };
        }
        let preference = if rng.f64() < p_a {
            Preference::A
        } else {
            Preference::B
        };
        let strength = if z.abs() < 1.0 {
            1
        } else if z.abs() < 2.5 {
            2
        } else {
            3
        };
        Answer {
            preference,
            strength,
            p_a,
            delta,
        }
    }

    /// Rates edits `a` and `b` of a song.
    pub fn answer(
        &self,
        features: &[[f32; FEATURE_DIM]],
        a: &[u8],
        b: &[u8],
        rng: &mut Rng,
    ) -> Answer {
        self.answer_utilities(self.utility(features, a), self.utility(features, b), rng)
    }

    /// Expected accuracy of a perfect model on these answers: mean over decided pairs of
    /// `max(p, 1 − p)` (1.0 when every pair is a tie).
    pub fn ceiling(answers: &[Answer]) -> f64 {
        let decided: Vec<f64> = answers
            .iter()
            .filter(|a| a.preference != Preference::Tie)
            .map(|a| a.p_a.max(1.0 - a.p_a))
            .collect();
        if decided.is_empty() {
            1.0
        } else {
            decided.iter().sum::<f64>() / decided.len() as f64
        }
    }
}
