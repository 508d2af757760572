//! What is particular to `Trace`: exact counters, peak, `since`, the leak report at both levels,
//! backtraces, misuse detection (each case asserting the message and that the inner allocator saw
//! nothing), the fit rule, and exact counts under threads. (The generic promises, for every
//! strategy wrapped in a `Trace`, are in `conformance.rs`.)

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use allockit::trace::Level;
use allockit::{
    AllocError, Allocator, Arena, Box, HashMap, Layout, Platform, SlabBuilder, Stats, Trace, Vec,
    strdup_in,
};
use common::scaled;

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

fn alloc<A: Allocator>(a: &A, l: Layout) -> NonNull<u8> {
    a.allocate(l).expect("a small request succeeds").cast()
}

/// Peaks through a sawtooth of rises (allocations, a grow) and falls (frees, a shrink), at both
/// levels: a peak stays once the live figures fall from it, and a snapshot while they rise sees it.
#[test]
fn peaks_are_exact_through_rises_and_falls() {
    for level in [Level::Counters, Level::Tracking] {
        let trace = Trace::with_level(Platform, level);
        let l = layout(32, 8);
        let mut blocks: Vec<NonNull<u8>> = (0..4).map(|_| alloc(&trace, l)).collect();
        // Rising, with no free yet: the peak is the present.
        let s = trace.stats();
        assert_eq!((s.peak_blocks, s.peak_bytes), (4, 128), "{level:?}");
        for block in blocks.drain(1..) {
            // SAFETY: live with `l`, freed once.
            unsafe { trace.deallocate(block, l) };
        }
        blocks.extend((0..2).map(|_| alloc(&trace, l)));
        let s = trace.stats();
        assert_eq!((s.live_blocks, s.peak_blocks, s.peak_bytes), (3, 4, 128));
        // A new, higher peak reached through a grow, then given back by a shrink.
        // SAFETY: `blocks[0]` is live with `l`.
        let grown = unsafe { trace.grow(blocks[0], l, layout(200, 8)) }.unwrap();
        // SAFETY: live with (200, 8).
        blocks[0] = unsafe { trace.shrink(grown.cast(), layout(200, 8), l) }
            .unwrap()
            .cast();
        for block in blocks.drain(..) {
            // SAFETY: live with `l`, freed once.
            unsafe { trace.deallocate(block, l) };
        }
        let s = trace.stats();
        assert_eq!((s.live_blocks, s.live_bytes), (0, 0));
        assert_eq!(
            (s.peak_blocks, s.peak_bytes),
            (4, 32 * 2 + 200),
            "{level:?}"
        );
    }
}

/// A grow that follows a free, with no allocation between, is a rise of its own: the peak it
/// reaches must survive the shrink that follows it.
#[test]
fn a_grow_alone_raises_the_peak() {
    for level in [Level::Counters, Level::Tracking] {
        let trace = Trace::with_level(Platform, level);
        let l = layout(32, 8);
        let a = alloc(&trace, l);
        let b = alloc(&trace, l);
        // SAFETY: `b` is live with `l`, freed once.
        unsafe { trace.deallocate(b, l) };
        // SAFETY: `a` is live with `l`; then with (100, 8).
        let a = unsafe { trace.grow(a, l, layout(100, 8)) }.unwrap();
        // SAFETY: `a` is live with (100, 8); then with `l`.
        let a = unsafe { trace.shrink(a.cast(), layout(100, 8), l) }.unwrap();
        let s = trace.stats();
        assert_eq!((s.live_bytes, s.peak_bytes), (32, 100), "{level:?}");
        // SAFETY: live with `l`, freed once.
        unsafe { trace.deallocate(a.cast(), l) };
    }
}

