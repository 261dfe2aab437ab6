//! Handles: what a C caller holds instead of a pointer to one of our objects.
//!
//! A handle is not an address. It is a 64-bit value, `type:8 | generation:24 | slot:32`,
//! naming a slot in one process-wide table whose memory is never freed (it grows in chunks
//! of 4096 slots and is type-stable). A slot holds the handle value it was last issued under
//! (0 when free) and a pointer to the boxed Rust object. Checking a handle reads only that
//! table: the type byte must be ours and of the expected type, the slot must exist, and the
//! slot's current value must equal the handle exactly. So:
//! - use after delete, double delete: the slot's value changed at delete → INVALID_ARG;
//! - a slot reused by a new object has a new generation → the old handle stays invalid;
//! - a handle of another type: the type byte differs → INVALID_ARG;
//! - a forged pointer (a heap or stack address, -1, a small integer): its top byte is not one
//!   of our type bytes (user-space addresses have 0 there), or it names no live slot;
//! and none of these checks touches memory that was freed.
//!
//! Delete is a compare-and-swap of the slot's value to 0, so of two racing deletes exactly
//! one wins. What no C library can make safe is using a handle *while* another thread
//! deletes it (as with `free()`); the header says so.
//!
//! A freed slot is reused only after [`REUSE_AFTER`] later frees, so its 24-bit generation
//! wraps only after 2^24 × 1024 frees in the process.
//!
//! The hot path (`MetricIncrement` and friends): the chunk pointer, then the slot (its value
//! and, for a metric, the series pointer, in one cache line), then the series' cells; no
//! lock. A metric handle is two words kept in the slot itself, so a handle costs no
//! allocation of its own.
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::mem::{align_of, size_of, MaybeUninit};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::core::{fork, Error, Result};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("infermetrics handles are 64-bit values carried in pointers: 64-bit targets only");

const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
const MAX_CHUNKS: usize = 1 << 16;
/// At most this many objects are alive at once (2^28).
pub(crate) const MAX_LIVE: usize = CHUNK * MAX_CHUNKS;
const GEN_MAX: u32 = (1 << 24) - 1;
/// A freed slot is reused only once more than this many slots are free.
const REUSE_AFTER: usize = 1024;
/// Set in the type byte of every handle: user-space addresses never have it.
const TYPE_MARK: u8 = 0x80;

/// A C-visible opaque type backed by a Rust value reached through a handle.
pub(crate) trait Castable {
    type Rust;
    /// 1..=127, unique per C type.
    const TYPE: u8;
    /// What the object is called in messages, e.g. "INFERMETRICS_Metric".
    const WHAT: &'static str;
}

/// Ties an opaque C type to the Rust value behind it: `castable!(CType => RustType, n)`.
macro_rules! castable {
    ($c:ident => $rust:ty, $type:expr) => {
        impl $crate::ffi::handle::Castable for $c {
            type Rust = $rust;
            const TYPE: u8 = $type;
            const WHAT: &'static str = stringify!($c);
        }
    };
}
pub(crate) use castable;

/// 24 bytes. While free, `live` holds the slot's next generation (`gen << 32`, top byte 0,
/// so it never equals a handle). While live, `data` holds the object itself when it fits in
/// two words (metric handles: a series pointer and a family-handle pointer, so recording
/// reads the series straight from the slot), else a pointer to its box.
struct Slot {
    live: AtomicU64,
    data: UnsafeCell<MaybeUninit<[usize; 2]>>,
}

// SAFETY: `data` is written only by the thread that owns the slot (before publishing `live`
// with Release, or after retiring it with a winning CAS) and read after an Acquire of `live`
unsafe impl Sync for Slot {}

/// Whether values of `T` live in the slot itself rather than in a box.
const fn inline<T>() -> bool {
    size_of::<T>() <= size_of::<[usize; 2]>() && align_of::<T>() <= align_of::<usize>()
}

#[allow(clippy::declare_interior_mutable_const)]
const NO_CHUNK: AtomicPtr<Slot> = AtomicPtr::new(std::ptr::null_mut());
static CHUNKS: [AtomicPtr<Slot>; MAX_CHUNKS] = [NO_CHUNK; MAX_CHUNKS];

/// Free slots: a freed slot first waits in `cooling` (first in, first out) until
/// [`REUSE_AFTER`] later frees have happened, then moves to `ready`, which is reused last in,
/// first out: the slot reused is one freed a while ago (so a slot's generation advances
/// only once per REUSE_AFTER frees) but not long ago (so its cache line is likely warm).
struct Alloc {
    cooling: VecDeque<u32>,
    ready: Vec<u32>,
    next: u32,
}

