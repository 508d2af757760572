//! `with_arena`: the C design's `WITH_ARENA` scope, with its per-thread pool of arenas.

use super::Arena;

/// Runs `f` with a temporary arena and frees everything it allocated when `f` returns: the C
/// design's `WITH_ARENA(temp, capacity, { ... })`.
///
/// The arena's first chunk holds at least `capacity` bytes. With the `std` feature, arenas come
/// from a small per-thread pool and go back to it reset, so a warm `with_arena` (in a loop, or
/// nested) reserves no new chunk: it costs about as much as a reset. A limit set inside `f` does
/// not outlive the scope.
///
/// Nothing borrowed from the arena can escape the closure; the borrow checker refuses it:
///
/// ```compile_fail
/// let escaped: &str = allockit::with_arena(64, |temp| temp.alloc_str("escapes"));
/// ```
///
/// Owned results built from the arena's contents are fine.
///
/// # Panics
///
/// Panics if a new arena's first chunk cannot be reserved, and whenever `f` panics (the arena is
/// still reset and returned to the pool).
///
/// # Examples
///
/// ```
/// use allockit::{strdup_in, with_arena, HashMap};
///
/// let longest = with_arena(8192, |temp| {
///     let mut lengths = HashMap::new_in(temp);
///     for word in "a scope frees all of this at once".split(' ') {
///         lengths.insert(strdup_in(word, temp), word.len());
///     }
///     lengths.values().copied().max()
/// });
/// assert_eq!(longest, Some(5));
/// ```
pub fn with_arena<R>(capacity: usize, f: impl FnOnce(&Arena) -> R) -> R {
    let scope = pool::Scope::enter(capacity);
    f(scope.arena())
}

/// Where `with_arena` gets its arenas: a per-thread pool with `std`, a fresh arena without.
mod pool {
    use super::Arena;

    /// Arenas kept per thread; deeper nesting than this creates and drops arenas as it goes.
    #[cfg(feature = "std")]
    const POOL_SIZE: usize = 8;

    #[cfg(feature = "std")]
    std::thread_local! {
        static POOL: core::cell::RefCell<alloc::vec::Vec<Arena>> =
            const { core::cell::RefCell::new(alloc::vec::Vec::new()) };
    }

    /// One `with_arena` scope: holds its arena and gives it back, reset, when dropped.
    pub(super) struct Scope {
        /// `Some` until `drop` takes it to return it to the pool.
        arena: Option<Arena>,
    }

    impl Scope {
        pub(super) fn enter(capacity: usize) -> Self {
            #[cfg(feature = "std")]
            let arena = POOL
                .try_with(|pool| pool.borrow_mut().pop())
                .ok()
                .flatten()
                .filter(|arena| arena.chunks.room() >= capacity)
                .unwrap_or_else(|| Arena::with_capacity(capacity));
            #[cfg(not(feature = "std"))]
            let arena = Arena::with_capacity(capacity);
            Self { arena: Some(arena) }
        }

        pub(super) fn arena(&self) -> &Arena {
            self.arena
                .as_ref()
                .expect("a scope holds its arena until dropped")
        }
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            #[cfg(feature = "std")]
            if let Some(mut arena) = self.arena.take() {
                arena.reset();
                arena.set_limit(None);
                // During thread teardown the pool may be gone; the arena is then simply dropped.
                let _ = POOL.try_with(|pool| {
                    if let Ok(mut pool) = pool.try_borrow_mut()
                        && pool.len() < POOL_SIZE
                    {
                        pool.push(arena);
                    }
                });
            }
        }
    }

    impl core::fmt::Debug for Scope {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("Scope").field("arena", &self.arena).finish()
        }
    }
}
