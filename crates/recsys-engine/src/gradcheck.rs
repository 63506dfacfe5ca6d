//! Central finite differences, the reference every hand-derived gradient is checked against.
//!
//! Public so that code building new layers on this engine can check them the same way.

/// Checks `analytic[i]` against `(loss(x + eps·e_i) − loss(x − eps·e_i)) / 2eps` for every `i`.
///
/// `loss` reads the perturbed `params`; the computation under test runs in `f32`, so the
/// tolerance is relative to the larger of 1 and the gradient's size.
pub fn check_gradient(
    what: &str,
    params: &mut [f32],
    analytic: &[f32],
    mut loss: impl FnMut(&[f32]) -> f64,
) {
    assert_eq!(params.len(), analytic.len(), "{what}: gradient length");
    let eps = 1e-2f32;
    for i in 0..params.len() {
        let orig = params[i];
        params[i] = orig + eps;
        let up = loss(params);
        params[i] = orig - eps;
        let down = loss(params);
        params[i] = orig;
        let numeric = (up - down) / (2.0 * eps as f64);
        let scale = 1f64.max(numeric.abs()).max((analytic[i] as f64).abs());
        assert!(
            (numeric - analytic[i] as f64).abs() <= 2e-3 * scale,
            "{what}[{i}]: analytic {} vs finite difference {numeric}",
            analytic[i]
        );
    }
}

/// Deterministic, well-spread test values in `[-1, 1]` (no RNG needed in tests).
pub fn test_values(n: usize, salt: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 + 1.0) * 0.618 + salt).sin())
        .collect()
}
