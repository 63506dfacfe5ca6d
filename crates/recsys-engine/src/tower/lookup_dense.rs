//! The first dense layer over concatenated embedding lookups, computed per distinct id.
//!
//! When a dense layer's input is `x = concat(E₁[id₁], E₂[id₂], …)`, its kernel splits by rows
//! into one block per lookup and `x · W = Σ_f E_f[id_f] · W_f`. Each term depends on one id
//! only, so it is computed once per *distinct* id in the batch and shared by every example that
//! names it — exact, and about 7× fewer multiply-adds for the tutorial's first layer on
//! MovieLens (8,192 examples name ~2,300 distinct users and titles). The backward pass shares
//! the same way: the gradient flowing into a distinct id is summed over its examples first, and
//! the kernel block's gradient and the embedding row's gradient are products of those sums.
//! This is the trick ranking models with a wide first layer use to train at the arithmetic floor.

use super::{DistinctIds, Projected, Which};
use crate::layers::{Dense, DenseGrads, Embedding};
use crate::matmul::{Op, gemm};
use crate::parallel::{SharedMut, for_each_block};
use crate::simd::elementwise;

/// One lookup's share of the first layer: its distinct rows, their embeddings, and their
/// product with the lookup's kernel block, plus the gradients of each.
#[derive(Debug, Clone)]
pub struct LookupProjection {
    ids: DistinctIds,
    dim: usize,
    units: usize,
    /// `[distinct, dim]`: the embedding of each distinct row.
    gathered: Vec<f32>,
    /// `[distinct, units]`: `gathered · W_f`.
    projected: Vec<f32>,
    /// `[tasks, capacity, units]`: each parallel block's share of d loss / d projected (per
    /// distinct row, summed over the block's examples); after the backward pass, the first
    /// buffer holds their sum.
    partials: Vec<f32>,
    tasks: usize,
    capacity: usize,
    /// `[distinct, dim]`: d loss / d embedding row — the table's sparse gradient.
    d_gathered: Vec<f32>,
    /// How the last batch's rows enter the first layer.
    mode: Mode,
}

/// How a lookup's rows enter the first layer ([`Dense::gather_or_project_lookups`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Projected per distinct row before the tower runs; the tiles add each example's
    /// gradient into per-core partial sums per distinct row.
    Projected,
    /// Multiplied by the kernel per example, inside the training step's tiles.
    PerExample,
    /// The lookup the tiles group examples by ([`key_lookup`]): each tile projects the few
    /// distinct rows its examples name and carries the gradient back to them itself.
    PerRun,
}

impl LookupProjection {
    /// Buffers for a table of `table_rows × dim`, a layer of `units`, batches of `max_batch`.
    pub fn new(table_rows: usize, dim: usize, units: usize, max_batch: usize) -> Self {
        let distinct = max_batch.min(table_rows);
        let tasks = crate::parallel::tasks();
        LookupProjection {
            ids: DistinctIds::new(table_rows, max_batch),
            dim,
            units,
            partials: vec![0.0; tasks * distinct * units],
            tasks,
            capacity: distinct,
            gathered: vec![0.0; distinct * dim],
            projected: vec![0.0; distinct * units],
            d_gathered: vec![0.0; distinct * dim],
            mode: Mode::Projected,
        }
    }

    /// Buffers for the forward pass only (evaluation, serving): none of the gradient buffers,
    /// which for a batch of 8,192 and 256 units take 16 MiB per lookup on two threads.
    pub fn for_inference(table_rows: usize, dim: usize, units: usize, max_batch: usize) -> Self {
        let distinct = max_batch.min(table_rows);
        LookupProjection {
            ids: DistinctIds::new(table_rows, max_batch),
            dim,
            units,
            partials: Vec::new(),
            tasks: 0,
            capacity: distinct,
            gathered: vec![0.0; distinct * dim],
            projected: vec![0.0; distinct * units],
            d_gathered: Vec::new(),
            mode: Mode::Projected,
        }
    }

