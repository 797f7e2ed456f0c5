//! Audio in and out: decoding any supported file into planar `f32`, writing WAV.

mod decode;
mod wav;

pub use decode::decode_file;
pub use wav::{WavFormat, write_wav};

/// Lowest sample rate the analysis supports, in Hz (telephone audio).
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest sample rate the analysis supports, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// Most channels a song may have (7.1 surround).
pub const MAX_CHANNELS: usize = 8;

/// File extensions Recut reads as songs when given a folder (lower case).
pub const AUDIO_EXTENSIONS: [&str; 7] = ["wav", "flac", "mp3", "ogg", "aiff", "aif", "m4a"];

/// Whether `path` has one of the [`AUDIO_EXTENSIONS`] (any case).
pub fn is_audio_file_name(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The audio files directly in `dir`, sorted by name (so runs are reproducible).
pub fn list_audio_files(dir: &std::path::Path) -> crate::Result<Vec<std::path::PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| crate::Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_audio_file_name(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Decoded audio: planar `f32` samples in [-1, 1] at the file's own sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Samples per second per channel, in Hz.
    pub sample_rate: u32,
    /// One `Vec` per channel, all the same length (frames).
    pub channels: Vec<Vec<f32>>,
}

impl Audio {
    /// Number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// Mean of all channels: what the analysis listens to.
    pub fn mono(&self) -> Vec<f32> {
        let n = self.channels.len().max(1) as f32;
        let mut out = vec![0.0f32; self.frames()];
        for ch in &self.channels {
            for (o, s) in out.iter_mut().zip(ch) {
                *o += *s;
            }
        }
        for o in &mut out {
            *o /= n;
        }
        out
    }
}
