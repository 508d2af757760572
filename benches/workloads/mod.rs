//! The benchmark workloads, each written once and generic over the strategy that serves it.
//!
//! Shared by `benches/strategies.rs` (criterion) and `examples/compare.rs` (a quick side-by-side
//! table), so that both measure exactly the same work. A new strategy implements [`Strategy`] and
//! joins the lists in those two files.
#![allow(dead_code)] // each user runs its own subset

use std::borrow::Borrow;
use std::hash::Hash;
use std::hint::black_box;
use std::ptr::NonNull;

use allockit::{
    Allocator, Arena, Box, HashMap, Layout, Platform, Slab, SlabBuilder, Trace, strdup_in,
    with_arena,
};
use bumpalo::Bump;

/// A strategy as the workloads see it.
pub trait Strategy {
    /// The name in reports: `workload/NAME`.
    const NAME: &'static str;
    /// How a run gives its memory back: `true` frees block by block (the platform), `false` drops
    /// the owner, which frees everything at once (arenas).
    const FREES_EACH_BLOCK: bool;
    /// What owns the memory of one run (an arena), or `()`.
    type Owner;
    /// The allocator handle that collections hold.
    type Alloc<'a>: Allocator + Copy;
    /// A map key holding a copy of a string.
    type Key<'a>: Borrow<str> + Hash + Eq;

    /// A fresh owner for one run.
    fn owner() -> Self::Owner;
    /// The allocator handle for `owner`.
    fn alloc(owner: &Self::Owner) -> Self::Alloc<'_>;
    /// Copies `s` into the strategy's memory as a key.
    fn key<'a>(owner: &'a Self::Owner, s: &str) -> Self::Key<'a>;
}

/// The global allocator with `Box<str>` keys: the baseline.
pub struct PlatformBoxed;

impl Strategy for PlatformBoxed {
    const NAME: &'static str = "platform";
    const FREES_EACH_BLOCK: bool = true;
    type Owner = ();
    type Alloc<'a> = Platform;
    type Key<'a> = Box<str, Platform>;

    fn owner() {}
    fn alloc(_: &()) -> Platform {
        Platform
    }
    fn key(_: &(), s: &str) -> Box<str, Platform> {
        strdup_in(s, Platform)
    }
}

/// The global allocator shared by reference, with `Box<str, &Platform>` keys: the baseline for
/// adaptors held by reference (`&Trace<Platform>`), whose keys have this same layout (a pointer,
/// a length and a pointer to the allocator: 24 bytes, where `Box<str>` takes 16).
pub struct PlatformRef;

impl Strategy for PlatformRef {
    const NAME: &'static str = "platform_ref";
    const FREES_EACH_BLOCK: bool = true;
    type Owner = Platform;
    type Alloc<'a> = &'a Platform;
    type Key<'a> = Box<str, &'a Platform>;

    fn owner() -> Platform {
        Platform
    }
    fn alloc(owner: &Platform) -> &Platform {
        owner
    }
    fn key<'a>(owner: &'a Platform, s: &str) -> Box<str, &'a Platform> {
        strdup_in(s, owner)
    }
}

/// An allockit `Arena` shared by reference, with `Box<str, &Arena>` keys (`strdup_in`).
pub struct ArenaBoxed;

impl Strategy for ArenaBoxed {
    const NAME: &'static str = "arena";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = Arena;
    type Alloc<'a> = &'a Arena;
    type Key<'a> = Box<str, &'a Arena>;

    fn owner() -> Arena {
        Arena::new()
    }
    fn alloc(owner: &Arena) -> &Arena {
        owner
    }
    fn key<'a>(owner: &'a Arena, s: &str) -> Box<str, &'a Arena> {
        strdup_in(s, owner)
    }
}

/// An allockit `Arena` with lean `&str` keys (`Arena::alloc_str`).
pub struct ArenaStr;

impl Strategy for ArenaStr {
    const NAME: &'static str = "arena_str";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = Arena;
    type Alloc<'a> = &'a Arena;
    type Key<'a> = &'a str;

    fn owner() -> Arena {
        Arena::new()
    }
    fn alloc(owner: &Arena) -> &Arena {
        owner
    }
    fn key<'a>(owner: &'a Arena, s: &str) -> &'a str {
        owner.alloc_str(s)
    }
}

/// bumpalo's `Bump` used directly, with `Box<str, &Bump>` keys: the peer the arena must match.
pub struct RawBump;

impl Strategy for RawBump {
    const NAME: &'static str = "bumpalo";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = Bump;
    type Alloc<'a> = &'a Bump;
    type Key<'a> = Box<str, &'a Bump>;

    fn owner() -> Bump {
        Bump::new()
    }
    fn alloc(owner: &Bump) -> &Bump {
        owner
    }
    fn key<'a>(owner: &'a Bump, s: &str) -> Box<str, &'a Bump> {
        strdup_in(s, owner)
    }
}

