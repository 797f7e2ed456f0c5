//! The capture buffer: stereo, allocated once at the host's sample rate, filled by the
//! audio thread while the transport plays and capture is on. Appending copies samples and
//! never allocates; a full buffer stops recording (the status line says so).

use recut_engine::Audio;

/// Default capture length, seconds.
pub const CAPTURE_SECONDS_DEFAULT: i32 = 300;
/// Shortest and longest capture, seconds.
pub const CAPTURE_SECONDS_MIN: i32 = 30;
pub const CAPTURE_SECONDS_MAX: i32 = 1200;

/// Captured audio and where in the host's timeline it started.
#[derive(Debug)]
pub struct CaptureBuffer {
    /// Left and right (a mono input is written to both).
    pub channels: [Vec<f32>; 2],
    /// Frames recorded so far.
    pub frames: usize,
    /// Sample rate the buffer was allocated for, Hz.
    pub sample_rate: u32,
    /// Host position (samples) of the first captured frame, when the host reports one.
    pub host_start: Option<i64>,
}

impl CaptureBuffer {
    /// A buffer of `seconds` at `sample_rate` (allocates; call outside `process()`).
    pub fn new(sample_rate: u32, seconds: u32) -> Box<CaptureBuffer> {
        let cap = sample_rate as usize * seconds as usize;
        Box::new(CaptureBuffer {
            channels: [vec![0.0; cap], vec![0.0; cap]],
            frames: 0,
            sample_rate,
            host_start: None,
        })
    }

    /// Capacity in frames.
    pub fn capacity(&self) -> usize {
        self.channels[0].len()
    }

    /// True when no more frames fit.
    pub fn is_full(&self) -> bool {
        self.frames >= self.capacity()
    }

    /// Forgets what was recorded (keeps the memory).
    pub fn clear(&mut self) {
        self.frames = 0;
        self.host_start = None;
    }

    /// Appends the frames of `input` (1 or 2 channels, equal lengths) that fit and returns
    /// how many. Never allocates.
    pub fn push(&mut self, input: &[&mut [f32]]) -> usize {
        let n = input
            .iter()
            .map(|c| c.len())
            .min()
            .unwrap_or(0)
            .min(self.capacity() - self.frames);
        if n == 0 || input.is_empty() {
            return 0;
        }
        let at = self.frames;
        for (c, dst) in self.channels.iter_mut().enumerate() {
            let src = &input[c.min(input.len() - 1)][..n];
            dst[at..at + n].copy_from_slice(src);
        }
        self.frames += n;
        n
    }

    /// The recorded frames as an [`Audio`] (a copy; for the worker thread).
    pub fn to_audio(&self) -> Audio {
        Audio {
            sample_rate: self.sample_rate,
            channels: self
                .channels
                .iter()
                .map(|c| c[..self.frames].to_vec())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A known signal (a chirp plus a ramp, different per channel) captured in host-sized
    /// blocks at 44.1, 48 and 96 kHz ends up bit for bit in the buffer.
    #[test]
    fn capture_is_bit_identical_at_common_rates() {
        for rate in [44_100u32, 48_000, 96_000] {
            let frames = rate as usize * 3 + 123;
            let sig = |c: usize, i: usize| {
                let t = i as f64 / f64::from(rate);
                (0.7 * (std::f64::consts::TAU * (100.0 + 500.0 * t) * t + c as f64).sin()
                    + 1e-7 * i as f64) as f32
            };
            let mut buf = CaptureBuffer::new(rate, 4);
            let mut i = 0;
            for block in [1usize, 64, 512, 4096, 333].iter().cycle() {
                if i >= frames {
                    break;
                }
                let n = (*block).min(frames - i);
                let mut l: Vec<f32> = (i..i + n).map(|k| sig(0, k)).collect();
                let mut r: Vec<f32> = (i..i + n).map(|k| sig(1, k)).collect();
                assert_eq!(buf.push(&[&mut l[..], &mut r[..]]), n);
                i += n;
            }
            let audio = buf.to_audio();
            assert_eq!(audio.sample_rate, rate);
            assert_eq!(audio.frames(), frames);
            for c in 0..2 {
                for (k, s) in audio.channels[c].iter().enumerate() {
                    assert_eq!(
                        s.to_bits(),
                        sig(c, k).to_bits(),
                        "{rate} Hz channel {c} frame {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn mono_input_fills_both_and_full_buffer_stops() {
        let mut buf = CaptureBuffer::new(8_000, 1);
        let mut x = vec![0.25f32; 5_000];
        assert_eq!(buf.push(&[&mut x[..]]), 5_000);
        assert_eq!(buf.push(&[&mut x[..]]), 3_000);
        assert!(buf.is_full());
        assert_eq!(buf.push(&[&mut x[..]]), 0);
        assert_eq!(buf.channels[1][7_999], 0.25);
        buf.clear();
        assert_eq!(buf.frames, 0);
    }
}
