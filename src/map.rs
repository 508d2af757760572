//! Allocation-failure-safe map operations: the C design's `hash_map_put`, which returns early on
//! a failed allocation and leaves the map as it was.
//!
//! hashbrown's `insert` allocates (a larger table) and so does copying a key into the allocator;
//! either can fail. [`MapExt::try_put`] does both fallibly, in the order that leaves nothing
//! behind on failure: copy the key, make room in the table, and only then insert, which cannot
//! fail any more. On `Err` the map holds exactly the entries it held, with the same capacity.

use core::hash::BuildHasher;

use crate::{AllocError, Allocator, Box, try_strdup_in};

/// Fallible operations on a map whose keys are strings copied into the map's own allocator.
///
/// Implemented for hashbrown's `HashMap<Box<str, A>, V, S, A>` (allockit's
/// [`HashMap`](crate::HashMap) alias with boxed string keys), for any `A: Allocator + Clone`
/// (`&Arena`, `&Slab`, `Platform`, ...).
///
/// # Examples
///
/// ```
/// use allockit::{AllocError, Arena, Box, HashMap, MapExt};
///
/// let arena = Arena::new();
/// let mut map: HashMap<Box<str, &Arena>, u32, &Arena> = HashMap::new_in(&arena);
/// assert_eq!(map.try_put("answer", 41)?, None);
/// assert_eq!(map.try_put("answer", 42)?, Some(41));
///
/// arena.set_limit(Some(arena.stats().used)); // no room for anything new
/// assert_eq!(map.try_put("question", 0), Err(AllocError));
/// assert_eq!(map.len(), 1);
/// assert_eq!(map.try_put("answer", 43)?, Some(42)); // replacing needs no memory
/// # Ok::<(), AllocError>(())
/// ```
pub trait MapExt<V> {
    /// Puts `value` under a copy of `key`, returning the value it replaces. A key already in
    /// the map keeps its copy and nothing is allocated.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the key's copy or the table's growth is refused; the map is then
    /// exactly as it was, and `value` is dropped.
    fn try_put(&mut self, key: &str, value: V) -> Result<Option<V>, AllocError>;
}

impl<V, S, A> MapExt<V> for hashbrown::HashMap<Box<str, A>, V, S, A>
where
    S: BuildHasher,
    A: Allocator + Clone,
{
    fn try_put(&mut self, key: &str, value: V) -> Result<Option<V>, AllocError> {
        if let Some(slot) = self.get_mut(key) {
            return Ok(Some(core::mem::replace(slot, value)));
        }
        // The copy first: if the table's growth fails after it, dropping the copy undoes it.
        let owned = try_strdup_in(key, self.allocator().clone())?;
        self.try_reserve(1).map_err(|_| AllocError)?;
        // The key is new and there is room: this insert neither allocates nor replaces.
        let old = self.insert(owned, value);
        debug_assert!(old.is_none());
        Ok(None)
    }
}
