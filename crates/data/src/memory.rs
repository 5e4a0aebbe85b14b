//! How soon the front ends' allocator gives freed memory back to the system.
//!
//! The CLI and the Python package make mimalloc their global allocator (a
//! library leaves that choice to whoever embeds it); loads allocate and free
//! hundreds of MB in large blocks, and when mimalloc returns them decides
//! both the peak and the page faults.

/// mimalloc's `mi_option_purge_delay` (v3's `mi_option_e`; the crate names
/// only some options). A test checks that it reads the documented default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Has mimalloc give freed memory back at once in a load into memory, and
/// after 10 ms (mimalloc's default is a second) in work that encodes a
/// file (`encodes`).
///
/// A load frees the parsed chunks of one column while it builds the next:
/// purged at once, the peak holds the rows about once, not twice (on the
/// benchmark file: 0.77 GB instead of 1.10 GB, wall time within noise; with
/// today's load, 562 MiB instead of 594 MiB at 10 ms; from Python, 1.37-1.53 s
/// and 572 MB instead of 1.55-1.69 s and 627 MB). The Parquet encoder,
/// though, grows and frees its page buffers thousands of times: purging
/// each at once cost 13,000 `madvise` calls and as many page faults, and
/// the Parquet job took 4.1-4.2 s instead of 3.2-3.6 s at 10 ms
/// (benchmark file, two runs each; at a second the peak was 1.06 GB).
///
/// It changes mimalloc's behaviour only where mimalloc is the global
/// allocator; elsewhere nothing allocates through it.
#[allow(unsafe_code)]
pub fn purge_freed_memory(encodes: bool) {
    let delay_ms = if encodes { 10 } else { 0 };
    // SAFETY: mi_option_set takes any option and value; options are plain
    // integers read by the allocator, safe to change while it runs.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, delay_ms) };
}

#[cfg(test)]
mod tests {
    /// The option's number is v3's: it reads v3's default of 1000 ms
    /// (nothing in this test binary sets it).
    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_mimallocs() {
        // SAFETY: reading an option is always sound.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        assert_eq!(
            delay,
            1000,
            "option {} is not mimalloc's purge delay",
            super::PURGE_DELAY
        );
        for (encodes, delay) in [(true, 10), (false, 0)] {
            super::purge_freed_memory(encodes);
            // SAFETY: as above.
            let now = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
            assert_eq!(now, delay, "encodes: {encodes}");
        }
    }
}