    /// The last batch's projected distinct rows and which row each example uses, as the tiled
    /// forward pass ([`forward_tiled`](super::forward_tiled)) takes them.
    pub fn projected(&self) -> Projected<'_> {
        debug_assert_eq!(
            self.mode,
            Mode::Projected,
            "only a lookup projected per distinct row has projected rows"
        );
        Projected {
            rows: &self.projected[..self.ids.rows().len() * self.units],
            slots: Which::PerExample(self.ids.slots()),
        }
    }

    /// Indexes the batch's `ids`, gathers their rows of `table`, and projects them through
    /// `kernel_block` (`[dim, units]`, row-major).
    pub fn project(&mut self, table: &Embedding, kernel_block: &[f32], ids: &[u32]) {
        self.ids.index(ids);
        self.mode = Mode::Projected;
        self.gather_and_project(table, kernel_block);
    }

    /// Indexes the batch's `ids` for the tiled training step and picks the lookup's mode: per
    /// example when most of the batch's rows are named once (a batch of 8,192 examples names
    /// ~7,900 of 162,000 users): the per-distinct-row sums then save no arithmetic, and their
    /// buffers (a 256-wide projected row and a gradient row per distinct id: 16 MiB a step,
    /// written and read back from memory) cost more than the tiles' own products on the rows,
    /// which stay in cache.
    fn index_for_tiles(&mut self, ids: &[u32]) {
        self.ids.index(ids);
        let distinct = self.ids.rows().len();
        self.mode = if distinct as f64 > PER_EXAMPLE_ABOVE * ids.len() as f64 {
            Mode::PerExample
        } else {
            Mode::Projected
        };
    }

    /// Gathers the indexed rows, and projects them too when the mode says so.
    fn gather_or_project(&mut self, table: &Embedding, kernel_block: &[f32]) {
        match self.mode {
            Mode::Projected => self.gather_and_project(table, kernel_block),
            Mode::PerExample | Mode::PerRun => {
                table.gather(self.ids.rows(), &mut self.gathered, self.dim, 0)
            }
        }
    }

    /// Whether the last batch's rows go into the first layer per example (see
    /// [`Dense::gather_or_project_lookups`]); its gradients are then the tiled step's to write
    /// ([`set_row_grads`](Self::set_row_grads)).
    pub fn per_example(&self) -> bool {
        self.mode == Mode::PerExample
    }

    /// Whether the last batch's rows go into the first layer per run of examples that share
    /// a row (see [`Dense::gather_or_project_lookups`]); the tiled step then projects them
    /// and writes their gradients.
    pub fn per_run(&self) -> bool {
        self.mode == Mode::PerRun
    }

    /// Whether the last batch's rows were projected per distinct row before the tower ran,
    /// with partial sums per distinct row for the backward pass.
    fn projected_ahead(&self) -> bool {
        self.mode == Mode::Projected
    }

    /// Zeroes [`row_grads`](Self::row_grads), for a step that adds into them.
    pub(super) fn clear_row_grads(&mut self) {
        let n = self.ids.rows().len() * self.dim;
        self.d_gathered[..n].fill(0.0);
    }

    /// The embedding of each of [`rows`](Self::rows), `[rows, dim]`.
    pub fn gathered(&self) -> &[f32] {
        &self.gathered[..self.ids.rows().len() * self.dim]
    }

    /// Sets [`row_grads`](Self::row_grads) to the sum, per distinct row, of per-example
    /// gradients `d` (`[examples, dim]`): example `j` names row `slots[j]`.
    pub fn set_row_grads(&mut self, d: &[f32], slots: &[u32]) {
        let grads = &mut self.d_gathered[..self.ids.rows().len() * self.dim];
        grads.fill(0.0);
        super::distinct::scatter_rows(d, self.dim, 0, self.dim, slots, grads);
    }

    /// Gathers the indexed rows of `table` and projects them through `kernel_block`.
    fn gather_and_project(&mut self, table: &Embedding, kernel_block: &[f32]) {
        let n = self.ids.rows().len();
        table.gather(self.ids.rows(), &mut self.gathered, self.dim, 0);
        gemm(
            n,
            self.dim,
            self.units,
            &self.gathered,
            Op::N,
            kernel_block,
            Op::N,
            0.0,
            &mut self.projected,
        );
    }

    /// Backward, once [`Dense::backward_lookups`] has summed the gradient per distinct row into
    /// the partial buffers: adds the partials up, then writes the kernel block's gradient into
    /// `d_kernel_block` (`[dim, units]`, overwriting) and the embedding rows' gradient into
    /// [`row_grads`](Self::row_grads).
    fn finish_backward(&mut self, kernel_block: &[f32], d_kernel_block: &mut [f32]) {
        let (u, n) = (self.units, self.ids.rows().len());
        self.sum_partials();
        let d_proj = &self.partials[..n * u];
        // d W_f = gatheredᵀ · d_projected : [dim, n] · [n, units]
        gemm(
            self.dim,
            n,
            u,
            &self.gathered,
            Op::T,
            d_proj,
            Op::N,
            0.0,
            d_kernel_block,
        );
        // d rows = d_projected · W_fᵀ : [n, units] · [units, dim]
        gemm(
            n,
            u,
            self.dim,
            d_proj,
            Op::N,
            kernel_block,
            Op::T,
            0.0,
            &mut self.d_gathered,
        );
    }

    /// Adds the other partial buffers into the first, `p₀ += p₁ (+= p₂ …)`, the distinct
    /// rows split across cores: for the 8,000 distinct users of a batch of a 25M-rating set
    /// that is 8 MiB per buffer, which one core alone adds at memory speed while the other
    /// waits.
    fn sum_partials(&mut self) {
        let (u, n, stride) = (
            self.units,
            self.ids.rows().len(),
            self.capacity * self.units,
        );
        if self.tasks < 2 {
            return;
        }
        let partials = SharedMut::new(&mut self.partials);
        for_each_block(n, self.tasks, &|_, rows| {
            let cols = rows.start * u..rows.end * u;
            // SAFETY: blocks of rows are disjoint; each reads and writes its rows only.
            let sum = unsafe { partials.range(cols.clone()) };
            for t in 1..self.tasks {
                // SAFETY: as above, in buffer `t` (which nothing writes now).
                let part =
                    unsafe { partials.range(t * stride + cols.start..t * stride + cols.end) };
                crate::simd::add_assign(sum, part);
            }
        });
    }

    /// The summed d loss / d projected of the last backward pass, `[rows, units]`.
    fn d_projected(&self) -> &[f32] {
        &self.partials[..self.ids.rows().len() * self.units]
    }

    /// Each example's index into [`rows`](Self::rows), for the last batch.
    pub fn slots(&self) -> &[u32] {
        self.ids.slots()
    }

    /// The distinct rows of the last batch.
    pub fn rows(&self) -> &[u32] {
        self.ids.rows()
    }

    /// d loss / d embedding row for each of [`rows`](Self::rows), `[rows, dim]`.
    pub fn row_grads(&self) -> &[f32] {
        &self.d_gathered[..self.ids.rows().len() * self.dim]
    }

    /// Width of the embedding rows.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Adds a second, per-example gradient of the last batch's lookups (another task's, in a
    /// multitask model; `d[i * stride + offset ..][..dim]` for example `i`) to
    /// [`row_grads`](Self::row_grads), after the backward pass has written them.
    pub fn add_row_grads(&mut self, d: &[f32], stride: usize, offset: usize) {
        let n = self.ids.rows().len() * self.dim;
        self.ids
            .scatter_add(d, stride, offset, self.dim, &mut self.d_gathered[..n]);
    }
}

