//! `recut`: analyse songs (and, as later stages land, edit them) from the command line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use recut_engine::analysis::cache::{self, Cache, Source};
use recut_engine::analysis::{Analysis, Analyzer, Corrections, FEATURE_TABLE, TempoCorrection};
use recut_engine::audio::WavFormat;
use recut_engine::candidates::{CandidateOptions, Manifest, Target};
use recut_engine::edit::{Constraints, Crossfade, Granularity, Plan};
use recut_engine::{audio, model, plot};

#[derive(Parser)]
#[command(
    name = "recut",
    version,
    about = "Recut: songs edited to length on the beat.",
    long_about = "Recut finds a song's beats, bars and phrases and edits it to a target length \
with splices a producer would keep. `recut analyze SONG` prints the beat grid; see each \
subcommand's --help."
)]
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
    /// Edit a song to a target length and render it.
    Edit(EditArgs),
    /// Generate rated-edit candidates for a folder of songs (several temperatures each) and the manifest.
    Candidates(CandidatesArgs),
    /// Render a saved plan (from `recut edit --plan-out`) of a song.
    Render(RenderArgs),
    /// Measure edit speed, target accuracy and splice quality on songs (what `cargo xtask bench` runs).
    BenchEdit(BenchEditArgs),
}

#[derive(Args)]
struct BenchEditArgs {
    /// Audio files or folders of them.
    #[arg(required = true)]
    songs: Vec<PathBuf>,
    /// Target lengths as shares of each song's length.
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.75,0.9,1.25")]
    targets: Vec<f64>,
    /// Write the figures as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Policy model whose inference time is measured on 500 beats (default: the shipped
    /// `models/policy.onnx` when present).
    #[arg(long, value_name = "FILE.onnx")]
    policy: Option<PathBuf>,
}

/// Parses a length: `150`, `150s`, `2:30` or `1:02:30`, in seconds.
fn parse_time(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim().trim_end_matches('s');
    let mut total = 0.0f64;
    for part in t.split(':') {
        let v: f64 = part
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a length (150, 150s, 2:30)"))?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("{s:?} is not a length (150, 150s, 2:30)"));
        }
        total = total * 60.0 + v;
    }
    if total <= 0.0 {
        return Err(format!("{s:?}: the length must be positive"));
    }
    Ok(total)
}

/// Parses a beat range `A..B` or `A-B` (end exclusive).
fn parse_range(s: &str) -> std::result::Result<std::ops::Range<usize>, String> {
    let (a, b) = s
        .split_once("..")
        .or_else(|| s.split_once('-'))
        .ok_or_else(|| format!("{s:?} is not a beat range (A..B)"))?;
    let a: usize = a.trim().parse().map_err(|_| format!("{s:?}: bad start"))?;
    let b: usize = b.trim().parse().map_err(|_| format!("{s:?}: bad end"))?;
    if b <= a {
        return Err(format!("{s:?}: the end must be after the start"));
    }
    Ok(a..b)
}

