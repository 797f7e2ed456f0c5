//! Phrases: groups of bars where the music changes.
//!
//! Novelty at each bar line is the dissimilarity of the two bars before it and the two
//! after it (timbre and harmony). A dynamic programme then splits the bars into phrases,
//! rewarding boundaries on novelty and preferring the lengths producers count in (4 and
//! 8 bars, then 16 and 2), so a phrase boundary is both where the music changes and
//! where a DJ would expect one.

use std::ops::Range;

/// Shortest phrase in bars.
const MIN_PHRASE_BARS: usize = 2;
/// Longest phrase in bars.
const MAX_PHRASE_BARS: usize = 16;
/// Weight of a boundary's novelty (in standard deviations above the song's mean novelty)
/// against the length preferences.
const NOVELTY_WEIGHT: f64 = 1.0;
/// Bars on each side compared for the novelty of a bar line.
const NOVELTY_CONTEXT_BARS: usize = 2;

/// Cost of a phrase `bars` long: 0 for 4 and 8, more for lengths producers rarely use.
fn length_cost(bars: usize) -> f64 {
    match bars {
        4 | 8 => 0.0,
        16 => 0.4,
        2 | 12 => 0.8,
        6 => 1.0,
        _ => 1.6,
    }
}

/// Novelty (0–2, cosine distance) at each bar line `j` (start of bar `j`) from per-bar vectors.
pub fn bar_novelty(bar_vectors: &[Vec<f32>]) -> Vec<f64> {
    let n = bar_vectors.len();
    (0..n)
        .map(|j| {
            if j == 0 {
                return 0.0;
            }
            let before = mean_rows(&bar_vectors[j.saturating_sub(NOVELTY_CONTEXT_BARS)..j]);
            let after = mean_rows(&bar_vectors[j..(j + NOVELTY_CONTEXT_BARS).min(n)]);
            1.0 - super::bars::cosine(&before, &after)
        })
        .collect()
}

fn mean_rows(rows: &[Vec<f32>]) -> Vec<f32> {
    let dim = rows.first().map_or(0, Vec::len);
    let mut out = vec![0.0f32; dim];
    for r in rows {
        for (o, v) in out.iter_mut().zip(r) {
            *o += v / rows.len() as f32;
        }
    }
    out
}

/// Splits `n_bars` bars into phrases (ranges of bar indices) by novelty and length.
pub fn segment(novelty: &[f64]) -> Vec<Range<usize>> {
    let n = novelty.len();
    if n == 0 {
        return Vec::new();
    }
    // best[j] = best score of a segmentation of bars 0..j; from[j] = start of its last phrase.
    let z = super::bars::zscore(novelty);
    let mut best = vec![f64::MIN; n + 1];
    let mut from = vec![0usize; n + 1];
    best[0] = 0.0;
    for j in 1..=n {
        for len in MIN_PHRASE_BARS.min(j)..=MAX_PHRASE_BARS.min(j) {
            let i = j - len;
            if best[i] == f64::MIN {
                continue;
            }
            // The final phrase may be short (a song need not end on a phrase length).
            let cost = if j == n && len < MIN_PHRASE_BARS.max(4) {
                0.5
            } else {
                length_cost(len)
            };
            let gain = if i > 0 {
                NOVELTY_WEIGHT * z[i].max(0.0)
            } else {
                0.0
            };
            let v = best[i] + gain - cost;
            if v > best[j] {
                best[j] = v;
                from[j] = i;
            }
        }
    }
    let mut out = Vec::new();
    let mut j = n;
    while j > 0 {
        let i = from[j];
        out.push(i..j);
        j = i;
    }
    out.reverse();
    out
}