impl Dense {
    /// The rows of the kernel that multiply input columns `offset .. offset + width`.
    fn kernel_block(&self, offset: usize, width: usize) -> &[f32] {
        &self.kernel[offset * self.units..(offset + width) * self.units]
    }

    /// The first half of [`forward_lookups`](Self::forward_lookups): each lookup's distinct rows
    /// projected through its block of the kernel, nothing combined yet.
    pub fn project_lookups(
        &self,
        parts: &mut [LookupProjection],
        tables: &[&Embedding],
        ids: &[&[u32]],
    ) {
        self.each_lookup(parts, tables, ids, LookupProjection::project);
    }

    /// [`project_lookups`](Self::project_lookups) for the tiled training step
    /// ([`TiledStep`](super::TiledStep)), which takes each lookup one of three ways:
    /// - lookups whose batch names most rows once go per example (see
    ///   `LookupProjection::index_for_tiles`): only gathered here;
    /// - the lookup whose batch names the fewest rows (`key_lookup`), which the tiles group
    ///   the examples by, goes per run when its rows are named only a few times each
    ///   (`PER_RUN_ABOVE`): only gathered here, as each tile projects the rows its examples
    ///   name and carries the gradient back to them itself, in cache, instead of writing a
    ///   projected row and a partial gradient row per distinct id to memory (3.4 MB each for
    ///   the 3,400 titles a batch of a 25M-rating set names);
    /// - any other is projected per distinct row here, as [`project_lookups`](Self::project_lookups)
    ///   does.
    pub fn gather_or_project_lookups(
        &self,
        parts: &mut [LookupProjection],
        tables: &[&Embedding],
        ids: &[&[u32]],
    ) {
        self.each_lookup(parts, tables, ids, |part, _, _, ids| {
            part.index_for_tiles(ids)
        });
        let key = &mut parts[key_lookup(parts)];
        let examples = key.ids.slots().len() as f64;
        if key.mode == Mode::Projected && key.ids.rows().len() as f64 > PER_RUN_ABOVE * examples {
            key.mode = Mode::PerRun;
        }
        self.each_lookup(parts, tables, ids, |part, table, block, _| {
            part.gather_or_project(table, block)
        });
    }

