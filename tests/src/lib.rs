//! Shared helpers for the end-to-end tests: synthesised signals with exactly known beats
//! ([`synth`]), the mir_eval-style beat F-measure ([`beat_f_measure`]), the annotated
//! corpus ([`corpus_dir`], [`ensure_corpus`]), time-limited runs ([`with_timeout`]) and
//! hand-built files ([`wav_bytes`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

pub use recut_engine::audio::Audio;

/// Tolerance window of the beat F-measure, seconds (mir_eval's default).
pub const F_WINDOW_S: f64 = 0.07;
/// Beats before this time are ignored on both sides (mir_eval's `trim_beats`).
pub const F_SKIP_S: f64 = 5.0;

/// mir_eval-style F-measure of estimated against reference event times: events before
/// `skip_s` are dropped on both sides, then each reference is matched to at most one
/// estimate (and vice versa) within `window_s`, greedily by distance. Returns 0 when either
/// side is empty after trimming (as mir_eval does).
pub fn beat_f_measure_with(est: &[f64], reference: &[f64], window_s: f64, skip_s: f64) -> f64 {
    let est: Vec<f64> = est.iter().copied().filter(|t| *t >= skip_s).collect();
    let reference: Vec<f64> = reference.iter().copied().filter(|t| *t >= skip_s).collect();
    if est.is_empty() || reference.is_empty() {
        return 0.0;
    }
    // All candidate pairs within the window, closest first; take each pair whose two ends
    // are both still free.
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, r) in reference.iter().enumerate() {
        let lo = est.partition_point(|e| *e < r - window_s);
        for (j, e) in est.iter().enumerate().skip(lo) {
            if *e > r + window_s {
                break;
            }
            pairs.push(((e - r).abs(), i, j));
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut ref_used, mut est_used) = (vec![false; reference.len()], vec![false; est.len()]);
    let mut hits = 0usize;
    for (_, i, j) in pairs {
        if !ref_used[i] && !est_used[j] {
            ref_used[i] = true;
            est_used[j] = true;
            hits += 1;
        }
    }
    let precision = hits as f64 / est.len() as f64;
    let recall = hits as f64 / reference.len() as f64;
    if hits == 0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// [`beat_f_measure_with`] at mir_eval's defaults: 70 ms window, beats before 5 s skipped.
pub fn beat_f_measure(est: &[f64], reference: &[f64]) -> f64 {
    beat_f_measure_with(est, reference, F_WINDOW_S, F_SKIP_S)
}

/// Downbeat times (seconds) of an analysis.
pub fn downbeat_times(a: &recut_engine::Analysis) -> Vec<f64> {
    a.downbeats.iter().map(|&i| a.beats[i]).collect()
}

/// The workspace root (the folder holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The corpus folder: `$RECUT_CORPUS`, else `../shared/corpus` next to the workspace.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("RECUT_CORPUS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("..").join("shared").join("corpus"),
    }
}

/// Builds the corpus if needed by running `shared/corpus/fetch` (a no-op in ~0.02 s once
/// built; ~90 s from scratch; needs apt and root or the packages installed). Runs once per
/// test binary; panics with fetch's stderr when it fails. Returns [`corpus_dir`].
pub fn ensure_corpus() -> PathBuf {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        let script = workspace_root()
            .join("..")
            .join("shared")
            .join("corpus")
            .join("fetch");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}):\n{}\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ))
        }
    });
    if let Err(e) = result {
        panic!("the test corpus is missing and could not be built: {e}");
    }
    corpus_dir()
}

/// Reads an annotation file: one time in seconds per line (blank lines ignored).
pub fn read_times(path: &Path) -> Vec<f64> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .next()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("bad time {l:?} in {}", path.display()))
        })
        .collect()
}

/// Runs `f` on its own thread and panics if it takes longer than `limit` (a hang guard:
/// the thread is left behind, the test fails with `what` in the message).
pub fn with_timeout<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no result within {limit:?} (hang?)")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: re-raise its panic on this thread.
            match handle.join() {
                Err(p) => std::panic::resume_unwind(p),
                Ok(()) => panic!("{what}: thread ended without a result"),
            }
        }
    }
}

