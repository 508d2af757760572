//! Out-of-memory behaviour: `Failing`'s policies, the exhaustive driver over every strategy (and
//! catching a closure that panics or leaks), and `MapExt::try_put` leaving a map exactly as it
//! was when any of its allocations fails.

mod common;

use std::ptr::NonNull;

use allockit::failing::{FailureCheckError, Policy, check_all_allocation_failures};
use allockit::{
    AllocError, Allocator, Arena, Box, Failing, HashMap, Layout, MapExt, Platform, SlabBuilder,
    Trace, Vec, hashbrown, try_strdup_in,
};
use common::scaled;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// A map's entries as plain data, to compare before and after.
fn snapshot<A: Allocator>(map: &HashMap<Box<str, A>, usize, A>) -> std::vec::Vec<(String, usize)> {
    let mut entries: std::vec::Vec<(String, usize)> =
        map.iter().map(|(k, &v)| (k.to_string(), v)).collect();
    entries.sort_unstable();
    entries
}

/// Fills a map to `n` entries, then fails each request of the next put in turn: every failed put
/// leaves the same entries, the same capacity, and no block behind. Returns how many failure
/// points the put had.
fn fail_every_point_of_the_next_put(n: usize) -> usize {
    let trace = Trace::with_tracking(Platform);
    let failing = Failing::new(&trace, Policy::Never);
    let mut map: HashMap<Box<str, &Failing<&Trace<Platform>>>, usize, _> =
        HashMap::new_in(&failing);
    for i in 0..n {
        assert_eq!(map.try_put(&format!("key-{i}"), i), Ok(None));
    }
    let before = snapshot(&map);
    let capacity = map.capacity();
    let live = trace.stats().live_blocks;
    let mut point = 0;
    loop {
        failing.set_policy(Policy::Nth(failing.stats().attempts + point));
        match map.try_put("the next key", n) {
            Err(AllocError) => {
                assert_eq!(snapshot(&map), before, "failure point {point}");
                assert_eq!(map.capacity(), capacity, "failure point {point}");
                assert_eq!(
                    trace.stats().live_blocks,
                    live,
                    "failure point {point}: a leak"
                );
                point += 1;
            }
            Ok(None) => break,
            Ok(Some(_)) => panic!("the key was not in the map"),
        }
    }
    assert_eq!(map.len(), n + 1);
    assert_eq!(map["the next key"], n);
    drop(map);
    assert!(trace.check_leaks().is_ok());
    point
}

#[test]
fn a_failed_put_leaves_the_map_exactly_as_it_was() {
    // 1 000 entries: the table has room, so the put's one request is the key's copy.
    assert_eq!(fail_every_point_of_the_next_put(scaled(1_000, 100)), 1);
    // A full table (hashbrown holds 7/8 of 1 024 buckets): the put also needs a larger table.
    assert_eq!(fail_every_point_of_the_next_put(scaled(896, 112)), 2);
}

#[test]
fn try_put_replaces_without_allocating() {
    let failing = Failing::new(Platform, Policy::Never);
    let mut map: HashMap<Box<str, &Failing<Platform>>, usize, _> = HashMap::new_in(&failing);
    map.try_put("k", 1).unwrap();
    failing.set_policy(Policy::From(0));
    assert_eq!(map.try_put("k", 2), Ok(Some(1)));
    assert_eq!(map.try_put("other", 3), Err(AllocError));
    assert_eq!(snapshot(&map), [("k".to_string(), 2)]);
}

/// A hasher with fixed keys: with removals, whether an insert grows the table depends on where
/// keys land, so the driver's runs must hash alike.
type Fixed = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// The workload the driver runs on each strategy: create a map, fill it (the table grows several
/// times), read it, remove half, refill, and drop it all.
fn map_workload<A: Allocator>(alloc: A) -> Result<usize, AllocError> {
    let n = scaled(200, 8);
    let mut map: hashbrown::HashMap<Box<str, &A>, usize, Fixed, &A> =
        hashbrown::HashMap::with_hasher_in(Fixed::default(), &alloc);
    for i in 0..n {
        map.try_put(&format!("key-{i}"), i)?;
    }
    for i in (0..n).step_by(2) {
        map.remove(format!("key-{i}").as_str());
    }
    for i in n..n + n / 2 {
        map.try_put(&format!("key-{i}"), i)?;
    }
    let mut lengths: Vec<usize, &A> = Vec::new_in(&alloc);
    lengths.try_reserve(map.len()).map_err(|_| AllocError)?;
    lengths.extend(map.keys().map(|k| k.len()));
    Ok(lengths.iter().sum())
}

