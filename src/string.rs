//! Strings in any allocator: [`strdup_in`] (the C design's `MEM_STRDUP`), and [`String<A>`], a
//! growable UTF-8 string, with [`format_in!`](crate::format_in) to build one.
//!
//! allocator-api2 0.2 has `Box` and `Vec` but no `String`, and the strings that other crates
//! offer are tied to their own arena (bumpalo's `collections::String`, bump-scope's `BumpString`)
//! or to core's unstable trait only. So `String<A>` is built here, on allocator-api2's
//! [`Vec<u8, A>`](crate::Vec), to which it adds one invariant: the bytes are always valid UTF-8.

use core::borrow::Borrow;
use core::cmp::Ordering;
use core::hash::{Hash, Hasher};
use core::ops::{AddAssign, Deref, DerefMut};
use core::ptr::{self, NonNull};
use core::{fmt, str};

use crate::{AllocError, Allocator, Arena, Box, Layout, Platform, Vec};

/// A growable UTF-8 string whose bytes come from the allocator `A`: std's `String`, for any
/// [`Allocator`].
///
/// It derefs to [`str`](prim@str), so every `str` method works on it; it is a map key that is
/// looked up by `&str` (its [`Hash`] and [`Eq`] are those of the `str` it holds); it compares and
/// orders with `str`, `&str` and std's `String`; it is a [`fmt::Write`] target, and
/// [`format_in!`](crate::format_in) builds one. In an [`Arena`], a finished string can become a
/// plain `&str` that lives as long as the arena: [`into_arena_str`](String::into_arena_str).
///
/// Growth follows `Vec`'s: the capacity at least doubles, so a string built piece by piece moves
/// a few times. The methods that allocate come in two forms: one that calls
/// [`handle_alloc_error`](alloc::alloc::handle_alloc_error) when the allocator refuses, as
/// std's `String` does (it aborts by default), and a `try_` form that returns [`AllocError`] and
/// leaves the string as it was.
///
/// # Examples
///
/// ```
/// use allockit::{format_in, Arena, HashMap, String};
///
/// let arena = Arena::new();
/// let mut names: HashMap<String<&Arena>, u32, &Arena> = HashMap::new_in(&arena);
/// for i in 0..3 {
///     let mut name = String::new_in(&arena);
///     name.push_str("tmp");
///     name.push('_');
///     name += &i.to_string();
///     names.insert(name, i);
/// }
/// names.insert(format_in!(&arena, "v{}", 42), 42);
/// assert_eq!(names["tmp_2"], 2); // looked up by &str
/// assert_eq!(names["v42"], 42);
/// ```
pub struct String<A: Allocator = Platform> {
    /// The bytes of the string: always valid UTF-8.
    vec: Vec<u8, A>,
}

impl<A: Allocator> String<A> {
    /// An empty string that will allocate from `alloc`; nothing is allocated yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let s = allockit::String::new_in(&arena);
    /// assert!(s.is_empty());
    /// assert_eq!(arena.stats().used, 0);
    /// ```
    #[inline]
    pub fn new_in(alloc: A) -> Self {
        Self {
            vec: Vec::new_in(alloc),
        }
    }

    /// An empty string with room for at least `capacity` bytes from `alloc`.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if `alloc` refuses the
    /// bytes, and panics if `capacity` is larger than any layout can be; see
    /// [`try_with_capacity_in`](Self::try_with_capacity_in).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = allockit::String::with_capacity_in(64, allockit::Platform);
    /// assert!(s.capacity() >= 64);
    /// ```
    #[inline]
    pub fn with_capacity_in(capacity: usize, alloc: A) -> Self {
        Self {
            vec: Vec::with_capacity_in(capacity, alloc),
        }
    }

