//! The baseline policy: per-beat `[keep, cut, loop]` logits from structure and transition
//! cost alone, so Recut edits well before any model is trained.
//!
//! Every beat of a phrase gets the phrase's logits:
//! - keep: 0 (the reference);
//! - cut: [`BASE_CUT`], plus [`REPEAT_BONUS`] when the phrase repeats an earlier section
//!   (same section id, feature 122: a second chorus can go, the first should stay), plus
//!   [`SMOOTH_BONUS`] × (1 − cost of jumping over the phrase) clamped to ±1, so phrases
//!   that can be removed cleanly are preferred; the first and last phrase get
//!   [`EDGE_CUT`] (keep the intro and the ending);
//! - loop: [`BASE_LOOP`] plus [`LOOP_SIMILARITY`] × the phrase's mean similarity to one
//!   bar back (features 117, 118): steady, repetitive phrases loop well.

use super::transition::TransitionModel;
use crate::analysis::Analysis;

/// Cut logit of an ordinary phrase.
pub const BASE_CUT: f32 = -1.0;
/// Added to the cut logit of a phrase that repeats an earlier section.
pub const REPEAT_BONUS: f32 = 1.5;
/// Weight of (1 − transition cost) of jumping over the phrase.
pub const SMOOTH_BONUS: f32 = 0.5;
/// Cut logit of the first and the last phrase.
pub const EDGE_CUT: f32 = -3.0;
/// Loop logit of a phrase with no bar-to-bar similarity.
pub const BASE_LOOP: f32 = -3.0;
/// Weight of the bar-to-bar similarity in the loop logit.
pub const LOOP_SIMILARITY: f32 = 1.0;
/// Feature offset of the section id (0–1).
pub const SECTION_ID: usize = 122;
/// Feature offsets of timbre and chroma similarity one bar back.
pub const BAR_SIMILARITY: [usize; 2] = [117, 118];
/// Section ids closer than this are the same section.
const SAME_SECTION: f32 = 1e-3;

/// Baseline logits, one `[keep, cut, loop]` row per beat of `analysis`.
pub fn baseline_logits(analysis: &Analysis) -> Vec<[f32; 3]> {
    let n = analysis.beats.len().min(analysis.features.len());
    let mut out = vec![[0.0, BASE_CUT, BASE_LOOP]; analysis.beats.len()];
    if n == 0 {
        return out;
    }
    let tm = TransitionModel::new(analysis);
    let phrases = super::units(analysis, super::Granularity::Phrase);
    let mut seen: Vec<f32> = Vec::new();
    let last = phrases.len().saturating_sub(1);
    for (k, p) in phrases.iter().enumerate() {
        let beats = p.start..p.end.min(n);
        if beats.is_empty() {
            continue;
        }
        let section = analysis.features[beats.start][SECTION_ID];
        let repeat = seen.iter().any(|s| (s - section).abs() < SAME_SECTION);
        if !repeat {
            seen.push(section);
        }
        let cut = if k == 0 || k == last {
            EDGE_CUT
        } else {
            let jump = tm.cost(beats.start - 1, beats.end.min(n - 1));
            BASE_CUT
                + if repeat { REPEAT_BONUS } else { 0.0 }
                + SMOOTH_BONUS * (1.0 - jump).clamp(-1.0, 1.0)
        };
        let sim: f32 = beats
            .clone()
            .map(|b| {
                BAR_SIMILARITY
                    .iter()
                    .map(|o| analysis.features[b][*o])
                    .sum::<f32>()
                    / BAR_SIMILARITY.len() as f32
            })
            .sum::<f32>()
            / beats.len() as f32;
        let lp = BASE_LOOP + LOOP_SIMILARITY * sim.clamp(0.0, 1.0);
        for b in p.clone() {
            if let Some(row) = out.get_mut(b) {
                *row = [0.0, cut, lp];
            }
        }
    }
    out
}