#[test]
fn the_driver_fails_every_request_of_a_map_workload_on_every_strategy() {
    let platform = check_all_allocation_failures(&Platform, |a| map_workload(a)).unwrap();
    let arena = Arena::new();
    let in_arena = check_all_allocation_failures(&arena, |a| map_workload(a)).unwrap();
    let slab = SlabBuilder::new().classes(&[16, 32]).build();
    let in_slab = check_all_allocation_failures(&slab, |a| map_workload(a)).unwrap();
    for report in [platform, in_arena, in_slab] {
        // One request per key copy, plus the table's growths and the vector.
        let keys = scaled(200, 8) * 3 / 2;
        assert!(report.failure_points > keys, "{report}");
        // The workload gives up at the first failure: every run returns the error.
        assert_eq!(report.runs_failed, report.failure_points, "{report}");
        assert_eq!(report.runs_succeeded, 0);
    }
    // The same workload makes the same requests whatever serves them.
    assert_eq!(platform.failure_points, in_slab.failure_points);
    assert_eq!(slab.stats().live_blocks(), 0);
    assert_eq!(slab.stats().upstream_live(), 0);
}

#[test]
fn the_driver_reports_a_closure_that_recovers() {
    let report = check_all_allocation_failures(&Platform, |a| {
        // A cache that is nice to have: on failure, go on without it.
        let cache = Box::try_new_in([0u8; 64], a).ok();
        let needed = try_strdup_in("needed", a)?;
        Ok(cache.map_or(0, |c| c.len()) + needed.len())
    })
    .unwrap();
    assert_eq!(
        (
            report.failure_points,
            report.runs_succeeded,
            report.runs_failed
        ),
        (2, 1, 1)
    );
}

#[test]
fn the_driver_catches_a_panic_on_allocation_failure() {
    let error = check_all_allocation_failures(&Platform, |a| {
        let first = try_strdup_in("first", a)?;
        let second = try_strdup_in("second", a).expect("this code assumes memory never runs out");
        Ok(first.len() + second.len())
    })
    .unwrap_err();
    match &error {
        FailureCheckError::Panicked { point, message } => {
            assert_eq!(*point, Some(1));
            assert!(
                message.contains("assumes memory never runs out"),
                "{message}"
            );
        }
        other => panic!("expected a panic, got {other}"),
    }
    assert!(error.to_string().contains("request 1 failing"), "{error}");
}

#[test]
fn the_driver_catches_a_leak_on_the_error_path() {
    // In an arena, so that the leaked block goes back when the arena does (Miri checks leaks).
    let arena = Arena::new();
    let error = check_all_allocation_failures(&arena, |a| {
        let first = try_strdup_in("first", a)?;
        match try_strdup_in("second", a) {
            Ok(second) => Ok(first.len() + second.len()),
            Err(e) => {
                std::mem::forget(first); // the bug: the error path forgets to free
                Err(e)
            }
        }
    })
    .unwrap_err();
    match &error {
        FailureCheckError::Leaked { point, report } => {
            assert_eq!(*point, Some(1));
            assert_eq!((report.live_blocks(), report.live_bytes()), (1, 5));
        }
        other => panic!("expected a leak, got {other}"),
    }
}

#[test]
fn a_closure_that_changes_its_requests_between_runs_is_reported() {
    let mut run = 0;
    let error = check_all_allocation_failures(&Platform, |a| {
        run += 1;
        // Two requests on the first run, one on every later run.
        let first = try_strdup_in("first", a)?;
        if run == 1 {
            drop(try_strdup_in("second", a)?);
        }
        Ok(first.len())
    })
    .unwrap_err();
    assert!(
        matches!(
            error,
            FailureCheckError::NotReached {
                point: 1,
                attempts: 1
            }
        ),
        "{error}"
    );
}

#[test]
fn a_closure_that_fails_on_its_own_is_refused() {
    let arena = Arena::new();
    arena.set_limit(Some(0));
    let error = check_all_allocation_failures(&arena, |a| try_strdup_in("x", a).map(drop));
    assert!(matches!(
        error,
        Err(FailureCheckError::FailedWithoutInjection)
    ));
}

/// Requests `count` blocks of `size` bytes and returns which ones failed; frees the others.
fn failures_of<A: Allocator>(alloc: &A, count: usize, size: usize) -> std::vec::Vec<usize> {
    let mut failed = std::vec::Vec::new();
    let mut live: std::vec::Vec<NonNull<u8>> = std::vec::Vec::new();
    for i in 0..count {
        match alloc.allocate(layout(size)) {
            Ok(block) => live.push(block.cast()),
            Err(AllocError) => failed.push(i),
        }
    }
    for ptr in live {
        // SAFETY: each block is live with `layout(size)`, freed once.
        unsafe { alloc.deallocate(ptr, layout(size)) };
    }
    failed
}

#[test]
fn nth_and_from_fail_the_requests_they_name() {
    let nth = Failing::new(Platform, Policy::Nth(3));
    assert_eq!(failures_of(&nth, 6, 8), [3]);
    let from = Failing::new(Platform, Policy::From(4));
    assert_eq!(failures_of(&from, 6, 8), [4, 5]);
    let stats = from.stats();
    assert_eq!(
        (stats.attempts, stats.failures, stats.first_failure),
        (6, 2, Some(4))
    );
    assert_eq!(stats.live_bytes, 0);
}