    /// Like [`with_capacity_in`](Self::with_capacity_in), but returns an error when `alloc`
    /// refuses the bytes.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if `alloc` cannot provide `capacity` bytes; `alloc` is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, String};
    ///
    /// let arena = Arena::new();
    /// arena.set_limit(Some(100));
    /// let buffer = String::try_with_capacity_in(100, &arena)?;
    /// assert!(String::try_with_capacity_in(1, &arena).is_err());
    /// assert_eq!(buffer.capacity(), 100);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn try_with_capacity_in(capacity: usize, alloc: A) -> Result<Self, AllocError> {
        let mut string = Self::new_in(alloc);
        string
            .vec
            .try_reserve_exact(capacity)
            .map_err(|_| AllocError)?;
        Ok(string)
    }

    /// A copy of `s` in memory from `alloc`.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if `alloc` refuses the
    /// bytes; see [`try_from_str_in`](Self::try_from_str_in).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let mut s = allockit::String::from_str_in("hello", &arena);
    /// s.push_str(", world");
    /// assert_eq!(s, "hello, world");
    /// ```
    #[inline]
    pub fn from_str_in(s: &str, alloc: A) -> Self {
        let mut string = Self::with_capacity_in(s.len(), alloc);
        string.push_str(s);
        string
    }

    /// Like [`from_str_in`](Self::from_str_in), but returns an error when `alloc` refuses the
    /// bytes.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if `alloc` cannot provide `s.len()` bytes; `alloc` is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, String};
    ///
    /// let arena = Arena::new();
    /// arena.set_limit(Some(5));
    /// let hello = String::try_from_str_in("hello", &arena)?;
    /// assert!(String::try_from_str_in("!", &arena).is_err());
    /// assert_eq!(hello, "hello");
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn try_from_str_in(s: &str, alloc: A) -> Result<Self, AllocError> {
        let mut string = Self::try_with_capacity_in(s.len(), alloc)?;
        string.vec.extend_from_slice(s.as_bytes());
        Ok(string)
    }

    /// The string made by formatting `args` in memory from `alloc`: what
    /// [`format_in!`](crate::format_in) calls.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if `alloc` refuses the
    /// bytes, and panics if a formatting trait implementation returns an error of its own, as
    /// std's `format!` does; see [`try_from_fmt_in`](Self::try_from_fmt_in).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let s = allockit::String::from_fmt_in(format_args!("{}-{}", 1, 2), &arena);
    /// assert_eq!(s, "1-2");
    /// ```
    pub fn from_fmt_in(args: fmt::Arguments<'_>, alloc: A) -> Self {
        match Self::format(args, alloc) {
            Ok(string) => string,
            Err(Refused(bytes)) => alloc::alloc::handle_alloc_error(
                Layout::array::<u8>(bytes).unwrap_or(Layout::new::<u8>()),
            ),
        }
    }

    /// Like [`from_fmt_in`](Self::from_fmt_in), but returns an error when `alloc` refuses the
    /// bytes: what [`try_format_in!`](crate::try_format_in) calls.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if `alloc` refuses the bytes of the string; what was formatted so far is
    /// given back.
    ///
    /// # Panics
    ///
    /// Panics if a formatting trait implementation returns an error of its own (not caused by
    /// the allocator), as std's `format!` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, String};
    ///
    /// let arena = Arena::new();
    /// arena.set_limit(Some(8)); // a string's first buffer takes at least 8 bytes, as a `Vec`'s
    /// let number = String::try_from_fmt_in(format_args!("{}", 1234), &arena)?;
    /// assert!(String::try_from_fmt_in(format_args!("{}", 5), &arena).is_err());
    /// assert_eq!(number, "1234");
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn try_from_fmt_in(args: fmt::Arguments<'_>, alloc: A) -> Result<Self, AllocError> {
        Self::format(args, alloc).map_err(|_| AllocError)
    }

    /// Formats `args` into a new string; on refusal, the size of the buffer that was refused.
    fn format(args: fmt::Arguments<'_>, alloc: A) -> Result<Self, Refused> {
        let mut string = Self::new_in(alloc);
        if let Some(literal) = args.as_str() {
            return match string.try_push_str(literal) {
                Ok(()) => Ok(string),
                Err(AllocError) => Err(Refused(literal.len())),
            };
        }
        let mut sink = Sink {
            string: &mut string,
            refused: None,
        };
        match fmt::write(&mut sink, args) {
            Ok(()) => Ok(string),
            Err(fmt::Error) => match sink.refused {
                Some(bytes) => Err(Refused(bytes)),
                None => panic!(
                    "allockit: a formatting trait implementation returned an error while \
                     formatting into a String"
                ),
            },
        }
    }

    /// The string as a `&str` (also reached through `Deref`).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = allockit::String::from_str_in("abc", allockit::Platform);
    /// assert_eq!(s.as_str(), "abc");
    /// ```
    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes are valid UTF-8 (the field's invariant).
        unsafe { str::from_utf8_unchecked(&self.vec) }
    }

    /// The string as a `&mut str` (also reached through `DerefMut`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = allockit::String::from_str_in("abc", allockit::Platform);
    /// s.as_mut_str().make_ascii_uppercase();
    /// assert_eq!(s, "ABC");
    /// ```
    #[inline]
    pub fn as_mut_str(&mut self) -> &mut str {
        // SAFETY: the bytes are valid UTF-8, and a `&mut str` can only be changed in ways that
        // keep them so.
        unsafe { str::from_utf8_unchecked_mut(&mut self.vec) }
    }

    /// The string's bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = allockit::String::from_str_in("hé", allockit::Platform);
    /// assert_eq!(s.as_bytes(), [b'h', 0xC3, 0xA9]);
    /// ```
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.vec
    }

    /// The length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(allockit::String::from_str_in("hé", allockit::Platform).len(), 3);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.vec.len()
    }

    /// Whether the string has no bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(allockit::String::new_in(allockit::Platform).is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.vec.is_empty()
    }

    /// How many bytes the string can hold without allocating again.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = allockit::String::with_capacity_in(10, allockit::Platform);
    /// s.push_str("0123456789");
    /// assert!(s.capacity() >= 10);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.vec.capacity()
    }

    /// The allocator the string's bytes come from.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// let s = allockit::String::from_str_in("x", &arena);
    /// assert!(std::ptr::eq(*s.allocator(), &arena));
    /// ```
    #[inline]
    pub fn allocator(&self) -> &A {
        self.vec.allocator()
    }

    /// Appends `ch`.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if the allocator refuses
    /// to grow the string; see [`try_push`](Self::try_push).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = allockit::String::new_in(allockit::Platform);
    /// s.push('é');
    /// s.push('!');
    /// assert_eq!(s, "é!");
    /// ```
    #[inline]
    pub fn push(&mut self, ch: char) {
        self.push_str(ch.encode_utf8(&mut [0; 4]));
    }

    /// Like [`push`](Self::push), but returns an error when the allocator refuses to grow the
    /// string.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the string must grow and the allocator refuses; it is then as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, String};
    ///
    /// let arena = Arena::new();
    /// let mut s = String::try_with_capacity_in(1, &arena)?;
    /// arena.set_limit(Some(arena.stats().used));
    /// s.try_push('a')?;
    /// assert!(s.try_push('b').is_err());
    /// assert_eq!(s, "a");
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_push(&mut self, ch: char) -> Result<(), AllocError> {
        self.try_push_str(ch.encode_utf8(&mut [0; 4]))
    }

    /// Appends `s`.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if the allocator refuses
    /// to grow the string; see [`try_push_str`](Self::try_push_str).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = allockit::String::new_in(allockit::Platform);
    /// s.push_str("ab");
    /// s.push_str("cd");
    /// assert_eq!(s, "abcd");
    /// ```
    #[inline]
    pub fn push_str(&mut self, s: &str) {
        self.vec.extend_from_slice(s.as_bytes());
    }

    /// Like [`push_str`](Self::push_str), but returns an error when the allocator refuses to grow
    /// the string.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the string must grow and the allocator refuses; it is then exactly as
    /// it was, with the same bytes and capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Arena, String};
    ///
    /// let arena = Arena::new();
    /// arena.set_limit(Some(8));
    /// let mut s = String::new_in(&arena);
    /// s.try_push_str("12345678")?;
    /// assert!(s.try_push_str("9").is_err());
    /// assert_eq!(s, "12345678");
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_push_str(&mut self, s: &str) -> Result<(), AllocError> {
        self.try_reserve(s.len())?;
        self.vec.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// Makes room for at least `additional` more bytes (more, to keep growth amortised).
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if the allocator refuses,
    /// and panics if the capacity would pass `isize::MAX` bytes; see
    /// [`try_reserve`](Self::try_reserve).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = allockit::String::new_in(allockit::Platform);
    /// s.reserve(100);
    /// assert!(s.capacity() >= 100);
    /// ```
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        self.vec.reserve(additional);
    }

    /// Like [`reserve`](Self::reserve), but returns an error when the room cannot be had.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if the allocator refuses or the capacity would pass `isize::MAX` bytes; the
    /// string is then exactly as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = allockit::String::from_str_in("x", allockit::Platform);
    /// s.try_reserve(10)?;
    /// assert!(s.capacity() >= 11);
    /// assert!(s.try_reserve(usize::MAX).is_err());
    /// assert_eq!(s, "x");
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    #[inline]
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), AllocError> {
        self.vec.try_reserve(additional).map_err(|_| AllocError)
    }

    /// Removes the last character and returns it, or `None` if the string is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = allockit::String::from_str_in("hé", allockit::Platform);
    /// assert_eq!(s.pop(), Some('é'));
    /// assert_eq!(s, "h");
    /// ```
    pub fn pop(&mut self) -> Option<char> {
        let ch = self.as_str().chars().next_back()?;
        self.vec.truncate(self.len() - ch.len_utf8());
        Some(ch)
    }

    /// Shortens the string to `new_len` bytes; does nothing if it is not longer. The capacity
    /// stays.
    ///
    /// # Panics
    ///
    /// Panics if `new_len` is not on a character boundary.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = allockit::String::from_str_in("hello", allockit::Platform);
    /// s.truncate(2);
    /// assert_eq!(s, "he");
    /// ```
    pub fn truncate(&mut self, new_len: usize) {
        if new_len < self.len() {
            assert!(
                self.as_str().is_char_boundary(new_len),
                "allockit: String::truncate at {new_len}, inside a character"
            );
            self.vec.truncate(new_len);
        }
    }

    /// Removes every character; the capacity stays.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = allockit::String::from_str_in("abc", allockit::Platform);
    /// s.clear();
    /// assert!(s.is_empty() && s.capacity() >= 3);
    /// ```
    #[inline]
    pub fn clear(&mut self) {
        self.vec.clear();
    }

    /// The string's bytes, as the vector that holds them.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = allockit::String::from_str_in("ab", allockit::Platform);
    /// assert_eq!(s.into_bytes(), [b'a', b'b']);
    /// ```
    #[inline]
    pub fn into_bytes(self) -> Vec<u8, A> {
        self.vec
    }

    /// The string as a `Box<str, A>`, the type [`strdup_in`] returns, without its unused
    /// capacity (which the allocator gets back, as `Vec::into_boxed_slice` does it).
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if the allocator refuses
    /// to shrink the block, as `Vec::into_boxed_slice` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{Box, Platform, String};
    ///
    /// let mut s = String::with_capacity_in(100, Platform);
    /// s.push_str("key");
    /// let key: Box<str, Platform> = s.into_boxed_str();
    /// assert_eq!(&*key, "key");
    /// ```
    pub fn into_boxed_str(self) -> Box<str, A> {
        let (bytes, alloc) = Box::into_raw_with_allocator(self.vec.into_boxed_slice());
        // SAFETY: `bytes` is a boxed `[u8]` from `alloc` holding valid UTF-8 (the invariant);
        // `str` has the layout of `[u8]`, so the box frees the same block with the same layout.
        unsafe { Box::from_raw_in(bytes as *mut str, alloc) }
    }
}

