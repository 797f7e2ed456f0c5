//! A small ONNX graph writer: Rust builds the policy and reward graphs (and the trainer
//! exports its tch weights) without Python.
//!
//! ```
//! use recut_engine::model::onnx::{attr, Dim, GraphBuilder, Metadata, ModelKind, OnnxModelExt};
//!
//! let mut g = GraphBuilder::new("policy");
//! let x = g.input_f32("features", [Dim::sym("B"), Dim::sym("T"), Dim::fixed(125)]);
//! let _mask = g.input_f32("mask", [Dim::sym("B"), Dim::sym("T")]);
//! let w = g.initializer("w", &[125, 3], &vec![0.0; 375]);
//! let b = g.initializer("b", &[3], &[0.0; 3]);
//! let h = g.matmul(&x, &w);
//! let logits = g.add(&h, &b);
//! g.identity_as(&logits, "logits");
//! let value = g.reduce_mean(&logits, &[1, 2], false);
//! g.identity_as(&value, "value");
//! g.output_f32("logits", [Dim::sym("B"), Dim::sym("T"), Dim::fixed(3)]);
//! g.output_f32("value", [Dim::sym("B")]);
//! let model = g.finish(&Metadata::new(ModelKind::Policy, "demo")).unwrap();
//! let bytes = model.encode();
//! assert!(!bytes.is_empty());
//! # let _ = attr::int("axis", 1);
//! ```
//!
//! Every value is named by a string. Ops that produce one value return its (generated,
//! unique) name, so graphs read like straight-line code; [`GraphBuilder::node`] is the
//! general form with explicit output names and any attributes ([`attr`] builds them).
//! [`GraphBuilder::finish`] checks that every value a node reads is defined before it and
//! that every declared output is produced, so a mistake in an exporter is caught at export
//! time with the value's name rather than by ONNX Runtime at load time.

pub mod proto;

use std::collections::HashSet;
use std::path::Path;

use prost::Message;

use self::proto::tensor_proto::DataType;
use self::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::model::error::ModelError;

/// The default-domain opset the graphs are written for (DESIGN.md).
pub const OPSET: i64 = 17;
/// The IR version written (IR 8 is the one that introduced opset 17's era; ONNX Runtime
/// 1.31 reads IR 3 to 11).
pub const IR_VERSION: i64 = 8;

/// Metadata keys (`metadata_props`) every Recut model carries.
pub mod keys {
    /// `policy` or `reward`.
    pub const KIND: &str = "recut.kind";
    /// The feature layout version the model was trained on.
    pub const FEATURES_VERSION: &str = "recut.features_version";
    /// This model's version (free text, e.g. `policy-2026-11-03-a1b2`).
    pub const MODEL_VERSION: &str = "recut.model_version";
    /// The model version it was fine-tuned from, or `none`.
    pub const PARENT: &str = "recut.parent";
    /// Hash and count of the preference data it was trained on.
    pub const TRAINED_ON: &str = "recut.trained_on";
    /// When it was made (RFC 3339).
    pub const CREATED: &str = "recut.created";
    /// A short architecture description (`mlp-2x256`, `transformer-4x128`).
    pub const ARCHITECTURE: &str = "recut.architecture";
}

/// Which contract a model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// `policy.onnx`: features, mask → logits, value.
    Policy,
    /// `reward.onnx`: features, actions, mask → score.
    Reward,
}

