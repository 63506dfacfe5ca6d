//! Elementwise loops compiled for the CPU they run on.
//!
//! The crate is built for baseline x86-64 (SSE2) so its binaries run anywhere; the compiler
//! then vectorises an elementwise loop 4 floats at a time. The loops between the products of a
//! training step (bias, activation, the per-distinct-id sums) run over rows that sit in L1, so
//! their speed is the vector width: [`elementwise!`] compiles a function twice, once as is and
//! once with AVX-512 enabled (16 floats at a time), and picks one per call from the CPU's
//! features (which the standard library detects once and caches). Both copies are the same
//! source, so they compute the same results.

/// Whether this CPU runs the AVX-512 copies.
#[cfg(target_arch = "x86_64")]
pub fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
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
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let end = (start + len).min(data.len());
        // One hint per 64-byte line (16 floats).
        for at in (start..end).step_by(16) {
            // SAFETY: `at` is in bounds, and a prefetch never faults or changes memory.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().add(at).cast());
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, start, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_assign_adds_elementwise() {
        let src: Vec<f32> = (0..37).map(|i| i as f32 * 0.25).collect();
        let mut dst = vec![1.0f32; 37];
        add_assign(&mut dst, &src);
        assert!(dst.iter().zip(&src).all(|(d, s)| *d == 1.0 + s));
    }
}