impl<'a> String<&'a Arena> {
    /// Turns the string into a plain `&str` that lives as long as the arena: the way to keep a
    /// string built piece by piece, at 16 bytes a reference (where the `String` is 32).
    ///
    /// The unused capacity is given back first: all of it if the string is the arena's most
    /// recent block, otherwise it shows as freed in the [stats](Arena::stats). The bytes go back
    /// with everything else when the arena is reset or dropped; nothing leaks.
    ///
    /// # Examples
    ///
    /// ```
    /// use allockit::{format_in, Arena, HashMap};
    ///
    /// let arena = Arena::new();
    /// let mut by_name: HashMap<&str, usize, &Arena> = HashMap::new_in(&arena);
    /// for i in 0..3 {
    ///     let name: &str = format_in!(&arena, "tmp{i}").into_arena_str();
    ///     by_name.insert(name, i);
    /// }
    /// assert_eq!(by_name["tmp1"], 1);
    /// ```
    pub fn into_arena_str(self) -> &'a str {
        let mut vec = self.vec;
        // The arena shrinks in place (the alignment is 1), so this never fails.
        vec.shrink_to_fit();
        let bytes: &'a mut [u8] = vec.leak();
        // SAFETY: the bytes are valid UTF-8 (the invariant).
        unsafe { str::from_utf8_unchecked(bytes) }
    }
}

