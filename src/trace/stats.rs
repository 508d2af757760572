//! [`Stats`]: a snapshot of a `Trace`'s counters, and its table.

use core::fmt;

use crate::units::Bytes;

/// A snapshot of a [`Trace`](crate::Trace)'s counters, from [`Trace::stats`](crate::Trace::stats). It is consistent
/// (`live = allocated - freed`, never below zero, `peak >= live`) even while other threads
/// allocate, and exact once they have joined. A peak is exact on one thread; under threads it
/// is within a few KiB per thread of the true high-water mark, and never below a live figure an
/// earlier snapshot showed (the [module documentation](crate::trace) gives the bound).
///
/// Zero-sized requests are not counted. Grows and shrinks are counted apart from allocations and
/// frees; their change in size goes into `bytes_allocated` or `bytes_freed`.
///
/// `Display` prints a table with KiB/MiB units: the C design's `mem_format_stats`.
///
/// # Examples
///
/// ```
/// use allockit::{Platform, Trace, Vec};
///
/// let trace = Trace::new(Platform);
/// let mut v: Vec<u64, _> = Vec::with_capacity_in(4, &trace);
/// v.extend([1, 2, 3, 4, 5]); // one grow, from 32 to 64 bytes
/// let stats = trace.stats();
/// assert_eq!((stats.allocations, stats.grows, stats.live_blocks), (1, 1, 1));
/// assert_eq!((stats.bytes_allocated, stats.live_bytes), (64, 64));
/// println!("{stats}");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Successful allocations (`allocate`, `allocate_zeroed`).
    pub allocations: usize,
    /// Deallocations.
    pub deallocations: usize,
    /// Successful grows (`grow`, `grow_zeroed`).
    pub grows: usize,
    /// Successful shrinks.
    pub shrinks: usize,
    /// Requests refused, by the inner allocator or by the trace's [limit](crate::Trace::set_limit)
    /// (allocations, grows and shrinks).
    pub failures: usize,
    /// Bytes requested by allocations, plus what grows added.
    pub bytes_allocated: usize,
    /// Bytes given back by deallocations, plus what shrinks took off.
    pub bytes_freed: usize,
    /// Blocks allocated and not yet freed: `allocations - deallocations`.
    pub live_blocks: usize,
    /// Bytes in live blocks: `bytes_allocated - bytes_freed`.
    pub live_bytes: usize,
    /// The most blocks live at once.
    pub peak_blocks: usize,
    /// The most bytes live at once.
    pub peak_bytes: usize,
}

impl Stats {
    /// What happened between `earlier` and this snapshot: the counts of events (allocations,
    /// deallocations, grows, shrinks, failures, bytes allocated and freed) are differences; the
    /// live and peak figures are this snapshot's.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{HashMap, Platform, Trace};
    ///
    /// let trace = Trace::new(Platform);
    /// let _warm_up = allocator_api2::boxed::Box::new_in(0u8, &trace);
    /// let before = trace.stats();
    /// let mut map = HashMap::new_in(&trace);
    /// map.insert(1, 1);
    /// let region = trace.stats().since(&before);
    /// assert_eq!(region.allocations, 1);
    /// assert_eq!(region.live_blocks, 2); // the map's table and the warm-up box
    /// ```
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            allocations: self.allocations.wrapping_sub(earlier.allocations),
            deallocations: self.deallocations.wrapping_sub(earlier.deallocations),
            grows: self.grows.wrapping_sub(earlier.grows),
            shrinks: self.shrinks.wrapping_sub(earlier.shrinks),
            failures: self.failures.wrapping_sub(earlier.failures),
            bytes_allocated: self.bytes_allocated.wrapping_sub(earlier.bytes_allocated),
            bytes_freed: self.bytes_freed.wrapping_sub(earlier.bytes_freed),
            ..*self
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<10} {:>10} {:>12}", "", "blocks", "bytes")?;
        let rows = [
            ("allocated", self.allocations, self.bytes_allocated),
            ("freed", self.deallocations, self.bytes_freed),
            ("live", self.live_blocks, self.live_bytes),
            ("peak", self.peak_blocks, self.peak_bytes),
        ];
        for (name, blocks, bytes) in rows {
            writeln!(f, "{name:<10} {blocks:>10} {:>12}", Bytes(bytes))?;
        }
        write!(
            f,
            "{} grows, {} shrinks, {} failed requests",
            self.grows, self.shrinks, self.failures
        )
    }
}
