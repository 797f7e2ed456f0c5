//! Figures about a set of ratings (`recut-trainer stats`): what was rated, what the raters
//! seem to like, whether they agree with each other and with themselves, and whether the
//! side an edit was shown on swayed them.
//!
//! * Counts by preference, strength, tie kind and rater.
//! * Apparent taste ([`Tendency`]): over decided ratings whose two edits differ in an
//!   attribute, the share whose winner has the larger value (duration in seconds, share of
//!   beats played, splices, loops) or has the property (intro kept, ending kept). 0.5 is
//!   indifference. Durations come from the records (or the candidates manifest the
//!   import resolved ids through); pairs without both durations are counted as unknown.
//!   The other attributes come from the per-beat actions, which every record carries.
//! * Agreement on pairs rated by more than one rater: Cohen's κ for every two raters with
//!   shared pairs and Krippendorff's α (nominal) over everyone, verdicts `a` / `b` / `tie`
//!   oriented to one order of the two edits.
//! * Contradictions per rater and song: pairs judged both ways, and 3-cycles
//!   (A > B, B > C, C > A) among the decided verdicts.
//! * Position bias: among decided ratings that record which edit was on the left, the
//!   share where the left one won, with a two-sided binomial p-value (normal
//!   approximation) for "no bias".

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use recut_engine::feedback::{EditRef, Preference, Rating, Side, TieKind};
use serde::Serialize;

use crate::raters::{output_beats, splices};

/// Rater name used for ratings without one.
pub const UNKNOWN_RATER: &str = "(unknown)";
/// Largest |difference| of two durations, seconds, still counted as "the same length".
pub const SAME_DURATION_S: f64 = 0.05;

/// One attribute of the winners against the losers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tendency {
    /// What is compared (`duration`, `played_share`, `splices`, `loops`, `intro_kept`,
    /// `ending_kept`).
    pub attribute: &'static str,
    /// Decided ratings whose edits differ in the attribute.
    pub differing: usize,
    /// Of those, the ratings whose winner has the larger value / the property.
    pub winner_higher: usize,
    /// `winner_higher / differing` (`None` without differing pairs).
    pub share: Option<f64>,
    /// Decided ratings where the attribute is unknown for at least one edit.
    pub unknown: usize,
    /// Mean winner − loser over the differing pairs (units of the attribute).
    pub mean_difference: Option<f64>,
}

impl Tendency {
    fn new(attribute: &'static str) -> Tendency {
        Tendency {
            attribute,
            differing: 0,
            winner_higher: 0,
            share: None,
            unknown: 0,
            mean_difference: None,
        }
    }

    /// In words: "prefers more (0.78 of 40 pairs)".
    pub fn verdict(&self) -> String {
        let Some(s) = self.share else {
            return "no pair differs".into();
        };
        let (more, less) = match self.attribute {
            "duration" => ("longer", "shorter"),
            "played_share" => ("more of the song", "less of the song"),
            "splices" => ("more splices", "fewer splices"),
            "loops" => ("more loops", "fewer loops"),
            "intro_kept" => ("the intro kept", "the intro cut"),
            "ending_kept" => ("the ending kept", "the ending cut"),
            _ => ("more", "less"),
        };
        let word = if (s - 0.5).abs() < 0.1 {
            "no clear preference".to_owned()
        } else if s > 0.5 {
            format!("prefers {more}")
        } else {
            format!("prefers {less}")
        };
        format!("{word} ({:.2} of {} pairs)", s, self.differing)
    }
}

/// Agreement of two raters on the pairs they both rated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairAgreement {
    pub rater_1: String,
    pub rater_2: String,
    /// Pairs both rated.
    pub shared: usize,
    /// Share with the same verdict.
    pub observed: f64,
    /// Cohen's κ (`None` when chance agreement is 1: both always said the same thing).
    pub kappa: Option<f64>,
}

/// Agreement over every pair rated by at least two raters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// Pairs (song, two edits) rated by two raters or more.
    pub shared_pairs: usize,
    /// Krippendorff's α, nominal (`None` when every verdict is the same category).
    pub alpha: Option<f64>,
    pub pairs_of_raters: Vec<PairAgreement>,
}

