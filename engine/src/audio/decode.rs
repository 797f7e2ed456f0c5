//! Decoding with symphonia: WAV, FLAC, MP3, Ogg Vorbis, AIFF (and MP4/AAC/ALAC) into [`Audio`].

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::{Audio, MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
use crate::error::{Error, Result};

/// Share of packets that may fail to decode before the file is called corrupt. A few bad
/// MP3 frames are normal in the wild and are skipped (as every player does).
const MAX_BAD_PACKET_SHARE: f64 = 0.05;
/// A file whose container promises more frames than it delivers by more than this share is
/// truncated.
const TRUNCATION_TOLERANCE: f64 = 0.01;

/// Decodes a whole audio file. Errors name the file and say what is wrong with it.
pub fn decode_file(path: &Path) -> Result<Audio> {
    let file = File::open(path).map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Err(Error::EmptyFile {
            path: path.to_owned(),
        });
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                Error::Corrupt {
                    path: path.to_owned(),
                    reason: format!("ends inside its header ({io})"),
                }
            }
            SymError::Unsupported(what) => match wav_format_tag(path) {
                // A well-formed WAV whose codec symphonia lacks: say so, with the tag.
                Some(tag) if !WAV_DECODABLE_TAGS.contains(&tag) => Error::UnsupportedCodec {
                    path: path.to_owned(),
                    reason: format!("WAV format tag {tag:#06x} has no decoder ({what})"),
                },
                _ => Error::UnsupportedFormat {
                    path: path.to_owned(),
                    reason: format!("unsupported feature: {what}"),
                },
            },
            other => Error::UnsupportedFormat {
                path: path.to_owned(),
                reason: other.to_string(),
            },
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| Error::UnsupportedFormat {
            path: path.to_owned(),
            reason: "no audio track".into(),
        })?;
    let track_id = track.id;
    let expected_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| Error::UnsupportedCodec {
            path: path.to_owned(),
            reason: "the track is not audio".into(),
        })?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| Error::UnsupportedCodec {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;

    let mut channels: Vec<Vec<f32>> = Vec::new();
    let mut sample_rate = params.sample_rate.unwrap_or(0);
    let mut interleaved: Vec<f32> = Vec::new();
    let (mut packets, mut bad_packets) = (0usize, 0usize);
    let mut truncated_reason: Option<String> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(io)) => {
                // An unexpected end inside a packet: the file was cut short.
                truncated_reason = Some(io.to_string());
                break;
            }
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                return Err(Error::Corrupt {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        packets += 1;
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(e) => {
                return Err(Error::Corrupt {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        let spec = buf.spec();
        let n_ch = spec.channels().count();
        if channels.is_empty() {
            if n_ch == 0 || n_ch > MAX_CHANNELS {
                return Err(Error::Channels {
                    path: path.to_owned(),
                    channels: n_ch,
                });
            }
            sample_rate = spec.rate();
            channels = vec![Vec::new(); n_ch];
        } else if n_ch != channels.len() {
            return Err(Error::Corrupt {
                path: path.to_owned(),
                reason: format!(
                    "channel count changes mid-stream ({} → {n_ch})",
                    channels.len()
                ),
            });
        }
        let frames = buf.frames();
        interleaved.resize(frames * n_ch, 0.0);
        buf.copy_to_slice_interleaved(&mut interleaved[..]);
        for (c, ch) in channels.iter_mut().enumerate() {
            ch.extend(interleaved.iter().skip(c).step_by(n_ch));
        }
    }
    if packets > 0 && bad_packets as f64 > MAX_BAD_PACKET_SHARE * packets as f64 {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            reason: format!("{bad_packets} of {packets} packets failed to decode"),
        });
    }
    let frames = channels.first().map_or(0, Vec::len);
    if frames == 0 {
        return match truncated_reason {
            Some(reason) => Err(Error::Corrupt {
                path: path.to_owned(),
                reason,
            }),
            None => Err(Error::NoAudio {
                path: path.to_owned(),
            }),
        };
    }
    if let Some(expected) = expected_frames {
        let short = expected as f64 - frames as f64;
        if short > TRUNCATION_TOLERANCE * expected as f64 + 4096.0 {
            return Err(Error::Corrupt {
                path: path.to_owned(),
                reason: format!(
                    "truncated: the header promises {expected} frames, the file holds {frames}"
                ),
            });
        }
    } else if let Some(reason) = truncated_reason {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            reason: format!("truncated: {reason}"),
        });
    }
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        return Err(Error::SampleRate {
            path: path.to_owned(),
            rate: sample_rate,
        });
    }
    // Non-finite samples would poison every later sum; a decoder should never produce them.
    for ch in &mut channels {
        for s in ch.iter_mut() {
            if !s.is_finite() {
                *s = 0.0;
            }
        }
    }
    Ok(Audio {
        sample_rate,
        channels,
    })
}

/// WAV format tags symphonia decodes: PCM, IEEE float, A-law, µ-law, and the extensible
/// header (whose sub-format it checks itself).
const WAV_DECODABLE_TAGS: [u16; 5] = [0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE];
/// Bytes of a file's head searched for the WAV `fmt ` chunk.
const WAV_HEADER_SCAN_BYTES: u64 = 4096;

/// The format tag of a RIFF/WAVE file's `fmt ` chunk, if `path` is one (None otherwise, or
/// when the chunk is not within the first [`WAV_HEADER_SCAN_BYTES`]).
fn wav_format_tag(path: &Path) -> Option<u16> {
    use std::io::Read;
    let mut head = Vec::new();
    File::open(path)
        .ok()?
        .take(WAV_HEADER_SCAN_BYTES)
        .read_to_end(&mut head)
        .ok()?;
    if head.get(0..4)? != b"RIFF" || head.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut at = 12usize;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes(head[at + 4..at + 8].try_into().ok()?) as usize;
        if id == b"fmt " {
            return Some(u16::from_le_bytes(
                head.get(at + 8..at + 10)?.try_into().ok()?,
            ));
        }
        // Chunks are padded to an even length.
        at = at
            .checked_add(8)?
            .checked_add(size)?
            .checked_add(size & 1)?;
    }
    None
}