#[test]
fn counters_follow_every_call_exactly() {
    for level in [Level::Counters, Level::Tracking] {
        let trace = Trace::with_level(Platform, level);
        let a = alloc(&trace, layout(100, 8));
        let b = trace.allocate_zeroed(layout(50, 2)).unwrap().cast::<u8>();
        // SAFETY: `a` is live with (100, 8); each call below passes the block's current layout.
        let a = unsafe { trace.grow(a, layout(100, 8), layout(300, 8)) }.unwrap();
        // SAFETY: as above.
        let a = unsafe { trace.shrink(a.cast(), layout(300, 8), layout(120, 8)) }.unwrap();
        let s = trace.stats();
        assert_eq!(
            (
                s.allocations,
                s.deallocations,
                s.grows,
                s.shrinks,
                s.failures
            ),
            (2, 0, 1, 1, 0)
        );
        assert_eq!((s.bytes_allocated, s.bytes_freed), (150 + 200, 180));
        assert_eq!((s.live_blocks, s.live_bytes), (2, 170));
        assert_eq!((s.peak_blocks, s.peak_bytes), (2, 350));
        // SAFETY: live blocks with their current layouts, freed once.
        unsafe {
            trace.deallocate(a.cast(), layout(120, 8));
            trace.deallocate(b, layout(50, 2));
        }
        let s = trace.stats();
        assert_eq!((s.deallocations, s.live_blocks, s.live_bytes), (2, 0, 0));
        assert_eq!(s.bytes_allocated, s.bytes_freed);
        assert!(trace.check_leaks().is_ok());
    }
}

#[test]
fn failures_are_counted_and_change_nothing_else() {
    let arena = Arena::new();
    arena.set_limit(Some(64));
    let trace = Trace::with_tracking(&arena);
    let block = alloc(&trace, layout(64, 8));
    assert_eq!(trace.allocate(layout(1, 1)), Err(AllocError));
    // SAFETY: `block` is live with (64, 8); the grow fails and leaves it live.
    let grown = unsafe { trace.grow(block, layout(64, 8), layout(128, 8)) };
    assert_eq!(grown, Err(AllocError));
    let s = trace.stats();
    assert_eq!(
        (s.allocations, s.failures, s.grows, s.live_blocks),
        (1, 2, 0, 1)
    );
    // The block is still recorded as it was: freeing it with its old layout is right.
    // SAFETY: live with (64, 8).
    unsafe { trace.deallocate(block, layout(64, 8)) };
    assert!(trace.check_leaks().is_ok());
}

#[test]
fn a_limit_refuses_before_the_inner_allocator_and_lifts() {
    for level in [Level::Counters, Level::Tracking] {
        let inner = Trace::new(Platform);
        let trace = Trace::with_level(&inner, level);
        trace.set_limit(Some(100));
        assert_eq!(trace.limit(), Some(100));
        let a = alloc(&trace, layout(60, 8));
        assert_eq!(trace.allocate(layout(41, 8)), Err(AllocError));
        // SAFETY: `a` is live with (60, 8); 101 bytes would pass the limit.
        let grown = unsafe { trace.grow(a, layout(60, 8), layout(101, 8)) };
        assert_eq!(grown, Err(AllocError));
        // SAFETY: as above; 100 bytes is exactly the limit.
        let a = unsafe { trace.grow(a, layout(60, 8), layout(100, 8)) }
            .unwrap()
            .cast::<u8>();
        let s = trace.stats();
        assert_eq!(
            (s.allocations, s.grows, s.failures, s.live_bytes),
            (1, 1, 2, 100)
        );
        assert_eq!(s.peak_bytes, 100);
        // The refused requests never reached the inner allocator.
        assert_eq!((inner.stats().allocations, inner.stats().grows), (1, 1));
        trace.set_limit(None);
        let b = alloc(&trace, layout(500, 8));
        // SAFETY: live blocks with their layouts, freed once.
        unsafe {
            trace.deallocate(a, layout(100, 8));
            trace.deallocate(b, layout(500, 8));
        }
        assert!(trace.check_leaks().is_ok());
    }
}

#[test]
fn zero_sized_blocks_are_served_without_the_inner_allocator_and_not_counted() {
    let inner = Trace::new(Platform);
    let trace = Trace::with_tracking(&inner);
    let zst = trace.allocate(layout(0, 64)).unwrap();
    assert_eq!(zst.cast::<u8>().as_ptr().addr() % 64, 0);
    // SAFETY: the zero-sized block, grown to 16 bytes, shrunk back, freed.
    unsafe {
        let grown = trace
            .grow(zst.cast(), layout(0, 64), layout(16, 64))
            .unwrap();
        let back = trace
            .shrink(grown.cast(), layout(16, 64), layout(0, 64))
            .unwrap();
        trace.deallocate(back.cast(), layout(0, 64));
    }
    // The grow from zero was an allocation, the shrink to zero a free.
    let s = trace.stats();
    assert_eq!(
        (s.allocations, s.deallocations, s.grows, s.shrinks),
        (1, 1, 0, 0)
    );
    assert_eq!(inner.stats().allocations, 1);
}

