//! A training step through the whole tower a tile of rows at a time.
//!
//! Layer by layer over a batch of 8,192 examples, every activation and every activation
//! gradient of the tutorial's 256-wide first layer is an 8 MiB matrix: written by one product,
//! read back by the next, the step runs at memory speed, not at the speed of the FMA units.
//! Here each thread takes a block of the batch and runs each [`TILE`] of its rows forward
//! through every layer, then backward through every layer, before the next tile starts: the
//! tile's activations and gradients stay in L1/L2. Each thread adds its tiles' kernel and bias
//! gradients into buffers of its own, and its first-layer gradients into its own partial sums
//! per distinct id ([`LookupProjection`]); the blocks' shares are added up once, after. The
//! arithmetic is the textbook step's, summed in another order.
//!
//! The kernels of the later layers are transposed once per step, so the products that carry
//! the gradient back to a layer's input read them in place.
//!
//! A lookup whose batch names most of its rows once (users of a data set with far more users
//! than a batch has examples) gains nothing from the per-distinct-id sums and pays for their
//! 256-wide rows in memory; it goes per example instead
//! ([`Dense::gather_or_project_lookups`]): each tile multiplies its examples' embedding
//! rows by that lookup's block of the first kernel, and carries the gradient back to the rows
//! and the block, while they are in cache (`PerExampleTiles`).
//!
//! The lookup the tiles group the examples by, when each of its rows is named only a few times
//! a batch (the 3,400 titles a batch of a 25M-rating set names, 2.4 times each), goes per run
//! (`RunTiles`): each tile projects the few rows its examples name and carries their summed
//! gradient back to them, in cache, instead of a projected row and per-core partial sums per
//! distinct id making a round trip through memory.

use std::ops::Range;
use std::sync::Mutex;

use super::active_columns::ActiveColumns;
use super::distinct::group_by_key;
use super::lookup_dense::{
    MAX_LOOKUPS, PartialSinks, RunLookup, add_rows, key_lookup, with_columns,
};
use super::tiled::{FirstLayer, TILE, first_layer};
use super::{LookupProjection, Projected, Which};
use crate::layers::{Dense, DenseGrads};
use crate::losses::MeanSquaredError;
use crate::matmul::{Op, gemm};
use crate::parallel::{SharedMut, for_each_block, for_each_split};
use crate::simd::add_assign;

/// Buffers for tiled training steps of a tower whose first layer reads embedding lookups
/// (ranking: the tutorial's model, trained at the speed of its products).
#[derive(Debug)]
pub struct TiledStep {
    /// One per parallel block of examples.
    blocks: Vec<Mutex<Block>>,
    /// Each later layer's kernel, transposed: `[units, input_dim]`.
    transposed: Vec<Vec<f32>>,
    /// The order tiles take the batch's examples in ([`TileOrder`]).
    order: TileOrder,
    /// `[input_dim × units]`: the first layer's kernel block of each lookup that went per
    /// example, transposed (`[units, dim]`), at the block's own place.
    first_transposed: Vec<f32>,
    /// d loss / d the rows of each lookup that went per example, for each example in tile
    /// order: `[examples, dim]` for the lookup whose input columns start at `c`, from
    /// `c × examples` on.
    d_rows: Vec<f32>,
}

/// One thread's working memory.
#[derive(Debug)]
struct Block {
    /// `[TILE, units]` per layer: the first layer's output, then each later layer's.
    acts: Vec<Vec<f32>>,
    /// `[TILE, widest]`: d loss / d the current layer's output, and its input's.
    d: Vec<f32>,
    d_input: Vec<f32>,
    /// This block's share of each later layer's gradients.
    grads: Vec<DenseGrads>,
    /// Each later layer's view of the current tile's active input columns.
    active: Vec<ActiveColumns>,
    /// `[TILE, dim]` per lookup that went per example: the tile's embedding rows.
    rows: Vec<Vec<f32>>,
    /// This block's share of the first layer's gradients in the rows of the lookups that went
    /// per example or per run (the kernel), and of its bias when no lookup was projected ahead.
    first: DenseGrads,
    /// The lookup that went per run ([`RunTiles`]): `[TILE, units]`, the tile's distinct rows
    /// projected, then d loss / d those projections; `[TILE, dim]`, d loss / d the rows.
    run_projected: Vec<f32>,
    run_d_projected: Vec<f32>,
    run_d_rows: Vec<f32>,
    /// Each of the tile's examples' row among the tile's distinct rows.
    run_slots: Vec<u32>,
    /// The block's first row of that lookup, when the block before names it too, and the
    /// block's share of its gradient (added to the row's once both blocks are done).
    carry: Option<u32>,
    carry_grad: Vec<f32>,
}

