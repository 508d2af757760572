//! The benchmark workloads, each written once and generic over the strategy that serves it.
//!
//! Shared by `benches/strategies.rs` (criterion) and `examples/compare.rs` (a quick side-by-side
//! table), so that both measure exactly the same work. A new strategy implements [`Strategy`] and
//! joins the lists in those two files. The peers (the minimal free list, mimalloc, bump-scope)
//! are in `peers.rs`. `compiler_pass.rs` is a workload of its own kind: a toy compiler pass over
//! arenas, generic over its own small trait ([`compiler_pass::PassArena`]).
#![allow(dead_code)] // each user runs its own subset

pub mod compiler_pass;
pub mod peers;

use std::borrow::Borrow;
use std::hash::Hash;
use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use allockit::{
    Allocator, Arena, Box, HashMap, Layout, Platform, Slab, SlabBuilder, Trace, strdup_in,
    with_arena,
};
use bumpalo::Bump;
use peers::{BumpScope, Mimalloc, MiniFreeList};

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

/// An allockit `Slab` with classes of 16 to 128 bytes in steps of 16 (those of the minimal free
/// list, its peer), `Box<str, &Slab>` keys, and the map's table upstream on the platform. `bump`
/// drops the slab whole.
pub struct SlabPooled;

/// The classes of [`SlabPooled`]: those of [`MiniFreeList`].
pub const SLAB_CLASSES: [usize; 8] = [16, 32, 48, 64, 80, 96, 112, 128];

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

/// The minimal free list of `peers.rs` shared by reference, with `Box<str, &MiniFreeList>` keys:
/// the floor the slab is measured against.
pub struct MiniList;

impl Strategy for MiniList {
    const NAME: &'static str = "minifree";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = MiniFreeList;
    type Alloc<'a> = &'a MiniFreeList;
    type Key<'a> = Box<str, &'a MiniFreeList>;

    fn owner() -> MiniFreeList {
        MiniFreeList::new()
    }
    fn alloc(owner: &MiniFreeList) -> &MiniFreeList {
        owner
    }
    fn key<'a>(owner: &'a MiniFreeList, s: &str) -> Box<str, &'a MiniFreeList> {
        strdup_in(s, owner)
    }
}

/// The minimal free list with `&str` keys leaked into it (what `slab_str` is to `slab`).
pub struct MiniListStr;

impl Strategy for MiniListStr {
    const NAME: &'static str = "minifree_str";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = MiniFreeList;
    type Alloc<'a> = &'a MiniFreeList;
    type Key<'a> = &'a str;

    fn owner() -> MiniFreeList {
        MiniFreeList::new()
    }
    fn alloc(owner: &MiniFreeList) -> &MiniFreeList {
        owner
    }
    fn key<'a>(owner: &'a MiniFreeList, s: &str) -> &'a str {
        Box::leak(strdup_in(s, owner))
    }
}

/// mimalloc through its `GlobalAlloc`, with `Box<str, Mimalloc>` keys: the peer of the platform.
pub struct MimallocBoxed;

impl Strategy for MimallocBoxed {
    const NAME: &'static str = "mimalloc";
    const FREES_EACH_BLOCK: bool = true;
    type Owner = ();
    type Alloc<'a> = Mimalloc;
    type Key<'a> = Box<str, Mimalloc>;

    fn owner() {}
    fn alloc(_: &()) -> Mimalloc {
        Mimalloc
    }
    fn key(_: &(), s: &str) -> Box<str, Mimalloc> {
        strdup_in(s, Mimalloc)
    }
}

/// bump-scope's `Bump` shared by reference, with `Box<str, BumpScope>` keys (a pointer to the
/// allocator, like the arena's).
pub struct BumpScopeBoxed;

impl Strategy for BumpScopeBoxed {
    const NAME: &'static str = "bump_scope";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = bump_scope::Bump;
    type Alloc<'a> = BumpScope<'a>;
    type Key<'a> = Box<str, BumpScope<'a>>;

    fn owner() -> bump_scope::Bump {
        bump_scope::Bump::new()
    }
    fn alloc(owner: &bump_scope::Bump) -> BumpScope<'_> {
        BumpScope(owner)
    }
    fn key<'a>(owner: &'a bump_scope::Bump, s: &str) -> Box<str, BumpScope<'a>> {
        strdup_in(s, BumpScope(owner))
    }
}

/// bump-scope with `&str` keys from its own `alloc_str`: the peer of `arena_str`.
pub struct BumpScopeStr;