/// A rater's contradictory verdicts on one song.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contradiction {
    pub rater: String,
    pub song_id: String,
    /// Edits in order: each beats the next, and the last beats the first (two edits: the
    /// pair was judged both ways).
    pub edits: Vec<String>,
}

/// Whether the side an edit was shown on mattered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionBias {
    /// Decided ratings that say which edit was on the left.
    pub decided_with_side: usize,
    /// Of those, the ratings the left edit won.
    pub left_won: usize,
    /// `left_won / decided_with_side`.
    pub left_share: f64,
    /// Two-sided p-value of "left and right win equally often" (normal approximation to
    /// the binomial, continuity-corrected).
    pub p_value: f64,
    /// Share of all decided ratings won by edit A (A is conventionally shown first).
    pub a_share: Option<f64>,
}

/// Everything `stats` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatingStats {
    pub ratings: usize,
    pub songs: usize,
    /// `a`, `b`, `tie` → count.
    pub by_preference: BTreeMap<String, usize>,
    /// Strength 0–3 → count.
    pub by_strength: [usize; 4],
    /// `good`, `bad`, `unknown` → count of ties.
    pub ties_by_kind: BTreeMap<String, usize>,
    /// Rater → count.
    pub by_rater: BTreeMap<String, usize>,
    pub taste: Vec<Tendency>,
    pub agreement: Agreement,
    pub contradictions: Vec<Contradiction>,
    /// `None` when no decided rating says which side was left.
    pub position: Option<PositionBias>,
}

fn rater_of(r: &Rating) -> String {
    r.rater.clone().unwrap_or_else(|| UNKNOWN_RATER.to_owned())
}

/// The edit's identity: candidate id, else path, else its actions.
fn identity(e: &EditRef) -> String {
    if let Some(id) = &e.id {
        id.clone()
    } else if let Some(p) = &e.path {
        p.clone()
    } else {
        e.actions
            .iter()
            .map(|a| char::from(b'0' + *a as u8))
            .collect()
    }
}

fn codes(e: &EditRef) -> Vec<u8> {
    e.actions.iter().map(|&a| a as u8).collect()
}

/// `(winner, loser)` of a decided rating.
fn winner_loser(r: &Rating) -> Option<(&EditRef, &EditRef)> {
    match r.preference {
        Preference::A => Some((&r.edit_a, &r.edit_b)),
        Preference::B => Some((&r.edit_b, &r.edit_a)),
        Preference::Tie => None,
    }
}

/// Per-edit attributes from the actions (`None` without actions).
fn attribute(name: &str, e: &EditRef) -> Option<f64> {
    let a = codes(e);
    if name == "duration" {
        return e.duration_seconds;
    }
    if a.is_empty() {
        return None;
    }
    let out = output_beats(&a);
    Some(match name {
        "played_share" => {
            let mut played = out.clone();
            played.dedup();
            played.len() as f64 / a.len() as f64
        }
        "splices" => splices(&out).count() as f64,
        "loops" => a.iter().filter(|&&x| x == 2).count() as f64,
        "intro_kept" => f64::from(u8::from(a[0] != 1)),
        "ending_kept" => f64::from(u8::from(a[a.len() - 1] != 1)),
        _ => return None,
    })
}

/// Attributes of [`apparent_taste`], in report order.
pub const ATTRIBUTES: [&str; 6] = [
    "duration",
    "played_share",
    "splices",
    "loops",
    "intro_kept",
    "ending_kept",
];