impl TiledStep {
    /// Buffers for the tower `first`, `later` trained by `tasks` parallel blocks (the number of
    /// partial buffers the lookups were made with: [`LookupProjection::new`]).
    pub fn new(first: &Dense, later: &[Dense], tasks: usize) -> Self {
        let layers = || std::iter::once(first).chain(later);
        let widest = layers()
            .map(|l| l.units.max(l.input_dim))
            .max()
            .unwrap_or(1);
        let block = || Block {
            acts: layers().map(|l| vec![0.0; TILE * l.units]).collect(),
            d: vec![0.0; TILE * widest],
            d_input: vec![0.0; TILE * widest],
            grads: later.iter().map(Dense::zero_grads).collect(),
            active: later.iter().map(|l| ActiveColumns::new(l, TILE)).collect(),
            rows: Vec::new(),
            first: first.zero_grads(),
            run_projected: vec![0.0; TILE * first.units],
            run_d_projected: vec![0.0; TILE * first.units],
            run_d_rows: vec![0.0; TILE * first.input_dim],
            run_slots: vec![0; TILE],
            carry: None,
            carry_grad: vec![0.0; first.input_dim],
        };
        TiledStep {
            blocks: (0..tasks.max(1)).map(|_| Mutex::new(block())).collect(),
            transposed: later.iter().map(|l| vec![0.0; l.kernel.len()]).collect(),
            order: TileOrder::default(),
            first_transposed: vec![0.0; first.kernel.len()],
            d_rows: Vec::new(),
        }
    }