    /// Calls `f(part, table, kernel block, ids)` for each lookup, checking that their widths
    /// add up to the layer's input.
    fn each_lookup(
        &self,
        parts: &mut [LookupProjection],
        tables: &[&Embedding],
        ids: &[&[u32]],
        f: impl Fn(&mut LookupProjection, &Embedding, &[f32], &[u32]),
    ) {
        assert_eq!(
            parts.iter().map(|p| p.dim).sum::<usize>(),
            self.input_dim,
            "lookup widths must add up to the layer's input"
        );
        let lookups = parts.iter_mut().zip(tables).zip(ids);
        for (columns, ((part, table), ids)) in with_columns(lookups, |((p, _), _)| p.dim) {
            f(part, table, self.kernel_block(columns, part.dim), ids);
        }
    }

    /// Forward pass of a layer whose input is `concat(tables[0][ids[0][i]], tables[1][ids[1][i]], …)`,
    /// computed per distinct id; `out` is `[batch, units]`.
    pub fn forward_lookups(
        &self,
        parts: &mut [LookupProjection],
        tables: &[&Embedding],
        ids: &[&[u32]],
        out: &mut [f32],
    ) {
        let batch = ids[0].len();
        self.project_lookups(parts, tables, ids);
        // One pass per row, rows split across cores: bias + Σ_f projected_f[slot_f[i]], then
        // the activation, while the row is in cache.
        let parts: &[LookupProjection] = parts;
        let u = self.units;
        let out = SharedMut::new(&mut out[..batch * u]);
        for_each_block(batch, crate::parallel::tasks(), &|_, rows| {
            // SAFETY: blocks of rows are disjoint.
            let block = unsafe { out.range(rows.start * u..rows.end * u) };
            for (z, i) in block.chunks_exact_mut(u).zip(rows) {
                z.copy_from_slice(&self.bias);
                for part in parts {
                    let slot = part.ids.slots()[i] as usize;
                    for (z, &p) in z.iter_mut().zip(&part.projected[slot * u..][..u]) {
                        *z += p;
                    }
                }
                self.activation.forward(z);
            }
        });
    }

    /// Backward pass matching [`forward_lookups`](Self::forward_lookups): `d_out` (overwritten
    /// with d pre-activation) → kernel and bias gradients in `grads`, row gradients in `parts`.
    pub fn backward_lookups(
        &self,
        parts: &mut [LookupProjection],
        out: &[f32],
        batch: usize,
        d_out: &mut [f32],
        grads: &mut DenseGrads,
    ) {
        let u = self.units;
        {
            let sinks = PartialSinks::new(parts);
            let tasks = sinks.tasks();
            let d_out = SharedMut::new(&mut d_out[..batch * u]);
            for_each_block(batch, tasks, &|t, rows| {
                // SAFETY: blocks of rows are disjoint, and block `t` is the only one adding to
                // the partial buffers of task `t`.
                let d_block = unsafe { d_out.range(rows.start * u..rows.end * u) };
                let out = &out[rows.start * u..rows.end * u];
                self.activation.backward(out, d_block);
                unsafe {
                    sinks.clear(t);
                    sinks.add(t, rows.start, d_block);
                }
            });
        }
        self.finish_lookups(parts, grads);
    }