/// The apparent taste over `ratings` (see the module doc).
pub fn apparent_taste(ratings: &[Rating]) -> Vec<Tendency> {
    ATTRIBUTES
        .iter()
        .map(|&name| {
            let mut t = Tendency::new(name);
            let mut diff_sum = 0.0;
            for (w, l) in ratings.iter().filter_map(winner_loser) {
                match (attribute(name, w), attribute(name, l)) {
                    (Some(x), Some(y)) => {
                        let same = if name == "duration" {
                            (x - y).abs() <= SAME_DURATION_S
                        } else {
                            x == y
                        };
                        if !same {
                            t.differing += 1;
                            t.winner_higher += usize::from(x > y);
                            diff_sum += x - y;
                        }
                    }
                    _ => t.unknown += 1,
                }
            }
            if t.differing > 0 {
                t.share = Some(t.winner_higher as f64 / t.differing as f64);
                t.mean_difference = Some(diff_sum / t.differing as f64);
            }
            t
        })
        .collect()
}

/// A verdict oriented to the pair's canonical order (edits sorted by identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Verdict {
    First,
    Second,
    Tie,
}

/// `(song, first edit, second edit)` and the verdict in that order.
fn oriented(r: &Rating) -> ((String, String, String), Verdict) {
    let (a, b) = (identity(&r.edit_a), identity(&r.edit_b));
    let swapped = b < a;
    let v = match (r.preference, swapped) {
        (Preference::Tie, _) => Verdict::Tie,
        (Preference::A, false) | (Preference::B, true) => Verdict::First,
        _ => Verdict::Second,
    };
    let key = if swapped { (b, a) } else { (a, b) };
    ((r.song_id.clone(), key.0, key.1), v)
}

/// Cohen's κ of two raters' verdicts on the same items (`None` when chance agreement is 1
/// or there is no item). Categories are whatever `T` distinguishes.
pub fn cohen_kappa<T: Eq + std::hash::Hash + Copy>(pairs: &[(T, T)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let po = pairs.iter().filter(|(x, y)| x == y).count() as f64 / n;
    let mut c1: HashMap<T, f64> = HashMap::new();
    let mut c2: HashMap<T, f64> = HashMap::new();
    for &(x, y) in pairs {
        *c1.entry(x).or_default() += 1.0;
        *c2.entry(y).or_default() += 1.0;
    }
    let pe: f64 = c1
        .iter()
        .map(|(k, v)| v / n * c2.get(k).copied().unwrap_or(0.0) / n)
        .sum();
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    Some((po - pe) / (1.0 - pe))
}

/// Krippendorff's α for nominal data: each unit is the list of values it received (units
/// with fewer than two values are ignored). `None` when fewer than two values are
/// pairable or every pairable value is the same category.
pub fn krippendorff_alpha_nominal<T: Eq + std::hash::Hash + Copy>(units: &[Vec<T>]) -> Option<f64> {
    // Coincidence matrix o[c][k] = Σ_u (pairs c-k in u, ordered) / (m_u − 1).
    let mut o: HashMap<(T, T), f64> = HashMap::new();
    for u in units.iter().filter(|u| u.len() >= 2) {
        let w = 1.0 / (u.len() - 1) as f64;
        for (i, &c) in u.iter().enumerate() {
            for (j, &k) in u.iter().enumerate() {
                if i != j {
                    *o.entry((c, k)).or_default() += w;
                }
            }
        }
    }
    let mut nc: HashMap<T, f64> = HashMap::new();
    for (&(c, _), v) in &o {
        *nc.entry(c).or_default() += v;
    }
    let n: f64 = nc.values().sum();
    if n < 2.0 {
        return None;
    }
    let observed: f64 = o.iter().filter(|((c, k), _)| c != k).map(|(_, v)| v).sum();
    let expected_pairs: f64 = nc
        .iter()
        .flat_map(|(c, a)| {
            nc.iter()
                .filter(move |(k, _)| *k != c)
                .map(move |(_, b)| a * b)
        })
        .sum();
    if expected_pairs <= 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * observed / expected_pairs)
}

