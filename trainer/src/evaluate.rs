//! Old policy against new (`recut-trainer evaluate`, and the last step of `cycle`).
//!
//! For every song, `plans` edits are decoded per policy at the same target length,
//! temperature and seeds (so the two policies differ only by their logits), and their
//! keep ratio, duration and splice count are averaged. When a [`Judge`] is given (a
//! simulated rater's utility, or a reward model's score) each (old, new) pair of edits
//! with the same seed is a comparison the new policy wins (1), ties (½, scores within
//! [`TIE_EPSILON`]) or loses (0); a song is won when the new policy's win rate on it is
//! above ½.
//!
//! **Headroom.** A song where the old policy's edits are already the best the judge can
//! find cannot be won, only tied (a `tight` rater's edit with one removed stretch, the
//! fewest a shorter edit can have, is one). With `headroom_plans` > 0, that many more
//! edits are sampled per song from the old policy's logits, at temperatures from
//! [`HEADROOM_TEMPERATURES`] and, every other edit, with the keep and cut logits jittered by
//! up to ±[`HEADROOM_JITTER`]; an old edit that none of them (and no new edit) beats is
//! counted as at the best found, and the song's reachable win rate is what a new policy
//! would get by tying those and winning every other comparison. A song is winnable when
//! that is above ½. The search is a sample, so the reachable rate is a lower bound of the
//! true one: a song it calls unwinnable may have better edits nobody sampled.
//!
//! The first edit of each policy can be rendered to
//! `<wav_dir>/<song_id>/{old,new}.wav` for listening (the seed's `policy_test_output`).
//! Everything goes to `test_results.json` ([`TestResults`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use recut_engine::candidates::Policy;
use recut_engine::edit::{Constraints, Crossfade, Plan, decode, render};
use recut_engine::{Analysis, FEATURE_DIM};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::model::PolicyNet;
use crate::raters::{Rater, output_beats};
use crate::rng::Rng;

/// Scores closer than this count as a tie (utility or reward units).
pub const TIE_EPSILON: f64 = 1e-9;
/// File name of the results.
pub const RESULTS_FILE: &str = "test_results.json";
/// Decoder temperatures the headroom search cycles through (module doc).
pub const HEADROOM_TEMPERATURES: [f64; 5] = [0.3, 0.6, 1.0, 1.5, 2.5];
/// Largest jitter added to the keep and cut logits of every other headroom edit, logits
/// (spreads the cuts over the song when the policy's own logits keep them in one place).
pub const HEADROOM_JITTER: f64 = 2.0;
/// Mixed into the seed of the headroom search's generator.
const HEADROOM_SEED_MIX: u64 = 0x4845_4144_524F_4F4D;
/// Default number of headroom edits per song (256 took 0.3 s per 3-minute song).
pub const DEFAULT_HEADROOM_PLANS: usize = 256;

/// A tch policy network as an engine [`Policy`] (candidates, evaluation).
pub struct NetPolicy<'a> {
    pub net: &'a PolicyNet,
    pub version: String,
}

impl Policy for NetPolicy<'_> {
    fn logits(&self, analysis: &Analysis) -> recut_engine::Result<Vec<[f32; 3]>> {
        Ok(crate::train_policy::policy_logits(
            self.net,
            &analysis.features,
        ))
    }
    fn model_version(&self) -> String {
        self.version.clone()
    }
}

/// A scoring function of an edit: per-beat features and action codes → score.
pub type ScoreFn<'a> = dyn Fn(&[[f32; FEATURE_DIM]], &[u8]) -> Result<f64> + 'a;

/// Who decides which edit is better.
pub enum Judge<'a> {
    /// A simulated rater's utility (no rater noise).
    Rater(Rater),
    /// Any score, e.g. a reward model; `name` is reported.
    Score {
        name: String,
        score: Box<ScoreFn<'a>>,
    },
}

impl Judge<'_> {
    /// Who judged, as reports name it.
    pub fn name(&self) -> String {
        match self {
            Judge::Rater(r) => format!("simulated rater `{}`", r.taste.name()),
            Judge::Score { name, .. } => name.clone(),
        }
    }

    fn score(&self, features: &[[f32; FEATURE_DIM]], actions: &[u8]) -> Result<f64> {
        match self {
            Judge::Rater(r) => Ok(r.utility(features, actions)),
            Judge::Score { score, .. } => score(features, actions),
        }
    }
}

/// An engine ONNX reward model as a [`Judge`].
pub fn reward_judge(model: recut_engine::RewardModel) -> Judge<'static> {
    let name = format!("reward model {}", model.info().model_version);
    Judge::Score {
        name,
        score: Box::new(move |f, a| Ok(f64::from(model.score(f, a)?))),
    }
}

