//! The audio thread's playback engine as a plain struct: it plays the original song or one
//! of the candidate edits from the current position, block by block, and crossfades
//! (equal power, [`SWITCH_FADE_S`]) whenever the source, the position or the song changes,
//! or playback starts or stops.
//!
//! [`Player::render`] never allocates, never locks and never fails: everything it needs
//! (scratch buffers, the splice tables in [`Playable`]) is built beforehand, and songs
//! arrive as `Arc<Playable>` whose last reference is never dropped here (the worker that
//! built them keeps one and frees them itself; see `worker.rs`).

use std::sync::Arc;

use recut_engine::Audio;
use recut_engine::edit::{Crossfade, Granularity, Plan, Renderer, Segment};

/// Length of the crossfade when switching source, seeking, starting or stopping, seconds.
pub const SWITCH_FADE_S: f64 = 0.010;
/// Frames rendered per inner step; `render` accepts blocks of any length.
pub const SCRATCH_FRAMES: usize = 1024;

/// One song ready to play: the audio at the host's rate and one renderer per source
/// (index 0 is the original, then the candidates in order).
#[derive(Debug)]
pub struct Playable {
    /// Increases with every new playable the worker sends.
    pub generation: u64,
    /// Stereo audio at the host's sample rate.
    pub audio: Arc<Audio>,
    /// Index 0: the original; 1..: the candidates' edits.
    pub sources: Vec<Renderer>,
}

impl Playable {
    /// Prepares the original and `plans` of `audio` for playback.
    pub fn new(
        generation: u64,
        audio: Arc<Audio>,
        plans: &[&Plan],
        crossfade: Crossfade,
    ) -> Playable {
        let mut sources = Vec::with_capacity(plans.len() + 1);
        sources.push(Renderer::new(&identity_plan(&audio), crossfade));
        sources.extend(plans.iter().map(|p| Renderer::new(p, crossfade)));
        Playable {
            generation,
            audio,
            sources,
        }
    }

    /// Output length of source `i` in frames (0 if there is no such source).
    pub fn frames(&self, source: usize) -> usize {
        self.sources.get(source).map_or(0, Renderer::total_frames)
    }
}

/// The plan that plays `audio` as it is (one segment, no splice): renders bit for bit.
pub fn identity_plan(audio: &Audio) -> Plan {
    let frames = audio.frames();
    Plan {
        song_hash: String::new(),
        granularity: Granularity::Beat,
        actions: Vec::new(),
        sequence: Vec::new(),
        segments: vec![Segment {
            start: 0,
            end: frames,
        }],
        sample_rate: audio.sample_rate,
        source_frames: frames,
    }
}

/// A source at a position, as the fading-out side of a crossfade.
#[derive(Debug)]
struct Voice {
    playable: Arc<Playable>,
    source: usize,
    pos: usize,
}

#[derive(Debug)]
struct Fade {
    /// What fades out (`None` = silence: playback is starting).
    old: Option<Voice>,
    /// Frames of the fade already played.
    k: usize,
}

/// The playback engine (see the module docs).
#[derive(Debug)]
pub struct Player {
    playable: Option<Arc<Playable>>,
    source: usize,
    pos: usize,
    playing: bool,
    fade: Option<Fade>,
    fade_len: usize,
    loop_region: Option<(usize, usize)>,
    cur: [Vec<f32>; 2],
    old: [Vec<f32>; 2],
}

impl Player {
    /// A stopped player with no song, crossfading over [`SWITCH_FADE_S`] at `sample_rate`.
    pub fn new(sample_rate: f32) -> Player {
        let buf = || vec![0.0f32; SCRATCH_FRAMES];
        Player {
            playable: None,
            source: 0,
            pos: 0,
            playing: false,
            fade: None,
            fade_len: ((SWITCH_FADE_S * f64::from(sample_rate)).round() as usize).max(1),
            loop_region: None,
            cur: [buf(), buf()],
            old: [buf(), buf()],
        }
    }

    /// Sets the crossfade length for a new host rate (outside `process()`).
    pub fn set_sample_rate(&mut self, sample_rate: f32) {
        self.fade = None;
        self.fade_len = ((SWITCH_FADE_S * f64::from(sample_rate)).round() as usize).max(1);
    }