    /// Forward and backward over one batch whose lookups `parts` were projected by
    /// [`Dense::project_lookups`]: writes the predictions (the last layer has one unit), every
    /// layer's gradients into `grads` (first layer first, overwriting) and the embedding rows'
    /// gradients into `parts`, for the MSE loss of `labels` times `weight` (`loss`: 1 for a
    /// model trained on ratings alone, a multitask model's rating weight otherwise).
    ///
    /// # Panics
    /// If the last layer is not one unit wide, or the buffers do not fit the batch or tower.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        first: &Dense,
        parts: &mut [LookupProjection],
        later: &[Dense],
        labels: &[f32],
        loss: (MeanSquaredError, f32),
        predictions: &mut [f32],
        grads: &mut [DenseGrads],
    ) {
        let batch = labels.len();
        assert_eq!(
            later.last().unwrap_or(first).units,
            1,
            "one prediction per row"
        );
        assert_eq!(grads.len(), later.len() + 1, "one gradient per layer");
        for (t, layer) in self.transposed.iter_mut().zip(later) {
            transpose(&layer.kernel, layer.input_dim, layer.units, t);
        }
        let order = &mut self.order;
        order.sort(parts, labels);
        let labels = &order.labels[..batch];
        for part in parts.iter_mut().filter(|p| p.per_run()) {
            part.clear_row_grads();
        }
        let (u, input) = (first.units, first.input_dim);
        let d_rows_len = self.d_rows.len().max(batch * input);
        self.d_rows.resize(d_rows_len, 0.0);
        {
            let sinks = PartialSinks::with_slots(parts, Some(&order.slots));
            assert_eq!(
                sinks.tasks(),
                self.blocks.len(),
                "one block per partial buffer"
            );
            let per_example = sinks.per_example().map(|l| (l.columns, l.dim));
            for (columns, dim) in per_example.chain(sinks.run().map(|l| (l.columns, l.dim))) {
                let block = columns * u..(columns + dim) * u;
                let t = &mut self.first_transposed[block.clone()];
                transpose(&first.kernel[block], dim, u, t);
            }
            let predictions = SharedMut::new(&mut order.predictions[..batch]);
            let tower = Tower {
                first: FirstLayer {
                    first,
                    parts: sinks.projected(),
                    base: &first.bias,
                    accumulate: sinks.per_example().next().is_some(),
                },
                lookups: PerExampleTiles {
                    sinks: &sinks,
                    first,
                    transposed: &self.first_transposed,
                    d_rows: SharedMut::new(&mut self.d_rows[..batch * input]),
                    examples: batch,
                    bias: sinks.projected().is_empty(),
                },
                run: sinks.run().map(|lookup| RunTiles {
                    lookup,
                    first,
                    transposed: &self.first_transposed,
                }),
                later,
                transposed: &self.transposed,
                loss,
                labels,
            };
            tower.run_blocks(&self.blocks, &sinks, &predictions);
            if let Some(run) = &tower.run {
                run.add_carries(&mut self.blocks);
            }
        }
        for (&i, &p) in order.order.iter().zip(&order.predictions[..batch]) {
            predictions[i as usize] = p;
        }
        let (first_grads, later_grads) = grads.split_first_mut().expect("one per layer");
        for (l, g) in later_grads.iter_mut().enumerate() {
            zero(g);
            for block in &mut self.blocks {
                let block = block.get_mut().unwrap_or_else(|e| e.into_inner());
                add(g, &block.grads[l]);
            }
        }
        self.finish_per_example(parts, first_grads, batch);
        first.finish_lookups(parts, first_grads);
    }

    /// The first layer's gradients of the lookups that went per example: their kernel rows
    /// (and the bias, when every lookup did) summed over the blocks, their embedding rows'
    /// summed over each distinct row's examples.
    fn finish_per_example(
        &mut self,
        parts: &mut [LookupProjection],
        grads: &mut DenseGrads,
        batch: usize,
    ) {
        let units = grads.bias.len();
        let lookups = parts.iter_mut().zip(&self.order.slots);
        for (column, (part, slots)) in with_columns(lookups, |(p, _)| p.dim()) {
            let dim = part.dim();
            if part.per_example() || part.per_run() {
                let rows = column * units..(column + dim) * units;
                let kernel = &mut grads.kernel[rows.clone()];
                kernel.fill(0.0);
                for block in &mut self.blocks {
                    let block = block.get_mut().unwrap_or_else(|e| e.into_inner());
                    add_assign(kernel, &block.first.kernel[rows.clone()]);
                }
            }
            if part.per_example() {
                let d = &self.d_rows[column * batch..(column + dim) * batch];
                part.set_row_grads(d, slots);
            }
        }
        if parts.iter().all(|p| p.per_example() || p.per_run()) {
            grads.bias.fill(0.0);
            for block in &mut self.blocks {
                let block = block.get_mut().unwrap_or_else(|e| e.into_inner());
                add_assign(&mut grads.bias, &block.first.bias);
            }
        }
    }
}

/// The batch's examples grouped by the row of the lookup whose rows the most examples share
/// (MovieLens's users: 8,192 ratings name ~940 of them), in the order tiles take them.
///
/// A tile's rows then share most of their first-layer input, so their ReLU outputs are zero in
/// more of the same columns: in the tutorial's trained model the columns live in some row of a
/// 48-row tile fall from 59% to 54%, and the next layer runs on those only
/// ([`ActiveColumns`]). The loss and every gradient are sums over the batch's examples, so
/// the order changes their rounding only; predictions go back to the batch's order.
#[derive(Debug, Default)]
struct TileOrder {
    /// Example `order[j]` is the `j`-th a tile takes.
    order: Vec<u32>,
    /// Per lookup, the slot of each example in that order.
    slots: Vec<Vec<u32>>,
    /// The labels, and the predictions, in that order.
    labels: Vec<f32>,
    predictions: Vec<f32>,
    /// Where each distinct row's examples start in `order` (a counting sort's buckets).
    starts: Vec<u32>,
}