/// An allockit `Slab` with classes of 16 to 256 bytes, `Box<str, &Slab>` keys, and the map's
/// table upstream on the platform. `bump` drops the slab whole.
pub struct SlabPooled;

/// The classes of [`SlabPooled`].
pub const SLAB_CLASSES: [usize; 5] = [16, 32, 64, 128, 256];

impl Strategy for SlabPooled {
    const NAME: &'static str = "slab";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = Slab;
    type Alloc<'a> = &'a Slab;
    type Key<'a> = Box<str, &'a Slab>;

    fn owner() -> Slab {
        SlabBuilder::new().classes(&SLAB_CLASSES).build()
    }
    fn alloc(owner: &Slab) -> &Slab {
        owner
    }
    fn key<'a>(owner: &'a Slab, s: &str) -> Box<str, &'a Slab> {
        strdup_in(s, owner)
    }
}

/// The same `Slab` with lean `&str` keys: each key is copied into the slab and leaked there
/// (`Box::leak`), so the map holds plain references and the keys are freed with the slab, not
/// one by one (what `arena_str` is to `arena`).
pub struct SlabStr;

impl Strategy for SlabStr {
    const NAME: &'static str = "slab_str";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = Slab;
    type Alloc<'a> = &'a Slab;
    type Key<'a> = &'a str;

    fn owner() -> Slab {
        SlabPooled::owner()
    }
    fn alloc(owner: &Slab) -> &Slab {
        owner
    }
    fn key<'a>(owner: &'a Slab, s: &str) -> &'a str {
        Box::leak(strdup_in(s, owner))
    }
}

/// `Trace` at the counters level around the platform, shared by reference.
pub struct TracedPlatform;

impl Strategy for TracedPlatform {
    const NAME: &'static str = "trace_counters";
    const FREES_EACH_BLOCK: bool = true;
    type Owner = Trace<Platform>;
    type Alloc<'a> = &'a Trace<Platform>;
    type Key<'a> = Box<str, &'a Trace<Platform>>;

    fn owner() -> Trace<Platform> {
        Trace::new(Platform)
    }
    fn alloc(owner: &Trace<Platform>) -> &Trace<Platform> {
        owner
    }
    fn key<'a>(owner: &'a Trace<Platform>, s: &str) -> Box<str, &'a Trace<Platform>> {
        strdup_in(s, owner)
    }
}

/// `Trace` at the counters level around an `Arena` it owns: set beside `arena`, whose keys have
/// the same layout (a pointer to the allocator), it shows what counting costs.
pub struct TracedArena;

impl Strategy for TracedArena {
    const NAME: &'static str = "trace_arena";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = Trace<Arena>;
    type Alloc<'a> = &'a Trace<Arena>;
    type Key<'a> = Box<str, &'a Trace<Arena>>;

    fn owner() -> Trace<Arena> {
        Trace::new(Arena::new())
    }
    fn alloc(owner: &Trace<Arena>) -> &Trace<Arena> {
        owner
    }
    fn key<'a>(owner: &'a Trace<Arena>, s: &str) -> Box<str, &'a Trace<Arena>> {
        strdup_in(s, owner)
    }
}

/// `Trace` at the tracking level (a record per live block) around the platform.
///
/// It wraps `&'static Platform` rather than `Platform`, which costs nothing more (one pointer to
/// a zero-sized allocator), so that its map type differs from `trace_counters'`. With one map
/// type for both rows, the binary has one `HashMap::insert` for the two of them, and the compiler
/// inlines it into neither, while every other row gets its own copy and inlines it: a cost that
/// comes from the benchmark sharing a type, not from the allocator.
pub struct TrackedPlatform;

impl Strategy for TrackedPlatform {
    const NAME: &'static str = "trace_tracking";
    const FREES_EACH_BLOCK: bool = true;
    type Owner = Trace<&'static Platform>;
    type Alloc<'a> = &'a Trace<&'static Platform>;
    type Key<'a> = Box<str, &'a Trace<&'static Platform>>;

    fn owner() -> Trace<&'static Platform> {
        Trace::with_tracking(&Platform)
    }
    fn alloc<'a>(owner: &'a Trace<&'static Platform>) -> &'a Trace<&'static Platform> {
        owner
    }
    fn key<'a>(
        owner: &'a Trace<&'static Platform>,
        s: &str,
    ) -> Box<str, &'a Trace<&'static Platform>> {
        strdup_in(s, owner)
    }
}

/// The VM subsystem's zero-sized handle (a counters-level `Trace<Platform>` in a static).
pub struct SubsystemVm;

impl Strategy for SubsystemVm {
    const NAME: &'static str = "subsystem";
    const FREES_EACH_BLOCK: bool = true;
    type Owner = ();
    type Alloc<'a> = allockit::subsystem::Vm;
    type Key<'a> = Box<str, allockit::subsystem::Vm>;

