//! `keep_freed_memory` makes a freed block's pages serve the next allocation of its size
//! (no fresh page from the kernel). The test counts minor page faults while it writes a
//! 64 MiB buffer a second time: in a child process without the setting (the control,
//! which shows the count can see the difference) and in this one with it.
//!
//! Runs without the test harness (`harness = false`), so the allocations happen on the
//! main thread, in the main arena, with no other test allocating beside them.

use std::process::{Command, ExitCode};

/// Size of the buffer (bytes): above glibc's largest mmap threshold (32 MiB), so without
/// the setting every allocation of it is a fresh mapping.
const BUFFER_BYTES: usize = 64 << 20;
const PAGE_BYTES: usize = 4096;
/// Set in the child that measures without the setting.
const CONTROL_ENV: &str = "RECUT_ALLOC_REUSE_CONTROL";

/// Minor page faults of this process so far.
fn minor_faults() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage failed");
    // SAFETY: initialised by the successful call above (and zeroed before it).
    unsafe { usage.assume_init() }.ru_minflt
}

/// Allocates, writes and frees the buffer twice; the faults of the second round.
fn faults_of_second_round() -> i64 {
    let round = || {
        let buf = vec![1u8; BUFFER_BYTES];
        std::hint::black_box(&buf);
    };
    round();
    let before = minor_faults();
    round();
    minor_faults() - before
}

fn main() -> ExitCode {
    if std::env::var_os(CONTROL_ENV).is_some() {
        println!("{}", faults_of_second_round());
        return ExitCode::SUCCESS;
    }
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        println!("alloc_reuse: glibc only, skipped");
        return ExitCode::SUCCESS;
    }
    let pages = (BUFFER_BYTES / PAGE_BYTES) as i64;
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe)
        .env(CONTROL_ENV, "1")
        .output()
        .expect("control child runs");
    let control: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("control prints its fault count");
    recut_trainer::alloc::keep_freed_memory();
    let kept = faults_of_second_round();
    println!(
        "alloc_reuse: minor faults writing {} MiB again: {control} without keep_freed_memory, \
         {kept} with it ({pages} pages)",
        BUFFER_BYTES >> 20
    );
    let ok = control >= pages / 2 && kept <= pages / 20;
    if ok {
        println!("test alloc_reuse ... ok");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "alloc_reuse: expected at least {} faults without and at most {} with",
            pages / 2,
            pages / 20
        );
        ExitCode::FAILURE
    }
}
