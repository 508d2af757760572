//! The peers that allockit's strategies are measured against, as allocator-api2 0.2 allocators.
//!
//! - [`MiniFreeList`]: the least a free list with size classes can do, written here as the floor
//!   for the `Slab`: classes of 16 to 128 bytes in steps of 16, blocks carved from 64 KiB chunks,
//!   no statistics, no checks, and everything else passed to the platform.
//! - [`Mimalloc`]: mimalloc's `GlobalAlloc` as an `Allocator`, beside glibc for `Platform`.
//! - [`BumpScope`]: bump-scope's `Bump` as an `Allocator`, beside bumpalo for the `Arena`.
//!
//! The two adapters only forward (every method `#[inline(always)]`), so they cost what the
//! allocator behind them costs. They implement allocator-api2's trait themselves, rather than
//! through bump-scope's `allocator-api2-02` feature, so that allockit's `nightly` feature (which
//! turns that trait into core's) does not reach the peers.

use std::alloc::GlobalAlloc;
use std::cell::{Cell, RefCell};
use std::ptr::{self, NonNull};

use allockit::{AllocError, Allocator, Layout, Platform};

/// The block sizes of [`MiniFreeList`]'s classes are multiples of this.
pub const MINI_GRAIN: usize = 16;
/// How many classes [`MiniFreeList`] has: 16, 32, ..., 128 bytes.
pub const MINI_CLASSES: usize = 8;
/// The size of one chunk of [`MiniFreeList`].
const MINI_CHUNK: usize = 64 * 1024;

/// A minimal free list: one intrusive LIFO list per class, blocks carved from the newest chunk.
pub struct MiniFreeList {
    /// The head of each class's free list (class `i` has blocks of `16 * (i + 1)` bytes), or
    /// null. Every node is a free block whose first word holds the next node.
    heads: [Cell<*mut u8>; MINI_CLASSES],
    /// The uncarved rest of the newest chunk: `next..end`, 16-aligned.
    next: Cell<*mut u8>,
    /// The end of the newest chunk.
    end: Cell<*mut u8>,
    /// Every chunk, to return on drop.
    chunks: RefCell<Vec<NonNull<u8>>>,
}

impl MiniFreeList {
    /// An empty free list; the first allocation reserves a chunk.
    pub fn new() -> Self {
        Self {
            heads: [const { Cell::new(ptr::null_mut()) }; MINI_CLASSES],
            next: Cell::new(ptr::null_mut()),
            end: Cell::new(ptr::null_mut()),
            chunks: RefCell::new(Vec::new()),
        }
    }

    /// The class of `layout`, or `None` for the platform (zero-sized, over 128 bytes, or aligned
    /// to more than 16).
    #[inline(always)]
    fn class(layout: Layout) -> Option<usize> {
        let class = layout.size().wrapping_sub(1) / MINI_GRAIN;
        (class < MINI_CLASSES && layout.align() <= MINI_GRAIN).then_some(class)
    }

    /// Cuts a block of class `class` from the newest chunk, or from a new one.
    #[cold]
    #[inline(never)]
    fn carve(&self, class: usize) -> Result<NonNull<u8>, AllocError> {
        let size = (class + 1) * MINI_GRAIN;
        if self.end.get().addr() - self.next.get().addr() < size {
            let layout = Layout::from_size_align(MINI_CHUNK, MINI_GRAIN).map_err(|_| AllocError)?;
            let chunk = Platform.allocate(layout)?.cast::<u8>();
            self.chunks.borrow_mut().push(chunk);
            self.next.set(chunk.as_ptr());
            // SAFETY: one past the end of the chunk's `MINI_CHUNK` bytes.
            self.end.set(unsafe { chunk.as_ptr().add(MINI_CHUNK) });
        }
        let block = self.next.get();
        // SAFETY: `block..block + size` lies in the newest chunk (checked above).
        self.next.set(unsafe { block.add(size) });
        NonNull::new(block).ok_or(AllocError)
    }
}

impl Default for MiniFreeList {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks live in chunks freed only on drop, or are the platform's; the list holds its
// chunks through pointers, so moving it invalidates nothing; `deallocate` finds a block's place
// from its layout, and every size from the request to the class size maps to the same class.
unsafe impl Allocator for MiniFreeList {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let Some(class) = Self::class(layout) else {
            return Platform.allocate(layout);
        };
        let head = self.heads[class].get();
        let block = if head.is_null() {
            self.carve(class)?
        } else {
            // SAFETY: `head` is a node of the list: a free block whose first word is the next.
            self.heads[class].set(unsafe { head.cast::<*mut u8>().read() });
            // SAFETY: a node is never null.
            unsafe { NonNull::new_unchecked(head) }
        };
        Ok(NonNull::slice_from_raw_parts(
            block,
            (class + 1) * MINI_GRAIN,
        ))
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        match Self::class(layout) {
            Some(class) => {
                // SAFETY: the caller frees a block of this class (at least 16 bytes, 16-aligned)
                // that it no longer uses; its first word becomes the link.
                unsafe {
                    ptr.as_ptr()
                        .cast::<*mut u8>()
                        .write(self.heads[class].get())
                };
                self.heads[class].set(ptr.as_ptr());
            }
            // SAFETY: a layout no class serves came from the platform with that layout.
            None => unsafe { Platform.deallocate(ptr, layout) },
        }
    }
}

