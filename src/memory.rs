//! The heap's footprint seen from outside (RSS), for the daemons.
//!
//! glibc's malloc (the x86_64 development build and `*-gnu` targets) gives every thread that
//! allocates an arena of its own and keeps freed memory mapped; after a burst (a rollout, a
//! node's pods rescheduled) a master kept several MiB it no longer used. musl's malloc (the
//! static aarch64 build a board runs) has neither trait, so both functions do nothing there.

/// One malloc arena for the whole process. Call before any thread starts. The daemons' threads
/// are a few tokio workers that mostly wait; contention on one arena costs nothing measurable,
/// and each extra arena held 1–2 MiB of a master's RSS.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Returns free heap pages to the kernel (whole free pages anywhere in the heap, not only at its
/// top). A few milliseconds for a heap of tens of MiB: call it once after a burst of work, when
/// the process goes quiet, never on a hot path.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe in glibc (it takes each arena's lock).
    unsafe {
        libc::malloc_trim(0);
    }
}
