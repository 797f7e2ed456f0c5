//! libtorch links, loads through the rpath and computes correct gradients on the CPU.

use tch::{Device, Kind, Tensor};

/// Loss L(W) = sum((X·W)²). Analytic gradient: dL/dW = 2·Xᵀ·(X·W). Also checked against a
/// central finite difference on one entry, so a wrong backward (or a wrong matmul) fails.
#[test]
fn matmul_backward_matches_analytic_and_numeric_gradient() {
    tch::manual_seed(7);
    let opts = (Kind::Double, Device::Cpu);
    let x = Tensor::randn([5, 4], opts);
    let w = Tensor::randn([4, 3], opts).set_requires_grad(true);

    let loss = x.matmul(&w).pow_tensor_scalar(2).sum(Kind::Double);
    loss.backward();
    let grad = w.grad();

    let analytic = (x.tr().matmul(&x.matmul(&w.detach()))) * 2.0;
    let max_err = (&grad - &analytic).abs().max().double_value(&[]);
    assert!(
        max_err < 1e-9,
        "autograd differs from 2·Xᵀ·X·W by {max_err}"
    );

    let loss_at = |w: &Tensor| {
        x.matmul(w)
            .pow_tensor_scalar(2)
            .sum(Kind::Double)
            .double_value(&[])
    };
    let eps = 1e-6;
    let w0 = w.detach();
    let bump = |delta: f64| {
        let w = w0.copy();
        let _ = w.get(1).get(2).fill_(w0.double_value(&[1, 2]) + delta);
        loss_at(&w)
    };
    let numeric = (bump(eps) - bump(-eps)) / (2.0 * eps);
    let autograd = grad.double_value(&[1, 2]);
    assert!(
        (numeric - autograd).abs() < 1e-5 * numeric.abs().max(1.0),
        "finite difference {numeric} vs autograd {autograd}"
    );
}

#[test]
fn small_matmul_has_known_result() {
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
    let b = Tensor::from_slice(&[5.0f32, 6.0, 7.0, 8.0]).view([2, 2]);
    let c: Vec<f32> = Vec::try_from(a.matmul(&b).flatten(0, -1)).unwrap();
    assert_eq!(c, vec![19.0, 22.0, 43.0, 50.0]);
}
