//! ONNX Runtime sessions for the policy and reward models (DESIGN.md "Models").
//!
//! A model file is read once, checked against its contract *before* ONNX Runtime sees it
//! (protobuf parses, `recut.kind`, `recut.features_version`, input and output names and
//! types), then one session is built in the process's environment ([`runtime::environment`])
//! and reused for every call. The CUDA provider is requested first with
//! `error_on_failure()`; if it cannot be registered or the session cannot be built with it,
//! the session is built again on CPU, and [`ModelInfo::provider`] says which one runs (with
//! the reason CUDA was not used in [`ModelInfo::provider_note`]).
//!
//! `ort` sessions run through `&mut`, so each model keeps its session behind a mutex: a
//! model can be shared between threads (`Arc<PolicyModel>`), and calls on it take turns.
//! For parallel batch work, load one model per worker or use the batch methods.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;

use super::error::ModelError;
use super::onnx::proto::{ModelProto, type_proto};
use super::onnx::{ElemType, ModelKind, OnnxModelExt, keys};
use super::runtime::{self, RuntimeInfo};
use crate::analysis::{Analysis, FEATURE_DIM, FEATURES_VERSION};
use crate::error::Result;

/// Number of actions (Keep, Cut, Loop).
pub const N_ACTIONS: usize = 3;

/// Which ONNX Runtime execution provider runs a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// NVIDIA CUDA.
    Cuda,
    /// The default CPU provider.
    Cpu,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Provider::Cuda => "CUDA",
            Provider::Cpu => "CPU",
        })
    }
}

/// How to build sessions.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Skip CUDA and build on CPU (also set by `RECUT_PROVIDER=cpu` in [`SessionOptions::from_env`]).
    pub cpu_only: bool,
    /// Threads inside one operator (ONNX Runtime's default when `None`).
    pub intra_threads: Option<usize>,
    /// ONNX Runtime library to load if the runtime is not loaded yet (see [`runtime::init`]).
    pub runtime: Option<PathBuf>,
}

/// Environment variable: `cpu` skips the CUDA provider.
pub const PROVIDER_ENV: &str = "RECUT_PROVIDER";

impl SessionOptions {
    /// Defaults, with `RECUT_PROVIDER=cpu` honoured.
    pub fn from_env() -> SessionOptions {
        let cpu_only = std::env::var(PROVIDER_ENV)
            .map(|v| v.eq_ignore_ascii_case("cpu"))
            .unwrap_or(false);
        SessionOptions {
            cpu_only,
            ..Default::default()
        }
    }
}

/// What a loaded model is and where it runs (`recut --version` and the plugin print it).
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Policy or reward.
    pub kind: ModelKind,
    /// `recut.model_version`.
    pub model_version: String,
    /// `recut.features_version` (equal to the engine's, or loading would have failed).
    pub features_version: u32,
    /// `recut.parent`, `None` when absent or `none`.
    pub parent: Option<String>,
    /// `recut.trained_on`, when present.
    pub trained_on: Option<String>,
    /// `recut.created`, when present.
    pub created: Option<String>,
    /// `recut.architecture`, when present.
    pub architecture: Option<String>,
    /// The execution provider the session runs on.
    pub provider: Provider,
    /// Why CUDA is not in use, when it was requested and failed.
    pub provider_note: Option<String>,
    /// The model file (`<memory>` for models loaded from bytes).
    pub path: PathBuf,
    /// The ONNX Runtime library in use.
    pub runtime: RuntimeInfo,
}

impl std::fmt::Display for ModelInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} model {} (features v{}, parent {}) from {} on {}",
            self.kind,
            self.model_version,
            self.features_version,
            self.parent.as_deref().unwrap_or("none"),
            self.path.display(),
            self.provider
        )
    }
}

/// The provider of the most recently built session in this process (`None` before any).
pub fn active_provider() -> Option<Provider> {
    *LAST_PROVIDER.lock().unwrap_or_else(|e| e.into_inner())
}

static LAST_PROVIDER: Mutex<Option<Provider>> = Mutex::new(None);
/// Why CUDA registration failed, remembered so later sessions go straight to CPU.
static CUDA_UNAVAILABLE: Mutex<Option<String>> = Mutex::new(None);

/// One graph input or output the contract requires.
struct Port {
    name: &'static str,
    elem: ElemType,
    rank: usize,
}

struct Contract {
    kind: ModelKind,
    inputs: &'static [Port],
    outputs: &'static [Port],
}

