//! Subsystems: each part of a program allocates through its own account, so that its memory can
//! be profiled and capped on its own. The C design's `allocators_get(ALLOC_SYSTEM_VM)`.
//!
//! An [`Account`] is a named, `static`-able allocator: a counters-level [`Trace`] around the
//! platform allocator, with an optional byte budget. Three are built in, [`VM`], [`COMPILER`] and
//! [`MODULES`], and a program defines more the same way, with `static` and [`Account::new`].
//! There are two ways to allocate through one:
//!
//! - **Zero-sized handles**: [`Vm`](type@Vm), [`Compiler`](type@Compiler) and [`Modules`](type@Modules) are [`Handle`]s, which cost no
//!   space in a map or a boxed key (`HashMap::new_in(subsystem::Vm)`), and a type alias swaps one
//!   for another at compile time. A program's own accounts get handles through [`Define`].
//! - **At run time**: [`Subsystem`] names a subsystem by value (the C enum), and
//!   [`Subsystem::allocator`] gives its `&'static Account`, which is an allocator too and becomes
//!   a `&'static dyn Allocator` where needed.
//!
//! Either way, the allocation path is a static's address, never a lookup by name. An account
//! joins the registry when a handle first allocates through it, when [`Subsystem::allocator`]
//! hands it out, or when [`Account::register`] is called (a `&ACCOUNT` used directly as an
//! allocator is not registered by that alone, since an `Account` need not be a `static`);
//! [`report`] then lists every registered account (name, live and peak bytes, allocations,
//! frees, failures, budget), sorted by live bytes, with a total row.
//!
//! A budget ([`Account::set_budget`]) caps an account's live bytes: a request past it returns
//! [`AllocError`] and counts as a failure; raising or lifting the budget lets allocation go on.
//!
//! Memory obtained elsewhere can be counted too ([`Account::charge`]): an arena made with
//! [`Arena::with_account`](crate::Arena::with_account), or a scope of
//! [`with_arena_in`](crate::with_arena_in), charges each of its chunks as one live block, so
//! scratch memory shows in the report and under the budget.
//!
//! Accounts are `Sync`: threads may allocate in several subsystems at once, and the counts are
//! exact when they join. Each call costs what a counters-level `Trace` costs (plain loads and
//! stores in the calling thread's own shard of counters, on every thread; under a budget, a few
//! more, and a lock every few KiB: see [`Trace`]'s module docs for the peaks and the budget under
//! threads) plus one relaxed load to see whether the account is registered.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::trace::{Stats, Trace};
use crate::units::Bytes;
use crate::{AllocError, Allocator, Layout, Platform};

/// A subsystem's allocator: a name, a counters-level [`Trace`] around the platform allocator,
/// and an optional budget. Made in a `static` with [`Account::new`].
///
/// `&Account` is an allocator, and so is a [`Handle`] to one.
///
/// # Examples
///
/// ```
/// use allockit::subsystem::{self, Account};
/// use allockit::{Box, HashMap};
///
/// static GC: Account = Account::new("gc");
/// GC.register(); // so that `subsystem::report()` lists it
///
/// let mut roots = HashMap::new_in(&GC);
/// roots.insert(1u32, Box::new_in([0u8; 64], &GC));
/// assert_eq!(GC.stats().live_blocks, 2); // the map's table and the box
/// assert!(subsystem::report().to_string().contains("gc"));
/// ```
pub struct Account {
    /// Shown in reports.
    name: &'static str,
    /// Counts every call and enforces the budget (the trace's limit).
    trace: Trace<Platform>,
    /// Whether the account is in the registry's list.
    registered: AtomicBool,
    /// The account registered before this one (the registry is a list, newest first).
    next: AtomicPtr<Account>,
}

