//! Allocator strategies, and the allocator-generic collections built on them, chosen per data
//! structure by a type parameter.
//!
//! A C runtime hands an `Allocator*` to every data structure and frees with an explicit size. In
//! Rust the same design is the [`Allocator`] trait (from [allocator-api2] 0.2, and core's unstable
//! one too under the `nightly` feature): a collection is generic over `A: Allocator`, and
//! [`Layout`] carries the size and alignment that C code has to remember by hand. allockit supplies
//! the strategies, [hashbrown] supplies the map, and allocator-api2 supplies [`Box<T, A>`](Box) and
//! [`Vec<T, A>`](Vec).
//!
//! | C | allockit |
//! |---|---|
//! | `get_allocator()`, `mem_create_platform_allocator()` | [`Platform`], the default type parameter |
//! | `mem_create_arena_allocator(64 * 1024)` | [`Arena::with_capacity(64 * 1024)`](Arena::with_capacity) |
//! | `mem_create_freelist_allocator(size, 100)` | [`Slab::new(size, 100)`](Slab::new), with size classes through [`SlabBuilder`] |
//! | `mem_create_trace_allocator(inner)` | [`Trace::new(inner)`](Trace::new) or [`Trace::with_tracking(inner)`](Trace::with_tracking) |
//! | `mem_check_leaks(t)` / `mem_format_stats(t)` | [`t.check_leaks()`](Trace::check_leaks) / [`t.stats()`](Trace::stats) |
//! | `allocators_get(ALLOC_SYSTEM_VM)` | [`subsystem::Vm`](type@subsystem::Vm), or [`Subsystem::Vm.allocator()`](Subsystem::allocator) |
//! | `hash_map_put` failing cleanly on NULL | [`map.try_put(key, value)`](MapExt::try_put) |
//! | a failing allocator in tests | [`Failing`] and [`failing::check_all_allocation_failures`] |
//! | `WITH_ARENA(temp, 8192, { ... })` | [`with_arena(8192, \|temp\| { ... })`](with_arena) |
//! | `MEM_NEW(a, T)` / `MEM_NEW_ARRAY(a, T, n)` | [`Box::new_in(v, a)`](Box::new_in) / [`Vec::with_capacity_in(n, a)`](Vec::with_capacity_in); in an arena, [`arena.alloc(v)`](Arena::alloc) / [`arena.alloc_slice_fill_with(n, f)`](Arena::alloc_slice_fill_with), never dropped |
//! | `MEM_STRDUP(a, s)` | [`strdup_in(s, a)`](strdup_in) / [`try_strdup_in(s, a)`](try_strdup_in); a growable [`String<A>`](String), [`format_in!(a, ...)`](format_in) |
//! | `MEM_REALLOC(a, p, old, new)` | [`Allocator::grow`] / [`Allocator::shrink`] (collections call them) |
//! | `MEM_FREE(a, p, size)` | dropping the owner: the `Layout` is the size |
//! | `mem_destroy(a)` | `drop(a)`: the borrow checker makes sure nothing outlives it |
//! | `hash_map_create_with_allocator(a)` | [`HashMap::new_in(a)`](hashbrown::HashMap::new_in) |
//!
//! # Examples
//!
//! The same map, first on the platform allocator, then in an arena that frees everything at once:
//!
//! ```
//! use allockit::{strdup_in, Arena, HashMap};
//!
//! let mut globals: HashMap<&str, i32> = HashMap::new();
//! globals.insert("answer", 42);
//!
//! let arena = Arena::with_capacity(64 * 1024);
//! let mut temp = HashMap::new_in(&arena);
//! temp.insert(strdup_in("temp", &arena), 7);
//! assert_eq!(temp["temp"], 7);
//! drop(temp);
//! drop(arena); // every block of the map and its keys goes back at once
//! ```
//!
//! Swapping the strategy is a change of type, not of code:
//!
//! ```
//! use allockit::{Allocator, Arena, HashMap, Platform};
//!
//! fn count_words<A: Allocator>(text: &str, alloc: A) -> usize {
//!     let mut seen = HashMap::new_in(alloc);
//!     for word in text.split_whitespace() {
//!         *seen.entry(word).or_insert(0) += 1;
//!     }
//!     seen.len()
//! }
//!
//! let text = "to be or not to be";
//! assert_eq!(count_words(text, Platform), 4);
//! assert_eq!(count_words(text, &Arena::new()), 4);
//! ```
//!
//! # Features
//!
//! - `std` (default): thread-local pooling for [`with_arena`]. Without it the crate is `no_std` and
//!   needs only `alloc`.
//! - `nightly`: needs a nightly compiler. Every strategy and adaptor also implements core's
//!   unstable `Allocator` trait (forwarding to its allocator-api2 impl), so std's `Vec<T, A>` and
//!   `Box<T, A>` take allockit's allocators, while hashbrown keeps using allocator-api2's trait.
//!   allockit turns on no other crate's feature. Do not combine it with another crate's
//!   `allocator-api2/nightly`: the README's "Nightly" section says which combinations work and why.
//!
//! [allocator-api2]: https://docs.rs/allocator-api2/0.2
//! [hashbrown]: https://docs.rs/hashbrown/0.17
#![cfg_attr(not(feature = "std"), no_std)]
// Wherever the compiler accepts it, the gate is on (see build.rs): it is unused unless the
// `nightly` feature is on or some crate in the build switched allocator-api2 onto core's trait.
#![cfg_attr(allockit_gate, feature(allocator_api))]
#![cfg_attr(allockit_gate, allow(unused_features))]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod arena;
pub mod failing;
mod map;
// Without a compiler that can use core's trait, the `compile_error!` below says so instead.
#[cfg(all(feature = "nightly", allockit_core_allocator))]
mod nightly;
pub mod platform;
pub mod slab;
mod string;
// Its accounts are `static`s, which loom's primitives cannot build: out of the loom build.
#[cfg(not(loom))]
pub mod subsystem;
mod sync;
pub mod trace;
mod units;

