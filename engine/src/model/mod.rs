//! Models: the ONNX graph writer ([`onnx`]), finding and loading ONNX Runtime
//! ([`runtime`]), and sessions for the policy and reward models ([`session`]).
//!
//! Contracts (DESIGN.md "Models"): the policy maps `features [B,T,125]`, `mask [B,T]` to
//! `logits [B,T,3]`, `value [B]`; the reward maps `features`, `actions` (i64), `mask` to
//! `score [B]`. A model whose `recut.kind` or `recut.features_version` does not match is
//! refused with both values named.

pub mod error;
pub mod onnx;
pub mod runtime;
pub mod session;

pub use error::ModelError;
pub use onnx::{Dim, ElemType, GraphBuilder, Metadata, ModelKind, OnnxModelExt};
pub use session::{
    ActionCode, ModelInfo, N_ACTIONS, POLICY_WINDOW_BEATS, POLICY_WINDOW_CONTEXT, PolicyModel,
    PolicyOutput, PolicyWindow, Provider, RewardModel, SessionOptions, active_provider,
    policy_windows,
};
