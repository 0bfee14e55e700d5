//! Measuring a load's cost as the growth of this process's resident set.
//!
//! On Linux it reads `/proc/self/statm` (resident pages) and the page size from
//! `/proc/self/auxv`; elsewhere it measures nothing. It must not know about pools or models:
//! a [`Loader`](crate::Loader) calls it around its own work if it has no better figure.

/// This process's resident set size in bytes, or `None` where it cannot be read (not Linux,
/// or `/proc` unavailable).
#[must_use]
pub fn resident_bytes() -> Option<u64> {
    imp::resident_bytes()
}

/// Runs `work` and returns its result with the growth of the resident set during it, in
/// bytes (`Some(0)` when the set shrank, `None` when it cannot be measured).
///
/// The figure is approximate: it counts every thread of the process, so loads running in
/// parallel (as [`Pool::preload`](crate::Pool::preload) does) see each other's growth, and
/// memory the allocator had already reserved, or that is mapped lazily and touched later, is
/// missed. Prefer an exact figure (such as the size of the weights) when the loader has one.
///
/// ```
/// let (buffer, growth) = embed_pool::measure_rss_growth(|| vec![1_u8; 8 << 20]);
/// assert_eq!(buffer.len(), 8 << 20);
/// if cfg!(target_os = "linux") {
///     assert!(growth.is_some());
/// }
/// ```
pub fn measure_rss_growth<T>(work: impl FnOnce() -> T) -> (T, Option<u64>) {
    let before = resident_bytes();
    let value = work();
    let after = resident_bytes();
    let growth = before.zip(after).map(|(before, after)| after.saturating_sub(before));
    (value, growth)
}

#[cfg(target_os = "linux")]
mod imp {
    /// The `AT_PAGESZ` key of the auxiliary vector.
    const AT_PAGESZ: u64 = 6;

    pub(super) fn resident_bytes() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        pages.checked_mul(page_size()?)
    }

    fn page_size() -> Option<u64> {
        static PAGE_SIZE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
        *PAGE_SIZE.get_or_init(|| {
            let auxv = std::fs::read("/proc/self/auxv").ok()?;
            let word = std::mem::size_of::<usize>();
            auxv.chunks_exact(2 * word).find_map(|pair| {
                let (key, value) = pair.split_at(word);
                (read_word(key)? == AT_PAGESZ).then(|| read_word(value))?
            })
        })
    }

    fn read_word(bytes: &[u8]) -> Option<u64> {
        let bytes: [u8; std::mem::size_of::<usize>()] = bytes.try_into().ok()?;
        u64::try_from(usize::from_ne_bytes(bytes)).ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn page_size_is_a_power_of_two() {
            let size = super::page_size().expect("page size from auxv");
            assert!(size.is_power_of_two() && size >= 4096, "{size}");
        }

        #[test]
        fn touching_memory_grows_the_resident_set() {
            let (buffer, growth) = crate::measure_rss_growth(|| vec![7_u8; 64 << 20]);
            assert_eq!(buffer.iter().map(|&b| u64::from(b)).sum::<u64>(), 7 * (64 << 20));
            let growth = growth.expect("measurable on linux");
            // Other tests run in parallel threads, so only a lower bound holds.
            assert!(growth >= 32 << 20, "grew by {growth} bytes");
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn resident_bytes() -> Option<u64> {
        None
    }
}