impl ModelKind {
    /// The metadata spelling (`policy`, `reward`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Policy => "policy",
            ModelKind::Reward => "reward",
        }
    }

    /// Parses the metadata spelling.
    pub fn parse(s: &str) -> Option<ModelKind> {
        match s {
            "policy" => Some(ModelKind::Policy),
            "reward" => Some(ModelKind::Reward),
            _ => None,
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `recut.*` metadata written into a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// `recut.kind`.
    pub kind: ModelKind,
    /// `recut.features_version` (defaults to the engine's [`crate::FEATURES_VERSION`]).
    pub features_version: u32,
    /// `recut.model_version`.
    pub model_version: String,
    /// `recut.parent` (`None` is written as `none`).
    pub parent: Option<String>,
    /// `recut.trained_on` (e.g. `blake3:ab12…:412`, or `none`).
    pub trained_on: String,
    /// `recut.created` (RFC 3339; empty means "now" at [`GraphBuilder::finish`]).
    pub created: String,
    /// `recut.architecture`.
    pub architecture: String,
    /// Any further `key = value` pairs (written after the `recut.*` ones).
    pub extra: Vec<(String, String)>,
}

impl Metadata {
    /// Metadata for the current feature layout, no parent, no training data, created now.
    pub fn new(kind: ModelKind, model_version: impl Into<String>) -> Metadata {
        Metadata {
            kind,
            features_version: crate::FEATURES_VERSION,
            model_version: model_version.into(),
            parent: None,
            trained_on: "none".into(),
            created: String::new(),
            architecture: String::new(),
            extra: Vec::new(),
        }
    }

    /// The `metadata_props` entries, in a fixed order.
    pub fn to_props(&self) -> Vec<(String, String)> {
        let created = if self.created.is_empty() {
            now_rfc3339()
        } else {
            self.created.clone()
        };
        let mut out = vec![
            (keys::KIND.to_owned(), self.kind.as_str().to_owned()),
            (
                keys::FEATURES_VERSION.to_owned(),
                self.features_version.to_string(),
            ),
            (keys::MODEL_VERSION.to_owned(), self.model_version.clone()),
            (
                keys::PARENT.to_owned(),
                self.parent.clone().unwrap_or_else(|| "none".into()),
            ),
            (keys::TRAINED_ON.to_owned(), self.trained_on.clone()),
            (keys::CREATED.to_owned(), created),
            (keys::ARCHITECTURE.to_owned(), self.architecture.clone()),
        ];
        out.extend(self.extra.iter().cloned());
        out
    }
}

/// UTC now as `YYYY-MM-DDTHH:MM:SSZ` (no date crate needed).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One dimension of a declared input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A known size.
    Fixed(i64),
    /// A named size fixed at run time (`B`, `T`).
    Sym(String),
}

impl Dim {
    /// A named (symbolic) dimension.
    pub fn sym(name: &str) -> Dim {
        Dim::Sym(name.to_owned())
    }
    /// A fixed dimension.
    pub fn fixed(n: i64) -> Dim {
        Dim::Fixed(n)
    }
}

impl From<i64> for Dim {
    fn from(n: i64) -> Dim {
        Dim::Fixed(n)
    }
}
impl From<usize> for Dim {
    fn from(n: usize) -> Dim {
        Dim::Fixed(n as i64)
    }
}
impl From<i32> for Dim {
    fn from(n: i32) -> Dim {
        Dim::Fixed(n as i64)
    }
}
impl From<&str> for Dim {
    fn from(s: &str) -> Dim {
        Dim::Sym(s.to_owned())
    }
}

/// Element types the writer declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    /// 32-bit float (`FLOAT`).
    F32,
    /// 64-bit integer (`INT64`): actions, indices, shapes.
    I64,
    /// 32-bit integer (`INT32`).
    I32,
    /// Boolean (`BOOL`): comparison results, `Where` conditions.
    Bool,
}

impl ElemType {
    /// The `TensorProto.DataType` code (also the `to` attribute of `Cast`).
    pub fn code(self) -> i32 {
        (match self {
            ElemType::F32 => DataType::Float,
            ElemType::I64 => DataType::Int64,
            ElemType::I32 => DataType::Int32,
            ElemType::Bool => DataType::Bool,
        }) as i32
    }

    /// From a `TensorProto.DataType` code.
    pub fn from_code(code: i32) -> Option<ElemType> {
        match DataType::try_from(code).ok()? {
            DataType::Float => Some(ElemType::F32),
            DataType::Int64 => Some(ElemType::I64),
            DataType::Int32 => Some(ElemType::I32),
            DataType::Bool => Some(ElemType::Bool),
            _ => None,
        }
    }
}