#[test]
fn since_gives_the_change_over_a_region() {
    let trace = Trace::new(Platform);
    let kept = Box::new_in([0u8; 10], &trace);
    let before = trace.stats();
    {
        let mut v: Vec<u32, _> = Vec::new_in(&trace);
        for i in 0..100 {
            v.push(i); // one allocation, then grows
        }
    }
    let region = trace.stats().since(&before);
    assert_eq!(region.allocations, 1);
    assert_eq!(region.deallocations, 1);
    assert!(region.grows >= 1);
    assert_eq!(region.bytes_allocated, region.bytes_freed);
    // Live and peak figures are the later snapshot's.
    assert_eq!(region.live_blocks, 1);
    assert!(region.peak_bytes >= 400 + 10);
    drop(kept);
}

#[test]
fn stats_display_as_a_table() {
    let trace = Trace::new(Platform);
    let big = Box::new_in([0u8; 3000], &trace);
    let shown = trace.stats().to_string();
    let lines: std::vec::Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 6, "{shown}");
    assert!(
        lines[0].contains("blocks") && lines[0].contains("bytes"),
        "{shown}"
    );
    assert!(
        lines[1].starts_with("allocated") && lines[1].contains("2.9 KiB"),
        "{shown}"
    );
    assert!(lines[3].starts_with("live"), "{shown}");
    assert!(
        lines[5].contains("0 grows, 0 shrinks, 0 failed requests"),
        "{shown}"
    );
    drop(big);
}

#[test]
fn a_leak_report_lists_every_live_block_in_address_order() {
    let trace = Trace::with_tracking(Platform);
    let mut kept: std::vec::Vec<(NonNull<u8>, Layout)> = (1..=5)
        .map(|i| {
            let l = layout(8 * i, 8);
            (alloc(&trace, l), l)
        })
        .collect();
    let freed = kept.remove(2);
    // SAFETY: live with its layout, freed once.
    unsafe { trace.deallocate(freed.0, freed.1) };
    let report = trace.check_leaks().unwrap_err();
    assert_eq!(report.live_blocks(), 4);
    assert_eq!(report.live_bytes(), 8 + 16 + 32 + 40);
    let mut expected: std::vec::Vec<(usize, usize)> = kept
        .iter()
        .map(|(p, l)| (p.as_ptr().addr(), l.size()))
        .collect();
    expected.sort_unstable();
    let listed: std::vec::Vec<(usize, usize)> = report
        .blocks()
        .iter()
        .map(|b| (b.address, b.size))
        .collect();
    assert_eq!(listed, expected);
    let text = report.to_string();
    assert!(text.starts_with("4 blocks (96 B) still live"), "{text}");
    for (address, _) in &expected {
        assert!(text.contains(&format!("{address:#x}")), "{text}");
    }
    for (p, l) in kept {
        // SAFETY: live with its layout, freed once.
        unsafe { trace.deallocate(p, l) };
    }
    assert!(trace.check_leaks().is_ok());
}

#[test]
fn a_counters_level_report_gives_totals_and_says_why_there_is_no_list() {
    let trace = Trace::new(Platform);
    let kept = alloc(&trace, layout(24, 8));
    let report = trace.check_leaks().unwrap_err();
    assert!(report.blocks().is_empty());
    assert_eq!((report.live_blocks(), report.live_bytes()), (1, 24));
    assert!(
        report.to_string().contains("Trace::with_tracking"),
        "{report}"
    );
    // SAFETY: live with (24, 8).
    unsafe { trace.deallocate(kept, layout(24, 8)) };
    assert!(trace.check_leaks().is_ok());
}

#[test]
#[cfg_attr(
    miri,
    ignore = "capturing a backtrace under Miri is slow and not what is tested"
)]
fn backtraces_are_captured_on_request_and_shown_in_reports() {
    let trace = Trace::with_tracking(Platform);
    let quiet = alloc(&trace, layout(8, 8));
    trace.set_backtraces(true);
    let noisy = alloc(&trace, layout(16, 8));
    let report = trace.check_leaks().unwrap_err();
    let by_address = |p: NonNull<u8>| {
        report
            .blocks()
            .iter()
            .find(|b| b.address == p.as_ptr().addr())
            .unwrap()
    };
    assert!(by_address(quiet).backtrace().is_none());
    let backtrace = by_address(noisy).backtrace().expect("captured");
    assert_eq!(
        backtrace.status(),
        std::backtrace::BacktraceStatus::Captured
    );
    assert!(report.to_string().contains("allocated at:"), "{report}");
    // SAFETY: live blocks, freed once.
    unsafe {
        trace.deallocate(quiet, layout(8, 8));
        trace.deallocate(noisy, layout(16, 8));
    }
}

