//! A tracking `Trace` as the `#[global_allocator]`, with backtraces on, under threads that
//! reallocate: each capture, and each backtrace dropped, allocates and frees through the trace
//! itself. A resize used to leave a backtrace behind under the old address; when the system
//! allocator gave that address to another thread, the other thread's insert dropped the stale
//! backtrace under the trace's lock, and the free came back to the same lock: a deadlock. A
//! watchdog turns a hang into a failure.
//!
//! glibc gives a freed block back to the freeing thread's own cache first, so that the hand-over
//! is rare with `System` alone. The inner allocator here shares the blocks it frees between all
//! threads at once (a small last-in first-out list behind a lock), as other allocators do, and
//! its `grow` moves every block and then pauses, so that the hand-over happens often.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use allockit::{AllocError, Allocator, Trace};

/// A freed block, kept for the next request of its layout, whatever the thread.
#[derive(Clone, Copy)]
struct Kept(NonNull<u8>, Layout);
// SAFETY: a block of `System`, owned by the list while it is in it; any thread may take it.
unsafe impl Send for Kept {}

/// `System`, with the last 32 blocks freed kept in a list that every thread allocates from.
struct Sharing {
    kept: Mutex<[Option<Kept>; 32]>,
}

// SAFETY: every block is `System`'s; a kept block is handed out once, with the layout it had.
// Nothing here allocates through the global allocator (the list is a fixed array).
unsafe impl Allocator for Sharing {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let mut kept = self.kept.lock().unwrap();
        if let Some(slot) = kept
            .iter_mut()
            .rev()
            .find(|slot| slot.is_some_and(|Kept(_, l)| l == layout))
        {
            let Kept(ptr, _) = slot.take().unwrap();
            return Ok(NonNull::slice_from_raw_parts(ptr, layout.size()));
        }
        drop(kept);
        // SAFETY: a non-zero-sized layout (the trace serves zero-sized ones itself).
        let ptr = NonNull::new(unsafe { System.alloc(layout) }).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(ptr, layout.size()))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        let mut kept = self.kept.lock().unwrap();
        match kept.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(Kept(ptr, layout)),
            None => {
                // The list is full: the oldest goes back to the system.
                let Kept(old, old_layout) = kept[0].take().unwrap();
                kept.rotate_left(1);
                kept[31] = Some(Kept(ptr, layout));
                drop(kept);
                // SAFETY: a `System` block with its layout, out of the list.
                unsafe { System.dealloc(old.as_ptr(), old_layout) };
            }
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // Always a move, and the old block is at once another thread's to take.
        let block = self.allocate(new)?;
        // SAFETY: both blocks are live and distinct; `old.size()` bytes fit in each.
        unsafe { std::ptr::copy_nonoverlapping(ptr.as_ptr(), block.cast().as_ptr(), old.size()) };
        // SAFETY: `ptr` is live with `old`, and no longer used.
        unsafe { self.deallocate(ptr, old) };
        // A pause (an allocator may block: a page fault, a system call) in which other threads
        // take the old address while the trace waits for this call.
        std::thread::sleep(Duration::from_micros(50));
        Ok(block)
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let block = self.allocate(new)?;
        // SAFETY: both blocks are live and distinct; `new.size()` bytes fit in each.
        unsafe { std::ptr::copy_nonoverlapping(ptr.as_ptr(), block.cast().as_ptr(), new.size()) };
        // SAFETY: `ptr` is live with `old`, and no longer used.
        unsafe { self.deallocate(ptr, old) };
        Ok(block)
    }
}

/// Set when the worker threads are done.
static DONE: AtomicBool = AtomicBool::new(false);

#[global_allocator]
static GLOBAL: Trace<Sharing> = Trace::with_tracking(Sharing {
    kept: Mutex::new([None; 32]),
});

#[test]
#[cfg_attr(
    miri,
    ignore = "capturing a backtrace per allocation under Miri is too slow, and not what Miri checks"
)]
fn threads_reallocating_through_a_tracking_global_allocator_with_backtraces_finish() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 150;
    let before = GLOBAL.stats();
    GLOBAL.set_backtraces(true);
    // The watchdog allocates nothing once started: a deadlocked trace would hold it too.
    let watchdog = std::thread::spawn(|| {
        for _ in 0..1200 {
            if DONE.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::io::stderr()
            .write_all(b"the threads did not finish: the tracking global allocator deadlocked\n");
        std::process::abort();
    });
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                let mut kept = Vec::new();
                for round in 0..ROUNDS {
                    // Grows that move, frees, and reuse of the addresses they free.
                    let mut v: Vec<u64> = Vec::new();
                    for i in 0..40 {
                        v.push(i);
                    }
                    let text = format!("thread {t} round {round}");
                    kept.push(text.into_boxed_str());
                    if kept.len() > 8 {
                        kept.remove(0);
                    }
                    v.shrink_to(4);
                }
                kept.len()
            });
        }
    });
    DONE.store(true, Ordering::SeqCst);
    watchdog.join().unwrap();
    GLOBAL.set_backtraces(false);
    let after = GLOBAL.stats();
    assert!(after.allocations - before.allocations >= THREADS * ROUNDS * 3);
    assert!(after.grows > before.grows && after.shrinks > before.shrinks);
}
