//! Rendering a [`Plan`]: the source segments one after another with an equal-power
//! crossfade at every splice, at the source's rate and channel count.
//!
//! The crossfade is a *pre-roll*: it sits entirely before the incoming segment's first
//! output frame. Over the `L` output frames before a splice the outgoing segment's own
//! last `L` frames fade out (`cos`) while the `L` source frames just before the incoming
//! segment's start fade in (`sin`); from the splice on, the incoming segment plays at full
//! gain, so the attack of the incoming beat — sitting right at its start — is untouched.
//! `L` is the requested crossfade clamped to the outgoing segment's length, so windows of
//! neighbouring splices never overlap, and the output is exactly `plan.output_frames()`
//! long. When the plan stops before the end of the source, the last `L` frames fade out so
//! the edit does not end in a click. A plan that keeps everything renders the source
//! bit for bit.
//!
//! [`Renderer`] precomputes a splice table once and then fills caller buffers block by
//! block without allocating ([`Renderer::render_into`], for the audio thread); [`render`]
//! renders a whole file with the same code, so both agree bit for bit.

use super::EditError;
use super::plan::Plan;
use crate::audio::Audio;

/// Default crossfade length, seconds.
pub const DEFAULT_CROSSFADE_S: f64 = 0.010;
/// Longest crossfade accepted, seconds (a beat at 30 BPM); each splice is further limited
/// to the length of its outgoing segment.
pub const MAX_CROSSFADE_S: f64 = 2.0;

/// Crossfade length at splices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossfade {
    seconds: f64,
}

impl Default for Crossfade {
    fn default() -> Self {
        Crossfade {
            seconds: DEFAULT_CROSSFADE_S,
        }
    }
}

impl Crossfade {
    /// A crossfade of `seconds` (0 = hard cut, at most [`MAX_CROSSFADE_S`]).
    pub fn new(seconds: f64) -> Result<Self, EditError> {
        if !seconds.is_finite() || !(0.0..=MAX_CROSSFADE_S).contains(&seconds) {
            return Err(EditError::Crossfade {
                seconds,
                max: MAX_CROSSFADE_S,
            });
        }
        Ok(Crossfade { seconds })
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Length in frames at `sample_rate` Hz.
    pub fn frames(&self, sample_rate: u32) -> usize {
        (self.seconds * f64::from(sample_rate)).round() as usize
    }
}

/// One segment of the output with what is needed to mix it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// First output frame.
    out_start: usize,
    /// First source frame.
    src_start: usize,
    /// Length, frames.
    len: usize,
    /// Fade-out length at the end of this segment (0 when no splice or fade follows).
    fade: usize,
    /// Source start of the segment whose pre-roll fades in under this one's fade-out
    /// (`None` for the final fade-out at the end of the edit).
    next_src: Option<usize>,
}

/// A plan prepared for playback: the splice table, built once.
#[derive(Debug, Clone)]
pub struct Renderer {
    entries: Vec<Entry>,
    total: usize,
    sample_rate: u32,
    source_frames: usize,
}

/// Equal-power gains `(outgoing, incoming)` at frame `k` of an `l`-frame crossfade.
#[inline]
fn gains(k: usize, l: usize) -> (f32, f32) {
    let t = (k as f64 + 0.5) / l as f64;
    let theta = std::f64::consts::FRAC_PI_2 * t;
    (theta.cos() as f32, theta.sin() as f32)
}

impl Renderer {
    /// Prepares `plan` for playback with `crossfade` at every splice.
    pub fn new(plan: &Plan, crossfade: Crossfade) -> Renderer {
        let l = crossfade.frames(plan.sample_rate);
        let mut entries = Vec::with_capacity(plan.segments.len());
        let mut out = 0usize;
        for (k, seg) in plan.segments.iter().enumerate() {
            let next = plan.segments.get(k + 1);
            let (fade, next_src) = match next {
                Some(n) if n.start != seg.end => (l.min(seg.len()), Some(n.start)),
                Some(_) => (0, None),
                None if seg.end < plan.source_frames => (l.min(seg.len()), None),
                None => (0, None),
            };
            entries.push(Entry {
                out_start: out,
                src_start: seg.start,
                len: seg.len(),
                fade,
                next_src,
            });
            out += seg.len();
        }
        Renderer {
            entries,
            total: out,
            sample_rate: plan.sample_rate,
            source_frames: plan.source_frames,
        }
    }