/// A RIFF/WAVE file built by hand: `fmt ` chunk with `format_tag`, then a `data` chunk
/// with `data` (for headers hound refuses to write: odd format tags, 9 channels, ...).
pub fn wav_bytes(
    format_tag: u16,
    channels: u16,
    sample_rate: u32,
    bits: u16,
    data: &[u8],
) -> Vec<u8> {
    let block_align = channels * bits.div_ceil(8);
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&format_tag.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&sample_rate.to_le_bytes());
    fmt.extend_from_slice(&(sample_rate * u32::from(block_align)).to_le_bytes());
    fmt.extend_from_slice(&block_align.to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    if format_tag != 1 {
        fmt.extend_from_slice(&0u16.to_le_bytes()); // cbSize
    }
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    out.extend_from_slice(&fmt);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// CRC-32 of Ogg pages (polynomial 0x04C11DB7, not reflected, initial value 0).
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for b in data {
        crc ^= u32::from(*b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// One Ogg page holding `packets` (each under 255 × 255 bytes), with a valid checksum.
/// `header_type`: 0x02 first page of the stream, 0x04 last page.
pub fn ogg_page(
    header_type: u8,
    granule: u64,
    serial: u32,
    sequence: u32,
    packets: &[&[u8]],
) -> Vec<u8> {
    let mut segments = Vec::new();
    for p in packets {
        segments.extend(std::iter::repeat_n(255u8, p.len() / 255));
        segments.push((p.len() % 255) as u8);
    }
    let mut page = Vec::new();
    page.extend_from_slice(b"OggS");
    page.push(0);
    page.push(header_type);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&serial.to_le_bytes());
    page.extend_from_slice(&sequence.to_le_bytes());
    page.extend_from_slice(&[0; 4]);
    page.push(segments.len() as u8);
    page.extend_from_slice(&segments);
    for p in packets {
        page.extend_from_slice(p);
    }
    let crc = ogg_crc(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

/// A well-formed Ogg Opus stream (a codec symphonia has no decoder for): OpusHead, OpusTags,
/// then `n_packets` 20 ms packets of stereo silence-like frames.
pub fn ogg_opus_bytes(n_packets: usize) -> Vec<u8> {
    let serial = 0x5EC0_0001;
    let mut head = Vec::new();
    head.extend_from_slice(b"OpusHead");
    head.push(1); // version
    head.push(2); // channels
    head.extend_from_slice(&312u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes()); // input sample rate
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // mapping family
    let mut tags = Vec::new();
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&5u32.to_le_bytes());
    tags.extend_from_slice(b"recut");
    tags.extend_from_slice(&0u32.to_le_bytes());
    let mut out = ogg_page(0x02, 0, serial, 0, &[&head]);
    out.extend(ogg_page(0x00, 0, serial, 1, &[&tags]));
    // TOC 0xFC: config 31 (CELT FB 20 ms), stereo, one frame; then a few payload bytes.
    let packet = [0xFCu8, 0xFF, 0xFE];
    for k in 0..n_packets {
        let last = k + 1 == n_packets;
        let granule = 312 + 960 * (k as u64 + 1);
        out.extend(ogg_page(
            if last { 0x04 } else { 0x00 },
            granule,
            serial,
            2 + k as u32,
            &[&packet],
        ));
    }
    out
}

/// Synthesised music with exactly known beats and downbeats.
pub mod synth {
    use super::Audio;
    use std::f64::consts::TAU;

    /// A synthesised signal and its ground truth.
    #[derive(Debug, Clone)]
    pub struct Synth {
        /// The audio (mono).
        pub audio: Audio,
        /// True beat times, seconds.
        pub beats: Vec<f64>,
        /// True downbeat times, seconds (a subset of `beats`).
        pub downbeats: Vec<f64>,
        /// Beats per bar.
        pub beats_per_bar: u32,
        /// Subdivisions per beat (2 simple, 3 compound).
        pub subdivision: u32,
    }

    /// Deterministic noise (xorshift), so every run renders the same samples.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        }
    }

    /// A mono buffer that instruments are added into.
    struct Mix {
        sr: f64,
        buf: Vec<f32>,
        noise: Noise,
    }

    impl Mix {
        fn new(sample_rate: u32, seconds: f64) -> Self {
            Mix {
                sr: f64::from(sample_rate),
                buf: vec![0.0; (seconds * f64::from(sample_rate)) as usize],
                noise: Noise(0x9E37_79B9_7F4A_7C15),
            }
        }

        /// Adds `f(t)` (t = seconds since `start`) for `len` seconds.
        fn add(&mut self, start: f64, len: f64, mut f: impl FnMut(f64, &mut Noise) -> f64) {
            let s0 = (start * self.sr).round().max(0.0) as usize;
            let n = (len * self.sr) as usize;
            for k in 0..n {
                let Some(slot) = self.buf.get_mut(s0 + k) else {
                    break;
                };
                *slot += f(k as f64 / self.sr, &mut self.noise) as f32;
            }
        }

        /// Short decaying sine burst (a metronome click).
        fn click(&mut self, t: f64, freq: f64, amp: f64) {
            self.add(t, 0.03, |x, _| {
                amp * (TAU * freq * x).sin() * (-x / 0.006).exp()
            });
        }

        /// Kick drum: a pitch sweep 150 → 50 Hz.
        fn kick(&mut self, t: f64, amp: f64) {
            let mut phase = 0.0;
            let dt = 1.0 / self.sr;
            self.add(t, 0.3, |x, _| {
                let f = 50.0 + 100.0 * (-x / 0.03).exp();
                phase += TAU * f * dt;
                amp * phase.sin() * (-x / 0.12).exp() * (x / 0.002).min(1.0)
            });
        }

        /// Snare: noise plus a 190 Hz body.
        fn snare(&mut self, t: f64, amp: f64) {
            self.add(t, 0.2, |x, n| {
                amp * (0.6 * f64::from(n.next()) * (-x / 0.05).exp()
                    + 0.4 * (TAU * 190.0 * x).sin() * (-x / 0.04).exp())
            });
        }

        /// Closed hi-hat: differenced (high-passed) noise.
        fn hihat(&mut self, t: f64, amp: f64) {
            let mut prev = 0.0f64;
            self.add(t, 0.05, |x, n| {
                let v = f64::from(n.next());
                let hp = v - prev;
                prev = v;
                amp * 0.5 * hp * (-x / 0.012).exp()
            });
        }

        /// A pitched note with a few harmonics, 5 ms attack, decaying over `len`.
        fn note(&mut self, t: f64, freq: f64, len: f64, amp: f64) {
            self.add(t, len, |x, _| {
                let h: f64 = (1..=4)
                    .map(|k| (TAU * freq * f64::from(k) * x).sin() / f64::from(k))
                    .sum();
                let env = (x / 0.005).min(1.0)
                    * (-x / (0.5 * len)).exp()
                    * ((len - x) / 0.01).clamp(0.0, 1.0);
                amp * h * env
            });
        }

        fn chord(&mut self, t: f64, freqs: &[f64], len: f64, amp: f64) {
            for f in freqs {
                self.note(t, *f, len, amp / freqs.len() as f64);
            }
        }

        /// Normalised to a 0.8 peak, mono.
        fn finish(mut self) -> Audio {
            let peak = self.buf.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            if peak > 0.0 {
                self.buf.iter_mut().for_each(|s| *s *= 0.8 / peak);
            }
            Audio {
                sample_rate: self.sr as u32,
                channels: vec![self.buf],
            }
        }
    }

    /// Hz of MIDI note `m`.
    fn hz(m: i32) -> f64 {
        440.0 * 2f64.powf(f64::from(m - 69) / 12.0)
    }

    /// The harmony: bass root and triad (MIDI notes) of bar `k` (C - Am - F - G, repeating).
    fn harmony(k: usize) -> (i32, [i32; 3]) {
        match k % 4 {
            0 => (36, [60, 64, 67]), // C
            1 => (33, [57, 60, 64]), // Am
            2 => (29, [53, 57, 60]), // F
            _ => (31, [55, 59, 62]), // G
        }
    }

    /// Beat times from `start` while `t < end`, with the beat period given by `bpm(t)`.
    /// Returns one extra beat past `end` so every beat has a successor (for subdivisions).
    fn beat_grid(start: f64, end: f64, bpm: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut out = vec![start];
        let mut t = start;
        while t < end {
            t += 60.0 / bpm(t);
            out.push(t);
        }
        out
    }

    /// Keeps the beats before `end` (drops the helper beat), downbeat every `m` beats.
    fn truth(grid: &[f64], end: f64, m: usize) -> (Vec<f64>, Vec<f64>) {
        let beats: Vec<f64> = grid.iter().copied().filter(|t| *t < end).collect();
        let downbeats = beats.iter().copied().step_by(m).collect();
        (beats, downbeats)
    }

    /// First beat time of every signal (a little lead-in, as in a real file).
    pub const START_S: f64 = 0.5;

    /// A metronome: a 1 kHz click on every beat, twice as loud (and at 1.5 kHz) on each
    /// downbeat of a `beats_per_bar` bar. Ends half a beat after the last click.
    pub fn clicks(bpm: f64, beats_per_bar: u32, seconds: f64, sample_rate: u32) -> Synth {
        let m = beats_per_bar as usize;
        let grid = beat_grid(START_S, seconds - 0.5 * 60.0 / bpm, |_| bpm);
        let (beats, downbeats) = truth(&grid, seconds - 0.5 * 60.0 / bpm, m);
        let mut mix = Mix::new(sample_rate, seconds);
        for (i, t) in beats.iter().enumerate() {
            if i % m == 0 {
                mix.click(*t, 1500.0, 1.0)
            } else {
                mix.click(*t, 1000.0, 0.5)
            }
        }
        Synth {
            audio: mix.finish(),
            beats,
            downbeats,
            beats_per_bar,
            subdivision: 2,
        }
    }

    /// A 4/4 rock pattern: kick on 1 and 3, snare on 2 and 4, hi-hat on the eighths, and a
    /// bass note plus a held chord changing on every downbeat (C - Am - F - G).
    pub fn drums(bpm: f64, seconds: f64, sample_rate: u32) -> Synth {
        drums_with_tempo(|_| bpm, seconds, sample_rate)
    }

    /// [`drums`] with the tempo switching from `bpm1` to `bpm2` at the first bar line at or
    /// after half of `seconds`.
    pub fn tempo_change(bpm1: f64, bpm2: f64, seconds: f64, sample_rate: u32) -> Synth {
        // Switch on a bar line: the first downbeat at or after the midpoint.
        let bar1 = 4.0 * 60.0 / bpm1;
        let bars_before = ((seconds / 2.0 - START_S) / bar1).ceil();
        let switch = START_S + bars_before * bar1 - 1e-6;
        drums_with_tempo(
            move |t| if t < switch { bpm1 } else { bpm2 },
            seconds,
            sample_rate,
        )
    }

    fn drums_with_tempo(bpm: impl Fn(f64) -> f64, seconds: f64, sample_rate: u32) -> Synth {
        let end = seconds - 0.3;
        let grid = beat_grid(START_S, end, &bpm);
        let (beats, downbeats) = truth(&grid, end, 4);
        let mut mix = Mix::new(sample_rate, seconds);
        for (i, t) in beats.iter().enumerate() {
            let next = grid[i + 1];
            let half = 0.5 * (t + next);
            match i % 4 {
                0 | 2 => mix.kick(*t, 0.9),
                _ => mix.snare(*t, 0.6),
            }
            mix.hihat(*t, 0.25);
            mix.hihat(half, 0.15);
            if i % 4 == 0 {
                let bar_end = grid.get(i + 4).copied().unwrap_or(seconds).min(seconds);
                let (root, triad) = harmony(i / 4);
                mix.note(*t, hz(root), bar_end - t, 0.5);
                mix.chord(*t, &triad.map(hz), bar_end - t, 0.3);
            }
        }
        Synth {
            audio: mix.finish(),
            beats,
            downbeats,
            beats_per_bar: 4,
            subdivision: 2,
        }
    }

    /// A 4/4 shuffle: each beat is a long–short pair with the short note on the last third
    /// of the beat (swing), and that swung off-beat is the louder one (an open hi-hat and a
    /// pushed chord stab), as in blues and boogie. The beat carries a soft kick, a closed
    /// hi-hat and a walking bass note.
    pub fn shuffle(bpm: f64, seconds: f64, sample_rate: u32) -> Synth {
        let end = seconds - 0.3;
        let grid = beat_grid(START_S, end, |_| bpm);
        let (beats, downbeats) = truth(&grid, end, 4);
        let mut mix = Mix::new(sample_rate, seconds);
        for (i, t) in beats.iter().enumerate() {
            let next = grid[i + 1];
            let swung = t + (next - t) * 2.0 / 3.0;
            let (root, triad) = harmony(i / 4);
            mix.kick(*t, 0.35);
            mix.hihat(*t, 0.12);
            mix.note(*t, hz(root + [0, 4, 7, 9][i % 4]), (next - t) * 0.6, 0.35);
            mix.hihat(swung, 0.4);
            mix.chord(swung, &triad.map(hz), (next - swung) * 0.8, 0.5);
        }
        Synth {
            audio: mix.finish(),
            beats,
            downbeats,
            beats_per_bar: 4,
            subdivision: 3,
        }
    }

    /// A 3/4 waltz: an accented bass note (and soft kick) on 1, chord stabs on 2 and 3,
    /// the harmony changing every bar.
    pub fn waltz(bpm: f64, seconds: f64, sample_rate: u32) -> Synth {
        let end = seconds - 0.3;
        let grid = beat_grid(START_S, end, |_| bpm);
        let (beats, downbeats) = truth(&grid, end, 3);
        let beat = 60.0 / bpm;
        let mut mix = Mix::new(sample_rate, seconds);
        for (i, t) in beats.iter().enumerate() {
            let (root, triad) = harmony(i / 3);
            if i % 3 == 0 {
                mix.kick(*t, 0.5);
                mix.note(*t, hz(root), 3.0 * beat, 0.8);
            } else {
                mix.chord(*t, &triad.map(hz), 0.6 * beat, 0.45);
            }
        }
        Synth {
            audio: mix.finish(),
            beats,
            downbeats,
            beats_per_bar: 3,
            subdivision: 2,
        }
    }

    /// A 6/8 groove: two dotted-quarter beats a bar (`bpm` counts dotted quarters), kick on
    /// 1, snare on 2 (the fourth eighth), hi-hats on every eighth accented on each beat, an
    /// eighth-note arpeggio in threes, and a bass note plus chord changing every bar.
    pub fn six_eight(bpm: f64, seconds: f64, sample_rate: u32) -> Synth {
        let end = seconds - 0.3;
        let grid = beat_grid(START_S, end, |_| bpm);
        let (beats, downbeats) = truth(&grid, end, 2);
        let eighth = 60.0 / bpm / 3.0;
        let mut mix = Mix::new(sample_rate, seconds);
        for (i, t) in beats.iter().enumerate() {
            let (root, triad) = harmony(i / 2);
            if i % 2 == 0 {
                mix.kick(*t, 0.9);
                mix.note(*t, hz(root), 6.0 * eighth, 0.5);
                mix.chord(*t, &triad.map(hz), 6.0 * eighth, 0.25);
            } else {
                mix.snare(*t, 0.6);
            }
            // Arpeggio: root-third-fifth on beat 1, fifth-third-root on beat 2.
            let order = if i % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
            for (k, idx) in order.iter().enumerate() {
                let amp = if k == 0 { 0.25 } else { 0.12 };
                mix.note(
                    t + k as f64 * eighth,
                    hz(triad[*idx] + 12),
                    0.9 * eighth,
                    amp,
                );
                mix.hihat(t + k as f64 * eighth, if k == 0 { 0.25 } else { 0.12 });
            }
        }
        Synth {
            audio: mix.finish(),
            beats,
            downbeats,
            beats_per_bar: 2,
            subdivision: 3,
        }
    }

    /// White noise (deterministic), `amp` peak.
    pub fn white_noise(seconds: f64, sample_rate: u32, amp: f32) -> Audio {
        let mut n = Noise(0x2545_F491_4F6C_DD1D);
        let buf = (0..(seconds * f64::from(sample_rate)) as usize)
            .map(|_| amp * n.next())
            .collect();
        Audio {
            sample_rate,
            channels: vec![buf],
        }
    }

    /// Digital silence.
    pub fn silence(seconds: f64, sample_rate: u32) -> Audio {
        Audio {
            sample_rate,
            channels: vec![vec![0.0; (seconds * f64::from(sample_rate)) as usize]],
        }
    }

    /// The same mono signal copied into `n` channels (each scaled a little differently).
    pub fn multichannel(audio: &Audio, n: usize) -> Audio {
        let mono = audio.mono();
        let channels = (0..n)
            .map(|c| mono.iter().map(|s| s * (1.0 - 0.05 * c as f32)).collect())
            .collect();
        Audio {
            sample_rate: audio.sample_rate,
            channels,
        }
    }
}

/// The differences between two analyses, one line per differing field (empty when equal),
/// so a failed comparison does not dump thousands of feature values. Floating-point fields
/// may differ by `rel_tol` (relative; 0 = bit-exact).
pub fn analysis_diff(
    a: &recut_engine::Analysis,
    b: &recut_engine::Analysis,
    rel_tol: f64,
) -> Vec<String> {
    let close = |x: f64, y: f64| {
        x.to_bits() == y.to_bits() || (x - y).abs() <= rel_tol * x.abs().max(y.abs())
    };
    let mut out = Vec::new();
    macro_rules! exact {
        ($f:ident) => {
            if a.$f != b.$f {
                out.push(format!("{}: {:?} vs {:?}", stringify!($f), a.$f, b.$f));
            }
        };
    }
    macro_rules! float {
        ($f:ident) => {
            if !close(a.$f, b.$f) {
                out.push(format!("{}: {:?} vs {:?}", stringify!($f), a.$f, b.$f));
            }
        };
    }
    exact!(features_version);
    exact!(content_hash);
    exact!(sample_rate);
    float!(duration_s);
    float!(tempo_bpm);
    float!(tempo_confidence);
    exact!(meter);
    exact!(downbeats);
    exact!(phrases);
    exact!(corrections);
    if a.beats.len() != b.beats.len() || a.beats.iter().zip(&b.beats).any(|(x, y)| !close(*x, *y)) {
        let worst = a
            .beats
            .iter()
            .zip(&b.beats)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        out.push(format!(
            "beats: {} vs {} beats, largest difference {worst:e} s",
            a.beats.len(),
            b.beats.len()
        ));
    }
    let mut worst = (0.0f32, 0, 0, 0.0f32, 0.0f32);
    let mut count = 0;
    for (i, (ra, rb)) in a.features.iter().zip(&b.features).enumerate() {
        for (j, (x, y)) in ra.iter().zip(rb).enumerate() {
            if !close(f64::from(*x), f64::from(*y)) {
                count += 1;
                if (x - y).abs() >= worst.0 || !(x - y).abs().is_finite() {
                    worst = ((x - y).abs(), i, j, *x, *y);
                }
            }
        }
    }
    if count > 0 || a.features.len() != b.features.len() {
        out.push(format!(
            "features: {} vs {} rows, {count} values differ, largest at beat {} column {}: {:e} vs {:e}",
            a.features.len(),
            b.features.len(),
            worst.1,
            worst.2,
            worst.3,
            worst.4
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f_measure_basics() {
        let r: Vec<f64> = (0..40).map(|k| 5.0 + 0.5 * f64::from(k)).collect();
        assert!((beat_f_measure(&r, &r) - 1.0).abs() < 1e-12);
        let shifted: Vec<f64> = r.iter().map(|t| t + 0.06).collect();
        assert!((beat_f_measure(&shifted, &r) - 1.0).abs() < 1e-12);
        let off: Vec<f64> = r.iter().map(|t| t + 0.25).collect();
        assert_eq!(beat_f_measure(&off, &r), 0.0);
        // Double tempo: precision 1/2, recall 1 → F = 2/3.
        let double: Vec<f64> = (0..80).map(|k| 5.0 + 0.25 * f64::from(k)).collect();
        assert!((beat_f_measure(&double, &r) - 2.0 / 3.0).abs() < 0.02);
        assert_eq!(beat_f_measure(&[], &r), 0.0);
        // One estimate cannot match two references.
        assert!((beat_f_measure_with(&[1.0], &[0.99, 1.01], 0.07, 0.0) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn synth_truth_is_consistent() {
        let s = synth::drums(120.0, 20.0, 22_050);
        assert_eq!(s.audio.duration_s(), 20.0);
        assert!((s.beats[1] - s.beats[0] - 0.5).abs() < 1e-9);
        assert_eq!(s.downbeats.len(), s.beats.len().div_ceil(4));
        let tc = synth::tempo_change(100.0, 130.0, 40.0, 22_050);
        let d: Vec<f64> = tc.beats.windows(2).map(|w| w[1] - w[0]).collect();
        assert!((d[0] - 0.6).abs() < 1e-9 && (d[d.len() - 1] - 60.0 / 130.0).abs() < 1e-9);
        let six = synth::six_eight(60.0, 20.0, 22_050);
        assert_eq!(six.beats_per_bar, 2);
        assert!((six.beats[2] - six.downbeats[1]).abs() < 1e-12);
    }
}
