//! Which device training runs on.

use tch::{Cuda, Device};

/// CUDA device 0 when libtorch sees a GPU, else the CPU: training uses a GPU where one is
/// lent and still works everywhere else.
pub fn pick_device() -> Device {
    pick_device_from(Cuda::is_available())
}

/// The choice itself, separated so it can be tested without a GPU.
pub fn pick_device_from(cuda_available: bool) -> Device {
    if cuda_available {
        Device::Cuda(0)
    } else {
        Device::Cpu
    }
}

/// A short name for logs and `recut-trainer info`: `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_owned(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_to_cpu_without_cuda() {
        assert_eq!(pick_device_from(false), Device::Cpu);
        assert_eq!(pick_device_from(true), Device::Cuda(0));
        assert_eq!(device_name(Device::Cuda(1)), "cuda:1");
    }
}
