//! What is particular to `Arena` and `with_arena`: the exact limit, typed allocation (refusals,
//! panics midway, lying iterators, zero-sized and over-aligned types), reset, stats, string
//! storage, a scope pool that stops asking the global allocator for chunks once warm, and arenas
//! charged to a subsystem's account.
//!
//! This binary counts the global allocator's calls per thread, so that a test can say exactly how
//! many chunks a piece of code reserved.

mod common;

use std::alloc::{GlobalAlloc, Layout as StdLayout, System};
use std::cell::Cell;
use std::panic;

use allockit::subsystem::{self, Account};
use allockit::{
    AllocError, Allocator, Arena, Box, HashMap, Layout, strdup_in, with_arena, with_arena_in,
};
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
    if a.as_ptr().addr().is_multiple_of(64) {
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
    let _after_v = arena.alloc(0u8);
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

/// A value that counts its drops in a shared cell (and owns no memory, so that a value the arena
/// never drops is no leak for Miri).
#[derive(Debug)]
struct Counted<'c> {
    drops: &'c Cell<usize>,
    id: usize,
}

impl Clone for Counted<'_> {
    fn clone(&self) -> Self {
        Counted {
            drops: self.drops,
            id: self.id,
        }
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// Clones like `Counted`, but panics when asked to clone the item with id `PANIC_AT`.
#[derive(Debug)]
struct CloneBomb<'c>(Counted<'c>);

const PANIC_AT: usize = 3;

impl Clone for CloneBomb<'_> {
    fn clone(&self) -> Self {
        assert!(self.0.id != PANIC_AT, "clone of item {PANIC_AT} fails");
        CloneBomb(self.0.clone())
    }
}

/// `(used, freed, left_by_moves, chunks)`: what a refused or rolled-back call must not change.
fn snapshot(arena: &Arena) -> (usize, usize, usize, usize) {
    let stats = arena.stats();
    (stats.used, stats.freed, stats.left_by_moves, stats.chunks)
}

/// Runs `attempt` against an arena with exactly `room` bytes left under its limit, after some
/// earlier blocks, and checks that a request of `room` bytes succeeds and one of `room + 1` is
/// refused with nothing taken, both in the `try_` form and in the panicking form.
fn check_exact_refusal(
    room: usize,
    attempt: impl Fn(&Arena, usize, bool) -> Result<usize, AllocError>,
) {
    let arena = Arena::with_capacity(4096);
    arena.alloc_str("earlier");
    arena.set_limit(Some(arena.stats().used + room));
    let before = snapshot(&arena);
    assert_eq!(attempt(&arena, room + 1, true), Err(AllocError));
    assert_eq!(snapshot(&arena), before, "a refusal took something");
    let panicked =
        panic::catch_unwind(panic::AssertUnwindSafe(|| attempt(&arena, room + 1, false)));
    assert!(panicked.is_err(), "the panicking form returned");
    assert_eq!(
        snapshot(&arena),
        before,
        "a panicking refusal took something"
    );
    assert_eq!(attempt(&arena, room, true), Ok(room));
    assert_eq!(arena.stats().used, arena.limit().unwrap());
}

