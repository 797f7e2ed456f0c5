//! Padded model inputs built from per-song slices.

use recut_engine::FEATURE_DIM;
use tch::{Device, Tensor};

/// `features` f32 `[B, T, 125]`, `actions` i64 `[B, T]`, `mask` f32 `[B, T]`, padded to the
/// longest item (padding: zero features, action Keep, mask 0).
#[derive(Debug)]
pub struct Batch {
    pub features: Tensor,
    pub actions: Tensor,
    pub mask: Tensor,
}

/// The same inputs as flat vectors (what the ONNX side is fed), with `T`.
#[derive(Debug, Clone)]
pub struct PackedInputs {
    pub batch: usize,
    pub t: usize,
    pub features: Vec<f32>,
    pub actions: Vec<i64>,
    pub mask: Vec<f32>,
}

impl PackedInputs {
    /// Packs items of (features, actions); `actions` may be empty for policy inputs (all
    /// Keep). Panics if an item's actions are non-empty and differ in length from its
    /// features (a programming error).
    pub fn pack(items: &[(&[[f32; FEATURE_DIM]], &[u8])]) -> PackedInputs {
        let b = items.len();
        let t = items.iter().map(|(f, _)| f.len()).max().unwrap_or(0).max(1);
        let mut features = vec![0f32; b * t * FEATURE_DIM];
        let mut actions = vec![0i64; b * t];
        let mut mask = vec![0f32; b * t];
        for (bi, (f, a)) in items.iter().enumerate() {
            assert!(
                a.is_empty() || a.len() == f.len(),
                "item {bi}: {} beats but {} actions",
                f.len(),
                a.len()
            );
            for (i, row) in f.iter().enumerate() {
                let at = (bi * t + i) * FEATURE_DIM;
                features[at..at + FEATURE_DIM].copy_from_slice(row);
                mask[bi * t + i] = 1.0;
                actions[bi * t + i] = a.get(i).copied().unwrap_or(0) as i64;
            }
        }
        PackedInputs {
            batch: b,
            t,
            features,
            actions,
            mask,
        }
    }

    /// The tensors on `device`.
    pub fn to_batch(&self, device: Device) -> Batch {
        let (b, t) = (self.batch as i64, self.t as i64);
        Batch {
            features: Tensor::from_slice(&self.features)
                .view([b, t, FEATURE_DIM as i64])
                .to_device(device),
            actions: Tensor::from_slice(&self.actions)
                .view([b, t])
                .to_device(device),
            mask: Tensor::from_slice(&self.mask)
                .view([b, t])
                .to_device(device),
        }
    }
}

impl Batch {
    /// Packs and uploads items of (features, actions).
    pub fn new(items: &[(&[[f32; FEATURE_DIM]], &[u8])], device: Device) -> Batch {
        PackedInputs::pack(items).to_batch(device)
    }
}

/// A tensor's values as `Vec<f32>` (any device, any float kind, any shape; row-major).
pub fn to_vec_f32(t: &Tensor) -> Vec<f32> {
    let flat = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(tch::Kind::Float)
        .contiguous()
        .flatten(0, -1);
    Vec::<f32>::try_from(&flat).expect("float tensor converts to Vec<f32>")
}