/// The number of bytes an allocator refused while formatting.
struct Refused(usize);

/// The `fmt::Write` target of [`String::format`]: notes whether a failure was the allocator's.
struct Sink<'s, A: Allocator> {
    string: &'s mut String<A>,
    /// The capacity the allocator refused, once it has.
    refused: Option<usize>,
}

impl<A: Allocator> fmt::Write for Sink<'_, A> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.string.try_push_str(s).map_err(|AllocError| {
            self.refused = Some(self.string.len().saturating_add(s.len()));
            fmt::Error
        })
    }
}

/// Builds a [`String<A>`](String) from a format string and arguments, in memory from the given
/// allocator: `format!`, with the allocator first.
///
/// # Panics
///
/// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if the allocator refuses the
/// bytes, and panics if a formatting trait implementation returns an error of its own; see
/// [`try_format_in!`](crate::try_format_in).
///
/// # Examples
///
/// ```
/// use allockit::{format_in, Arena};
///
/// let arena = Arena::new();
/// let line = 7;
/// let message = format_in!(&arena, "error at line {line}: {}", "unexpected token");
/// assert_eq!(message, "error at line 7: unexpected token");
/// ```
#[macro_export]
macro_rules! format_in {
    ($alloc:expr, $($arg:tt)+) => {
        $crate::String::from_fmt_in(::core::format_args!($($arg)+), $alloc)
    };
}