impl TileOrder {
    /// Orders `labels.len()` examples by their row of the lookup with the fewest distinct
    /// rows, first-seen rows first and each row's examples in batch order. Buffers grow to
    /// the largest batch once; later steps allocate nothing.
    fn sort(&mut self, parts: &[LookupProjection], labels: &[f32]) {
        let batch = labels.len();
        let key = &parts[key_lookup(parts)];
        let (rows, slots) = (key.rows().len(), key.slots());
        group_by_key(slots, rows, &mut self.starts, &mut self.order);
        self.slots.resize_with(parts.len(), Vec::new);
        for (sorted, part) in self.slots.iter_mut().zip(parts) {
            let slots = part.slots();
            sorted.clear();
            sorted.extend(self.order.iter().map(|&i| slots[i as usize]));
        }
        self.labels.clear();
        self.labels
            .extend(self.order.iter().map(|&i| labels[i as usize]));
        self.predictions
            .resize(self.predictions.len().max(batch), 0.0);
    }
}

/// What every tile of a step shares.
struct Tower<'a> {
    first: FirstLayer<'a>,
    lookups: PerExampleTiles<'a>,
    run: Option<RunTiles<'a>>,
    later: &'a [Dense],
    transposed: &'a [Vec<f32>],
    /// The loss and its weight.
    loss: (MeanSquaredError, f32),
    labels: &'a [f32],
}

