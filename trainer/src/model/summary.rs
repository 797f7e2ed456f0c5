//! The edit descriptor the summary-MLP reward model scores: a few dozen numbers that say
//! what an edit plays, how it is cut, where its cuts fall and how its splices sound.
//!
//! Why not the whole beat sequence: a person rates a few hundred pairs, and a model over
//! 125 features × hundreds of beats (or even over per-action feature means, 504 numbers)
//! learns which *songs* were rated rather than what the rater liked: on songs it had not
//! seen, the 504-wide summary was at 0.40–0.65 pair accuracy after 200 ratings. The
//! descriptor keeps the notions editors talk about, each scaled to a song of any length:
//!
//! | offset | len | what |
//! |---|---|---|
//! | 0 | 24 | played − song: mean of the played beats (Keep once, Loop twice) minus the song's mean, for the features 79–88 (spectral shape, RMS, onset), 95–100 (position: beat in bar, bar in phrase, song position, phrase start) and 117–124 (context: bar/phrase similarity, novelty, section, position in phrase, phrase loudness) |
//! | 24 | 6 | structure: share of beats cut, share looped; removed stretches (runs of Cut) and repeated stretches (runs of Loop) per 32 source beats; whether the opening beat is cut, whether the last beat is cut (0/1) |
//! | 30 | 7 | placement, per 32 source beats: cut boundaries (where a removed stretch starts, except at the song's start; where playback resumes after one; every looped beat), then the sum over those boundaries of beat-in-bar sin/cos, bar-in-phrase sin/cos, phrase-start flag and position in phrase |
//! | 37 | 6 | splices, per 32 source beats: splices (a removed stretch that does not start the song, every looped beat), then the sum over them of the MFCC distance (RMS over coefficients), the chroma cosine distance, \|ΔRMS\|, \|Δonset\| and \|Δcentroid\| between the beat that plays after the splice and the beat that would have played without it (for a looped beat, the beat after it; for the last beat, itself) |
//!
//! A removed stretch's splice pairs the beat where playback resumes with the stretch's
//! first beat (what would have played): the latest inner cut start before the resume
//! beat, found without loops and in time and memory linear in the beats (tch by `cummax`,
//! the ONNX graph, which has no `cummax`, by a table of the starts indexed by run number;
//! both gather exact values). [`crate::export`] writes the same computation otherwise op
//! for op.

use tch::{Kind, Tensor};

use super::masked_mean;

/// Length of the descriptor.
pub const SUMMARY_DIM: i64 = 43;
/// Offsets of the descriptor's parts (see the table above).
pub const PLAYED: i64 = 0;
pub const STRUCTURE: i64 = 24;
pub const PLACEMENT: i64 = 30;
pub const SPLICES: i64 = 37;

/// Source-beat count the per-length figures are expressed in (a phrase of 8 bars of 4/4).
pub const PER_BEATS: f64 = 32.0;

/// Feature ranges `[start, end)` whose played − song means are described.
pub const PLAYED_RANGES: [(i64, i64); 3] = [(79, 89), (95, 101), (117, 125)];

/// Features summed over cut boundaries: beat-in-bar sin/cos, bar-in-phrase sin/cos,
/// phrase-start flag, position in phrase.
pub const PLACEMENT_FEATURES: [i64; 6] = [95, 96, 97, 98, 100, 123];

/// Feature ranges compared across a splice: MFCC 0–19 and chroma (40–71), then centroid,
/// bandwidth, roll-off, flatness, zero-crossing rate, RMS and onset mean (79–85).
pub const SPLICE_RANGES: [(i64, i64); 2] = [(40, 72), (79, 86)];

/// Within the concatenated [`SPLICE_RANGES`]: MFCC, chroma, centroid, RMS, onset mean.
pub const SPLICE_MFCC: (i64, i64) = (0, 20);
pub const SPLICE_CHROMA: (i64, i64) = (20, 32);
pub const SPLICE_CENTROID: i64 = 32;
pub const SPLICE_RMS: i64 = 37;
pub const SPLICE_ONSET: i64 = 38;

/// Added under square roots and to denominators (distances of identical beats are 0).
pub const EPS: f64 = 1e-12;