impl std::fmt::Display for ElemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ElemType::F32 => "f32",
            ElemType::I64 => "i64",
            ElemType::I32 => "i32",
            ElemType::Bool => "bool",
        })
    }
}

/// Attribute constructors: `attr::int("axis", -1)`, `attr::ints("perm", &[0, 2, 1])`, …
pub mod attr {
    use super::proto::attribute_proto::AttributeType;
    use super::proto::{AttributeProto, TensorProto};

    fn base(name: &str, ty: AttributeType) -> AttributeProto {
        AttributeProto {
            name: Some(name.to_owned()),
            r#type: Some(ty as i32),
            ..Default::default()
        }
    }
    /// A float attribute.
    pub fn float(name: &str, v: f32) -> AttributeProto {
        AttributeProto {
            f: Some(v),
            ..base(name, AttributeType::Float)
        }
    }
    /// An integer attribute.
    pub fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            i: Some(v),
            ..base(name, AttributeType::Int)
        }
    }
    /// A string attribute.
    pub fn string(name: &str, v: &str) -> AttributeProto {
        AttributeProto {
            s: Some(v.as_bytes().to_vec()),
            ..base(name, AttributeType::String)
        }
    }
    /// A list-of-floats attribute.
    pub fn floats(name: &str, v: &[f32]) -> AttributeProto {
        AttributeProto {
            floats: v.to_vec(),
            ..base(name, AttributeType::Floats)
        }
    }
    /// A list-of-integers attribute.
    pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            ints: v.to_vec(),
            ..base(name, AttributeType::Ints)
        }
    }
    /// A list-of-strings attribute.
    pub fn strings(name: &str, v: &[&str]) -> AttributeProto {
        AttributeProto {
            strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..base(name, AttributeType::Strings)
        }
    }
    /// A tensor attribute (e.g. `Constant`'s `value`).
    pub fn tensor(name: &str, t: TensorProto) -> AttributeProto {
        AttributeProto {
            t: Some(t),
            ..base(name, AttributeType::Tensor)
        }
    }
}