    /// The end of the first layer's backward pass, once every block of rows has added its d
    /// pre-activation into [`PartialSinks`]: the partials are summed per distinct row, then
    /// the kernel blocks' and the rows' gradients are products of those sums.
    ///
    /// Only lookups projected ahead take part: those that went
    /// [`per_example`](LookupProjection::per_example) or [`per_run`](LookupProjection::per_run)
    /// are the tiled step's, and so is the bias gradient when no lookup was projected ahead.
    pub(super) fn finish_lookups(&self, parts: &mut [LookupProjection], grads: &mut DenseGrads) {
        let u = self.units;
        for (columns, part) in with_columns(parts.iter_mut(), |p| p.dim) {
            let block = columns * u..(columns + part.dim) * u;
            if part.projected_ahead() {
                part.finish_backward(&self.kernel[block.clone()], &mut grads.kernel[block]);
            }
        }
        // Every example maps to exactly one distinct row of each lookup, so the bias gradient
        // (Σ over examples) is the sum of one lookup's per-row sums.
        if let Some(part) = parts.iter().find(|p| p.projected_ahead()) {
            column_sums(part.d_projected(), u, &mut grads.bias);
        }
    }
}

/// Where parallel blocks of examples add the first layer's d pre-activation per distinct row:
/// each block `t` into partial buffer `t` of every lookup, so no two blocks write the same
/// memory; [`Dense::finish_lookups`] adds the partials up. Lookups that went
/// [`per_example`](LookupProjection::per_example) or [`per_run`](LookupProjection::per_run)
/// have no partials; they are listed apart.
pub(super) struct PartialSinks<'a> {
    /// Per lookup projected per distinct row, its partial buffers.
    views: [Option<SinkView<'a>>; MAX_LOOKUPS],
    /// Per lookup projected per distinct row: the projected rows of the forward pass (unused
    /// entries empty).
    projected: [Projected<'a>; MAX_LOOKUPS],
    lookups: usize,
    /// The lookups that went per example.
    per_example: [Option<PerExampleLookup<'a>>; MAX_LOOKUPS],
    per_example_lookups: usize,
    /// The lookup that went per run, if one did.
    run: Option<RunLookup<'a>>,
    units: usize,
    tasks: usize,
}

/// Pairs each lookup (`dim` gives its width) with the first of the layer's input columns it
/// fills: lookups fill the input side by side, in order, each starting where the one before
/// it ends.
pub(super) fn with_columns<T>(
    lookups: impl IntoIterator<Item = T>,
    dim: impl Fn(&T) -> usize,
) -> impl Iterator<Item = (usize, T)> {
    lookups.into_iter().scan(0, move |next, lookup| {
        let columns = *next;
        *next += dim(&lookup);
        Some((columns, lookup))
    })
}

/// A lookup whose rows the tiled step multiplies by the first layer's kernel per example.
#[derive(Debug, Clone, Copy)]
pub(super) struct PerExampleLookup<'a> {
    /// `[distinct, dim]`: the embedding of each distinct row.
    pub(super) gathered: &'a [f32],
    /// Each example's distinct row, in the order the tiles take them.
    pub(super) slots: &'a [u32],
    pub(super) dim: usize,
    /// The first of the layer's input columns it fills (`columns .. columns + dim`).
    pub(super) columns: usize,
}

/// The lookup the tiles project per run of examples that share a row
/// ([`LookupProjection::per_run`]): in the tiles' order its slots never decrease, so each tile
/// names a contiguous range of its distinct rows, and each block of tiles another.
pub(super) struct RunLookup<'a> {
    /// `[distinct, dim]`: the embedding of each distinct row.
    pub(super) gathered: &'a [f32],
    /// Each example's distinct row, in the order the tiles take them (never decreasing).
    pub(super) slots: &'a [u32],
    /// `[distinct, dim]`: d loss / d each distinct row, which the tiles add into (zeroed).
    pub(super) row_grads: SharedMut<'a>,
    pub(super) dim: usize,
    /// The first of the layer's input columns it fills (`columns .. columns + dim`).
    pub(super) columns: usize,
}

