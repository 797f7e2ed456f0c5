//! `recut`: analyse songs (and, as later stages land, edit them) from the command line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use recut_engine::analysis::cache::{self, Cache, Source};
use recut_engine::analysis::{Analysis, Analyzer, Corrections, FEATURE_TABLE, TempoCorrection};
use recut_engine::{audio, model, plot};

#[derive(Parser)]
#[command(name = "recut", version, about = "Recut: songs edited to length on the beat.",
    long_about = "Recut finds a song's beats, bars and phrases and edits it to a target length \
with splices a producer would keep. `recut analyze SONG` prints the beat grid; see each \
subcommand's --help.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Find beats, downbeats, meter and phrases and compute the 125 per-beat features.
    Analyze(AnalyzeArgs),
    /// Measure analysis speed and memory on songs (what `cargo xtask bench` runs).
    Bench(BenchArgs),
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Audio file (WAV, FLAC, MP3, Ogg Vorbis, AIFF).
    #[arg(required_unless_present = "features_doc")]
    song: Option<PathBuf>,
    /// Write the beat times (seconds, one a line) here.
    #[arg(long, value_name = "FILE")]
    beats_out: Option<PathBuf>,
    /// Write the downbeat times (seconds, one a line) here.
    #[arg(long, value_name = "FILE")]
    downbeats_out: Option<PathBuf>,
    /// Print the whole analysis as JSON (to FILE when given, else to standard output).
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    json: Option<Option<PathBuf>>,
    /// Draw the waveform with beats, bars and phrases into this PNG.
    #[arg(long, value_name = "PNG")]
    plot: Option<PathBuf>,
    /// Neither read nor write the analysis cache.
    #[arg(long)]
    no_cache: bool,
    /// Halve the tracked tempo (the grid locked to eighth notes).
    #[arg(long, conflicts_with = "double_tempo")]
    half_tempo: bool,
    /// Double the tracked tempo (the grid locked to half notes).
    #[arg(long)]
    double_tempo: bool,
    /// Force the number of beats per bar.
    #[arg(long, value_name = "BEATS", value_parser = clap::value_parser!(u32).range(1..=16))]
    meter: Option<u32>,
    /// Make this beat (0-based index) a downbeat.
    #[arg(long, value_name = "BEAT")]
    first_downbeat: Option<usize>,
    /// Move every downbeat by this many beats (negative = earlier).
    #[arg(long, value_name = "BEATS", allow_hyphen_values = true, default_value_t = 0)]
    shift_downbeat: i32,
    /// Print the feature layout (name, offset, length, description) and exit.
    #[arg(long)]
    features_doc: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Audio files or folders of them.
    #[arg(required = true)]
    songs: Vec<PathBuf>,
    /// Write the figures as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Timed repetitions per song (the fastest is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

fn long_version() -> String {
    let runtime = match model::runtime::init(None) {
        Ok(info) => format!("ONNX Runtime {} ({}), execution provider CPU", info.path.display(), info.source),
        Err(e) => format!("{e}"),
    };
    format!("{}\n{runtime}\nfeatures version {}", env!("CARGO_PKG_VERSION"), recut_engine::FEATURES_VERSION)
}

fn main() -> Result<()> {
    // `--version` also loads ONNX Runtime to report it; done here so other commands do not pay for it.
    if std::env::args().nth(1).is_some_and(|a| a == "--version" || a == "-V") {
        println!("recut {}", long_version());
        return Ok(());
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Bench(args) => bench(args),
    }
}

fn analyze(args: AnalyzeArgs) -> Result<()> {
    if args.features_doc {
        println!("{:<10} {:>6} {:>4}  description", "group", "offset", "len");
        for g in FEATURE_TABLE {
            println!("{:<10} {:>6} {:>4}  {}", g.name, g.offset, g.len, g.description);
        }
        return Ok(());
    }
    let Some(song) = args.song.as_deref() else { bail!("no song given") };
    let corrections = Corrections {
        tempo: if args.half_tempo {
            TempoCorrection::Half
        } else if args.double_tempo {
            TempoCorrection::Double
        } else {
            TempoCorrection::None
        },
        meter: args.meter,
        first_downbeat: args.first_downbeat,
        downbeat_shift: args.shift_downbeat,
    };
    let cache = (!args.no_cache).then(Cache::default_location);
    let mut warn = |e: &recut_engine::Error| eprintln!("warning: {e}");
    let (analysis, source) = cache::analyze_file(song, &corrections, cache.as_ref(), &mut warn)
        .with_context(|| format!("analysing {}", song.display()))?;
    if let Some(path) = &args.beats_out {
        write_times(path, &analysis.beats)?;
    }
    if let Some(path) = &args.downbeats_out {
        let times: Vec<f64> = analysis.downbeats.iter().map(|&i| analysis.beats[i]).collect();
        write_times(path, &times)?;
    }
    if let Some(path) = &args.plot {
        let audio = audio::decode_file(song)?;
        let title = format!(
            "{} — {:.1} BPM, {}, {} bars, {} phrases",
            song.file_name().map_or_else(|| song.display().to_string(), |n| n.to_string_lossy().into_owned()),
            analysis.tempo_bpm,
            analysis.meter,
            analysis.downbeats.len(),
            analysis.phrases.len()
        );
        plot::plot_analysis(path, &audio, &analysis, &title)?;
    }
    match &args.json {
        Some(Some(path)) => {
            let json = serde_json::to_vec_pretty(&analysis)?;
            std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        }
        Some(None) => println!("{}", serde_json::to_string_pretty(&analysis)?),
        None => {}
    }
    if args.json != Some(None) && args.beats_out.is_none() {
        print_summary(song, &analysis, source);
    }
    Ok(())
}

