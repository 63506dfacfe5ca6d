//! A dense layer on a tile of ReLU outputs, over the input columns that are not all zero.
//!
//! After a ReLU most of a hidden layer's outputs are exactly 0: in the tutorial's trained model
//! 72% of the first layer's, and in a 48-row training tile about 41% of its 256 columns are 0 in
//! every row. Such a column adds nothing to the next layer's output, its row of that layer's
//! kernel gradient is 0, and the gradient flowing back into it is masked by the ReLU anyway. So
//! the product that carries the gradient back runs on the tile's active columns only, gathered
//! into a narrower matrix with the matching columns of the transposed kernel. The forward
//! product and the kernel gradient go further, per group of 4 rows over that group's own live
//! columns ([`dense_rows`], [`add_kernel_grad`]); where the engine's kernel is not in use they
//! too run on the gathered columns. Skipped terms are exact zeros.

use crate::layers::{Activation, Dense};
use crate::matmul::{Op, RowGroups, add_kernel_grad, dense_rows, gemm};
use crate::simd::{active_columns, add_assign, compress, expand, nonzero_columns};

/// Gather when at most this fraction of the columns is active (below it, the copies cost more
/// than the skipped arithmetic saves).
const MAX_ACTIVE: f32 = 0.875;

/// One layer's gathered view of the current tile (buffers reused from tile to tile).
#[derive(Debug)]
pub(super) struct ActiveColumns {
    /// Whether the current tile was gathered (else the layer runs on the whole input).
    gathered: bool,
    /// Per 16 columns of the input, bit `b` set when column `16·chunk + b` is not zero in
    /// some row of the tile: what the gathers below copy.
    masks: Vec<u16>,
    /// The live columns of each group of 4 rows, when the forward product and the kernel
    /// gradient run per group ([`dense_rows`], [`add_kernel_grad`]): found with `masks`, in
    /// the same pass over the tile.
    groups: RowGroups,
    /// Whether `groups` holds the current tile's.
    grouped: bool,
    /// How many columns are active.
    active: usize,
    /// The input's active columns: `[rows, active]` (plus 16 floats of slack for the
    /// vector gathers' last store), copied when a product runs on the gathered columns.
    x: Vec<f32>,
    /// The kernel's rows for them: `[active, units]` (copied by [`forward`](Self::forward)
    /// when it runs the product on the gathered columns).
    w: Vec<f32>,
    /// The transposed kernel's columns for them: `[units, active]` (+ slack).
    wt: Vec<f32>,
    /// d loss / d those kernel rows: `[active, units]`.
    dw: Vec<f32>,
    /// d loss / d those input columns: `[rows, active]` (+ slack).
    dx: Vec<f32>,
}

impl ActiveColumns {
    /// Buffers for tiles of up to `rows` rows into `layer`, allocated once: a warm training
    /// step allocates nothing.
    pub(super) fn new(layer: &Dense, rows: usize) -> Self {
        let (width, units) = (layer.input_dim, layer.units);
        ActiveColumns {
            gathered: false,
            masks: Vec::with_capacity(width.div_ceil(16)),
            groups: RowGroups::default(),
            grouped: false,
            active: 0,
            x: Vec::with_capacity(rows * width + 16),
            w: Vec::with_capacity(width * units),
            wt: Vec::with_capacity(units * width + 16),
            dw: Vec::with_capacity(width * units),
            dx: Vec::with_capacity(rows * width + 16),
        }
    }