/// Like [`format_in!`](crate::format_in), but evaluates to `Result<String<A>, AllocError>`: an
/// error when the allocator refuses the bytes.
///
/// # Errors
///
/// [`AllocError`] if the allocator refuses the bytes; what was formatted so far is given back.
///
/// # Panics
///
/// Panics if a formatting trait implementation returns an error of its own.
///
/// # Examples
///
/// ```
/// use allockit::{try_format_in, Arena};
///
/// let arena = Arena::new();
/// arena.set_limit(Some(16));
/// assert_eq!(try_format_in!(&arena, "{}+{}", 1, 2)?, "1+2");
/// assert!(try_format_in!(&arena, "{:>20}", "too wide").is_err());
/// # Ok::<(), allockit::AllocError>(())
/// ```
#[macro_export]
macro_rules! try_format_in {
    ($alloc:expr, $($arg:tt)+) => {
        $crate::String::try_from_fmt_in(::core::format_args!($($arg)+), $alloc)
    };
}

impl<A: Allocator> Deref for String<A> {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<A: Allocator> DerefMut for String<A> {
    #[inline]
    fn deref_mut(&mut self) -> &mut str {
        self.as_mut_str()
    }
}

impl<A: Allocator> AsRef<str> for String<A> {
    #[inline]
    fn as_ref(&self) -> &str {
        self
    }
}

impl<A: Allocator> AsRef<[u8]> for String<A> {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// With [`Hash`] and [`Eq`] those of `str`, a map keyed by `String<A>` is looked up by `&str`.
impl<A: Allocator> Borrow<str> for String<A> {
    #[inline]
    fn borrow(&self) -> &str {
        self
    }
}

/// The hash of the `str` it holds, as [`Borrow<str>`] requires.
impl<A: Allocator> Hash for String<A> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl<A: Allocator, B: Allocator> PartialEq<String<B>> for String<A> {
    #[inline]
    fn eq(&self, other: &String<B>) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<A: Allocator> Eq for String<A> {}

impl<A: Allocator, B: Allocator> PartialOrd<String<B>> for String<A> {
    #[inline]
    fn partial_cmp(&self, other: &String<B>) -> Option<Ordering> {
        Some(self.as_str().cmp(other.as_str()))
    }
}

impl<A: Allocator> Ord for String<A> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Equality and order between `String<A>` and another string type, both ways.
macro_rules! compare_with {
    ($($other:ty),*) => {$(
        impl<A: Allocator> PartialEq<$other> for String<A> {
            #[inline]
            fn eq(&self, other: &$other) -> bool {
                self.as_str() == &other[..]
            }
        }

        impl<A: Allocator> PartialEq<String<A>> for $other {
            #[inline]
            fn eq(&self, other: &String<A>) -> bool {
                &self[..] == other.as_str()
            }
        }

        impl<A: Allocator> PartialOrd<$other> for String<A> {
            #[inline]
            fn partial_cmp(&self, other: &$other) -> Option<Ordering> {
                Some(self.as_str().cmp(&other[..]))
            }
        }

        impl<A: Allocator> PartialOrd<String<A>> for $other {
            #[inline]
            fn partial_cmp(&self, other: &String<A>) -> Option<Ordering> {
                Some(self[..].cmp(other.as_str()))
            }
        }
    )*};
}

compare_with!(str, &str, alloc::string::String);

impl<A: Allocator> fmt::Display for String<A> {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl<A: Allocator> fmt::Debug for String<A> {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// `write!` into a string. A piece the allocator refuses to make room for ends the write with
/// [`fmt::Error`]; the string keeps the pieces written before it.
impl<A: Allocator> fmt::Write for String<A> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.try_push_str(s).map_err(|AllocError| fmt::Error)
    }

