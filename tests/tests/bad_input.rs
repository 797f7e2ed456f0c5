//! Every kind of bad input: each gives the specific typed error (or decodes, where it
//! should), never a panic or a hang. Long runs go through `with_timeout`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use recut_engine::Error;
use recut_engine::analysis::{Corrections, analyze_audio};
use recut_engine::audio::{Audio, WavFormat, decode_file, write_wav};
use recut_tests::synth;
use recut_tests::{beat_f_measure, ensure_corpus, wav_bytes, with_timeout};

const GUARD: Duration = Duration::from_secs(60);

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Decodes on a guarded thread.
fn decode(path: &Path) -> recut_engine::Result<Audio> {
    let p = path.to_owned();
    with_timeout(&format!("decode {}", path.display()), GUARD, move || {
        decode_file(&p)
    })
}

fn decode_err(path: &Path) -> Error {
    match decode(path) {
        Ok(a) => panic!(
            "{} decoded ({} frames at {} Hz) but should fail",
            path.display(),
            a.frames(),
            a.sample_rate
        ),
        Err(e) => e,
    }
}

fn analyse(audio: Audio) -> recut_engine::Result<recut_engine::Analysis> {
    with_timeout("analysis", GUARD, move || {
        analyze_audio(&audio, "test".into(), &Corrections::default())
    })
}

/// A 30 s click track at 120 BPM written as 16-bit WAV.
fn click_wav(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    write_wav(
        &path,
        &synth::clicks(120.0, 4, 30.0, 22_050).audio,
        WavFormat::Int16,
    )
    .unwrap();
    path
}

fn first_file(dir: &Path, ext: &str) -> PathBuf {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v.into_iter()
        .next()
        .unwrap_or_else(|| panic!("no .{ext} file in {}", dir.display()))
}