impl Tower<'_> {
    /// The batch split into one block of examples per thread, each block's tiles forward and
    /// backward in turn: the block's gradients go into its own shares (`blocks[t]`, partial
    /// buffers `t` of `sinks`), the predictions into `predictions`.
    fn run_blocks(
        &self,
        blocks: &[Mutex<Block>],
        sinks: &PartialSinks<'_>,
        predictions: &SharedMut<'_>,
    ) {
        let u = self.first.first.units;
        let block = |t: usize, rows: Range<usize>| {
            let mut block = blocks[t].lock().unwrap_or_else(|e| e.into_inner());
            block.grads.iter_mut().for_each(zero);
            self.lookups.start(&mut block);
            if let Some(run) = &self.run {
                run.start(&mut block, rows.start);
            }
            // SAFETY: block `t` is the only one using partial buffers `t`.
            unsafe { sinks.clear(t) };
            for start in rows.clone().step_by(TILE) {
                let end = (start + TILE).min(rows.end);
                // SAFETY: blocks of rows are disjoint, and so are their tiles.
                let out = unsafe { predictions.range(start..end) };
                self.tile(&mut block, start..end, out);
                let d_first = &block.d[..(end - start) * u];
                // SAFETY: block `t` is the only one adding to partial buffers `t`.
                unsafe { sinks.add(t, start, d_first) };
                self.lookups.backward(&mut block, start..end);
                if let Some(run) = &self.run {
                    run.backward(&mut block, start..end);
                }
            }
        };
        let tasks = blocks.len();
        match &self.run {
            Some(run) => {
                let start = |t| block_start(run.lookup.slots, t, tasks);
                for_each_split(tasks, &start, &block);
            }
            None => for_each_block(self.labels.len(), tasks, &block),
        }
    }

    /// Rows `rows` forward through every layer (predictions into `out`), then backward: the
    /// later layers' gradients are added into `block.grads`, and `block.d` is left holding
    /// d loss / d the first layer's pre-activation.
    fn tile(&self, block: &mut Block, rows: std::ops::Range<usize>, out: &mut [f32]) {
        let n = rows.len();
        let batch = self.labels.len();
        self.lookups
            .forward(&mut block.rows, rows.clone(), &mut block.acts[0]);
        let run_rows = self
            .run
            .as_ref()
            .map(|run| run.forward(block, rows.clone()));
        let Block {
            acts,
            d,
            d_input,
            grads,
            active,
            run_projected,
            run_slots,
            ..
        } = block;
        // Each projected lookup's slots of this tile's examples, and the run lookup's rows.
        let mut parts = [Projected {
            rows: &[],
            slots: Which::Own,
        }; MAX_LOOKUPS];
        let mut count = 0;
        for part in self.first.parts {
            let Which::PerExample(slots) = part.slots else {
                unreachable!("a training batch names a row per example")
            };
            parts[count] = Projected {
                rows: part.rows,
                slots: Which::PerExample(&slots[rows.clone()]),
            };
            count += 1;
        }
        if let Some(distinct) = run_rows {
            parts[count] = Projected {
                rows: &run_projected[..distinct * self.first.first.units],
                slots: Which::PerExample(&run_slots[..n]),
            };
            count += 1;
        }
        let first = FirstLayer {
            parts: &parts[..count],
            ..self.first
        };
        first_layer(&first, 0..n, &mut acts[0]);
        for (l, layer) in self.later.iter().enumerate() {
            let (x, y) = acts.split_at_mut(l + 1);
            if active[l].gather(layer, &self.transposed[l], &x[l], n) {
                active[l].forward(layer, &x[l], n, &mut y[0]);
            } else {
                layer.forward(&x[l], n, &mut y[0]);
            }
        }
        let last = &acts[self.later.len()][..n];
        out.copy_from_slice(last);
        for ((d, &p), &y) in d.iter_mut().zip(last).zip(&self.labels[rows]) {
            let (mse, weight) = self.loss;
            *d = mse.gradient(p, y, batch);
            if weight != 1.0 {
                *d *= weight;
            }
        }
        for (l, layer) in self.later.iter().enumerate().rev() {
            let (x, z) = (&acts[l], &acts[l + 1]);
            let (i, u) = (layer.input_dim, layer.units);
            let d_z = &mut d[..n * u];
            layer.activation.backward(&z[..n * u], d_z);
            for row in d_z.chunks_exact(u) {
                add_assign(&mut grads[l].bias, row);
            }
            if active[l].gathered() {
                active[l].backward(layer, x, n, d_z, &mut grads[l].kernel, d_input);
                std::mem::swap(d, d_input);
                continue;
            }
            // d kernel += xᵀ · d_z : [input_dim, n] · [n, units]
            gemm(i, n, u, x, Op::T, d_z, Op::N, 1.0, &mut grads[l].kernel);
            // d x = d_z · kernelᵀ : [n, units] · [units, input_dim]
            gemm(
                n,
                u,
                i,
                d_z,
                Op::N,
                &self.transposed[l],
                Op::N,
                0.0,
                d_input,
            );
            std::mem::swap(d, d_input);
        }
        let u = self.first.first.units;
        let activation = self.first.first.activation;
        activation.backward(&acts[0][..n * u], &mut d[..n * u]);
    }
}

/// The lookups that went per example ([`LookupProjection::per_example`]): each tile multiplies
/// its examples' rows by their blocks of the first layer's kernel itself, and carries the
/// gradient back to those rows and blocks, while the rows are in cache.
struct PerExampleTiles<'a> {
    sinks: &'a PartialSinks<'a>,
    first: &'a Dense,
    /// Their kernel blocks, transposed ([`TiledStep::first_transposed`]).
    transposed: &'a [f32],
    /// d loss / d each example's rows of them ([`TiledStep::d_rows`]), for a batch of
    /// `examples`.
    d_rows: SharedMut<'a>,
    examples: usize,
    /// Whether the tiles sum the bias gradient too (no lookup has per-row sums to take it
    /// from).
    bias: bool,
}