const POLICY: Contract = Contract {
    kind: ModelKind::Policy,
    inputs: &[
        Port {
            name: "features",
            elem: ElemType::F32,
            rank: 3,
        },
        Port {
            name: "mask",
            elem: ElemType::F32,
            rank: 2,
        },
    ],
    outputs: &[
        Port {
            name: "logits",
            elem: ElemType::F32,
            rank: 3,
        },
        Port {
            name: "value",
            elem: ElemType::F32,
            rank: 1,
        },
    ],
};

const REWARD: Contract = Contract {
    kind: ModelKind::Reward,
    inputs: &[
        Port {
            name: "features",
            elem: ElemType::F32,
            rank: 3,
        },
        Port {
            name: "actions",
            elem: ElemType::I64,
            rank: 2,
        },
        Port {
            name: "mask",
            elem: ElemType::F32,
            rank: 2,
        },
    ],
    outputs: &[Port {
        name: "score",
        elem: ElemType::F32,
        rank: 1,
    }],
};

/// A checked, loaded model: its session and what it is.
struct Loaded {
    session: Mutex<Session>,
    info: ModelInfo,
}

fn read_model(path: &Path) -> std::result::Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|e| ModelError::Read {
        path: path.to_owned(),
        source: e,
    })
}

/// `(elem type, rank)` of a graph value, when declared as a tensor.
fn tensor_type(
    v: &super::onnx::proto::ValueInfoProto,
) -> Option<(Option<ElemType>, Option<usize>)> {
    match v.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => Some((
            t.elem_type.and_then(ElemType::from_code),
            t.shape.as_ref().map(|s| s.dim.len()),
        )),
        _ => None,
    }
}

/// Checks metadata and signature of a parsed model against `contract`.
fn check(
    model: &ModelProto,
    path: &Path,
    contract: &Contract,
) -> std::result::Result<(), ModelError> {
    let kind = contract.kind.as_str();
    let meta = |key: &str| {
        model
            .meta(key)
            .map(str::to_owned)
            .ok_or_else(|| ModelError::MissingMetadata {
                path: path.to_owned(),
                key: key.to_owned(),
                expected: kind.to_owned(),
            })
    };
    let found_kind = meta(keys::KIND)?;
    if found_kind != kind {
        return Err(ModelError::WrongKind {
            path: path.to_owned(),
            expected: kind.to_owned(),
            found: found_kind,
        });
    }
    let fv = meta(keys::FEATURES_VERSION)?;
    if fv.trim().parse::<u32>().ok() != Some(FEATURES_VERSION) {
        return Err(ModelError::FeaturesVersion {
            path: path.to_owned(),
            expected: FEATURES_VERSION,
            found: fv,
        });
    }
    meta(keys::MODEL_VERSION)?;

    let graph = model.graph.as_ref().ok_or_else(|| ModelError::Corrupt {
        path: path.to_owned(),
        reason: "no graph".into(),
    })?;
    let initializers: std::collections::HashSet<&str> = graph
        .initializer
        .iter()
        .filter_map(|t| t.name.as_deref())
        .collect();
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|v| !initializers.contains(v.name.as_deref().unwrap_or("")))
        .collect();
    let names = |ports: &[Port]| ports.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
    let signature = |what: &'static str, found: Vec<&str>, ports: &[Port]| ModelError::Signature {
        path: path.to_owned(),
        kind: kind.to_owned(),
        what,
        expected: names(ports),
        found: found.join(", "),
    };
    let input_names: Vec<&str> = inputs
        .iter()
        .map(|v| v.name.as_deref().unwrap_or(""))
        .collect();
    let mut sorted_found = input_names.clone();
    sorted_found.sort_unstable();
    let mut sorted_expected: Vec<&str> = contract.inputs.iter().map(|p| p.name).collect();
    sorted_expected.sort_unstable();
    if sorted_found != sorted_expected {
        return Err(signature("inputs", input_names, contract.inputs));
    }
    let output_names: Vec<&str> = graph
        .output
        .iter()
        .map(|v| v.name.as_deref().unwrap_or(""))
        .collect();
    if contract
        .outputs
        .iter()
        .any(|p| !output_names.contains(&p.name))
    {
        return Err(signature("outputs", output_names, contract.outputs));
    }
    let declared = inputs.iter().copied().chain(graph.output.iter());
    for port in contract.inputs.iter().chain(contract.outputs) {
        let Some(v) = declared
            .clone()
            .find(|v| v.name.as_deref() == Some(port.name))
        else {
            continue;
        };
        let (elem, rank) = tensor_type(v).unwrap_or((None, None));
        let elem_ok = elem.is_none_or(|e| e == port.elem);
        let rank_ok = rank.is_none_or(|r| r == port.rank);
        if !elem_ok || !rank_ok {
            return Err(ModelError::Signature {
                path: path.to_owned(),
                kind: kind.to_owned(),
                what: "value types",
                expected: format!("{}: {} rank {}", port.name, port.elem, port.rank),
                found: format!(
                    "{}: {} rank {}",
                    port.name,
                    elem.map_or("?".into(), |e| e.to_string()),
                    rank.map_or("?".into(), |r| r.to_string())
                ),
            });
        }
    }
    Ok(())
}

