//! Elementwise loops compiled for the CPU they run on.
//!
//! The crate is built for baseline x86-64 (SSE2) so its binaries run anywhere; the compiler
//! then vectorises an elementwise loop 4 floats at a time. The loops between the products of a
//! training step (bias, activation, the per-distinct-id sums) run over rows that sit in L1, so
//! their speed is the vector width: `elementwise!` compiles a function twice, once as is and
//! once with AVX-512 enabled (16 floats at a time), and picks one per call from the CPU's
//! features (which the standard library detects once and caches). Both copies are the same
//! source, so they compute the same results.

/// Whether this CPU runs the AVX-512 copies: AVX-512F, and POPCNT (which every CPU with
/// AVX-512 has) for the column kernels below.
#[cfg(target_arch = "x86_64")]
pub fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("popcnt")
}

/// Defines a function whose body is compiled twice (portably, and with AVX-512 enabled), the
/// copy used chosen per call; see the [module docs](self).
macro_rules! elementwise {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn portable($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            fn avx512($($arg: $ty),*) {
                portable($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::simd::has_avx512() {
                // SAFETY: the CPU has AVX-512 (checked just above).
                return unsafe { avx512($($arg),*) };
            }
            portable($($arg),*)
        }
    };
}
pub(crate) use elementwise;

elementwise! {
    /// `dst += src`, elementwise.
    pub fn add_assign(dst: &mut [f32], src: &[f32]) {
        dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
    }
}

/// How many rows ahead the sparse row loops ([`crate::Optimizer::update_rows`],
/// [`crate::Embedding::gather`]) ask for: far enough for a row of a table larger than the
/// caches to arrive from memory while the rows before it are worked on.
pub(crate) const PREFETCH_ROWS: usize = 8;

/// Asks the CPU to start loading `data[start .. start + len]` into its caches: a hint, which
/// changes how soon the loads that follow complete and nothing else. A batch reads and updates
/// rows scattered over embedding tables of up to gigabytes; without the hint each row's
/// cache misses are taken one after another.
#[inline(always)]
pub(crate) fn prefetch(data: &[f32], start: usize, len: usize) {
    prefetch_lines(data.as_ptr(), data.len(), start..start + len);
}

/// [`prefetch`] of elements `r` (clipped to `len`) of the `len` floats at `base`, which may be
/// shared with threads writing them (a prefetch reads nothing).
#[inline(always)]
pub(crate) fn prefetch_lines(base: *const f32, len: usize, r: std::ops::Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // One hint per 64-byte line (16 floats).
        for at in (r.start..r.end.min(len)).step_by(16) {
            // SAFETY: `at` is in bounds, and a prefetch never faults or changes memory.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(at).cast());
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (base, len, r);
}

// Gathering the columns a mask selects: a ReLU's output is mostly zeros, and the products
// after it run on the columns (or steps) that are not zero in some row of a tile. Masks hold
// 16 columns each, bit `b` of mask `c` standing for column `16·c + b`.

/// The indices of the columns whose bits are set in `masks` (16 columns a mask), in
/// increasing order.
pub(crate) fn active_columns(masks: &[u16]) -> impl Iterator<Item = usize> + '_ {
    masks.iter().enumerate().flat_map(|(chunk, &m)| {
        let mut bits = m;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                16 * chunk + b
            })
        })
    })
}

/// Sets `masks` (one per 16 columns) to the columns of `x` (rows of `width`) that are not zero
/// in some row: NaN counts as not zero, so it still reaches the output.
pub(crate) fn nonzero_columns(x: &[f32], width: usize, masks: &mut [u16]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512.
        return unsafe { columns_avx512::nonzero_columns(x, width, masks) };
    }
    masks.fill(0);
    for row in x.chunks_exact(width) {
        for (m, chunk) in masks.iter_mut().zip(row.chunks(16)) {
            for (b, &v) in chunk.iter().enumerate() {
                *m |= u16::from(v != 0.0) << b;
            }
        }
    }
}

/// Copies the columns of `row` selected by `masks` to the front of `dst`, in order. `dst` needs
/// 16 floats of room past them (the vector version stores whole vectors).
pub(crate) fn compress(masks: &[u16], row: &[f32], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512.
        return unsafe { columns_avx512::compress(masks, row, dst) };
    }
    for (d, c) in dst.iter_mut().zip(active_columns(masks)) {
        *d = row[c];
    }
}

/// The inverse of [`compress`]: `dst[c] = ` the next value of `src` for the columns selected
/// by `masks`, 0 for the others. `src` needs 16 floats of room past its values.
pub(crate) fn expand(masks: &[u16], src: &[f32], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512.
        return unsafe { columns_avx512::expand(masks, src, dst) };
    }
    dst.fill(0.0);
    for (c, &v) in active_columns(masks).zip(src) {
        dst[c] = v;
    }
}

/// The AVX-512 versions, for callers already compiled for it (the product kernels), which
/// call them without a feature check per row. They count each mask's bits with POPCNT: the
/// position of each 16 columns' values depends on the count before it, and the baseline
/// target's bit-twiddling count made that a chain of a dozen dependent instructions per 16
/// columns.
#[cfg(target_arch = "x86_64")]
pub(crate) mod columns_avx512 {
    use std::arch::x86_64::*;

