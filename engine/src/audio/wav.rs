//! WAV output with hound: 16-bit, 24-bit integer or 32-bit float.

use std::path::Path;

use super::Audio;
use crate::error::{Error, Result};

/// Sample format of a written WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WavFormat {
    /// 16-bit integer PCM (CD quality).
    Int16,
    /// 24-bit integer PCM (studio).
    #[default]
    Int24,
    /// 32-bit IEEE float (lossless for the engine's own samples).
    Float32,
}

/// Writes `audio` to `path`; samples outside [-1, 1] are clipped for the integer formats.
pub fn write_wav(path: &Path, audio: &Audio, format: WavFormat) -> Result<()> {
    let err = |reason: String| Error::WriteWav {
        path: path.to_owned(),
        reason,
    };
    let (bits, sample_format) = match format {
        WavFormat::Int16 => (16, hound::SampleFormat::Int),
        WavFormat::Int24 => (24, hound::SampleFormat::Int),
        WavFormat::Float32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec {
        channels: u16::try_from(audio.channels.len()).map_err(|e| err(e.to_string()))?,
        sample_rate: audio.sample_rate,
        bits_per_sample: bits,
        sample_format,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(|e| err(e.to_string()))?;
    let scale = f64::from((1u32 << (bits - 1)) - 1);
    for i in 0..audio.frames() {
        for ch in &audio.channels {
            let s = ch[i];
            let r = match format {
                WavFormat::Float32 => writer.write_sample(s),
                _ => writer.write_sample((f64::from(s.clamp(-1.0, 1.0)) * scale).round() as i32),
            };
            r.map_err(|e| err(e.to_string()))?;
        }
    }
    writer.finalize().map_err(|e| err(e.to_string()))
}