/// Runs `f`, which must panic, and returns its message.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the misuse should panic");
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload.downcast::<&str>().unwrap().to_string(),
    }
}

/// A tracking trace over a counting one: the outer catches the misuse, the inner shows that
/// nothing reached it.
fn checked_misuse(
    block: Layout,
    misuse: impl FnOnce(&Trace<&Trace<Platform>>, NonNull<u8>),
) -> (String, NonNull<u8>) {
    let inner = Trace::new(Platform);
    let outer = Trace::with_tracking(&inner);
    let ptr = alloc(&outer, block);
    let before = inner.stats();
    let outer_before = outer.stats();
    let message = panic_message(|| misuse(&outer, ptr));
    assert_eq!(
        inner.stats(),
        before,
        "the inner allocator saw the bad request"
    );
    assert_eq!(
        outer.stats(),
        outer_before,
        "the trace's own counts changed"
    );
    // The block is still live and recorded: freeing it correctly works.
    // SAFETY: live with `block`.
    unsafe { outer.deallocate(ptr, block) };
    assert!(outer.check_leaks().is_ok());
    assert_eq!(inner.stats().live_blocks, 0);
    (message, ptr)
}

#[test]
fn a_double_free_panics_naming_the_address_and_both_layouts() {
    let inner = Trace::new(Platform);
    let outer = Trace::with_tracking(&inner);
    let l = layout(40, 8);
    let ptr = alloc(&outer, l);
    // Another live block, so that the allocator does not hand the address out again at once.
    let other = alloc(&outer, l);
    // SAFETY: the first free is correct.
    unsafe { outer.deallocate(ptr, l) };
    let before = inner.stats();
    let given = layout(40, 8);
    let message = panic_message(|| {
        // SAFETY: not sound by the contract: the trace must stop it before the inner allocator.
        unsafe { outer.deallocate(ptr, given) }
    });
    assert!(message.contains(&format!("{ptr:p}")), "{message}");
    assert!(message.contains("freed already"), "{message}");
    assert!(message.contains(&format!("{given:?}")), "{message}");
    assert!(message.contains(&format!("it was {l:?}")), "{message}");
    assert_eq!(inner.stats(), before);
    // SAFETY: live, freed once.
    unsafe { outer.deallocate(other, l) };
    assert!(outer.check_leaks().is_ok());
}

#[test]
fn a_foreign_pointer_panics_and_reaches_nothing() {
    let l = layout(32, 8);
    let foreign = alloc(&Platform, l);
    let (message, _) = checked_misuse(l, |outer, _| {
        // SAFETY: not sound by the contract: the trace must stop it.
        unsafe { outer.deallocate(foreign, l) }
    });
    assert!(message.contains(&format!("{foreign:p}")), "{message}");
    assert!(message.contains("no live block"), "{message}");
    assert!(message.contains(&format!("{l:?}")), "{message}");
    // SAFETY: the platform's block, freed there once.
    unsafe { Platform.deallocate(foreign, l) };
}

#[test]
fn a_wrong_alignment_panics_with_both_layouts() {
    let block = layout(64, 16);
    let wrong = layout(64, 8);
    let (message, ptr) = checked_misuse(block, |outer, ptr| {
        // SAFETY: not sound by the contract: the trace must stop it.
        unsafe { outer.deallocate(ptr, wrong) }
    });
    assert!(message.contains(&format!("{ptr:p}")), "{message}");
    assert!(message.contains(&format!("with {wrong:?}")), "{message}");
    assert!(
        message.contains(&format!("allocated with {block:?}")),
        "{message}"
    );
}

