//! `node_filesystem_size_bytes`, `node_filesystem_free_bytes` and
//! `node_filesystem_avail_bytes{device,fstype,mountpoint}` (node_exporter's names and labels)
//! for the filesystems holding the configured disk paths (`INFERMETRICS_DISK_PATHS`,
//! comma-separated, default `/`; or `INFERMETRICS_ServerOptionsSetDiskPaths`). Part of the
//! host group.
//!
//! - `mountpoint`, `device` and `fstype` are those of the mount holding the path: the longest
//!   mount point in `/proc/self/mountinfo` that is a prefix of the path, the path resolved with
//!   `realpath` first (on the last of several mounts at one point, the visible one). A
//!   configured path is always reported whatever its fstype (overlay, tmpfs, nfs, ...); two
//!   paths on one mount give one series.
//! - Values from `statvfs(3)`: size = f_blocks × f_frsize, free = f_bfree × f_frsize,
//!   avail = f_bavail × f_frsize.
//! - **statfs can hang** (a network filesystem whose server is gone). It never runs on the
//!   scrape path, and not even on the collector thread: each path has a helper thread
//!   (`infermetrics-statfs`) that does `realpath` and `statvfs` when asked. At each collection
//!   the collector asks every path whose helper is idle and waits at most a quarter of the
//!   metrics interval (10..200 ms) for the answers; a path that answers later is served with
//!   that answer at the next collection (one interval old). A path whose helper has not
//!   answered for a whole interval is **hung**: it is not asked again and has no series until
//!   the call returns, the collector's `nv_collector_success` is 0, and the log says so once
//!   (and once more when the call returns). A server stopping does not wait for a hung helper:
//!   the thread is left to finish its call and exit.
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::sysfs::{self, Roots};
use super::{label_body, Collector, FamilyText, Health};
use crate::core::log;

/// What `statvfs` says about a filesystem, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsStat {
    pub size: u64,
    pub free: u64,
    pub avail: u64,
}

/// The `statvfs` call a collector makes (a seam: tests give one that hangs).
pub type StatFn = Arc<dyn Fn(&Path) -> io::Result<FsStat> + Send + Sync>;

/// `statvfs(3)` of `path`.
pub fn statvfs(path: &Path) -> io::Result<FsStat> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has a NUL byte"))?;
    // SAFETY: all-zero is a valid statvfs; the call writes it
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated string, `s` a live out-parameter
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let unit = if s.f_frsize > 0 {
        s.f_frsize
    } else {
        s.f_bsize
    } as u64;
    Ok(FsStat {
        size: (s.f_blocks as u64).saturating_mul(unit),
        free: (s.f_bfree as u64).saturating_mul(unit),
        avail: (s.f_bavail as u64).saturating_mul(unit),
    })
}

/// One mount of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub mountpoint: String,
    pub fstype: String,
    pub device: String,
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo`: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER`.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mountpoint = pre.split(' ').nth(4)?;
            let mut post = post.split(' ');
            let fstype = post.next()?;
            let device = post.next().unwrap_or("none");
            Some(Mount {
                mountpoint: unescape(mountpoint),
                fstype: unescape(fstype),
                device: unescape(device),
            })
        })
        .collect()
}

/// The mount holding `path` (absolute, resolved): the longest mount point that is a prefix of
/// it, component-wise; of equal ones the last (the visible one).
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        if path.starts_with(&m.mountpoint)
            && best.map_or(true, |b| m.mountpoint.len() >= b.mountpoint.len())
        {
            best = Some(m);
        }
    }
    best
}

type Answer = Result<(PathBuf, FsStat), String>;

/// One disk path and its helper thread.
struct Disk {
    path: String,
    ask: Option<Sender<()>>,
    answers: Receiver<Answer>,
    thread: Option<JoinHandle<()>>,
    /// When the request not answered yet was sent.
    asked_at: Option<Instant>,
    /// The last answer (served while the path is not hung).
    latest: Option<Answer>,
    hung: bool,
    failed: bool,
}