#[test]
fn every_typed_method_refuses_exactly_past_the_limit_and_takes_nothing() {
    const ROOM: usize = 48;
    let calls = Cell::new(0);
    let call = |_| {
        calls.set(calls.get() + 1);
        0u8
    };
    // `bytes` bytes through each method, in its `try_` form (`fallible`) or its panicking form.
    check_exact_refusal(ROOM, |arena, bytes, fallible| {
        // A value of exactly `bytes` bytes needs a type of that size: only two sizes are asked.
        match (bytes, fallible) {
            (ROOM, true) => arena.try_alloc([0u8; ROOM]).map(|v| v.len()),
            (ROOM, false) => Ok(arena.alloc([0u8; ROOM]).len()),
            (_, true) => arena.try_alloc([0u8; ROOM + 1]).map(|v| v.len()),
            (_, false) => Ok(arena.alloc([0u8; ROOM + 1]).len()),
        }
    });
    check_exact_refusal(ROOM, |arena, bytes, fallible| match (bytes, fallible) {
        (ROOM, true) => arena.try_alloc_with(|| [1u8; ROOM]).map(|v| v.len()),
        (ROOM, false) => Ok(arena.alloc_with(|| [1u8; ROOM]).len()),
        (_, true) => arena.try_alloc_with(|| [1u8; ROOM + 1]).map(|v| v.len()),
        (_, false) => Ok(arena.alloc_with(|| [1u8; ROOM + 1]).len()),
    });
    let source = [7u8; ROOM + 1];
    check_exact_refusal(ROOM, |arena, bytes, fallible| {
        let src = &source[..bytes];
        if fallible {
            arena.try_alloc_slice_copy(src).map(|s| s.len())
        } else {
            Ok(arena.alloc_slice_copy(src).len())
        }
    });
    check_exact_refusal(ROOM, |arena, bytes, fallible| {
        let src = &source[..bytes];
        if fallible {
            arena.try_alloc_slice_clone(src).map(|s| s.len())
        } else {
            Ok(arena.alloc_slice_clone(src).len())
        }
    });
    check_exact_refusal(ROOM, |arena, bytes, fallible| {
        if fallible {
            arena
                .try_alloc_slice_fill_with(bytes, call)
                .map(|s| s.len())
        } else {
            Ok(arena.alloc_slice_fill_with(bytes, call).len())
        }
    });
    check_exact_refusal(ROOM, |arena, bytes, fallible| {
        if fallible {
            arena.try_alloc_slice_fill_copy(bytes, 1u8).map(|s| s.len())
        } else {
            Ok(arena.alloc_slice_fill_copy(bytes, 1u8).len())
        }
    });
    check_exact_refusal(ROOM, |arena, bytes, fallible| {
        if fallible {
            arena
                .try_alloc_slice_fill_clone(bytes, &1u8)
                .map(|s| s.len())
        } else {
            Ok(arena.alloc_slice_fill_clone(bytes, &1u8).len())
        }
    });
    check_exact_refusal(ROOM, |arena, bytes, fallible| {
        if fallible {
            arena
                .try_alloc_slice_fill_default::<u8>(bytes)
                .map(|s| s.len())
        } else {
            Ok(arena.alloc_slice_fill_default::<u8>(bytes).len())
        }
    });
    check_exact_refusal(ROOM, |arena, bytes, fallible| {
        let items = (0..bytes).map(|_| call(0));
        if fallible {
            arena.try_alloc_slice_fill_iter(items).map(|s| s.len())
        } else {
            Ok(arena.alloc_slice_fill_iter(items).len())
        }
    });
    check_exact_refusal(ROOM, |arena, bytes, fallible| {
        let text = &"x".repeat(bytes);
        if fallible {
            arena.try_alloc_str(text).map(str::len)
        } else {
            Ok(arena.alloc_str(text).len())
        }
    });
    // A refused request never made a value: the closures and the iterator ran only for the
    // requests that fitted (two of them, with ROOM values each).
    assert_eq!(calls.get(), 2 * ROOM);
}

#[test]
fn values_in_the_arena_are_never_dropped() {
    let drops = Cell::new(0);
    let mut arena = Arena::new();
    let one = arena.alloc(Counted {
        drops: &drops,
        id: 1,
    });
    assert_eq!(one.id, 1);
    let many = arena.alloc_slice_fill_with(5, |id| Counted { drops: &drops, id });
    assert_eq!(many[4].id, 4);
    arena.reset();
    assert_eq!(drops.get(), 0, "a reset dropped values");
    arena.alloc(Counted {
        drops: &drops,
        id: 2,
    });
    drop(arena);
    assert_eq!(drops.get(), 0, "dropping the arena dropped values");
    // A box in the arena is dropped with its box.
    let arena = Arena::new();
    drop(Box::new_in(
        Counted {
            drops: &drops,
            id: 3,
        },
        &arena,
    ));
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_panic_while_filling_drops_what_was_made_and_gives_the_block_back() {
    let drops = Cell::new(0);
    let arena = Arena::with_capacity(4096);
    arena.alloc_str("earlier");
    let before = snapshot(&arena);

    // A closure that panics at index 3: the three values made are dropped, the block comes back.
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        arena.alloc_slice_fill_with(8, |id| {
            assert!(id != 3, "no value 3");
            Counted { drops: &drops, id }
        });
    }));
    assert!(result.is_err());
    assert_eq!(drops.get(), 3);
    assert_eq!(snapshot(&arena), before);

    // A `Clone` that panics midway through `alloc_slice_clone`.
    drops.set(0);
    let source: std::vec::Vec<_> = (0..6)
        .map(|id| CloneBomb(Counted { drops: &drops, id }))
        .collect();
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        arena.alloc_slice_clone(&source);
    }));
    assert!(result.is_err());
    assert_eq!(
        drops.get(),
        PANIC_AT,
        "the clones made before the panic were not dropped"
    );
    assert_eq!(snapshot(&arena), before);
    drop(source);

    // An iterator that panics on its fourth item.
    drops.set(0);
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        arena.alloc_slice_fill_iter((0..10).map(|id| {
            assert!(id != 3, "no item 3");
            Counted { drops: &drops, id }
        }));
    }));
    assert!(result.is_err());
    assert_eq!(drops.get(), 3);
    assert_eq!(snapshot(&arena), before);

    // `alloc_with` whose closure panics gives its block back too.
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        arena.alloc_with(|| -> [u64; 4] { panic!("no value") });
    }));
    assert!(result.is_err());
    assert_eq!(snapshot(&arena), before);

    // The arena is fine afterwards; a block allocated after the one being filled makes the
    // rolled-back block count as freed instead of coming back.
    assert_eq!(arena.alloc_slice_copy(&[1, 2, 3]), [1, 2, 3]);
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        arena.alloc_slice_fill_with(4, |i| -> u64 {
            if i == 2 {
                arena.alloc_str("made while filling");
                panic!("after allocating");
            }
            0
        });
    }));
    assert!(result.is_err());
    assert_eq!(arena.stats().freed, 32);
}

