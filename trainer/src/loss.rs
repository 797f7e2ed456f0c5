//! The Bradley–Terry preference loss.
//!
//! For a pair with scores `s_a`, `s_b`, target `y` = P(a preferred) (1, 0, or ½ for a tie)
//! and margin `m` (growing with the rating's strength), with `d = m·(s_a − s_b)`:
//! `loss = −[y′·log σ(d) + (1 − y′)·log σ(−d)]`, where `y′ = y(1 − ε) + (1 − y)ε` is the
//! label-smoothed target. A decided pair is thus `−log σ(m·(s_w − s_l))`; a tie is half a
//! win each way (`0.5·BCE` both ways, margin 1), and is minimal at equal scores.
//! Optional reward centring adds `λ·mean(s²)` over every score of the batch, which pins the
//! otherwise free offset of the scores near 0 (so the clamp to [-10, 10] never bites).

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::data::Preference;

/// Loss settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Margin per strength 0, 1, 2, 3 (0 = unknown, treated like 1).
    pub margins: [f64; 4],
    /// Label smoothing ε (0 = none).
    pub label_smoothing: f64,
    /// Reward-centring weight λ (0 = none).
    pub centring: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            margins: [1.0, 1.0, 1.5, 2.0],
            label_smoothing: 0.0,
            centring: 1e-3,
        }
    }
}

impl LossConfig {
    /// The margin for a pair (ties always 1).
    pub fn margin(&self, preference: Preference, strength: u8) -> f64 {
        if preference == Preference::Tie {
            1.0
        } else {
            self.margins[strength.min(3) as usize]
        }
    }

    /// The smoothed target.
    pub fn target(&self, preference: Preference) -> f64 {
        let y = preference.target();
        y * (1.0 - self.label_smoothing) + (1.0 - y) * self.label_smoothing
    }
}

/// Mean Bradley–Terry loss over a batch: `s_a`, `s_b`, `target`, `margin` are `[N]`.
pub fn bradley_terry(
    s_a: &Tensor,
    s_b: &Tensor,
    target: &Tensor,
    margin: &Tensor,
    centring: f64,
) -> Tensor {
    let d = margin * (s_a - s_b);
    let win: Tensor = target * d.log_sigmoid();
    let lose: Tensor = (1.0 - target) * d.neg().log_sigmoid();
    let nll = (win + lose).neg();
    let loss = nll.mean(Kind::Float);
    if centring > 0.0 {
        let all = Tensor::cat(&[s_a, s_b], 0);
        loss + centring * all.square().mean(Kind::Float)
    } else {
        loss
    }
}

/// Builds `(target, margin)` tensors for pairs.
pub fn targets(
    cfg: &LossConfig,
    prefs: &[(Preference, u8)],
    device: tch::Device,
) -> (Tensor, Tensor) {
    let t: Vec<f32> = prefs.iter().map(|&(p, _)| cfg.target(p) as f32).collect();
    let m: Vec<f32> = prefs
        .iter()
        .map(|&(p, s)| cfg.margin(p, s) as f32)
        .collect();
    (
        Tensor::from_slice(&t).to_device(device),
        Tensor::from_slice(&m).to_device(device),
    )
}

/// Whether the scores order a decided pair as the rater did (`None` for ties); equal
/// scores count as wrong.
pub fn correct(s_a: f64, s_b: f64, preference: Preference) -> Option<bool> {
    match preference {
        Preference::A => Some(s_a > s_b),
        Preference::B => Some(s_b > s_a),
        Preference::Tie => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32]) -> Tensor {
        Tensor::from_slice(v)
    }

    #[test]
    fn decided_pair_is_minus_log_sigmoid_of_scaled_margin() {
        let l =
            bradley_terry(&t(&[2.0]), &t(&[1.0]), &t(&[1.0]), &t(&[1.5]), 0.0).double_value(&[]);
        let want = -(1.0 / (1.0 + (-1.5f64).exp())).ln();
        assert!((l - want).abs() < 1e-6, "{l} vs {want}");
    }

    #[test]
    fn tie_is_half_bce_both_ways_and_minimal_at_equal_scores() {
        let at = |d: f32| {
            bradley_terry(&t(&[d]), &t(&[0.0]), &t(&[0.5]), &t(&[1.0]), 0.0).double_value(&[])
        };
        assert!((at(0.0) - 2f64.ln()).abs() < 1e-6);
        assert!(at(0.5) > at(0.0) && at(-0.5) > at(0.0));
        assert!((at(0.5) - at(-0.5)).abs() < 1e-6);
    }

    #[test]
    fn margins_grow_with_strength_and_smoothing_softens_targets() {
        let c = LossConfig {
            label_smoothing: 0.1,
            ..Default::default()
        };
        assert!(c.margin(Preference::A, 1) < c.margin(Preference::A, 2));
        assert!(c.margin(Preference::B, 2) < c.margin(Preference::B, 3));
        assert_eq!(c.margin(Preference::Tie, 3), 1.0);
        assert!((c.target(Preference::A) - 0.9).abs() < 1e-12);
        assert!((c.target(Preference::B) - 0.1).abs() < 1e-12);
        assert!((c.target(Preference::Tie) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn centring_penalises_offset() {
        let base =
            bradley_terry(&t(&[5.0]), &t(&[4.0]), &t(&[1.0]), &t(&[1.0]), 0.0).double_value(&[]);
        let c =
            bradley_terry(&t(&[5.0]), &t(&[4.0]), &t(&[1.0]), &t(&[1.0]), 0.1).double_value(&[]);
        assert!((c - base - 0.1 * (25.0 + 16.0) / 2.0).abs() < 1e-5);
    }

    #[test]
    fn gradient_pushes_winner_up() {
        let sa = t(&[0.0]).set_requires_grad(true);
        let sb = t(&[0.0]).set_requires_grad(true);
        bradley_terry(&sa, &sb, &t(&[1.0]), &t(&[1.0]), 0.0).backward();
        assert!(sa.grad().double_value(&[0]) < 0.0 && sb.grad().double_value(&[0]) > 0.0);
    }
}