#[test]
fn a_wrong_size_panics_in_deallocate_grow_and_shrink_even_a_zero_size() {
    let block = layout(64, 8);
    for (call, wrong) in [
        ("deallocate", layout(63, 8)),
        ("deallocate", layout(65, 8)),
        ("grow", layout(32, 8)),
        ("shrink", layout(100, 8)),
        // Zero-sized layouts never reach the inner allocator, but a recorded block given with
        // one is still misuse (it used to pass silently, the block left live).
        ("deallocate", layout(0, 8)),
        ("grow", layout(0, 8)),
        ("grow_zeroed", layout(0, 1)),
    ] {
        let (message, ptr) = checked_misuse(block, |outer, ptr| {
            // SAFETY: not sound by the contract: the trace must stop each before the inner
            // allocator.
            unsafe {
                match call {
                    "deallocate" => outer.deallocate(ptr, wrong),
                    "grow" => {
                        let _ = outer.grow(ptr, wrong, layout(200, 8));
                    }
                    "grow_zeroed" => {
                        let _ = outer.grow_zeroed(ptr, wrong, layout(200, 8));
                    }
                    _ => {
                        let _ = outer.shrink(ptr, wrong, layout(10, 8));
                    }
                }
            }
        });
        assert!(message.contains(&format!("{call} of {ptr:p}")), "{message}");
        assert!(message.contains(&format!("with {wrong:?}")), "{message}");
        assert!(
            message.contains(&format!("allocated with {block:?}")),
            "{message}"
        );
    }
}

#[test]
fn any_size_up_to_the_returned_length_fits() {
    // A slab hands out whole 32-byte blocks for a 20-byte request.
    let slab = SlabBuilder::new().classes(&[32]).build();
    let trace = Trace::with_tracking(&slab);
    let requested = layout(20, 4);
    let block = trace.allocate(requested).unwrap();
    assert_eq!(block.len(), 32);
    for size in [20, 26, 32] {
        let ptr = alloc(&trace, requested);
        // SAFETY: `ptr` is live; any size from 20 to 32 with alignment 4 fits it.
        unsafe { trace.deallocate(ptr, layout(size, 4)) };
    }
    // And hashbrown, which frees its tables with the length it was given, runs clean.
    let mut map = HashMap::new_in(&trace);
    for i in 0..scaled(1_000, 50) {
        map.insert(strdup_in(&format!("{i}"), &trace), i);
    }
    drop(map);
    // SAFETY: live, freed with its full length.
    unsafe { trace.deallocate(block.cast(), layout(32, 4)) };
    assert!(trace.check_leaks().is_ok());
}

#[test]
fn traces_nest_and_each_level_counts_what_reaches_it() {
    let arena = Arena::new();
    let inner = Trace::new(&arena);
    let outer = Trace::with_tracking(&inner);
    let mut map = HashMap::new_in(&outer);
    for i in 0..100 {
        map.insert(i, i);
    }
    drop(map);
    let (o, i) = (outer.stats(), inner.stats());
    assert_eq!(o.allocations, i.allocations);
    assert_eq!(o.bytes_allocated, i.bytes_allocated);
    assert_eq!(i.live_blocks, 0);
    assert!(arena.stats().used > 0);
}

#[test]
fn counts_are_exact_after_four_threads() {
    const THREADS: usize = 4;
    let ops = scaled(100_000, 300);
    for level in [Level::Counters, Level::Tracking] {
        let trace = Trace::with_level(Platform, level);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let trace = &trace;
                s.spawn(move || {
                    let mut rng = common::Rng::new(t as u64);
                    let mut live: std::vec::Vec<(NonNull<u8>, Layout)> = std::vec::Vec::new();
                    for _ in 0..ops {
                        match rng.below(4) {
                            0 | 1 => {
                                let l = layout(1 + rng.below(200), 8);
                                live.push((alloc(trace, l), l));
                            }
                            2 if !live.is_empty() => {
                                let i = rng.below(live.len());
                                let (p, l) = live[i];
                                let new = layout(l.size() + 1 + rng.below(100), 8);
                                // SAFETY: `p` is live with `l`; `new` is larger.
                                let g = unsafe { trace.grow(p, l, new) }.unwrap();
                                live[i] = (g.cast(), new);
                            }
                            _ if !live.is_empty() => {
                                let (p, l) = live.swap_remove(rng.below(live.len()));
                                // SAFETY: live with `l`, freed once.
                                unsafe { trace.deallocate(p, l) };
                            }
                            _ => {}
                        }
                    }
                    for (p, l) in live {
                        // SAFETY: live with `l`, freed once.
                        unsafe { trace.deallocate(p, l) };
                    }
                });
            }
        });
        // Replay every thread's operations on its own to know the exact totals.
        let mut expected = Stats::default();
        for t in 0..THREADS {
            let mut rng = common::Rng::new(t as u64);
            let mut live: std::vec::Vec<usize> = std::vec::Vec::new();
            for _ in 0..ops {
                match rng.below(4) {
                    0 | 1 => {
                        let size = 1 + rng.below(200);
                        expected.allocations += 1;
                        expected.bytes_allocated += size;
                        live.push(size);
                    }
                    2 if !live.is_empty() => {
                        let i = rng.below(live.len());
                        let grow = 1 + rng.below(100);
                        expected.grows += 1;
                        expected.bytes_allocated += grow;
                        live[i] += grow;
                    }
                    _ if !live.is_empty() => {
                        let size = live.swap_remove(rng.below(live.len()));
                        expected.deallocations += 1;
                        expected.bytes_freed += size;
                    }
                    _ => {}
                }
            }
            expected.deallocations += live.len();
            expected.bytes_freed += live.iter().sum::<usize>();
        }
        let s = trace.stats();
        assert_eq!(
            (
                s.allocations,
                s.deallocations,
                s.grows,
                s.bytes_allocated,
                s.bytes_freed
            ),
            (
                expected.allocations,
                expected.deallocations,
                expected.grows,
                expected.bytes_allocated,
                expected.bytes_freed
            ),
            "{level:?}"
        );
        assert_eq!((s.live_blocks, s.live_bytes, s.failures), (0, 0, 0));
        assert!(s.peak_blocks > 0 && s.peak_bytes > 0);
        assert!(trace.check_leaks().is_ok());
    }
}