/// A tensor proto holding f32 data (little-endian `raw_data`).
pub fn tensor_f32(name: &str, shape: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: shape.to_vec(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// A tensor proto holding i64 data (little-endian `raw_data`).
pub fn tensor_i64(name: &str, shape: &[i64], data: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: shape.to_vec(),
        data_type: Some(DataType::Int64 as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

fn value_info(name: &str, elem: ElemType, dims: Vec<Dim>) -> ValueInfoProto {
    use self::proto::tensor_shape_proto::{Dimension, dimension};
    let dim = dims
        .into_iter()
        .map(|d| Dimension {
            denotation: None,
            value: Some(match d {
                Dim::Fixed(n) => dimension::Value::DimValue(n),
                Dim::Sym(s) => dimension::Value::DimParam(s),
            }),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            denotation: None,
            value: Some(self::proto::type_proto::Value::TensorType(
                self::proto::type_proto::Tensor {
                    elem_type: Some(elem.code()),
                    shape: Some(TensorShapeProto { dim }),
                },
            )),
        }),
        ..Default::default()
    }
}

/// Builds one graph, node by node, in execution order.
#[derive(Debug, Clone, Default)]
pub struct GraphBuilder {
    name: String,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    initializers: Vec<TensorProto>,
    nodes: Vec<NodeProto>,
    doc: Option<String>,
    counter: usize,
}

impl GraphBuilder {
    /// An empty graph called `name`.
    pub fn new(name: &str) -> GraphBuilder {
        GraphBuilder {
            name: name.to_owned(),
            ..Default::default()
        }
    }

    /// Sets the graph's doc string.
    pub fn doc(&mut self, doc: &str) -> &mut Self {
        self.doc = Some(doc.to_owned());
        self
    }

    /// A fresh value name `{stem}_{n}`.
    pub fn fresh(&mut self, stem: &str) -> String {
        self.counter += 1;
        format!("{stem}_{}", self.counter)
    }

    /// Declares a graph input.
    pub fn input<D: Into<Dim>>(
        &mut self,
        name: &str,
        elem: ElemType,
        dims: impl IntoIterator<Item = D>,
    ) -> String {
        self.inputs.push(value_info(
            name,
            elem,
            dims.into_iter().map(Into::into).collect(),
        ));
        name.to_owned()
    }
    /// Declares an f32 graph input; `dims` mixes [`Dim::sym`] and [`Dim::fixed`].
    pub fn input_f32<D: Into<Dim>>(
        &mut self,
        name: &str,
        dims: impl IntoIterator<Item = D>,
    ) -> String {
        self.input(name, ElemType::F32, dims)
    }
    /// Declares an i64 graph input.
    pub fn input_i64<D: Into<Dim>>(
        &mut self,
        name: &str,
        dims: impl IntoIterator<Item = D>,
    ) -> String {
        self.input(name, ElemType::I64, dims)
    }

    /// Declares a graph output (a value some node produces, see [`Self::identity_as`]).
    pub fn output<D: Into<Dim>>(
        &mut self,
        name: &str,
        elem: ElemType,
        dims: impl IntoIterator<Item = D>,
    ) -> &mut Self {
        self.outputs.push(value_info(
            name,
            elem,
            dims.into_iter().map(Into::into).collect(),
        ));
        self
    }
    /// Declares an f32 graph output.
    pub fn output_f32<D: Into<Dim>>(
        &mut self,
        name: &str,
        dims: impl IntoIterator<Item = D>,
    ) -> &mut Self {
        self.output(name, ElemType::F32, dims)
    }
    /// Declares an i64 graph output.
    pub fn output_i64<D: Into<Dim>>(
        &mut self,
        name: &str,
        dims: impl IntoIterator<Item = D>,
    ) -> &mut Self {
        self.output(name, ElemType::I64, dims)
    }

    /// Adds an f32 initializer (a weight); returns its name. Panics if `data` does not
    /// hold `shape`'s element count (a programming error in the exporter).
    pub fn initializer(&mut self, name: &str, shape: &[i64], data: &[f32]) -> String {
        let n: i64 = shape.iter().product();
        assert_eq!(
            n as usize,
            data.len(),
            "initializer {name}: shape {shape:?} needs {n} values, got {}",
            data.len()
        );
        self.initializers.push(tensor_f32(name, shape, data));
        name.to_owned()
    }
    /// Adds an i64 initializer; returns its name.
    pub fn initializer_i64(&mut self, name: &str, shape: &[i64], data: &[i64]) -> String {
        let n: i64 = shape.iter().product();
        assert_eq!(
            n as usize,
            data.len(),
            "initializer {name}: shape {shape:?} needs {n} values, got {}",
            data.len()
        );
        self.initializers.push(tensor_i64(name, shape, data));
        name.to_owned()
    }
    /// A fresh f32 scalar constant.
    pub fn scalar_f32(&mut self, v: f32) -> String {
        let name = self.fresh("const");
        self.initializer(&name, &[], &[v])
    }
    /// A fresh 1-D i64 constant (axes, shapes).
    pub fn const_i64(&mut self, v: &[i64]) -> String {
        let name = self.fresh("const");
        self.initializer_i64(&name, &[v.len() as i64], v)
    }
    /// A fresh 1-D f32 constant.
    pub fn const_f32(&mut self, v: &[f32]) -> String {
        let name = self.fresh("const");
        self.initializer(&name, &[v.len() as i64], v)
    }

    /// The general node: any op, explicit input and output names, any attributes. An empty
    /// input name marks an omitted optional input.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> &mut Self {
        let name = self.fresh(op);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: Some(name),
            op_type: Some(op.to_owned()),
            attribute: attrs,
            ..Default::default()
        });
        self
    }

    /// A single-output node; returns the output's generated name.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.node(op, inputs, &[&out], attrs);
        out
    }

    /// A node with `n` outputs; returns their generated names.
    pub fn op_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        n: usize,
        attrs: Vec<AttributeProto>,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..n)
            .map(|_| self.fresh(&op.to_ascii_lowercase()))
            .collect();
        let refs: Vec<&str> = outs.iter().map(String::as_str).collect();
        self.node(op, inputs, &refs, attrs);
        outs
    }

    /// Copies `x` into a value called `name` (to give a graph output its contract name).
    pub fn identity_as(&mut self, x: &str, name: &str) -> String {
        self.node("Identity", &[x], &[name], vec![]);
        name.to_owned()
    }

    // ---- typed helpers (opset 17 signatures) ----

    /// `a @ b` (numpy broadcasting).
    pub fn matmul(&mut self, a: &str, b: &str) -> String {
        self.op("MatMul", &[a, b], vec![])
    }
    /// `a + b`.
    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", &[a, b], vec![])
    }
    /// `a - b`.
    pub fn sub(&mut self, a: &str, b: &str) -> String {
        self.op("Sub", &[a, b], vec![])
    }
    /// `a * b`.
    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.op("Mul", &[a, b], vec![])
    }
    /// `a / b`.
    pub fn div(&mut self, a: &str, b: &str) -> String {
        self.op("Div", &[a, b], vec![])
    }
    /// `x @ w + b` with `w` shaped `[in, out]` (torch's `Linear` weight transposed).
    pub fn linear(&mut self, x: &str, w: &str, b: Option<&str>) -> String {
        let h = self.matmul(x, w);
        match b {
            Some(b) => self.add(&h, b),
            None => h,
        }
    }
    /// `Gemm`: `alpha * A' @ B' + beta * C` on 2-D operands.
    pub fn gemm(
        &mut self,
        a: &str,
        b: &str,
        c: Option<&str>,
        trans_a: bool,
        trans_b: bool,
    ) -> String {
        let attrs = vec![
            attr::int("transA", trans_a as i64),
            attr::int("transB", trans_b as i64),
        ];
        match c {
            Some(c) => self.op("Gemm", &[a, b, c], attrs),
            None => self.op("Gemm", &[a, b], attrs),
        }
    }
    /// `max(x, 0)`.
    pub fn relu(&mut self, x: &str) -> String {
        self.op("Relu", &[x], vec![])
    }
    /// `tanh(x)`.
    pub fn tanh(&mut self, x: &str) -> String {
        self.op("Tanh", &[x], vec![])
    }
    /// `1 / (1 + e^-x)`.
    pub fn sigmoid(&mut self, x: &str) -> String {
        self.op("Sigmoid", &[x], vec![])
    }
    /// `e^x`.
    pub fn exp(&mut self, x: &str) -> String {
        self.op("Exp", &[x], vec![])
    }
    /// `sqrt(x)`.
    pub fn sqrt(&mut self, x: &str) -> String {
        self.op("Sqrt", &[x], vec![])
    }
    /// `-x`.
    pub fn neg(&mut self, x: &str) -> String {
        self.op("Neg", &[x], vec![])
    }
    /// GELU, exact (erf) form: `0.5 x (1 + erf(x / √2))` (opset 17 has no `Gelu` op).
    pub fn gelu(&mut self, x: &str) -> String {
        let inv_sqrt2 = self.scalar_f32(std::f32::consts::FRAC_1_SQRT_2);
        let half = self.scalar_f32(0.5);
        let one = self.scalar_f32(1.0);
        let s = self.mul(x, &inv_sqrt2);
        let e = self.op("Erf", &[&s], vec![]);
        let e1 = self.add(&e, &one);
        let xe = self.mul(x, &e1);
        self.mul(&xe, &half)
    }
    /// Softmax along `axis`.
    pub fn softmax(&mut self, x: &str, axis: i64) -> String {
        self.op("Softmax", &[x], vec![attr::int("axis", axis)])
    }
    /// `ReduceSum` over `axes` (axes are an input since opset 13).
    pub fn reduce_sum(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        let axes = self.const_i64(axes);
        self.op(
            "ReduceSum",
            &[x, &axes],
            vec![attr::int("keepdims", keepdims as i64)],
        )
    }
    /// `ReduceMean` over `axes` (an attribute up to opset 17).
    pub fn reduce_mean(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        self.op(
            "ReduceMean",
            &[x],
            vec![
                attr::ints("axes", axes),
                attr::int("keepdims", keepdims as i64),
            ],
        )
    }
    /// `ReduceMax` over `axes` (an attribute up to opset 17).
    pub fn reduce_max(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        self.op(
            "ReduceMax",
            &[x],
            vec![
                attr::ints("axes", axes),
                attr::int("keepdims", keepdims as i64),
            ],
        )
    }
    /// `min(max(x, lo), hi)` with constant bounds.
    pub fn clip(&mut self, x: &str, lo: f32, hi: f32) -> String {
        let lo = self.scalar_f32(lo);
        let hi = self.scalar_f32(hi);
        self.op("Clip", &[x, &lo, &hi], vec![])
    }
    /// `Gather(data, indices, axis)` (embedding lookup with axis 0).
    pub fn gather(&mut self, data: &str, indices: &str, axis: i64) -> String {
        self.op("Gather", &[data, indices], vec![attr::int("axis", axis)])
    }
    /// Inserts size-1 axes.
    pub fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        let axes = self.const_i64(axes);
        self.op("Unsqueeze", &[x, &axes], vec![])
    }
    /// Removes size-1 axes.
    pub fn squeeze(&mut self, x: &str, axes: &[i64]) -> String {
        let axes = self.const_i64(axes);
        self.op("Squeeze", &[x, &axes], vec![])
    }
    /// Concatenates along `axis`.
    pub fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        self.op("Concat", xs, vec![attr::int("axis", axis)])
    }
    /// Reshapes to a constant shape (`0` copies the input's size, `-1` infers one size).
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let shape = self.const_i64(shape);
        self.op("Reshape", &[x, &shape], vec![])
    }
    /// Reshapes to a shape computed in the graph (an i64 1-D value).
    pub fn reshape_dyn(&mut self, x: &str, shape: &str) -> String {
        self.op("Reshape", &[x, shape], vec![])
    }
    /// The shape of `x` as an i64 1-D value.
    pub fn shape(&mut self, x: &str) -> String {
        self.op("Shape", &[x], vec![])
    }
    /// Permutes axes.
    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op("Transpose", &[x], vec![attr::ints("perm", perm)])
    }
    /// `LayerNormalization` over the axes from `axis` on (opset 17).
    pub fn layer_norm(
        &mut self,
        x: &str,
        scale: &str,
        bias: Option<&str>,
        axis: i64,
        epsilon: f32,
    ) -> String {
        let attrs = vec![attr::int("axis", axis), attr::float("epsilon", epsilon)];
        match bias {
            Some(b) => self.op("LayerNormalization", &[x, scale, b], attrs),
            None => self.op("LayerNormalization", &[x, scale], attrs),
        }
    }
    /// `cond ? a : b`.
    pub fn where_(&mut self, cond: &str, a: &str, b: &str) -> String {
        self.op("Where", &[cond, a, b], vec![])
    }
    /// Casts to `to`.
    pub fn cast(&mut self, x: &str, to: ElemType) -> String {
        self.op("Cast", &[x], vec![attr::int("to", to.code() as i64)])
    }
    /// `a == b` (bool).
    pub fn equal(&mut self, a: &str, b: &str) -> String {
        self.op("Equal", &[a, b], vec![])
    }
    /// `a > b` (bool).
    pub fn greater(&mut self, a: &str, b: &str) -> String {
        self.op("Greater", &[a, b], vec![])
    }
    /// `max(a, b)`.
    pub fn max(&mut self, a: &str, b: &str) -> String {
        self.op("Max", &[a, b], vec![])
    }

    /// Checks the graph and wraps it in a model with the opset, IR version, producer and
    /// `metadata`. Errors name the first undefined value, duplicate definition or output
    /// no node produces.
    pub fn finish(self, metadata: &Metadata) -> Result<ModelProto, ModelError> {
        self.finish_with_props(metadata.to_props())
    }

    /// [`Self::finish`] with raw `metadata_props` (tests write deliberately wrong ones).
    pub fn finish_with_props(self, props: Vec<(String, String)>) -> Result<ModelProto, ModelError> {
        let bad = |m: String| ModelError::Graph {
            graph: self.name.clone(),
            reason: m,
        };
        let mut defined: HashSet<String> = HashSet::new();
        for v in self
            .inputs
            .iter()
            .map(|v| v.name.clone().unwrap_or_default())
            .chain(
                self.initializers
                    .iter()
                    .map(|t| t.name.clone().unwrap_or_default()),
            )
        {
            if !defined.insert(v.clone()) {
                return Err(bad(format!(
                    "value `{v}` is declared twice (as input or initializer)"
                )));
            }
        }
        for n in &self.nodes {
            let op = n.op_type.as_deref().unwrap_or("?");
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                if !defined.contains(i) {
                    return Err(bad(format!(
                        "{op} node reads `{i}`, which no input, initializer or earlier node defines"
                    )));
                }
            }
            for o in &n.output {
                if !defined.insert(o.clone()) {
                    return Err(bad(format!(
                        "{op} node writes `{o}`, which is already defined"
                    )));
                }
            }
        }
        for o in &self.outputs {
            let name = o.name.as_deref().unwrap_or_default();
            if !defined.contains(name) {
                return Err(bad(format!(
                    "output `{name}` is declared but nothing produces it"
                )));
            }
        }
        if self.outputs.is_empty() {
            return Err(bad("the graph declares no outputs".into()));
        }
        let graph = GraphProto {
            node: self.nodes,
            name: Some(self.name),
            initializer: self.initializers,
            doc_string: self.doc,
            input: self.inputs,
            output: self.outputs,
            ..Default::default()
        };
        Ok(ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(OPSET),
            }],
            producer_name: Some("recut".into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            graph: Some(graph),
            metadata_props: props
                .into_iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: Some(k),
                    value: Some(v),
                })
                .collect(),
            ..Default::default()
        })
    }
}