fn build_session(
    env: &ort::environment::Environment,
    bytes: &[u8],
    path: &Path,
    opts: &SessionOptions,
) -> std::result::Result<(Session, Provider, Option<String>), ModelError> {
    let session_err = |e: String| ModelError::Session {
        path: path.to_owned(),
        reason: e,
    };
    let builder = || -> std::result::Result<ort::session::builder::SessionBuilder, ModelError> {
        let mut b = Session::builder(env).map_err(|e| session_err(e.to_string()))?;
        if let Some(n) = opts.intra_threads {
            b = b
                .with_intra_threads(n)
                .map_err(|e| session_err(e.to_string()))?;
        }
        Ok(b)
    };

    let note;
    if opts.cpu_only {
        note = Some("CPU requested".to_owned());
    } else if let Some(reason) = CUDA_UNAVAILABLE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
    {
        note = Some(reason);
    } else {
        let cuda = ort::ep::CUDA::default().build().error_on_failure();
        match builder()?.with_execution_providers([cuda]) {
            Ok(mut b) => match b.commit_from_memory(bytes) {
                Ok(s) => return Ok((s, Provider::Cuda, None)),
                Err(e) => note = Some(format!("CUDA session failed: {e}")),
            },
            Err(e) => {
                let reason = format!("CUDA provider unavailable: {e}");
                *CUDA_UNAVAILABLE.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.clone());
                note = Some(reason);
            }
        }
    }
    let session = builder()?
        .commit_from_memory(bytes)
        .map_err(|e| session_err(e.to_string()))?;
    Ok((session, Provider::Cpu, note))
}

fn load(bytes: Vec<u8>, path: &Path, contract: &Contract, opts: &SessionOptions) -> Result<Loaded> {
    let model = ModelProto::decode_checked(&bytes, path)?;
    check(&model, path, contract)?;
    let (runtime_info, env) = runtime::environment(opts.runtime.as_deref())?;
    let (session, provider, provider_note) = build_session(&env, &bytes, path, opts)?;
    *LAST_PROVIDER.lock().unwrap_or_else(|e| e.into_inner()) = Some(provider);
    let get = |k: &str| model.meta(k).map(str::to_owned);
    let info = ModelInfo {
        kind: contract.kind,
        model_version: get(keys::MODEL_VERSION).unwrap_or_default(),
        features_version: FEATURES_VERSION,
        parent: get(keys::PARENT).filter(|p| !p.is_empty() && p != "none"),
        trained_on: get(keys::TRAINED_ON),
        created: get(keys::CREATED),
        architecture: get(keys::ARCHITECTURE),
        provider,
        provider_note,
        path: path.to_owned(),
        runtime: runtime_info,
    };
    Ok(Loaded {
        session: Mutex::new(session),
        info,
    })
}

/// Parsing with the model's path in the error.
trait DecodeChecked: Sized {
    fn decode_checked(bytes: &[u8], path: &Path) -> std::result::Result<Self, ModelError>;
}

impl DecodeChecked for ModelProto {
    fn decode_checked(bytes: &[u8], path: &Path) -> std::result::Result<Self, ModelError> {
        if bytes.is_empty() {
            return Err(ModelError::Corrupt {
                path: path.to_owned(),
                reason: "the file is empty (0 bytes)".into(),
            });
        }
        ModelProto::parse(bytes).map_err(|e| match e {
            ModelError::Corrupt { reason, .. } => ModelError::Corrupt {
                path: path.to_owned(),
                reason,
            },
            other => other,
        })
    }
}