/// A block pointer sent to another thread (the test hands each block over once).
struct Sent(NonNull<u8>);
// SAFETY: the pointer is only a handle to a block of a `Sync` trace; one thread at a time uses it.
unsafe impl Send for Sent {}

#[test]
fn blocks_may_cross_between_threads() {
    // Each thread counts in a shard of its own. Blocks freed in another shard than the one they
    // were allocated in, and peaks over both, must still add up.
    let trace = Trace::new(Platform);
    let mine = Sent(alloc(&trace, layout(100, 8)));
    let shared = &trace;
    let (theirs, theirs_peak) = std::thread::scope(|s| {
        s.spawn(move || {
            let mine = mine;
            let theirs = Sent(alloc(shared, layout(50, 8)));
            let peak = shared.stats().peak_bytes;
            // SAFETY: `mine` is live with (100, 8); freed once, on this other thread.
            unsafe { shared.deallocate(mine.0, layout(100, 8)) };
            (theirs, peak)
        })
        .join()
        .unwrap()
    });
    assert_eq!(theirs_peak, 150, "both sides' blocks were live at once");
    let s = trace.stats();
    assert_eq!(
        (s.allocations, s.deallocations, s.live_blocks, s.live_bytes),
        (2, 1, 1, 50)
    );
    assert_eq!((s.peak_blocks, s.peak_bytes), (2, 150));
    // Under a limit every call checks it.
    trace.set_limit(Some(60));
    assert_eq!(trace.allocate(layout(20, 8)), Err(AllocError));
    trace.set_limit(None);
    // SAFETY: `theirs` is live with (50, 8); this thread frees it.
    unsafe { trace.deallocate(theirs.0, layout(50, 8)) };
    let s = trace.stats();
    assert_eq!((s.live_blocks, s.live_bytes, s.failures), (0, 0, 1));
    assert!(trace.check_leaks().is_ok());
}

/// A shard leaves the peak of a run of its allocations for its next free to record. A free on
/// another thread before that, and a snapshot, must still see the peak.
#[test]
fn a_peak_not_recorded_yet_survives_a_free_on_another_thread() {
    let trace = Trace::new(Platform);
    let l = layout(40, 8);
    let mut blocks: Vec<Sent> = (0..3).map(|_| Sent(alloc(&trace, l))).collect();
    let s = trace.stats();
    assert_eq!((s.live_blocks, s.peak_blocks, s.peak_bytes), (3, 3, 120));
    let last = blocks.pop().unwrap();
    let shared = &trace;
    std::thread::scope(|s| {
        s.spawn(move || {
            let last = last;
            // SAFETY: `last` is live with `l`; freed once, on this other thread.
            unsafe { shared.deallocate(last.0, l) };
        });
    });
    for block in blocks {
        // SAFETY: live with `l`, freed once, on this thread.
        unsafe { trace.deallocate(block.0, l) };
    }
    let s = trace.stats();
    assert_eq!((s.live_blocks, s.live_bytes), (0, 0));
    assert_eq!((s.peak_blocks, s.peak_bytes), (3, 120));
}

