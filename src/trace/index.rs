//! Thread indices: each thread that allocates through a `Trace` holds a small number, below
//! [`SHARDS`], that picks its shard in every trace; the number goes back to a free list when the
//! thread exits, and the next thread to claim it takes over those shards, counts and all.
//!
//! The free list is a bitmap in one atomic word (`usize`), process-wide: a claim sets a clear bit with a
//! compare-and-swap (`AcqRel`), a release clears it (`Release`). So whatever the old holder of an
//! index wrote into its shards happens-before the new holder's first access: a shard has exactly
//! one writer at a time, and its plain (`Relaxed`) counter updates need no atomic
//! read-modify-write. A thread's index lives in a thread-local whose destructor releases it.
//!
//! Each claim also counts the index's *holder* number up (per index, starting at 1), so that a
//! limit can tell the shard's current holder from one that exited and left credit in it
//! ([`holder`], [`holder_of`]).
//!
//! A thread finds no index when [`SHARDS`] threads hold one already, while its thread-local is
//! being destroyed (a later thread-local destructor that frees memory), and always without `std`
//! (there are no thread-locals then). Such a thread takes the overflow shard, behind a lock; it
//! tries to claim again on its next call that misses the fast path.

#[cfg(feature = "std")]
use core::cell::Cell;

#[cfg(feature = "std")]
use crate::sync::{AtomicUsize, Ordering, const_fn_unless_loom};

/// How many threads can hold an index at once. Fewer under loom and Miri, so that the overflow
/// path and index reuse run in small tests.
#[cfg(not(any(loom, miri)))]
pub(crate) const SHARDS: usize = if usize::BITS < 64 { 32 } else { 64 };
/// How many threads can hold an index at once (reduced under loom and Miri).
#[cfg(any(loom, miri))]
pub(crate) const SHARDS: usize = 2;

const _: () = assert!(SHARDS <= usize::BITS as usize, "the free list is one word");

/// The free list: bit `i` is set while some thread holds index `i`.
#[cfg(feature = "std")]
pub(crate) struct Registry {
    claimed: AtomicUsize,
    /// Per index, how many times it was claimed: the number of its current (or last) holder.
    holders: [AtomicUsize; SHARDS],
}

#[cfg(feature = "std")]
impl Registry {
    const_fn_unless_loom! {
        /// An empty registry.
        fn new() -> Self {
            Self {
                claimed: AtomicUsize::new(0),
                holders: holders(),
            }
        }
    }

    /// Claims a free index, or `None` if all [`SHARDS`] are held.
    fn claim(&self) -> Option<usize> {
        let all = usize::MAX >> (usize::BITS as usize - SHARDS);
        let mut claimed = self.claimed.load(Ordering::Relaxed);
        loop {
            let free = !claimed & all;
            if free == 0 {
                return None;
            }
            let index = free.trailing_zeros() as usize;
            // `Acquire`: what the index's previous holder wrote happens-before our use.
            match self.claimed.compare_exchange_weak(
                claimed,
                claimed | 1 << index,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // Only the holder counts its index's number up; a reader that sees the old
                    // one takes the index for its last holder's still (see `holder_of`).
                    // `Release`, after the `Acquire` of the claim: a reader of the new number
                    // sees everything the last holder wrote before it gave the index back.
                    self.holders[index].fetch_add(1, Ordering::Release);
                    return Some(index);
                }
                Err(now) => claimed = now,
            }
        }
    }

    /// Claims `index` if no thread holds it; whether it did.
    fn claim_this(&self, index: usize) -> bool {
        let bit = 1 << index;
        // `Acquire`: what the index's last holder wrote happens-before our use.
        self.claimed.fetch_or(bit, Ordering::AcqRel) & bit == 0
    }

    /// Gives `index` back. `Release`: the holder's writes happen-before the next claim's.
    fn release(&self, index: usize) {
        debug_assert!(index < SHARDS);
        self.claimed.fetch_and(!(1 << index), Ordering::Release);
    }
}

/// Every index's holder number at zero: never claimed.
#[cfg(all(feature = "std", not(loom)))]
const fn holders() -> [AtomicUsize; SHARDS] {
    [const { AtomicUsize::new(0) }; SHARDS]
}

/// Every index's holder number at zero: never claimed.
#[cfg(loom)]
fn holders() -> [AtomicUsize; SHARDS] {
    core::array::from_fn(|_| AtomicUsize::new(0))
}

#[cfg(all(feature = "std", not(loom)))]
static REGISTRY: Registry = Registry::new();

#[cfg(loom)]
loom::lazy_static! {
    static ref REGISTRY: Registry = Registry::new();
}

#[cfg(all(feature = "std", not(loom)))]
std::thread_local! {
    /// The calling thread's index, or [`SHARDS`] while it holds none. No destructor and a
    /// `const` initialiser, so that reading it is one load, allocates nothing (a global allocator
    /// may read it), and works until the thread's very end.
    static INDEX: Cell<usize> = const { Cell::new(SHARDS) };
    /// Gives the index back when the thread exits. Touched only when an index is claimed.
    static RELEASE: Release = const { Release };
}

