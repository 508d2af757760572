//! [`LeakReport`]: what `Trace::check_leaks` found still live, and how it prints.

use core::fmt;

#[cfg(feature = "std")]
use super::Backtrace;
use super::{Bookkeeping, Stats};
use crate::units::Bytes;

/// What [`Trace::check_leaks`](crate::Trace::check_leaks) found still live.
///
/// `Display` lists every live block (address, size, alignment, and backtrace when captured) and
/// the totals.
///
/// # Examples
///
/// ```
/// use allockit::{Box, Platform, Trace};
///
/// let trace = Trace::with_tracking(Platform);
/// let kept = Box::new_in([1u8; 40], &trace);
/// let report = trace.check_leaks().unwrap_err();
/// assert_eq!(report.blocks()[0].size, 40);
/// let text = report.to_string();
/// assert!(text.contains("1 block (40 B) still live"));
/// drop(kept);
/// ```
pub struct LeakReport {
    pub(super) stats: Stats,
    pub(super) blocks: allocator_api2::vec::Vec<LeakedBlock, Bookkeeping>,
    pub(super) listed: bool,
}

impl LeakReport {
    /// The live blocks, in address order; empty for a trace at the counters level.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, Platform, Trace};
    ///
    /// let trace = Trace::new(Platform);
    /// let _kept = Box::new_in(0u32, &trace);
    /// let report = trace.check_leaks().unwrap_err();
    /// assert!(report.blocks().is_empty()); // counters only: the totals, no list
    /// assert_eq!(report.live_blocks(), 1);
    /// ```
    pub fn blocks(&self) -> &[LeakedBlock] {
        &self.blocks
    }

    /// How many blocks are live.
    ///
    /// # Examples
    ///
    /// ```
    /// let trace = allockit::Trace::new(allockit::Platform);
    /// let _kept = allockit::Box::new_in(0u8, &trace);
    /// assert_eq!(trace.check_leaks().unwrap_err().live_blocks(), 1);
    /// ```
    pub fn live_blocks(&self) -> usize {
        self.stats.live_blocks
    }

    /// How many bytes are live.
    ///
    /// # Examples
    ///
    /// ```
    /// let trace = allockit::Trace::new(allockit::Platform);
    /// let _kept = allockit::Box::new_in([0u8; 3], &trace);
    /// assert_eq!(trace.check_leaks().unwrap_err().live_bytes(), 3);
    /// ```
    pub fn live_bytes(&self) -> usize {
        self.stats.live_bytes
    }

    /// The trace's counters when the report was made.
    ///
    /// # Examples
    ///
    /// ```
    /// let trace = allockit::Trace::new(allockit::Platform);
    /// let _kept = allockit::Box::new_in(0u8, &trace);
    /// assert_eq!(trace.check_leaks().unwrap_err().stats().allocations, 1);
    /// ```
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

impl fmt::Display for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blocks = self.stats.live_blocks;
        writeln!(
            f,
            "{blocks} block{} ({}) still live",
            if blocks == 1 { "" } else { "s" },
            Bytes(self.stats.live_bytes)
        )?;
        if !self.listed {
            return write!(
                f,
                "(a trace at the counters level keeps no list; use Trace::with_tracking)"
            );
        }
        for block in self.blocks() {
            write!(f, "\n  {block}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakReport")
            .field("stats", &self.stats)
            .field("blocks", &self.blocks())
            .finish()
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LeakReport {}

/// One live block in a [`LeakReport`].
///
/// # Examples
///
/// ```
/// use allockit::{Box, Platform, Trace};
///
/// let trace = Trace::with_tracking(Platform);
/// let _kept = Box::new_in(5u16, &trace);
/// let report = trace.check_leaks().unwrap_err();
/// let block = &report.blocks()[0];
/// assert_eq!((block.size, block.align), (2, 2));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct LeakedBlock {
    /// The block's address.
    pub address: usize,
    /// The size it was requested with (or last resized to).
    pub size: usize,
    /// Its alignment.
    pub align: usize,
    #[cfg(feature = "std")]
    pub(super) backtrace: Option<Backtrace>,
}

impl LeakedBlock {
    /// Where the block was allocated, if the trace captured backtraces then.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, Platform, Trace};
    ///
    /// let trace = Trace::with_tracking(Platform);
    /// let _kept = Box::new_in(5u16, &trace);
    /// assert!(trace.check_leaks().unwrap_err().blocks()[0].backtrace().is_none());
    /// ```
    #[cfg(feature = "std")]
    pub fn backtrace(&self) -> Option<&std::backtrace::Backtrace> {
        self.backtrace.as_deref()
    }
}

impl fmt::Display for LeakedBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x}: {} (align {})",
            self.address,
            Bytes(self.size),
            self.align
        )?;
        #[cfg(feature = "std")]
        if let Some(backtrace) = &self.backtrace {
            write!(f, ", allocated at:\n{backtrace}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for LeakedBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakedBlock")
            .field("address", &format_args!("{:#x}", self.address))
            .field("size", &self.size)
            .field("align", &self.align)
            .finish_non_exhaustive()
    }
}