impl Drop for MiniFreeList {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(MINI_CHUNK, MINI_GRAIN).expect("a valid layout");
        for chunk in self.chunks.get_mut().drain(..) {
            // SAFETY: every chunk came from the platform with this layout and is freed once.
            unsafe { Platform.deallocate(chunk, layout) };
        }
    }
}

/// mimalloc's global allocator as an `Allocator` handle (zero-sized, like `Platform`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mimalloc;

impl Mimalloc {
    /// A moved block: a new one, the contents copied, the old one freed.
    ///
    /// # Safety
    ///
    /// As for `Allocator::grow` or `shrink`, with `old.size() != 0`.
    unsafe fn moved(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let block = self.allocate(new)?;
        // SAFETY: distinct blocks, each holding at least the smaller size.
        unsafe {
            ptr::copy_nonoverlapping(
                ptr.as_ptr(),
                block.cast::<u8>().as_ptr(),
                old.size().min(new.size()),
            )
        };
        // SAFETY: the caller's block, freed once.
        unsafe { self.deallocate(ptr, old) };
        Ok(block)
    }
}

// SAFETY: mimalloc's blocks stay valid until freed, whatever happens to this zero-sized handle;
// every block goes back to `mi_free` through `deallocate`, or to `mi_realloc_aligned`.
unsafe impl Allocator for Mimalloc {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Platform.allocate(layout);
        }
        // SAFETY: the layout is not zero-sized.
        let ptr = unsafe { mimalloc::MiMalloc.alloc(layout) };
        let ptr = NonNull::new(ptr).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(ptr, layout.size()))
    }

    #[inline(always)]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Platform.allocate(layout);
        }
        // SAFETY: the layout is not zero-sized.
        let ptr = unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(ptr, layout.size()))
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: a non-empty block of mimalloc, freed once.
            unsafe { mimalloc::MiMalloc.dealloc(ptr.as_ptr(), layout) };
        }
    }

    #[inline(always)]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            return self.allocate(new);
        }
        if old.align() != new.align() {
            // SAFETY: the caller's contract for `grow`.
            return unsafe { self.moved(ptr, old, new) };
        }
        // SAFETY: a non-empty block of mimalloc with layout `old`; `new.size()` is not zero.
        let ptr = unsafe { mimalloc::MiMalloc.realloc(ptr.as_ptr(), old, new.size()) };
        let ptr = NonNull::new(ptr).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(ptr, new.size()))
    }

    #[inline(always)]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if new.size() == 0 || old.align() != new.align() {
            // SAFETY: the caller's contract for `shrink` (`old` is at least as large as `new`).
            return unsafe { self.moved(ptr, old, new) };
        }
        // SAFETY: as for `grow`.
        let ptr = unsafe { mimalloc::MiMalloc.realloc(ptr.as_ptr(), old, new.size()) };
        let ptr = NonNull::new(ptr).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(ptr, new.size()))
    }
}

/// bump-scope's `Bump`, shared by reference, as an `Allocator`.
#[derive(Clone, Copy)]
pub struct BumpScope<'a>(pub &'a bump_scope::Bump);

// SAFETY: every method forwards to bump-scope's own `Allocator` impl for `Bump`, whose contract is
// the same as allocator-api2's.
unsafe impl Allocator for BumpScope<'_> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        bump_scope::alloc::Allocator::allocate(self.0, layout).map_err(|_| AllocError)
    }

    #[inline(always)]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        bump_scope::alloc::Allocator::allocate_zeroed(self.0, layout).map_err(|_| AllocError)
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { bump_scope::alloc::Allocator::deallocate(self.0, ptr, layout) }
    }

    #[inline(always)]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's contract, passed on.
        unsafe { bump_scope::alloc::Allocator::grow(self.0, ptr, old, new) }.map_err(|_| AllocError)
    }

    #[inline(always)]
    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's contract, passed on.
        unsafe { bump_scope::alloc::Allocator::grow_zeroed(self.0, ptr, old, new) }
            .map_err(|_| AllocError)
    }

    #[inline(always)]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's contract, passed on.
        unsafe { bump_scope::alloc::Allocator::shrink(self.0, ptr, old, new) }
            .map_err(|_| AllocError)
    }
}
