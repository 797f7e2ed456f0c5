//! Beat tracking by dynamic programming over the whole song (Ellis 2007), with the
//! expected beat period taken from the local tempo curve so the grid follows tempo changes.
//!
//! Each frame's score is its onset strength plus the best score of a predecessor between
//! half and twice the local period back, minus a penalty on the squared log-deviation of
//! the interval from that period. Backtracking from the best final frame gives the globally
//! best beat sequence: a beat is placed where the evidence for the whole grid is best, not
//! where one onset happens to be loud.

/// Weight of the squared log-deviation from the local period (Ellis's "tightness").
pub const TIGHTNESS: f64 = 300.0;

/// Beat frames of a normalised onset envelope given the local period (frames) per frame.
pub fn track(onset: &[f32], local_period: &[f64]) -> Vec<usize> {
    let n = onset.len();
    if n == 0 {
        return Vec::new();
    }
    let mut score = vec![0.0f64; n];
    let mut back: Vec<Option<usize>> = vec![None; n];
    for t in 0..n {
        let period = local_period.get(t).copied().unwrap_or(1.0).max(1.0);
        let far = (2.0 * period).round() as usize;
        let near = ((0.5 * period).round() as usize).max(1);
        let mut best: Option<(usize, f64)> = None;
        if t >= near {
            // `p` is a frame index: the lag `t − p` is part of the score, not only `score[p]`.
            #[expect(
                clippy::needless_range_loop,
                reason = "the index is the predecessor frame"
            )]
            for p in t.saturating_sub(far)..=(t - near) {
                let dev = ((t - p) as f64 / period).ln();
                let v = score[p] - TIGHTNESS * dev * dev;
                if best.is_none_or(|(_, b)| v > b) {
                    best = Some((p, v));
                }
            }
        }
        let (link, prev) = match best {
            Some((p, v)) if v > 0.0 => (Some(p), v),
            _ => (None, 0.0),
        };
        score[t] = f64::from(onset[t]) + prev;
        back[t] = link;
    }
    // The chain ends at the best-scoring frame within the last local period and a half.
    let tail_period = local_period.last().copied().unwrap_or(1.0).max(1.0);
    let tail = n.saturating_sub((1.5 * tail_period).round() as usize);
    let mut t = (tail..n)
        .max_by(|a, b| score[*a].total_cmp(&score[*b]))
        .unwrap_or(n - 1);
    let mut beats = vec![t];
    while let Some(p) = back[t] {
        beats.push(p);
        t = p;
    }
    beats.reverse();
    beats
}

/// Removes leading and trailing beats whose whole span (up to the next beat) is silent
/// (`active[frame]` false), so a song's silent lead-in and tail carry no beats. The span
/// matters: a sparse click sits a frame after the beat's own frame, which may be silent.
pub fn trim_silent(beats: &[usize], active: &[bool]) -> Vec<usize> {
    let is_active = |k: usize| -> bool {
        let start = beats[k];
        let end = beats
            .get(k + 1)
            .copied()
            .unwrap_or(start + 1)
            .max(start + 1);
        active
            .get(start..end.min(active.len()))
            .is_some_and(|span| span.iter().any(|a| *a))
    };
    let first = (0..beats.len()).find(|&k| is_active(k));
    let last = (0..beats.len()).rev().find(|&k| is_active(k));
    match (first, last) {
        (Some(f), Some(l)) => beats[f..=l].to_vec(),
        _ => Vec::new(),
    }
}

/// Mean observation at the beats (the best of ±1 frame): how strongly a grid sits on onsets.
pub fn grid_strength(onset: &[f32], beats: &[usize]) -> f64 {
    if beats.is_empty() {
        return 0.0;
    }
    let at = |f: usize| {
        onset[f.saturating_sub(1)..(f + 2).min(onset.len())]
            .iter()
            .copied()
            .fold(0.0f32, f32::max)
    };
    beats.iter().map(|&f| f64::from(at(f))).sum::<f64>() / beats.len() as f64
}

/// Share by which the off-beat evidence must exceed the on-beat evidence before the grid
/// is moved by half a beat.
const OFFBEAT_MARGIN: f64 = 1.25;

