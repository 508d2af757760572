//! The C design's `test_hash_map_with_allocators`, done for every strategy: a map of 100 000
//! copied string keys is filled, read, overwritten, halved, grown, iterated and dropped. Then maps
//! whose keys and values live in one arena, and a map in an arena that runs out of room.

mod common;

use allockit::subsystem::Account;
use allockit::{
    Allocator, Arena, Box, HashMap, Platform, Slab, SlabBuilder, Trace, Vec, strdup_in,
    try_strdup_in,
};
use common::scaled;

const N: usize = scaled(100_000, 200);

fn key(i: usize) -> String {
    format!("key-{i}")
}

/// The whole workload, with the map's table from `map_alloc` and the key strings from `key_alloc`.
fn exercise<A: Allocator, K: Allocator + Clone>(map_alloc: A, key_alloc: K) {
    let mut map: HashMap<Box<str, K>, usize, A> = HashMap::new_in(map_alloc);

    // Put: every key is copied into `key_alloc`, as `MEM_STRDUP` would.
    for i in 0..N {
        assert_eq!(map.insert(strdup_in(&key(i), key_alloc.clone()), i), None);
    }
    assert_eq!(map.len(), N);

    // Get: every key, and some that are not there.
    for i in 0..N {
        assert_eq!(map.get(key(i).as_str()), Some(&i), "key-{i}");
    }
    assert_eq!(map.get("key-"), None);
    assert_eq!(map.get(key(N).as_str()), None);

    // Overwrite: the old value comes back, the key count stays.
    for i in 0..N {
        assert_eq!(
            map.insert(strdup_in(&key(i), key_alloc.clone()), i + N),
            Some(i)
        );
    }
    assert_eq!(map.len(), N);

    // Remove half.
    for i in (0..N).step_by(2) {
        let (k, v) = map.remove_entry(key(i).as_str()).expect("present");
        assert_eq!((&*k, v), (key(i).as_str(), i + N));
    }
    assert_eq!(map.len(), N / 2);
    assert!(!map.contains_key(key(0).as_str()));
    assert!(map.contains_key(key(1).as_str()));

    // Grow past the original size.
    for i in N..2 * N {
        map.insert(strdup_in(&key(i), key_alloc.clone()), i + N);
    }
    assert_eq!(map.len(), N / 2 + N);

    // Iterate: every entry once, with the right value.
    let mut seen = 0;
    let mut sum = 0;
    for (k, &v) in &map {
        let i: usize = k["key-".len()..].parse().unwrap();
        assert_eq!(v, i + N);
        assert!(i % 2 == 1 || i >= N);
        seen += 1;
        sum += v;
    }
    assert_eq!(seen, map.len());
    let odd: usize = (1..N).step_by(2).map(|i| i + N).sum();
    let grown: usize = (N..2 * N).map(|i| i + N).sum();
    assert_eq!(sum, odd + grown);

    // Drop: the map frees its table, and each key frees itself through `key_alloc`.
    drop(map);
}

#[test]
fn platform() {
    exercise(Platform, Platform);
}

#[test]
fn arena_ref() {
    let arena = Arena::with_capacity(64 * 1024);
    exercise(&arena, &arena);
    let stats = arena.stats();
    assert_eq!(stats.live(), 0, "every key and table was freed: {stats:?}");
}

#[test]
fn arena_owned_by_the_map() {
    // The map owns its arena; the keys come from the platform.
    exercise(Arena::new(), Platform);
}

#[test]
fn slab_pooled_keys() {
    // Keys "key-0" to "key-199999" are 5 to 10 bytes: all in the 16-byte class. The tables go
    // upstream.
    let pool = SlabBuilder::new().classes(&[16, 32, 64]).build();
    exercise(&pool, &pool);
    let stats = pool.stats();
    assert_eq!(stats.live_blocks(), 0, "{stats}");
    assert_eq!(stats.upstream_live(), 0, "{stats}");
    // At its fullest the map held 1.5 N keys, and freed blocks were reused: chunks double from a
    // first one of 256 blocks (4 KiB), so the class holds less than twice that peak plus 256.
    let class = stats.classes()[0];
    let peak = N * 3 / 2;
    assert!(class.free >= peak && class.free < 2 * peak + 256, "{stats}");
}

#[test]
fn slab_keys_with_the_map_on_the_platform() {
    let pool = Slab::new(16, 1000);
    exercise(Platform, &pool);
    assert_eq!(pool.stats().live_blocks(), 0);
}