impl Disk {
    fn start(path: &str, stat: &StatFn) -> io::Result<Disk> {
        let (ask, asks) = mpsc::channel::<()>();
        let (tell, answers) = mpsc::channel::<Answer>();
        let p = PathBuf::from(path);
        let stat = Arc::clone(stat);
        let thread = std::thread::Builder::new()
            .name("infermetrics-statfs".into())
            .spawn(move || {
                while asks.recv().is_ok() {
                    let a = std::fs::canonicalize(&p)
                        .and_then(|real| stat(&real).map(|s| (real, s)))
                        .map_err(|e| e.to_string());
                    if tell.send(a).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Disk {
            path: path.to_string(),
            ask: Some(ask),
            answers,
            thread: Some(thread),
            asked_at: None,
            latest: None,
            hung: false,
            failed: false,
        })
    }

    fn take(&mut self, a: Answer) {
        self.asked_at = None;
        if self.hung {
            self.hung = false;
            log::info(&format!("disk path '{}': statfs returned again", self.path));
        }
        self.latest = Some(a);
    }
}

pub struct FilesystemCollector {
    disks: Vec<Disk>,
    mountinfo: PathBuf,
    wait: Duration,
    health: Health,
    buf: String,
}

impl FilesystemCollector {
    /// The collector for `paths`, waiting a quarter of `interval` (10..200 ms) for statfs (under
    /// the 300 ms a stopping server waits for its collector threads).
    pub fn new(paths: &[String], roots: &Roots, interval: Duration) -> FilesystemCollector {
        let wait = (interval / 4).clamp(Duration::from_millis(10), Duration::from_millis(200));
        Self::with_statfs(paths, roots, wait, Arc::new(statvfs))
    }

    /// As [`new`](Self::new) with a given wait and statfs (tests).
    pub fn with_statfs(
        paths: &[String],
        roots: &Roots,
        wait: Duration,
        stat: StatFn,
    ) -> FilesystemCollector {
        let disks = paths
            .iter()
            .filter_map(|p| match Disk::start(p, &stat) {
                Ok(d) => Some(d),
                Err(e) => {
                    log::warn(&format!("disk path '{}': no statfs thread: {}", p, e));
                    None
                }
            })
            .collect();
        FilesystemCollector {
            disks,
            mountinfo: roots.proc("self/mountinfo"),
            wait,
            health: Health::default(),
            buf: String::new(),
        }
    }
}

impl Drop for FilesystemCollector {
    fn drop(&mut self) {
        for d in &mut self.disks {
            // closing the channel ends an idle helper at once; a busy one when its call returns
            drop(d.ask.take());
            if let Some(t) = d.thread.take() {
                if d.asked_at.is_none() {
                    let _ = t.join();
                }
            }
        }
    }
}

impl Collector for FilesystemCollector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn success(&self) -> bool {
        self.health.ok()
    }

    fn collect(&mut self) -> Vec<FamilyText> {
        let now = Instant::now();
        // take late answers; ask every path whose helper is idle
        for d in &mut self.disks {
            if let Ok(a) = d.answers.try_recv() {
                d.take(a);
            }
            if d.asked_at.is_none() && d.ask.as_ref().is_some_and(|a| a.send(()).is_ok()) {
                d.asked_at = Some(now);
            }
        }
        // wait for this collection's answers, all within one deadline
        let deadline = now + self.wait;
        for d in &mut self.disks {
            if d.asked_at != Some(now) {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if let Ok(a) = d.answers.recv_timeout(left) {
                d.take(a);
            }
        }
        let mut problems = Vec::new();
        for d in &mut self.disks {
            // asked at an earlier collection and still not answered: a whole interval
            if d.asked_at.is_some_and(|t| t < now) {
                if !d.hung {
                    d.hung = true;
                    log::warn(&format!(
                        "disk path '{}': statfs has not returned for a whole metrics interval; \
                         the path is skipped until it does",
                        d.path
                    ));
                }
                problems.push(format!("'{}' hung", d.path));
                continue;
            }
            match &d.latest {
                Some(Err(e)) => {
                    if !d.failed {
                        d.failed = true;
                        log::warn(&format!(
                            "disk path '{}': no filesystem series: {}",
                            d.path, e
                        ));
                    }
                    problems.push(format!("'{}': {}", d.path, e));
                }
                Some(Ok(_)) => d.failed = false,
                None => {} // first answer not in yet
            }
        }
        let mounts = match sysfs::read_into(&self.mountinfo, &mut self.buf) {
            Ok(()) => parse_mountinfo(&self.buf),
            Err(e) => {
                problems.push(format!("{}: {}", self.mountinfo.display(), e));
                Vec::new()
            }
        };
        self.health.note(
            "filesystem metrics",
            (!problems.is_empty()).then(|| problems.join("; ")),
        );

        let mut series: Vec<(String, FsStat)> = Vec::new();
        for d in self.disks.iter().filter(|d| !d.hung) {
            let Some(Ok((real, stat))) = &d.latest else {
                continue;
            };
            let Some(m) = mount_of(&mounts, real) else {
                continue;
            };
            let body = label_body(&[
                ("device", &m.device),
                ("fstype", &m.fstype),
                ("mountpoint", &m.mountpoint),
            ]);
            if !series.iter().any(|(b, _)| *b == body) {
                series.push((body, *stat));
            }
        }
        let fam = |name, help, f: fn(&FsStat) -> u64| {
            let v: Vec<(&str, f64)> = series
                .iter()
                .map(|(b, s)| (b.as_str(), f(s) as f64))
                .collect();
            FamilyText::new(name, help, "gauge", &v)
        };
        [
            fam(
                "node_filesystem_size_bytes",
                "Filesystem size in bytes.",
                |s| s.size,
            ),
            fam(
                "node_filesystem_free_bytes",
                "Filesystem free space in bytes.",
                |s| s.free,
            ),
            fam(
                "node_filesystem_avail_bytes",
                "Filesystem space available to non-root users in bytes.",
                |s| s.avail,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo() {
        let m = parse_mountinfo(
            "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
             27 1 0:30 / / rw,relatime shared:1 - overlay overlay rw,lowerdir=/a\n\
             40 27 8:1 / /mnt/my\\040disk rw master:2 - ext4 /dev/sda1 rw\n\
             41 27 8:2 / /data rw - xfs /dev/sdb1 rw\n\
             42 27 8:3 / /data rw - ext4 /dev/sdc1 rw\n",
        );
        assert_eq!(m.len(), 5);
        assert_eq!(
            m[2],
            Mount {
                mountpoint: "/mnt/my disk".into(),
                fstype: "ext4".into(),
                device: "/dev/sda1".into()
            }
        );
        assert_eq!(
            mount_of(&m, Path::new("/mnt/my disk/x")).unwrap().device,
            "/dev/sda1"
        );
        assert_eq!(
            mount_of(&m, Path::new("/mnt/my")).unwrap().fstype,
            "overlay"
        );
        assert_eq!(mount_of(&m, Path::new("/")).unwrap().fstype, "overlay");
        assert_eq!(mount_of(&m, Path::new("/proc2")).unwrap().fstype, "overlay");
        // over-mounted: the last one is the visible one
        assert_eq!(
            mount_of(&m, Path::new("/data/x")).unwrap().device,
            "/dev/sdc1"
        );
        assert_eq!(unescape("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape("tail\\04"), "tail\\04");
    }

    #[test]
    fn statvfs_of_root() {
        let s = statvfs(Path::new("/")).unwrap();
        assert!(s.size > 0 && s.free <= s.size && s.avail <= s.free);
        assert!(statvfs(Path::new("/no/such/path")).is_err());
    }

    #[test]
    fn serves_root_and_dedups() {
        let mut c = FilesystemCollector::new(
            &["/".to_string(), "/".to_string(), "/proc/..".to_string()],
            &Roots::default(),
            Duration::from_millis(2000),
        );
        let f = c.collect();
        assert!(c.success());
        assert_eq!(f.len(), 3);
        assert_eq!(
            f[0].text.matches("node_filesystem_size_bytes{").count(),
            1,
            "{}",
            f[0].text
        );
        assert!(f[0].text.contains("mountpoint=\"/\""), "{}", f[0].text);
    }

    #[test]
    fn a_hung_statfs_is_skipped_and_does_not_hold_up_the_others() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let hang = Arc::new(AtomicBool::new(true));
        let h2 = Arc::clone(&hang);
        let stat: StatFn = Arc::new(move |p: &Path| {
            // "/proc" hangs until the test lets it go
            while p == Path::new("/proc") && h2.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            statvfs(p)
        });
        let mut c = FilesystemCollector::with_statfs(
            &["/proc".to_string(), "/".to_string()],
            &Roots::default(),
            Duration::from_millis(50),
            stat,
        );
        for round in 0..4 {
            let t0 = Instant::now();
            let f = c.collect();
            let took = t0.elapsed();
            // the first collection has no answer from the hung path yet; from the second on
            // it has been asked a whole interval ago: hung
            assert_eq!(c.success(), round == 0, "round {}", round);
            let text: String = f.iter().map(|f| f.text.as_str()).collect();
            assert!(
                text.contains("mountpoint=\"/\""),
                "round {}: {}",
                round,
                text
            );
            assert!(
                !text.contains("fstype=\"proc\""),
                "round {}: {}",
                round,
                text
            );
            // only the first collection waits for the hung path; later ones do not ask it again
            let bound = if round == 0 { 1000 } else { 40 };
            assert!(
                took < Duration::from_millis(bound),
                "round {} took {:?}",
                round,
                took
            );
        }
        hang.store(false, Ordering::Release);
        std::thread::sleep(Duration::from_millis(50));
        let f = c.collect(); // takes the late answer (served), asks again
        let text: String = f.iter().map(|f| f.text.as_str()).collect();
        assert!(text.contains("fstype=\"proc\""), "{}", text);
        let f = c.collect();
        let text: String = f.iter().map(|f| f.text.as_str()).collect();
        assert!(text.contains("fstype=\"proc\""), "{}", text);
        assert!(c.success());
        // dropping the collector does not wait for anything
        let t0 = Instant::now();
        drop(c);
        assert!(t0.elapsed() < Duration::from_millis(500));
    }
}