/// Constraint options shared by `edit` and `candidates`.
#[derive(Args, Clone)]
struct ConstraintArgs {
    /// Accepted distance from the target, seconds: every length within it counts as on target, and the edit the policy likes best there wins.
    #[arg(long, default_value_t = recut_engine::edit::decoder::DEFAULT_SLACK_S, conflicts_with = "exact")]
    slack: f64,
    /// Get as close to the target as the grid allows instead of within --slack (reports the reached length).
    #[arg(long)]
    exact: bool,
    /// Unit cuts land on.
    #[arg(long, default_value = "bar", value_parser = ["beat", "bar", "phrase"])]
    granularity: String,
    /// Keep the first phrase (default).
    #[arg(long, overrides_with = "no_keep_intro")]
    keep_intro: bool,
    /// Allow cutting into the first phrase.
    #[arg(long)]
    no_keep_intro: bool,
    /// Keep the last phrase (default).
    #[arg(long, overrides_with = "no_keep_ending")]
    keep_ending: bool,
    /// Allow cutting into the last phrase.
    #[arg(long)]
    no_keep_ending: bool,
    /// Shortest jump in beats (default: one bar).
    #[arg(long, value_name = "BEATS")]
    min_jump: Option<usize>,
    /// Most splices (cuts + loops).
    #[arg(long, value_name = "N")]
    max_splices: Option<usize>,
    /// Beats that must sound, `A..B` (end exclusive; repeatable).
    #[arg(long, value_name = "A..B", value_parser = parse_range)]
    must_keep: Vec<std::ops::Range<usize>>,
    /// Beats that must go, `A..B` (end exclusive; repeatable).
    #[arg(long, value_name = "A..B", value_parser = parse_range)]
    must_cut: Vec<std::ops::Range<usize>>,
    /// Never loop (the edit can then only get shorter).
    #[arg(long)]
    no_loops: bool,
    /// Crossfade at each splice, milliseconds (0 = hard cut, up to 2000).
    #[arg(long, value_name = "MS", default_value_t = 10.0)]
    crossfade_ms: f64,
}

impl ConstraintArgs {
    fn constraints(&self, target_s: f64) -> Result<Constraints> {
        Ok(Constraints {
            target_s,
            slack_s: (!self.exact).then_some(self.slack),
            keep_intro: !self.no_keep_intro,
            keep_ending: !self.no_keep_ending,
            granularity: self
                .granularity
                .parse::<Granularity>()
                .map_err(anyhow::Error::msg)?,
            min_jump_beats: self.min_jump,
            max_splices: self.max_splices,
            must_keep: self.must_keep.clone(),
            must_cut: self.must_cut.clone(),
            allow_loops: !self.no_loops,
        })
    }

    fn crossfade(&self) -> Result<Crossfade> {
        Ok(Crossfade::new(self.crossfade_ms / 1000.0)?)
    }
}