#[test]
fn a_budget_caps_live_bytes_and_frees_give_room_back() {
    let failing = Failing::new(Platform, Policy::Budget(100));
    // 40 + 40 fit, the third 40 would make 120.
    assert_eq!(failures_of(&failing, 3, 40), [2]);
    // Everything was freed: the same requests again get the same answer.
    assert_eq!(failures_of(&failing, 3, 40), [2]);
    let block = failing.allocate(layout(100)).unwrap();
    // SAFETY: `block` is live with 100 bytes; 101 would pass the budget.
    let grown = unsafe { failing.grow(block.cast(), layout(100), layout(101)) };
    assert_eq!(grown, Err(AllocError));
    // SAFETY: still live with 100 bytes, freed once.
    unsafe { failing.deallocate(block.cast(), layout(100)) };
    assert_eq!(failing.stats().live_bytes, 0);
}

/// A budget used to take off what a free passed, which may be the block's returned length rather
/// than what was admitted (hashbrown frees that way over a `Slab`), and so drifted lenient. It
/// takes off what was admitted, whatever size in the fit range the free, grow or shrink passes.
#[test]
fn a_budget_counts_what_was_admitted_whatever_size_the_caller_gives_back() {
    let slab = SlabBuilder::new().classes(&[32, 64]).build();
    let failing = Failing::new(&slab, Policy::Budget(50));
    let a = failing.allocate(layout(20)).unwrap();
    let b = failing.allocate(layout(20)).unwrap();
    assert_eq!((a.len(), failing.stats().live_bytes), (32, 40));
    // SAFETY: `a` is live; 32 is its returned length, within its fit range.
    unsafe { failing.deallocate(a.cast(), layout(32)) };
    assert_eq!(
        failing.stats().live_bytes,
        20,
        "the 20 admitted, not the 32 given back"
    );
    // 20 live: 40 more would pass 50.
    assert_eq!(failing.allocate(layout(40)), Err(AllocError));
    // A shrink from the returned length to above the size asked for rises, and a grow from the
    // returned length counts from what was admitted.
    // SAFETY: `b` is live (20 asked, 32 long): 32 fits, and 24 <= 32.
    let b = unsafe { failing.shrink(b.cast(), layout(32), layout(24)) }.unwrap();
    assert_eq!(failing.stats().live_bytes, 24);
    // SAFETY: live with 24 (its block is 32 long); 50 > 32.
    let b = unsafe { failing.grow(b.cast(), layout(32), layout(50)) }.unwrap();
    assert_eq!(failing.stats().live_bytes, 50);
    // SAFETY: live with 50 (its block is 64 long); freed with its length.
    unsafe { failing.deallocate(b.cast(), layout(b.len())) };
    assert_eq!(failing.stats().live_bytes, 0);
    assert_eq!(slab.stats().live_blocks(), 0);
}

#[test]
fn grows_fail_and_allocations_do_not() {
    let failing = Failing::new(Platform, Policy::Grows);
    let mut v: Vec<u64, _> = Vec::new_in(&failing);
    v.try_reserve(4).unwrap();
    v.extend([1, 2, 3, 4]);
    assert!(v.try_reserve(100).is_err(), "a grow");
    assert_eq!(v, [1, 2, 3, 4]);
    let other: Result<Box<u64, _>, _> = Box::try_new_in(5, &failing);
    assert!(other.is_ok());
    assert_eq!(failing.stats().failures, 1);
}

#[test]
fn random_failures_repeat_with_the_seed() {
    let count = scaled(2_000, 200);
    let run = |seed| {
        failures_of(
            &Failing::new(Platform, Policy::random(seed, 0.25)),
            count,
            16,
        )
    };
    let first = run(42);
    assert_eq!(first, run(42), "the same seed fails the same requests");
    assert_ne!(first, run(43), "another seed fails others");
    let share = first.len() as f64 / count as f64;
    assert!((0.18..0.32).contains(&share), "{share}");
    assert!(failures_of(&Failing::new(Platform, Policy::random(1, 0.0)), 100, 8).is_empty());
    assert_eq!(
        failures_of(&Failing::new(Platform, Policy::random(1, 1.0)), 100, 8).len(),
        100
    );
}

#[test]
fn failing_nests_with_trace_both_ways() {
    // Inside: a refused request never reaches the trace below.
    let trace = Trace::new(Platform);
    let failing = Failing::new(&trace, Policy::From(2));
    assert_eq!(failures_of(&failing, 4, 8), [2, 3]);
    let s = trace.stats();
    assert_eq!((s.allocations, s.failures, s.live_blocks), (2, 0, 0));
    // Outside: the trace above counts the refusals as failures.
    let arena = Arena::new();
    let outer = Trace::new(Failing::new(&arena, Policy::Nth(1)));
    assert_eq!(failures_of(&outer, 3, 8), [1]);
    let s = outer.stats();
    assert_eq!((s.allocations, s.failures), (2, 1));
    assert_eq!(outer.inner().stats().failures, 1);
}
