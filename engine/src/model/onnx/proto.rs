//! The ONNX protobuf messages (`onnx.proto` from the PyPI `onnx` package, compiled at build
//! time by protox + prost-build; see `engine/build.rs` and `engine/proto/README.md`).
#![allow(missing_docs, clippy::all, rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
