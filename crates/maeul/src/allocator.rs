//! The binary's memory allocator, and the one setting it is changed in.
//!
//! mimalloc (its v2 line) rather than glibc malloc, measured in docs/benchmarks.md (a⁵):
//! HTTP payments +9–15%, restart 3.5–4.0 s → 2.3–2.6 s, in-memory apply +6–10%, and
//! 241 rather than 255 bytes per retained transfer (no header on each small block).
//! The v3 line was tried too: it held 309 bytes per retained transfer.
//!
//! **Freed memory is kept, not given back to the kernel.** By default mimalloc returns
//! memory that stayed free for 10 ms (`madvise`), and the next allocation there faults
//! every page back in, zeroed. The sequencer allocates and frees the same memory all
//! the time (each batch's commands and answers, a few MiB, freed by the journal writer
//! once durable; each payment's refund record, freed when its window closes), so under
//! load it kept faulting: applying a batch took 20–125 ms instead of 10, nearly all of
//! it in the kernel, and the durable p99 at 1 M payments a second was 48–180 ms. With
//! freed memory kept: 2.5–5.3 ms in four runs of six, 11 and 27 ms in the others
//! (docs/benchmarks.md, (a⁷)).
//!
//! The cost: the process stays at its high-water mark (what it once held, it keeps for
//! reuse), as a server sized for its peak does anyway. An operator who prefers memory
//! back sets `MIMALLOC_PURGE_DELAY` (milliseconds; mimalloc's default is 10), which is
//! then left alone.

use std::ffi::c_long;

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v2's `mi_option_t` (libmimalloc-sys does not name
/// it). A unit test checks it against the library linked in.
const PURGE_DELAY: mi_option_t = 15;
/// mimalloc's own default for it, in milliseconds: how the option is recognised.
const PURGE_DELAY_DEFAULT: c_long = 10;
/// Never purge.
const NEVER: c_long = -1;

/// What [`keep_freed_memory`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Kept {
    /// Freed memory is kept for reuse.
    Yes,
    /// `MIMALLOC_PURGE_DELAY` (or its older name) is set: the operator's value stands.
    OperatorsChoice,
    /// The option did not hold mimalloc's default, so it may not be the purge delay in
    /// this build of mimalloc: nothing was changed.
    UnknownOption { value: c_long },
}

/// Turns off mimalloc's returning of freed memory to the kernel, unless the operator
/// chose otherwise. Call first thing in `main`, while no other thread exists.
pub fn keep_freed_memory() -> Kept {
    // `MIMALLOC_RESET_DELAY` is the option's older name, which mimalloc still reads.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some()
        || std::env::var_os("MIMALLOC_RESET_DELAY").is_some()
    {
        return Kept::OperatorsChoice;
    }
    // SAFETY: both are plain calls into mimalloc's option table with a valid option
    // number (`PURGE_DELAY < _mi_option_last`); they are not thread-safe, and the caller
    // runs this before starting any thread.
    #[allow(unsafe_code)]
    let value = unsafe { mi_option_get(PURGE_DELAY) };
    if value != PURGE_DELAY_DEFAULT {
        return Kept::UnknownOption { value };
    }
    // SAFETY: as above.
    #[allow(unsafe_code)]
    unsafe {
        mi_option_set(PURGE_DELAY, NEVER)
    };
    Kept::Yes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Option 15 is the purge delay of the mimalloc linked in: it holds the purge
    /// delay's default, and its neighbours hold theirs (14 is `eager_commit_delay`, 1;
    /// 16 is `use_numa_nodes`, 0), so a table shifted by an upgrade fails here. (The
    /// test binary has the same global allocator; `main` does not run in it.)
    #[test]
    fn option_fifteen_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some()
            || std::env::var_os("MIMALLOC_RESET_DELAY").is_some()
            || std::env::var_os("MIMALLOC_EAGER_COMMIT_DELAY").is_some()
            || std::env::var_os("MIMALLOC_USE_NUMA_NODES").is_some()
        {
            panic!("unset the MIMALLOC_* variables to run this test");
        }
        #[allow(unsafe_code)]
        // SAFETY: reads of mimalloc's option table with valid option numbers; a read
        // racing another test's read is harmless (the table is written only at start).
        let (before, this, after) = unsafe {
            (
                mi_option_get(PURGE_DELAY - 1),
                mi_option_get(PURGE_DELAY),
                mi_option_get(PURGE_DELAY + 1),
            )
        };
        assert_eq!((before, this, after), (1, PURGE_DELAY_DEFAULT, 0));
    }
}