/// Names of the structure entries (offset [`STRUCTURE`]).
const STRUCTURE_NAMES: [&str; 6] = [
    "share cut",
    "share looped",
    "removed stretches",
    "repeated stretches",
    "opening cut",
    "last beat cut",
];
/// Names of the placement entries (offset [`PLACEMENT`]).
const PLACEMENT_NAMES: [&str; 7] = [
    "cut boundaries",
    "boundaries: beat-in-bar sin",
    "boundaries: beat-in-bar cos",
    "boundaries: bar-in-phrase sin",
    "boundaries: bar-in-phrase cos",
    "boundaries: phrase starts",
    "boundaries: position in phrase",
];
/// Names of the splice entries (offset [`SPLICES`]).
const SPLICE_NAMES: [&str; 6] = [
    "splices",
    "splices: MFCC distance",
    "splices: chroma distance",
    "splices: |Δcentroid|",
    "splices: |ΔRMS|",
    "splices: |Δonset|",
];

/// What descriptor entry `j` is, for people reading which entries a reward model uses:
/// `played − song, feature 84` or a name from the table in the module doc.
pub fn entry_name(j: usize) -> String {
    let played: Vec<i64> = PLAYED_RANGES.iter().flat_map(|&(a, b)| a..b).collect();
    let at = |offset: i64| j.checked_sub(offset as usize);
    if let Some(f) = played.get(j) {
        return format!("played − song, feature {f}");
    }
    let named = [
        (STRUCTURE, &STRUCTURE_NAMES[..]),
        (PLACEMENT, &PLACEMENT_NAMES[..]),
        (SPLICES, &SPLICE_NAMES[..]),
    ];
    named
        .iter()
        .rev()
        .find_map(|(offset, names)| at(*offset).and_then(|k| names.get(k)))
        .map_or_else(|| format!("entry {j}"), |n| (*n).to_owned())
}

/// Whether a model using `used` dropped any descriptor entry (what is worth telling a
/// user: the full list of 43 says nothing).
pub fn dropped_any(used: &[usize]) -> bool {
    used.len() < SUMMARY_DIM as usize
}

/// A line for people: `uses 5 of 43 descriptor entries: removed stretches; …`.
pub fn describe_entries(used: &[usize]) -> String {
    format!(
        "uses {} of {SUMMARY_DIM} descriptor entries: {}",
        used.len(),
        used.iter()
            .map(|&j| entry_name(j))
            .collect::<Vec<_>>()
            .join("; ")
    )
}

/// `x` `[B,T]` shifted one beat later: `y[t] = x[t−1]`, `y[0] = 0`.
pub fn prev(x: &Tensor) -> Tensor {
    let t = x.size()[1];
    Tensor::cat(&[x.narrow(1, 0, 1) * 0.0, x.narrow(1, 0, t - 1)], 1)
}

/// `x` `[B,T]` shifted one beat earlier: `y[t] = x[t+1]`, `y[T−1] = 0`.
pub fn next(x: &Tensor) -> Tensor {
    let t = x.size()[1];
    Tensor::cat(&[x.narrow(1, 1, t - 1), x.narrow(1, 0, 1) * 0.0], 1)
}

/// Features `[B,T,d]` of the beat that follows each beat; the last real beat (followed by
/// padding or nothing) keeps its own, as a looped last beat has nothing after it.
pub fn following(f: &Tensor, mask: &Tensor) -> Tensor {
    let t = f.size()[1];
    let next_f = Tensor::cat(&[f.narrow(1, 1, t - 1), f.narrow(1, t - 1, 1)], 1);
    let has_next = next(mask).unsqueeze(2);
    next_f * &has_next + f * one_minus(&has_next)
}

/// `1 − x`.
fn one_minus(x: &Tensor) -> Tensor {
    -x + 1.0
}

/// Concatenated feature ranges `[B,T,Σ len]`.
pub fn ranges(f: &Tensor, r: &[(i64, i64)]) -> Tensor {
    Tensor::cat(
        &r.iter()
            .map(|&(a, b)| f.narrow(2, a, b - a))
            .collect::<Vec<_>>(),
        2,
    )
}

/// `Σ_t x` over beats → `[B,1]` (`x` `[B,T]`).
fn beat_sum(x: &Tensor) -> Tensor {
    x.sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
}

/// `Σ_t x·w` over beats → `[B,1]` (`x`, `w` `[B,T]`).
fn wsum(x: &Tensor, w: &Tensor) -> Tensor {
    beat_sum(&(x * w))
}

