//! allockit in a build where allocator-api2's `Allocator` is core's (see Cargo.toml).

#[cfg(test)]
mod tests {
    use allockit::{Arena, HashMap, Platform, Slab, Trace};

    fn takes_core_allocator<A: core::alloc::Allocator>(_: &A) {}

    #[test]
    fn allockit_allocators_are_core_allocators() {
        let arena = Arena::new();
        let mut v: Vec<u32, &Arena> = Vec::new_in(&arena);
        v.extend(0..100);
        assert_eq!(v.iter().sum::<u32>(), 4950);
        let trace = Trace::with_tracking(Platform);
        let b: Box<u64, &Trace<Platform>> = Box::new_in(7, &trace);
        assert_eq!(trace.stats().live_bytes, 8);
        drop(b);
        trace.check_leaks().unwrap();
        takes_core_allocator(&Slab::new(32, 0));
        // Here `Platform` is std's `Global`, the allocator of std's own collections.
        let w: Vec<u8, Platform> = Vec::with_capacity_in(4, Platform);
        assert!(w.capacity() >= 4);
        let mut map: HashMap<u32, u32, &Arena> = HashMap::new_in(&arena);
        map.insert(1, 2);
        assert_eq!(map[&1], 2);
    }
}