#[cfg(all(feature = "nightly", not(allockit_core_allocator)))]
compile_error!(
    "allockit's `nightly` feature needs a nightly compiler: it implements core's `Allocator` \
     trait, which is unstable"
);

pub use allocator_api2::alloc::{AllocError, Allocator, Global, Layout};
pub use allocator_api2::{boxed::Box, vec::Vec};
#[cfg(not(loom))]
pub use arena::with_arena_in;
pub use arena::{Arena, ArenaStats, with_arena};
pub use failing::Failing;
pub use map::MapExt;
pub use platform::Platform;
pub use slab::{ClassStats, Slab, SlabBuilder, SlabStats};
pub use string::{String, strdup_in, try_strdup_in};
#[cfg(not(loom))]
pub use subsystem::Subsystem;
pub use trace::{LeakReport, Stats, Trace};

/// The hashbrown crate, re-exported so that its other types (`hash_map::Entry`, `HashTable`, ...)
/// are at hand with the same allocator trait.
pub use hashbrown;

/// hashbrown's `HashMap` with its default hasher and the allocator as the third parameter,
/// [`Platform`] unless said otherwise.
///
/// # Examples
///
/// ```
/// use allockit::{Arena, HashMap};
///
/// let mut on_heap: HashMap<u32, &str> = HashMap::new();
/// on_heap.insert(1, "one");
///
/// let arena = Arena::new();
/// let mut in_arena: HashMap<u32, &str, &Arena> = HashMap::new_in(&arena);
/// in_arena.insert(2, "two");
/// assert_eq!(on_heap[&1], "one");
/// assert_eq!(in_arena[&2], "two");
/// ```
pub type HashMap<K, V, A = Platform> = hashbrown::HashMap<K, V, hashbrown::DefaultHashBuilder, A>;

/// hashbrown's `HashSet` with its default hasher and the allocator as the second parameter,
/// [`Platform`] unless said otherwise.
///
/// # Examples
///
/// ```
/// use allockit::{Arena, HashSet};
///
/// let arena = Arena::new();
/// let mut seen = HashSet::new_in(&arena);
/// assert!(seen.insert("x"));
/// assert!(!seen.insert("x"));
/// ```
pub type HashSet<T, A = Platform> = hashbrown::HashSet<T, hashbrown::DefaultHashBuilder, A>;

/// A dangling, aligned pointer: the block of a zero-sized layout, which needs no memory.
pub(crate) fn dangling(layout: Layout) -> core::ptr::NonNull<[u8]> {
    let ptr = core::ptr::without_provenance_mut::<u8>(layout.align());
    // SAFETY: an alignment is never zero, so neither is the pointer.
    let ptr = unsafe { core::ptr::NonNull::new_unchecked(ptr) };
    core::ptr::NonNull::slice_from_raw_parts(ptr, 0)
}

/// The README's code blocks, compiled and run as doctests so that the README cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