/// Under a limit, frees must count, and make room at once.
#[test]
fn frees_under_a_limit_count_and_make_room() {
    let inner = Trace::new(Platform);
    let trace = Trace::new(&inner);
    let a = alloc(&trace, layout(80, 8)); // counted before the limit is set
    trace.set_limit(Some(100));
    assert_eq!(trace.allocate(layout(40, 8)), Err(AllocError));
    // SAFETY: `a` is live with (80, 8), freed once.
    unsafe { trace.deallocate(a, layout(80, 8)) };
    let b = alloc(&trace, layout(100, 8));
    let s = trace.stats();
    assert_eq!((s.allocations, s.deallocations, s.failures), (2, 1, 1));
    assert_eq!((s.live_blocks, s.live_bytes, s.peak_bytes), (1, 100, 100));
    assert_eq!(
        inner.stats().allocations,
        2,
        "the refused request never reached it"
    );
    // SAFETY: `b` is live with (100, 8), freed once.
    unsafe { trace.deallocate(b, layout(100, 8)) };
    assert!(trace.check_leaks().is_ok());
    assert_eq!(trace.stats().live_bytes, 0);
}

#[test]
fn a_shared_trace_is_sync_and_an_arena_trace_is_not() {
    fn sync<T: Sync>(_: &T) {}
    sync(&Trace::new(Platform));
    sync(&Trace::with_tracking(Platform));
    // (`Trace<&Arena>` is not `Sync`, because `&Arena` is not `Send`: the type system keeps
    // single-threaded strategies on one thread; `Trace` adds no `unsafe impl` of its own.)
}

/// Allocates through `trace` from a function of its own, so that the block's backtrace names it.
#[inline(never)]
fn allocated_at_site_one<A: Allocator>(trace: &A, l: Layout) -> NonNull<u8> {
    alloc(trace, l)
}

/// As [`allocated_at_site_one`], from another function.
#[inline(never)]
fn allocated_at_site_two<A: Allocator>(trace: &A, l: Layout) -> NonNull<u8> {
    alloc(trace, l)
}

/// The backtrace recorded for the block at `address`, as text.
fn backtrace_of<A>(trace: &Trace<A>, address: NonNull<u8>) -> String {
    let report = trace.check_leaks().unwrap_err();
    let block = report
        .blocks()
        .iter()
        .find(|b| b.address == address.as_ptr().addr())
        .expect("the block is live");
    block.backtrace().expect("captured").to_string()
}

/// A resize used to leave the block's backtrace under its old address while the inner allocator
/// worked: if the inner allocator moved the block and handed the old address to another
/// allocation meanwhile, the two blocks' backtraces were swapped, and (with a global allocator)
/// the displaced one was dropped under the trace's lock. Each must stay with its own block.
#[test]
#[cfg_attr(
    miri,
    ignore = "capturing backtraces under Miri is slow and not what is tested"
)]
fn a_backtrace_stays_with_its_block_when_a_grow_moves_it_and_the_address_is_reused() {
    let pool = common::inner::Pool::default();
    let inner = common::inner::Recycling::new(&pool);
    let trace = Trace::with_tracking(&inner);
    trace.set_backtraces(true);
    let small = layout(24, 8);
    let first = allocated_at_site_one(&trace, small);
    let second = std::cell::Cell::new(None);
    let hook = || second.set(Some(allocated_at_site_two(&trace, small)));
    inner.on_next_grow(&hook);
    // SAFETY: `first` is live with `small`; the new layout is larger.
    let moved = unsafe { trace.grow(first, small, layout(48, 8)) }
        .unwrap()
        .cast::<u8>();
    let second = second.get().expect("the hook ran");
    assert_eq!(
        second, first,
        "the inner allocator handed the old address out again"
    );
    assert_ne!(moved, first);
    let of_moved = backtrace_of(&trace, moved);
    let of_second = backtrace_of(&trace, second);
    assert!(of_moved.contains("allocated_at_site_one"), "{of_moved}");
    assert!(!of_moved.contains("allocated_at_site_two"), "{of_moved}");
    assert!(of_second.contains("allocated_at_site_two"), "{of_second}");
    // SAFETY: both live with these layouts, freed once.
    unsafe {
        trace.deallocate(moved, layout(48, 8));
        trace.deallocate(second, small);
    }
    trace.check_leaks().unwrap();
}