    /// Crossfade length in frames.
    pub fn fade_frames(&self) -> usize {
        self.fade_len
    }

    /// Current output position of the current source, frames.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Current source (0 original, 1.. candidates).
    pub fn source(&self) -> usize {
        self.source
    }

    /// True while playing (or following the host).
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// The song being played, if any.
    pub fn playable(&self) -> Option<&Arc<Playable>> {
        self.playable.as_ref()
    }

    /// Length of the current source, frames (0 without a song).
    pub fn source_frames(&self) -> usize {
        self.playable.as_ref().map_or(0, |p| p.frames(self.source))
    }

    /// True when the position is at or past the end of the current source.
    pub fn at_end(&self) -> bool {
        self.pos >= self.source_frames()
    }

    /// Loop between two output frames of the current source (`None`: no loop).
    pub fn set_loop(&mut self, region: Option<(usize, usize)>) {
        self.loop_region = region.filter(|(s, e)| e > s);
    }

    /// Starts a crossfade from what sounds now.
    fn begin_fade(&mut self) {
        let old = match (&self.playable, self.playing) {
            (Some(p), true) => Some(Voice {
                playable: p.clone(),
                source: self.source,
                pos: self.pos,
            }),
            _ => None,
        };
        // Replacing a running fade drops its old voice: an `Arc` decrement, never the last.
        self.fade = Some(Fade { old, k: 0 });
    }

    /// Replaces the song (same source index and position where they exist), crossfaded.
    /// Returns the previous song so the caller decides where it is dropped.
    pub fn set_playable(&mut self, playable: Arc<Playable>) -> Option<Arc<Playable>> {
        self.begin_fade();
        let source = if self.source < playable.sources.len() {
            self.source
        } else {
            0
        };
        self.source = source;
        self.playable.replace(playable)
    }

    /// Switches to source `source` (clamped to the original when out of range) at the same
    /// output position, crossfaded from the next frame on.
    pub fn select(&mut self, source: usize) {
        let n = self.playable.as_ref().map_or(1, |p| p.sources.len());
        let source = if source < n { source } else { 0 };
        if source != self.source {
            self.begin_fade();
            self.source = source;
        }
    }

    /// Jumps to output frame `pos` of the current source, crossfaded.
    pub fn seek(&mut self, pos: usize) {
        if pos != self.pos {
            self.begin_fade();
            self.pos = pos;
        }
    }

    /// Starts or stops playback, fading in or out.
    pub fn set_playing(&mut self, playing: bool) {
        if playing != self.playing {
            self.begin_fade();
            self.playing = playing;
        }
    }

    /// Fills every channel of `out` (1 or 2 channels; more are zeroed) with the next frames
    /// and advances. Mono output gets the mean of left and right.
    pub fn render(&mut self, out: &mut [&mut [f32]]) {
        let n = out.iter().map(|c| c.len()).min().unwrap_or(0);
        let mut done = 0;
        while done < n {
            let mut m = (n - done).min(SCRATCH_FRAMES);
            if let (true, Some((_, le))) = (self.playing, self.loop_region)
                && self.pos < le
            {
                m = m.min(le - self.pos);
            }
            if let Some(f) = &self.fade {
                m = m.min(self.fade_len - f.k);
            }
            self.step(out, done, m);
            done += m;
            if let (true, Some((ls, le))) = (self.playing, self.loop_region)
                && self.pos == le
            {
                self.seek(ls);
            }
        }
    }