/// Padded `[B, T, F]` features and `[B, T]` mask for a batch of songs.
fn pack_features(
    songs: &[&[[f32; FEATURE_DIM]]],
) -> std::result::Result<(usize, Vec<f32>, Vec<f32>), ModelError> {
    if songs.is_empty() {
        return Err(ModelError::Input("empty batch".into()));
    }
    if let Some(i) = songs.iter().position(|s| s.is_empty()) {
        return Err(ModelError::Input(format!(
            "song {i} of the batch has no beats"
        )));
    }
    let t = songs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut feats = vec![0f32; songs.len() * t * FEATURE_DIM];
    let mut mask = vec![0f32; songs.len() * t];
    for (b, song) in songs.iter().enumerate() {
        for (i, row) in song.iter().enumerate() {
            let at = (b * t + i) * FEATURE_DIM;
            feats[at..at + FEATURE_DIM].copy_from_slice(row);
            mask[b * t + i] = 1.0;
        }
    }
    Ok((t, feats, mask))
}

fn tensor<T: ort::value::PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static>(
    shape: Vec<i64>,
    data: Vec<T>,
    path: &Path,
) -> std::result::Result<Tensor<T>, ModelError> {
    Tensor::from_array((shape, data)).map_err(|e| ModelError::Inference {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Output `name` of a run as f32s, checked to have exactly `shape` (the contract's, with
/// this run's batch and beats filled in), so a model that answers in another shape is an
/// error here rather than a wrong index later.
fn output_f32<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    name: &str,
    shape: &[usize],
    path: &Path,
) -> std::result::Result<&'a [f32], ModelError> {
    let inference = |reason: String| ModelError::Inference {
        path: path.to_owned(),
        reason,
    };
    let (got, data) = outputs[name]
        .try_extract_tensor::<f32>()
        .map_err(|e| inference(e.to_string()))?;
    // A negative (dynamic) dimension never equals a size.
    if !got
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .eq(shape.iter().map(|&d| Some(d)))
    {
        return Err(inference(format!(
            "{name} has shape {:?}, expected {shape:?}",
            &**got
        )));
    }
    Ok(data)
}

/// Output of the policy for one song.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyOutput {
    /// Per-beat logits (Keep, Cut, Loop).
    pub logits: Vec<[f32; N_ACTIONS]>,
    /// The value estimate.
    pub value: f32,
}

/// What the policy and the reward model share: a checked session behind a lock, loading
/// from a path or from bytes against the kind's [`Contract`], and what was loaded.
macro_rules! model_handle {
    ($name:ident, $contract:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("info", &self.inner.info)
                    .finish()
            }
        }

        impl $name {
            /// Loads and checks `path` (options from the environment, see
            /// [`SessionOptions::from_env`]).
            pub fn load(path: impl AsRef<Path>) -> Result<$name> {
                Self::load_with(path, &SessionOptions::from_env())
            }

            /// Loads and checks `path` with explicit options.
            pub fn load_with(path: impl AsRef<Path>, opts: &SessionOptions) -> Result<$name> {
                let path = path.as_ref();
                Ok($name {
                    inner: load(read_model(path)?, path, &$contract, opts)?,
                })
            }

            /// Loads from `.onnx` bytes (`label` stands for the path in messages).
            pub fn from_bytes(bytes: Vec<u8>, label: &str, opts: &SessionOptions) -> Result<$name> {
                Ok($name {
                    inner: load(bytes, Path::new(label), &$contract, opts)?,
                })
            }

            /// What was loaded and where it runs.
            pub fn info(&self) -> &ModelInfo {
                &self.inner.info
            }

            /// The execution provider this model's session runs on.
            pub fn active_provider(&self) -> Provider {
                self.inner.info.provider
            }
        }
    };
}

/// Longest song, in beats, that [`PolicyModel::evaluate`] gives the policy in one pass.
/// The policy's attention holds heads × T² floats per layer, so a whole song costs memory
/// with the square of its beats: `recut edit` of an hour at 120 BPM (7200 beats) with the
/// shipped policy peaked at 2.3 GB against 1.0 GB with the baseline policy, and a two-hour
/// DJ mix would need several times that, inside a DAW. Longer songs run in overlapping
/// windows of this many beats. 2048 beats is 17 minutes at 120 BPM, far more context than
/// the policy learns from (the trainer's PPO updates see 128-beat windows) and longer
/// than any corpus song the shipped models were trained on, so songs of ordinary length
/// run whole as before. With windows the hour above peaks at 1.0 GB and renders the same
/// audio.
pub const POLICY_WINDOW_BEATS: usize = 2048;