/// Agreement over pairs rated by two raters or more (each rater's last verdict on a pair
/// counts).
pub fn agreement(ratings: &[Rating]) -> Agreement {
    // pair → rater → verdict
    let mut by_pair: BTreeMap<(String, String, String), BTreeMap<String, Verdict>> =
        BTreeMap::new();
    for r in ratings {
        let (key, v) = oriented(r);
        by_pair.entry(key).or_default().insert(rater_of(r), v);
    }
    let shared: Vec<&BTreeMap<String, Verdict>> =
        by_pair.values().filter(|m| m.len() >= 2).collect();
    let units: Vec<Vec<Verdict>> = shared
        .iter()
        .map(|m| m.values().copied().collect())
        .collect();
    let raters: BTreeSet<&String> = shared.iter().flat_map(|m| m.keys()).collect();
    let raters: Vec<&String> = raters.into_iter().collect();
    let mut pairs_of_raters = Vec::new();
    for (i, r1) in raters.iter().enumerate() {
        for r2 in &raters[i + 1..] {
            let items: Vec<(Verdict, Verdict)> = shared
                .iter()
                .filter_map(|m| Some((*m.get(*r1)?, *m.get(*r2)?)))
                .collect();
            if items.is_empty() {
                continue;
            }
            let observed = items.iter().filter(|(x, y)| x == y).count() as f64 / items.len() as f64;
            pairs_of_raters.push(PairAgreement {
                rater_1: (*r1).clone(),
                rater_2: (*r2).clone(),
                shared: items.len(),
                observed,
                kappa: cohen_kappa(&items),
            });
        }
    }
    Agreement {
        shared_pairs: shared.len(),
        alpha: krippendorff_alpha_nominal(&units),
        pairs_of_raters,
    }
}

/// Contradictions of each rater on each song (see the module doc). Each cycle is reported
/// once, starting from its smallest edit.
pub fn contradictions(ratings: &[Rating]) -> Vec<Contradiction> {
    // (rater, song) → set of (winner, loser)
    let mut beats: BTreeMap<(String, String), BTreeSet<(String, String)>> = BTreeMap::new();
    for r in ratings {
        if let Some((w, l)) = winner_loser(r) {
            beats
                .entry((rater_of(r), r.song_id.clone()))
                .or_default()
                .insert((identity(w), identity(l)));
        }
    }
    let mut out = Vec::new();
    for ((rater, song), edges) in beats {
        let has = |x: &String, y: &String| edges.contains(&(x.clone(), y.clone()));
        let nodes: BTreeSet<&String> = edges.iter().flat_map(|(w, l)| [w, l]).collect();
        let mut found = |edits: Vec<String>| {
            out.push(Contradiction {
                rater: rater.clone(),
                song_id: song.clone(),
                edits,
            })
        };
        for (w, l) in &edges {
            if w < l && has(l, w) {
                found(vec![w.clone(), l.clone()]);
            }
        }
        // 3-cycles a > b > c > a with a the smallest of the three.
        for (a, b) in &edges {
            if b <= a {
                continue;
            }
            for c in nodes.iter().filter(|c| **c > a && **c != b) {
                if has(b, c) && has(c, a) {
                    found(vec![a.clone(), b.clone(), (*c).clone()]);
                }
            }
        }
    }
    out
}

/// The complementary error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let r = poly * (-z * z).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Two-sided p-value of `k` successes in `n` fair trials (normal approximation with a
/// continuity correction; 1 for `n = 0`).
pub fn binomial_p_two_sided(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let n = n as f64;
    let d = ((k as f64 - n / 2.0).abs() - 0.5).max(0.0);
    let z = d / (n / 4.0).sqrt();
    erfc(z / std::f64::consts::SQRT_2).min(1.0)
}

/// Position bias (see the module doc).
pub fn position_bias(ratings: &[Rating]) -> Option<PositionBias> {
    let decided: Vec<&Rating> = ratings
        .iter()
        .filter(|r| r.preference != Preference::Tie)
        .collect();
    let with_side: Vec<(Side, Preference)> = decided
        .iter()
        .filter_map(|r| r.left.map(|s| (s, r.preference)))
        .collect();
    if with_side.is_empty() {
        return None;
    }
    let left_won = with_side
        .iter()
        .filter(|(s, p)| matches!((s, p), (Side::A, Preference::A) | (Side::B, Preference::B)))
        .count();
    let n = with_side.len();
    let a = decided
        .iter()
        .filter(|r| r.preference == Preference::A)
        .count();
    Some(PositionBias {
        decided_with_side: n,
        left_won,
        left_share: left_won as f64 / n as f64,
        p_value: binomial_p_two_sided(left_won, n),
        a_share: (!decided.is_empty()).then(|| a as f64 / decided.len() as f64),
    })
}