    /// Output length, frames.
    pub fn total_frames(&self) -> usize {
        self.total
    }

    /// Sample rate of the output, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Checks that `audio` is the song the plan was made for (rate and length).
    pub fn check(&self, audio: &Audio) -> Result<(), EditError> {
        if audio.sample_rate != self.sample_rate || audio.frames() != self.source_frames {
            return Err(EditError::AudioMismatch {
                plan_rate: self.sample_rate,
                plan_frames: self.source_frames,
                audio_rate: audio.sample_rate,
                audio_frames: audio.frames(),
            });
        }
        Ok(())
    }

    /// Fills `out` (one slice per channel, all the same length) with the edit from output
    /// frame `position` on and returns the frames written (fewer than the buffer at the
    /// end of the edit; 0 past it). Never allocates, never fails: channels of `out` beyond
    /// the audio's are zeroed, source frames outside `audio` read as silence, and frames
    /// after the end are left untouched.
    pub fn render_into(&self, audio: &Audio, out: &mut [&mut [f32]], position: usize) -> usize {
        let buf_len = out.iter().map(|c| c.len()).min().unwrap_or(0);
        let n = buf_len.min(self.total.saturating_sub(position));
        if n == 0 {
            return 0;
        }
        let end = position + n;
        // First entry containing `position` (entries are sorted by out_start, non-empty).
        let mut e = self
            .entries
            .partition_point(|x| x.out_start + x.len <= position);
        let mut p = position;
        while p < end && e < self.entries.len() {
            let entry = self.entries[e];
            let seg_end = entry.out_start + entry.len;
            let stop = seg_end.min(end);
            let fade_start = seg_end - entry.fade;
            // Plain part.
            let plain_end = stop.min(fade_start);
            if p < plain_end {
                let src = entry.src_start + (p - entry.out_start);
                let count = plain_end - p;
                let o = p - position;
                for (c, buf) in out.iter_mut().enumerate() {
                    let dst = &mut buf[o..o + count];
                    match audio.channels.get(c) {
                        Some(ch) => copy_or_silence(ch, src, dst),
                        None => dst.fill(0.0),
                    }
                }
                p = plain_end;
            }
            // Fade part.
            while p < stop {
                let k = p - fade_start;
                let (g_out, g_in) = gains(k, entry.fade);
                let src_out = entry.src_start + (p - entry.out_start);
                // Pre-roll of the incoming segment: the frames just before its start.
                let src_in = entry.next_src.and_then(|s| (s + k).checked_sub(entry.fade));
                let o = p - position;
                for (c, buf) in out.iter_mut().enumerate() {
                    buf[o] = match audio.channels.get(c) {
                        Some(ch) => {
                            let a = ch.get(src_out).copied().unwrap_or(0.0) * g_out;
                            let b = src_in.and_then(|s| ch.get(s).copied()).unwrap_or(0.0) * g_in;
                            a + b
                        }
                        None => 0.0,
                    };
                }
                p += 1;
            }
            e += 1;
        }
        n
    }
}

fn copy_or_silence(ch: &[f32], src: usize, dst: &mut [f32]) {
    let avail = ch.len().saturating_sub(src).min(dst.len());
    if avail > 0 {
        dst[..avail].copy_from_slice(&ch[src..src + avail]);
    }
    dst[avail..].fill(0.0);
}

/// Renders the whole edit of `audio` by `plan` with `crossfade` at every splice, at the
/// source's rate and channel count.
pub fn render(audio: &Audio, plan: &Plan, crossfade: Crossfade) -> Result<Audio, EditError> {
    let r = Renderer::new(plan, crossfade);
    r.check(audio)?;
    let mut channels = vec![vec![0.0f32; r.total_frames()]; audio.channels.len()];
    let mut bufs: Vec<&mut [f32]> = channels.iter_mut().map(Vec::as_mut_slice).collect();
    r.render_into(audio, &mut bufs, 0);
    Ok(Audio {
        sample_rate: audio.sample_rate,
        channels,
    })
}
