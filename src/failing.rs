//! `Failing`: fault injection for any allocator, and a driver that fails every allocation of a
//! piece of code in turn.
//!
//! In the C design every `MEM_NEW` may return NULL, and `hash_map_put` must return early without
//! corrupting the map. In Rust that path hides behind `try_` methods and is easy to leave
//! untested. `Failing<A>` wraps any allocator and refuses requests by a [`Policy`]: the Nth
//! request, every request from the Nth, any request that would take live bytes past a budget,
//! every grow, or a seeded pseudo-random fraction. It counts the requests it saw and the failures
//! it injected, and remembers the index of the first.
//!
//! [`check_all_allocation_failures`] (with `std`) is the exhaustive driver, after Zig's
//! `checkAllAllocationFailures`: it runs a closure once to count its requests, then once per
//! request with exactly that one failing, and checks that each run returns `Ok` or
//! `Err(AllocError)`, never panics, and leaks nothing (through a tracking [`Trace`](crate::Trace)).
//!
//! What counts as a request: `allocate`, `allocate_zeroed`, `grow` and `grow_zeroed` of a
//! non-zero size, numbered from 0 in the order they arrive. Shrinks and frees always go through.
//! An injected failure never reaches the inner allocator. Zero-sized requests pass through
//! uncounted (they need no memory, so no real allocator fails them).
//!
//! `Failing<A>` is `Sync` when `A` is; its state sits behind one small lock, so under several
//! threads the numbering follows the order in which requests take it.

use core::fmt;
use core::ptr::NonNull;

use crate::sync::{Mutex, const_fn_unless_loom};
use crate::trace::live::{self, Live, Record, Taken};
use crate::{AllocError, Allocator, Layout};

/// When a [`Failing`] allocator refuses a request. Requests are numbered from 0 (see the
/// [module documentation](crate::failing) for what counts).
///
/// # Examples
///
/// ```
/// use allockit::failing::{Failing, Policy};
/// use allockit::{Platform, Vec};
///
/// // Vectors may be created, never grown.
/// let no_growth = Failing::new(Platform, Policy::Grows);
/// let mut v: Vec<u8, _> = Vec::with_capacity_in(4, &no_growth);
/// v.extend([1, 2, 3, 4]);
/// assert!(v.try_reserve(1).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Policy {
    /// Never fail: count only.
    Never,
    /// Fail request number `n` only.
    Nth(usize),
    /// Fail request number `n` and every later one.
    From(usize),
    /// Fail any request that would take the live bytes (allocated or grown, minus freed or
    /// shrunk, through this adaptor) past this many.
    Budget(usize),
    /// Fail every grow (`grow`, `grow_zeroed`); allocations go through.
    Grows,
    /// Fail each request with probability `fraction`, decided by a hash of `seed` and the
    /// request's number, so a run with the same seed fails the same requests. Make it with
    /// [`Policy::random`].
    Random {
        /// The seed.
        seed: u64,
        /// The share of requests to fail, from 0.0 to 1.0.
        fraction: f64,
    },
}

impl Policy {
    /// [`Policy::Random`] with `fraction` clamped to `0.0..=1.0` (NaN counts as 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::failing::Policy;
    ///
    /// assert_eq!(Policy::random(7, 1.5), Policy::Random { seed: 7, fraction: 1.0 });
    /// ```
    pub fn random(seed: u64, fraction: f64) -> Self {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        Policy::Random { seed, fraction }
    }

    /// Whether request number `index` fails, given the live bytes it would lead to.
    fn fails(&self, index: usize, grow: bool, live_after: Option<usize>) -> bool {
        match *self {
            Policy::Never => false,
            Policy::Nth(n) => index == n,
            Policy::From(n) => index >= n,
            Policy::Budget(budget) => live_after.is_none_or(|live| live > budget),
            Policy::Grows => grow,
            Policy::Random { seed, fraction } => {
                // SplitMix64 of seed and index: 53 uniform bits compared with the fraction.
                let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                ((z >> 11) as f64) < fraction * (1u64 << 53) as f64
            }
        }
    }
}

