//! Human-readable byte counts for the `Display` impls of the stats types.

use core::fmt;

/// A byte count printed as `512 B`, `1.5 KiB`, `12.0 MiB` or `3.2 GiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bytes(pub usize);

impl Bytes {
    /// Writes the count without padding.
    fn write(self, out: &mut impl fmt::Write) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        if self.0 < 1024 {
            return write!(out, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        write!(out, "{value:.1} {}", UNITS[unit])
    }
}

/// Honours width and alignment (`{:>10}`), so that tables line up.
impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() {
            return self.write(f);
        }
        let mut buf = Buffer([0; 32], 0);
        self.write(&mut buf)?;
        // The buffer only ever holds what `write` put there: ASCII digits, '.', ' ' and units.
        f.pad(core::str::from_utf8(&buf.0[..buf.1]).map_err(|_| fmt::Error)?)
    }
}

/// A small stack buffer to format into (a count never takes more than 32 bytes).
struct Buffer([u8; 32], usize);

impl fmt::Write for Buffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.1 + s.len();
        self.0
            .get_mut(self.1..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.1 = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Bytes;
    use alloc::string::ToString;

    #[test]
    fn picks_the_largest_unit_below_1024() {
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(Bytes(1023).to_string(), "1023 B");
        assert_eq!(Bytes(1024).to_string(), "1.0 KiB");
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert_eq!(Bytes(64 * 1024 * 1024).to_string(), "64.0 MiB");
        assert_eq!(Bytes(3 << 30).to_string(), "3.0 GiB");
        assert_eq!(Bytes(usize::MAX).to_string(), "16777216.0 TiB");
    }

    #[test]
    fn honours_width() {
        assert_eq!(alloc::format!("[{:>9}]", Bytes(1536)), "[  1.5 KiB]");
        assert_eq!(alloc::format!("[{:<6}]", Bytes(12)), "[12 B  ]");
        assert_eq!(alloc::format!("[{:>2}]", Bytes(2048)), "[2.0 KiB]");
    }
}
