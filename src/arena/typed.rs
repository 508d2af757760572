//! Typed allocation in an [`Arena`], with bumpalo's names and meaning: `alloc(value) -> &mut T`,
//! `alloc_with`, the `alloc_slice_*` family, and a `try_` form of each that returns
//! [`AllocError`] instead of panicking.
//!
//! Every method takes one block from the arena through its `Allocator` implementation, so the
//! limit and the stats see it like any other block. The block is taken before any value is made;
//! what makes the values (a closure, `Clone`, an iterator) may panic or stop early, and then:
//! - a panic drops the values already written and gives the block back (the bump pointer takes
//!   it back if nothing was allocated since; otherwise it counts as freed);
//! - an iterator that yields fewer items than its `len()` gets a shorter slice, and the block is
//!   shrunk to it; one that would yield more is not asked for them.
//!
//! Nothing is ever dropped afterwards: see
//! [the type's documentation](Arena#values-are-never-dropped).

use core::mem;
use core::ptr::{self, NonNull};

use super::Arena;
use crate::{AllocError, Allocator, Layout};

// Every method returns a `&mut` into a block that no one else can reach: fresh from the arena,
// handed out once. The shared borrow of the arena is what ties its lifetime to the arena's (a
// `reset` takes `&mut self`), as in bumpalo.
#[allow(clippy::mut_from_ref)]
impl Arena {
    /// Moves `value` into the arena and returns a mutable reference to it, valid as long as the
    /// arena (until it is reset or dropped).
    ///
    /// The value is never dropped: see [the type's documentation](Arena#values-are-never-dropped).
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory; see [`try_alloc`](Self::try_alloc).
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Debug)]
    /// enum Expr<'a> {
    ///     Number(i64),
    ///     Add(&'a Expr<'a>, &'a Expr<'a>),
    /// }
    ///
    /// let arena = allockit::Arena::new();
    /// let one = arena.alloc(Expr::Number(1));
    /// let sum = arena.alloc(Expr::Add(one, one));
    /// assert!(matches!(sum, Expr::Add(Expr::Number(1), _)));
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc<T>(&self, value: T) -> &mut T {
        self.alloc_with(|| value)
    }

    /// Like [`alloc`](Self::alloc), but returns an error when the arena cannot hold the value (it
    /// is then dropped).
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the value would take the arena past its limit, or no chunk can be had;
    /// the arena is then as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// arena.set_limit(Some(8));
    /// let x = arena.try_alloc(7u64)?;
    /// *x += 1;
    /// assert_eq!(*x, 8);
    /// assert!(arena.try_alloc(1u8).is_err()); // 8 bytes used of 8
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc<T>(&self, value: T) -> Result<&mut T, AllocError> {
        self.try_alloc_with(|| value)
    }

    /// Reserves room for a `T`, then calls `f` to make the value in place, and returns a mutable
    /// reference to it. Taking the room first lets the compiler build a large value straight in
    /// the arena rather than on the stack and copy it.
    ///
    /// If `f` panics, the room is given back. The value is never dropped: see
    /// [the type's documentation](Arena#values-are-never-dropped).
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory (before `f` is called), and when
    /// `f` panics; see [`try_alloc_with`](Self::try_alloc_with).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let table = arena.alloc_with(|| [0u32; 1024]);
    /// table[1023] = 1;
    /// assert_eq!(table.iter().sum::<u32>(), 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_with<T>(&self, f: impl FnOnce() -> T) -> &mut T {
        match self.try_alloc_with(f) {
            Ok(value) => value,
            Err(AllocError) => refused(Layout::new::<T>().size()),
        }
    }

    /// Like [`alloc_with`](Self::alloc_with), but returns an error when the arena cannot hold the
    /// value; `f` is then not called.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if a `T` would take the arena past its limit, or no chunk can be had; the
    /// arena is then as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// arena.set_limit(Some(100));
    /// assert!(arena.try_alloc_with(|| [0u8; 100]).is_ok());
    /// assert!(arena.try_alloc_with(|| -> u8 { unreachable!() }).is_err());
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc_with<T>(&self, f: impl FnOnce() -> T) -> Result<&mut T, AllocError> {
        let layout = Layout::new::<T>();
        let slot = self.allocate(layout)?.cast::<T>();
        let guard = Filling {
            arena: self,
            start: slot,
            len: 1,
            written: 0,
        };
        // SAFETY: `slot` is a fresh block with the size and alignment of a `T`, valid for writes.
        // If `f` panics, `guard` gives the block back with nothing written.
        unsafe { slot.as_ptr().write(f()) };
        mem::forget(guard);
        // SAFETY: the block holds the `T` just written; nothing else points to it, and it stays
        // valid until the arena is reset (`&mut self`) or dropped, so it may be borrowed mutably
        // for as long as `self`.
        Ok(unsafe { &mut *slot.as_ptr() })
    }

    /// Copies `src` into the arena and returns the copy.
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory; see
    /// [`try_alloc_slice_copy`](Self::try_alloc_slice_copy).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let primes = arena.alloc_slice_copy(&[2, 3, 5, 7]);
    /// primes[0] = 1;
    /// assert_eq!(primes, [1, 3, 5, 7]);
    /// assert_eq!(arena.alloc_slice_copy::<u8>(&[]), []);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &mut [T] {
        match self.try_alloc_slice_copy(src) {
            Ok(copy) => copy,
            Err(AllocError) => refused(size_of_val(src)),
        }
    }

    /// Like [`alloc_slice_copy`](Self::alloc_slice_copy), but returns an error when the arena
    /// cannot hold the copy.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the copy would take the arena past its limit, or no chunk can be had; the
    /// arena is then as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// arena.set_limit(Some(16));
    /// assert_eq!(arena.try_alloc_slice_copy(&[1u32, 2, 3, 4])?, [1, 2, 3, 4]);
    /// assert!(arena.try_alloc_slice_copy(&[5u32]).is_err());
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<&mut [T], AllocError> {
        let start = self.allocate(Layout::for_value(src))?.cast::<T>();
        // SAFETY: `start` is a fresh block with the layout of `src`, so it has room for
        // `src.len()` values and cannot overlap `src`; `T: Copy`, so a bitwise copy is a copy.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), start.as_ptr(), src.len()) };
        // SAFETY: the `src.len()` values at `start` are initialised and aligned; nothing else
        // points to them, and they stay valid until the arena is reset or dropped.
        Ok(unsafe { core::slice::from_raw_parts_mut(start.as_ptr(), src.len()) })
    }

    /// Clones every item of `src` into the arena and returns the clones.
    ///
    /// If a `clone` panics, the clones made so far are dropped and the block is given back. The
    /// clones are never dropped otherwise: see
    /// [the type's documentation](Arena#values-are-never-dropped).
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory, and when a `clone` panics; see
    /// [`try_alloc_slice_clone`](Self::try_alloc_slice_clone).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let names: &[&str] = arena.alloc_slice_clone(&["x", "y"]);
    /// assert_eq!(names, ["x", "y"]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_clone<T: Clone>(&self, src: &[T]) -> &mut [T] {
        match self.try_alloc_slice_clone(src) {
            Ok(clones) => clones,
            Err(AllocError) => refused(size_of_val(src)),
        }
    }

    /// Like [`alloc_slice_clone`](Self::alloc_slice_clone), but returns an error when the arena
    /// cannot hold the clones; none is made then.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the clones would take the arena past its limit, or no chunk can be had;
    /// the arena is then as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let clones = arena.try_alloc_slice_clone(&[Some(1), None])?;
    /// assert_eq!(clones, [Some(1), None]);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc_slice_clone<T: Clone>(&self, src: &[T]) -> Result<&mut [T], AllocError> {
        self.fill(src.len(), |i| Some(src[i].clone()))
    }

    /// Allocates a slice of `len` values, the one at index `i` made by `f(i)`.
    ///
    /// If `f` panics, the values made so far are dropped and the block is given back. The values
    /// are never dropped otherwise: see [the type's documentation](Arena#values-are-never-dropped).
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory, if `len` values of `T` are more
    /// than any layout can hold, and when `f` panics; see
    /// [`try_alloc_slice_fill_with`](Self::try_alloc_slice_fill_with).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let squares = arena.alloc_slice_fill_with(5, |i| i * i);
    /// assert_eq!(squares, [0, 1, 4, 9, 16]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_fill_with<T>(&self, len: usize, f: impl FnMut(usize) -> T) -> &mut [T] {
        match self.try_alloc_slice_fill_with(len, f) {
            Ok(values) => values,
            Err(AllocError) => refused(len.saturating_mul(size_of::<T>())),
        }
    }

    /// Like [`alloc_slice_fill_with`](Self::alloc_slice_fill_with), but returns an error when the
    /// arena cannot hold the slice; `f` is then not called.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the slice would take the arena past its limit, no chunk can be had, or
    /// `len` values of `T` are more than any layout can hold; the arena is then as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.try_alloc_slice_fill_with(3, |i| i as u8)?, [0, 1, 2]);
    /// assert!(arena.try_alloc_slice_fill_with(usize::MAX, |_| 0u64).is_err());
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc_slice_fill_with<T>(
        &self,
        len: usize,
        mut f: impl FnMut(usize) -> T,
    ) -> Result<&mut [T], AllocError> {
        self.fill(len, |i| Some(f(i)))
    }

    /// Allocates a slice of `len` copies of `value`.
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory, or if `len` values of `T` are more
    /// than any layout can hold; see
    /// [`try_alloc_slice_fill_copy`](Self::try_alloc_slice_fill_copy).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.alloc_slice_fill_copy(3, 'x'), ['x', 'x', 'x']);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_fill_copy<T: Copy>(&self, len: usize, value: T) -> &mut [T] {
        self.alloc_slice_fill_with(len, |_| value)
    }

    /// Like [`alloc_slice_fill_copy`](Self::alloc_slice_fill_copy), but returns an error when the
    /// arena cannot hold the slice.
    ///
    /// # Errors
    ///
    /// [`AllocError`] as for [`try_alloc_slice_fill_with`](Self::try_alloc_slice_fill_with).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.try_alloc_slice_fill_copy(2, 0.5)?, [0.5, 0.5]);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc_slice_fill_copy<T: Copy>(
        &self,
        len: usize,
        value: T,
    ) -> Result<&mut [T], AllocError> {
        self.try_alloc_slice_fill_with(len, |_| value)
    }

    /// Allocates a slice of `len` clones of `value`.
    ///
    /// If a `clone` panics, the clones made so far are dropped and the block is given back; the
    /// clones are never dropped otherwise.
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory, if `len` values of `T` are more
    /// than any layout can hold, and when a `clone` panics; see
    /// [`try_alloc_slice_fill_clone`](Self::try_alloc_slice_fill_clone).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.alloc_slice_fill_clone(2, &Some("x")), [Some("x"), Some("x")]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_fill_clone<T: Clone>(&self, len: usize, value: &T) -> &mut [T] {
        self.alloc_slice_fill_with(len, |_| value.clone())
    }

    /// Like [`alloc_slice_fill_clone`](Self::alloc_slice_fill_clone), but returns an error when
    /// the arena cannot hold the slice.
    ///
    /// # Errors
    ///
    /// [`AllocError`] as for [`try_alloc_slice_fill_with`](Self::try_alloc_slice_fill_with).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.try_alloc_slice_fill_clone(1, &(1, 2))?, [(1, 2)]);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc_slice_fill_clone<T: Clone>(
        &self,
        len: usize,
        value: &T,
    ) -> Result<&mut [T], AllocError> {
        self.try_alloc_slice_fill_with(len, |_| value.clone())
    }

    /// Allocates a slice of `len` default values.
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory, if `len` values of `T` are more
    /// than any layout can hold, and when `T::default` panics; see
    /// [`try_alloc_slice_fill_default`](Self::try_alloc_slice_fill_default).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let counts: &mut [u32] = arena.alloc_slice_fill_default(4);
    /// counts[2] += 1;
    /// assert_eq!(counts, [0, 0, 1, 0]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_fill_default<T: Default>(&self, len: usize) -> &mut [T] {
        self.alloc_slice_fill_with(len, |_| T::default())
    }

    /// Like [`alloc_slice_fill_default`](Self::alloc_slice_fill_default), but returns an error
    /// when the arena cannot hold the slice.
    ///
    /// # Errors
    ///
    /// [`AllocError`] as for [`try_alloc_slice_fill_with`](Self::try_alloc_slice_fill_with).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.try_alloc_slice_fill_default::<bool>(2)?, [false, false]);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc_slice_fill_default<T: Default>(
        &self,
        len: usize,
    ) -> Result<&mut [T], AllocError> {
        self.try_alloc_slice_fill_with(len, |_| T::default())
    }

    /// Allocates a slice of the items of `iter`, whose length it takes from
    /// [`ExactSizeIterator::len`] to reserve the block once.
    ///
    /// An iterator that keeps its promise fills the slice exactly. One that does not is handled
    /// safely: if it runs out early, the slice holds the items it gave and the rest of the block
    /// is given back (bumpalo panics here); if it has more, they are left in it (as in bumpalo).
    /// If the iterator panics, the items taken so far are dropped and the block is given back.
    /// The items are never dropped otherwise: see
    /// [the type's documentation](Arena#values-are-never-dropped).
    ///
    /// # Panics
    ///
    /// Panics if the arena is past its limit or out of memory, if `len()` values of `T` are more
    /// than any layout can hold, and when the iterator panics; see
    /// [`try_alloc_slice_fill_iter`](Self::try_alloc_slice_fill_iter).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let lengths: Vec<usize> = "a bc def".split(' ').map(str::len).collect();
    /// assert_eq!(arena.alloc_slice_fill_iter(lengths), [1, 2, 3]);
    /// let doubled = arena.alloc_slice_fill_iter([1, 2, 3].iter().map(|x| x * 2));
    /// assert_eq!(doubled, [2, 4, 6]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_fill_iter<T, I>(&self, iter: I) -> &mut [T]
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let mut iter = iter.into_iter();
        let len = iter.len();
        match self.fill(len, |_| iter.next()) {
            Ok(values) => values,
            Err(AllocError) => refused(len.saturating_mul(size_of::<T>())),
        }
    }

    /// Like [`alloc_slice_fill_iter`](Self::alloc_slice_fill_iter), but returns an error when the
    /// arena cannot hold `len()` items; the iterator is then not advanced.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the slice would take the arena past its limit, no chunk can be had, or
    /// `len()` values of `T` are more than any layout can hold; the arena is then as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// arena.set_limit(Some(4));
    /// assert_eq!(arena.try_alloc_slice_fill_iter(1..=4u8)?, [1, 2, 3, 4]);
    /// assert!(arena.try_alloc_slice_fill_iter(0..1u8).is_err());
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_alloc_slice_fill_iter<T, I>(&self, iter: I) -> Result<&mut [T], AllocError>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let mut iter = iter.into_iter();
        let len = iter.len();
        self.fill(len, |_| iter.next())
    }

    /// The engine of the slice methods: one block for `len` values, filled by `next(i)` until it
    /// returns `None` or the slice is full; a shorter slice gives the rest of its block back.
    #[inline]
    fn fill<T>(
        &self,
        len: usize,
        mut next: impl FnMut(usize) -> Option<T>,
    ) -> Result<&mut [T], AllocError> {
        let layout = Layout::array::<T>(len).map_err(|_| AllocError)?;
        let start = self.allocate(layout)?.cast::<T>();
        let mut filling = Filling {
            arena: self,
            start,
            len,
            written: 0,
        };
        while filling.written < len {
            let Some(value) = next(filling.written) else {
                break;
            };
            // SAFETY: `written < len`, so the slot lies inside the block of `len` values; it is
            // aligned (the block is, and so is every multiple of `size_of::<T>()` past it) and
            // holds no value yet.
            unsafe { start.as_ptr().add(filling.written).write(value) };
            filling.written += 1;
        }
        Ok(filling.finish())
    }
}

