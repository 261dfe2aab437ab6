//! Fork safety: what happens to the library's locks, sockets and threads when the host forks.
//!
//! Python servers that import a backend and then fork workers (gunicorn `--preload`, uWSGI)
//! call `fork()` while our threads may hold a lock. Only the forking thread survives in the
//! child, so a lock held by any other thread at that moment would stay held forever there.
//!
//! What prevents it: `fork()` runs our `pthread_atfork` prepare handler, which
//! 1. closes the **gate** (a reader count plus a writer bit in one atomic word): new entries
//!    wait, and it waits until no thread is inside. Code that must not be forked in the
//!    middle (the servers' own bookkeeping) runs inside [`gate`];
//! 2. takes every lock of the API's shared structures, through the hooks each structure
//!    registered with [`hold_during_fork`] (the registry and each family, the handle table,
//!    the log sink, the socket list, the NVML cache): it waits for the threads holding them,
//!    then holds them across the fork.
//!
//! So at the instant of the fork no library lock is held by another thread, and the child
//! starts with every structure consistent. The parent and child handlers release the locks
//! and open the gate again. No code path holds two of the hooked locks at once (a family's
//! series lock and its bucket-list lock, taken in that order, are one hook), so the prepare
//! handler cannot deadlock with a thread of ours.
//!
//! Recording (`MetricIncrement` and friends) takes no lock at all, and the API's locks cost
//! no more than a plain mutex: the work happens only when the host forks.
//!
//! In the child:
//! - [`epoch`] has moved on, so objects that own threads (servers) know they were inherited:
//!   their threads do not exist in the child, and deleting them only forgets them.
//! - every socket registered with [`track_fd`] (listeners and accepted connections of the
//!   parent's servers) is closed, so the child neither holds the parent's port nor keeps its
//!   clients' connections open.
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ops::{Deref, DerefMut};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    /// The guards the prepare handler took, released by the parent and child handlers (the
    /// three handlers run on the forking thread).
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// A function that takes some locks and returns their guards as one value.
pub type Hook = fn() -> Box<dyn Any>;
const MAX_HOOKS: usize = 16;
#[allow(clippy::declare_interior_mutable_const)]
const NO_HOOK: AtomicUsize = AtomicUsize::new(0);
static HOOKS: [AtomicUsize; MAX_HOOKS] = [NO_HOOK; MAX_HOOKS];

/// Registers `hook` to be run by the fork prepare handler: it must lock every lock of one
/// structure (in the order normal code takes them) and return the guards. Register each
/// hook once (behind a `Once`), before the structure's locks are first used.
pub fn hold_during_fork(hook: Hook) {
    install();
    for h in &HOOKS {
        if h.compare_exchange(0, hook as usize, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
    }
    super::log::error("internal: too many fork hooks; a forked child may hang");
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

/// Locks `m` inside the gate, for locks no fork hook holds. A poisoned lock is still used:
/// every structure of ours stays consistent under a panic (updates are single inserts and
/// removes).
pub fn gated_lock<T>(m: &Mutex<T>) -> Locked<MutexGuard<'_, T>> {
    let gate = gate();
    Locked {
        guard: m.lock().unwrap_or_else(|p| p.into_inner()),
        _gate: gate,
    }
}

/// Read-locks `l` inside the gate, for locks no fork hook holds.
pub fn gated_read<T>(l: &RwLock<T>) -> Locked<RwLockReadGuard<'_, T>> {
    let gate = gate();
    Locked {
        guard: l.read().unwrap_or_else(|p| p.into_inner()),
        _gate: gate,
    }
}

/// Write-locks `l` inside the gate, for locks no fork hook holds.
pub fn gated_write<T>(l: &RwLock<T>) -> Locked<RwLockWriteGuard<'_, T>> {
    let gate = gate();
    Locked {
        guard: l.write().unwrap_or_else(|p| p.into_inner()),
        _gate: gate,
    }
}

/// Locks `m`, a lock that a fork hook holds (see [`hold_during_fork`]); poison is ignored.
#[inline]
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read-locks `l`, a lock that a fork hook holds.
#[inline]
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// Write-locks `l`, a lock that a fork hook holds.
#[inline]
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
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

fn hold_fds() -> Box<dyn Any> {
    Box::new(lock(&FDS))
}

/// Registers a socket that a forked child must close (a server's listener or connection).
pub fn track_fd(fd: RawFd) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| hold_during_fork(hold_fds));
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
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        for h in &HOOKS {
            match h.load(Ordering::Acquire) {
                0 => break,
                // SAFETY: only `Hook` function pointers are stored in HOOKS
                f => held.push(unsafe { std::mem::transmute::<usize, Hook>(f) }()),
            }
        }
    });
}

/// Releases the hooks' guards, last taken first.
fn release_held() {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        while let Some(g) = held.pop() {
            drop(g);
        }
    });
}

extern "C" fn parent() {
    release_held();
    STATE.fetch_and(!FORKING, Ordering::Release);
}

extern "C" fn child() {
    EPOCH.fetch_add(1, Ordering::AcqRel);
    // only this thread exists now, and it holds every hooked lock: close the inherited
    // sockets, then let go
    HELD.with(|held| {
        let held = held.borrow();
        for g in held.iter() {
            if let Some(fds) = g.downcast_ref::<MutexGuard<'static, Option<HashSet<RawFd>>>>() {
                for fd in fds.iter().flatten() {
                    // SAFETY: a socket of an inherited server; nothing in the child uses it
                    unsafe { libc::close(*fd) };
                }
            }
        }
    });
    release_held();
    if let Ok(mut fds) = FDS.try_lock() {
        if let Some(set) = fds.as_mut() {
            set.clear();
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