/// Moves the grid by half a beat when the bass onsets sit between the beats rather than on
/// them (a tracker locked to a syncopated part or to hi-hats on the "and").
pub fn fix_offbeat(beats: &[usize], bass_onset: &[f32], onset: &[f32]) -> Vec<usize> {
    if beats.len() < 4 {
        return beats.to_vec();
    }
    let mids = shifted(beats, 1, 2);
    let on = grid_strength(bass_onset, &beats[1..]) + 0.5 * grid_strength(onset, &beats[1..]);
    let off = grid_strength(bass_onset, &mids) + 0.5 * grid_strength(onset, &mids);
    if off > OFFBEAT_MARGIN * on {
        mids
    } else {
        beats.to_vec()
    }
}

/// Grid points a fraction `num / den` of the way from each beat to the next (the last beat
/// has no successor and is left out).
fn shifted(beats: &[usize], num: usize, den: usize) -> Vec<usize> {
    beats
        .windows(2)
        .map(|w| w[0] + (w[1] - w[0]) * num / den.max(1))
        .collect()
}

/// Smallest strength of the point a third of a beat after the grid, relative to the grid's
/// own, for that point to count as a swung note pair partner rather than noise.
const SWING_MIN_PARTNER: f64 = 0.15;
/// Largest strength at two thirds of a beat after the grid, relative to the partner at one
/// third, for the pattern to be the long–short pair of swing (and not a triplet or 3:2 grid,
/// which has onsets at both thirds).
const SWING_MAX_OTHER_THIRD: f64 = 0.3;

/// Moves the grid a third of a beat later when it sits on the short, swung off-beat note.
///
/// In swing the beat and its off-beat form a long–short pair: onsets at 0 and 2/3 of the
/// beat. A tracker can lock to either: the off-beat note is often the louder (a hi-hat or a
/// pushed chord). Seen from a grid on the off-beat, the strong onsets sit at 0 and 1/3 of the
/// beat with nothing at 2/3; seen from the true beat they sit at 0 and 2/3. Listeners hear
/// the beat on the note that starts the long interval, so a 0 + 1/3 profile moves the grid by
/// one third.
pub fn fix_swing(beats: &[usize], bass_onset: &[f32], onset: &[f32]) -> Vec<usize> {
    if beats.len() < 4 {
        return beats.to_vec();
    }
    let strength = |g: &[usize]| grid_strength(bass_onset, g) + 0.5 * grid_strength(onset, g);
    let here = strength(&beats[..beats.len() - 1]);
    let third = strength(&shifted(beats, 1, 3));
    let two_thirds = strength(&shifted(beats, 2, 3));
    let half = strength(&shifted(beats, 1, 2));
    let swung = third >= SWING_MIN_PARTNER * here
        && two_thirds <= SWING_MAX_OTHER_THIRD * third
        && half <= SWING_MAX_OTHER_THIRD * third;
    if swung {
        shifted(beats, 1, 3)
    } else {
        beats.to_vec()
    }
}

/// Factor by which a grid at 3:2 or 2:3 of the tracked tempo must out-score the tracked grid
/// (see [`metrical_fit`]) to replace it.
pub const TRIPLE_RELATION_MARGIN: f64 = 2.0;

/// How well a grid explains the onsets as beats with a binary subdivision: onset strength
/// on the beats plus at the half beats, minus the weaker of the two third-beat points.
///
/// A grid at 3:2 of the true tempo puts true beats on alternate thirds of its own beats, so
/// both thirds carry strong onsets and its half beats none; the true grid has them on its
/// beats and halves. Swing (a strong note on one third only) is not penalised.
pub fn metrical_fit(onset: &[f32], beats: &[usize]) -> f64 {
    if beats.len() < 2 {
        return 0.0;
    }
    let at = |num, den| grid_strength(onset, &shifted(beats, num, den));
    grid_strength(onset, &beats[..beats.len() - 1]) + at(1, 2) - at(1, 3).min(at(2, 3))
}

