//! What libtorch this trainer runs on: the first thing to check when training misbehaves
//! on a new machine.

use crate::device;
use std::fmt;

/// Facts about the loaded libtorch.
#[derive(Debug, Clone)]
pub struct TorchInfo {
    /// Version of the libtorch headers the trainer was built against.
    pub libtorch_version: &'static str,
    /// Lib dir the build linked against (also the rpath).
    pub linked_lib_dir: &'static str,
    /// The `libtorch_cpu.so` actually mapped into this process, when it can be told.
    pub loaded_from: Option<String>,
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn_available: bool,
    pub threads: i32,
    pub interop_threads: i32,
    pub device: String,
}

impl TorchInfo {
    /// Queries libtorch (initialises it).
    pub fn collect() -> Self {
        Self {
            libtorch_version: env!("RECUT_LIBTORCH_VERSION"),
            linked_lib_dir: env!("RECUT_LIBTORCH_LIB"),
            loaded_from: loaded_library("libtorch_cpu.so"),
            cuda_available: tch::Cuda::is_available(),
            cuda_devices: tch::Cuda::device_count(),
            cudnn_available: tch::Cuda::cudnn_is_available(),
            threads: tch::get_num_threads(),
            interop_threads: tch::get_num_interop_threads(),
            device: device::device_name(device::pick_device()),
        }
    }
}

impl fmt::Display for TorchInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "libtorch version:  {}", self.libtorch_version)?;
        writeln!(f, "linked against:    {}", self.linked_lib_dir)?;
        if let Some(path) = &self.loaded_from {
            writeln!(f, "loaded from:       {path}")?;
        }
        writeln!(
            f,
            "CUDA available:    {} ({} devices, cuDNN {})",
            self.cuda_available, self.cuda_devices, self.cudnn_available
        )?;
        writeln!(
            f,
            "threads:           {} (inter-op {})",
            self.threads, self.interop_threads
        )?;
        write!(f, "training device:   {}", self.device)
    }
}

/// Path of a shared library mapped into this process (Linux `/proc/self/maps`).
fn loaded_library(name: &str) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.rsplit('/').next() == Some(name))
        .map(str::to_owned)
}