/// Distances `[B,T,5]` between splice features `a` and `b` `[B,T,39]` (layout of
/// [`SPLICE_RANGES`]): MFCC RMS distance, chroma cosine distance, |Δcentroid|, |ΔRMS|,
/// |Δonset|.
pub fn splice_distances(a: &Tensor, b: &Tensor) -> Tensor {
    let d = a - b;
    let (m0, m1) = SPLICE_MFCC;
    let mfcc = (d
        .narrow(2, m0, m1 - m0)
        .square()
        .mean_dim([2i64].as_slice(), true, Kind::Float)
        + EPS)
        .sqrt();
    let (c0, c1) = SPLICE_CHROMA;
    let (ca, cb) = (a.narrow(2, c0, c1 - c0), b.narrow(2, c0, c1 - c0));
    let dot = (&ca * &cb).sum_dim_intlist([2i64].as_slice(), true, Kind::Float);
    let na = ca
        .square()
        .sum_dim_intlist([2i64].as_slice(), true, Kind::Float);
    let nb = cb
        .square()
        .sum_dim_intlist([2i64].as_slice(), true, Kind::Float);
    let chroma = one_minus(&(dot / ((na * nb) + EPS).sqrt()));
    let abs = |i: i64| d.narrow(2, i, 1).abs();
    Tensor::cat(
        &[
            mfcc,
            chroma,
            abs(SPLICE_CENTROID),
            abs(SPLICE_RMS),
            abs(SPLICE_ONSET),
        ],
        2,
    )
}

/// The descriptor `[B, SUMMARY_DIM]` of edits `actions` i64 `[B,T]` of songs `features`
/// `[B,T,125]` with `mask` `[B,T]` (1 = real beat; real beats come first).
pub fn edit_summary(features: &Tensor, actions: &Tensor, mask: &Tensor) -> Tensor {
    let is = |c: i64| actions.eq(c).to_kind(Kind::Float) * mask;
    let (cut, lp) = (is(1), is(2));
    let n = beat_sum(mask).clamp_min(1.0);
    let per = PER_BEATS / &n;
    let played = (mask - &cut) + &lp;

    // What is played, relative to the song.
    let sel = ranges(features, &PLAYED_RANGES);
    let played_rel = masked_mean(&sel, &played) - masked_mean(&sel, mask);

    // Structure.
    let prev_mask = prev(mask);
    let prev_cut = prev(&cut);
    let cut_start = &cut * one_minus(&prev_cut);
    let loop_start = &lp * one_minus(&prev(&lp));
    let last = mask * one_minus(&next(mask));
    let structure = Tensor::cat(
        &[
            beat_sum(&cut) / &n,
            beat_sum(&lp) / &n,
            beat_sum(&cut_start) * &per,
            beat_sum(&loop_start) * &per,
            cut.narrow(1, 0, 1),
            wsum(&cut, &last),
        ],
        1,
    );

    // Placement of the cut boundaries.
    let inner_start = &cut_start * &prev_mask;
    let resume = (mask - &cut) * &prev_cut;
    let boundary = &inner_start + &resume + &lp;
    let mut placement = vec![beat_sum(&boundary) * &per];
    for k in PLACEMENT_FEATURES {
        placement.push(wsum(&features.select(2, k), &boundary) * &per);
    }

    // Splices: resume beats paired with their stretch's first beat, and looped beats. A
    // stretch starts at the latest inner cut start before its resume beat; a resume beat
    // with none before it (a cut from the song's first beat) has no splice. The splice
    // features of that first beat are gathered (the ONNX graph finds the same beat through
    // run numbers, `Writer::splice_starts` in `crate::export`).
    let spl = ranges(features, &SPLICE_RANGES);
    let (b, t) = (mask.size()[0], mask.size()[1]);
    let run = inner_start.cumsum(1, Kind::Float);
    let paired = &resume * prev(&run).clamp_max(1.0);
    let beat_plus_one = Tensor::arange(t, (Kind::Float, mask.device())) + 1.0;
    let latest_start = prev(&(&inner_start * beat_plus_one.unsqueeze(0)).cummax(1).0) - 1.0;
    let start_index = latest_start
        .clamp_min(0.0)
        .to_kind(Kind::Int64)
        .unsqueeze(2)
        .expand([b, t, spl.size()[2]], false);
    let natural = spl.gather(1, &start_index, false) * paired.unsqueeze(2);
    let cut_d = splice_distances(&natural, &spl) * paired.unsqueeze(2);
    let loop_d = splice_distances(&following(&spl, mask), &spl) * lp.unsqueeze(2);
    let dist = (cut_d + loop_d).sum_dim_intlist([1i64].as_slice(), false, Kind::Float) * &per;
    let splices = beat_sum(&(paired + &lp)) * &per;

    let mut parts = vec![played_rel, structure];
    parts.extend(placement);
    parts.push(splices);
    parts.push(dist);
    Tensor::cat(&parts, 1)
}