impl Strategy for BumpScopeStr {
    const NAME: &'static str = "bump_scope_str";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = bump_scope::Bump;
    type Alloc<'a> = BumpScope<'a>;
    type Key<'a> = &'a str;

    fn owner() -> bump_scope::Bump {
        bump_scope::Bump::new()
    }
    fn alloc(owner: &bump_scope::Bump) -> BumpScope<'_> {
        BumpScope(owner)
    }
    fn key<'a>(owner: &'a bump_scope::Bump, s: &str) -> &'a str {
        owner.alloc_str(s).into_ref()
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
    let sum = churn_in(S::alloc(&owner), live, steps, 0x9E37_79B9_7F4A_7C15);
    drop(owner);
    sum
}

/// The next victim of a churn: xorshift64, a cheap fixed sequence (the same for every strategy),
/// mapped onto `0..live` by a multiply-shift (a division would cost more than the allocator).
#[inline(always)]
fn next_victim(seed: &mut u64, live: usize) -> usize {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    ((u128::from(*seed) * live as u128) >> 64) as usize
}

/// The loop of [`churn`] over any allocator, from the victim sequence `seed` (not zero).
pub fn churn_in<A: Allocator>(alloc: A, live: usize, steps: usize, mut seed: u64) -> usize {
    let mut ptrs: Vec<NonNull<u8>> = (0..live)
        .map(|_| alloc.allocate(BLOCK_32).expect("32 bytes").cast())
        .collect();
    let mut sum = 0usize;
    for _ in 0..steps {
        let victim = next_victim(&mut seed, live);
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
    sum
}

/// `churn_boxed`: `churn` written as a program would, a second code layout for the same work:
/// `live` boxed `[u64; 4]` values (`Box<[u64; 4], S::Alloc>`, which holds the allocator handle),
/// `steps` times one replaced by a new box, the old one dropped by its drop glue.
pub fn churn_boxed<S: Strategy>(live: usize, steps: usize) -> u64 {
    let owner = S::owner();
    let alloc = S::alloc(&owner);
    let mut boxes: Vec<Box<[u64; 4], S::Alloc<'_>>> = (0..live as u64)
        .map(|i| Box::new_in([i; 4], alloc))
        .collect();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut sum = 0u64;
    for step in 0..steps as u64 {
        let victim = next_victim(&mut seed, live);
        sum = sum.wrapping_add(boxes[victim][0]);
        boxes[victim] = Box::new_in([step; 4], alloc);
    }
    drop(boxes);
    drop(owner);
    sum
}

/// `threads`: `threads` threads, each keeping `live` blocks of 32 bytes and churning them `steps`
/// times (as [`churn`] does, each from its own seed), through one allocator that they share.
/// The threads start together behind a barrier; the result is the wall time from the first
/// thread's start to the last thread's end (thread creation is not counted, and neither is a
/// main thread that the scheduler leaves waiting).
pub fn threads<S: Strategy>(threads: usize, live: usize, steps: usize) -> Duration
where
    for<'a> S::Alloc<'a>: Send,
{
    let owner = S::owner();
    let alloc = S::alloc(&owner);
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let seed = 0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1);
                    barrier.wait();
                    let start = Instant::now();
                    black_box(churn_in(alloc, live, steps, seed));
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a churn thread"))
            .collect()
    });
    drop(owner);
    let first = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("one thread at least");
    let last = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("one thread at least");
    last - first
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

/// An allockit `Arena` with `&str` keys copied through the allocator interface and leaked into
/// the arena (`Box::leak` of `strdup_in`): the baseline of `trace_arena_str`, which does the same
/// through a trace.
pub struct ArenaLeaked;

impl Strategy for ArenaLeaked {
    const NAME: &'static str = "arena_leaked";
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
        Box::leak(strdup_in(s, owner))
    }
}

/// A counters-level `Trace` over an `Arena`, with `&str` keys leaked through it: a second code
/// layout for the trace's cost over the arena (no `Box` drop per key, a different map type).
pub struct TracedArenaStr;

impl Strategy for TracedArenaStr {
    const NAME: &'static str = "trace_arena_str";
    const FREES_EACH_BLOCK: bool = false;
    type Owner = Trace<Arena>;
    type Alloc<'a> = &'a Trace<Arena>;
    type Key<'a> = &'a str;

    fn owner() -> Trace<Arena> {
        Trace::new(Arena::new())
    }
    fn alloc(owner: &Trace<Arena>) -> &Trace<Arena> {
        owner
    }
    fn key<'a>(owner: &'a Trace<Arena>, s: &str) -> &'a str {
        Box::leak(strdup_in(s, owner))
    }
}