/// Every figure of the module doc.
pub fn rating_stats(ratings: &[Rating]) -> RatingStats {
    let mut by_preference = BTreeMap::new();
    let mut by_strength = [0usize; 4];
    let mut ties_by_kind = BTreeMap::new();
    let mut by_rater = BTreeMap::new();
    let mut songs = BTreeSet::new();
    for r in ratings {
        *by_preference
            .entry(r.preference.as_str().to_owned())
            .or_insert(0) += 1;
        by_strength[usize::from(r.strength.min(3))] += 1;
        if r.preference == Preference::Tie {
            let k = r.tie_kind.map_or("unknown", TieKind::as_str);
            *ties_by_kind.entry(k.to_owned()).or_insert(0) += 1;
        }
        *by_rater.entry(rater_of(r)).or_insert(0) += 1;
        songs.insert(r.song_id.as_str());
    }
    RatingStats {
        ratings: ratings.len(),
        songs: songs.len(),
        by_preference,
        by_strength,
        ties_by_kind,
        by_rater,
        taste: apparent_taste(ratings),
        agreement: agreement(ratings),
        contradictions: contradictions(ratings),
        position: position_bias(ratings),
    }
}

impl fmt::Display for RatingStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ratings of {} songs", self.ratings, self.songs)?;
        let pref: Vec<String> = ["a", "b", "tie"]
            .iter()
            .map(|k| format!("{k} {}", self.by_preference.get(*k).copied().unwrap_or(0)))
            .collect();
        writeln!(f, "preference: {}", pref.join(", "))?;
        let st: Vec<String> = self
            .by_strength
            .iter()
            .enumerate()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        writeln!(f, "strength:   {}", st.join(", "))?;
        if !self.ties_by_kind.is_empty() {
            let t: Vec<String> = self
                .ties_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            writeln!(f, "ties:       {}", t.join(", "))?;
        }
        let r: Vec<String> = self
            .by_rater
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(f, "raters:     {}", r.join(", "))?;
        writeln!(
            f,
            "apparent taste (share of decided pairs whose winner has more):"
        )?;
        for t in &self.taste {
            write!(f, "  {:<13} {}", t.attribute, t.verdict())?;
            if let Some(d) = t.mean_difference {
                write!(f, ", mean winner − loser {d:+.3}")?;
            }
            if t.unknown > 0 {
                write!(f, "; unknown for {} pairs", t.unknown)?;
            }
            writeln!(f)?;
        }
        let a = &self.agreement;
        if a.shared_pairs == 0 {
            writeln!(f, "agreement: no pair was rated by two raters")?;
        } else {
            writeln!(
                f,
                "agreement on {} shared pairs: Krippendorff's alpha {}",
                a.shared_pairs,
                a.alpha
                    .map_or("undefined (one category only)".into(), |x| format!(
                        "{x:.3}"
                    ))
            )?;
            for p in &a.pairs_of_raters {
                writeln!(
                    f,
                    "  {} vs {}: {} pairs, agree {:.2}, Cohen's kappa {}",
                    p.rater_1,
                    p.rater_2,
                    p.shared,
                    p.observed,
                    p.kappa.map_or("undefined".into(), |k| format!("{k:.3}"))
                )?;
            }
        }
        if self.contradictions.is_empty() {
            writeln!(f, "contradictions: none")?;
        } else {
            writeln!(f, "contradictions: {}", self.contradictions.len())?;
            for c in &self.contradictions {
                let mut chain = c.edits.join(" > ");
                chain.push_str(&format!(" > {}", c.edits[0]));
                writeln!(f, "  {} on {}: {chain}", c.rater, c.song_id)?;
            }
        }
        match &self.position {
            None => writeln!(
                f,
                "position bias: unknown (no decided rating says which edit was on the left)"
            )?,
            Some(p) => {
                write!(
                    f,
                    "position bias: left won {} of {} ({:.2}), p = {:.3}",
                    p.left_won, p.decided_with_side, p.left_share, p.p_value
                )?;
                if let Some(a) = p.a_share {
                    write!(f, "; edit A won {a:.2} of decided ratings")?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recut_engine::edit::Action;

    fn edit(id: &str, actions: &[u8], duration: Option<f64>) -> EditRef {
        EditRef {
            id: Some(id.into()),
            path: None,
            actions: actions
                .iter()
                .map(|&a| Action::from_index(a).unwrap_or(Action::Keep))
                .collect(),
            duration_seconds: duration,
        }
    }

    fn rating(rater: &str, a: &str, b: &str, p: Preference) -> Rating {
        let mut r = Rating::new(
            "song",
            edit(a, &[0, 0, 1, 0], None),
            edit(b, &[0, 1, 1, 0], None),
            p,
            2,
        );
        r.rater = Some(rater.into());
        r
    }

    /// κ by hand: 10 items, raters agree on 7 (4 × a/a, 3 × b/b); marginals rater 1
    /// a 6, b 4; rater 2 a 5, b 5. po = 0.7, pe = 0.6·0.5 + 0.4·0.5 = 0.5, κ = 0.4.
    const HAND_KAPPA_ITEMS: [(Preference, Preference); 10] = {
        use Preference::{A, B};
        [
            (A, A),
            (A, A),
            (A, A),
            (A, A),
            (A, B),
            (A, B),
            (B, B),
            (B, B),
            (B, B),
            (B, A),
        ]
    };

    #[test]
    fn kappa_matches_a_hand_computed_value() {
        use Preference::{A, B};
        let k = cohen_kappa(&HAND_KAPPA_ITEMS).unwrap_or(f64::NAN);
        assert!((k - 0.4).abs() < 1e-12, "{k}");
        // Perfect agreement with two categories is 1; one category only is undefined.
        assert_eq!(cohen_kappa(&[(A, A), (B, B)]), Some(1.0));
        assert_eq!(cohen_kappa(&[(A, A), (A, A)]), None);
    }

    /// The same items through ratings of two raters on ten pairs.
    #[test]
    fn agreement_from_ratings_gives_the_same_kappa() {
        use Preference::{A, B};
        let verdicts = HAND_KAPPA_ITEMS;
        let mut ratings = Vec::new();
        for (i, (v1, v2)) in verdicts.iter().enumerate() {
            let (x, y) = (format!("e{i}x"), format!("e{i}y"));
            ratings.push(rating("ann", &x, &y, *v1));
            // Bob saw the pair the other way round: his verdict is flipped back.
            let flipped = if *v2 == A { B } else { A };
            ratings.push(rating("bob", &y, &x, flipped));
        }
        let a = agreement(&ratings);
        assert_eq!(a.shared_pairs, 10);
        assert_eq!(a.pairs_of_raters.len(), 1);
        let k = a.pairs_of_raters[0].kappa.unwrap_or(f64::NAN);
        assert!((k - 0.4).abs() < 1e-12, "{k}");
        // Krippendorff's α for two raters, nominal, no missing data:
        // n = 20 values, o_ab = o_ba = 3, n_a = 11, n_b = 9:
        // α = 1 − (n − 1)·D / Σ n_c n_k = 1 − 19·6 / (2·11·9) = 1 − 114/198.
        let alpha = a.alpha.unwrap_or(f64::NAN);
        assert!((alpha - (1.0 - 114.0 / 198.0)).abs() < 1e-12, "{alpha}");
    }

    #[test]
    fn a_planted_three_cycle_is_found_and_consistent_verdicts_are_not() {
        use Preference::{A, B};
        let ratings = vec![
            rating("ann", "x", "y", A), // x > y
            rating("ann", "y", "z", A), // y > z
            rating("ann", "x", "z", B), // z > x: cycle
            rating("ann", "x", "w", A), // x > w, no cycle
            rating("bob", "x", "y", A), // bob consistent
            rating("bob", "y", "z", A),
            rating("bob", "x", "z", A),
        ];
        let c = contradictions(&ratings);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].rater, "ann");
        assert_eq!(c[0].edits, ["x", "y", "z"]);
        // A pair judged both ways is a 2-cycle.
        let both = vec![rating("cy", "p", "q", A), rating("cy", "q", "p", A)];
        let c = contradictions(&both);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].edits, ["p", "q"]);
    }

    #[test]
    fn position_bias_counts_left_wins() {
        use Preference::{A, B};
        let mut ratings = Vec::new();
        for i in 0..20 {
            // 16 of 20 decided ratings go to the left edit.
            let left = if i % 2 == 0 { Side::A } else { Side::B };
            let left_wins = i < 16;
            let p = match (left, left_wins) {
                (Side::A, true) | (Side::B, false) => A,
                _ => B,
            };
            let mut r = rating("ann", &format!("a{i}"), &format!("b{i}"), p);
            r.left = Some(left);
            ratings.push(r);
        }
        let mut tie = rating("ann", "t1", "t2", Preference::Tie);
        tie.left = Some(Side::A);
        ratings.push(tie);
        let p = position_bias(&ratings).unwrap_or_else(|| panic!("no bias figures"));
        assert_eq!(p.decided_with_side, 20);
        assert_eq!(p.left_won, 16);
        assert!((p.left_share - 0.8).abs() < 1e-12);
        // z = (|16 − 10| − 0.5)/√5 = 2.4597 → p ≈ 0.0139.
        assert!((p.p_value - 0.0139).abs() < 5e-4, "{}", p.p_value);
        assert!(binomial_p_two_sided(10, 20) > 0.99);
        assert!(position_bias(&[rating("ann", "a", "b", A)]).is_none());
    }

    #[test]
    fn apparent_taste_reads_the_winners() {
        use Preference::{A, B};
        // Winner always the one that plays more and has fewer splices; durations known
        // for one pair only.
        let long = |id: &str, d| edit(id, &[0, 0, 0, 0], d);
        let short = |id: &str, d| edit(id, &[0, 1, 1, 0], d);
        let mut r1 = Rating::new("s", long("l1", Some(10.0)), short("s1", Some(6.0)), A, 2);
        r1.rater = Some("ann".into());
        let r2 = Rating::new("s", short("s2", None), long("l2", None), B, 1);
        let taste = apparent_taste(&[r1, r2]);
        let get = |n: &str| taste.iter().find(|t| t.attribute == n).cloned();
        let d = get("duration").unwrap_or_else(|| panic!("no duration"));
        assert_eq!((d.differing, d.winner_higher, d.unknown), (1, 1, 1));
        assert_eq!(d.mean_difference, Some(4.0));
        let p = get("played_share").unwrap_or_else(|| panic!("no played_share"));
        assert_eq!((p.differing, p.winner_higher), (2, 2));
        assert!(
            p.verdict().starts_with("prefers more of the song"),
            "{}",
            p.verdict()
        );
        let s = get("splices").unwrap_or_else(|| panic!("no splices"));
        assert_eq!((s.differing, s.winner_higher, s.share), (2, 0, Some(0.0)));
        let i = get("intro_kept").unwrap_or_else(|| panic!("no intro"));
        assert_eq!(i.differing, 0);
    }

    #[test]
    fn counts_by_preference_and_strength() {
        let ratings = vec![
            rating("ann", "x", "y", Preference::A),
            rating("ann", "x", "z", Preference::Tie),
            rating("bob", "x", "y", Preference::B),
        ];
        let s = rating_stats(&ratings);
        assert_eq!(s.by_preference.get("a"), Some(&1));
        assert_eq!(s.by_preference.get("tie"), Some(&1));
        assert_eq!(s.by_strength, [0, 0, 3, 0]);
        assert_eq!(s.ties_by_kind.get("unknown"), Some(&1));
        assert_eq!(s.agreement.shared_pairs, 1);
        let text = s.to_string();
        assert!(text.contains("3 ratings of 1 songs"), "{text}");
    }
}