/// An iterator whose `len()` is `claimed` but which yields `actual` items, counting `next` calls.
struct Liar<'c> {
    claimed: usize,
    actual: usize,
    calls: &'c Cell<usize>,
}

impl Iterator for Liar<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let i = self.calls.get();
        self.calls.set(i + 1);
        (i < self.actual).then_some(i as u64 * 10)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claimed, Some(self.claimed))
    }
}

impl ExactSizeIterator for Liar<'_> {}

#[test]
fn an_iterator_that_lies_about_its_length_gets_what_it_gave() {
    let arena = Arena::with_capacity(4096);
    let calls = Cell::new(0);

    // Fewer items than promised: a shorter slice, and the rest of the block comes back.
    let fewer = arena.alloc_slice_fill_iter(Liar {
        claimed: 10,
        actual: 4,
        calls: &calls,
    });
    assert_eq!(fewer, [0, 10, 20, 30]);
    assert_eq!(calls.get(), 5, "asked until it ran out");
    let stats = arena.stats();
    assert_eq!((stats.used, stats.live(), stats.peak), (32, 32, 80));

    // More items than promised: exactly `len()` are taken, the iterator is not asked for more.
    calls.set(0);
    let more = arena
        .try_alloc_slice_fill_iter(Liar {
            claimed: 3,
            actual: 100,
            calls: &calls,
        })
        .unwrap();
    assert_eq!(more, [0, 10, 20]);
    assert_eq!(calls.get(), 3);
    assert_eq!(arena.stats().used, 32 + 24);

    // Fewer items when the block is not the most recent any more cannot happen (nothing
    // allocates in between), but an empty promise kept empty takes nothing.
    calls.set(0);
    let none = arena.alloc_slice_fill_iter(Liar {
        claimed: 0,
        actual: 5,
        calls: &calls,
    });
    assert!(none.is_empty());
    assert_eq!(calls.get(), 0);
    assert_eq!(arena.stats().used, 32 + 24);
    assert_eq!(fewer, [0, 10, 20, 30]);
}

#[test]
fn zero_sized_values_take_no_bytes_and_no_chunk() {
    #[derive(Clone, Copy, Debug, Default, PartialEq)]
    struct Unit;

    thread_local! {
        static NOISY_DROPS: Cell<usize> = const { Cell::new(0) };
    }
    /// Zero-sized, with a destructor that counts in a thread-local cell.
    struct Noisy;
    impl Drop for Noisy {
        fn drop(&mut self) {
            NOISY_DROPS.with(|n| n.set(n.get() + 1));
        }
    }
    let drops = || NOISY_DROPS.with(Cell::get);

    let arena = Arena::new();
    assert_eq!(*arena.alloc(Unit), Unit);
    assert_eq!(*arena.alloc(()), ());
    assert_eq!(arena.alloc_slice_fill_copy(1000, Unit).len(), 1000);
    assert_eq!(arena.alloc_slice_fill_default::<Unit>(7).len(), 7);
    assert_eq!(arena.alloc_slice_copy(&[(); 5]).len(), 5);
    assert_eq!(
        arena
            .alloc_slice_fill_iter(std::iter::repeat_n(Unit, 3))
            .len(),
        3
    );
    assert_eq!(size_of::<Noisy>(), 0);
    let units = arena.alloc_slice_fill_with(4, |_| Noisy);
    assert_eq!(units.len(), 4);
    assert_eq!(drops(), 0);
    // A panic midway drops the zero-sized values made so far.
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        arena.alloc_slice_fill_with(5, |i| {
            assert!(i != 2, "no value 2");
            Noisy
        });
    }));
    assert!(result.is_err());
    assert_eq!(drops(), 2);
    let stats = arena.stats();
    assert_eq!((stats.used, stats.chunks), (0, 0), "{stats}");
    // Even at a limit of zero.
    arena.set_limit(Some(0));
    assert!(arena.try_alloc(Unit).is_ok());
    assert!(arena.try_alloc_slice_fill_copy(10, Unit).is_ok());
    assert!(arena.try_alloc(0u8).is_err());
}