#[test]
fn keys_and_values_in_one_arena() {
    let arena = Arena::new();
    // Lean: `&str` keys and values, copied into the same arena as the table.
    let mut names: HashMap<&str, &str, &Arena> = HashMap::new_in(&arena);
    for i in 0..N {
        let value = format!("value-{i}");
        names.insert(arena.alloc_str(&key(i)), arena.alloc_str(&value));
    }
    assert_eq!(names.len(), N);
    assert_eq!(names[key(N / 2).as_str()], format!("value-{}", N / 2));

    // Owned: boxed keys and vector values, all in the arena.
    let mut lists: HashMap<Box<str, &Arena>, Vec<usize, &Arena>, &Arena> = HashMap::new_in(&arena);
    for i in 0..N {
        lists
            .entry(strdup_in(&key(i % 100), &arena))
            .or_insert_with(|| Vec::new_in(&arena))
            .push(i);
    }
    assert_eq!(lists.len(), N.min(100));
    assert_eq!(
        lists["key-3"].iter().sum::<usize>(),
        (3..N).step_by(100).sum()
    );
    drop(lists);
    drop(names);
    let stats = arena.stats();
    assert!(stats.used > 0 && stats.used <= stats.capacity);
}

#[test]
fn a_full_arena_refuses_try_reserve_and_the_map_keeps_every_entry() {
    let arena = Arena::new();
    let mut map: HashMap<Box<str, &Arena>, usize, &Arena> = HashMap::new_in(&arena);
    let n = scaled(1_000, 100);
    for i in 0..n {
        map.insert(strdup_in(&key(i), &arena), i);
    }
    // Cap the arena at what it uses now: no room for a larger table or another key.
    arena.set_limit(Some(arena.stats().used));
    assert!(map.try_reserve(n).is_err());
    assert!(try_strdup_in("one more key", &arena).is_err());
    assert_eq!(map.len(), n);
    for i in 0..n {
        assert_eq!(map.get(key(i).as_str()), Some(&i));
    }
    // Raising the limit lets the map grow again.
    arena.set_limit(None);
    assert!(map.try_reserve(n).is_ok());
    map.insert(strdup_in("one more key", &arena), n);
    assert_eq!(map.len(), n + 1);
}

/// hashbrown 0.17.1 never dropped the allocator of an empty map consumed by `into_iter`
/// (hashbrown #751): a slab or arena owned by such a map leaked with all its chunks. The
/// manifest requires 0.17.2, which drops it. A counting upstream sees every chunk come back: a
/// `Trace` under the slab, an account the arena's chunks are charged to.
#[test]
fn an_empty_map_consumed_by_into_iter_drops_the_arena_it_owns() {
    static CHUNKS: Account = Account::new("map-owned-arena");
    let arena = Arena::with_account(&CHUNKS);
    let _ = arena.alloc([0u8; 100]); // a chunk
    assert_eq!(CHUNKS.stats().live_blocks, 1, "one chunk charged");
    let map: HashMap<u32, u32, Arena> = HashMap::new_in(arena);
    assert_eq!(map.into_iter().count(), 0);
    let s = CHUNKS.stats();
    assert_eq!((s.live_blocks, s.live_bytes), (0, 0), "{s}");

    // One that held entries and was emptied again takes the same path.
    let mut map: HashMap<u32, u32, Arena> = HashMap::new_in(Arena::with_account(&CHUNKS));
    map.insert(1, 2);
    map.clear();
    assert_eq!(map.into_iter().count(), 0);
    let s = CHUNKS.stats();
    assert_eq!((s.live_blocks, s.live_bytes), (0, 0), "{s}");
}

#[test]
fn an_empty_map_consumed_by_into_iter_drops_the_slab_it_owns() {
    let upstream = Trace::new(Platform);
    let slab = SlabBuilder::new()
        .classes(&[16, 32])
        .initial_blocks(64)
        .build_in(&upstream);
    assert_eq!(upstream.stats().live_blocks, 2, "one chunk per class");
    let map: HashMap<u32, u32, Slab<&Trace<Platform>>> = HashMap::new_in(slab);
    assert_eq!(map.into_iter().count(), 0);
    assert_eq!(upstream.stats().live_blocks, 0, "{}", upstream.stats());

    // A map that held entries and was emptied again takes the same path.
    let slab = Slab::new_in(16, 8, &upstream);
    let mut map: HashMap<u32, u32, Slab<&Trace<Platform>>> = HashMap::new_in(slab);
    map.insert(1, 2);
    map.clear();
    assert_eq!(map.into_iter().count(), 0);
    assert_eq!(upstream.stats().live_blocks, 0, "{}", upstream.stats());
}