    /// Finds the columns of `x` (`[rows, layer.input_dim]`) that are not zero in every row and,
    /// when few enough of them are, gathers them and their kernel rows (`transposed`: the
    /// kernel as `[units, input_dim]`) for [`forward`](Self::forward) and
    /// [`backward`](Self::backward). Returns whether it did.
    pub(super) fn gather(
        &mut self,
        layer: &Dense,
        transposed: &[f32],
        x: &[f32],
        rows: usize,
    ) -> bool {
        let (width, units) = (layer.input_dim, layer.units);
        let x = &x[..rows * width];
        self.masks.resize(width.div_ceil(16), 0);
        self.grouped = units >= 16 && self.groups.find(x, width, rows, &mut self.masks);
        if !self.grouped {
            nonzero_columns(x, width, &mut self.masks);
        }
        let n: usize = self.masks.iter().map(|m| m.count_ones() as usize).sum();
        self.active = n;
        self.gathered = (n as f32) <= MAX_ACTIVE * width as f32;
        if !self.gathered {
            return false;
        }
        self.wt.resize(units * n + 16, 0.0);
        for (j, row) in transposed[..units * width].chunks_exact(width).enumerate() {
            compress(&self.masks, row, &mut self.wt[j * n..]);
        }
        true
    }

    /// `out = act(x · kernel + bias)` for the gathered tile (`x`: the whole input, as given to
    /// [`gather`](Self::gather)): [`Dense::forward`] without the inactive columns. A layer of a
    /// vector's width or more runs as [`dense_rows`]: each 4 rows over only their own live
    /// columns (34% of them in the tutorial's model, against 54% for the tile).
    pub(super) fn forward(&mut self, layer: &Dense, x: &[f32], rows: usize, out: &mut [f32]) {
        let (n, units, width) = (self.active, layer.units, layer.input_dim);
        let out = &mut out[..rows * units];
        let relu = layer.activation == Activation::Relu;
        let x = &x[..rows * width];
        let layer_parts = (&layer.kernel[..], &layer.bias[..], relu);
        if self.grouped && dense_rows(x, width, &self.groups, layer_parts, out) {
            return;
        }
        self.w.clear();
        for c in active_columns(&self.masks) {
            self.w
                .extend_from_slice(&layer.kernel[c * units..][..units]);
        }
        for row in out.chunks_exact_mut(units) {
            row.copy_from_slice(&layer.bias);
        }
        self.gather_x(x, width, rows);
        gemm(rows, n, units, &self.x, Op::N, &self.w, Op::N, 1.0, out);
        layer.activation.forward(out);
    }

    /// Copies the tile's active columns of `x` (`[rows, width]`) into `self.x`, for the
    /// products that run on them.
    fn gather_x(&mut self, x: &[f32], width: usize, rows: usize) {
        let n = self.active;
        self.x.resize(rows * n + 16, 0.0);
        for (r, row) in x[..rows * width].chunks_exact(width).enumerate() {
            compress(&self.masks, row, &mut self.x[r * n..]);
        }
    }

    /// Given `x` (the tile's input, as given to [`gather`](Self::gather)) and `d_z` (d loss / d
    /// the pre-activation, `[rows, units]`), adds the tile's share of the kernel gradient into
    /// `d_kernel` (`[input_dim, units]`; rows of inactive columns get nothing) and writes
    /// d loss / d the input into `d_x` (`[rows, input_dim]`; 0 in the inactive columns, which
    /// the ReLU before masks in any case). A layer of a vector's width or more adds its kernel
    /// gradient per group of 4 rows, into the rows of their own live columns only
    /// ([`add_kernel_grad`]).
    pub(super) fn backward(
        &mut self,
        layer: &Dense,
        x: &[f32],
        rows: usize,
        d_z: &[f32],
        d_kernel: &mut [f32],
        d_x: &mut [f32],
    ) {
        let (n, units, width) = (self.active, layer.units, layer.input_dim);
        let d_z = &d_z[..rows * units];
        let x = &x[..rows * width];
        if !(self.grouped && add_kernel_grad(x, width, &self.groups, d_z, units, d_kernel)) {
            // d kernel rows = xᵀ · d_z : [n, rows] · [rows, units]
            self.gather_x(x, width, rows);
            self.dw.resize(n * units, 0.0);
            gemm(
                n,
                rows,
                units,
                &self.x,
                Op::T,
                d_z,
                Op::N,
                0.0,
                &mut self.dw,
            );
            for (c, dw) in active_columns(&self.masks).zip(self.dw.chunks_exact(units)) {
                add_assign(&mut d_kernel[c * units..][..units], dw);
            }
        }
        // d x = d_z · kernelᵀ : [rows, units] · [units, n]
        self.dx.resize(rows * n + 16, 0.0);
        gemm(
            rows,
            units,
            n,
            d_z,
            Op::N,
            &self.wt,
            Op::N,
            0.0,
            &mut self.dx,
        );
        for (r, d_x) in d_x[..rows * width].chunks_exact_mut(width).enumerate() {
            expand(&self.masks, &self.dx[r * n..], d_x);
        }
    }