#[test]
fn over_aligned_values_are_aligned_and_counted_without_padding() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    #[repr(align(64))]
    struct Line([u8; 64]);
    #[derive(Clone, Copy, Debug, PartialEq)]
    #[repr(align(4096))]
    struct Page(u8);

    let arena = Arena::new();
    arena.alloc_str("x"); // put the bump pointer off any alignment
    let line = arena.alloc(Line([1; 64]));
    assert_eq!(std::ptr::from_mut(line).addr() % 64, 0);
    let lines = arena.alloc_slice_copy(&[Line([2; 64]); 3]);
    assert_eq!(lines.as_ptr().addr() % 64, 0);
    let page = arena.alloc(Page(3));
    assert_eq!(std::ptr::from_mut(page).addr() % 4096, 0);
    let pages = arena.alloc_slice_fill_with(2, |i| Page(i as u8));
    assert_eq!(pages.as_ptr().addr() % 4096, 0);
    assert_eq!(pages, [Page(0), Page(1)]);
    assert_eq!((line.0[0], lines[2].0[63], page.0), (1, 2, 3));
    assert_eq!(arena.stats().used, 1 + 64 + 3 * 64 + 4096 + 2 * 4096);
}

#[test]
fn empty_slices_take_nothing_and_call_nothing() {
    let arena = Arena::new();
    let never = |_| -> u64 { unreachable!("asked for a value of an empty slice") };
    assert!(arena.alloc_slice_copy::<u64>(&[]).is_empty());
    assert!(
        arena
            .alloc_slice_clone::<std::string::String>(&[])
            .is_empty()
    );
    assert!(arena.alloc_slice_fill_with(0, never).is_empty());
    assert!(
        arena
            .alloc_slice_fill_iter(std::iter::empty::<u64>())
            .is_empty()
    );
    assert!(
        arena
            .try_alloc_slice_fill_with(0, never)
            .unwrap()
            .is_empty()
    );
    assert_eq!(arena.alloc_str(""), "");
    arena.set_limit(Some(0));
    assert!(arena.try_alloc_slice_copy::<u64>(&[]).is_ok());
    let stats = arena.stats();
    assert_eq!((stats.used, stats.chunks), (0, 0));
}

#[test]
fn typed_values_build_a_tree_that_lives_as_long_as_the_arena() {
    #[derive(Debug)]
    enum Node<'a> {
        Leaf(i64),
        Sum(&'a [&'a Node<'a>]),
    }
    fn eval(node: &Node<'_>) -> i64 {
        match node {
            Node::Leaf(v) => *v,
            Node::Sum(children) => children.iter().map(|c| eval(c)).sum(),
        }
    }
    let arena = Arena::new();
    let leaves: std::vec::Vec<&Node<'_>> = (1..=10).map(|v| &*arena.alloc(Node::Leaf(v))).collect();
    let children = arena.alloc_slice_copy(&leaves);
    let root = arena.alloc(Node::Sum(children));
    assert_eq!(eval(root), 55);
    let stats = arena.stats();
    assert_eq!(
        stats.live(),
        11 * size_of::<Node<'_>>() + 10 * size_of::<&Node<'_>>()
    );
}

/// One pass of a toy compiler in `arena`, `n` tokens long: names built with `format_in!` and
/// interned in a map in the arena, nodes placed with `alloc`, child lists with slice methods,
/// vectors that grow (and move), over-aligned values, and a scratch buffer freed at the end.
fn compiler_like_pass(arena: &Arena, n: usize) -> u64 {
    #[repr(align(64))]
    struct Line([u64; 8]);

    let mut names: HashMap<&str, u32, &Arena> = HashMap::new_in(arena);
    let mut nodes = allockit::Vec::new_in(arena);
    let mut sum = 0;
    for i in 0..n {
        let name = allockit::format_in!(arena, "name{}", i % 97).into_arena_str();
        let next = names.len() as u32;
        let id = *names.entry(name).or_insert(next);
        let node: &(u32, u64) = arena.alloc((id, i as u64));
        nodes.push(node);
        if i % 8 == 7 {
            let children = arena.alloc_slice_copy(&nodes[nodes.len() - 8..]);
            sum += children.iter().map(|c| c.1).sum::<u64>();
        }
        if i & 63 == 0 {
            sum += arena.alloc(Line([i as u64; 8])).0[7];
        }
    }
    let scratch = allockit::Vec::<u8, _>::with_capacity_in(4 * n, arena);
    sum + names.len() as u64 + scratch.capacity() as u64
}

