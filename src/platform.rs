//! `Platform`: the program's global allocator, as an [`Allocator`](crate::Allocator).
//!
//! What it is: every request goes to whatever `#[global_allocator]` the program uses (the system
//! `malloc` unless the program says otherwise), exactly as `Box::new` and `Vec::new` do. It has no
//! state of its own: a zero-sized, `Copy`, `Send + Sync` handle.
//!
//! What it costs: one call into the global allocator per allocation and per free; `grow` and
//! `shrink` use `realloc`, so a block can often change size in place.
//!
//! What it never does: panic or abort inside `allocate`. A request the system cannot meet, or a
//! layout larger than `isize::MAX`, returns [`AllocError`](crate::AllocError).
//!
//! When to pick it: long-lived data with no common lifetime, and as the baseline that every other
//! strategy is measured against. It is the default allocator parameter of [`HashMap`] and
//! [`HashSet`], so `HashMap::new()` uses it.
//!
//! `Platform` is allocator-api2's `Global` under the name of the C design's platform allocator (not
//! a wrapper): hashbrown's `HashMap::new()` produces a map over `Global`, and because the two are
//! one type, that map *is* an allockit `HashMap<K, V>`. Being another crate's type, it is the one
//! strategy that does not implement core's `Allocator` under the `nightly` feature (the orphan
//! rule); std's own `Vec` and `Box` default to `std::alloc::Global`, the same global allocator.
//!
//! [`HashMap`]: crate::HashMap
//! [`HashSet`]: crate::HashSet

/// The program's global allocator: the default allocator of every allockit collection.
///
/// A zero-sized, `Copy`, `Send + Sync` handle; see the [module documentation](crate::platform) for what it
/// costs and promises.
///
/// # Examples
///
/// ```
/// use allockit::{Allocator, Box, HashMap, Layout, Platform};
///
/// // The default type parameter: both maps have the same type.
/// let mut a: HashMap<u32, u32> = HashMap::new();
/// let mut b: HashMap<u32, u32, Platform> = HashMap::new_in(Platform);
/// a.insert(1, 1);
/// b.insert(1, 1);
/// assert_eq!(a, b);
///
/// // And as a raw allocator.
/// let layout = Layout::from_size_align(64, 16).unwrap();
/// let block = Platform.allocate(layout)?;
/// assert_eq!(block.cast::<u8>().as_ptr() as usize % 16, 0);
/// // SAFETY: `block` came from `Platform.allocate(layout)` and is freed once.
/// unsafe { Platform.deallocate(block.cast(), layout) };
///
/// let boxed = Box::new_in(5, Platform);
/// assert_eq!(*boxed, 5);
/// # Ok::<(), allockit::AllocError>(())
/// ```
#[doc(inline)]
pub use allocator_api2::alloc::Global as Platform;