    #[inline]
    fn write_char(&mut self, ch: char) -> fmt::Result {
        self.try_push(ch).map_err(|AllocError| fmt::Error)
    }
}

/// A copy of the string in a clone of its allocator.
///
/// # Panics
///
/// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if the allocator refuses the
/// bytes, as `Vec::clone` does.
impl<A: Allocator + Clone> Clone for String<A> {
    fn clone(&self) -> Self {
        Self {
            vec: self.vec.clone(),
        }
    }
}

impl<A: Allocator> AddAssign<&str> for String<A> {
    #[inline]
    fn add_assign(&mut self, s: &str) {
        self.push_str(s);
    }
}

impl<'s, A: Allocator> Extend<&'s str> for String<A> {
    fn extend<I: IntoIterator<Item = &'s str>>(&mut self, pieces: I) {
        for piece in pieces {
            self.push_str(piece);
        }
    }
}

impl<A: Allocator> Extend<char> for String<A> {
    fn extend<I: IntoIterator<Item = char>>(&mut self, chars: I) {
        let chars = chars.into_iter();
        self.reserve(chars.size_hint().0);
        for ch in chars {
            self.push(ch);
        }
    }
}

/// Copies `s` into memory from `alloc` and returns it as an owned `Box<str, A>`: the C design's
/// `MEM_STRDUP(alloc, s)`.
///
/// The box frees its bytes through `alloc` when dropped. An empty string allocates nothing. In an
/// [`Arena`](crate::Arena), [`Arena::alloc_str`](crate::Arena::alloc_str) is leaner (16 bytes a
/// key instead of 24) when the string lives as long as the arena.
///
/// # Panics
///
/// Calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error) (which aborts by default) if
/// `alloc` cannot provide the bytes, as `Box::new_in` does; [`try_strdup_in`] returns an error
/// instead.
///
/// # Examples
///
/// ```
/// use allockit::{strdup_in, Arena, Box, HashMap};
///
/// let arena = Arena::new();
/// let mut map: HashMap<Box<str, &Arena>, u32, &Arena> = HashMap::new_in(&arena);
/// map.insert(strdup_in("key-1", &arena), 1);
/// assert_eq!(map.get("key-1"), Some(&1));
/// ```
#[inline]
pub fn strdup_in<A: Allocator>(s: &str, alloc: A) -> Box<str, A> {
    match try_strdup_in(s, alloc) {
        Ok(copy) => copy,
        Err(AllocError) => alloc::alloc::handle_alloc_error(Layout::for_value(s)),
    }
}

/// Copies `s` into memory from `alloc`, or returns [`AllocError`] if `alloc` refuses: the
/// fallible `MEM_STRDUP`.
///
/// # Errors
///
/// [`AllocError`] when `alloc` cannot provide `s.len()` bytes (out of memory, or past an arena's
/// limit); `alloc` is dropped and nothing is allocated.
///
/// # Examples
///
/// ```
/// use allockit::{try_strdup_in, Arena};
///
/// let arena = Arena::new();
/// arena.set_limit(Some(8));
/// let name = try_strdup_in("compiler", &arena)?;
/// assert_eq!(&*name, "compiler");
/// assert!(try_strdup_in("x", &arena).is_err()); // the limit is reached
/// # Ok::<(), allockit::AllocError>(())
/// ```
#[inline]
pub fn try_strdup_in<A: Allocator>(s: &str, alloc: A) -> Result<Box<str, A>, AllocError> {
    let len = s.len();
    let bytes = if len == 0 {
        // Like `Box::new_in` for a zero-sized value: no allocation, and `Box` will not free one.
        NonNull::<u8>::dangling()
    } else {
        let block = alloc.allocate(Layout::for_value(s))?.cast::<u8>();
        // SAFETY: `block` is a fresh allocation of at least `len` bytes, disjoint from `s`.
        unsafe { ptr::copy_nonoverlapping(s.as_ptr(), block.as_ptr(), len) };
        block
    };
    let raw = ptr::slice_from_raw_parts_mut(bytes.as_ptr(), len) as *mut str;
    // SAFETY: `raw` points to `len` initialised bytes copied from a `str` (valid UTF-8), allocated
    // by `alloc` with the layout of `[u8; len]`, which is the layout `Box<str, A>` frees with; for
    // `len == 0` the pointer is dangling and well aligned, and `Box` frees nothing.
    Ok(unsafe { Box::from_raw_in(raw, alloc) })
}