/// Encoding, writing and reading back [`ModelProto`]s.
pub trait OnnxModelExt: Sized {
    /// The protobuf bytes of the `.onnx` file.
    fn encode(&self) -> Vec<u8>;
    /// Writes the `.onnx` file (via a temporary file and a rename, so a reader never sees
    /// half a model).
    fn write(&self, path: &Path) -> Result<(), ModelError>;
    /// Parses `.onnx` bytes (protobuf, and a graph present).
    fn parse(bytes: &[u8]) -> Result<Self, ModelError>;
    /// A `metadata_props` value.
    fn meta(&self, key: &str) -> Option<&str>;
    /// Sets (or replaces) a `metadata_props` value.
    fn set_meta(&mut self, key: &str, value: &str);
}

impl OnnxModelExt for ModelProto {
    fn encode(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    fn write(&self, path: &Path) -> Result<(), ModelError> {
        let io = |e: std::io::Error| ModelError::Write {
            path: path.to_owned(),
            source: e,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, self.encode_to_vec()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let m = <ModelProto as Message>::decode(bytes).map_err(|e| ModelError::Corrupt {
            path: "<bytes>".into(),
            reason: format!("not an ONNX protobuf: {e}"),
        })?;
        if m.graph.is_none() || m.ir_version.is_none() {
            return Err(ModelError::Corrupt {
                path: "<bytes>".into(),
                reason:
                    "parses as protobuf but has no graph or IR version, so it is not an ONNX model"
                        .into(),
            });
        }
        Ok(m)
    }

    fn meta(&self, key: &str) -> Option<&str> {
        self.metadata_props
            .iter()
            .rev()
            .find(|p| p.key.as_deref() == Some(key))
            .and_then(|p| p.value.as_deref())
    }

    fn set_meta(&mut self, key: &str, value: &str) {
        self.metadata_props
            .retain(|p| p.key.as_deref() != Some(key));
        self.metadata_props.push(StringStringEntryProto {
            key: Some(key.into()),
            value: Some(value.into()),
        });
    }
}