    /// Renders `m` frames (within one fade state) into `out[..][at..at + m]`.
    fn step(&mut self, out: &mut [&mut [f32]], at: usize, m: usize) {
        let playing = self.playing;
        let written = match (&self.playable, playing) {
            (Some(p), true) => render_voice(p, self.source, self.pos, &mut self.cur, m),
            _ => 0,
        };
        for ch in &mut self.cur {
            ch[written..m].fill(0.0);
        }
        if playing {
            self.pos += m;
        }
        if let Some(fade) = &mut self.fade {
            let old_written = match &mut fade.old {
                Some(v) => {
                    let w = render_voice(&v.playable, v.source, v.pos, &mut self.old, m);
                    v.pos += m;
                    w
                }
                None => 0,
            };
            for ch in &mut self.old {
                ch[old_written..m].fill(0.0);
            }
            let l = self.fade_len as f64;
            for i in 0..m {
                let theta = std::f64::consts::FRAC_PI_2 * ((fade.k + i) as f64 + 0.5) / l;
                let (g_out, g_in) = (theta.cos() as f32, theta.sin() as f32);
                for c in 0..2 {
                    self.cur[c][i] = self.cur[c][i] * g_in + self.old[c][i] * g_out;
                }
            }
            fade.k += m;
            if fade.k >= self.fade_len {
                self.fade = None;
            }
        }
        match out.len() {
            0 => {}
            1 => {
                for (i, o) in out[0][at..at + m].iter_mut().enumerate() {
                    *o = 0.5 * (self.cur[0][i] + self.cur[1][i]);
                }
            }
            _ => {
                for (c, ch) in out.iter_mut().enumerate() {
                    let dst = &mut ch[at..at + m];
                    match self.cur.get(c) {
                        Some(src) => dst.copy_from_slice(&src[..m]),
                        None => dst.fill(0.0),
                    }
                }
            }
        }
    }
}

