//! Model checks of the shards' protocols with loom, on a reduced model: two shards (so that a
//! third thread takes the overflow shard), publishing every 16 bytes, 16 bytes of credit.
//! `RUSTFLAGS="--cfg loom" cargo test --lib --release loom`. Every interleaving is explored up
//! to two preemptions.
//!
//! - Snapshots taken while other threads allocate and free are consistent in every field, never
//!   show more live than ever was, and a free on another thread never makes them go below zero.
//! - A shard handed over from an exiting thread to the next keeps every count.
//! - A limit set while other threads allocate counts every byte exactly once, and a limit in
//!   force is never exceeded.
//! - Credit that threads left in their shards when they exited (or in the overflow shard) comes
//!   back to a thread that needs it.

use core::ptr::NonNull;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicPtr, Ordering};
use loom::thread;

use crate::{Allocator, Layout, Platform, Stats, Trace};

/// Runs `f` under loom, with every interleaving of at most two preemptions (the bound tokio
/// and crossbeam use: the bugs it finds need few).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(f);
}

/// A block handed between threads.
struct Block(NonNull<u8>);
// SAFETY: a handle to a block of a `Sync` trace; one thread at a time uses it.
unsafe impl Send for Block {}

fn allocate(trace: &Trace<Platform>, size: usize) -> Block {
    let layout = Layout::from_size_align(size, 8).unwrap();
    Block(trace.allocate(layout).expect("a small block").cast())
}

fn free(trace: &Trace<Platform>, block: Block, size: usize) {
    let layout = Layout::from_size_align(size, 8).unwrap();
    // SAFETY: every `Block` here is live with this size, and freed once.
    unsafe { trace.deallocate(block.0, layout) };
}

/// A snapshot is consistent: nothing counted freed that is not counted allocated, and no more
/// live than `most`, the most that was ever live at once.
fn check(stats: &Stats, most: usize) {
    assert!(
        stats.live_bytes <= most,
        "{stats:?} shows more live than ever was"
    );
    assert!(stats.deallocations <= stats.allocations, "{stats:?}");
    assert!(stats.bytes_freed <= stats.bytes_allocated, "{stats:?}");
    assert_eq!(stats.live_blocks, stats.allocations - stats.deallocations);
    assert_eq!(stats.live_bytes, stats.bytes_allocated - stats.bytes_freed);
    assert!(stats.peak_blocks >= stats.live_blocks && stats.peak_bytes >= stats.live_bytes);
}

#[test]
fn loom_snapshots_stay_consistent_while_blocks_cross_threads() {
    model(|| {
        let trace = Arc::new(Trace::new(Platform));
        // One thread allocates a block and hands it to another, which frees it; this thread,
        // in no way ordered with the first, takes a snapshot meanwhile. It may see the free only
        // with the allocation.
        let handed = Arc::new(AtomicPtr::new(core::ptr::null_mut::<u8>()));
        let maker = {
            let (trace, handed) = (trace.clone(), handed.clone());
            thread::spawn(move || {
                let block = allocate(&trace, 24);
                handed.store(block.0.as_ptr(), Ordering::Release);
            })
        };
        let freer = {
            let (trace, handed) = (trace.clone(), handed.clone());
            thread::spawn(move || {
                let block = loop {
                    if let Some(block) = NonNull::new(handed.load(Ordering::Acquire)) {
                        break Block(block);
                    }
                    thread::yield_now();
                };
                free(&trace, block, 24);
                allocate(&trace, 8)
            })
        };
        // (Loom runs this thread on until it yields or blocks; preemptions add the rest.)
        thread::yield_now();
        check(&trace.stats(), 24);
        maker.join().unwrap();
        let kept = freer.join().unwrap();
        let stats = trace.stats();
        check(&stats, 24);
        assert_eq!((stats.allocations, stats.deallocations), (2, 1));
        assert_eq!((stats.live_blocks, stats.live_bytes), (1, 8));
        // No snapshot showed more than was live at once, so none raised the peak past it.
        assert_eq!(stats.peak_bytes, 24, "{stats:?}");
        free(&trace, kept, 8);
    });
}

#[test]
fn loom_a_shard_handed_to_the_next_thread_keeps_its_counts() {
    model(|| {
        let trace = Arc::new(Trace::new(Platform));
        // The first worker holds an index, counts, and exits; the next two start after it, one
        // on the index it gave back, the other (two shards only) on it or the overflow shard.
        let worker = |trace: Arc<Trace<Platform>>, size| {
            thread::spawn(move || {
                let block = allocate(&trace, size);
                free(&trace, block, size);
            })
        };
        worker(trace.clone(), 8).join().unwrap();
        let a = worker(trace.clone(), 16);
        let b = worker(trace.clone(), 32);
        a.join().unwrap();
        b.join().unwrap();
        let stats = trace.stats();
        assert_eq!((stats.allocations, stats.deallocations), (3, 3));
        assert_eq!((stats.bytes_allocated, stats.bytes_freed), (56, 56));
        assert_eq!((stats.live_blocks, stats.live_bytes), (0, 0));
        assert!(stats.peak_bytes >= 32);
    });
}

