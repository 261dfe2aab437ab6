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
//! Freed slots are reused first-in first-out, and only once more than [`REUSE_AFTER`] are
//! free, so a slot's 24-bit generation wraps only after millions of reuses of that one slot.
//!
//! The hot path (`MetricIncrement` and friends) costs two dependent loads more than a raw
//! pointer: the chunk pointer and the slot's value (both usually in cache), and no lock.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
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

struct Slot {
    /// The handle this slot is live under, or 0.
    live: AtomicU64,
    ptr: AtomicPtr<()>,
    /// A second pointer for hot paths, into the object (e.g. a metric's series), so recording
    /// takes as many dependent loads as a raw pointer would.
    fast: AtomicPtr<()>,
    /// Generation for the next use of the slot (touched under `ALLOC`'s lock).
    next_gen: AtomicU32,
}

#[allow(clippy::declare_interior_mutable_const)]
const NO_CHUNK: AtomicPtr<Slot> = AtomicPtr::new(std::ptr::null_mut());
static CHUNKS: [AtomicPtr<Slot>; MAX_CHUNKS] = [NO_CHUNK; MAX_CHUNKS];

struct Alloc {
    free: VecDeque<u32>,
    next: u32,
}

static ALLOC: Mutex<Alloc> = Mutex::new(Alloc {
    free: VecDeque::new(),
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

/// Puts `ptr` in a free slot and returns its handle; None when MAX_LIVE objects are alive.
fn insert(type_byte: u8, ptr: *mut (), fast: *const ()) -> Option<u64> {
    let mut a = fork::lock(&ALLOC);
    let index = if a.free.len() > REUSE_AFTER {
        a.free.pop_front()?
    } else if (a.next as usize) < MAX_LIVE {
        let i = a.next;
        let c = i as usize >> CHUNK_BITS;
        if CHUNKS[c].load(Ordering::Relaxed).is_null() {
            let chunk: Box<[Slot]> = (0..CHUNK)
                .map(|_| Slot {
                    live: AtomicU64::new(0),
                    ptr: AtomicPtr::new(std::ptr::null_mut()),
                    fast: AtomicPtr::new(std::ptr::null_mut()),
                    next_gen: AtomicU32::new(1),
                })
                .collect();
            CHUNKS[c].store(Box::leak(chunk).as_mut_ptr(), Ordering::Release);
        }
        a.next += 1;
        i
    } else {
        a.free.pop_front()?
    };
    let s = slot(index as usize)?;
    let gen = s.next_gen.load(Ordering::Relaxed);
    let h = (u64::from(type_byte) << 56) | (u64::from(gen) << 32) | u64::from(index);
    s.ptr.store(ptr, Ordering::Relaxed);
    s.fast.store(fast as *mut (), Ordering::Relaxed);
    // Release: whoever sees `live == h` also sees `ptr`
    s.live.store(h, Ordering::Release);
    Some(h)
}

/// Returns a slot emptied by a successful delete to the free list.
fn release(index: u32) {
    let mut a = fork::lock(&ALLOC);
    if let Some(s) = slot(index as usize) {
        let g = s.next_gen.load(Ordering::Relaxed);
        s.next_gen
            .store(if g >= GEN_MAX { 1 } else { g + 1 }, Ordering::Relaxed);
    }
    a.free.push_back(index);
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

/// Moves `value` to the heap and returns a new handle on it, owned by the caller.
pub(crate) fn to_raw<C: Castable>(value: C::Rust) -> Result<*mut C> {
    to_raw_fast::<C>(value, |_| std::ptr::null())
}

/// Like [`to_raw`], also storing `fast(&value)` for [`try_fast`]; it must point into memory
/// that lives as long as the value.
pub(crate) fn to_raw_fast<C: Castable>(
    value: C::Rust,
    fast: impl FnOnce(&C::Rust) -> *const (),
) -> Result<*mut C> {
    let ptr = Box::into_raw(Box::new(value));
    // SAFETY: `ptr` is a fresh, valid box
    let fast = fast(unsafe { &*ptr });
    match insert(type_byte::<C>(), ptr as *mut (), fast) {
        Some(h) => Ok(h as usize as *mut C),
        None => {
            // SAFETY: `ptr` came from Box::into_raw above and was never published
            drop(unsafe { Box::from_raw(ptr) });
            Err(Error::unavailable(format!(
                "cannot create another {}: {} objects of this library are alive (delete some)",
                C::WHAT,
                MAX_LIVE
            )))
        }
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
    Ok(&*(s.ptr.load(Ordering::Relaxed) as *const C::Rust))
}

/// The hot-path pointer stored by [`to_raw_fast`], checked as [`try_ref`] checks a handle.
///
/// # Safety
/// As [`try_ref`]; `T` is the type `fast` pointed to.
#[inline(always)]
pub(crate) unsafe fn try_fast<'a, C: Castable, T>(p: *const C, arg: &str) -> Result<&'a T> {
    let s = lookup(p, arg)?;
    Ok(&*(s.fast.load(Ordering::Relaxed) as *const T))
}

/// Mutably borrows the Rust value behind a handle (the C contract gives the caller exclusive
/// use of the object during the call).
///
/// # Safety
/// As [`try_ref`], and no other thread uses the object during the call.
pub(crate) unsafe fn try_mut<'a, C: Castable>(p: *mut C, arg: &str) -> Result<&'a mut C::Rust> {
    let s = lookup(p, arg)?;
    Ok(&mut *(s.ptr.load(Ordering::Relaxed) as *mut C::Rust))
}

/// Takes ownership back from C: retires the handle (once; a second delete is INVALID_ARG)
/// and returns the value.
///
/// # Safety
/// As [`try_ref`].
pub(crate) unsafe fn try_take<C: Castable>(p: *mut C, arg: &str) -> Result<C::Rust> {
    let s = lookup(p, arg)?;
    let h = p as usize as u64;
    if s
        .live
        .compare_exchange(h, 0, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(not_live::<C>(arg));
    }
    let ptr = s.ptr.swap(std::ptr::null_mut(), Ordering::AcqRel) as *mut C::Rust;
    s.fast.store(std::ptr::null_mut(), Ordering::Relaxed);
    release((h & 0xffff_ffff) as u32);
    Ok(*Box::from_raw(ptr))
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