/// A block of `len` values of `T` being filled; the first `written` are initialised. Dropped
/// before [`finish`](Self::finish) (a panic while filling), it drops them and gives the block
/// back.
struct Filling<'a, T> {
    arena: &'a Arena,
    /// The block, from `arena` with the layout of `[T; len]`.
    start: NonNull<T>,
    len: usize,
    /// How many values at `start` are initialised, `<= len`.
    written: usize,
}

impl<'a, T> Filling<'a, T> {
    /// The values written, as a slice that lives as long as the arena. A block filled short is
    /// shrunk to them, so that the arena can take the rest back (or count it as freed).
    fn finish(self) -> &'a mut [T] {
        let this = mem::ManuallyDrop::new(self);
        let mut start = this.start;
        if this.written < this.len {
            // Neither layout can fail: both are no larger than the block's, which exists.
            let old = Layout::array::<T>(this.len).unwrap_or_else(|_| unreachable!());
            let new = Layout::array::<T>(this.written).unwrap_or_else(|_| unreachable!());
            // SAFETY: the block is live in `arena` with layout `old`; `new` is no larger and has
            // the same alignment, so the arena shrinks it without allocating. bumpalo may move
            // the values up to give the tail back; a bitwise move of `T`s is a move.
            if let Ok(block) = unsafe { this.arena.shrink(start.cast(), old, new) } {
                start = block.cast();
            }
        }
        // SAFETY: the `written` values at `start` are initialised, aligned and owned by nobody
        // else; the block stays valid until the arena is reset (`&mut`) or dropped, which the
        // lifetime `'a` of the borrow of the arena rules out while the slice lives.
        unsafe { core::slice::from_raw_parts_mut(start.as_ptr(), this.written) }
    }
}

impl<T> Drop for Filling<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the first `written` values at `start` are initialised and owned by this guard;
        // nobody else will read or drop them.
        unsafe {
            ptr::drop_in_place(ptr::slice_from_raw_parts_mut(
                self.start.as_ptr(),
                self.written,
            ))
        };
        // The layout was computed before the block was allocated with it, so it exists.
        let layout = Layout::array::<T>(self.len).unwrap_or_else(|_| unreachable!());
        // SAFETY: the block was allocated from `arena` with `layout` and is freed once, here.
        unsafe { self.arena.deallocate(self.start.cast(), layout) };
    }
}

/// The panic of the typed methods when the arena refuses `bytes` bytes.
#[cold]
#[inline(never)]
#[track_caller]
fn refused(bytes: usize) -> ! {
    panic!("allockit: the arena cannot hold {bytes} more bytes (past its limit or out of memory)")
}
