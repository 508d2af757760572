//! What is particular to `Arena` and `with_arena`: the exact limit, reset, stats, string storage,
//! and a scope pool that stops asking the global allocator for chunks once warm.
//!
//! This binary counts the global allocator's calls per thread, so that a test can say exactly how
//! many chunks a piece of code reserved.
#![cfg_attr(feature = "nightly", feature(allocator_api))]

mod common;

use std::alloc::{GlobalAlloc, Layout as StdLayout, System};
use std::cell::Cell;
use std::panic;

use allockit::{AllocError, Allocator, Arena, Box, HashMap, Layout, strdup_in, with_arena};
use common::scaled;

/// The system allocator, counting the allocations (and reallocations) made by each thread.
struct Counting;

thread_local! {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc` made by this thread. A `const` `Cell` needs
    /// no lazy initialisation and no destructor, so touching it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations_on_this_thread() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only a thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: StdLayout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: StdLayout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: StdLayout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: StdLayout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A scope's worth of small allocations, all in `arena`: 100 boxes in a vector, a string, a map.
fn small_work(arena: &Arena) -> usize {
    let mut boxes = allockit::Vec::with_capacity_in(100, arena);
    boxes.extend((0..100).map(|i| Box::new_in(i, arena)));
    let name = arena.alloc_str("scratch");
    let mut map = HashMap::new_in(arena);
    for b in &boxes {
        map.insert(**b, name);
    }
    map.len() + boxes.iter().map(|b| **b as usize).sum::<usize>()
}

#[test]
fn limit_is_exact_even_inside_the_current_chunk() {
    let arena = Arena::with_capacity(64 * 1024);
    arena.set_limit(Some(1000));
    let layout = Layout::from_size_align(400, 8).unwrap();
    let a = arena.allocate(layout).unwrap();
    let b = arena.allocate(layout).unwrap();
    // 200 more bytes fit exactly; one more byte does not, though the chunk has ~63 KiB left.
    let tail = arena
        .allocate(Layout::from_size_align(200, 1).unwrap())
        .unwrap();
    assert_eq!(arena.stats().used, 1000);
    assert!(arena.stats().capacity - arena.stats().used > 60 * 1024);
    assert_eq!(arena.allocate(Layout::new::<u8>()), Err(AllocError));
    // A zero-sized request takes nothing and still succeeds.
    assert!(arena.allocate(Layout::new::<()>()).is_ok());
    // Freeing the most recent block gives its bytes back, and they can be had again.
    // SAFETY: `tail` is live with that layout.
    unsafe { arena.deallocate(tail.cast(), Layout::from_size_align(200, 1).unwrap()) };
    assert_eq!(arena.stats().used, 800);
    assert!(
        arena
            .allocate(Layout::from_size_align(200, 1).unwrap())
            .is_ok()
    );
    // Freeing an older block does not: its bytes count as freed, not returned.
    // SAFETY: `a` is live with `layout`.
    unsafe { arena.deallocate(a.cast(), layout) };
    assert_eq!(arena.stats().freed, 400);
    assert_eq!(arena.allocate(Layout::new::<u8>()), Err(AllocError));
    // Raising the limit lets allocation go on.
    arena.set_limit(Some(2000));
    assert!(
        arena
            .allocate(Layout::from_size_align(1000, 1).unwrap())
            .is_ok()
    );
    let _ = b;
}

#[test]
fn limit_applies_to_grow_and_shrink() {
    let arena = Arena::new();
    arena.set_limit(Some(100));
    let small = Layout::from_size_align(40, 1).unwrap();
    let a = arena.allocate(small).unwrap().cast::<u8>();
    let _b = arena.allocate(small).unwrap();
    // `a` is not the most recent block, so growing it needs a whole new block of 70: too much.
    let bigger = Layout::from_size_align(70, 1).unwrap();
    // SAFETY: `a` is live with layout `small`.
    assert_eq!(unsafe { arena.grow(a, small, bigger) }, Err(AllocError));
    // The failed grow changed nothing.
    assert_eq!(arena.stats().used, 80);
    // A shrink to a stricter alignment that the block misses needs a new block too; one that
    // fits succeeds and leaves the old block behind.
    let aligned = Layout::from_size_align(10, 64).unwrap();
    // SAFETY: `a` is live with layout `small`.
    let moved = unsafe { arena.shrink(a, small, aligned) };
    let stats = arena.stats();
    if a.as_ptr().addr() % 64 == 0 {
        assert_eq!(moved.unwrap().cast::<u8>(), a);
        assert_eq!((stats.used, stats.freed, stats.left_by_moves), (80, 30, 0));
    } else {
        assert_eq!(moved.unwrap().cast::<u8>().as_ptr().addr() % 64, 0);
        assert_eq!((stats.used, stats.freed, stats.left_by_moves), (90, 0, 40));
    }
}

#[test]
fn over_limit_requests_fail_cleanly_in_collections() {
    let arena = Arena::new();
    arena.set_limit(Some(256));
    let mut v: allockit::Vec<u8, &Arena> = allockit::Vec::new_in(&arena);
    assert!(v.try_reserve(200).is_ok());
    v.extend_from_slice(&[1; 200]);
    assert!(v.try_reserve(10_000).is_err());
    assert_eq!(v.len(), 200);
    assert!(v.iter().all(|&x| x == 1));
    assert!(Box::try_new_in([0u8; 100], &arena).is_err());
    assert!(arena.try_alloc_str(&"x".repeat(100)).is_err());
}

#[test]
fn reset_frees_everything_and_keeps_one_chunk_for_the_whole_cycle() {
    let mut arena = Arena::with_capacity(256);
    for i in 0..scaled(20_000, 500) {
        arena.alloc_str(if i % 2 == 0 {
            "short"
        } else {
            "a somewhat longer string"
        });
    }
    let before = arena.stats();
    assert!(
        before.chunks > 1,
        "the workload should have needed several chunks"
    );
    arena.set_limit(Some(1 << 20));
    arena.reset();
    let after = arena.stats();
    assert_eq!(
        (after.used, after.freed, after.left_by_moves, after.peak),
        (0, 0, 0, 0)
    );
    assert_eq!(after.chunks, 1);
    assert_eq!(after.limit, Some(1 << 20), "reset keeps the limit");
    // The chunk kept holds everything the cycle held at its peak, which several chunks held.
    assert!(after.capacity >= before.peak, "{after:?} vs {before:?}");
    // It is reused: allocating up to its size reserves nothing new.
    let count_before = allocations_on_this_thread();
    let block = Layout::from_size_align(after.capacity / 2, 1).unwrap();
    arena.allocate(block).unwrap();
    assert_eq!(allocations_on_this_thread(), count_before);
    assert_eq!(arena.stats().chunks, 1);
}

#[test]
fn stats_count_what_a_rehash_leaves_behind() {
    let arena = Arena::new();
    let mut map = HashMap::new_in(&arena);
    for i in 0..scaled(10_000, 300) {
        map.insert(i, i);
    }
    let stats = arena.stats();
    // hashbrown allocates the larger table, moves the entries and frees the old one, which is not
    // the most recent block: freed, not taken back.
    assert!(stats.freed > 0, "old tables must show as freed: {stats:?}");
    assert_eq!(stats.left_by_moves, 0, "nothing was grown: {stats:?}");
    assert!(stats.used >= stats.freed);
    assert!(stats.peak >= stats.used);
    assert!(stats.used <= stats.capacity);
    assert!(stats.chunks >= 1);
    let line = stats.to_string();
    assert!(line.starts_with("arena: "), "{line}");
    assert!(
        line.contains("freed") && line.contains("left by moving grows") && line.contains("chunk"),
        "{line}"
    );
    assert!(!line.contains("wasted"), "{line}");
    assert!(format!("{arena:?}").contains("left_by_moves"));
    // A vector that outgrows its place (not the most recent block) leaves its old buffer behind.
    let mut v = allockit::Vec::with_capacity_in(4, &arena);
    v.extend([1u64, 2, 3, 4]);
    let _after_v = arena.alloc_str("x");
    v.push(5);
    assert_eq!(arena.stats().left_by_moves, 32);
}

#[test]
fn strings_in_an_arena() {
    let arena = Arena::new();
    let s = arena.alloc_str("hello");
    let boxed = strdup_in("hello", &arena);
    assert_eq!(s, &*boxed);
    assert_eq!(arena.alloc_str(""), "");
    // The size argument for `alloc_str`: a boxed key carries its allocator.
    assert_eq!(size_of::<&str>(), 2 * size_of::<usize>());
    assert_eq!(size_of::<Box<str, &Arena>>(), 3 * size_of::<usize>());
    arena.set_limit(Some(arena.stats().used + 3));
    assert_eq!(arena.try_alloc_str("abc"), Ok("abc"));
    assert_eq!(arena.try_alloc_str("d"), Err(AllocError));
    let panicked = panic::catch_unwind(panic::AssertUnwindSafe(|| arena.alloc_str("d")));
    assert!(panicked.is_err());
}

#[test]
fn an_arena_owned_by_its_map() {
    let mut map: HashMap<u64, u64, Arena> = HashMap::new_in(Arena::new());
    for i in 0..scaled(5_000, 200) as u64 {
        map.insert(i, i * 2);
    }
    assert_eq!(map[&7], 14);
    assert!(map.allocator().stats().used > 0);
    // Moving the map moves its arena; the table stays valid.
    let moved = map;
    assert_eq!(moved.len(), scaled(5_000, 200));
}

#[test]
fn try_with_capacity_refuses_impossible_sizes() {
    assert!(Arena::try_with_capacity(usize::MAX).is_err());
    assert!(Arena::try_with_capacity(isize::MAX as usize + 1).is_err());
    assert!(Arena::try_with_capacity(1024).unwrap().stats().capacity >= 1024);
}

#[test]
fn warm_with_arena_reserves_no_chunk() {
    let rounds = scaled(1_000, 20);
    // A fresh arena per round reserves at least one chunk per round: the counter sees it.
    let before = allocations_on_this_thread();
    for _ in 0..rounds {
        let arena = Arena::with_capacity(8192);
        small_work(&arena);
    }
    assert!(allocations_on_this_thread() - before >= rounds);

    // The first scope on this thread fills the pool; after that, nothing.
    with_arena(8192, small_work);
    let before = allocations_on_this_thread();
    let mut total = 0;
    for _ in 0..rounds {
        total += with_arena(8192, small_work);
    }
    assert_eq!(
        allocations_on_this_thread(),
        before,
        "a warm scope reserved memory"
    );
    assert_eq!(total, rounds * (100 + 4950));
}

#[test]
fn nested_scopes_use_separate_pooled_arenas() {
    let nested = || {
        with_arena(4096, |outer| {
            let kept = outer.alloc_str("outer");
            let inner_sum = with_arena(4096, |inner| {
                assert!(!std::ptr::eq(outer, inner));
                small_work(inner)
            });
            assert_eq!(
                kept, "outer",
                "the inner scope must not touch the outer arena"
            );
            inner_sum
        })
    };
    nested();
    let before = allocations_on_this_thread();
    for _ in 0..scaled(200, 10) {
        assert_eq!(nested(), 5050);
    }
    assert_eq!(allocations_on_this_thread(), before);
}

#[test]
fn a_scope_starts_clean_whatever_the_last_one_did() {
    with_arena(1024, |temp| {
        temp.set_limit(Some(10));
        temp.alloc_str("0123456789");
    });
    let panicked = panic::catch_unwind(|| {
        with_arena(1024, |temp| {
            temp.alloc_str("left behind by a panic");
            panic!("scope body failed");
        })
    });
    assert!(panicked.is_err());
    with_arena(1024, |temp| {
        let stats = temp.stats();
        assert_eq!(
            (stats.used, stats.freed, stats.left_by_moves, stats.limit),
            (0, 0, 0, None)
        );
        assert!(stats.capacity >= 1024);
    });
}

#[test]
fn a_larger_scope_gets_a_larger_arena() {
    with_arena(1024, |_| ());
    with_arena(1 << 20, |temp| assert!(temp.stats().capacity >= 1 << 20));
}

#[test]
fn impossible_layouts_are_refused_before_any_memory_is_asked_for() {
    // Runs under Miri too: the arena's chunk arithmetic refuses these without calling the global
    // allocator (the conformance suite's huge-layout test cannot run there for every strategy).
    let arena = Arena::new();
    for align in [1, 8, 4096] {
        let huge = Layout::from_size_align(isize::MAX as usize - (align - 1), align).unwrap();
        assert_eq!(arena.allocate(huge), Err(AllocError));
        assert_eq!(arena.allocate_zeroed(huge), Err(AllocError));
    }
    let stats = arena.stats();
    assert_eq!((stats.used, stats.chunks), (0, 0));
    // The arena still works afterwards.
    assert_eq!(arena.alloc_str("fine"), "fine");
}