/// Renders `m` frames of `source` from `pos` into `bufs` (stereo; a mono song fills both)
/// and returns the frames written.
fn render_voice(
    p: &Playable,
    source: usize,
    pos: usize,
    bufs: &mut [Vec<f32>; 2],
    m: usize,
) -> usize {
    let Some(r) = p.sources.get(source) else {
        return 0;
    };
    let [l, rr] = bufs;
    let mut outs: [&mut [f32]; 2] = [&mut l[..m], &mut rr[..m]];
    let w = r.render_into(&p.audio, &mut outs, pos);
    if p.audio.channels.len() == 1 {
        let (a, b) = bufs.split_at_mut(1);
        b[0][..w].copy_from_slice(&a[0][..w]);
    }
    w
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use recut_engine::edit::render;

    /// A stereo signal with distinct, smooth channels.
    pub fn tone(sample_rate: u32, frames: usize) -> Audio {
        let f = |hz: f64, i: usize| {
            (0.5 * (std::f64::consts::TAU * hz * i as f64 / f64::from(sample_rate)).sin()) as f32
        };
        Audio {
            sample_rate,
            channels: vec![
                (0..frames).map(|i| f(220.0, i)).collect(),
                (0..frames).map(|i| f(330.0, i)).collect(),
            ],
        }
    }

    /// A plan with hand-made segments (cuts and a repeat).
    fn plan(audio: &Audio, segs: &[(usize, usize)]) -> Plan {
        let mut p = identity_plan(audio);
        p.segments = segs
            .iter()
            .map(|&(start, end)| Segment { start, end })
            .collect();
        p
    }

    fn fixture() -> (Arc<Playable>, Plan, Plan) {
        let audio = tone(48_000, 48_000 * 3);
        let a = plan(&audio, &[(0, 30_000), (50_000, 90_000), (60_000, 144_000)]);
        let b = plan(&audio, &[(10_000, 70_000), (100_000, 140_000)]);
        let p = Arc::new(Playable::new(
            1,
            Arc::new(audio),
            &[&a, &b],
            Crossfade::default(),
        ));
        (p, a, b)
    }

    fn play_all(player: &mut Player, frames: usize, block: usize) -> [Vec<f32>; 2] {
        let mut out = [vec![0.0f32; frames], vec![0.0f32; frames]];
        let mut at = 0;
        while at < frames {
            let n = block.min(frames - at);
            let [l, r] = &mut out;
            let mut bufs: [&mut [f32]; 2] = [&mut l[at..at + n], &mut r[at..at + n]];
            player.render(&mut bufs);
            at += n;
        }
        out
    }

    #[test]
    fn blocks_of_any_size_equal_the_engines_render() {
        let (p, a, _) = fixture();
        let reference = render(&p.audio, &a, Crossfade::default()).unwrap();
        for block in [1, 64, 512, 4096] {
            let mut player = Player::new(48_000.0);
            player.set_playable(p.clone());
            player.select(1);
            // Start directly (no fade-in) to compare bit for bit.
            player.playing = true;
            player.fade = None;
            let out = play_all(&mut player, reference.frames(), block);
            for c in 0..2 {
                assert_eq!(out[c], reference.channels[c], "block {block}, channel {c}");
            }
            assert!(player.at_end());
        }
    }

    #[test]
    fn switch_mid_block_is_smooth() {
        let (p, _, _) = fixture();
        let audio = &p.audio;
        // The signal's own largest sample-to-sample step.
        let own_step = audio
            .channels
            .iter()
            .flat_map(|c| c.windows(2).map(|w| (w[1] - w[0]).abs()))
            .fold(0.0, f32::max);
        for switch_at in [100usize, 20_000, 29_990, 40_000] {
            let mut player = Player::new(48_000.0);
            player.set_playable(p.clone());
            player.select(1);
            player.playing = true;
            player.fade = None;
            let block = 512;
            let total = 60_000;
            let mut out = [vec![0.0f32; total], vec![0.0f32; total]];
            let mut at = 0;
            while at < total {
                let mut n = block.min(total - at);
                if at < switch_at && switch_at < at + n {
                    n = switch_at - at;
                }
                if at == switch_at {
                    player.select(2);
                }
                let [l, r] = &mut out;
                let mut bufs: [&mut [f32]; 2] = [&mut l[at..at + n], &mut r[at..at + n]];
                player.render(&mut bufs);
                at += n;
            }
            // Before the switch: A; after the fade: B.
            let ra = render(audio, &plan_of(&p, 1), Crossfade::default()).unwrap();
            let rb = render(audio, &plan_of(&p, 2), Crossfade::default()).unwrap();
            let fade = player.fade_frames();
            for c in 0..2 {
                assert_eq!(out[c][..switch_at], ra.channels[c][..switch_at]);
                assert_eq!(
                    out[c][switch_at + fade..],
                    rb.channels[c][switch_at + fade..total]
                );
                // No jump larger than the signal's own step plus what the equal-power ramp adds
                // (the two sources' difference spread over the fade).
                let ramp = 2.0 * std::f32::consts::FRAC_PI_2 / fade as f32;
                let max_jump = out[c]
                    .windows(2)
                    .map(|w| (w[1] - w[0]).abs())
                    .fold(0.0, f32::max);
                assert!(
                    max_jump <= own_step * 1.5 + ramp,
                    "switch at {switch_at}: jump {max_jump} vs own {own_step}"
                );
            }
        }
    }

    /// The plan behind source `i` (rebuilt from the fixture for reference rendering).
    fn plan_of(p: &Playable, i: usize) -> Plan {
        let (_, a, b) = fixture();
        let _ = p;
        if i == 1 { a } else { b }
    }

    #[test]
    fn stop_and_start_fade_and_loop_wraps() {
        let (p, _, _) = fixture();
        let mut player = Player::new(48_000.0);
        player.set_playable(p.clone());
        player.set_playing(true);
        let out = play_all(&mut player, 1000, 64);
        // Fades in from silence: first sample small, later samples equal the original.
        assert!(out[0][0].abs() < 0.01);
        assert_eq!(out[0][600..1000], p.audio.channels[0][600..1000]);
        player.set_loop(Some((1000, 3000)));
        let out = play_all(&mut player, 3500, 512);
        // 1000 -> 3000, wrap to 1000, then 1500 more.
        assert_eq!(player.position(), 2500);
        assert_eq!(out[0][..1000], p.audio.channels[0][1000..2000]);
        let fade = player.fade_frames();
        assert_eq!(
            out[0][2000 + fade..3500],
            p.audio.channels[0][1000 + fade..2500]
        );
        player.set_playing(false);
        let out = play_all(&mut player, 1000, 512);
        assert!(out[0][600..].iter().all(|s| *s == 0.0));
    }

    #[test]
    fn mono_song_and_mono_output() {
        let mut audio = tone(44_100, 10_000);
        audio.channels.truncate(1);
        let p = Arc::new(Playable::new(
            1,
            Arc::new(audio.clone()),
            &[],
            Crossfade::default(),
        ));
        let mut player = Player::new(44_100.0);
        player.set_playable(p);
        player.playing = true;
        player.fade = None;
        let mut mono = vec![0.0f32; 5000];
        player.render(&mut [&mut mono[..]]);
        assert_eq!(mono[..], audio.channels[0][..5000]);
    }
}
