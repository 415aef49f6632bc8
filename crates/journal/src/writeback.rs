//! Writing a large file without making the journal wait behind all of it.
//!
//! A snapshot is hundreds of megabytes. Written in one go and fsynced at the end, all
//! of it sits dirty in the page cache and then goes to the disk at once, and every
//! journal `fdatasync` (a payment's durability) issued meanwhile queues behind it: the
//! worst wait beside a 512 MiB snapshot was 270–454 ms on this project's test machines
//! (`bench/snapshot_stall.py`). Written in chunks whose writeback starts as each is
//! written and is waited for one chunk later, at most two chunks are ever on their way
//! to the disk; the worst wait there was 131–193 ms, the disk's own slow flushes
//! included (PostgreSQL's checkpoints do the same, `checkpoint_flush_after`).

use std::fs::File;
use std::io::{self, Write};

/// How much is written before its writeback is started.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Writes `bytes` at the file's current position, which is `offset`, starting each
/// chunk's writeback as it goes. Durability still needs an fsync afterwards: this only
/// spreads the writing out, so that the fsync has little left to do. An error writing
/// a chunk out is returned here: once waited for, the kernel reports it only once, so
/// the fsync after it might not see it.
pub(crate) fn write_paced(file: &mut File, mut offset: u64, bytes: &[u8]) -> io::Result<()> {
    let mut in_flight: Option<(u64, usize)> = None;
    for chunk in bytes.chunks(CHUNK_BYTES) {
        file.write_all(chunk)?;
        start_writeback(file, offset, chunk.len())?;
        if let Some((earlier, len)) = in_flight {
            wait_for_writeback(file, earlier, len)?;
        }
        in_flight = Some((offset, chunk.len()));
        offset += chunk.len() as u64;
    }
    Ok(())
}

/// Asks the kernel to start writing `[offset, offset + len)` out, without waiting.
fn start_writeback(file: &File, offset: u64, len: usize) -> io::Result<()> {
    sync_file_range(file, offset, len, SYNC_FILE_RANGE_WRITE)
}

/// Waits until `[offset, offset + len)` has been written out.
fn wait_for_writeback(file: &File, offset: u64, len: usize) -> io::Result<()> {
    sync_file_range(
        file,
        offset,
        len,
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER,
    )
}

#[cfg(target_os = "linux")]
use libc::{SYNC_FILE_RANGE_WAIT_AFTER, SYNC_FILE_RANGE_WAIT_BEFORE, SYNC_FILE_RANGE_WRITE};
#[cfg(not(target_os = "linux"))]
const SYNC_FILE_RANGE_WAIT_BEFORE: u32 = 1;
#[cfg(not(target_os = "linux"))]
const SYNC_FILE_RANGE_WRITE: u32 = 2;
#[cfg(not(target_os = "linux"))]
const SYNC_FILE_RANGE_WAIT_AFTER: u32 = 4;

/// Elsewhere the file is written unpaced; the fsync after it makes it durable.
#[cfg(not(target_os = "linux"))]
fn sync_file_range(_: &File, _: u64, _: usize, _: u32) -> io::Result<()> {
    Ok(())
}

/// `sync_file_range(2)`. A file or file system that does not take it (`EINVAL`,
/// `ESPIPE`, `ENOSYS`) is simply written unpaced; any other error is one writing the
/// data out, and is returned.
#[cfg(target_os = "linux")]
fn sync_file_range(file: &File, offset: u64, len: usize, flags: libc::c_uint) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) else {
        return Ok(());
    };
    // SAFETY: a system call on a descriptor borrowed for the duration of the call; it
    // reads and writes none of this process's memory.
    #[allow(unsafe_code)]
    let result = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
    if result == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::ESPIPE | libc::ENOSYS) => Ok(()),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn writes_every_byte_in_order_across_chunk_boundaries() {
        let dir = tempfile::tempdir().expect("temp dir");
        for len in [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, 3 * CHUNK_BYTES + 17] {
            let path = dir.path().join(format!("f{len}"));
            let mut f = File::create(&path).expect("create");
            f.write_all(b"head").expect("head");
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            write_paced(&mut f, 4, &bytes).expect("write");
            f.sync_all().expect("fsync");
            let mut back = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut back))
                .expect("read");
            assert_eq!(&back[..4], b"head");
            assert_eq!(&back[4..], &bytes[..], "length {len}");
        }
    }
}