/// Deterministic garbage.
fn garbage(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn truncate_half(src: &Path, dst: &Path) {
    let bytes = std::fs::read(src).unwrap();
    std::fs::write(dst, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn missing_file_is_open_error_naming_the_path() {
    let path = tmp().path().join("no-such-song.wav");
    let e = decode_err(&path);
    assert!(matches!(e, Error::Open { .. }), "{e:?}");
    assert!(e.to_string().contains("no-such-song.wav"), "{e}");
}

#[test]
fn empty_file_is_empty_file_error() {
    let dir = tmp();
    let path = dir.path().join("empty.wav");
    std::fs::write(&path, b"").unwrap();
    let e = decode_err(&path);
    assert!(matches!(e, Error::EmptyFile { .. }), "{e:?}");
    assert!(e.to_string().contains("empty.wav"), "{e}");
}

#[test]
fn zero_length_wav_is_no_audio() {
    let dir = tmp();
    let path = dir.path().join("zero.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&path, spec)
        .unwrap()
        .finalize()
        .unwrap();
    let e = decode_err(&path);
    assert!(matches!(e, Error::NoAudio { .. }), "{e:?}");
}

#[test]
fn truncated_wav_is_corrupt() {
    let dir = tmp();
    let full = click_wav(dir.path(), "full.wav");
    let cut = dir.path().join("cut.wav");
    truncate_half(&full, &cut);
    let e = decode_err(&cut);
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn truncated_flac_is_corrupt() {
    let src = first_file(&ensure_corpus().join("dev"), "flac");
    let dir = tmp();
    let cut = dir.path().join("cut.flac");
    truncate_half(&src, &cut);
    let e = decode_err(&cut);
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
}

#[test]
fn truncated_ogg_is_corrupt() {
    let src = first_file(&ensure_corpus().join("songs"), "ogg");
    let dir = tmp();
    let cut = dir.path().join("cut.ogg");
    truncate_half(&src, &cut);
    let e = decode_err(&cut);
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
}

#[test]
fn file_cut_inside_its_header_is_an_error() {
    let dir = tmp();
    let full = click_wav(dir.path(), "full.wav");
    let cut = dir.path().join("header.wav");
    std::fs::write(&cut, &std::fs::read(&full).unwrap()[..20]).unwrap();
    let e = decode_err(&cut);
    assert!(
        matches!(e, Error::Corrupt { .. } | Error::UnsupportedFormat { .. }),
        "{e:?}"
    );
}

#[test]
fn random_bytes_named_wav_is_unsupported_format() {
    let dir = tmp();
    let path = dir.path().join("noise.wav");
    std::fs::write(&path, garbage(200_000, 7)).unwrap();
    let e = decode_err(&path);
    assert!(matches!(e, Error::UnsupportedFormat { .. }), "{e:?}");
}

#[test]
fn random_bytes_named_mp3_is_an_error() {
    let dir = tmp();
    let path = dir.path().join("noise.mp3");
    std::fs::write(&path, garbage(200_000, 11)).unwrap();
    let e = decode_err(&path);
    assert!(
        matches!(e, Error::UnsupportedFormat { .. } | Error::Corrupt { .. }),
        "{e:?}"
    );
}

#[test]
fn flac_with_garbage_in_the_middle_is_corrupt() {
    let src = first_file(&ensure_corpus().join("dev"), "flac");
    let dir = tmp();
    let path = dir.path().join("damaged.flac");
    let mut bytes = std::fs::read(&src).unwrap();
    let n = bytes.len();
    bytes[n * 2 / 5..n * 3 / 5].copy_from_slice(&garbage(n * 3 / 5 - n * 2 / 5, 3));
    std::fs::write(&path, &bytes).unwrap();
    let e = decode_err(&path);
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
}

#[test]
fn ogg_with_a_little_garbage_decodes_or_reports_corrupt() {
    // A few damaged bytes: players skip the bad packet; the engine may too (≤ 5 % bad).
    let src = first_file(&ensure_corpus().join("songs"), "ogg");
    let dir = tmp();
    let path = dir.path().join("scratched.ogg");
    let mut bytes = std::fs::read(&src).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 64].copy_from_slice(&garbage(64, 5));
    std::fs::write(&path, &bytes).unwrap();
    match decode(&path) {
        Ok(a) => assert!(a.frames() > 0),
        Err(e) => assert!(matches!(e, Error::Corrupt { .. }), "{e:?}"),
    }
}

#[test]
fn flac_named_mp3_still_decodes() {
    let src = first_file(&ensure_corpus().join("dev"), "flac");
    let dir = tmp();
    let path = dir.path().join("actually-flac.mp3");
    std::fs::copy(&src, &path).unwrap();
    let a = decode(&path).expect("a FLAC with an .mp3 name decodes");
    let b = decode(&src).unwrap();
    assert!(
        a == b,
        "decoding a FLAC named .mp3 gives other samples than the .flac"
    );
}

#[test]
fn text_named_wav_is_unsupported_format() {
    let dir = tmp();
    let path = dir.path().join("notes.wav");
    std::fs::write(&path, "These are my notes, not a song.\n".repeat(100)).unwrap();
    let e = decode_err(&path);
    assert!(matches!(e, Error::UnsupportedFormat { .. }), "{e:?}");
    assert!(e.to_string().contains("notes.wav"), "{e}");
}

fn ac3_wav(dir: &Path) -> PathBuf {
    // 0x0092 = Dolby AC-3 SPDIF: a real tag symphonia has no decoder for.
    let path = dir.join("ac3.wav");
    std::fs::write(&path, wav_bytes(0x0092, 2, 48_000, 16, &garbage(96_000, 9))).unwrap();
    path
}

// Measured: Error::UnsupportedCodec { reason: "WAV format tag 0x0092 has no decoder (wav: unsupported wave format)" }.
#[test]
fn wav_with_unknown_format_tag_is_refused_naming_the_file() {
    let dir = tmp();
    let e = decode_err(&ac3_wav(dir.path()));
    assert!(
        matches!(
            e,
            Error::UnsupportedFormat { .. } | Error::UnsupportedCodec { .. }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("ac3.wav") && e.to_string().contains("unsupported"),
        "{e}"
    );
}

#[test]
fn wav_with_unknown_format_tag_is_unsupported_codec() {
    let dir = tmp();
    let e = decode_err(&ac3_wav(dir.path()));
    assert!(matches!(e, Error::UnsupportedCodec { .. }), "{e:?}");
    assert!(e.to_string().contains("0x0092"), "{e}");
}

#[test]
fn ogg_opus_is_unsupported_codec() {
    // A valid Ogg container (checksums right) carrying Opus, which the engine cannot decode.
    let dir = tmp();
    let path = dir.path().join("voice.opus.ogg");
    std::fs::write(&path, recut_tests::ogg_opus_bytes(200)).unwrap();
    let e = decode_err(&path);
    assert!(matches!(e, Error::UnsupportedCodec { .. }), "{e:?}");
    assert!(e.to_string().contains("voice.opus.ogg"), "{e}");
}

#[test]
fn sample_rate_below_8k_is_rejected() {
    let dir = tmp();
    let path = dir.path().join("4k.wav");
    let mut audio = synth::clicks(120.0, 4, 20.0, 4_000).audio;
    audio.sample_rate = 4_000;
    write_wav(&path, &audio, WavFormat::Int16).unwrap();
    let e = decode_err(&path);
    assert!(matches!(e, Error::SampleRate { rate: 4_000, .. }), "{e:?}");
}

/// `s` through a 16-bit WAV file: decodes at its rate and tracks the beats; returns F.
fn via_wav(name: &str, s: &synth::Synth) -> f64 {
    let dir = tmp();
    let rate = s.audio.sample_rate;
    let path = dir.path().join(format!("{name}-{rate}.wav"));
    write_wav(&path, &s.audio, WavFormat::Int16).unwrap();
    let audio = decode(&path).unwrap();
    assert_eq!(audio.sample_rate, rate);
    let a = analyse(audio).unwrap_or_else(|e| panic!("{name} at {rate} Hz: {e}"));
    let f = beat_f_measure(&a.beats, &s.beats);
    println!(
        "{name} 120 BPM at {rate} Hz: beat F {f:.3}, tempo {:.1}, beats {:.2}..{:.2} s ({} found / {} true)",
        a.tempo_bpm,
        a.beats[0],
        a.beats[a.beats.len() - 1],
        a.beats.len(),
        s.beats.len()
    );
    assert!(
        (a.tempo_bpm - 120.0).abs() < 3.0,
        "{name} at {rate} Hz: tempo {}",
        a.tempo_bpm
    );
    f
}

// Measured: drums F 0.980 at 8 kHz (beats ≈ 43 ms early), 0.990 at 192 kHz.
#[test]
fn drums_at_8_khz() {
    let f = via_wav("drums", &synth::drums(120.0, 30.0, 8_000));
    assert!(f >= 0.95, "8 kHz drums: beat F {f:.3}");
}

#[test]
fn drums_at_192_khz() {
    let f = via_wav("drums", &synth::drums(120.0, 30.0, 192_000));
    assert!(f >= 0.95, "192 kHz drums: beat F {f:.3}");
}

// Measured: F 0.837 at 192 kHz (the grid stops at 23.0 s of 29.5 s, see the ignored test).
#[test]
fn clicks_at_192_khz_floor() {
    let f = via_wav("clicks", &synth::clicks(120.0, 4, 30.0, 192_000));
    assert!(f >= 0.8, "192 kHz clicks: beat F {f:.3}");
}

#[test]
fn clicks_at_8_and_192_khz() {
    for rate in [8_000, 192_000] {
        let f = via_wav("clicks", &synth::clicks(120.0, 4, 30.0, rate));
        assert!(f >= 0.95, "{rate} Hz clicks: beat F {f:.3}");
    }
}

#[test]
fn one_to_eight_channels_decode() {
    let dir = tmp();
    let mono = synth::clicks(120.0, 4, 8.0, 22_050).audio;
    for n in 1..=8 {
        let path = dir.path().join(format!("{n}ch.wav"));
        let audio = synth::multichannel(&mono, n);
        write_wav(&path, &audio, WavFormat::Float32).unwrap();
        let back = decode(&path).unwrap_or_else(|e| panic!("{n} channels: {e}"));
        assert_eq!(back.channels.len(), n);
        assert!(
            back == audio,
            "{n} channels: float WAV does not round-trip exactly"
        );
    }
}

#[test]
fn nine_channels_is_channels_error() {
    let dir = tmp();
    let path = dir.path().join("9ch.wav");
    let spec = hound::WavSpec {
        channels: 9,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..22_050 * 9 {
        w.write_sample(((i % 100) as i16 - 50) * 100).unwrap();
    }
    w.finalize().unwrap();
    let e = decode_err(&path);
    assert!(matches!(e, Error::Channels { channels: 9, .. }), "{e:?}");
}

#[test]
fn nine_channels_plain_pcm_header_is_channels_error() {
    // The same with a plain (non-extensible) PCM header built by hand.
    let dir = tmp();
    let path = dir.path().join("9ch-plain.wav");
    let data: Vec<u8> = (0..22_050 * 9)
        .flat_map(|i: i32| (((i % 100) - 50) as i16 * 100).to_le_bytes())
        .collect();
    std::fs::write(&path, wav_bytes(1, 9, 22_050, 16, &data)).unwrap();
    let e = decode_err(&path);
    assert!(matches!(e, Error::Channels { channels: 9, .. }), "{e:?}");
}

#[test]
fn silence_is_analysis_error_saying_silent() {
    let e = analyse(synth::silence(30.0, 22_050))
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&e, Error::Analysis(m) if m.contains("silent")),
        "{e:?}"
    );
}

#[test]
fn near_silence_is_analysis_error() {
    // −80 dBFS clicks: under the silence threshold.
    let mut audio = synth::clicks(120.0, 4, 30.0, 22_050).audio;
    audio.channels[0].iter_mut().for_each(|s| *s *= 1e-4);
    let e = analyse(audio).map(|_| ()).unwrap_err();
    assert!(
        matches!(&e, Error::Analysis(m) if m.contains("silent")),
        "{e:?}"
    );
}

// Measured: white noise → an Analysis (tempo 123.0 BPM, confidence 0.286, 3/4, 62 beats),
// not an error. Either outcome is accepted here; the ignored test states the intent.
#[test]
fn white_noise_does_not_panic() {
    match analyse(synth::white_noise(30.0, 22_050, 0.5)) {
        Ok(a) => println!(
            "white noise: an analysis, {:.1} BPM, confidence {:.3}, {} beats",
            a.tempo_bpm,
            a.tempo_confidence,
            a.beats.len()
        ),
        Err(e) => {
            println!("white noise: {e}");
            assert!(matches!(e, Error::Analysis(_)), "{e:?}");
        }
    }
}

#[test]
fn white_noise_has_no_steady_beat() {
    let e = match analyse(synth::white_noise(30.0, 22_050, 0.5)) {
        Ok(a) => panic!(
            "white noise analysed: {:.1} BPM, confidence {:.3}, {} beats",
            a.tempo_bpm,
            a.tempo_confidence,
            a.beats.len()
        ),
        Err(e) => e,
    };
    assert!(
        matches!(&e, Error::Analysis(m) if m.contains("no steady beat")),
        "{e:?}"
    );
}

#[test]
fn shorter_than_four_bars_is_too_short() {
    // 3 bars of 4/4 at 120 BPM (6 s).
    let e = analyse(synth::clicks(120.0, 4, 6.0, 22_050).audio)
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&e, Error::Analysis(m) if m.contains("too short")),
        "{e:?}"
    );
}

#[test]
fn one_second_is_an_analysis_error() {
    let e = analyse(synth::clicks(120.0, 4, 1.0, 22_050).audio)
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(&e, Error::Analysis(_)), "{e:?}");
}

/// A 60-minute mono 8 kHz drum pattern (58 MB WAV) decodes and analyses without a panic,
/// with one beat per true beat, and the shipped policy edits it to 45 minutes. Slowest test
/// here (a drum pattern, since clicks at 8 kHz hit the trim bug above): runtime printed;
/// measured 6.5 s to synthesise and write, 4.5 s to decode and analyse, 0.8 s for the
/// policy and decoder (release, 2 cores).
#[test]
fn sixty_minute_file() {
    let dir = tmp();
    let path = dir.path().join("hour.wav");
    let t0 = std::time::Instant::now();
    let s = synth::drums(120.0, 3600.0, 8_000);
    write_wav(&path, &s.audio, WavFormat::Int16).unwrap();
    let n_true = s.beats.len();
    drop(s);
    let t1 = std::time::Instant::now();
    let p = path.clone();
    let a = with_timeout("60-minute file", Duration::from_secs(300), move || {
        let audio = decode_file(&p).unwrap();
        analyze_audio(&audio, "hour".into(), &Corrections::default()).unwrap()
    });
    println!(
        "60-minute file: synth+write {:.1} s, decode+analysis {:.1} s, {} beats found / {n_true} true, tempo {:.2}",
        (t1 - t0).as_secs_f64(),
        t1.elapsed().as_secs_f64(),
        a.beats.len(),
        a.tempo_bpm
    );
    assert!((a.duration_s - 3600.0).abs() < 0.01);
    assert!(
        (a.beats.len() as f64 / n_true as f64 - 1.0).abs() < 0.02,
        "{} beats for {n_true} clicks",
        a.beats.len()
    );
    assert!((a.tempo_bpm - 120.0).abs() < 2.0, "tempo {}", a.tempo_bpm);
    assert_eq!(a.features.len(), a.beats.len());

    // The shipped policy edits it to 45 minutes: 7200 beats run in windows
    // (`POLICY_WINDOW_BEATS`), not in one pass that holds 7200² attention weights per head.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let policy = recut_engine::PolicyModel::load(root.join("models/policy.onnx")).unwrap();
    assert!(recut_engine::model::policy_windows(a.beats.len()).len() > 1);
    let t2 = std::time::Instant::now();
    let logits = policy.logits_for(&a).unwrap();
    let target_s = 2700.0;
    let c = recut_engine::edit::Constraints::new(target_s);
    let plan = recut_engine::edit::decode(&a, &logits, &c, 0.3, 0).unwrap();
    println!(
        "60-minute file: shipped policy and decoder {:.1} s, edit {:.1} s long",
        t2.elapsed().as_secs_f64(),
        plan.duration_s()
    );
    assert!(
        (plan.duration_s() - target_s).abs() <= recut_engine::edit::decoder::DEFAULT_SLACK_S + 0.01,
        "edit {} s for a target of {target_s} s",
        plan.duration_s()
    );
}

#[test]
fn write_wav_round_trips_in_all_three_formats() {
    let dir = tmp();
    let s = synth::drums(120.0, 5.0, 44_100);
    let audio = synth::multichannel(&s.audio, 2);
    // Integers are written as round(s · (2^(b-1) − 1)) and read back as q / 2^(b-1): at most
    // half a step of rounding plus |s| / 2^(b-1) of scale mismatch, so 1.5 steps.
    for (format, tol) in [
        (WavFormat::Int16, 1.5 / 32_768.0),
        (WavFormat::Int24, 1.5 / 8_388_608.0),
        (WavFormat::Float32, 0.0),
    ] {
        let path = dir.path().join(format!("{format:?}.wav"));
        write_wav(&path, &audio, format).unwrap();
        let back = decode(&path).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(back.sample_rate, audio.sample_rate);
        assert_eq!(back.channels.len(), 2);
        assert_eq!(back.frames(), audio.frames(), "{format:?}");
        let err = back
            .channels
            .iter()
            .flatten()
            .zip(audio.channels.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            err <= tol as f32 * 1.01,
            "{format:?}: max error {err} > {tol}"
        );
    }
}

#[test]
fn write_wav_clips_integer_formats() {
    let dir = tmp();
    let audio = Audio {
        sample_rate: 22_050,
        channels: vec![vec![2.0, -3.0, 0.5]],
    };
    let path = dir.path().join("clip.wav");
    write_wav(&path, &audio, WavFormat::Int16).unwrap();
    let back = decode(&path).unwrap();
    assert!(
        (back.channels[0][0] - 1.0).abs() < 1e-4 && (back.channels[0][1] + 1.0).abs() < 1e-4,
        "{:?}",
        back.channels[0]
    );
}

#[test]
fn write_wav_into_a_missing_folder_is_write_error() {
    let dir = tmp();
    let path = dir.path().join("no").join("such").join("dir.wav");
    let e = write_wav(&path, &synth::silence(0.1, 8_000), WavFormat::Int16)
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::WriteWav { .. }), "{e:?}");
}
