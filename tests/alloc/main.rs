//! The zero-allocation checks (request, HTTP and connection pass paths),
//! in their own test binary: it registers a counting global allocator,
//! which no other test should run under. The counter watches only the
//! thread between `start` and `stop`, so these tests may share the binary
//! and run in parallel.

#[path = "../support/mod.rs"]
mod support;

#[global_allocator]
static GLOBAL: support::alloc_counter::Counting = support::alloc_counter::Counting;

#[cfg(feature = "http")]
mod http_alloc;
#[cfg(feature = "io")]
mod io_zero_alloc;
mod zero_alloc;