impl Account {
    /// An account named `name`, with no budget. `const`, to be used in a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// static PARSER: allockit::subsystem::Account = allockit::subsystem::Account::new("parser");
    /// assert_eq!(PARSER.name(), "parser");
    /// ```
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            trace: Trace::new(Platform),
            registered: AtomicBool::new(false),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The account's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(allockit::subsystem::VM.name(), "vm");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The account's counters (see [`Stats`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::subsystem::Account;
    ///
    /// static CACHE: Account = Account::new("cache");
    /// let b = allockit::Box::new_in(0u64, &CACHE);
    /// assert_eq!(CACHE.stats().live_bytes, 8);
    /// # drop(b);
    /// ```
    pub fn stats(&self) -> Stats {
        self.trace.stats()
    }

    /// Caps the account's live bytes (`None`: no cap). A request past the budget returns
    /// [`AllocError`] and counts as a failure; changing the budget affects only later requests.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::subsystem::Account;
    /// use allockit::Vec;
    ///
    /// static SCRATCH: Account = Account::new("scratch");
    /// SCRATCH.set_budget(Some(1024));
    /// let mut v: Vec<u8, _> = Vec::new_in(&SCRATCH);
    /// assert!(v.try_reserve(2048).is_err());
    /// SCRATCH.set_budget(Some(4096));
    /// assert!(v.try_reserve(2048).is_ok());
    /// ```
    pub fn set_budget(&self, bytes: Option<usize>) {
        self.trace.set_limit(bytes);
    }

    /// The budget, if one is set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(allockit::subsystem::MODULES.budget(), None);
    /// ```
    pub fn budget(&self) -> Option<usize> {
        self.trace.limit()
    }

    /// Counts `bytes` of memory obtained elsewhere against this account, as one live block: an
    /// arena's chunk, say, so that scratch memory shows in [`report`] and under the budget. A
    /// charge past the budget is refused with [`AllocError`] (counted as a failure), and nothing
    /// is counted. Each charge is given back with [`uncharge`](Self::uncharge) of the same size.
    /// Registers the account. Zero bytes count nothing.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the budget cannot cover `bytes`.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::subsystem::Account;
    ///
    /// static SCRATCH: Account = Account::new("charged-scratch");
    /// SCRATCH.set_budget(Some(64 * 1024));
    /// SCRATCH.charge(48 * 1024)?;
    /// assert_eq!((SCRATCH.stats().live_blocks, SCRATCH.stats().live_bytes), (1, 48 * 1024));
    /// assert!(SCRATCH.charge(32 * 1024).is_err()); // past the budget
    /// SCRATCH.uncharge(48 * 1024);
    /// assert_eq!(SCRATCH.stats().live_bytes, 0);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn charge(&'static self, bytes: usize) -> Result<(), AllocError> {
        self.register();
        self.trace.charge(bytes)
    }

    /// Gives back a [`charge`](Self::charge) of `bytes`.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::subsystem::Account;
    ///
    /// static POOLED: Account = Account::new("charged-pool");
    /// POOLED.charge(4096)?;
    /// POOLED.uncharge(4096);
    /// assert_eq!((POOLED.stats().allocations, POOLED.stats().deallocations), (1, 1));
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn uncharge(&self, bytes: usize) {
        self.trace.uncharge(bytes);
    }

    /// Adds the account to the registry, so that [`report`] lists it. Handles and
    /// [`Subsystem::allocator`] do this on their own; calling it again does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::subsystem::{self, Account};
    ///
    /// static IDLE: Account = Account::new("idle-subsystem");
    /// IDLE.register();
    /// assert!(subsystem::report().to_string().contains("idle-subsystem"));
    /// ```
    #[inline]
    pub fn register(&'static self) {
        if self.registered.load(Ordering::Relaxed) {
            return;
        }
        self.register_slow();
    }

    #[cold]
    #[inline(never)]
    fn register_slow(&'static self) {
        // One thread wins the flag and pushes the account; the others have nothing to do.
        if self.registered.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = ptr::from_ref(self).cast_mut();
        let mut head = REGISTRY.load(Ordering::Acquire);
        loop {
            self.next.store(head, Ordering::Relaxed);
            match REGISTRY.compare_exchange_weak(head, this, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }
}

/// The registry: the most recently registered account, whose `next` links lead to all others.
/// Only ever grows, and holds only `&'static Account`s.
static REGISTRY: AtomicPtr<Account> = AtomicPtr::new(ptr::null_mut());

/// The built-in account of the virtual machine (the C design's `ALLOC_SYSTEM_VM`).
pub static VM: Account = Account::new("vm");
/// The built-in account of the compiler (`ALLOC_SYSTEM_COMPILER`).
pub static COMPILER: Account = Account::new("compiler");
/// The built-in account of loaded modules (`ALLOC_SYSTEM_MODULES`).
pub static MODULES: Account = Account::new("modules");

// SAFETY: the `Allocator` contract, argued for `Account` (and `&Account` by allocator-api2's
// blanket impl for references): every call goes to the account's `Trace`, which upholds the
// contract (see `Trace`); the account adds nothing but its name and its registry link.
unsafe impl Allocator for Account {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.trace.allocate(layout)
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.trace.allocate_zeroed(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's guarantees, for a block of this account's trace.
        unsafe { self.trace.deallocate(ptr, layout) }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `deallocate`.
        unsafe { self.trace.grow(ptr, old_layout, new_layout) }
    }

    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `deallocate`.
        unsafe { self.trace.grow_zeroed(ptr, old_layout, new_layout) }
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `deallocate`.
        unsafe { self.trace.shrink(ptr, old_layout, new_layout) }
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("stats", &self.stats())
            .field("budget", &self.budget())
            .finish()
    }
}

/// Ties a type to a `'static` [`Account`], so that [`Handle<Self>`](Handle) is a zero-sized
/// allocator for it. The built-in handles are made this way, and so are a program's own.
///
/// # Examples
///
/// ```
/// use allockit::subsystem::{Account, Define, Handle};
/// use allockit::HashMap;
///
/// static JIT: Account = Account::new("jit");
///
/// pub enum JitDef {}
/// impl Define for JitDef {
///     const ACCOUNT: &'static Account = &JIT;
/// }
/// pub type Jit = Handle<JitDef>;
///
/// let mut code = HashMap::new_in(Jit::new());
/// code.insert("main", 0x1000);
/// assert_eq!(JIT.stats().live_blocks, 1);
/// assert_eq!(size_of::<Jit>(), 0);
/// ```
pub trait Define: 'static {
    /// The account the handle allocates through.
    const ACCOUNT: &'static Account;
}

/// A zero-sized allocator for the account of `D`: copying it, storing it in every map and boxed
/// key, costs nothing.
///
/// # Examples
///
/// ```
/// use allockit::{subsystem, Box, HashMap};
///
/// let mut globals = HashMap::new_in(subsystem::Vm);
/// globals.insert(Box::new_in(*b"name", subsystem::Vm), 1);
/// assert_eq!(size_of::<subsystem::Vm>(), 0);
/// assert_eq!(size_of::<Box<[u8; 4], subsystem::Vm>>(), size_of::<usize>());
/// ```
pub struct Handle<D>(PhantomData<fn() -> D>);

impl<D: Define> Handle<D> {
    /// The handle (there is only one value).
    ///
    /// # Examples
    ///
    /// ```
    /// let vm = allockit::subsystem::Vm::new();
    /// assert_eq!(vm.account().name(), "vm");
    /// ```
    pub const fn new() -> Self {
        Self(PhantomData)
    }