#[test]
fn loom_a_limit_set_while_another_thread_allocates_counts_every_byte_once() {
    model(|| {
        let trace = Arc::new(Trace::new(Platform));
        let other = {
            let trace = trace.clone();
            thread::spawn(move || {
                let a = allocate(&trace, 24);
                let b = trace
                    .allocate(Layout::from_size_align(8, 8).unwrap())
                    .ok()
                    .map(|b| Block(b.cast()));
                free(&trace, a, 24);
                b
            })
        };
        thread::yield_now();
        trace.set_limit(Some(40));
        let mine = trace
            .allocate(Layout::from_size_align(8, 8).unwrap())
            .ok()
            .map(|b| Block(b.cast()));
        let theirs = other.join().unwrap();
        trace.shards.check_limit();
        for block in [mine, theirs].into_iter().flatten() {
            free(&trace, block, 8);
        }
        trace.shards.check_limit();
        let stats = trace.stats();
        assert_eq!((stats.live_blocks, stats.live_bytes), (0, 0));
        // Everything was given back, and no other thread holds credit: all of the limit is free,
        // but for a free that raced the switch on the fast path (here at most the 24-byte one),
        // which stays counted until its shard's next call joins the limit.
        let layout = Layout::from_size_align(40 - 24, 8).unwrap();
        let most = trace.allocate(layout).expect("the limit is free again");
        // SAFETY: live with `layout`, freed once.
        unsafe { trace.deallocate(most.cast(), layout) };
        trace.shards.check_limit();
    });
}

#[test]
fn loom_a_limit_in_force_is_never_exceeded() {
    model(|| {
        let trace = Arc::new(Trace::new(Platform));
        trace.set_limit(Some(32));
        let spawn = |size| {
            let trace = trace.clone();
            thread::spawn(move || {
                let layout = Layout::from_size_align(size, 8).unwrap();
                let block = trace.allocate(layout).ok()?;
                let live = trace.stats().live_bytes;
                Some((Block(block.cast()), size, live))
            })
        };
        let a = spawn(24);
        let b = spawn(16);
        let held: Vec<_> = [a.join().unwrap(), b.join().unwrap()]
            .into_iter()
            .flatten()
            .collect();
        let total: usize = held.iter().map(|&(_, size, _)| size).sum();
        assert!(total <= 32, "{total} bytes admitted under a limit of 32");
        trace.shards.check_limit();
        for (block, size, _) in held {
            free(&trace, block, size);
        }
        trace.shards.check_limit();
    });
}

#[test]
fn loom_setting_the_limit_again_never_admits_past_it() {
    model(|| {
        let trace = Arc::new(Trace::new(Platform));
        trace.set_limit(Some(32));
        let other = {
            let trace = trace.clone();
            thread::spawn(move || {
                let layout = Layout::from_size_align(24, 8).unwrap();
                trace.allocate(layout).ok().map(|b| Block(b.cast()))
            })
        };
        // The same limit again, while the other thread's request may be in flight.
        trace.set_limit(Some(32));
        let layout = Layout::from_size_align(24, 8).unwrap();
        let mine = trace.allocate(layout).ok().map(|b| Block(b.cast()));
        let theirs = other.join().unwrap();
        let both = mine.is_some() && theirs.is_some();
        for block in [mine, theirs].into_iter().flatten() {
            free(&trace, block, 24);
        }
        assert!(
            !both,
            "48 bytes admitted under a limit of 32 that was never lowered"
        );
        trace.shards.check_limit();
    });
}

#[test]
fn loom_credit_left_by_threads_that_exited_comes_back() {
    model(|| {
        // A limit large enough that shards keep credit after a free (16 bytes of spare).
        let limit = 4096;
        let trace = Arc::new(Trace::new(Platform));
        trace.set_limit(Some(limit));
        // Three threads on two shards: one of them counts in the overflow shard.
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let trace = trace.clone();
                thread::spawn(move || {
                    let block = allocate(&trace, 8);
                    free(&trace, block, 8);
                    crate::trace::index::leave(); // as its exit does, before the join
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        // Their credit, in the shards of indices no thread holds and in the overflow shard no
        // thread writes, comes back to the one thread left.
        let layout = Layout::from_size_align(limit, 8).unwrap();
        let all = trace.allocate(layout).expect("all of the limit");
        trace.shards.check_limit();
        // SAFETY: live with `layout`, freed once.
        unsafe { trace.deallocate(all.cast(), layout) };
        trace.shards.check_limit();
    });
}
