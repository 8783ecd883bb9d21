//! A counting global allocator for the zero-allocation tests. Only the
//! `alloc` test binary (`tests/alloc/main.rs`) registers it as its
//! `#[global_allocator]`; elsewhere it counts nothing:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: support::alloc_counter::Counting = support::alloc_counter::Counting;
//! ```
//!
//! Only allocations made on the watching thread between [`start`] and
//! [`stop`] are counted, so the test harness's own threads do not disturb
//! the figure.
#![allow(unsafe_code, dead_code, unreachable_pub)] // a GlobalAlloc impl is unsafe by definition

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator and counts on the side.
pub struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    if WATCHING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: forwards every call to the system allocator unchanged; the
// counting uses const-initialised thread-locals that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Starts counting this thread's allocations from zero.
pub fn start() {
    ALLOCATIONS.with(|a| a.set(0));
    WATCHING.with(|w| w.set(true));
}

/// Stops counting; the allocations since [`start`].
pub fn stop() -> u64 {
    WATCHING.with(|w| w.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// Runs `f` and counts the allocations it makes on this thread.
pub fn during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    start();
    let out = f();
    (out, stop())
}