/// An allocator adaptor that refuses requests by a [`Policy`], for testing out-of-memory paths.
///
/// # Examples
///
/// ```
/// use allockit::failing::{Failing, Policy};
/// use allockit::{HashMap, Platform};
///
/// let failing = Failing::new(Platform, Policy::Nth(0));
/// let mut map: HashMap<u32, u32, _> = HashMap::new_in(&failing);
/// assert!(map.try_reserve(10).is_err()); // request 0 fails
/// assert!(map.try_reserve(10).is_ok()); // request 1 goes through
/// assert_eq!(failing.stats().first_failure, Some(0));
/// ```
pub struct Failing<A> {
    /// Where every request that is not refused goes.
    inner: A,
    /// The policy and the counts, under one lock so that numbering and budget agree.
    state: Mutex<State>,
    /// The blocks whose returned length passes their requested size, with that size: a caller
    /// may free such a block with any size up to its length (hashbrown does, over a `Slab`), and
    /// the live count must take off what was admitted. Blocks of exactly their size need no
    /// record. A table of `Trace`'s, with its lock of its own (it grows outside the lock).
    slack: Mutex<Live>,
}

/// Everything `Failing` keeps under its lock.
struct State {
    policy: Policy,
    /// Requests seen (the next request's number).
    attempts: usize,
    /// Requests refused.
    failures: usize,
    /// The number of the first refused request.
    first_failure: Option<usize>,
    /// Bytes admitted (allocated or grown) and not yet taken off (freed or shrunk), by the sizes
    /// requested: exact whatever sizes the frees pass (see `Failing::slack`).
    live_bytes: usize,
}

/// A snapshot of a [`Failing`] allocator's counts, from [`Failing::stats`].
///
/// # Examples
///
/// ```
/// use allockit::failing::{Failing, Policy};
/// use allockit::{Allocator, Layout, Platform};
///
/// let failing = Failing::new(Platform, Policy::From(1));
/// let layout = Layout::new::<u64>();
/// let block = failing.allocate(layout)?;
/// assert!(failing.allocate(layout).is_err());
/// assert!(failing.allocate(layout).is_err());
/// let stats = failing.stats();
/// assert_eq!((stats.attempts, stats.failures, stats.first_failure), (3, 2, Some(1)));
/// # unsafe { failing.deallocate(block.cast(), layout) };
/// # Ok::<(), allockit::AllocError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailingStats {
    /// Requests seen (allocations and grows of a non-zero size).
    pub attempts: usize,
    /// Requests refused.
    pub failures: usize,
    /// The number of the first refused request, if any.
    pub first_failure: Option<usize>,
    /// Bytes live through this adaptor, by the callers' layouts.
    pub live_bytes: usize,
}

impl<A> Failing<A> {
    const_fn_unless_loom! {
        /// Wraps `inner`, refusing requests by `policy`.
        ///
        /// # Examples
        ///
        /// ```
        /// use allockit::failing::{Failing, Policy};
        /// use allockit::{Box, Platform};
        ///
        /// let never = Failing::new(Platform, Policy::Never);
        /// let b = Box::new_in(5, &never);
        /// assert_eq!(never.stats().attempts, 1);
        /// # drop(b);
        /// ```
        pub fn new(inner: A, policy: Policy) -> Self {
            Self {
                inner,
                state: Mutex::new(State {
                    policy,
                    attempts: 0,
                    failures: 0,
                    first_failure: None,
                    live_bytes: 0,
                }),
                slack: Mutex::new(Live::new()),
            }
        }
    }

    /// The policy in force.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::failing::{Failing, Policy};
    ///
    /// let f = Failing::new(allockit::Platform, Policy::Grows);
    /// assert_eq!(f.policy(), Policy::Grows);
    /// ```
    pub fn policy(&self) -> Policy {
        self.state.lock().policy
    }

    /// Changes the policy for the requests that follow; numbering and counts go on.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::failing::{Failing, Policy};
    /// use allockit::{Allocator, Layout, Platform};
    ///
    /// let f = Failing::new(Platform, Policy::Never);
    /// let layout = Layout::new::<u32>();
    /// let a = f.allocate(layout)?;
    /// // Fail the next request, whatever its number.
    /// f.set_policy(Policy::Nth(f.stats().attempts));
    /// assert!(f.allocate(layout).is_err());
    /// # unsafe { f.deallocate(a.cast(), layout) };
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn set_policy(&self, policy: Policy) {
        self.state.lock().policy = policy;
    }

    /// The counts so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = allockit::failing::Failing::new(allockit::Platform, allockit::failing::Policy::Never);
    /// assert_eq!(f.stats().attempts, 0);
    /// ```
    pub fn stats(&self) -> FailingStats {
        let state = self.state.lock();
        FailingStats {
            attempts: state.attempts,
            failures: state.failures,
            first_failure: state.first_failure,
            live_bytes: state.live_bytes,
        }
    }