#[derive(Args)]
struct EditArgs {
    /// Audio file (WAV, FLAC, MP3, Ogg Vorbis, AIFF).
    song: PathBuf,
    /// Target length: seconds (`150`, `150s`) or minutes:seconds (`2:30`).
    #[arg(long, value_parser = parse_time)]
    target: f64,
    /// Policy model (ONNX) proposing the edit; without it, or when it cannot be loaded
    /// (the reason is printed), the built-in baseline policy.
    #[arg(long, value_name = "FILE.onnx")]
    policy: Option<PathBuf>,
    #[command(flatten)]
    constraints: ConstraintArgs,
    /// Sampling temperature (0 = always the policy's most likely action).
    #[arg(long, default_value_t = 0.3)]
    temperature: f64,
    /// Random seed (same seed, same edit).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the edited audio here (WAV; default: SONG stem + `.edit.wav` beside the song).
    #[arg(long, value_name = "FILE.wav")]
    out: Option<PathBuf>,
    /// Bit depth of the WAV.
    #[arg(long, default_value = "24", value_parser = ["16", "24", "32f"])]
    bits: String,
    /// Write the plan (actions per beat and segments) as JSON here.
    #[arg(long, value_name = "PLAN.json")]
    plan_out: Option<PathBuf>,
    /// Draw the plan over the waveform into this PNG.
    #[arg(long, value_name = "PNG")]
    plot: Option<PathBuf>,
    /// Neither read nor write the analysis cache.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
struct CandidatesArgs {
    /// Folder of songs (or single files); all audio files in it are used, sorted by name.
    #[arg(long, required = true, num_args = 1..)]
    songs: Vec<PathBuf>,
    /// Use at most this many songs (the first by name).
    #[arg(long, default_value_t = 10)]
    n_songs: usize,
    /// Policy model (ONNX) proposing the edits; without it, or when it cannot be loaded
    /// (the reason is printed), the built-in baseline policy.
    #[arg(long, value_name = "FILE.onnx")]
    policy: Option<PathBuf>,
    /// Comma-separated temperatures, one candidate each.
    #[arg(long, value_delimiter = ',', default_values_t = recut_engine::candidates::DEFAULT_TEMPERATURES.to_vec())]
    temperatures: Vec<f64>,
    /// Target length for every song (`150`, `2:30`); default: --target-fraction of each song.
    #[arg(long, value_parser = parse_time, conflicts_with = "target_fraction")]
    target: Option<f64>,
    /// Target as a share of each song's length.
    #[arg(long, default_value_t = recut_engine::candidates::DEFAULT_TARGET_FRACTION)]
    target_fraction: f64,
    #[command(flatten)]
    constraints: ConstraintArgs,
    /// Base random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (WAVs in one sub-folder per song, and `manifest.json`).
    #[arg(long, default_value = "eval_outputs")]
    out: PathBuf,
    /// Neither read nor write the analysis cache.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
struct RenderArgs {
    /// Plan JSON written by `recut edit --plan-out`.
    #[arg(long, value_name = "PLAN.json")]
    plan: PathBuf,
    /// The song the plan was made for.
    #[arg(long)]
    song: PathBuf,
    /// Output WAV.
    #[arg(long, value_name = "FILE.wav")]
    out: PathBuf,
    /// Crossfade at each splice, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10.0)]
    crossfade_ms: f64,
    /// Bit depth of the WAV.
    #[arg(long, default_value = "24", value_parser = ["16", "24", "32f"])]
    bits: String,
    /// Render even if the song's content hash differs from the plan's.
    #[arg(long)]
    force: bool,
}

fn wav_format(bits: &str) -> WavFormat {
    match bits {
        "16" => WavFormat::Int16,
        "32f" => WavFormat::Float32,
        _ => WavFormat::Int24,
    }
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
    #[arg(
        long,
        value_name = "BEATS",
        allow_hyphen_values = true,
        default_value_t = 0
    )]
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
        Ok(info) => format!(
            "ONNX Runtime {} ({}), execution provider CPU",
            info.path.display(),
            info.source
        ),
        Err(e) => format!("{e}"),
    };
    format!(
        "{}\n{runtime}\nfeatures version {}",
        env!("CARGO_PKG_VERSION"),
        recut_engine::FEATURES_VERSION
    )
}

fn main() -> Result<()> {
    // `--version` also loads ONNX Runtime to report it; done here so other commands do not pay for it.
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "--version" || a == "-V")
    {
        println!("recut {}", long_version());
        return Ok(());
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Bench(args) => bench(args),
        Command::Edit(args) => edit(args),
        Command::Candidates(args) => candidates(args),
        Command::Render(args) => render_plan(args),
        Command::BenchEdit(args) => bench_edit(args),
    }
}

