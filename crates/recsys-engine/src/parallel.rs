//! Elementwise work on every core, without allocating.
//!
//! The matrix products already run on all cores inside the GEMM crate; what is left between them
//! is elementwise work over `[batch, units]` buffers (bias, activation, the per-distinct-id sums).
//! [`for_each_block`] splits rows into one contiguous block per thread of rayon's pool and runs
//! them with nested `rayon::join`, which keeps its jobs on the stack: no allocation per call once
//! the calling thread is a pool worker (training runs inside `ThreadPool::install`).

use std::marker::PhantomData;
use std::ops::Range;

/// How many blocks to split elementwise work into: one per thread of the current rayon pool.
pub fn tasks() -> usize {
    rayon::current_num_threads().max(1)
}

/// Runs `f(task, rows)` for `tasks` contiguous, disjoint blocks covering `0..n`, in parallel.
pub fn for_each_block<F>(n: usize, tasks: usize, f: &F)
where
    F: Fn(usize, Range<usize>) + Sync,
{
    let tasks = tasks.max(1);
    if tasks == 1 || n < 2 * tasks {
        f(0, 0..n);
        for t in 1..tasks {
            f(t, n..n);
        }
    } else {
        for_each_split(tasks, &|t| t * n / tasks, f);
    }
}

/// Runs `f(task, start(task)..start(task + 1))` for each of `tasks` blocks, in parallel:
/// [`for_each_block`] with the blocks' bounds chosen by the caller (`start` never decreasing,
/// `start(0)` the first row and `start(tasks)` the end), for work that costs more in some rows
/// than in others.
pub fn for_each_split<S, F>(tasks: usize, start: &S, f: &F)
where
    S: Fn(usize) -> usize + Sync,
    F: Fn(usize, Range<usize>) + Sync,
{
    fn go<S, F>(lo: usize, hi: usize, start: &S, f: &F)
    where
        S: Fn(usize) -> usize + Sync,
        F: Fn(usize, Range<usize>) + Sync,
    {
        if hi - lo == 1 {
            f(lo, start(lo)..start(hi));
        } else {
            let mid = (lo + hi) / 2;
            rayon::join(|| go(lo, mid, start, f), || go(mid, hi, start, f));
        }
    }
    go(0, tasks.max(1), start, f);
}

/// A mutable slice that parallel blocks write to at disjoint ranges.
///
/// Safe code cannot hand several threads `&mut` views of one buffer at ranges computed inside
/// them; this wrapper can, and [`SharedMut::range`] is `unsafe` with one rule: ranges used at the
/// same time never overlap (each block of [`for_each_block`] touches only its own rows).
pub struct SharedMut<'a> {
    ptr: *mut f32,
    len: usize,
    _life: PhantomData<&'a mut [f32]>,
}

// SAFETY: access goes through `range`, whose contract forbids overlapping concurrent views.
unsafe impl Send for SharedMut<'_> {}
unsafe impl Sync for SharedMut<'_> {}

impl<'a> SharedMut<'a> {
    /// Wraps `slice` for the duration of a parallel section.
    pub fn new(slice: &'a mut [f32]) -> Self {
        SharedMut {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _life: PhantomData,
        }
    }

    /// The elements `r` of the slice.
    ///
    /// # Safety
    /// No other view returned by this method and alive at the same time may overlap `r`.
    ///
    /// # Panics
    /// If `r` is out of bounds.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, r: Range<usize>) -> &mut [f32] {
        assert!(
            r.start <= r.end && r.end <= self.len,
            "range {r:?} out of 0..{}",
            self.len
        );
        // SAFETY: in bounds (checked above); exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.end - r.start) }
    }

    /// The slice's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slice is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Asks the CPU to start loading the elements `r` (clipped to the slice) into its caches:
    /// a hint, which reads nothing and so may target rows other threads are writing.
    pub fn prefetch(&self, r: Range<usize>) {
        crate::simd::prefetch_lines(self.ptr.cast_const(), self.len, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn blocks_cover_every_row_once() {
        for (n, tasks) in [(0, 2), (1, 2), (3, 2), (10, 3), (1000, 4)] {
            let seen = Mutex::new(vec![0u32; n]);
            for_each_block(n, tasks, &|_, rows| {
                let mut s = seen.lock().unwrap();
                for r in rows {
                    s[r] += 1;
                }
            });
            assert!(
                seen.into_inner().unwrap().iter().all(|&c| c == 1),
                "n {n}, tasks {tasks}"
            );
        }
    }

    #[test]
    fn disjoint_writes_through_shared_mut() {
        let mut v = vec![0.0f32; 100];
        let shared = SharedMut::new(&mut v);
        for_each_block(100, 4, &|t, rows| {
            // SAFETY: blocks are disjoint.
            let s = unsafe { shared.range(rows) };
            s.fill(t as f32 + 1.0);
        });
        assert!(v.iter().all(|&x| x >= 1.0));
        assert_eq!(v[0], 1.0);
        assert_eq!(v[99], 4.0);
    }
}
