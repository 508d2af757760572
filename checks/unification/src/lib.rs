//! Compiles only if allockit builds while allocator-api2's trait is core's `Allocator`; and then
//! std's own collections accept allockit's allocators.
#![feature(allocator_api)]

use allockit::{Arena, HashMap, Platform};

/// Uses allockit's allocators through core's trait: std's `Vec` in an arena, hashbrown's map.
pub fn uses_core_trait() -> usize {
    let arena = Arena::new();
    let mut v: Vec<u32, &Arena> = Vec::new_in(&arena);
    v.extend(0..100);
    let mut map: HashMap<u32, u32, Platform> = HashMap::new();
    map.insert(1, 2);
    fn takes_core_allocator<A: core::alloc::Allocator>(_: A) {}
    takes_core_allocator(&arena);
    v.len() + map.len()
}