#[test]
fn a_reset_loop_reserves_nothing_from_its_third_pass_on() {
    let n = scaled(20_000, 300);
    let passes = scaled(8, 5);
    let mut arena = Arena::new();
    // Room reserved up front, so that the test's own bookkeeping allocates nothing in the loop.
    let mut reserved = std::vec::Vec::with_capacity(passes);
    let mut results = std::vec::Vec::with_capacity(passes);
    for _ in 0..passes {
        let before = allocations_on_this_thread();
        results.push(compiler_like_pass(&arena, n));
        arena.reset();
        reserved.push(allocations_on_this_thread() - before);
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    assert!(reserved[0] > 1, "the first pass should grow: {reserved:?}");
    assert!(
        reserved[2..].iter().all(|&r| r == 0),
        "chunks reserved per pass: {reserved:?}"
    );
    assert_eq!(arena.stats().chunks, 1);

    // `reset_and_shrink` gives the memory back: the next pass grows again.
    arena.reset_and_shrink();
    assert_eq!(arena.stats().capacity, 0);
    let before = allocations_on_this_thread();
    compiler_like_pass(&arena, n);
    assert!(allocations_on_this_thread() - before > 1);
}

#[test]
fn a_limit_does_not_stop_the_arena_from_getting_warm() {
    let n = scaled(5_000, 200);
    let mut arena = Arena::new();
    compiler_like_pass(&arena, n);
    let peak = arena.stats().peak;
    arena.reset();
    // A limit of exactly the pass's peak: the pass still fits, and reserves nothing.
    arena.set_limit(Some(peak));
    compiler_like_pass(&arena, n);
    arena.reset();
    let before = allocations_on_this_thread();
    compiler_like_pass(&arena, n);
    assert_eq!(arena.stats().peak, peak);
    arena.reset();
    assert_eq!(allocations_on_this_thread(), before);
    assert!(
        arena.stats().capacity > peak,
        "the chunk kept is not counted by the limit"
    );
}

#[test]
fn scopes_larger_than_their_arena_get_warm_too() {
    let n = scaled(5_000, 200);
    let scopes = scaled(6, 4);
    let mut reserved = std::vec::Vec::with_capacity(scopes);
    for _ in 0..scopes {
        let before = allocations_on_this_thread();
        with_arena(1024, |temp| compiler_like_pass(temp, n));
        reserved.push(allocations_on_this_thread() - before);
    }
    assert!(reserved[0] > 1, "{reserved:?}");
    assert!(reserved[2..].iter().all(|&r| r == 0), "{reserved:?}");
}

// Arenas charged to an account. Accounts are process-wide and tests run in parallel: each test
// has its own.

/// An account's `(live blocks, live bytes)`.
fn live(account: &Account) -> (usize, usize) {
    let stats = account.stats();
    (stats.live_blocks, stats.live_bytes)
}

/// An arena's `(chunks, capacity)`: what its account should hold for it.
fn held(arena: &Arena) -> (usize, usize) {
    let stats = arena.stats();
    (stats.chunks, stats.capacity)
}

static SHOWN: Account = Account::new("arena-shown");

#[test]
fn an_arenas_chunks_are_its_accounts_live_and_peak_bytes_and_show_in_the_report() {
    let arena = Arena::with_account(&SHOWN);
    assert!(arena.account().is_some_and(|a| std::ptr::eq(a, &SHOWN)));
    assert!(format!("{arena:?}").contains("arena-shown"));
    let row = |name| {
        subsystem::report()
            .rows()
            .iter()
            .find(|row| row.name == name)
            .copied()
    };
    // Listed from the start, with nothing charged yet.
    assert_eq!(row("arena-shown").map(|r| r.stats.live_bytes), Some(0));

    let mut chunks_seen = std::vec::Vec::new();
    for i in 0..scaled(20_000, 400) {
        arena.alloc(i as u64);
        if chunks_seen.last() != Some(&arena.stats().chunks) {
            chunks_seen.push(arena.stats().chunks);
            // Charged as each chunk is taken, one live block per chunk.
            assert_eq!(live(&SHOWN), held(&arena));
        }
    }
    assert!(arena.stats().chunks > 2, "{}", arena.stats());
    let (chunks, capacity) = held(&arena);
    let stats = SHOWN.stats();
    assert_eq!(
        (stats.allocations, stats.bytes_allocated),
        (chunks, capacity)
    );
    assert_eq!(stats.peak_bytes, capacity);
    let row = row("arena-shown").unwrap();
    assert_eq!(
        (row.stats.live_blocks, row.stats.live_bytes),
        (chunks, capacity)
    );
    assert!(subsystem::report().to_string().contains("arena-shown"));

    drop(arena);
    let stats = SHOWN.stats();
    assert_eq!((stats.live_blocks, stats.live_bytes), (0, 0));
    assert_eq!((stats.deallocations, stats.bytes_freed), (chunks, capacity));
    assert_eq!(stats.peak_bytes, capacity);
}

static BUDGETED: Account = Account::new("arena-budgeted");

#[test]
fn a_budget_refuses_exactly_the_chunk_that_would_pass_it_and_the_arena_loses_nothing() {
    // A twin with no account takes the same chunks for the same requests: it tells the sizes.
    let twin = Arena::new();
    let arena = Arena::with_account(&BUDGETED);
    let first = arena.alloc_slice_copy(&[7u8; 300]);
    twin.alloc_slice_copy(&[7u8; 300]);
    let first_chunk = twin.stats().capacity;
    assert_eq!(live(&BUDGETED), (1, first_chunk));
    let big = [9u8; 1000];
    twin.alloc_slice_copy(&big);
    let second_chunk = twin.stats().capacity - first_chunk;

    // One byte short of the next chunk: refused, whichever way the request comes.
    BUDGETED.set_budget(Some(first_chunk + second_chunk - 1));
    let stats = arena.stats();
    let failures = BUDGETED.stats().failures;
    assert!(arena.try_alloc_slice_copy(&big).is_err());
    assert!(arena.try_alloc([0u64; 200]).is_err());
    let mut v: allockit::Vec<u8, &Arena> = allockit::Vec::new_in(&arena);
    v.extend_from_slice(&[1, 2, 3]);
    assert!(v.try_reserve(2000).is_err());
    assert_eq!(v, [1, 2, 3]);
    drop(v);
    // Nothing was lost: the arena's blocks and stats, the account's live figures.
    assert_eq!(first, &[7u8; 300][..]);
    let after = arena.stats();
    assert_eq!(
        (after.chunks, after.capacity),
        (stats.chunks, stats.capacity)
    );
    assert_eq!(live(&BUDGETED), (1, first_chunk));
    assert_eq!(BUDGETED.stats().failures, failures + 3);
    // The arena's own limit had nothing to do with it.
    assert_eq!(after.limit, None);
    // A request that fits the current chunk needs no new one, and succeeds.
    assert_eq!(arena.try_alloc_str("still fits").unwrap(), "still fits");

    // Exactly the next chunk: accepted, and charged exactly.
    BUDGETED.set_budget(Some(first_chunk + second_chunk));
    assert_eq!(arena.try_alloc_slice_copy(&big).unwrap(), &big[..]);
    assert_eq!(live(&BUDGETED), (2, first_chunk + second_chunk));
    assert_eq!(live(&BUDGETED), held(&arena));
    assert_eq!(first, &[7u8; 300][..]);
    drop(arena);
    assert_eq!(live(&BUDGETED), (0, 0));
}

static RESET: Account = Account::new("arena-reset");

#[test]
fn resets_give_back_every_chunk_but_the_one_kept_and_reset_and_shrink_gives_back_all() {
    let n = scaled(5_000, 200);
    let mut arena = Arena::with_account(&RESET);
    compiler_like_pass(&arena, n);
    assert!(arena.stats().chunks > 2);
    assert_eq!(live(&RESET), held(&arena));

    // The reset replaces the chunks by one that holds the whole pass: only it stays charged.
    arena.reset();
    assert_eq!(held(&arena).0, 1);
    assert_eq!(live(&RESET), held(&arena));
    let charged = RESET.stats().allocations;
    // Warm: the same passes charge nothing more, and the kept chunk stays charged.
    for _ in 0..3 {
        compiler_like_pass(&arena, n);
        arena.reset();
        assert_eq!(live(&RESET), held(&arena));
    }
    assert_eq!(RESET.stats().allocations, charged);

    arena.reset_and_shrink();
    assert_eq!(held(&arena), (0, 0));
    assert_eq!(live(&RESET), (0, 0));
    // Still charged to the account after a shrinking reset.
    compiler_like_pass(&arena, n);
    assert_eq!(live(&RESET), held(&arena));
    drop(arena);
    let stats = RESET.stats();
    assert_eq!((stats.live_blocks, stats.live_bytes), (0, 0));
    assert_eq!(
        (stats.allocations, stats.bytes_allocated),
        (stats.deallocations, stats.bytes_freed)
    );
}

static WARM: Account = Account::new("arena-warm");

#[test]
fn a_charged_reset_loop_allocates_and_charges_nothing_from_its_third_pass_on() {
    let n = scaled(20_000, 300);
    let passes = scaled(6, 4);
    let mut arena = Arena::with_account(&WARM);
    let mut reserved = std::vec::Vec::with_capacity(passes);
    let mut charged = std::vec::Vec::with_capacity(passes);
    for _ in 0..passes {
        let (before, charges) = (allocations_on_this_thread(), WARM.stats().allocations);
        compiler_like_pass(&arena, n);
        arena.reset();
        reserved.push(allocations_on_this_thread() - before);
        charged.push(WARM.stats().allocations - charges);
    }
    assert!(charged[0] > 1, "{charged:?}");
    assert!(reserved[2..].iter().all(|&r| r == 0), "{reserved:?}");
    assert!(charged[2..].iter().all(|&c| c == 0), "{charged:?}");
}

static TIGHT: Account = Account::new("arena-tight");

#[test]
fn a_reset_charges_its_one_chunk_after_giving_back_the_others_or_keeps_none() {
    let n = scaled(5_000, 200);
    // A twin with no account shows the size of the chunk the reset will want.
    let mut twin = Arena::new();
    compiler_like_pass(&twin, n);
    twin.reset();
    let one_chunk = twin.stats().capacity;

    let mut arena = Arena::with_account(&TIGHT);
    compiler_like_pass(&arena, n);
    let (chunks, capacity) = held(&arena);
    assert!(chunks > 2);
    // A budget of the one chunk alone is enough: the old chunks go back before it is charged.
    TIGHT.set_budget(Some(one_chunk));
    arena.reset();
    assert_eq!(held(&arena), (1, one_chunk));
    assert_eq!(live(&TIGHT), (1, one_chunk));
    assert!(TIGHT.stats().peak_bytes <= capacity);
    // And the same pass fits it, under that budget.
    compiler_like_pass(&arena, n);
    assert_eq!(live(&TIGHT), (1, one_chunk));

    // A budget too small for the one chunk: the reset keeps none, and gives everything back.
    arena.reset_and_shrink();
    TIGHT.set_budget(None);
    compiler_like_pass(&arena, n);
    TIGHT.set_budget(Some(one_chunk - 1));
    arena.reset();
    assert_eq!(held(&arena), (0, 0));
    assert_eq!(live(&TIGHT), (0, 0));
    // Nothing is lost: with the budget lifted, the next pass grows as a new arena's would.
    TIGHT.set_budget(None);
    compiler_like_pass(&arena, n);
    assert_eq!(held(&arena), (chunks, capacity));
    assert_eq!(live(&TIGHT), (chunks, capacity));
}

static SHARED: Account = Account::new("arena-two-threads");

#[test]
fn two_threads_each_with_a_scratch_arena_charged_to_one_account_leave_exact_totals() {
    use std::sync::mpsc;
    use std::time::Duration;

    let n = scaled(5_000, 150);
    let passes = scaled(4, 2);
    // Both threads hold their first pass's chunks at one moment, to check the live total. They
    // wait on channels, not barriers, so that a thread that fails cannot hang the test: the
    // other one is let go when the main thread's senders drop, and the main thread waits with a
    // timeout.
    let (held_tx, held_rx) = mpsc::channel();
    let (go, wait_for_go): (std::vec::Vec<_>, std::vec::Vec<_>) =
        (0..2).map(|_| mpsc::channel::<()>()).unzip();
    let (totals, both): (std::vec::Vec<(usize, usize)>, usize) = std::thread::scope(|s| {
        let workers: std::vec::Vec<_> = wait_for_go
            .into_iter()
            .enumerate()
            .map(|(t, wait_for_go)| {
                let held_tx = held_tx.clone();
                s.spawn(move || {
                    // Every chunk this thread charged: (chunks, bytes), summed over its passes.
                    let mut total = (0, 0);
                    let mut arena = Arena::with_account(&SHARED);
                    for pass in 0..passes {
                        compiler_like_pass(&arena, n * (t + 1));
                        let (chunks, capacity) = held(&arena);
                        if pass == 0 {
                            held_tx.send(capacity).unwrap();
                            let _ = wait_for_go.recv();
                        }
                        total = (total.0 + chunks, total.1 + capacity);
                        arena.reset_and_shrink();
                    }
                    drop(arena);
                    total
                })
            })
            .collect();
        drop(held_tx);
        let mut both = 0;
        for _ in 0..2 {
            both += held_rx
                .recv_timeout(Duration::from_secs(60))
                .expect("a thread did not reach its check");
        }
        assert_eq!(SHARED.stats().live_bytes, both);
        drop(go);
        let totals = workers.into_iter().map(|w| w.join().unwrap()).collect();
        (totals, both)
    });
    let (chunks, bytes) = totals
        .iter()
        .fold((0, 0), |acc, t| (acc.0 + t.0, acc.1 + t.1));
    let stats = SHARED.stats();
    assert_eq!((stats.allocations, stats.bytes_allocated), (chunks, bytes));
    assert_eq!((stats.deallocations, stats.bytes_freed), (chunks, bytes));
    assert_eq!((stats.live_blocks, stats.live_bytes), (0, 0));
    // The peak saw both first passes at once, and never more than everything charged.
    assert!(both <= stats.peak_bytes && stats.peak_bytes <= bytes);
}

static SCOPED: Account = Account::new("arena-scoped");
static OTHER_SCOPED: Account = Account::new("arena-scoped-other");

#[test]
fn a_charged_scope_keeps_its_pooled_chunk_charged_and_lends_it_to_no_other_account() {
    // On a thread of its own, whose pool goes (and its charges with it) when it exits.
    std::thread::spawn(|| {
        let (inside, chunks) = with_arena_in(4096, &SCOPED, |temp| {
            assert!(temp.account().is_some_and(|a| std::ptr::eq(a, &SCOPED)));
            assert!(temp.stats().capacity >= 4096);
            small_work(temp);
            (live(&SCOPED), held(temp))
        });
        assert_eq!(inside, chunks);
        // Back in the pool, reset: its one chunk is still charged.
        let (blocks, bytes) = live(&SCOPED);
        assert_eq!(blocks, 1);
        let charged = SCOPED.stats().allocations;
        let before = allocations_on_this_thread();
        for _ in 0..scaled(50, 5) {
            assert_eq!(with_arena_in(4096, &SCOPED, small_work), 5050);
        }
        assert_eq!(
            allocations_on_this_thread(),
            before,
            "a warm scope reserved"
        );
        assert_eq!(SCOPED.stats().allocations, charged, "a warm scope charged");

        // Another account's scope, and an uncharged one, get arenas of their own.
        with_arena_in(4096, &OTHER_SCOPED, |temp| {
            assert!(
                temp.account()
                    .is_some_and(|a| std::ptr::eq(a, &OTHER_SCOPED))
            );
            small_work(temp)
        });
        with_arena(4096, |temp| assert!(temp.account().is_none()));
        assert_eq!(live(&SCOPED), (1, bytes));
        assert_eq!(live(&OTHER_SCOPED).0, 1);
        // Nested scopes of one account take two arenas; both stay pooled and charged.
        with_arena_in(4096, &SCOPED, |outer| {
            with_arena_in(4096, &SCOPED, |inner| assert!(!std::ptr::eq(outer, inner)))
        });
        assert_eq!(live(&SCOPED).0, 2);
    })
    .join()
    .unwrap();
    assert_eq!(live(&SCOPED), (0, 0));
    assert_eq!(live(&OTHER_SCOPED), (0, 0));
}

static SCOPE_BUDGET: Account = Account::new("arena-scope-budget");

#[test]
fn a_scope_whose_first_chunk_the_budget_refuses_starts_without_one() {
    std::thread::spawn(|| {
        SCOPE_BUDGET.set_budget(Some(1000));
        with_arena_in(64 * 1024, &SCOPE_BUDGET, |temp| {
            assert_eq!(held(temp), (0, 0));
            // A small request gets a small chunk, within the budget; a large one is refused.
            assert_eq!(temp.try_alloc_str("fits").unwrap(), "fits");
            assert_eq!(live(&SCOPE_BUDGET), held(temp));
            assert!(temp.try_alloc_slice_copy(&[0u8; 2000]).is_err());
            let stats = temp.stats();
            assert_eq!((stats.used, stats.peak, stats.chunks), (4, 4, 1));
        });
    })
    .join()
    .unwrap();
    assert_eq!(live(&SCOPE_BUDGET), (0, 0));
}