/// One lookup's partial buffers, as [`PartialSinks`] shares them between blocks.
struct SinkView<'a> {
    /// Each example's distinct row.
    slots: &'a [u32],
    /// `[tasks, stride]`: the buffers.
    partials: SharedMut<'a>,
    /// One buffer's length.
    stride: usize,
    /// How much of a buffer this batch uses (its distinct rows × units).
    used: usize,
}

impl<'a> PartialSinks<'a> {
    /// Opens the partial buffers of every lookup for [`clear`](Self::clear) and
    /// [`add`](Self::add), for examples in the batch's order.
    pub(super) fn new(parts: &'a mut [LookupProjection]) -> Self {
        Self::with_slots(parts, None)
    }

    /// [`new`](Self::new), for examples in another order: `slots[f]` is lookup `f`'s slot of
    /// each example in that order.
    pub(super) fn with_slots(
        parts: &'a mut [LookupProjection],
        slots: Option<&'a [Vec<u32>]>,
    ) -> Self {
        assert!(
            parts.len() <= MAX_LOOKUPS,
            "at most {MAX_LOOKUPS} lookups feed one layer"
        );
        let (units, tasks) = (parts[0].units, parts[0].tasks);
        let mut sinks = PartialSinks {
            views: Default::default(),
            projected: [Projected {
                rows: &[],
                slots: Which::Own,
            }; MAX_LOOKUPS],
            lookups: 0,
            per_example: [None; MAX_LOOKUPS],
            per_example_lookups: 0,
            run: None,
            units,
            tasks,
        };
        for (f, (columns, part)) in with_columns(parts.iter_mut(), |p| p.dim).enumerate() {
            let n = part.ids.rows().len();
            let slots = match slots {
                Some(slots) => &slots[f][..],
                None => part.ids.slots(),
            };
            match part.mode {
                Mode::PerExample => {
                    let part: &'a LookupProjection = part;
                    sinks.per_example[sinks.per_example_lookups] = Some(PerExampleLookup {
                        gathered: part.gathered(),
                        slots,
                        dim: part.dim,
                        columns,
                    });
                    sinks.per_example_lookups += 1;
                    continue;
                }
                Mode::PerRun => {
                    assert!(sinks.run.is_none(), "at most one lookup goes per run");
                    let LookupProjection {
                        gathered,
                        d_gathered,
                        dim,
                        ..
                    } = part;
                    sinks.run = Some(RunLookup {
                        gathered: &gathered[..n * *dim],
                        slots,
                        row_grads: SharedMut::new(&mut d_gathered[..n * *dim]),
                        dim: *dim,
                        columns,
                    });
                    continue;
                }
                Mode::Projected => {}
            }
            sinks.projected[sinks.lookups] = Projected {
                rows: &part.projected[..n * units],
                slots: Which::PerExample(slots),
            };
            sinks.views[sinks.lookups] = Some(SinkView {
                slots,
                partials: SharedMut::new(&mut part.partials),
                stride: part.capacity * units,
                used: n * units,
            });
            sinks.lookups += 1;
        }
        sinks
    }

