//! How hashing threads and request threads share the CPU (Linux; elsewhere this does nothing).
//!
//! Two loads meet on a busy server: password hashes (tens of milliseconds of CPU each, on the
//! hash pool) and token checks (microseconds each, on the request threads). Neither may starve
//! the other: logins must keep most of their speed while protected requests flood the server,
//! and protected requests must stay fast while logins storm it. Measured by `scripts/bench`
//! (README, Performance), the answer is in the kernel's fair scheduler:
//!
//! - **Weights.** A hash thread keeps the process's nice value (0), each request thread is
//!   two steps nicer (weight 655 to 1024): on a core that both saturate, hashing keeps about
//!   44 % against two request threads, where nice 10 for hashing (the earlier choice) left it
//!   6 % and logins all but stopped under a flood. Raising our own niceness needs no
//!   privilege.
//! - **Short slices.** Both ask for a 100 µs slice (`sched_setattr`, honoured by EEVDF since
//!   Linux 6.6; older kernels ignore it): a thread woken by a request or a finished hash gets
//!   the CPU soon instead of waiting out a long slice of the other.

/// How much nicer than the process a request thread is (tokio's workers and blocking pool);
/// argon2 workers keep the process's own nice value (0 unless the operator chose another).
pub const REQUEST_NICE_OFFSET: i32 = 2;
/// The slice every thread of ours asks for.
pub const SLICE_MICROS: u64 = 100;

/// Call on each argon2 worker thread as it starts.
pub fn hashing_thread() {
    set(process_nice(), SLICE_MICROS);
}

/// Call on each request thread as it starts (`tokio::runtime::Builder::on_thread_start`).
pub fn request_thread() {
    set((process_nice() + REQUEST_NICE_OFFSET).min(19), SLICE_MICROS);
}

/// The nice value the process was started with: its main thread's, which nothing here
/// changes (threads inherit their creator's, so a thread's own is no guide).
#[cfg(target_os = "linux")]
fn process_nice() -> i32 {
    // SAFETY: getpid and getpriority read process state only.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::getpid() as libc::id_t) }
}

#[cfg(not(target_os = "linux"))]
fn process_nice() -> i32 {
    0
}

/// The calling thread's nice value and slice, as the kernel reports them (tests, diagnostics).
#[cfg(target_os = "linux")]
pub fn current() -> std::io::Result<(i32, u64)> {
    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: sched_getattr on the calling thread (pid 0) writes at most `size` bytes to `attr`.
    let r = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr as *mut SchedAttr, size, 0) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((attr.nice, attr.runtime / 1000))
}

/// `struct sched_attr` of `sched_setattr(2)` (its first, version-0 fields).
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

#[cfg(target_os = "linux")]
fn set(nice: i32, slice_micros: u64) {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        nice,
        runtime: slice_micros * 1000,
        ..SchedAttr::default()
    };
    // SAFETY: sched_setattr on the calling thread (pid 0) only reads `attr`, alive across the call.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if r != 0 {
        // A kernel without sched_setattr, or a policy that forbids it: the weight alone.
        // SAFETY: setpriority on the calling thread (who = 0) has no memory effects.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
        if r != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), nice, "cannot set this thread's priority");
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn set(_nice: i32, _slice_micros: u64) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn hashing_outweighs_request_threads_and_both_ask_for_short_slices() {
        let (hash, request) = std::thread::scope(|s| {
            let hash = s.spawn(|| {
                hashing_thread();
                current()
            });
            let request = s.spawn(|| {
                request_thread();
                current()
            });
            (hash.join(), request.join())
        });
        let (Ok(Ok(hash)), Ok(Ok(request))) = (hash, request) else { panic!("sched_getattr failed") };
        let base = process_nice();
        assert_eq!(hash.0, base, "hashing keeps the process's weight");
        assert_eq!(request.0, (base + REQUEST_NICE_OFFSET).min(19), "request threads are nicer");
        // A kernel older than EEVDF reports no slice; one that honours it reports ours.
        assert!(hash.1 == 0 || hash.1 == SLICE_MICROS, "{hash:?}");
        assert!(request.1 == 0 || request.1 == SLICE_MICROS, "{request:?}");
    }
}
