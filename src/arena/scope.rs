//! `with_arena`: the C design's `WITH_ARENA` scope, with its per-thread pool of arenas, and
//! `with_arena_in`, the same scope charged to a subsystem's account.

use super::Arena;
#[cfg(not(loom))]
use crate::subsystem::Account;

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
    let scope = pool::Scope::enter(capacity, None);
    f(scope.arena())
}

/// [`with_arena`] with the arena's chunks charged to `account`, as
/// [`Arena::with_account`] charges them: scratch memory shows in that subsystem's live and peak
/// bytes and in [`subsystem::report`](crate::subsystem::report), and a chunk the account's
/// budget cannot cover is refused (the request that needed it fails with
/// [`AllocError`](crate::AllocError)).
///
/// The name follows the `_in` convention of `Vec::with_capacity_in`: the scope's memory is in
/// that account.
///
/// Pooling, with the `std` feature: a scope takes a pooled arena of the same account (a scope of
/// another account, or an uncharged [`with_arena`], never takes it), and gives it back reset.
/// Between scopes the arena keeps one chunk, and that chunk **stays charged** to the account: it
/// is memory held for the subsystem's next scope, and the report says so. It goes back, and its
/// charge with it, when the thread's pool is full or the thread exits. The warm reset works as
/// for `with_arena`: a loop of scopes of the same size stops reserving (and charging) chunks.
///
/// If the account's budget refuses the first chunk of `capacity` bytes, the scope starts with no
/// chunk rather than failing: every request then asks the budget again, and fails with
/// `AllocError` while the budget cannot cover its chunk.
///
/// # Panics
///
/// Panics whenever `f` panics (the arena is still reset and returned to the pool).
///
/// # Examples
///
/// ```
/// use allockit::subsystem::Account;
/// use allockit::{with_arena_in, Vec};
///
/// static REQUESTS: Account = Account::new("scoped-requests");
///
/// let total = with_arena_in(8192, &REQUESTS, |temp| {
///     let mut ids = Vec::new_in(temp);
///     ids.extend(0..100u64);
///     // The scope's chunk is the account's while the scope runs.
///     assert!(REQUESTS.stats().live_bytes >= 8192);
///     ids.iter().sum::<u64>()
/// });
/// assert_eq!(total, 4950);
/// // Pooled for the next scope, the arena's one chunk is still charged.
/// assert_eq!(REQUESTS.stats().live_blocks, 1);
/// ```
#[cfg(not(loom))]
pub fn with_arena_in<R>(
    capacity: usize,
    account: &'static Account,
    f: impl FnOnce(&Arena) -> R,
) -> R {
    let scope = pool::Scope::enter(capacity, Some(account));
    f(scope.arena())
}

/// Where `with_arena` gets its arenas: a per-thread pool with `std`, a fresh arena without.
mod pool {
    use super::super::chunks::{Account, Chunks};
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
        /// A scope with an arena charged to `account` (or to none) whose current chunk has room
        /// for `capacity` bytes: the most recently pooled arena of that account, else a new one.
        pub(super) fn enter(capacity: usize, account: Option<&'static Account>) -> Self {
            #[cfg(feature = "std")]
            let pooled = POOL
                .try_with(|pool| {
                    let mut pool = pool.try_borrow_mut().ok()?;
                    let at = pool
                        .iter()
                        .rposition(|arena| same_account(arena.chunks.account(), account))?;
                    Some(pool.remove(at))
                })
                .ok()
                .flatten();
            #[cfg(not(feature = "std"))]
            let pooled: Option<Arena> = None;
            // A pooled arena too small for this scope is dropped here, outside the pool's borrow.
            let arena = match pooled {
                Some(arena) if arena.chunks.room() >= capacity => arena,
                _ => match account {
                    None => Arena::with_capacity(capacity),
                    // A budget that refuses the first chunk leaves the scope without one.
                    Some(account) => Arena::try_with_room(capacity, Some(account))
                        .unwrap_or_else(|_| Arena::from_chunks(Chunks::new(Some(account)))),
                },
            };
            Self { arena: Some(arena) }
        }

        pub(super) fn arena(&self) -> &Arena {
            self.arena
                .as_ref()
                .expect("a scope holds its arena until dropped")
        }
    }

    /// Whether two arenas' accounts are the same account (or both none).
    #[cfg(feature = "std")]
    fn same_account(a: Option<&'static Account>, b: Option<&'static Account>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => core::ptr::eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
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