    /// Whether the current tile was gathered by [`gather`](Self::gather).
    pub(super) fn gathered(&self) -> bool {
        self.gathered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;
    use crate::gradcheck::test_values;

    /// Equal up to the last bit or two (the engine's kernel sums in the same order either way;
    /// other backends may block the sums differently).
    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-6 * y.abs().max(1.0),
                "{what} [{i}]: {x} vs {y}"
            );
        }
    }

    /// On a tile with dead and live columns, the gathered forward and backward equal the
    /// whole layer's, exactly; a tile with (nearly) every column live is not gathered. A
    /// layer of 24 units runs its forward product per group of rows, one of 8 on the gathered
    /// columns.
    #[test]
    fn equals_the_whole_layer_on_a_tile_with_zero_columns() {
        for units in [24, 8] {
            equals_the_whole_layer(13, 40, units);
        }
    }

    fn equals_the_whole_layer(rows: usize, width: usize, units: usize) {
        let layer = Dense {
            kernel: test_values(width * units, 0.1),
            bias: test_values(units, 0.2),
            input_dim: width,
            units,
            activation: Activation::Relu,
        };
        let mut x: Vec<f32> = test_values(rows * width, 0.3)
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        for row in x.chunks_exact_mut(width) {
            row[5..25].fill(0.0);
        }
        x[2 * width + 7] = 0.5; // column 7 alive in one row only
        let d_out = test_values(rows * units, 0.4);

        let mut out_ref = vec![0.0; rows * units];
        layer.forward(&x, rows, &mut out_ref);
        let mut d_ref = d_out.clone();
        let mut g_ref = layer.zero_grads();
        let mut dx_ref = vec![0.0; rows * width];
        layer.backward(
            &x,
            &out_ref,
            rows,
            &mut d_ref,
            &mut g_ref,
            Some(&mut dx_ref),
        );

        let mut transposed = vec![0.0; width * units];
        for (i, row) in layer.kernel.chunks_exact(units).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                transposed[j * width + i] = v;
            }
        }
        let mut active = ActiveColumns::new(&layer, rows);
        assert!(active.gather(&layer, &transposed, &x, rows));
        assert_eq!(active.active, width - 19);
        let mut out = vec![f32::NAN; rows * units];
        active.forward(&layer, &x, rows, &mut out);
        close(&out, &out_ref, "output");
        let mut d = d_out.clone();
        layer.activation.backward(&out, &mut d);
        let mut d_kernel = vec![1.0; width * units];
        let mut d_x = vec![f32::NAN; rows * width];
        active.backward(&layer, &x, rows, &d, &mut d_kernel, &mut d_x);
        let want: Vec<f32> = g_ref.kernel.iter().map(|g| 1.0 + g).collect();
        close(&d_kernel, &want, "kernel gradient, added");
        let dead = |c: usize| (5..25).contains(&(c % width)) && c % width != 7;
        let want: Vec<f32> = (dx_ref.iter().enumerate())
            .map(|(c, &v)| if dead(c) { 0.0 } else { v })
            .collect();
        close(&d_x, &want, "d x");

        let dense: Vec<f32> = test_values(rows * width, 0.5)
            .iter()
            .map(|v| v.abs() + 0.1)
            .collect();
        assert!(!active.gather(&layer, &transposed, &dense, rows));
        assert!(!active.gathered());
    }
}