impl PerExampleTiles<'_> {
    /// Zeroes a block's share of the gradients these lookups produce, before its first tile.
    fn start(&self, block: &mut Block) {
        let u = self.first.units;
        for lookup in self.sinks.per_example() {
            block.first.kernel[lookup.columns * u..(lookup.columns + lookup.dim) * u].fill(0.0);
        }
        if self.bias {
            block.first.bias.fill(0.0);
        }
    }

    /// `z = Σ_f rows_f · W_f` over these lookups for the tile's examples `rows` (overwriting
    /// `z`, `[n, units]`, if there is any), each lookup's rows kept in `tile_rows` for
    /// [`backward`](Self::backward).
    fn forward(&self, tile_rows: &mut Vec<Vec<f32>>, rows: Range<usize>, z: &mut [f32]) {
        let (n, u) = (rows.len(), self.first.units);
        for (e, lookup) in self.sinks.per_example().enumerate() {
            let dim = lookup.dim;
            if tile_rows.len() == e {
                tile_rows.push(Vec::new());
            }
            let x = &mut tile_rows[e];
            x.resize(x.len().max(TILE * dim), 0.0);
            let x = &mut x[..n * dim];
            for (x, i) in x.chunks_exact_mut(dim).zip(rows.clone()) {
                let slot = lookup.slots[i] as usize;
                x.copy_from_slice(&lookup.gathered[slot * dim..][..dim]);
            }
            let kernel = &self.first.kernel[lookup.columns * u..(lookup.columns + dim) * u];
            let beta = if e == 0 { 0.0 } else { 1.0 };
            gemm(n, dim, u, x, Op::N, kernel, Op::N, beta, &mut z[..n * u]);
        }
    }

    /// After a tile's backward pass has left d loss / d the first layer's pre-activation in
    /// `block.d`: adds these lookups' kernel gradients into the block's share, and writes
    /// d loss / d each example's rows.
    fn backward(&self, block: &mut Block, rows: Range<usize>) {
        let (n, u) = (rows.len(), self.first.units);
        let d_z = &block.d[..n * u];
        for (e, lookup) in self.sinks.per_example().enumerate() {
            let dim = lookup.dim;
            let x = &block.rows[e][..n * dim];
            let kernel = lookup.columns * u..(lookup.columns + dim) * u;
            // d W_f += rowsᵀ · d_z : [dim, n] · [n, units]
            gemm(
                dim,
                n,
                u,
                x,
                Op::T,
                d_z,
                Op::N,
                1.0,
                &mut block.first.kernel[kernel.clone()],
            );
            // d rows = d_z · W_fᵀ : [n, units] · [units, dim]
            let at = lookup.columns * self.examples;
            // SAFETY: blocks of rows are disjoint, and so are their tiles.
            let d_x = unsafe {
                self.d_rows
                    .range(at + rows.start * dim..at + rows.end * dim)
            };
            gemm(
                n,
                u,
                dim,
                d_z,
                Op::N,
                &self.transposed[kernel],
                Op::N,
                0.0,
                d_x,
            );
        }
        if self.bias {
            for row in d_z.chunks_exact(u) {
                add_assign(&mut block.first.bias, row);
            }
        }
    }
}

/// The lookup that went per run ([`LookupProjection::per_run`]): the one the tiles group the
/// examples by, so a tile's examples name a few of its rows, each in a run of examples. Each
/// tile projects those rows through the lookup's block of the first kernel (once per tile, not
/// per example), and after its backward pass sums the gradient per row and carries it back to
/// the rows and the block. It is the per-distinct-row computation, a tile at a time: its
/// projected rows and gradient sums stay in cache instead of making a round trip to memory
/// (for the 3,400 titles a batch of a 25M-rating set names, 3.4 MB of each, plus a partial
/// sum buffer per core to clear and add up).
///
/// A run that crosses a tile boundary is projected by both tiles and its gradient summed in
/// two parts; one that crosses a block boundary is the only row two blocks share: the later
/// block adds its part into a carry, added to the row's once every block is done.
struct RunTiles<'a> {
    lookup: &'a RunLookup<'a>,
    first: &'a Dense,
    /// Its kernel block, transposed ([`TiledStep::first_transposed`]).
    transposed: &'a [f32],
}