    /// The account this handle allocates through.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::subsystem::{Compiler, COMPILER};
    ///
    /// assert!(std::ptr::eq(Compiler::new().account(), &COMPILER));
    /// ```
    pub fn account(self) -> &'static Account {
        D::ACCOUNT
    }
}

impl<D> Clone for Handle<D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for Handle<D> {}

impl<D: Define> Default for Handle<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Define> fmt::Debug for Handle<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({})", D::ACCOUNT.name)
    }
}

// SAFETY: every call goes to `D::ACCOUNT`, a `&'static Account`, which upholds the contract (see
// its impl). All handles of one `D` name the same account, so a block from one handle may be
// passed to any other copy.
unsafe impl<D: Define> Allocator for Handle<D> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        D::ACCOUNT.register();
        D::ACCOUNT.allocate(layout)
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        D::ACCOUNT.register();
        D::ACCOUNT.allocate_zeroed(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's guarantees, for a block of this account.
        unsafe { D::ACCOUNT.deallocate(ptr, layout) }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `deallocate`.
        unsafe { D::ACCOUNT.grow(ptr, old_layout, new_layout) }
    }

    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `deallocate`.
        unsafe { D::ACCOUNT.grow_zeroed(ptr, old_layout, new_layout) }
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `deallocate`.
        unsafe { D::ACCOUNT.shrink(ptr, old_layout, new_layout) }
    }
}