    /// The lookups that went [`per_example`](LookupProjection::per_example), which the tiles
    /// multiply by the kernel themselves (none of them has partial buffers here).
    pub(super) fn per_example(&self) -> impl Iterator<Item = &PerExampleLookup<'a>> {
        self.per_example[..self.per_example_lookups]
            .iter()
            .map(|p| p.as_ref().expect("one entry per per-example lookup"))
    }

    /// The lookup that went [`per_run`](LookupProjection::per_run), if one did.
    pub(super) fn run(&self) -> Option<&RunLookup<'a>> {
        self.run.as_ref()
    }

    /// Each lookup's projected rows, as the forward pass combines them (the lookups projected
    /// ahead only).
    pub(super) fn projected(&self) -> &[Projected<'a>] {
        &self.projected[..self.lookups]
    }

    /// How many blocks of examples may add at once (one partial buffer each).
    pub(super) fn tasks(&self) -> usize {
        self.tasks
    }

    /// Zeroes partial buffer `task` of every lookup, before its block's first
    /// [`add`](Self::add): each block clears its own, so the zeroing (16 MiB a step for
    /// 8,000 distinct users on two cores) runs in parallel too.
    ///
    /// # Safety
    /// No other thread may use the same `task` at the same time.
    pub(super) unsafe fn clear(&self, task: usize) {
        for view in &self.views[..self.lookups] {
            let v = view.as_ref().expect("one view per lookup");
            let start = task * v.stride;
            // SAFETY: buffer `task` is this caller's alone (the contract above).
            unsafe { v.partials.range(start..start + v.used) }.fill(0.0);
        }
    }

    /// Adds `d_z` (`[rows, units]`, the d pre-activation of examples `first..`) to their
    /// distinct rows' sums in partial buffer `task`, once [`clear`](Self::clear)ed.
    ///
    /// # Safety
    /// No other thread may add to the same `task` at the same time.
    pub(super) unsafe fn add(&self, task: usize, first: usize, d_z: &[f32]) {
        let u = self.units;
        for view in &self.views[..self.lookups] {
            let SinkView {
                slots,
                partials,
                stride,
                ..
            } = view.as_ref().expect("one view per lookup");
            // SAFETY: buffer `task` is this caller's alone (the contract above).
            let partial = unsafe { partials.range(task * stride..(task + 1) * stride) };
            add_rows(partial, &slots[first..], d_z, u);
        }
    }
}

/// `sums[j] = Σ_r rows[r, j]` over the rows of `rows` (`[_, units]`), in row order, the
/// columns split across cores in blocks of 16 (a cache line of each row).
fn column_sums(rows: &[f32], units: usize, sums: &mut [f32]) {
    let sums = SharedMut::new(&mut sums[..units]);
    let lines = units.div_ceil(16);
    let tasks = if rows.len() >= 1 << 16 {
        crate::parallel::tasks()
    } else {
        1
    };
    for_each_block(lines, tasks, &|_, block| {
        let cols = 16 * block.start..(16 * block.end).min(units);
        // SAFETY: blocks of columns are disjoint.
        let sums = unsafe { sums.range(cols.clone()) };
        sums.fill(0.0);
        for row in rows.chunks_exact(units) {
            crate::simd::add_assign(sums, &row[cols.clone()]);
        }
    });
}

elementwise! {
    /// Adds row `i` of `d_z` (`[rows, units]`) to row `slots[i]` of `sums`.
    pub(super) fn add_rows(sums: &mut [f32], slots: &[u32], d_z: &[f32], units: usize) {
        for (d_z, &slot) in d_z.chunks_exact(units).zip(slots) {
            let acc = &mut sums[slot as usize * units..][..units];
            acc.iter_mut().zip(d_z).for_each(|(a, &d)| *a += d);
        }
    }
}

/// The lookup whose batch names the fewest distinct rows (the first of those, on a tie): the
/// one the tiled step groups the examples by, so that a tile's examples share its rows.
pub(super) fn key_lookup(parts: &[LookupProjection]) -> usize {
    let distinct = |f: usize| parts[f].ids.rows().len();
    (0..parts.len())
        .min_by_key(|&f| distinct(f))
        .expect("a first layer reads at least one lookup")
}

/// A lookup whose batch names more distinct rows than this share of its examples goes per
/// example in the tiled step ([`Dense::gather_or_project_lookups`]). On one core, a
/// 2.5M-rating set shaped like MovieLens 25M (users named 1.04 times a batch, titles 2.3):
/// users per example took an epoch from 5.7 to 4.5 s; titles as well (share 0 or 0.3) gained
/// nothing more. The tutorial's lookups (0.12 and 0.17) stay per distinct row.
const PER_EXAMPLE_ABOVE: f64 = 0.5;

/// The lookup the tiles group examples by goes per run (see
/// [`Dense::gather_or_project_lookups`]) when its batch names more distinct rows than this share
/// of its examples. Measured with two cores: titles of a 2.5M-rating set shaped like MovieLens
/// 25M (share 0.42, 20 distinct titles a tile) took an epoch from 2.54–2.90 s to 2.45–2.56 s
/// per run; the tutorial's users (share 0.11, 6–7 a tile, whose per-distinct buffers fit in L2)
/// took a steady epoch from 0.0410 to 0.0427 s, as a tile's products over a few rows run well
/// below the FMA units' speed and a run that crosses tiles is projected twice.
const PER_RUN_ABOVE: f64 = 0.25;

