//! A hint to the CPU to start bringing a cache line in, without waiting for it.
//!
//! The ledger looks up what the next commands of a batch will touch (their idempotency
//! slot, their accounts) before applying them, so that those cache misses overlap
//! instead of coming one after another. A plain load would do that too, but the CPU
//! cannot retire past a load that missed, so only a few of them overlap; a prefetch
//! retires at once.

/// Asks for the cache line holding `*p`. Never reads through `p` as far as the program
/// can tell: any address is allowed, dangling or not, and nothing observable changes.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is a hint: it does not dereference `p` as far as the language
    // is concerned, cannot fault and has no architectural effect. The intrinsic is
    // `unsafe` only because it carries `#[target_feature(enable = "sse")]`, which every
    // x86_64 CPU has.
    #[allow(unsafe_code)]
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