/// The definition behind [`Vm`](type@Vm).
#[derive(Debug)]
pub enum VmDef {}
impl Define for VmDef {
    const ACCOUNT: &'static Account = &VM;
}

/// The definition behind [`Compiler`](type@Compiler).
#[derive(Debug)]
pub enum CompilerDef {}
impl Define for CompilerDef {
    const ACCOUNT: &'static Account = &COMPILER;
}

/// The definition behind [`Modules`](type@Modules).
#[derive(Debug)]
pub enum ModulesDef {}
impl Define for ModulesDef {
    const ACCOUNT: &'static Account = &MODULES;
}

/// The zero-sized handle of the [`VM`] account: `HashMap::new_in(subsystem::Vm)`.
pub type Vm = Handle<VmDef>;
/// The handle value, so that `subsystem::Vm` works as an expression like a unit struct.
#[allow(non_upper_case_globals)]
pub const Vm: Vm = Handle::new();

/// The zero-sized handle of the [`COMPILER`] account.
pub type Compiler = Handle<CompilerDef>;
/// The handle value, so that `subsystem::Compiler` works as an expression.
#[allow(non_upper_case_globals)]
pub const Compiler: Compiler = Handle::new();

/// The zero-sized handle of the [`MODULES`] account.
pub type Modules = Handle<ModulesDef>;
/// The handle value, so that `subsystem::Modules` works as an expression.
#[allow(non_upper_case_globals)]
pub const Modules: Modules = Handle::new();

/// A subsystem chosen at run time: the C design's `ALLOC_SYSTEM_*` enum, with room for a
/// program's own accounts.
///
/// # Examples
///
/// ```
/// use allockit::subsystem::{Account, Subsystem};
/// use allockit::{Allocator, Box};
///
/// static PLUGINS: Account = Account::new("plugins");
///
/// fn allocator_for(task: &str) -> &'static dyn Allocator {
///     match task {
///         "compile" => Subsystem::Compiler.allocator(),
///         "plugin" => Subsystem::Custom(&PLUGINS).allocator(),
///         _ => Subsystem::Vm.allocator(),
///     }
/// }
///
/// let b = Box::new_in(7u32, allocator_for("plugin"));
/// assert_eq!(PLUGINS.stats().live_blocks, 1);
/// # drop(b);
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Subsystem {
    /// [`VM`].
    Vm,
    /// [`COMPILER`].
    Compiler,
    /// [`MODULES`].
    Modules,
    /// A program's own account.
    Custom(&'static Account),
}

impl Subsystem {
    /// The subsystem's account, which is an allocator (`&'static Account`), and coerces to
    /// `&'static dyn Allocator`.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::subsystem::Subsystem;
    /// use allockit::HashMap;
    ///
    /// let mut m = HashMap::new_in(Subsystem::Modules.allocator());
    /// m.insert("std", 1);
    /// assert_eq!(Subsystem::Modules.allocator().name(), "modules");
    /// ```
    pub fn allocator(self) -> &'static Account {
        let account = match self {
            Subsystem::Vm => &VM,
            Subsystem::Compiler => &COMPILER,
            Subsystem::Modules => &MODULES,
            Subsystem::Custom(account) => account,
        };
        account.register();
        account
    }
}