static ALLOC: Mutex<Alloc> = Mutex::new(Alloc {
    cooling: VecDeque::new(),
    ready: Vec::new(),
    next: 0,
});

#[inline(always)]
fn slot(index: usize) -> Option<&'static Slot> {
    let chunk = CHUNKS.get(index >> CHUNK_BITS)?.load(Ordering::Acquire);
    if chunk.is_null() {
        return None;
    }
    // SAFETY: a published chunk is a leaked array of CHUNK slots, never freed
    Some(unsafe { &*chunk.add(index & (CHUNK - 1)) })
}

fn type_byte<C: Castable>() -> u8 {
    TYPE_MARK | C::TYPE
}

/// Takes a free slot, lets `fill` write its data, publishes it and returns the handle;
/// None when MAX_LIVE objects are alive.
fn insert(type_byte: u8, fill: impl FnOnce(&Slot)) -> Option<u64> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    if !HOOK.is_completed() {
        HOOK.call_once(|| fork::hold_during_fork(|| Box::new(fork::lock(&ALLOC))));
    }
    let mut a = fork::lock(&ALLOC);
    let index = if let Some(i) = a.ready.pop() {
        i
    } else if (a.next as usize) < MAX_LIVE {
        let i = a.next;
        let c = i as usize >> CHUNK_BITS;
        if CHUNKS[c].load(Ordering::Relaxed).is_null() {
            let chunk: Box<[Slot]> = (0..CHUNK)
                .map(|_| Slot {
                    live: AtomicU64::new(1 << 32),
                    data: UnsafeCell::new(MaybeUninit::uninit()),
                })
                .collect();
            CHUNKS[c].store(Box::leak(chunk).as_mut_ptr(), Ordering::Release);
        }
        a.next += 1;
        i
    } else {
        a.cooling.pop_front()?
    };
    drop(a);
    let s = slot(index as usize)?;
    let gen = s.live.load(Ordering::Relaxed) >> 32;
    let h = (u64::from(type_byte) << 56) | (gen << 32) | u64::from(index);
    fill(s);
    // Release: whoever sees `live == h` also sees `data`
    s.live.store(h, Ordering::Release);
    Some(h)
}

/// Returns a slot retired by a successful delete (its `live` already holds the next
/// generation) to the free list.
fn release(index: u32) {
    let mut a = fork::lock(&ALLOC);
    a.cooling.push_back(index);
    if a.cooling.len() > REUSE_AFTER {
        if let Some(i) = a.cooling.pop_front() {
            a.ready.push(i);
        }
    }
}

/// The free-slot value for the generation after the one in `h`.
fn next_free_value(h: u64) -> u64 {
    let gen = ((h >> 32) & u64::from(GEN_MAX)) as u32;
    u64::from(if gen >= GEN_MAX { 1 } else { gen + 1 }) << 32
}

#[cold]
fn not_live<C: Castable>(arg: &str) -> Error {
    Error::invalid_arg(format!(
        "argument '{}' is not a live {} (deleted already, another kind of object, or not a handle from this library)",
        arg,
        C::WHAT
    ))
}

#[cold]
fn null_arg(arg: &str) -> Error {
    Error::invalid_arg(format!("argument '{}' is NULL", arg))
}

/// Finds the live slot of handle `p` of type `C`; every failure goes to one cold call, so the
/// hot path stays a straight line of loads and compares.
#[inline(always)]
fn find<C: Castable>(p: *const C) -> Option<&'static Slot> {
    let h = p as usize as u64;
    if (h >> 56) as u8 != type_byte::<C>() {
        return None;
    }
    let s = slot((h & 0xffff_ffff) as usize)?;
    if s.live.load(Ordering::Acquire) == h {
        Some(s)
    } else {
        None
    }
}

#[cold]
#[inline(never)]
fn refused<C: Castable>(p: *const C, arg: &str) -> Error {
    if p.is_null() {
        null_arg(arg)
    } else {
        not_live::<C>(arg)
    }
}

#[inline(always)]
fn lookup<C: Castable>(p: *const C, arg: &str) -> Result<&'static Slot> {
    match find(p) {
        Some(s) => Ok(s),
        None => Err(refused(p, arg)),
    }
}