fn print_summary(song: &Path, a: &Analysis, source: Source) {
    println!(
        "{}: {:.1} s, {:.1} BPM (confidence {:.2}), meter {}, {} beats, {} bars, {} phrases{}",
        song.display(),
        a.duration_s,
        a.tempo_bpm,
        a.tempo_confidence,
        a.meter,
        a.beats.len(),
        a.downbeats.len(),
        a.phrases.len(),
        if source == Source::Cached { " (cached)" } else { "" }
    );
}

fn write_times(path: &Path, times: &[f64]) -> Result<()> {
    let text: String = times.iter().map(|t| format!("{t:.4}\n")).collect();
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn audio_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| {
                    e.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                        ["wav", "flac", "mp3", "ogg", "aiff", "aif"].contains(&x.to_ascii_lowercase().as_str())
                    })
                })
                .collect();
            entries.sort();
            out.extend(entries);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn bench(args: BenchArgs) -> Result<()> {
    let files = audio_files(&args.songs)?;
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    let mut rows = Vec::new();
    let (mut total_audio, mut total_decode, mut total_analysis) = (0.0f64, 0.0f64, 0.0f64);
    for f in &files {
        bar.set_message(f.display().to_string());
        let mut best_decode = f64::MAX;
        let mut best_analysis = f64::MAX;
        let mut duration = 0.0;
        for _ in 0..args.repeat.max(1) {
            let t0 = Instant::now();
            let audio = audio::decode_file(f)?;
            let t1 = Instant::now();
            let analyzer = Analyzer::new(&audio, String::new())?;
            let _ = analyzer.analyze(&Corrections::default())?;
            let t2 = Instant::now();
            best_decode = best_decode.min((t1 - t0).as_secs_f64());
            best_analysis = best_analysis.min((t2 - t1).as_secs_f64());
            duration = audio.duration_s();
        }
        total_audio += duration;
        total_decode += best_decode;
        total_analysis += best_analysis;
        rows.push(serde_json::json!({
            "file": f.display().to_string(),
            "duration_s": duration,
            "decode_s": best_decode,
            "analysis_s": best_analysis,
            "rtf_total": duration / (best_decode + best_analysis),
            "rtf_analysis_only": duration / best_analysis,
        }));
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("{:<50} {:>8} {:>9} {:>9} {:>8} {:>8}", "song", "dur s", "decode s", "analyse s", "RTF all", "RTF ana");
    for r in &rows {
        println!(
            "{:<50} {:>8.1} {:>9.3} {:>9.3} {:>8.0} {:>8.0}",
            Path::new(r["file"].as_str().unwrap_or("")).file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            r["duration_s"].as_f64().unwrap_or(0.0),
            r["decode_s"].as_f64().unwrap_or(0.0),
            r["analysis_s"].as_f64().unwrap_or(0.0),
            r["rtf_total"].as_f64().unwrap_or(0.0),
            r["rtf_analysis_only"].as_f64().unwrap_or(0.0)
        );
    }
    let peak = peak_rss_mib();
    println!(
        "ALL: {:.0} s of audio; decode {:.2} s, analysis {:.2} s → {:.0}× real time (decode+analysis), {:.0}× (analysis only), one core; peak memory {:.0} MiB",
        total_audio,
        total_decode,
        total_analysis,
        total_audio / (total_decode + total_analysis),
        total_audio / total_analysis,
        peak.unwrap_or(f64::NAN)
    );
    if let Some(path) = &args.json {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let doc = serde_json::json!({
            "songs": rows,
            "total_audio_s": total_audio,
            "total_decode_s": total_decode,
            "total_analysis_s": total_analysis,
            "rtf_total": total_audio / (total_decode + total_analysis),
            "rtf_analysis_only": total_audio / total_analysis,
            "peak_rss_mib": peak,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
    }
    Ok(())
}