/// Every registered account's figures, from [`report`]; `Display` prints them as a table sorted
/// by live bytes, with a total row.
///
/// # Examples
///
/// ```
/// use allockit::subsystem;
///
/// let _kept = allockit::Box::new_in([0u8; 100], subsystem::Compiler);
/// let report = subsystem::report();
/// let compiler = report.rows().iter().find(|r| r.name == "compiler").unwrap();
/// assert!(compiler.stats.live_bytes >= 100);
/// println!("{report}");
/// ```
#[derive(Clone, Debug)]
pub struct Report {
    rows: alloc::vec::Vec<Row>,
}

/// One account in a [`Report`].
///
/// # Examples
///
/// ```
/// let report = allockit::subsystem::report();
/// let vm = report.rows().iter().find(|row| row.name == "vm").unwrap();
/// assert_eq!(vm.budget, None);
/// assert!(vm.stats.peak_bytes >= vm.stats.live_bytes);
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Row {
    /// The account's name.
    pub name: &'static str,
    /// Its counters when the report was made.
    pub stats: Stats,
    /// Its budget.
    pub budget: Option<usize>,
}

impl Report {
    /// The accounts, by live bytes, largest first (ties by name).
    ///
    /// # Examples
    ///
    /// ```
    /// let report = allockit::subsystem::report();
    /// assert!(report.rows().iter().any(|r| r.name == "vm"));
    /// ```
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
}

/// A snapshot of every registered account: the three built-in ones always, and the program's own
/// once they have allocated or been [registered](Account::register).
///
/// # Examples
///
/// ```
/// let text = allockit::subsystem::report().to_string();
/// assert!(text.contains("vm") && text.contains("compiler") && text.contains("total"));
/// ```
pub fn report() -> Report {
    VM.register();
    COMPILER.register();
    MODULES.register();
    let mut rows = alloc::vec::Vec::new();
    let mut next = REGISTRY.load(Ordering::Acquire);
    while !next.is_null() {
        // SAFETY: the registry holds only `&'static Account`s, linked before being published
        // (the `AcqRel` exchange in `register_slow` orders the `next` store before it).
        let account: &'static Account = unsafe { &*next };
        rows.push(Row {
            name: account.name,
            stats: account.stats(),
            budget: account.budget(),
        });
        next = account.next.load(Ordering::Relaxed);
    }
    rows.sort_by(|a, b| {
        b.stats
            .live_bytes
            .cmp(&a.stats.live_bytes)
            .then(a.name.cmp(b.name))
    });
    Report { rows }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .chain([9])
            .max()
            .unwrap_or(9);
        writeln!(
            f,
            "{:<width$} {:>11} {:>11} {:>11} {:>11} {:>9} {:>11}",
            "subsystem", "live", "peak", "allocs", "frees", "failed", "budget"
        )?;
        let mut total = Stats::default();
        for row in &self.rows {
            let s = &row.stats;
            let budget = match row.budget {
                Some(bytes) => alloc::format!("{}", Bytes(bytes)),
                None => "-".into(),
            };
            writeln!(
                f,
                "{:<width$} {:>11} {:>11} {:>11} {:>11} {:>9} {:>11}",
                row.name,
                Bytes(s.live_bytes),
                Bytes(s.peak_bytes),
                s.allocations,
                s.deallocations,
                s.failures,
                budget,
            )?;
            total.live_bytes += s.live_bytes;
            total.peak_bytes += s.peak_bytes;
            total.allocations += s.allocations;
            total.deallocations += s.deallocations;
            total.failures += s.failures;
        }
        write!(
            f,
            "{:<width$} {:>11} {:>11} {:>11} {:>11} {:>9}",
            "total",
            Bytes(total.live_bytes),
            Bytes(total.peak_bytes),
            total.allocations,
            total.deallocations,
            total.failures,
        )
    }
}