impl RunTiles<'_> {
    /// The rows of the lookup's kernel block within the first kernel, `[dim, units]`.
    fn kernel_rows(&self) -> Range<usize> {
        let (l, u) = (self.lookup, self.first.units);
        l.columns * u..(l.columns + l.dim) * u
    }

    /// The distinct rows examples `rows` name (contiguous: the tiles' order never decreases
    /// the slot), as a range of slots.
    fn distinct(&self, rows: Range<usize>) -> Range<usize> {
        let slots = self.lookup.slots;
        debug_assert!(
            slots[rows.clone()].is_sorted(),
            "the tiles take the runs in order"
        );
        slots[rows.start] as usize..slots[rows.end - 1] as usize + 1
    }

    /// The embeddings of the distinct rows `distinct`, `[distinct.len(), dim]`.
    fn gathered(&self, distinct: &Range<usize>) -> &[f32] {
        let dim = self.lookup.dim;
        &self.lookup.gathered[distinct.start * dim..distinct.end * dim]
    }

    /// Adds `d_row` to the gradient of distinct row `slot`.
    ///
    /// # Safety
    /// No other thread may be adding to the same row (a block's rows other than its carried
    /// one are named by its examples only, the slots never decreasing).
    unsafe fn add_row_grad(&self, slot: usize, d_row: &[f32]) {
        let dim = self.lookup.dim;
        // SAFETY: the caller's contract.
        add_assign(
            unsafe { self.lookup.row_grads.range(slot * dim..(slot + 1) * dim) },
            d_row,
        );
    }

    /// Before a block's first tile (its examples start at `first_row`): zeroes its share of the
    /// kernel block's gradient and notes whether the block before names its first row.
    fn start(&self, block: &mut Block, first_row: usize) {
        block.first.kernel[self.kernel_rows()].fill(0.0);
        let slots = self.lookup.slots;
        block.carry = (first_row > 0 && first_row < slots.len())
            .then(|| slots[first_row])
            .filter(|&slot| slots[first_row - 1] == slot);
        block.carry_grad[..self.lookup.dim].fill(0.0);
    }

    /// Projects the distinct rows examples `rows` name into `block.run_projected` and writes
    /// each example's index among them into `block.run_slots`; returns how many there are.
    fn forward(&self, block: &mut Block, rows: Range<usize>) -> usize {
        let (dim, u) = (self.lookup.dim, self.first.units);
        let distinct = self.distinct(rows.clone());
        let first = distinct.start as u32;
        for (local, &slot) in block.run_slots.iter_mut().zip(&self.lookup.slots[rows]) {
            *local = slot - first;
        }
        let r = distinct.len();
        let kernel = &self.first.kernel[self.kernel_rows()];
        let out = &mut block.run_projected[..r * u];
        gemm(
            r,
            dim,
            u,
            self.gathered(&distinct),
            Op::N,
            kernel,
            Op::N,
            0.0,
            out,
        );
        r
    }

    /// After a tile's backward pass has left d loss / d the first layer's pre-activation in
    /// `block.d`: sums it per distinct row, adds the kernel block's gradient into the block's
    /// share and each row's gradient into the lookup's (or the block's carry).
    fn backward(&self, block: &mut Block, rows: Range<usize>) {
        let (n, dim, u) = (rows.len(), self.lookup.dim, self.first.units);
        let distinct = self.distinct(rows);
        let r = distinct.len();
        let d_projected = &mut block.run_d_projected[..r * u];
        d_projected.fill(0.0);
        add_rows(d_projected, &block.run_slots[..n], &block.d[..n * u], u);
        let gathered = self.gathered(&distinct);
        let kernel = &mut block.first.kernel[self.kernel_rows()];
        // d W_f += rowsᵀ · d_projected : [dim, r] · [r, units]
        gemm(dim, r, u, gathered, Op::T, d_projected, Op::N, 1.0, kernel);
        // d rows = d_projected · W_fᵀ : [r, units] · [units, dim]
        let d_rows = &mut block.run_d_rows[..r * dim];
        let transposed = &self.transposed[self.kernel_rows()];
        gemm(
            r,
            u,
            dim,
            d_projected,
            Op::N,
            transposed,
            Op::N,
            0.0,
            d_rows,
        );
        for (slot, d_row) in distinct.zip(d_rows.chunks_exact(dim)) {
            if block.carry == Some(slot as u32) {
                add_assign(&mut block.carry_grad[..dim], d_row);
                continue;
            }
            // SAFETY: this row is not the block's carried one.
            unsafe { self.add_row_grad(slot, d_row) };
        }
    }

    /// Once every block is done: adds each block's carry into its row's gradient, in block
    /// order.
    fn add_carries(&self, blocks: &mut [Mutex<Block>]) {
        let dim = self.lookup.dim;
        for block in blocks {
            let block = block.get_mut().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = block.carry {
                // SAFETY: no block runs now.
                unsafe { self.add_row_grad(slot as usize, &block.carry_grad[..dim]) };
            }
        }
    }
}

