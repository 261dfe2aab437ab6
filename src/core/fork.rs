//! Fork safety: what happens to the library's locks, sockets and threads when the host forks.
//!
//! Python servers that import a backend and then fork workers (gunicorn `--preload`, uWSGI)
//! call `fork()` while our threads may hold a lock. Only the forking thread survives in the
//! child, so a lock held by any other thread at that moment would stay held forever there.
//!
//! The rule that prevents it: **every lock of the library is taken inside [`gate`]**. The gate
//! is a reader count plus a writer bit in one atomic word. `fork()` runs our `pthread_atfork`
//! prepare handler, which sets the writer bit (new readers wait) and waits until no thread is
//! inside the gate; so at the instant of the fork no library lock is held by anyone, and the
//! child starts with every structure consistent and every lock free. The parent and child
//! handlers clear the bit again.
//!
//! Recording (`MetricIncrement` and friends) takes no lock and never enters the gate, so the
//! hot path pays nothing for this. Gate sections are short (one map operation, one chunk of a
//! render), so a fork waits microseconds to a few milliseconds.
//!
//! In the child:
//! - [`epoch`] has moved on, so objects that own threads (servers) know they were inherited:
//!   their threads do not exist in the child, and deleting them only forgets them.
//! - every socket registered with [`track_fd`] (listeners and accepted connections of the
//!   parent's servers) is closed, so the child neither holds the parent's port nor keeps its
//!   clients' connections open.
use std::cell::Cell;
use std::collections::HashSet;
use std::ops::{Deref, DerefMut};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Bit 63: a fork is being prepared; bits 0..62: threads inside the gate.
static STATE: AtomicU64 = AtomicU64::new(0);
const FORKING: u64 = 1 << 63;
/// Incremented in every child, right after the fork.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Sockets the child must not keep: listeners and connections of the servers.
static FDS: Mutex<Option<HashSet<RawFd>>> = Mutex::new(None);

thread_local! {
    /// How deep this thread is inside the gate (the gate is re-entrant per thread).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Proof of being inside the gate: while any `Gate` lives, no fork completes.
pub struct Gate {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Enters the gate (re-entrant). Take it around every acquisition of a library lock.
#[inline]
pub fn gate() -> Gate {
    install();
    let depth = DEPTH.with(|d| {
        let v = d.get();
        d.set(v + 1);
        v
    });
    if depth == 0 {
        let mut spins = 0u32;
        loop {
            let s = STATE.load(Ordering::Relaxed);
            if s & FORKING == 0
                && STATE
                    .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                break;
            }
            if s & FORKING != 0 {
                // a fork is being prepared: it waits for threads already inside, not for us
                backoff(&mut spins);
            }
        }
    }
    Gate {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for Gate {
    #[inline]
    fn drop(&mut self) {
        let depth = DEPTH.with(|d| {
            let v = d.get() - 1;
            d.set(v);
            v
        });
        if depth == 0 {
            STATE.fetch_sub(1, Ordering::Release);
        }
    }
}

/// A lock guard that also holds the gate; the guard is released before the gate.
pub struct Locked<G> {
    guard: G,
    _gate: Gate,
}

impl<G: Deref> Deref for Locked<G> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<G: DerefMut> DerefMut for Locked<G> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}

/// Locks `m` inside the gate. A poisoned lock is still used: every structure of ours stays
/// consistent under a panic (updates are single inserts and removes).
pub fn lock<T>(m: &Mutex<T>) -> Locked<MutexGuard<'_, T>> {
    let gate = gate();
    Locked {
        guard: m.lock().unwrap_or_else(|p| p.into_inner()),
        _gate: gate,
    }
}

/// Read-locks `l` inside the gate.
pub fn read<T>(l: &RwLock<T>) -> Locked<RwLockReadGuard<'_, T>> {
    let gate = gate();
    Locked {
        guard: l.read().unwrap_or_else(|p| p.into_inner()),
        _gate: gate,
    }
}

/// Write-locks `l` inside the gate.
pub fn write<T>(l: &RwLock<T>) -> Locked<RwLockWriteGuard<'_, T>> {
    let gate = gate();
    Locked {
        guard: l.write().unwrap_or_else(|p| p.into_inner()),
        _gate: gate,
    }
}

fn backoff(spins: &mut u32) {
    *spins += 1;
    if *spins < 64 {
        std::hint::spin_loop();
    } else if *spins < 128 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Which fork generation this process is: 0 in the process that loaded the library, +1 in
/// each child (a grandchild has 2). An object created in another epoch was inherited.
#[inline]
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::Acquire)
}

/// Registers a socket that a forked child must close (a server's listener or connection).
pub fn track_fd(fd: RawFd) {
    lock(&FDS).get_or_insert_with(HashSet::new).insert(fd);
}

/// Forgets a socket; call it *before* closing the socket, so a child can never close an fd
/// number that the host has reused meanwhile.
pub fn untrack_fd(fd: RawFd) {
    if let Some(set) = lock(&FDS).as_mut() {
        set.remove(&fd);
    }
}

extern "C" fn prepare() {
    // the forking thread may itself be inside the gate (a log callback that forks): then
    // its own count is allowed to remain
    let own = if DEPTH.with(|d| d.get()) > 0 { 1 } else { 0 };
    let mut spins = 0u32;
    // take the writer bit (another thread forking at the same time waits its turn)
    loop {
        let s = STATE.load(Ordering::Relaxed);
        if s & FORKING == 0
            && STATE
                .compare_exchange_weak(s, s | FORKING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            break;
        }
        backoff(&mut spins);
    }
    spins = 0;
    while STATE.load(Ordering::Acquire) & !FORKING != own {
        backoff(&mut spins);
    }
}

extern "C" fn parent() {
    STATE.fetch_and(!FORKING, Ordering::Release);
}

extern "C" fn child() {
    EPOCH.fetch_add(1, Ordering::AcqRel);
    // only this thread exists now; no lock of ours is held (that is what prepare ensured)
    if let Some(set) = FDS.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        for fd in set.drain() {
            // SAFETY: the fd is a socket of an inherited server; nothing in the child uses it
            unsafe { libc::close(fd) };
        }
    }
    STATE.fetch_and(!FORKING, Ordering::Release);
}

/// Registers the fork handlers once per load of the library. glibc ties handlers to the
/// shared object that registered them and drops them when it is `dlclose`d.
#[inline]
fn install() {
    static ONCE: Once = Once::new();
    if !ONCE.is_completed() {
        ONCE.call_once(|| {
            // SAFETY: the handlers are `extern "C"` functions that live as long as the library
            unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_is_reentrant_and_counts() {
        let before = STATE.load(Ordering::SeqCst) & !FORKING;
        {
            let _a = gate();
            let _b = gate();
            assert_eq!(STATE.load(Ordering::SeqCst) & !FORKING, before + 1);
        }
        assert_eq!(STATE.load(Ordering::SeqCst) & !FORKING, before);
    }
}