fn analyze(args: AnalyzeArgs) -> Result<()> {
    if args.features_doc {
        println!("{:<10} {:>6} {:>4}  description", "group", "offset", "len");
        for g in FEATURE_TABLE {
            println!(
                "{:<10} {:>6} {:>4}  {}",
                g.name, g.offset, g.len, g.description
            );
        }
        return Ok(());
    }
    let Some(song) = args.song.as_deref() else {
        bail!("no song given")
    };
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
        let times: Vec<f64> = analysis
            .downbeats
            .iter()
            .map(|&i| analysis.beats[i])
            .collect();
        write_times(path, &times)?;
    }
    if let Some(path) = &args.plot {
        let audio = audio::decode_file(song)?;
        let title = format!(
            "{} — {:.1} BPM, {}, {} bars, {} phrases",
            song.file_name().map_or_else(
                || song.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            ),
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
        if source == Source::Cached {
            " (cached)"
        } else {
            ""
        }
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
            out.extend(audio::list_audio_files(p)?);
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
    println!(
        "{:<50} {:>8} {:>9} {:>9} {:>8} {:>8}",
        "song", "dur s", "decode s", "analyse s", "RTF all", "RTF ana"
    );
    for r in &rows {
        println!(
            "{:<50} {:>8.1} {:>9.3} {:>9.3} {:>8.0} {:>8.0}",
            Path::new(r["file"].as_str().unwrap_or(""))
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
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

fn song_name(song: &Path) -> String {
    song.file_name().map_or_else(
        || song.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn fmt_time(s: f64) -> String {
    format!("{}:{:04.1}", (s / 60.0).floor() as u64, s % 60.0)
}

fn edit(args: EditArgs) -> Result<()> {
    let t0 = Instant::now();
    let cache = (!args.no_cache).then(Cache::default_location);
    let mut warn = |e: &recut_engine::Error| eprintln!("warning: {e}");
    let (analysis, _) = cache::analyze_file(
        &args.song,
        &Corrections::default(),
        cache.as_ref(),
        &mut warn,
    )
    .with_context(|| format!("analysing {}", args.song.display()))?;
    let audio = audio::decode_file(&args.song)?;
    let constraints = args.constraints.constraints(args.target)?;
    let crossfade = args.constraints.crossfade()?;
    let policy = recut_engine::candidates::load_policy(args.policy.as_deref(), &mut |e| {
        eprintln!("warning: {e}; using the baseline policy")
    });
    let logits = policy.logits(&analysis)?;
    let plan = recut_engine::edit::decode(
        &analysis,
        &logits,
        &constraints,
        args.temperature,
        args.seed,
    )
    .with_context(|| {
        format!(
            "editing {} to {}",
            args.song.display(),
            fmt_time(args.target)
        )
    })?;
    let rendered = recut_engine::edit::render(&audio, &plan, crossfade)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.song.with_extension("edit.wav"));
    audio::write_wav(&out, &rendered, wav_format(&args.bits))?;
    if let Some(path) = &args.plan_out {
        std::fs::write(path, serde_json::to_vec_pretty(&plan)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let reward = recut_engine::reward::dense_reward(&analysis, &plan);
    if let Some(path) = &args.plot {
        let title = format!(
            "{}: {} → {} ({} splices, dense reward {:.2})",
            song_name(&args.song),
            fmt_time(analysis.duration_s),
            fmt_time(plan.duration_s()),
            plan.splice_count(),
            reward.total
        );
        plot::plot_plan(path, &audio, &analysis, &plan, &title)?;
    }
    println!(
        "{}: {} → {} (target {}{}), {} splices, {} granularity; dense reward {:.3} (tempo {:.2}, energy {:.2}, phrase {:.2}, transition {:.2}); wrote {} in {:.2} s",
        song_name(&args.song),
        fmt_time(analysis.duration_s),
        fmt_time(plan.duration_s()),
        fmt_time(args.target),
        constraints
            .slack_s
            .map_or_else(|| ", exact".to_string(), |s| format!(" ± {s} s")),
        plan.splice_count(),
        plan.granularity,
        reward.total,
        reward.tempo,
        reward.energy,
        reward.phrase,
        reward.transition,
        out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn candidates(args: CandidatesArgs) -> Result<()> {
    use rayon::prelude::*;
    let t0 = Instant::now();
    let mut files = audio_files(&args.songs)?;
    files.truncate(args.n_songs);
    if files.is_empty() {
        bail!("no audio files found in {:?}", args.songs);
    }
    if args.temperatures.is_empty() {
        bail!("{}", recut_engine::edit::EditError::NoCandidates);
    }
    let opts = CandidateOptions {
        temperatures: args.temperatures.clone(),
        target: args
            .target
            .map_or(Target::Fraction(args.target_fraction), Target::Seconds),
        constraints: args.constraints.constraints(1.0)?,
        crossfade: args.constraints.crossfade()?,
        seed: args.seed,
        wav_format: WavFormat::Int16,
        write_audio: true,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let cache = (!args.no_cache).then(Cache::default_location);
    let policy = recut_engine::candidates::load_policy(args.policy.as_deref(), &mut |e| {
        eprintln!("warning: {e}; using the baseline policy")
    });
    let policy = policy.as_ref();
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} songs {elapsed_precise} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let results: Vec<(
        PathBuf,
        recut_engine::Result<recut_engine::candidates::SongEntry>,
        f64,
    )> = files
        .par_iter()
        .map(|f| {
            let t = Instant::now();
            let r =
                recut_engine::candidates::process_song(f, policy, &opts, &args.out, cache.as_ref());
            bar.inc(1);
            bar.set_message(song_name(f));
            (f.clone(), r, t.elapsed().as_secs_f64())
        })
        .collect();
    bar.finish_and_clear();
    let mut manifest = Manifest::new(policy);
    let mut failed = 0;
    for (f, r, secs) in results {
        match r {
            Ok(entry) => {
                println!(
                    "{:<40} {:>7} → {} candidates ({}) in {:.2} s",
                    song_name(&f),
                    fmt_time(entry.duration_seconds),
                    entry.candidates.len(),
                    entry
                        .candidates
                        .iter()
                        .map(|c| fmt_time(c.duration_seconds))
                        .collect::<Vec<_>>()
                        .join(", "),
                    secs
                );
                manifest.songs.push(entry);
            }
            Err(e) => {
                failed += 1;
                eprintln!("warning: {}: {e}", f.display());
            }
        }
    }
    let path = args.out.join(recut_engine::candidates::MANIFEST_FILE);
    manifest.write(&path)?;
    println!(
        "{} songs, {} candidates, {} failed; manifest {} ({:.1} s, {} threads)",
        manifest.songs.len(),
        manifest
            .songs
            .iter()
            .map(|s| s.candidates.len())
            .sum::<usize>(),
        failed,
        path.display(),
        t0.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    if manifest.songs.is_empty() {
        bail!("no song produced candidates");
    }
    Ok(())
}

fn render_plan(args: RenderArgs) -> Result<()> {
    let text =
        std::fs::read(&args.plan).with_context(|| format!("reading {}", args.plan.display()))?;
    let plan: Plan = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a Recut plan", args.plan.display()))?;
    let hash = cache::content_hash(&args.song)?;
    if hash != plan.song_hash && !args.force {
        bail!(
            "{} was made for another song (hash {}…, this file {}…); pass --force to render anyway",
            args.plan.display(),
            plan.song_hash.get(..12).unwrap_or(&plan.song_hash),
            hash.get(..12).unwrap_or(&hash)
        );
    }
    let audio = audio::decode_file(&args.song)?;
    let rendered =
        recut_engine::edit::render(&audio, &plan, Crossfade::new(args.crossfade_ms / 1000.0)?)?;
    audio::write_wav(&args.out, &rendered, wav_format(&args.bits))?;
    println!(
        "{} → {} ({}, {} splices)",
        args.song.display(),
        args.out.display(),
        fmt_time(plan.duration_s()),
        plan.splice_count()
    );
    Ok(())
}

/// Median and 95th percentile of `v` (NaN when empty).
fn median_p95(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (q(0.5), q(0.95))
}

fn bench_edit(args: BenchEditArgs) -> Result<()> {
    use recut_engine::candidates::decode_candidates;
    use recut_engine::edit::splice_quality::{Meter, splice_positions};
    use recut_engine::edit::{Renderer, baseline_logits, decode, render};
    let files = audio_files(&args.songs)?;
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    let (mut rows, mut misses) = (Vec::new(), Vec::new());
    let (mut splice_flux, mut hard_flux, mut beat_flux) = (Vec::new(), Vec::new(), Vec::new());
    let (mut splice_step, mut hard_step, mut beat_step) = (Vec::new(), Vec::new(), Vec::new());
    let (mut abrupt, mut beyond_max, mut n_splices) = (0usize, 0usize, 0usize);
    let mut inference_ms: Option<f64> = None;
    let (mut total_decode, mut total_render, mut total_out) = (0.0f64, 0.0f64, 0.0f64);
    let (mut met, mut tried) = (0usize, 0usize);
    for f in &files {
        bar.set_message(f.display().to_string());
        let audio = audio::decode_file(f)?;
        let analysis =
            recut_engine::analysis::analyze_audio(&audio, String::new(), &Corrections::default())?;
        let logits = baseline_logits(&analysis);
        if inference_ms.is_none() {
            inference_ms = policy_inference_ms(args.policy.as_deref(), &analysis);
        }
        let t0 = Instant::now();
        let cands = decode_candidates(&analysis, &logits, &CandidateOptions::default())?;
        let t_decode = t0.elapsed().as_secs_f64();
        // Rendering as the plugin does it: into one buffer allocated up front and reused.
        let renderers: Vec<Renderer> = cands
            .iter()
            .map(|c| Renderer::new(&c.plan, Crossfade::default()))
            .collect();
        let longest = renderers
            .iter()
            .map(Renderer::total_frames)
            .max()
            .unwrap_or(0);
        let mut scratch = vec![vec![0.0f32; longest]; audio.channels.len()];
        let t1 = Instant::now();
        let mut out_frames = 0usize;
        for r in &renderers {
            let mut bufs: Vec<&mut [f32]> = scratch.iter_mut().map(Vec::as_mut_slice).collect();
            out_frames += r.render_into(&audio, &mut bufs, 0);
        }
        let t_render = t1.elapsed().as_secs_f64();
        drop(scratch);
        let out_s = out_frames as f64 / f64::from(audio.sample_rate);
        let rendered: Vec<_> = cands
            .iter()
            .map(|c| render(&audio, &c.plan, Crossfade::default()))
            .collect::<Result<_, _>>()?;
        total_decode += t_decode;
        total_render += t_render;
        total_out += out_s;
        // Splices against the song's own beat boundaries and against hard cuts there.
        let own = Meter::new(&audio);
        let mut own_flux = Vec::new();
        for t in &analysis.beats[1..] {
            if let Some(d) = own.at((t * f64::from(audio.sample_rate)).round() as usize) {
                own_flux.push(d.flux_db);
                beat_flux.push(d.flux_db);
                beat_step.push(d.step);
            }
        }
        let own_max = own_flux.iter().copied().fold(f64::MIN, f64::max);
        let (_, own_p95) = median_p95(&mut own_flux);
        for (c, out) in cands.iter().zip(&rendered) {
            let hard = render(&audio, &c.plan, Crossfade::new(0.0)?)?;
            let (m, h) = (Meter::new(out), Meter::new(&hard));
            for p in splice_positions(&c.plan) {
                if let (Some(a), Some(b)) = (m.at(p), h.at(p)) {
                    n_splices += 1;
                    abrupt += usize::from(a.flux_db > own_p95);
                    beyond_max += usize::from(a.flux_db > own_max);
                    splice_flux.push(a.flux_db);
                    splice_step.push(a.step);
                    hard_flux.push(b.flux_db);
                    hard_step.push(b.step);
                }
            }
        }
        // Target accuracy at each share of the song's length.
        for &share in &args.targets {
            let target = share * analysis.duration_s;
            let constraints = Constraints::new(target);
            let slack = constraints.slack_s.unwrap_or(0.0);
            tried += 1;
            match decode(&analysis, &logits, &constraints, 0.3, 0) {
                Ok(plan) if (plan.duration_s() - target).abs() <= slack + 1e-6 => met += 1,
                Ok(plan) => misses.push(format!(
                    "{} at {share}: {:.1} s for {target:.1} s",
                    f.display(),
                    plan.duration_s()
                )),
                Err(e) => misses.push(format!("{} at {share}: {e}", f.display())),
            }
        }
        rows.push(serde_json::json!({
            "file": f.display().to_string(),
            "duration_s": analysis.duration_s,
            "candidates": cands.len(),
            "decode_s": t_decode,
            "render_s": t_render,
            "render_x_realtime": out_s / t_render.max(1e-9),
        }));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (sf, sf95) = median_p95(&mut splice_flux);
    let (hf, hf95) = median_p95(&mut hard_flux);
    let (bf, bf95) = median_p95(&mut beat_flux);
    let (ss, ss95) = median_p95(&mut splice_step);
    let (hs, hs95) = median_p95(&mut hard_step);
    let (bs, bs95) = median_p95(&mut beat_step);
    let n = files.len().max(1) as f64;
    println!(
        "songs: {}; 5 candidates a song decoded in {:.1} ms and rendered (render_into a reused buffer) in {:.1} ms on average (one core)",
        files.len(),
        1000.0 * total_decode / n,
        1000.0 * total_render / n
    );
    println!(
        "rendering: {:.0}x real time; targets met within slack: {met}/{tried}",
        total_out / total_render.max(1e-9)
    );
    println!("discontinuity (median / p95)    flux dB        step/RMS");
    println!("  splices, 10 ms crossfade      {sf:5.2} / {sf95:5.2}   {ss:5.2} / {ss95:5.2}");
    println!("  hard cuts at the same places  {hf:5.2} / {hf95:5.2}   {hs:5.2} / {hs95:5.2}");
    println!("  the song's own beat boundaries {bf:5.2} / {bf95:5.2}   {bs:5.2} / {bs95:5.2}");
    println!(
        "splices more abrupt than their song's own 95th-percentile beat boundary: {abrupt}/{n_splices}; than its most abrupt one: {beyond_max}/{n_splices}"
    );
    match inference_ms {
        Some(ms) => println!(
            "policy inference, 500 beats, one core: {ms:.2} ms (median of {INFERENCE_RUNS})"
        ),
        None => println!("policy inference: no policy model to time"),
    }
    for m in &misses {
        println!("missed: {m}");
    }
    if let Some(path) = &args.json {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let doc = serde_json::json!({
            "songs": rows,
            "mean_decode_5_candidates_s": total_decode / n,
            "mean_render_5_candidates_s": total_render / n,
            "render_x_realtime": total_out / total_render.max(1e-9),
            "targets_met": met, "targets_tried": tried, "missed": misses,
            "splice_flux_db": {"median": sf, "p95": sf95}, "hard_cut_flux_db": {"median": hf, "p95": hf95},
            "beat_flux_db": {"median": bf, "p95": bf95},
            "splice_step": {"median": ss, "p95": ss95}, "hard_cut_step": {"median": hs, "p95": hs95},
            "beat_step": {"median": bs, "p95": bs95},
            "abrupt_splices": abrupt, "splices_beyond_song_max": beyond_max, "splices": n_splices,
            "policy_inference_500_beats_ms": inference_ms,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
    }
    Ok(())
}

/// Timed runs of the policy for its median.
const INFERENCE_RUNS: usize = 21;
/// Beats the policy inference is timed on (the reference length).
const INFERENCE_BEATS: usize = 500;

/// Median wall time of one policy inference over [`INFERENCE_BEATS`] beats (the song's
/// features repeated if it is shorter), or `None` when no model loads.
fn policy_inference_ms(explicit: Option<&Path>, analysis: &Analysis) -> Option<f64> {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/policy.onnx");
    let path = explicit.map(Path::to_owned).unwrap_or(default);
    let model = match recut_engine::PolicyModel::load(&path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("policy inference not timed: {e}");
            return None;
        }
    };
    let features: Vec<_> = analysis
        .features
        .iter()
        .cycle()
        .take(INFERENCE_BEATS)
        .copied()
        .collect();
    let _ = model.run(&features).ok()?; // warm-up: first run allocates ORT's arenas
    let mut times: Vec<f64> = (0..INFERENCE_RUNS)
        .filter_map(|_| {
            let t = Instant::now();
            model
                .run(&features)
                .ok()
                .map(|_| 1000.0 * t.elapsed().as_secs_f64())
        })
        .collect();
    median_p95(&mut times)
        .0
        .is_finite()
        .then(|| median_p95(&mut times).0)
}