    /// The inner allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::failing::{Failing, Policy};
    /// use allockit::{Platform, Trace};
    ///
    /// let f = Failing::new(Trace::new(Platform), Policy::Never);
    /// assert_eq!(f.inner().stats().allocations, 0);
    /// ```
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Unwraps the inner allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::failing::{Failing, Policy};
    ///
    /// let arena = Failing::new(allockit::Arena::new(), Policy::Never).into_inner();
    /// # drop(arena);
    /// ```
    pub fn into_inner(self) -> A {
        self.inner
    }

    /// Numbers a request that adds `extra` bytes and decides whether it fails.
    fn admit(&self, extra: usize, grow: bool) -> Result<(), AllocError> {
        let mut state = self.state.lock();
        let index = state.attempts;
        state.attempts += 1;
        let live_after = state.live_bytes.checked_add(extra);
        if state.policy.fails(index, grow, live_after) {
            state.failures += 1;
            state.first_failure.get_or_insert(index);
            return Err(AllocError);
        }
        // Counted as live now, under the same lock; taken back if the inner allocator refuses.
        state.live_bytes = state.live_bytes.saturating_add(extra);
        Ok(())
    }

    /// A request that adds `extra` bytes (`grow`: a grow), made by `call` unless the policy
    /// refuses it, and live unless the inner allocator refuses it. Only a request for memory
    /// (`numbered`: a non-zero new size) is numbered and may be refused; any other adds nothing.
    #[inline]
    fn request(
        &self,
        extra: usize,
        grow: bool,
        numbered: bool,
        call: impl FnOnce() -> Result<NonNull<[u8]>, AllocError>,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if !numbered {
            return call();
        }
        self.admit(extra, grow)?;
        call().inspect_err(|_| self.remove_live(extra))
    }

    /// Adds `bytes` to the live count, with no request (see `resize`).
    fn add_live(&self, bytes: usize) {
        let mut state = self.state.lock();
        state.live_bytes = state.live_bytes.saturating_add(bytes);
    }

    /// Takes `bytes` off the live count.
    fn remove_live(&self, bytes: usize) {
        let mut state = self.state.lock();
        state.live_bytes = state.live_bytes.saturating_sub(bytes);
    }

    /// Remembers what a block with slack was admitted as (see `Failing::slack`). If the
    /// bookkeeping memory runs out, the block goes unremembered, and a free of it with more than
    /// its size counts that much more.
    fn note(&self, block: NonNull<[u8]>, layout: Layout) {
        if block.len() > layout.size() {
            let taken = Taken {
                record: Record::new(layout.size(), block.len(), layout.align()),
                backtrace: None,
            };
            let _ = live::insert(&self.slack, block.cast::<u8>().as_ptr().addr(), taken);
        }
    }

    /// What the block at `ptr`, given back with `layout`, was admitted as, with its record
    /// taken out (to put back with [`keep`](Self::keep) if the call then fails).
    fn admitted(&self, ptr: NonNull<u8>, layout: Layout) -> (usize, Option<Taken>) {
        let mut slack = self.slack.lock();
        if slack.len() == 0 {
            return (layout.size(), None);
        }
        match slack.take_if(ptr.as_ptr().addr(), |_| true) {
            Some(Ok(taken)) => (taken.record.size(), Some(taken)),
            _ => (layout.size(), None),
        }
    }

    /// Puts back a record [`admitted`](Self::admitted) took out, for a call that failed.
    fn keep(&self, ptr: NonNull<u8>, taken: Option<Taken>) {
        if let Some(taken) = taken {
            let _ = live::insert(&self.slack, ptr.as_ptr().addr(), taken);
        }
    }
}

// SAFETY: the `Allocator` contract, argued for `Failing<A>` (and `&Failing<A>` by allocator-api2's
// blanket impl for references): every block is `inner`'s, handed out, resized and freed by
// `inner` with the caller's layouts, so the trait's three promises (blocks valid while the
// allocator lives, moves invalidate nothing, any block may be passed to any method) are
// `inner`'s. A refused request returns `AllocError` without touching `inner`, and leaves a block
// being grown as it was.
unsafe impl<A: Allocator> Allocator for Failing<A> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = self.request(layout.size(), false, layout.size() != 0, || {
            self.inner.allocate(layout)
        })?;
        self.note(block, layout);
        Ok(block)
    }

    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = self.request(layout.size(), false, layout.size() != 0, || {
            self.inner.allocate_zeroed(layout)
        })?;
        self.note(block, layout);
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        let (admitted, _record) = self.admitted(ptr, layout);
        // SAFETY: the caller's guarantees: `ptr` is a block of `inner` that `layout` fits.
        unsafe { self.inner.deallocate(ptr, layout) };
        // Taken off once the inner allocator holds the block no more, so that a budget never
        // lets another request in while it still does.
        self.remove_live(admitted);
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the caller's guarantees for `grow`, passed on to the allocator of the block.
        unsafe {
            self.resize(ptr, old_layout, new_layout, |inner| {
                inner.grow(ptr, old_layout, new_layout)
            })
        }
    }

    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `grow`.
        unsafe {
            self.resize(ptr, old_layout, new_layout, |inner| {
                inner.grow_zeroed(ptr, old_layout, new_layout)
            })
        }
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `grow`.
        unsafe {
            self.resize(ptr, old_layout, new_layout, |inner| {
                inner.shrink(ptr, old_layout, new_layout)
            })
        }
    }
}

