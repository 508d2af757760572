//! A minimal spin lock for the adaptors' state (`Trace`, `Failing`): `const`-constructible,
//! allocation-free and usable inside a global allocator, with or without `std`.
//!
//! Its critical sections are a handful of additions (and, when tracking, one hash-map operation),
//! so an uncontended lock costs one atomic swap and one plain store: less than the two or more
//! atomic read-modify-writes that separate counters would need, and the state it guards is always
//! consistent. Under contention a waiter spins briefly, then yields its time slice (with `std`).

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A value guarded by a spin lock.
pub(crate) struct Lock<T> {
    /// `true` while a [`Guard`] exists.
    locked: AtomicBool,
    /// Accessed only through a [`Guard`].
    value: UnsafeCell<T>,
}

// SAFETY: a thread reaches `value` only through a `Guard`, and at most one guard exists at a time
// (the `swap` in `lock` hands the lock to one thread; the guard's drop releases it). So sharing a
// `Lock<T>` shares a `T` only by moving access between threads, which needs `T: Send`.
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    /// An unlocked lock holding `value`.
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits for the lock and returns the guard that gives access to the value.
    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        if self.locked.swap(true, Ordering::Acquire) {
            self.lock_contended();
        }
        Guard { lock: self }
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 100 {
                    core::hint::spin_loop();
                    spins += 1;
                } else {
                    // The holder may have been preempted: let it run.
                    #[cfg(feature = "std")]
                    std::thread::yield_now();
                    #[cfg(not(feature = "std"))]
                    core::hint::spin_loop();
                }
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }
}

/// Access to a [`Lock`]'s value; dropping it releases the lock.
pub(crate) struct Guard<'a, T> {
    lock: &'a Lock<T>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see the `Sync` impl), so nothing else accesses the
        // value while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow exclusive among the guard's own.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}
