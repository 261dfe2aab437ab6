//! Exemplars (OpenMetrics): a sample's pointer to one recorded event, typically a trace id.
//!
//! A counter series keeps the latest exemplar given to it, a histogram series the latest per
//! bucket (the bucket the observed value fell in). They are kept **beside** the series, never
//! in it: a series holds one pointer, null until the first exemplar arrives, to a block of
//! slots (one for a counter, one per bucket for a histogram); each slot holds a pointer to
//! the latest [`Exemplar`]. The plain recording calls never look at them.
//!
//! A slot is lock-free and every exemplar in it has exactly one owner at any time: a writer
//! swaps its new exemplar in and frees the one it took out; a reader (a render) swaps the
//! slot to null, prints what it took, and puts it back unless a writer has stored a newer one
//! meanwhile, in which case it frees the old one. Nobody ever waits; no lock is involved, so
//! there is nothing for a fork to find held. The cost: a render running at the same instant
//! as another render may print a slot without its exemplar once.
use std::alloc::{dealloc, Layout};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{Error, Result};
use super::names::check_label_name;
use super::text;

/// The most UTF-8 characters an exemplar's label names and values may have together (the
/// OpenMetrics limit).
pub const MAX_EXEMPLAR_CHARS: usize = 128;

/// One exemplar: its labels (rendered as the inside of `{...}`), the value recorded with it,
/// and when (seconds since the Unix epoch, wall clock).
#[derive(Debug)]
pub struct Exemplar {
    pub labels: Box<str>,
    pub value: f64,
    pub timestamp: f64,
}

impl Exemplar {
    /// Checks exemplar labels (valid label names, none twice, names and values together at
    /// most [`MAX_EXEMPLAR_CHARS`] UTF-8 characters) and makes the exemplar of `value`, stamped
    /// now. The labels are sorted in place.
    pub fn new(labels: &mut [(&str, &str)], value: f64) -> Result<Exemplar> {
        let mut chars = 0;
        for (k, v) in labels.iter() {
            check_label_name(k)
                .map_err(|e| Error::invalid_arg(format!("exemplar label: {}", e.message)))?;
            chars += k.chars().count() + v.chars().count();
        }
        if chars > MAX_EXEMPLAR_CHARS {
            return Err(Error::invalid_arg(format!(
                "exemplar labels have {} UTF-8 characters (names and values together); \
                 OpenMetrics allows at most {}: shorten them",
                chars, MAX_EXEMPLAR_CHARS
            )));
        }
        labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::invalid_arg(format!(
                "exemplar label '{}' given twice: each label name may appear once",
                w[0].0
            )));
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64 / 1000.0);
        Ok(Exemplar {
            labels: text::render_label_body(labels).into_boxed_str(),
            value,
            timestamp,
        })
    }
}

/// A block of `n` exemplar slots (all null), as [`super::series`] allocates it lazily.
pub(crate) type Slot = AtomicPtr<Exemplar>;

pub(crate) fn slots_layout(n: usize) -> Layout {
    Layout::array::<Slot>(n.max(1)).expect("exemplar slots layout")
}

/// Stores `e` as the latest exemplar of `slot`, freeing the one it replaces.
pub(crate) fn store(slot: &Slot, e: Exemplar) {
    let old = slot.swap(Box::into_raw(Box::new(e)), Ordering::AcqRel);
    if !old.is_null() {
        // SAFETY: taken out of the slot, so this thread is its only owner
        drop(unsafe { Box::from_raw(old) });
    }
}

/// Calls `f` with the latest exemplar of `slot`, if there is one (see the module docs).
pub(crate) fn read<R>(slot: &Slot, f: impl FnOnce(&Exemplar) -> R) -> Option<R> {
    let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if p.is_null() {
        return None;
    }
    // SAFETY: taken out of the slot, so this thread is its only owner until it is put back
    let r = f(unsafe { &*p });
    if slot
        .compare_exchange(std::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        // a writer stored a newer one meanwhile: ours is no longer wanted
        drop(unsafe { Box::from_raw(p) });
    }
    Some(r)
}

/// Frees a block of `n` slots and every exemplar in it.
///
/// # Safety
/// `block` was allocated with [`slots_layout`]`(n)` and nothing else refers to it.
pub(crate) unsafe fn free_slots(block: *mut Slot, n: usize) {
    for i in 0..n.max(1) {
        let p = (*block.add(i)).swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            drop(Box::from_raw(p));
        }
    }
    dealloc(block as *mut u8, slots_layout(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_checked_and_rendered() {
        let e = Exemplar::new(&mut [("trace_id", "a\"b"), ("span", "1")], 2.5).unwrap();
        assert_eq!(&*e.labels, "span=\"1\",trace_id=\"a\\\"b\"");
        assert_eq!(e.value, 2.5);
        assert!(e.timestamp > 1.6e9);
        assert!(Exemplar::new(&mut [], 1.0).unwrap().labels.is_empty());
        let e = Exemplar::new(&mut [("a", "1"), ("a", "2")], 1.0).unwrap_err();
        assert!(e.message.contains("'a' given twice"), "{}", e.message);
        assert!(Exemplar::new(&mut [("1a", "x")], 1.0).is_err());
        assert!(Exemplar::new(&mut [("__a", "x")], 1.0).is_err());
        // 128 characters are fine, 129 are not; a character is a char, not a byte
        let v = "é".repeat(127);
        assert!(Exemplar::new(&mut [("t", &v)], 1.0).is_ok());
        let v = "é".repeat(128);
        let e = Exemplar::new(&mut [("t", &v)], 1.0).unwrap_err();
        assert!(
            e.message.contains("129") && e.message.contains("128"),
            "{}",
            e.message
        );
    }

    #[test]
    fn slot_store_read() {
        let slot: Slot = AtomicPtr::new(std::ptr::null_mut());
        assert!(read(&slot, |_| ()).is_none());
        store(&slot, Exemplar::new(&mut [("t", "1")], 1.0).unwrap());
        store(&slot, Exemplar::new(&mut [("t", "2")], 2.0).unwrap());
        assert_eq!(read(&slot, |e| e.value), Some(2.0));
        // a reader puts it back
        assert_eq!(
            read(&slot, |e| e.labels.to_string()).as_deref(),
            Some("t=\"2\"")
        );
        // a write while a reader holds it: the reader's copy is dropped, the new one stays
        let got = read(&slot, |e| {
            store(&slot, Exemplar::new(&mut [("t", "3")], 3.0).unwrap());
            e.value
        });
        assert_eq!(got, Some(2.0));
        assert_eq!(read(&slot, |e| e.value), Some(3.0));
        let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
        drop(unsafe { Box::from_raw(p) });
    }
}
