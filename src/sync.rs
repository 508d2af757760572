//! The concurrency primitives of allockit's adaptors, from one place: std's (core's and `spin`'s
//! without `std`), or loom's under `cfg(loom)`, so that the same protocol code is model-checked.
//!
//! - Atomics: core's, or loom's.
//! - [`Mutex`]: std's futex-based mutex with `std` (a waiter sleeps instead of spinning, so eight
//!   threads on two cores do not burn their time slices on a holder that was preempted; it
//!   allocates nothing, so a global allocator may use it), the `spin` crate's without `std`, or
//!   loom's. A panic while a guard is held never happens in allockit (nothing under a lock can
//!   panic), so poisoning is ignored.
//! - [`CachePadded`]: a value on cache lines of its own, so that what one thread writes often does
//!   not share a line with what others read or write.

#[cfg(all(feature = "std", not(loom)))]
pub(crate) use core::sync::atomic::AtomicBool;
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering, fence};

use core::ops::{Deref, DerefMut};

/// A `const fn`, except under loom, whose primitives cannot be made in a `const`: one body for
/// both, so that loom checks the very code that ships.
macro_rules! const_fn_unless_loom {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$attr])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$attr])* $vis fn $($rest)*
    };
}
pub(crate) use const_fn_unless_loom;

/// A mutual-exclusion lock; see the module docs for which one.
#[derive(Default)]
pub(crate) struct Mutex<T>(Inner<T>);

#[cfg(all(feature = "std", not(loom)))]
type Inner<T> = std::sync::Mutex<T>;
#[cfg(all(not(feature = "std"), not(loom)))]
type Inner<T> = spin::Mutex<T>;
#[cfg(loom)]
type Inner<T> = loom::sync::Mutex<T>;

/// Access to a [`Mutex`]'s value; dropping it unlocks.
pub(crate) struct MutexGuard<'a, T>(GuardInner<'a, T>);

#[cfg(all(feature = "std", not(loom)))]
type GuardInner<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(all(not(feature = "std"), not(loom)))]
type GuardInner<'a, T> = spin::MutexGuard<'a, T>;
#[cfg(loom)]
type GuardInner<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    const_fn_unless_loom! {
        /// An unlocked mutex holding `value`.
        pub(crate) fn new(value: T) -> Self {
            Self(Inner::new(value))
        }
    }

    /// Waits for the lock.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(any(feature = "std", loom))]
        let guard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        #[cfg(not(any(feature = "std", loom)))]
        let guard = self.0.lock();
        MutexGuard(guard)
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// `T` aligned to, and padded to a multiple of, 128 bytes: two 64-byte lines, since x86's
/// adjacent-line prefetcher pairs them (the size crossbeam and Zig's allocator pick).
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}