/// Beats of context a window gives each beat it answers for, on both sides, except at the
/// song's ends ([`policy_windows`]); windows then start every
/// `POLICY_WINDOW_BEATS − 2 · POLICY_WINDOW_CONTEXT` beats.
pub const POLICY_WINDOW_CONTEXT: usize = 512;

/// One pass of [`PolicyModel::evaluate`] over a long song: the beats it runs on and the
/// beats whose logits are taken from it (source beat indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWindow {
    /// The beats the policy sees in this pass.
    pub window: std::ops::Range<usize>,
    /// The beats whose logits this pass gives (within `window`).
    pub answers: std::ops::Range<usize>,
}

impl PolicyWindow {
    /// `answers` as rows of this pass's output (indices within `window`).
    pub fn answer_rows(&self) -> std::ops::Range<usize> {
        self.answers.start - self.window.start..self.answers.end - self.window.start
    }
}

/// The windows a song of `beats` beats runs in: one window for a song of at most
/// [`POLICY_WINDOW_BEATS`] beats; otherwise windows of exactly that many beats, starting
/// every `POLICY_WINDOW_BEATS − 2 · POLICY_WINDOW_CONTEXT` beats, the last one flush with
/// the song's end. Each beat is answered for by exactly one window, in order, the one whose
/// overlap with its neighbour it falls before the middle of, so every beat has at least
/// [`POLICY_WINDOW_CONTEXT`] beats of its window on both sides, or reaches the song's end.
pub fn policy_windows(beats: usize) -> Vec<PolicyWindow> {
    if beats <= POLICY_WINDOW_BEATS {
        return vec![PolicyWindow {
            window: 0..beats,
            answers: 0..beats,
        }];
    }
    let hop = POLICY_WINDOW_BEATS - 2 * POLICY_WINDOW_CONTEXT;
    let last = beats - POLICY_WINDOW_BEATS;
    let mut starts: Vec<usize> = (0..last).step_by(hop).collect();
    starts.push(last);
    let ends: Vec<usize> = starts
        .windows(2)
        .map(|s| (s[0] + POLICY_WINDOW_BEATS + s[1]) / 2)
        .chain([beats])
        .collect();
    starts
        .iter()
        .zip(&ends)
        .enumerate()
        .map(|(k, (&s, &e))| PolicyWindow {
            window: s..s + POLICY_WINDOW_BEATS,
            answers: if k == 0 { 0 } else { ends[k - 1] }..e,
        })
        .collect()
}

/// The policy model (`policy.onnx`): per-beat action logits and a value.
pub struct PolicyModel {
    inner: Loaded,
}

model_handle!(PolicyModel, POLICY);

impl PolicyModel {
    /// Per-beat logits (Keep, Cut, Loop) for one song (`B = 1`, `T` = beats, mask all 1).
    pub fn run(&self, features: &[[f32; FEATURE_DIM]]) -> Result<Vec<[f32; N_ACTIONS]>> {
        Ok(self.evaluate(features)?.logits)
    }

    /// Logits and value for one song. A song longer than [`POLICY_WINDOW_BEATS`] runs in
    /// the overlapping windows of [`policy_windows`], one at a time, each beat's logits
    /// taken from the window that gives it at least [`POLICY_WINDOW_CONTEXT`] beats of
    /// context on both sides (fewer only at the song's ends); the value is the windows'
    /// values weighted by the beats they answer for.
    pub fn evaluate(&self, features: &[[f32; FEATURE_DIM]]) -> Result<PolicyOutput> {
        let one = |beats: &[[f32; FEATURE_DIM]]| -> Result<PolicyOutput> {
            Ok(self
                .evaluate_batch(&[beats])?
                .pop()
                .expect("one song in, one out"))
        };
        let windows = policy_windows(features.len());
        if windows.len() == 1 {
            return one(features);
        }
        let mut out = PolicyOutput {
            logits: Vec::with_capacity(features.len()),
            value: 0.0,
        };
        for w in &windows {
            let part = one(&features[w.window.clone()])?;
            out.logits.extend_from_slice(&part.logits[w.answer_rows()]);
            out.value += part.value * w.answers.len() as f32 / features.len() as f32;
        }
        Ok(out)
    }