/// The most embedding lookups one first layer can combine (the buffers for them live on the
/// stack, so the backward pass allocates nothing).
pub const MAX_LOOKUPS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;
    use crate::gradcheck::test_values;
    use crate::layers::SparseGrad;

    /// Column sums split across cores equal the sums row by row, bit for bit (a width that
    /// leaves a short last block of columns, and enough rows to be split).
    #[test]
    fn column_sums_are_the_sums_in_row_order() {
        for (rows, units) in [(3, 5), (400, 200)] {
            let x = test_values(rows * units, 0.7);
            let mut want = vec![0.0f32; units];
            for row in x.chunks_exact(units) {
                want.iter_mut().zip(row).for_each(|(w, &v)| *w += v);
            }
            let mut got = vec![f32::NAN; units];
            column_sums(&x, units, &mut got);
            assert_eq!(got, want, "{rows} x {units}");
        }
    }

    /// The per-distinct-id layer against the textbook one on concatenated inputs.
    #[test]
    fn equals_the_per_example_layer_forward_and_backward() {
        let (d_user, d_item, units, batch) = (3, 2, 4, 6);
        let users = Embedding {
            table: test_values(5 * d_user, 0.1),
            rows: 5,
            dim: d_user,
        };
        let items = Embedding {
            table: test_values(4 * d_item, 0.2),
            rows: 4,
            dim: d_item,
        };
        let layer = Dense {
            kernel: test_values((d_user + d_item) * units, 0.3),
            bias: test_values(units, 0.4),
            input_dim: d_user + d_item,
            units,
            activation: Activation::Relu,
        };
        let (u_ids, i_ids) = ([1u32, 4, 1, 0, 4, 4], [3u32, 3, 2, 0, 1, 3]);
        let r = test_values(batch * units, 0.5);

        // Textbook: concatenate, dense forward, dense backward, scatter into rows.
        let width = d_user + d_item;
        let mut x = vec![0.0; batch * width];
        users.gather(&u_ids, &mut x, width, 0);
        items.gather(&i_ids, &mut x, width, d_user);
        let mut out_ref = vec![0.0; batch * units];
        layer.forward(&x, batch, &mut out_ref);
        let mut d_ref = r.clone();
        let mut g_ref = layer.zero_grads();
        let mut d_x = vec![0.0; batch * width];
        layer.backward(&x, &out_ref, batch, &mut d_ref, &mut g_ref, Some(&mut d_x));
        let mut ug = SparseGrad::new(5, d_user, batch);
        ug.accumulate(&u_ids, &d_x, width, 0);
        let mut ig = SparseGrad::new(4, d_item, batch);
        ig.accumulate(&i_ids, &d_x, width, d_user);

        // Per distinct id.
        let mut parts = [
            LookupProjection::new(5, d_user, units, batch),
            LookupProjection::new(4, d_item, units, batch),
        ];
        let mut out = vec![0.0; batch * units];
        layer.forward_lookups(&mut parts, &[&users, &items], &[&u_ids, &i_ids], &mut out);
        let mut d = r.clone();
        let mut g = layer.zero_grads();
        layer.backward_lookups(&mut parts, &out, batch, &mut d, &mut g);

        let close = |a: &[f32], b: &[f32], what: &str| {
            assert_eq!(a.len(), b.len(), "{what}");
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-5, "{what}: {x} vs {y}");
            }
        };
        close(&out, &out_ref, "output");
        close(&g.kernel, &g_ref.kernel, "kernel gradient");
        close(&g.bias, &g_ref.bias, "bias gradient");
        assert_eq!(parts[0].rows(), ug.rows());
        close(parts[0].row_grads(), ug.values(), "user rows");
        assert_eq!(parts[1].rows(), ig.rows());
        close(parts[1].row_grads(), ig.values(), "item rows");

        // A second task's per-example gradient adds to the same rows on both paths.
        let extra = test_values(batch * d_item, 0.6);
        parts[1].add_row_grads(&extra, d_item, 0);
        ig.add(&extra, d_item, 0);
        close(parts[1].row_grads(), ig.values(), "item rows, two tasks");
    }
}
