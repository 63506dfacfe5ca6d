//! A `no_std` consumer of recsys-infer: exports one C function that scores a pair.
#![no_std]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A bump allocator over a static arena (never frees): enough to prove `alloc` suffices.
struct Bump {
    arena: UnsafeCell<[u8; 1 << 16]>,
    next: AtomicUsize,
}

// SAFETY: `next` hands out disjoint ranges of the arena atomically.
unsafe impl Sync for Bump {}

// SAFETY: every returned range is in bounds, aligned and handed out once.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.arena.get() as usize;
        let mut start = 0;
        let claimed = self
            .next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |next| {
                start = (base + next).next_multiple_of(layout.align()) - base;
                let end = start.checked_add(layout.size())?;
                (end <= 1 << 16).then_some(end)
            });
        match claimed {
            Ok(_) => (base + start) as *mut u8,
            Err(_) => core::ptr::null_mut(),
        }
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump {
    arena: UnsafeCell::new([0; 1 << 16]),
    next: AtomicUsize::new(0),
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Scores one (user, title) pair; NaN if the model cannot be read.
///
/// # Safety
/// Each pointer must be valid for reads of its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recsys_score(
    weights: *const u8,
    weights_len: usize,
    vocabulary: *const u8,
    vocabulary_len: usize,
) -> f32 {
    // SAFETY: the caller promises valid ranges.
    let (w, v) = unsafe {
        (
            core::slice::from_raw_parts(weights, weights_len),
            core::slice::from_raw_parts(vocabulary, vocabulary_len),
        )
    };
    match recsys_infer::Model::from_artifact(w, v) {
        Ok(m) => m
            .predict(&["42"], &["Speed (1994)"])
            .map_or(f32::NAN, |s| s[0]),
        Err(_) => f32::NAN,
    }
}