/// A legal shrink: the block's length (32, a slab class) is passed as its old size although 20
/// was requested, and the new size (24) is above the requested one. It used to panic with an
/// overflow inside the allocator after the inner shrink, losing the block's record.
#[test]
fn resizes_take_any_old_size_the_contract_allows_at_both_levels() {
    for level in [Level::Counters, Level::Tracking] {
        let slab = SlabBuilder::new().classes(&[32, 64]).build();
        let trace = Trace::with_level(&slab, level);
        let block = trace.allocate(layout(20, 8)).unwrap();
        assert_eq!(block.len(), 32);
        // SAFETY: live; 32 is within its fit range (20..=32), and 24 <= 32.
        let shrunk = unsafe { trace.shrink(block.cast(), layout(32, 8), layout(24, 8)) }.unwrap();
        let s = trace.stats();
        assert_eq!((s.shrinks, s.live_blocks), (1, 1), "{level:?}");
        if level == Level::Tracking {
            // Bytes follow the recorded sizes: 20 requested, then 24.
            assert_eq!(
                (s.bytes_allocated, s.bytes_freed, s.live_bytes),
                (24, 0, 24)
            );
        } else {
            // Bytes follow the sizes the caller passed: 20 allocated, 8 taken off.
            assert_eq!(
                (s.bytes_allocated, s.bytes_freed, s.live_bytes),
                (20, 8, 12)
            );
        }
        // A grow from the returned length, and a free with the new length.
        // SAFETY: live with a layout of size 24, whose block is 32 long; 64 > 32.
        let grown = unsafe { trace.grow(shrunk.cast(), layout(32, 8), layout(64, 8)) }.unwrap();
        // SAFETY: live with (64, 8), freed once with its returned length.
        unsafe { trace.deallocate(grown.cast(), layout(grown.len(), 8)) };
        let s = trace.stats();
        assert_eq!((s.live_blocks, s.grows), (0, 1), "{level:?}");
        if level == Level::Tracking {
            assert_eq!(
                (s.bytes_allocated, s.bytes_freed, s.live_bytes),
                (64, 64, 0)
            );
        }
        trace.check_leaks().unwrap();
        assert_eq!(slab.stats().live_blocks(), 0);
    }
}

/// With a limit, a request the inner allocator refuses used to restore the peaks saved before
/// it, erasing what another thread allocated and freed meanwhile. A refusal takes back only its
/// own bytes.
#[test]
fn a_refused_request_never_undoes_another_threads_peak() {
    for level in [Level::Counters, Level::Tracking] {
        let inner = common::inner::RefusingOnce::new(0);
        let trace = Trace::with_level(&inner, level);
        trace.set_limit(Some(1000));
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let meanwhile = || {
            std::thread::scope(|s| {
                s.spawn(|| {
                    let b = alloc(&trace, layout(50, 8));
                    seen.store(
                        trace.stats().peak_bytes,
                        std::sync::atomic::Ordering::SeqCst,
                    );
                    // SAFETY: live with (50, 8), freed once.
                    unsafe { trace.deallocate(b, layout(50, 8)) };
                });
            });
        };
        inner.with_hook(&meanwhile);
        assert_eq!(trace.allocate(layout(100, 8)), Err(AllocError));
        let s = trace.stats();
        assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 50);
        assert_eq!((s.peak_blocks, s.peak_bytes), (1, 50), "{level:?}");
        assert_eq!((s.allocations, s.failures, s.live_bytes), (1, 1, 0));
        // The refused request's 100 bytes went back: all of the limit is there again but the few
        // bytes of credit the other thread's shard keeps (a 256th of the limit at most, twice).
        let b = alloc(&trace, layout(990, 8));
        // SAFETY: live with (990, 8), freed once.
        unsafe { trace.deallocate(b, layout(990, 8)) };
    }
}

#[test]
fn the_largest_limit_reads_back() {
    let trace = Trace::new(Platform);
    trace.set_limit(Some(usize::MAX));
    assert_eq!(trace.limit(), Some(usize::MAX));
    let b = alloc(&trace, layout(64, 8));
    trace.set_limit(Some(0));
    assert_eq!(trace.limit(), Some(0));
    assert_eq!(trace.allocate(layout(1, 1)), Err(AllocError));
    trace.set_limit(None);
    assert_eq!(trace.limit(), None);
    // SAFETY: live with (64, 8), freed once.
    unsafe { trace.deallocate(b, layout(64, 8)) };
}
