//! Large tables on huge pages.
//!
//! Embedding tables and their optimizer state are read and updated a row at a time, at random:
//! a batch of a 10-million-user data set touches 8,000 users' rows scattered over 1.3 GB of
//! table and 1.3 GB of Adagrad accumulators. On 4 KiB pages nearly every one of those rows
//! misses the TLB (a few thousand entries, covering a few MiB) and costs a page walk. Linux
//! backs a region with 2 MiB pages when asked to (`madvise(MADV_HUGEPAGE)`, which the default
//! "madvise" mode of transparent huge pages honours) before its pages are first touched; with
//! them the TLB covers gigabytes. Elsewhere, or when the kernel declines, nothing changes.

/// Vectors smaller than this stay on ordinary pages: the TLB covers them anyway.
const HUGE_MIN_BYTES: usize = 16 << 20;

/// `vec![value; len]`, on huge pages where the system offers them and the vector is large.
pub fn filled(len: usize, value: f32) -> Vec<f32> {
    if len * size_of::<f32>() < HUGE_MIN_BYTES {
        return vec![value; len];
    }
    // A zeroed allocation this large is fresh memory from the kernel, not yet touched.
    let mut v = vec![0.0f32; len];
    advise_huge(&v);
    if value != 0.0 {
        v.fill(value);
    }
    v
}

/// Asks the kernel to back the whole 2 MiB pages inside `v` with huge pages.
#[cfg(target_os = "linux")]
fn advise_huge(v: &[f32]) {
    const HUGE_PAGE: usize = 2 << 20;
    let start = v.as_ptr() as usize;
    let end = start + std::mem::size_of_val(v);
    let (lo, hi) = (
        start.next_multiple_of(HUGE_PAGE),
        end / HUGE_PAGE * HUGE_PAGE,
    );
    if hi > lo {
        // SAFETY: `lo..hi` lies inside `v`'s allocation, and MADV_HUGEPAGE changes how its
        // pages are backed, never their contents. A refusal (THP disabled) is harmless.
        unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_: &[f32]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_vectors_hold_the_value() {
        for len in [0, 5, HUGE_MIN_BYTES / 4 + 3] {
            for value in [0.0, 0.1] {
                let v = filled(len, value);
                assert_eq!(v.len(), len);
                assert!(v.iter().all(|&x| x == value), "{len} x {value}");
            }
        }
    }
}