impl<A: Allocator> Failing<A> {
    /// A grow or shrink of the block at `ptr` from `old` to `new`, made by `call`: a rise over
    /// what the block was admitted as is a numbered request (refused by the policy, or not); a
    /// fall comes off the live count once the inner allocator is done.
    ///
    /// # Safety
    ///
    /// `call` is sound to make: the contract of the resizing method it makes, for `ptr`, `old`
    /// and `new`.
    unsafe fn resize(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        call: impl FnOnce(&A) -> Result<NonNull<[u8]>, AllocError>,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let (admitted, record) = self.admitted(ptr, old);
        let result = if new.size() > old.size() {
            // A grow: numbered, and so refusable.
            self.request(new.size() - admitted, true, true, || call(&self.inner))
        } else if new.size() > admitted {
            // A shrink from the block's length to above what was asked for: a rise, but no
            // request for memory.
            call(&self.inner).inspect(|_| self.add_live(new.size() - admitted))
        } else {
            call(&self.inner).inspect(|_| self.remove_live(admitted - new.size()))
        };
        match result {
            Ok(block) => {
                // The old record is done with: its block is resized (it holds no backtrace).
                let _ = record;
                self.note(block, new);
                Ok(block)
            }
            Err(AllocError) => {
                self.keep(ptr, record);
                Err(AllocError)
            }
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for Failing<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failing")
            .field("policy", &self.policy())
            .field("stats", &self.stats())
            .field("inner", &self.inner)
            .finish()
    }
}

#[cfg(feature = "std")]
pub use driver::{FailureCheckError, FailureReport, check_all_allocation_failures};

#[cfg(feature = "std")]
mod driver {
    use super::{Failing, Policy};
    use crate::trace::LeakReport;
    use crate::{AllocError, Allocator, Trace};
    use core::fmt;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::string::{String, ToString};

    /// What [`check_all_allocation_failures`] tried.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::failing::check_all_allocation_failures;
    /// use allockit::{try_strdup_in, Platform};
    ///
    /// let report = check_all_allocation_failures(&Platform, |alloc| {
    ///     let a = try_strdup_in("one", alloc)?;
    ///     let b = try_strdup_in("two", alloc)?;
    ///     Ok(a.len() + b.len())
    /// })
    /// .unwrap();
    /// assert_eq!(report.failure_points, 2);
    /// assert_eq!(report.runs_failed, 2); // each injected failure came back as an error
    /// println!("{report}");
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct FailureReport {
        /// Requests the closure made when nothing failed: one run per request was made with
        /// exactly that one failing.
        pub failure_points: usize,
        /// Runs (of those) that returned `Ok` anyway: the closure recovered from the failure.
        pub runs_succeeded: usize,
        /// Runs that returned `Err(AllocError)`.
        pub runs_failed: usize,
    }