    /// The lanes of a 16-column chunk that exist when `n` columns are left (all when ≥ 16).
    pub(crate) fn lanes(n: usize) -> __mmask16 {
        if n >= 16 {
            0xFFFF
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    #[target_feature(enable = "avx512f,popcnt")]
    pub(crate) fn nonzero_columns(x: &[f32], width: usize, masks: &mut [u16]) {
        let rows = x.len() / width;
        for (chunk, m) in masks.iter_mut().enumerate() {
            let c0 = 16 * chunk;
            let k = lanes(width.saturating_sub(c0));
            let mut any: __mmask16 = 0;
            for r in 0..rows {
                // SAFETY: only the lanes inside row `r` are read.
                let v =
                    unsafe { _mm512_maskz_loadu_ps(k, x.as_ptr().wrapping_add(r * width + c0)) };
                any |= _mm512_mask_cmp_ps_mask::<_CMP_NEQ_UQ>(k, v, _mm512_setzero_ps());
            }
            *m = any;
        }
    }

    #[target_feature(enable = "avx512f,popcnt")]
    pub(crate) fn compress(masks: &[u16], row: &[f32], dst: &mut [f32]) {
        assert!(row.len() > 16 * (masks.len() - 1));
        let mut at = 0;
        for (chunk, &m) in masks.iter().enumerate() {
            let c0 = 16 * chunk;
            assert!(at + 16 <= dst.len());
            // SAFETY: masked-off lanes are not read (the mask's bits lie inside `row`); the
            // store of 16 floats at `at` stays inside `dst` (checked above).
            unsafe {
                let v = _mm512_maskz_loadu_ps(m, row.as_ptr().add(c0));
                _mm512_storeu_ps(dst.as_mut_ptr().add(at), _mm512_maskz_compress_ps(m, v));
            }
            at += m.count_ones() as usize;
        }
    }

    #[target_feature(enable = "avx512f,popcnt")]
    pub(crate) fn expand(masks: &[u16], src: &[f32], dst: &mut [f32]) {
        assert!(dst.len() > 16 * (masks.len() - 1));
        let mut at = 0;
        for (chunk, &m) in masks.iter().enumerate() {
            let c0 = 16 * chunk;
            let k = lanes(dst.len() - c0);
            assert!(at + 16 <= src.len());
            // SAFETY: the load of 16 floats at `at` stays inside `src` (checked above); only
            // the lanes inside `dst` are stored.
            unsafe {
                let v = _mm512_loadu_ps(src.as_ptr().add(at));
                _mm512_mask_storeu_ps(dst.as_mut_ptr().add(c0), k, _mm512_maskz_expand_ps(m, v));
            }
            at += m.count_ones() as usize;
        }
    }

    /// Writes the indices [`active_columns`](super::active_columns) yields to the front of
    /// `dst` (room for 16 past them) and returns how many there are.
    #[target_feature(enable = "avx512f,popcnt")]
    pub(crate) fn indices(masks: &[u16], dst: &mut [u32]) -> usize {
        let mut index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let mut at = 0;
        for &m in masks {
            assert!(at + 16 <= dst.len());
            // SAFETY: the store of 16 values at `at` stays inside `dst` (checked above).
            unsafe {
                let packed = _mm512_maskz_compress_epi32(m, index);
                _mm512_storeu_si512(dst.as_mut_ptr().add(at).cast(), packed);
            }
            at += m.count_ones() as usize;
            index = _mm512_add_epi32(index, _mm512_set1_epi32(16));
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns not zero in some row, found, gathered in order and put back, with a
    /// partial last chunk of 16.
    #[test]
    fn columns_are_found_gathered_and_put_back() {
        let width: usize = 37;
        let rows: Vec<Vec<f32>> = (0..3)
            .map(|r| {
                (0..width)
                    .map(|c| if c % 5 == r { c as f32 + 0.5 } else { 0.0 })
                    .collect()
            })
            .collect();
        let mut masks = vec![0u16; width.div_ceil(16)];
        nonzero_columns(&rows.concat(), width, &mut masks);
        let want: Vec<usize> = (0..width).filter(|c| c % 5 < 3).collect();
        assert_eq!(active_columns(&masks).collect::<Vec<_>>(), want);
        let mut packed = vec![f32::NAN; want.len() + 16];
        compress(&masks, &rows[1], &mut packed);
        let got: Vec<f32> = want.iter().map(|&c| rows[1][c]).collect();
        assert_eq!(&packed[..want.len()], &got[..]);
        let mut back = vec![f32::NAN; width];
        expand(&masks, &packed, &mut back);
        assert_eq!(back, rows[1]);
    }

    #[test]
    fn add_assign_adds_elementwise() {
        let src: Vec<f32> = (0..37).map(|i| i as f32 * 0.25).collect();
        let mut dst = vec![1.0f32; 37];
        add_assign(&mut dst, &src);
        assert!(dst.iter().zip(&src).all(|(d, s)| *d == 1.0 + s));
    }
}