/// Moves `value` into the table (into its slot when it fits, else a box) and returns a new
/// handle on it, owned by the caller.
pub(crate) fn to_raw<C: Castable>(value: C::Rust) -> Result<*mut C> {
    let mut value = Some(value);
    let h = insert(type_byte::<C>(), |s| {
        let v = value.take().expect("filled once");
        // SAFETY: the slot is ours until published; its data is 2 aligned words
        unsafe {
            let data = (*s.data.get()).as_mut_ptr();
            if inline::<C::Rust>() {
                std::ptr::write(data as *mut C::Rust, v);
            } else {
                (*data)[0] = Box::into_raw(Box::new(v)) as usize;
            }
        }
    });
    match h {
        Some(h) => Ok(h as usize as *mut C),
        None => Err(Error::unavailable(format!(
            "cannot create another {}: {} objects of this library are alive (delete some)",
            C::WHAT,
            MAX_LIVE
        ))),
    }
}

/// The value behind a live slot.
///
/// # Safety
/// `s` is live under a handle of type `C`.
#[inline(always)]
unsafe fn value_ptr<C: Castable>(s: &Slot) -> *mut C::Rust {
    let data = (*s.data.get()).as_mut_ptr();
    if inline::<C::Rust>() {
        data as *mut C::Rust
    } else {
        (*data)[0] as *mut C::Rust
    }
}

/// Borrows the Rust value behind a handle.
///
/// # Safety
/// The object must not be deleted by another thread during the borrow (a caller's bug, as
/// using memory while another thread frees it).
#[inline(always)]
pub(crate) unsafe fn try_ref<'a, C: Castable>(p: *const C, arg: &str) -> Result<&'a C::Rust> {
    let s = lookup(p, arg)?;
    Ok(&*value_ptr::<C>(s))
}

/// Mutably borrows the Rust value behind a handle (the C contract gives the caller exclusive
/// use of the object during the call).
///
/// # Safety
/// As [`try_ref`], and no other thread uses the object during the call.
pub(crate) unsafe fn try_mut<'a, C: Castable>(p: *mut C, arg: &str) -> Result<&'a mut C::Rust> {
    let s = lookup(p, arg)?;
    Ok(&mut *value_ptr::<C>(s))
}

/// Takes ownership back from C: retires the handle (once; a second delete is INVALID_ARG)
/// and returns the value.
///
/// # Safety
/// As [`try_ref`].
pub(crate) unsafe fn try_take<C: Castable>(p: *mut C, arg: &str) -> Result<C::Rust> {
    let s = lookup(p, arg)?;
    let h = p as usize as u64;
    // the winner of this CAS owns the data; `live` now names the next generation
    if s.live
        .compare_exchange(h, next_free_value(h), Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(not_live::<C>(arg));
    }
    let v = if inline::<C::Rust>() {
        std::ptr::read(value_ptr::<C>(s))
    } else {
        *Box::from_raw(value_ptr::<C>(s))
    };
    release((h & 0xffff_ffff) as u32);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    castable!(A => u32, 0x31);
    struct B;
    castable!(B => u32, 0x32);

    #[test]
    fn stale_forged_and_wrong_type_handles_are_refused() {
        let a = to_raw::<A>(7).unwrap();
        unsafe {
            assert_eq!(*try_ref(a, "a").unwrap(), 7);
            assert!(try_ref(a as *const B, "a").is_err());
            assert!(try_ref(std::ptr::null::<A>(), "a").is_err());
            for forged in [1usize, 0xdead_beef, usize::MAX, &a as *const _ as usize] {
                assert!(try_ref(forged as *const A, "a").is_err());
            }
            assert_eq!(try_take(a, "a").unwrap(), 7);
            assert!(try_ref(a, "a").is_err());
            assert!(try_take(a, "a").is_err());
        }
    }

    #[test]
    fn reused_slots_do_not_revive_old_handles() {
        let first = to_raw::<A>(1).unwrap();
        unsafe { try_take(first, "a").unwrap() };
        // churn far past the reuse threshold so the slot comes back
        for i in 0..(REUSE_AFTER * 3) as u32 {
            let h = to_raw::<A>(i).unwrap();
            unsafe { try_take(h, "a").unwrap() };
        }
        let live: Vec<_> = (0..64).map(|i| to_raw::<A>(i).unwrap()).collect();
        unsafe {
            assert!(try_ref(first, "a").is_err());
            for h in live {
                assert!(h != first);
                try_take(h, "a").unwrap();
            }
        }
    }
}