    impl fmt::Display for FailureReport {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "{} failure points tried: {} runs returned AllocError, {} recovered; no panic, \
                 no leak",
                self.failure_points, self.runs_failed, self.runs_succeeded
            )
        }
    }

    /// Why [`check_all_allocation_failures`] rejected the closure.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::failing::{check_all_allocation_failures, FailureCheckError};
    /// use allockit::{try_strdup_in, Platform};
    ///
    /// let error = check_all_allocation_failures(&Platform, |alloc| {
    ///     let name = try_strdup_in("name", alloc).expect("never fails"); // it does, once
    ///     Ok(name.len())
    /// })
    /// .unwrap_err();
    /// assert!(matches!(error, FailureCheckError::Panicked { point: Some(0), .. }));
    /// ```
    #[derive(Debug)]
    #[non_exhaustive]
    pub enum FailureCheckError {
        /// The first run, with nothing failing, returned `AllocError` anyway.
        FailedWithoutInjection,
        /// The run with request `point` failing panicked (`None`: the run with nothing failing).
        Panicked {
            /// The failing request's number.
            point: Option<usize>,
            /// The panic message.
            message: String,
        },
        /// The run meant to fail request `point` made only `attempts` requests, so nothing failed:
        /// the closure does not make the same requests on every run (a map with a random hasher,
        /// say, whose growth depends on where the keys land).
        NotReached {
            /// The request that was to fail.
            point: usize,
            /// How many requests the run made.
            attempts: usize,
        },
        /// The run with request `point` failing left blocks live after it returned.
        Leaked {
            /// The failing request's number (`None`: the run with nothing failing).
            point: Option<usize>,
            /// What was left (boxed: a report is large, and errors should be small).
            report: std::boxed::Box<LeakReport>,
        },
    }

    impl fmt::Display for FailureCheckError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let at = |point: &Option<usize>| match point {
                Some(p) => std::format!("with request {p} failing"),
                None => "with nothing failing".to_string(),
            };
            match self {
                Self::FailedWithoutInjection => {
                    write!(f, "the closure returned AllocError with nothing failing")
                }
                Self::Panicked { point, message } => {
                    write!(f, "the run {} panicked: {message}", at(point))
                }
                Self::NotReached { point, attempts } => write!(
                    f,
                    "the run meant to fail request {point} made only {attempts} requests: the \
                     closure is not deterministic"
                ),
                Self::Leaked { point, report } => {
                    write!(f, "the run {} leaked: {report}", at(point))
                }
            }
        }
    }

    impl std::error::Error for FailureCheckError {}

    /// Runs `f` once with nothing failing to count its requests, then once per request with
    /// exactly that one refused. Each run gets a fresh `Failing` over a fresh tracking `Trace`
    /// over `inner`, and must return `Ok` or `Err(AllocError)` without panicking, and with
    /// nothing left live once it returned.
    ///
    /// The closure must be deterministic: the same requests in the same order on every run. A
    /// hashbrown map with its default, randomly seeded hasher is not, once entries are removed
    /// (where a key lands decides whether a later insert grows the table); give such a map a
    /// fixed hasher. A run that does not reach its failure point is reported.
    /// A panic is caught and reported; an abort (say, `handle_alloc_error` from a panicking
    /// allocation API) cannot be, and ends the process, which is also a finding.
    ///
    /// # Errors
    ///
    /// The first run that broke the rules, as a [`FailureCheckError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::failing::check_all_allocation_failures;
    /// use allockit::{Arena, HashMap};
    ///
    /// let arena = Arena::new();
    /// let report = check_all_allocation_failures(&arena, |alloc| {
    ///     let mut map = HashMap::new_in(alloc);
    ///     for i in 0..100 {
    ///         map.try_reserve(1).map_err(|_| allockit::AllocError)?;
    ///         map.insert(i, i);
    ///     }
    ///     Ok(map.len())
    /// })?;
    /// assert!(report.failure_points >= 4); // the table grew at least that many times
    /// # Ok::<(), allockit::failing::FailureCheckError>(())
    /// ```
    pub fn check_all_allocation_failures<A, T, F>(
        inner: &A,
        mut f: F,
    ) -> Result<FailureReport, FailureCheckError>
    where
        A: Allocator,
        F: FnMut(&Failing<Trace<&A>>) -> Result<T, AllocError>,
    {
        let mut run = |policy: Policy, point: Option<usize>| {
            let failing = Failing::new(Trace::with_tracking(inner), policy);
            let outcome = catch_unwind(AssertUnwindSafe(|| f(&failing).map(drop)));
            let outcome = outcome.map_err(|payload| FailureCheckError::Panicked {
                point,
                message: payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            })?;
            if let Err(report) = failing.inner().check_leaks() {
                return Err(FailureCheckError::Leaked {
                    point,
                    report: std::boxed::Box::new(report),
                });
            }
            Ok((outcome, failing.stats()))
        };
        let (first, stats) = run(Policy::Never, None)?;
        let points = stats.attempts;
        if first.is_err() {
            return Err(FailureCheckError::FailedWithoutInjection);
        }
        let mut report = FailureReport {
            failure_points: points,
            runs_succeeded: 0,
            runs_failed: 0,
        };
        for point in 0..points {
            let (outcome, stats) = run(Policy::Nth(point), Some(point))?;
            if stats.first_failure != Some(point) {
                return Err(FailureCheckError::NotReached {
                    point,
                    attempts: stats.attempts,
                });
            }
            match outcome {
                Ok(()) => report.runs_succeeded += 1,
                Err(AllocError) => report.runs_failed += 1,
            }
        }
        Ok(report)
    }
}
