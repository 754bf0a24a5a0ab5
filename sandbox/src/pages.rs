//! Transparent huge pages for a job's linear memory (Linux).
//!
//! Every run gets a fresh linear memory, so every 4 KiB page a job touches costs it a page
//! fault, the zeroing and later the unmapping: word-freq, which reads 9 MB and builds its
//! counts, touches about 27 MB a run, some 6 900 faults and an eighth of its time. Native
//! programs pay the same, but `realloc` there moves big blocks by remapping them, where a wasm
//! allocator copies them into pages it touches for the first time.
//!
//! [`advise`] asks the kernel to back the memory's whole reservation (what it may grow into) with
//! 2 MiB pages where it can (`MADV_HUGEPAGE`; kernels whose transparent huge pages are in
//! `madvise` mode, the usual default, use them only where asked). Fewer faults, and fewer TLB
//! misses after them. The advice changes no byte a job can see (both kinds of page start
//! zeroed), nor what a job may use ([`crate::Limits::max_memory`] caps the memory as before), so
//! outcomes and fuel counts are the same with or without it; where the kernel has no
//! transparent huge pages, the advice fails and the run goes on as it would have.

use wasmtime::{AsContext, Memory};

/// What the executor reserves for each linear memory (wasmtime's default on 64-bit hosts): all
/// that a 32-bit memory can grow to, so that growing never moves it and bounds checks are the
/// guard pages'. [`advise`] covers this range from the memory's base.
pub(crate) const RESERVATION: u64 = 1 << 32;

/// Advises huge pages for `memory`'s reservation (see the module's documentation). Only for a
/// memory of an engine configured with [`RESERVATION`], whose memories are mapped that far from
/// their base. Where the kernel refuses the advice, nothing changes.
pub(crate) fn advise(memory: &Memory, store: impl AsContext) {
    #[cfg(target_os = "linux")]
    {
        let base = memory.data_ptr(&store).cast::<std::ffi::c_void>();
        let Ok(len) = usize::try_from(RESERVATION) else {
            return;
        };
        // SAFETY: `base..base + RESERVATION` is this memory's own mapping (wasmtime maps the
        // reservation, plus guard pages, for a memory of an engine configured with it), and
        // `MADV_HUGEPAGE` changes only the size of the pages the kernel backs it with: not
        // their contents, protection or addresses.
        #[allow(unsafe_code)]
        let _ = unsafe { rustix::mm::madvise(base, len, rustix::mm::Advice::LinuxHugepage) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (memory, store);
}