    fn owner() {}
    fn alloc(_: &()) -> allockit::subsystem::Vm {
        allockit::subsystem::Vm
    }
    fn key(_: &(), s: &str) -> Box<str, allockit::subsystem::Vm> {
        strdup_in(s, allockit::subsystem::Vm)
    }
}

/// The keys `key-0`, `key-1`, ... made once, outside the timed part.
pub fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{i}")).collect()
}

/// `seed_map`: create a map, put a copy of every key, look every key up, drop it all.
pub fn seed_map<S: Strategy>(keys: &[String]) -> usize {
    let owner = S::owner();
    let mut map: HashMap<S::Key<'_>, usize, S::Alloc<'_>> = HashMap::new_in(S::alloc(&owner));
    for (i, k) in keys.iter().enumerate() {
        map.insert(S::key(&owner, k), i);
    }
    let mut found = 0;
    for k in keys {
        found += map[k.as_str()];
    }
    drop(black_box(map));
    drop(owner);
    found
}

/// The layout of the `bump` workload's blocks.
pub const BLOCK_32: Layout = Layout::new::<[u64; 4]>();

/// `bump`: `n` allocations of 32 bytes, then give them all back. `ptrs` is scratch space with
/// room for `n` pointers, reserved outside the timed part.
pub fn bump<S: Strategy>(n: usize, ptrs: &mut Vec<NonNull<u8>>) {
    let owner = S::owner();
    let alloc = S::alloc(&owner);
    for _ in 0..n {
        ptrs.push(alloc.allocate(BLOCK_32).expect("32 bytes").cast());
    }
    black_box(&mut *ptrs);
    if S::FREES_EACH_BLOCK {
        for ptr in ptrs.drain(..) {
            // SAFETY: every pointer came from `alloc.allocate(BLOCK_32)` and is freed once.
            unsafe { alloc.deallocate(ptr, BLOCK_32) };
        }
    } else {
        ptrs.clear();
    }
    drop(owner);
}

/// `churn`: keep `live` blocks of 32 bytes; `steps` times, free a pseudo-random one and allocate
/// its replacement; then free them all. Returns a checksum of the addresses so nothing is elided.
pub fn churn<S: Strategy>(live: usize, steps: usize) -> usize {
    let owner = S::owner();
    let alloc = S::alloc(&owner);
    let mut ptrs: Vec<NonNull<u8>> = (0..live)
        .map(|_| alloc.allocate(BLOCK_32).expect("32 bytes").cast())
        .collect();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut sum = 0usize;
    for _ in 0..steps {
        // xorshift64: a cheap, fixed sequence of victims, the same for every strategy.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Multiply-shift instead of `%`: a division would cost more than the allocator.
        let victim = ((u128::from(seed) * live as u128) >> 64) as usize;
        // SAFETY: `ptrs[victim]` is live, from `alloc.allocate(BLOCK_32)`; it is replaced at once.
        unsafe { alloc.deallocate(ptrs[victim], BLOCK_32) };
        let fresh = alloc.allocate(BLOCK_32).expect("32 bytes").cast::<u8>();
        sum = sum.wrapping_add(fresh.as_ptr().addr());
        ptrs[victim] = fresh;
    }
    for ptr in ptrs {
        // SAFETY: every pointer left is live and freed once.
        unsafe { alloc.deallocate(ptr, BLOCK_32) };
    }
    drop(owner);
    sum
}

/// Where a scope's arena comes from.
pub trait Scope {
    /// The name in reports: `scope/NAME`.
    const NAME: &'static str;
    /// Runs `f` with an arena of at least `capacity` bytes, freed afterwards.
    fn run<R>(capacity: usize, f: impl FnOnce(&Arena) -> R) -> R;
}

/// `with_arena`: a pooled arena, reset after the scope.
pub struct PooledScope;

impl Scope for PooledScope {
    const NAME: &'static str = "with_arena";
    fn run<R>(capacity: usize, f: impl FnOnce(&Arena) -> R) -> R {
        with_arena(capacity, f)
    }
}

/// A fresh `Arena::with_capacity` per scope, dropped afterwards.
pub struct FreshScope;

impl Scope for FreshScope {
    const NAME: &'static str = "fresh_arena";
    fn run<R>(capacity: usize, f: impl FnOnce(&Arena) -> R) -> R {
        f(&Arena::with_capacity(capacity))
    }
}

/// `scope`: one scope of 8 KiB doing `allocations` small allocations (100 in the issue's
/// workload; 1 shows the cost of the scope itself).
pub fn scope<S: Scope>(allocations: u64) -> u64 {
    S::run(8192, |arena| {
        let mut sum = 0;
        for i in 0..allocations {
            sum += *black_box(Box::new_in(i, arena));
        }
        sum
    })
}