/// Mid-beat to beat onset ratio under which a level's midpoints count as its subdivisions
/// (weaker than its beats): the grid at half the tempo is then the tactus if it is not too slow.
const SUBDIVISION_RATIO: f64 = 0.65;
/// Mid-beat to beat onset ratio from which the midpoints are as strong as the beats: the
/// grid is then taken at twice the tempo (an even pulse is tapped at its faster level).
const EVEN_PULSE_RATIO: f64 = 0.75;
/// Slowest tactus, in BPM, that the level choice moves down to.
pub const MIN_TACTUS_BPM: f64 = 70.0;

/// Every other beat: the grids starting on the first and on the second beat.
fn alternate(beats: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let even = beats.iter().copied().step_by(2).collect();
    let odd = beats.iter().copied().skip(1).step_by(2).collect();
    (even, odd)
}

/// The grid with a beat added midway between every two.
pub fn doubled(frames: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(frames.len() * 2);
    for w in frames.windows(2) {
        out.push(w[0]);
        out.push((w[0] + w[1]) / 2);
    }
    out.extend(frames.last());
    out
}

/// Median tempo of a grid, BPM.
fn grid_bpm(beats: &[usize], frame_rate: f64) -> f64 {
    let mut d: Vec<usize> = beats.windows(2).map(|w| w[1] - w[0]).collect();
    if d.is_empty() {
        return 0.0;
    }
    d.sort_unstable();
    60.0 * frame_rate / d[d.len() / 2].max(1) as f64
}

/// Onset strength midway between the beats relative to that on the beats.
fn mid_ratio(onset: &[f32], beats: &[usize]) -> f64 {
    if beats.len() < 2 {
        return 1.0;
    }
    let on = grid_strength(onset, &beats[..beats.len() - 1]);
    grid_strength(onset, &shifted(beats, 1, 2)) / on.max(1e-9)
}

/// Picks the metrical level of the tactus among half, same and double the tracked tempo.
///
/// The tactus is the slowest level whose off-beats are clearly weaker than its beats: at the
/// level below it the "off-beats" are real beats (a backbeat snare, the next quarter note)
/// and as strong as the beats. So the grid is halved when one of its two half-tempo phases
/// has weak midpoints (ratio under `SUBDIVISION_RATIO`) and the result is not slower than
/// [`MIN_TACTUS_BPM`]; it is doubled when its own midpoints are as strong as its beats (an
/// even pulse, ratio from `EVEN_PULSE_RATIO`) and the result is not faster than
/// [`MAX_BEAT_BPM`]. The decision is scale-free, unlike a tempo prior: a drum pattern gets
/// the same reading at 70 and at 175 BPM.
pub fn choose_level(beats: &[usize], onset: &[f32], frame_rate: f64) -> Vec<usize> {
    if beats.len() < 8 {
        return beats.to_vec();
    }
    let bpm = grid_bpm(beats, frame_rate);
    let (even, odd) = alternate(beats);
    let (r_even, r_odd) = (mid_ratio(onset, &even), mid_ratio(onset, &odd));
    if bpm / 2.0 >= MIN_TACTUS_BPM && r_even.min(r_odd) < SUBDIVISION_RATIO {
        return if r_even <= r_odd { even } else { odd };
    }
    if mid_ratio(onset, beats) >= EVEN_PULSE_RATIO && bpm * 2.0 <= MAX_BEAT_BPM {
        return doubled(beats);
    }
    beats.to_vec()
}

/// Fastest beat a listener taps, in BPM: a grid faster than this (after local tempo
/// drift took it there) follows the subdivision and is halved.
pub const MAX_BEAT_BPM: f64 = 185.0;

/// Halves a grid whose median tempo exceeds [`MAX_BEAT_BPM`], keeping the phase with the
/// stronger bass and overall onsets.
pub fn halve_if_too_fast(
    beats: &[usize],
    frame_rate: f64,
    bass_onset: &[f32],
    onset: &[f32],
) -> Vec<usize> {
    if beats.len() < 5 || grid_bpm(beats, frame_rate) <= MAX_BEAT_BPM {
        return beats.to_vec();
    }
    let strength = |g: &[usize]| grid_strength(bass_onset, g) + 0.5 * grid_strength(onset, g);
    let (even, odd) = alternate(beats);
    if strength(&odd) > strength(&even) {
        odd
    } else {
        even
    }
}
