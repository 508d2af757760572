//! With the `nightly` feature, every allockit strategy and adaptor also implements core's
//! `Allocator`, so std's own `Vec` and `Box` take them, while hashbrown's map keeps using
//! allocator-api2's trait. Without the feature this binary is empty.
#![cfg(feature = "nightly")]
#![feature(allocator_api)]

use std::alloc::Global;

use allockit::failing::{Failing, Policy};
use allockit::subsystem::{self, Account};
use allockit::{Arena, HashMap, Platform, Slab, SlabBuilder, Trace};

/// Takes any allocator of core's trait, as std's collections do.
fn takes_core_allocator<A: core::alloc::Allocator>(_: &A) {}

/// Pushes, grows, shrinks and boxes through std's collections over `alloc`, checking the
/// contents at each step.
fn std_collections_over<A: core::alloc::Allocator + Copy>(alloc: A) {
    let mut v: Vec<u64, A> = Vec::new_in(alloc);
    for i in 0..1000 {
        v.push(i); // grows through the allocator
    }
    assert_eq!(v.iter().sum::<u64>(), 999 * 1000 / 2);
    v.truncate(10);
    v.shrink_to_fit(); // a shrink through the allocator
    assert_eq!(v, (0..10).collect::<Vec<u64>>());
    let b: Box<[u8; 64], A> = Box::new_in([7; 64], alloc);
    assert!(b.iter().all(|&x| x == 7));
    let s: Box<str, A> = {
        let mut bytes: Vec<u8, A> = Vec::new_in(alloc);
        bytes.extend_from_slice(b"std over allockit");
        let boxed = bytes.into_boxed_slice();
        let (ptr, alloc) = Box::into_raw_with_allocator(boxed);
        // SAFETY: the bytes are valid UTF-8, and the box is rebuilt with its own allocator.
        unsafe { Box::from_raw_in(ptr as *mut str, alloc) }
    };
    assert_eq!(&*s, "std over allockit");
}

#[test]
fn std_vec_and_box_take_every_strategy_and_adaptor() {
    let arena = Arena::new();
    std_collections_over(&arena);
    assert!(arena.stats().capacity >= 8000); // the vector's 1000 words came from the arena

    let slab = SlabBuilder::new().classes(&[16, 32, 64, 128]).build();
    std_collections_over(&slab);
    assert_eq!(
        slab.stats().classes().iter().map(|c| c.live).sum::<usize>(),
        0
    );

    let trace = Trace::with_tracking(Platform);
    std_collections_over(&trace);
    trace.check_leaks().unwrap();

    let counters = Trace::new(&arena);
    std_collections_over(&counters);
    let stats = counters.stats();
    assert_eq!(stats.live_blocks, 0);
    assert!(
        stats.allocations >= 3 && stats.grows >= 1 && stats.shrinks >= 1,
        "{stats:?}"
    );

    let failing = Failing::new(Platform, Policy::Never);
    std_collections_over(&failing);
    assert!(failing.stats().attempts >= 3);

    static ACCOUNT: Account = Account::new("nightly-test");
    std_collections_over(&ACCOUNT);
    assert_eq!(ACCOUNT.stats().live_blocks, 0);
    std_collections_over(subsystem::Vm);

    // Nested adaptors, and the strategies by value.
    let nested = Trace::with_tracking(Failing::new(&slab, Policy::Never));
    std_collections_over(&nested);
    nested.check_leaks().unwrap();
    takes_core_allocator(&Arena::new());
    takes_core_allocator(&Slab::new(32, 0));
    let owned: Vec<u8, Arena> = Vec::with_capacity_in(16, Arena::new());
    assert!(owned.capacity() >= 16);

    // Platform is allocator-api2's `Global` (so that `HashMap::new()` is an allockit map); std's
    // collections default to std's `Global`, the same global allocator.
    std_collections_over(Global);
}

#[test]
fn try_reserve_on_a_full_arena_fails_cleanly() {
    let arena = Arena::new();
    arena.set_limit(Some(4096));
    let mut v: Vec<u8, &Arena> = Vec::new_in(&arena);
    v.extend_from_slice(&[1, 2, 3]);
    assert!(v.try_reserve(1 << 20).is_err());
    assert_eq!(v, [1, 2, 3]);
    assert!(v.try_reserve(100).is_ok());
    v.push(4);
    assert_eq!(v, [1, 2, 3, 4]);

    let failing = Failing::new(Platform, Policy::Grows);
    let mut v: Vec<u32, &Failing<Platform>> = Vec::with_capacity_in(2, &failing);
    v.extend([1, 2]);
    assert!(v.try_reserve(1).is_err());
    assert_eq!(v, [1, 2]);
}

#[test]
fn a_trace_finds_a_leak_through_std_collections() {
    let trace = Trace::with_tracking(Platform);
    let kept: Box<[u64; 4], &Trace<Platform>> = Box::new_in([1, 2, 3, 4], &trace);
    let mut v: Vec<u8, &Trace<Platform>> = Vec::new_in(&trace);
    v.extend_from_slice(b"temporary");
    drop(v);
    let report = trace.check_leaks().unwrap_err();
    assert_eq!((report.live_blocks(), report.live_bytes()), (1, 32));
    assert_eq!(report.blocks()[0].size, 32);
    drop(kept);
    trace.check_leaks().unwrap();
}

#[test]
fn hashbrown_keeps_allocator_api2_beside_std() {
    let arena = Arena::new();
    // hashbrown's map over allocator-api2's trait, holding std vectors over core's, in one arena.
    let mut map: HashMap<u32, Vec<u8, &Arena>, &Arena> = HashMap::new_in(&arena);
    map.entry(1).or_insert_with(|| Vec::new_in(&arena)).push(7);
    assert_eq!(map[&1], [7]);
    let mut globals: HashMap<&str, u32> = HashMap::new();
    globals.insert("platform", 1);
    assert_eq!(globals["platform"], 1);
}
