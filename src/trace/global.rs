//! `Trace` as the program's `#[global_allocator]`.

use core::alloc::GlobalAlloc;
use core::ptr::{self, NonNull};

use super::Trace;
use crate::{Allocator, Layout};

/// Panics if dropped: guards a call that must not unwind (a global allocator must not), turning
/// a panic inside it into an abort (a panic while panicking aborts), after the message of the
/// first panic has been printed.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        panic!("allockit::Trace: a global allocator must not unwind; aborting");
    }
}

/// Runs `f`, aborting the process if it panics.
fn no_unwind<R>(f: impl FnOnce() -> R) -> R {
    let guard = AbortOnUnwind;
    let result = f();
    core::mem::forget(guard);
    result
}

// SAFETY: `GlobalAlloc` is implemented through the `Allocator` impl above, whose blocks meet the
// layout they were requested with. Failures become null, as `GlobalAlloc` requires, and a misuse
// panic aborts instead of unwinding (unwinding out of a global allocator is undefined behaviour).
// As a global allocator, `inner` must not itself use the global allocator (use
// `std::alloc::System`), and the trace's own bookkeeping uses `System` directly, never the global
// allocator, so no call comes back into the trace while it holds its lock.
unsafe impl<A: Allocator> GlobalAlloc for Trace<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        no_unwind(|| {
            self.allocate(layout)
                .map_or(ptr::null_mut(), |block| block.cast::<u8>().as_ptr())
        })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        no_unwind(|| {
            self.allocate_zeroed(layout)
                .map_or(ptr::null_mut(), |block| block.cast::<u8>().as_ptr())
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `GlobalAlloc` callers pass a non-null block of this allocator with its layout.
        no_unwind(|| unsafe { self.deallocate(NonNull::new_unchecked(ptr), layout) })
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the `GlobalAlloc::realloc` contract: `ptr` is a live, non-null block of this
        // allocator with `layout`, and `new_size`, rounded up to `layout.align()`, does not
        // overflow `isize`, so the new layout is valid.
        no_unwind(|| unsafe {
            let new = Layout::from_size_align_unchecked(new_size, layout.align());
            let ptr = NonNull::new_unchecked(ptr);
            let block = if new_size >= layout.size() {
                self.grow(ptr, layout, new)
            } else {
                self.shrink(ptr, layout, new)
            };
            block.map_or(ptr::null_mut(), |block| block.cast::<u8>().as_ptr())
        })
    }
}
