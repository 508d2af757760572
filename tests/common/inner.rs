//! Inner allocators that let a test see, or steer, what a `Trace` does with them.

use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use allockit::{AllocError, Allocator, Platform};

/// The platform allocator, summing the bytes it holds (by the sizes it was asked for) and the
/// most it ever held: what a limit above it must never let through.
#[derive(Debug, Default)]
pub struct Summing {
    pub held: AtomicUsize,
    pub most: AtomicUsize,
}

impl Summing {
    fn add(&self, bytes: usize) {
        let now = self.held.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn sub(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::SeqCst);
    }
}

// SAFETY: every block is `Platform`'s, handed out, resized and freed by it with the caller's
// layouts; the sums only count.
unsafe impl Allocator for Summing {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = Platform.allocate(layout)?;
        self.add(layout.size());
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.sub(layout.size());
        // SAFETY: the caller's guarantees, passed on.
        unsafe { Platform.deallocate(ptr, layout) }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's guarantees, passed on.
        let block = unsafe { Platform.grow(ptr, old, new) }?;
        self.add(new.size() - old.size());
        Ok(block)
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's guarantees, passed on.
        let block = unsafe { Platform.shrink(ptr, old, new) }?;
        self.sub(old.size() - new.size());
        Ok(block)
    }
}

/// Blocks a [`Recycling`] allocator keeps for reuse; dropping the pool frees them.
#[derive(Default)]
pub struct Pool {
    freed: RefCell<Vec<(NonNull<u8>, Layout)>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        for (ptr, layout) in self.freed.get_mut().drain(..) {
            // SAFETY: a block of `Platform` with this layout, kept since it was freed.
            unsafe { Platform.deallocate(ptr, layout) };
        }
    }
}

/// The platform allocator with a last-in first-out list of freed blocks (in a [`Pool`]), reused
/// for the next request of the same layout, so that a test knows which address comes next; its
/// `grow` always moves the block, and then runs a hook (once), while the trace above waits.
/// (No `Drop`: the hook may borrow what outlives it only barely, such as the trace itself.)
pub struct Recycling<'a> {
    pool: &'a Pool,
    on_grow: Cell<Option<&'a dyn Fn()>>,
}

impl<'a> Recycling<'a> {
    pub fn new(pool: &'a Pool) -> Self {
        Self {
            pool,
            on_grow: Cell::new(None),
        }
    }

    /// Runs `hook` in the middle of the next `grow`, after the old block was freed.
    pub fn on_next_grow(&self, hook: &'a dyn Fn()) {
        self.on_grow.set(Some(hook));
    }
}

// SAFETY: blocks are `Platform`'s; a freed block is kept, not freed, until it is handed out
// again with the very layout it had, or freed with the pool. `grow` hands out a new block
// holding the old one's bytes.
unsafe impl Allocator for Recycling<'_> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let mut freed = self.pool.freed.borrow_mut();
        if let Some(i) = freed.iter().rposition(|&(_, l)| l == layout) {
            let (ptr, _) = freed.remove(i);
            return Ok(NonNull::slice_from_raw_parts(ptr, layout.size()));
        }
        drop(freed);
        Platform.allocate(layout)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.pool.freed.borrow_mut().push((ptr, layout));
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let block = Platform.allocate(new)?;
        // SAFETY: `ptr` holds `old.size()` bytes, the new block at least as many; distinct blocks.
        unsafe { std::ptr::copy_nonoverlapping(ptr.as_ptr(), block.cast().as_ptr(), old.size()) };
        // SAFETY: `ptr` is live with `old`, and is no longer used.
        unsafe { self.deallocate(ptr, old) };
        if let Some(hook) = self.on_grow.take() {
            hook();
        }
        Ok(block)
    }
}

/// The platform allocator, refusing request number `fail` (counting from 0) after running a
/// hook in the middle of it. `Sync`, so that the hook may work on other threads.
pub struct RefusingOnce<'a> {
    seen: AtomicUsize,
    fail: usize,
    hook: Mutex<Option<&'a (dyn Fn() + Sync)>>,
}

impl<'a> RefusingOnce<'a> {
    pub fn new(fail: usize) -> Self {
        Self {
            seen: AtomicUsize::new(0),
            fail,
            hook: Mutex::new(None),
        }
    }

    /// Runs `hook` in the middle of the refused request.
    pub fn with_hook(&self, hook: &'a (dyn Fn() + Sync)) {
        *self.hook.lock().unwrap() = Some(hook);
    }
}

// SAFETY: every block is `Platform`'s; a refused request touches nothing.
unsafe impl Allocator for RefusingOnce<'_> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if self.seen.fetch_add(1, Ordering::SeqCst) == self.fail {
            let hook = self.hook.lock().unwrap().take();
            if let Some(hook) = hook {
                hook();
            }
            return Err(AllocError);
        }
        Platform.allocate(layout)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { Platform.deallocate(ptr, layout) }
    }
}

/// [`Summing`], holding every request of one size inside the call until the test lets it go:
/// `entered` gets a message when one arrives, and it returns after `go` gets one.
pub struct Gate {
    pub sum: Summing,
    size: usize,
    entered: Mutex<std::sync::mpsc::Sender<()>>,
    go: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Gate {
    /// A gate for requests of `size` bytes, with the two ends the test keeps.
    pub fn new(
        size: usize,
    ) -> (
        Self,
        std::sync::mpsc::Receiver<()>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (entered, entered_rx) = std::sync::mpsc::channel();
        let (go_tx, go) = std::sync::mpsc::channel();
        let gate = Self {
            sum: Summing::default(),
            size,
            entered: Mutex::new(entered),
            go: Mutex::new(go),
        };
        (gate, entered_rx, go_tx)
    }
}

// SAFETY: every block is `Summing`'s (the platform's); the gate only waits.
unsafe impl Allocator for Gate {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == self.size {
            self.entered.lock().unwrap().send(()).unwrap();
            self.go.lock().unwrap().recv().unwrap();
        }
        self.sum.allocate(layout)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { self.sum.deallocate(ptr, layout) }
    }
}