    /// Logits and values for several songs in one run (padded to the longest, masked), each
    /// song whole: memory grows with the square of the longest song's beats (see
    /// [`POLICY_WINDOW_BEATS`]; [`PolicyModel::evaluate`] windows long songs).
    pub fn evaluate_batch(&self, songs: &[&[[f32; FEATURE_DIM]]]) -> Result<Vec<PolicyOutput>> {
        let path = &self.inner.info.path;
        let inference = |e: ort::Error| ModelError::Inference {
            path: path.clone(),
            reason: e.to_string(),
        };
        let (t, feats, mask) = pack_features(songs)?;
        let b = songs.len();
        let features = tensor(vec![b as i64, t as i64, FEATURE_DIM as i64], feats, path)?;
        let mask = tensor(vec![b as i64, t as i64], mask, path)?;
        let mut session = self.inner.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(ort::inputs!["features" => features, "mask" => mask])
            .map_err(inference)?;
        let logits = output_f32(&outputs, "logits", &[b, t, N_ACTIONS], path)?;
        let values = output_f32(&outputs, "value", &[b], path)?;
        Ok(songs
            .iter()
            .enumerate()
            .map(|(bi, song)| PolicyOutput {
                logits: (0..song.len())
                    .map(|i| {
                        let at = (bi * t + i) * N_ACTIONS;
                        [logits[at], logits[at + 1], logits[at + 2]]
                    })
                    .collect(),
                value: values[bi],
            })
            .collect())
    }

    /// Per-beat logits for an analysed song (its features version must be the engine's).
    pub fn logits_for(&self, analysis: &Analysis) -> Result<Vec<[f32; N_ACTIONS]>> {
        if analysis.features_version != self.inner.info.features_version {
            return Err(ModelError::Input(format!(
                "analysis has features version {}, the model needs {}",
                analysis.features_version, self.inner.info.features_version
            ))
            .into());
        }
        self.run(&analysis.features)
    }
}

/// Anything that names an action by its index (Keep = 0, Cut = 1, Loop = 2).
pub trait ActionCode: Copy {
    /// The action's index.
    fn code(self) -> i64;
}

macro_rules! action_code_int {
    ($($t:ty),*) => {$(impl ActionCode for $t { fn code(self) -> i64 { self as i64 } })*};
}
action_code_int!(i64, i32, u8, u32, usize);

impl ActionCode for crate::edit::Action {
    fn code(self) -> i64 {
        self as i64
    }
}

/// The reward model (`reward.onnx`): a score in [-10, 10] for an edit of a song.
pub struct RewardModel {
    inner: Loaded,
}

model_handle!(RewardModel, REWARD);

impl RewardModel {
    /// The score of one edit (`actions`, one per beat) of one song.
    pub fn score<A: ActionCode>(
        &self,
        features: &[[f32; FEATURE_DIM]],
        actions: &[A],
    ) -> Result<f32> {
        Ok(self.score_batch(&[(features, actions)])?[0])
    }

    /// Scores of several edits in one run (padded to the longest, masked).
    pub fn score_batch<A: ActionCode>(
        &self,
        items: &[(&[[f32; FEATURE_DIM]], &[A])],
    ) -> Result<Vec<f32>> {
        let path = &self.inner.info.path;
        let inference = |e: ort::Error| ModelError::Inference {
            path: path.clone(),
            reason: e.to_string(),
        };
        for (i, (f, a)) in items.iter().enumerate() {
            if f.len() != a.len() {
                return Err(ModelError::Input(format!(
                    "item {i}: {} beats of features but {} actions",
                    f.len(),
                    a.len()
                ))
                .into());
            }
            if let Some(bad) = a
                .iter()
                .map(|a| a.code())
                .find(|c| !(0..N_ACTIONS as i64).contains(c))
            {
                return Err(ModelError::Input(format!(
                    "item {i}: action code {bad} is not Keep (0), Cut (1) or Loop (2)"
                ))
                .into());
            }
        }
        let songs: Vec<&[[f32; FEATURE_DIM]]> = items.iter().map(|(f, _)| *f).collect();
        let (t, feats, mask) = pack_features(&songs)?;
        let b = items.len();
        let mut acts = vec![0i64; b * t];
        for (bi, (_, a)) in items.iter().enumerate() {
            for (i, a) in a.iter().enumerate() {
                acts[bi * t + i] = a.code();
            }
        }
        let features = tensor(vec![b as i64, t as i64, FEATURE_DIM as i64], feats, path)?;
        let actions = tensor(vec![b as i64, t as i64], acts, path)?;
        let mask = tensor(vec![b as i64, t as i64], mask, path)?;
        let mut session = self.inner.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(ort::inputs!["features" => features, "actions" => actions, "mask" => mask])
            .map_err(inference)?;
        Ok(output_f32(&outputs, "score", &[b], path)?.to_vec())
    }
}
