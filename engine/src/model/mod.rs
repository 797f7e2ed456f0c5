//! Models: finding and loading ONNX Runtime (sessions for the policy and reward models
//! build on [`runtime`]).

pub mod runtime;