/// Decoding settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Target length as a share of each song's length.
    pub target_fraction: f64,
    /// Sampling temperature of the decoder.
    pub temperature: f64,
    /// Edits per song and policy (seeds shared between the policies).
    pub plans: usize,
    pub seed: u64,
    /// Crossfade at splices of the rendered WAVs, seconds.
    pub crossfade_s: f64,
    /// Edits sampled per song to find the judge's headroom above the old policy (module
    /// doc); 0 = off.
    #[serde(default)]
    pub headroom_plans: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            target_fraction: recut_engine::candidates::DEFAULT_TARGET_FRACTION,
            temperature: 0.3,
            plans: 8,
            seed: 1234,
            crossfade_s: Crossfade::default().seconds(),
            headroom_plans: DEFAULT_HEADROOM_PLANS,
        }
    }
}

/// Mean figures of one policy's edits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanFigures {
    /// Share of source beats played at least once.
    pub keep_ratio: f64,
    /// Seconds.
    pub duration_s: f64,
    pub splices: f64,
    /// Mean judge score (`None` without a judge).
    pub score: Option<f64>,
}

/// One song's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SongResult {
    pub song_id: String,
    /// Seconds.
    pub duration_s: f64,
    /// Edit pairs compared (pairs where either decode failed are left out).
    pub comparisons: usize,
    pub ties: usize,
    /// Share of comparisons the new policy wins (ties ½); `None` without a judge.
    pub win_rate: Option<f64>,
    /// Old edits that no headroom edit beats (module doc); `None` without a judge or
    /// without headroom edits.
    #[serde(default)]
    pub old_at_best: Option<usize>,
    /// The highest win rate a new policy could reach here as far as the headroom search
    /// knows: ties on the old edits at the best found, wins on the rest.
    #[serde(default)]
    pub reachable_win_rate: Option<f64>,
    pub old: PlanFigures,
    pub new: PlanFigures,
    /// Rendered first edits, when asked for.
    pub old_wav: Option<PathBuf>,
    pub new_wav: Option<PathBuf>,
}

/// A policy's name in the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub path: Option<String>,
    pub model_version: String,
}

impl PolicyRef {
    pub fn of(p: &dyn Policy) -> PolicyRef {
        PolicyRef {
            path: p.path(),
            model_version: p.model_version(),
        }
    }
}

/// `test_results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResults {
    pub old: PolicyRef,
    pub new: PolicyRef,
    /// Who judged (`null`: figures only).
    pub judge: Option<String>,
    pub options: EvalOptions,
    pub songs: Vec<SongResult>,
    /// Means over every comparison of every song.
    pub overall_old: PlanFigures,
    pub overall_new: PlanFigures,
    /// Over every comparison (ties ½).
    pub win_rate: Option<f64>,
    /// Songs whose win rate is above ½.
    pub songs_won: Option<usize>,
    /// `songs_won / songs`.
    pub song_win_share: Option<f64>,
    /// Songs whose reachable win rate is above ½ (module doc): the most `songs_won`
    /// could be, as far as the headroom search knows.
    #[serde(default)]
    pub songs_winnable: Option<usize>,
    pub seconds: f64,
}

/// A song to evaluate on: its analysis and, for WAVs, its audio file.
#[derive(Debug, Clone)]
pub struct EvalSong {
    pub id: String,
    pub analysis: Arc<Analysis>,
    pub path: Option<PathBuf>,
}

#[derive(Default)]
struct Acc {
    keep: f64,
    dur: f64,
    spl: f64,
    score: f64,
    n: usize,
}