/// What projecting a run of examples costs a tile, in examples' work: the run's row goes
/// through the three products of its kernel block (forward, the block's gradient, the row's),
/// as one example's user row does in a 25M-rating set, ~1,500 of an example's ~6,000 cycles
/// there. Of 0, 0.15, 0.3, 0.45 and 0.6, 0.3 and 0.45 gave that set's shortest epochs.
const RUN_COST: f32 = 0.3;

/// Where block `t` of `tasks` starts, for the examples of a lookup that went per run whose
/// slots in the tiles' order are `slots`: each block gets about the same work, an example's
/// for each example plus [`RUN_COST`] for each run its tiles project. The tiles take the runs
/// most-named first (first seen in the batch), so an even split would leave the long runs to
/// the first block and the rows named once, each projected for one example, to the last
/// (a 25M-rating set's epoch: 5% longer).
fn block_start(slots: &[u32], t: usize, tasks: usize) -> usize {
    let n = slots.len();
    if t >= tasks {
        return n;
    }
    // Examples `0..i` and the runs they name (the slots count up from 0).
    let cost = |i: usize| {
        let runs = slots[..i].last().map_or(0.0, |&s| s as f32 + 1.0);
        i as f32 + RUN_COST * runs
    };
    let target = cost(n) * t as f32 / tasks as f32;
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if cost(mid) < target {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `t = mᵀ` for `m` of `rows × cols`, row-major.
fn transpose(m: &[f32], rows: usize, cols: usize, t: &mut [f32]) {
    for (r, row) in m.chunks_exact(cols).take(rows).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c * rows + r] = v;
        }
    }
}

fn zero(g: &mut DenseGrads) {
    g.kernel.fill(0.0);
    g.bias.fill(0.0);
}

fn add(g: &mut DenseGrads, other: &DenseGrads) {
    let pairs = g.kernel.iter_mut().zip(&other.kernel);
    pairs
        .chain(g.bias.iter_mut().zip(&other.bias))
        .for_each(|(a, &b)| *a += b);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work of examples `rows` under `block_start`'s count.
    fn cost(slots: &[u32], rows: Range<usize>) -> f32 {
        let runs = slots[rows.clone()].iter().fold((0, None), |(n, last), &s| {
            (n + usize::from(last != Some(s)), Some(s))
        });
        rows.len() as f32 + RUN_COST * runs.0 as f32
    }

    #[test]
    fn blocks_of_runs_share_the_work() {
        // One run of 100 examples, then 100 rows named once.
        let slots: Vec<u32> = std::iter::repeat_n(0, 100).chain(1..=100).collect();
        let start = |t| block_start(&slots, t, 2);
        assert_eq!((start(0), start(2)), (0, 200));
        let mid = start(1);
        assert!(
            mid > 100,
            "the block of runs of one takes fewer examples: {mid}"
        );
        let (a, b) = (cost(&slots, 0..mid), cost(&slots, mid..200));
        // One example and its run either side of the target.
        assert!((a - b).abs() < 2.0 * (1.0 + RUN_COST), "{a} against {b}");
        // Runs all alike: an even split.
        let even: Vec<u32> = (0..50).flat_map(|s| [s, s]).collect();
        assert_eq!(block_start(&even, 1, 2), 50);
        assert_eq!(block_start(&[], 1, 2), 0);
    }
}