#[cfg(loom)]
loom::thread_local! {
    static INDEX: Cell<usize> = Cell::new(SHARDS);
    static RELEASE: Release = Release;
}

/// Its destructor releases the thread's index, and from then on the thread reads as holding none
/// (a thread-local destructor that runs later and frees memory takes the overflow path).
#[cfg(feature = "std")]
struct Release;

#[cfg(feature = "std")]
impl Drop for Release {
    fn drop(&mut self) {
        leave();
    }
}

/// Gives the calling thread's index back, if it holds one: what its exit does. (Loom's join,
/// like the end of `std::thread::scope`, returns before the thread's thread-local destructors
/// run; a model calls this to leave first.)
#[cfg(feature = "std")]
pub(crate) fn leave() {
    if let Ok(index) = INDEX.try_with(|index| index.replace(SHARDS))
        && index < SHARDS
    {
        REGISTRY.release(index);
    }
}

/// The calling thread's index, or [`SHARDS`] if it holds none. One thread-local load.
#[cfg(feature = "std")]
#[inline(always)]
pub(crate) fn current() -> usize {
    INDEX.try_with(Cell::get).unwrap_or(SHARDS)
}

/// The calling thread's index, claiming one if it holds none; `None` if none is free or the
/// thread is exiting.
#[cfg(feature = "std")]
#[cold]
pub(crate) fn claim() -> Option<usize> {
    let held = current();
    if held < SHARDS {
        return Some(held);
    }
    // Registering the destructor first: if the thread is exiting, it fails, and nothing is
    // claimed that would never be given back.
    RELEASE.try_with(|_| ()).ok()?;
    let index = REGISTRY.claim()?;
    if INDEX.try_with(|cell| cell.set(index)).is_err() {
        REGISTRY.release(index);
        return None;
    }
    Some(index)
}

/// The calling thread's holder number (its index's claim count), or 0 if it holds no index.
/// Two holders of one index in turn have different numbers.
#[cfg(feature = "std")]
pub(crate) fn holder() -> usize {
    let index = current();
    if index < SHARDS {
        // The thread counted it up itself when it claimed the index.
        REGISTRY.holders[index].load(Ordering::Relaxed)
    } else {
        0
    }
}

/// The number of `index`'s current or last holder. It may lag behind a claim that is under way
/// (reading the last holder's number), never behind a holder's own read of [`holder`] that is
/// ordered before this call (by a lock, say). `Acquire`: a caller that reads a new holder's
/// number sees everything the index's earlier holders wrote while they held it (their last
/// writes to their shards, made with no lock).
#[cfg(feature = "std")]
pub(crate) fn holder_of(index: usize) -> usize {
    REGISTRY.holders[index].load(Ordering::Acquire)
}

/// Runs `f` if no thread holds `index`, holding it meanwhile (so that no thread takes it and
/// writes its shards while `f` reads and settles them); the calling thread's own index stays
/// its own.
#[cfg(feature = "std")]
pub(crate) fn while_idle(index: usize, f: impl FnOnce()) {
    if REGISTRY.claim_this(index) {
        f();
        REGISTRY.release(index);
    }
}

/// Without `std` no thread holds an index, and every shard but the overflow one stays empty.
#[cfg(not(feature = "std"))]
pub(crate) fn while_idle(_index: usize, _f: impl FnOnce()) {}

/// Without `std` no thread holds an index.
#[cfg(not(feature = "std"))]
pub(crate) fn holder() -> usize {
    0
}

/// Without `std` no thread holds an index.
#[cfg(not(feature = "std"))]
pub(crate) fn holder_of(_index: usize) -> usize {
    0
}

/// Without `std` there are no thread-locals: no thread holds an index.
#[cfg(not(feature = "std"))]
#[inline(always)]
pub(crate) fn current() -> usize {
    SHARDS
}

/// Without `std` there are no thread-locals: no thread holds an index.
#[cfg(not(feature = "std"))]
pub(crate) fn claim() -> Option<usize> {
    None
}

#[cfg(all(test, feature = "std", not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn indices_are_unique_while_held_and_reused_after_release() {
        let registry = Registry::new();
        let mut held: alloc::vec::Vec<usize> =
            (0..SHARDS).map_while(|_| registry.claim()).collect();
        assert_eq!(held.len(), SHARDS);
        held.sort_unstable();
        held.dedup();
        assert_eq!(held.len(), SHARDS, "no index handed out twice");
        assert_eq!(registry.claim(), None, "all held");
        let index = held[SHARDS / 2];
        let first = registry.holders[index].load(Ordering::Relaxed);
        registry.release(index);
        assert_eq!(registry.claim(), Some(index));
        assert_eq!(
            registry.holders[index].load(Ordering::Relaxed),
            first + 1,
            "a new holder, a new number"
        );
    }

    #[test]
    fn a_thread_keeps_its_index_and_gives_it_back_on_exit() {
        let (first, again) = std::thread::spawn(|| (claim(), current())).join().unwrap();
        assert!(first.is_some_and(|i| i < SHARDS));
        assert_eq!(Some(again), first);
    }
}