impl Acc {
    fn add(&mut self, plan: &Plan, score: Option<f64>) {
        let acts = plan.action_indices();
        let mut played = output_beats(&acts);
        played.dedup();
        self.keep += played.len() as f64 / acts.len().max(1) as f64;
        self.dur += plan.duration_s();
        self.spl += plan.splice_count() as f64;
        self.score += score.unwrap_or(0.0);
        self.n += 1;
    }
    fn merge(&mut self, o: &Acc) {
        self.keep += o.keep;
        self.dur += o.dur;
        self.spl += o.spl;
        self.score += o.score;
        self.n += o.n;
    }
    fn figures(&self, judged: bool) -> PlanFigures {
        let d = self.n.max(1) as f64;
        PlanFigures {
            keep_ratio: self.keep / d,
            duration_s: self.dur / d,
            splices: self.spl / d,
            score: judged.then(|| self.score / d),
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Compares `new` with `old` on `songs` (see the module doc). With `wav_dir`, renders the
/// first edit of each policy per song there. `progress` shows a bar over the songs.
pub fn evaluate_policies(
    old: &dyn Policy,
    new: &dyn Policy,
    songs: &[EvalSong],
    judge: Option<&Judge>,
    opts: &EvalOptions,
    wav_dir: Option<&Path>,
    progress: bool,
) -> Result<TestResults> {
    let start = std::time::Instant::now();
    if songs.is_empty() {
        return Err(TrainError::Data("no songs to evaluate on".into()));
    }
    let crossfade = Crossfade::new(opts.crossfade_s)
        .map_err(|e| TrainError::Config(format!("crossfade: {e}")))?;
    let bar = if progress {
        ProgressBar::new(songs.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "evaluate [{bar:30}] {pos}/{len} songs {elapsed_precise} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let mut rng = Rng::new(opts.seed);
    // Its own generator, so the compared edits' seeds are the same with or without it.
    let mut headroom_rng = Rng::new(opts.seed ^ HEADROOM_SEED_MIX);
    let (mut all_old, mut all_new) = (Acc::default(), Acc::default());
    let (mut wins_all, mut n_all) = (0.0, 0usize);
    let mut results = Vec::with_capacity(songs.len());
    for s in songs {
        bar.set_message(s.id.clone());
        let a = &s.analysis;
        let lo = old.logits(a)?;
        let ln = new.logits(a)?;
        let c = Constraints::new(opts.target_fraction * a.duration_s);
        let (mut acc_old, mut acc_new) = (Acc::default(), Acc::default());
        let (mut wins, mut ties, mut n) = (0.0, 0usize, 0usize);
        let mut first: Option<(Plan, Plan)> = None;
        // Judge scores of the old edits, and the best score of any edit seen.
        let mut old_scores = Vec::with_capacity(opts.plans);
        let mut best = f64::NEG_INFINITY;
        for _ in 0..opts.plans {
            let seed = rng.next_u64();
            let (Ok(po), Ok(pn)) = (
                decode(a, &lo, &c, opts.temperature, seed),
                decode(a, &ln, &c, opts.temperature, seed),
            ) else {
                continue;
            };
            let scores = match judge {
                Some(j) => Some((
                    j.score(&a.features, &po.action_indices())?,
                    j.score(&a.features, &pn.action_indices())?,
                )),
                None => None,
            };
            acc_old.add(&po, scores.map(|s| s.0));
            acc_new.add(&pn, scores.map(|s| s.1));
            if let Some((so, sn)) = scores {
                old_scores.push(so);
                best = best.max(so).max(sn);
                if (sn - so).abs() < TIE_EPSILON {
                    wins += 0.5;
                    ties += 1;
                } else if sn > so {
                    wins += 1.0;
                }
            }
            n += 1;
            first.get_or_insert((po, pn));
        }
        let headroom = match judge {
            Some(j) if opts.headroom_plans > 0 && !old_scores.is_empty() => {
                let found = headroom_best(a, &lo, &c, j, opts, &mut headroom_rng)?;
                let at_best = old_scores
                    .iter()
                    .filter(|&&so| so >= best.max(found) - TIE_EPSILON)
                    .count();
                let k = old_scores.len();
                Some((
                    at_best,
                    (0.5 * at_best as f64 + (k - at_best) as f64) / k as f64,
                ))
            }
            _ => None,
        };
        let (mut old_wav, mut new_wav) = (None, None);
        if let (Some(dir), Some(path), Some((po, pn))) = (wav_dir, &s.path, &first) {
            let audio = recut_engine::audio::decode_file(path)?;
            let song_dir = dir.join(&s.id);
            std::fs::create_dir_all(&song_dir).map_err(io(&song_dir))?;
            for (plan, name, slot) in [(po, "old.wav", &mut old_wav), (pn, "new.wav", &mut new_wav)]
            {
                let out = render(&audio, plan, crossfade).map_err(recut_engine::Error::from)?;
                let file = song_dir.join(name);
                recut_engine::audio::write_wav(&file, &out, recut_engine::audio::WavFormat::Int16)?;
                *slot = Some(file);
            }
        }
        let judged = judge.is_some();
        results.push(SongResult {
            song_id: s.id.clone(),
            duration_s: a.duration_s,
            comparisons: n,
            ties,
            win_rate: (judged && n > 0).then(|| wins / n as f64),
            old_at_best: headroom.map(|h| h.0),
            reachable_win_rate: headroom.map(|h| h.1),
            old: acc_old.figures(judged),
            new: acc_new.figures(judged),
            old_wav,
            new_wav,
        });
        all_old.merge(&acc_old);
        all_new.merge(&acc_new);
        wins_all += wins;
        n_all += n;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let judged = judge.is_some();
    // Songs whose rate (won, or reachable) is above ½.
    let above_half = |rate: fn(&SongResult) -> Option<f64>| {
        results
            .iter()
            .filter(|r| rate(r).is_some_and(|w| w > 0.5))
            .count()
    };
    let songs_won = judged.then(|| above_half(|r| r.win_rate));
    let songs_winnable =
        (judged && opts.headroom_plans > 0).then(|| above_half(|r| r.reachable_win_rate));
    Ok(TestResults {
        old: PolicyRef::of(old),
        new: PolicyRef::of(new),
        judge: judge.map(Judge::name),
        options: opts.clone(),
        overall_old: all_old.figures(judged),
        overall_new: all_new.figures(judged),
        win_rate: (judged && n_all > 0).then(|| wins_all / n_all as f64),
        songs_won,
        song_win_share: songs_won.map(|w| w as f64 / results.len() as f64),
        songs_winnable,
        songs: results,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The best judge score among `opts.headroom_plans` edits sampled from the old policy's
/// `logits` (module doc), `NEG_INFINITY` when none decodes.
fn headroom_best(
    a: &Analysis,
    logits: &[[f32; 3]],
    c: &Constraints,
    judge: &Judge,
    opts: &EvalOptions,
    rng: &mut Rng,
) -> Result<f64> {
    let mut best = f64::NEG_INFINITY;
    let mut jittered = logits.to_vec();
    for i in 0..opts.headroom_plans {
        let t = HEADROOM_TEMPERATURES[i % HEADROOM_TEMPERATURES.len()];
        let src = if i % 2 == 1 {
            for (j, l) in jittered.iter_mut().zip(logits) {
                for k in 0..2 {
                    j[k] = l[k] + rng.range(-HEADROOM_JITTER, HEADROOM_JITTER) as f32;
                }
            }
            &jittered
        } else {
            logits
        };
        if let Ok(plan) = decode(a, src, c, t, rng.next_u64()) {
            best = best.max(judge.score(&a.features, &plan.action_indices())?);
        }
    }
    Ok(best)
}

impl TestResults {
    /// Writes `test_results.json` (pretty JSON) to `path`, creating its folder.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::json::write_json(path, self)
    }

    /// A table: one line per song and the totals.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<34} {:>9} {:>9} {:>11} {:>11} {:>8} {:>8} {:>8}\n",
            "song", "keep old", "keep new", "dur old s", "dur new s", "spl old", "spl new", "win"
        );
        let win = |w: Option<f64>| w.map_or("-".into(), |w| format!("{w:.2}"));
        for r in &self.songs {
            s.push_str(&format!(
                "{:<34} {:>9.3} {:>9.3} {:>11.1} {:>11.1} {:>8.2} {:>8.2} {:>8}\n",
                r.song_id,
                r.old.keep_ratio,
                r.new.keep_ratio,
                r.old.duration_s,
                r.new.duration_s,
                r.old.splices,
                r.new.splices,
                win(r.win_rate)
            ));
        }
        s.push_str(&format!(
            "{:<34} {:>9.3} {:>9.3} {:>11.1} {:>11.1} {:>8.2} {:>8.2} {:>8}\n",
            "all",
            self.overall_old.keep_ratio,
            self.overall_new.keep_ratio,
            self.overall_old.duration_s,
            self.overall_new.duration_s,
            self.overall_old.splices,
            self.overall_new.splices,
            win(self.win_rate)
        ));
        match (&self.judge, self.songs_won) {
            (Some(j), Some(w)) => {
                s.push_str(&format!(
                    "judged by {j}: new wins {:.3} of comparisons, {w} of {} songs; mean score {:.3} -> {:.3}\n",
                    self.win_rate.unwrap_or(f64::NAN),
                    self.songs.len(),
                    self.overall_old.score.unwrap_or(f64::NAN),
                    self.overall_new.score.unwrap_or(f64::NAN),
                ));
                if let Some(k) = self.songs_winnable {
                    s.push_str(&format!(
                        "headroom ({} sampled edits per song): {k} of {} songs winnable; old edits at the best found: {}\n",
                        self.options.headroom_plans,
                        self.songs.len(),
                        self.songs
                            .iter()
                            .map(|r| format!(
                                "{} {}/{}",
                                r.song_id,
                                r.old_at_best.unwrap_or(0),
                                r.comparisons
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            _ => s.push_str("no judge (give --rater or --reward-model for a win rate)\n"),
        }
        s
    }
}
