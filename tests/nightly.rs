//! With the `nightly` feature, allockit's allocators implement core's `Allocator`, so std's own
//! `Vec`, `Box` and hashbrown's map take them. Without the feature this binary is empty.
#![cfg(feature = "nightly")]
#![cfg_attr(feature = "nightly", feature(allocator_api))]

use allockit::{Arena, HashMap, Platform, strdup_in};

#[test]
fn std_collections_take_allockit_allocators() {
    let arena = Arena::new();
    let mut v: Vec<u64, &Arena> = Vec::new_in(&arena);
    v.extend(0..1000);
    assert_eq!(v.iter().sum::<u64>(), 999 * 1000 / 2);
    let b: Box<[u8; 64], &Arena> = Box::new_in([1; 64], &arena);
    assert_eq!(b.iter().map(|&x| usize::from(x)).sum::<usize>(), 64);
    assert!(arena.stats().used >= 8000 + 64);

    // allockit's `Box` is std's `Box` now: `strdup_in` returns one.
    let s: Box<str, Platform> = strdup_in("nightly", Platform);
    assert_eq!(&*s, "nightly");

    let mut map: HashMap<u32, Vec<u8, &Arena>, &Arena> = HashMap::new_in(&arena);
    map.entry(1).or_insert_with(|| Vec::new_in(&arena)).push(7);
    assert_eq!(map[&1], [7]);
}

#[test]
fn the_trait_is_cores() {
    fn takes_core_allocator<A: core::alloc::Allocator>(_: A) {}
    takes_core_allocator(Platform);
    let arena = Arena::new();
    takes_core_allocator(&arena);
    takes_core_allocator(arena);
}
