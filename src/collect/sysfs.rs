//! Where the collectors read the kernel's files, and the few system constants they need.
//!
//! - **`INFERMETRICS_SYSFS_ROOT`** (default `/sys`) replaces the `/sys` prefix of every sysfs
//!   file the library reads (cgroup files under `/sys/fs/cgroup`, `/sys/devices/system/cpu/online`,
//!   and, with the GPU issue, the DRM/hwmon files). Operators can point it at a host's `/sys`
//!   bind-mounted elsewhere; tests point it at fixture trees.
//! - **`INFERMETRICS_PROC_ROOT`** (default `/proc`) is **for tests**: it replaces the `/proc`
//!   prefix of exactly two files, `/proc/self/cgroup` (which cgroup this process is in) and
//!   `/proc/self/mountinfo` (which mount holds a disk path), so a test can describe a cgroup or
//!   a mount table that this machine does not have. Every other `/proc` file is always read
//!   from `/proc` (the process, CPU and host series describe the real process and host).
//!
//! Both are read when a server starts (on the caller's thread, never on a collector thread, so
//! a host calling `setenv` meanwhile cannot race with us); each server keeps the roots it
//! started with. An empty value means the default.
//!
//! System constants come from `sysconf(3)`, not from the auxiliary vector: rustix's auxv
//! reader (what procfs's own `ticks_per_second` uses) crashes under valgrind.
use std::io::Read;
use std::path::{Path, PathBuf};

/// The environment variable that relocates `/sys`.
pub const SYSFS_ROOT_ENV: &str = "INFERMETRICS_SYSFS_ROOT";
/// The environment variable that relocates `/proc/self/cgroup` and `/proc/self/mountinfo` (tests).
pub const PROC_ROOT_ENV: &str = "INFERMETRICS_PROC_ROOT";

/// The roots a server's collectors read under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roots {
    /// Stands for `/sys`.
    pub sys: PathBuf,
    /// Stands for `/proc` in `/proc/self/cgroup` and `/proc/self/mountinfo` only.
    pub proc: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            sys: PathBuf::from("/sys"),
            proc: PathBuf::from("/proc"),
        }
    }
}

impl Roots {
    /// The roots named by `INFERMETRICS_SYSFS_ROOT` and `INFERMETRICS_PROC_ROOT`, else the defaults.
    pub fn from_env() -> Roots {
        fn var(name: &str, default: &str) -> PathBuf {
            match std::env::var_os(name) {
                Some(v) if !v.is_empty() => PathBuf::from(v),
                _ => PathBuf::from(default),
            }
        }
        Roots {
            sys: var(SYSFS_ROOT_ENV, "/sys"),
            proc: var(PROC_ROOT_ENV, "/proc"),
        }
    }

    /// `/sys/<rel>` under the sysfs root; `rel` has no leading slash (`"fs/cgroup"`).
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys.join(rel)
    }

    /// `/proc/<rel>` under the proc root (only for `self/cgroup` and `self/mountinfo`).
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.proc.join(rel)
    }
}

/// Reads a small kernel file into `buf` (cleared first), without the allocation of
/// `read_to_string` on every call.
pub fn read_into(path: &Path, buf: &mut String) -> std::io::Result<()> {
    buf.clear();
    std::fs::File::open(path)?.read_to_string(buf)?;
    Ok(())
}

/// A small kernel file as a string.
pub fn read(path: &Path) -> std::io::Result<String> {
    let mut s = String::new();
    read_into(path, &mut s)?;
    Ok(s)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of `/proc/stat` and `/proc/<pid>/stat`.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as u64,
        _ => 100,
    }
}

/// The page size (`sysconf(_SC_PAGESIZE)`).
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as u64,
        _ => 4096,
    }
}

/// How many CPUs are online: `/sys/devices/system/cpu/online` under the sysfs root (a list
/// such as `0-3,6`), else `sysconf(_SC_NPROCESSORS_ONLN)`, else 1.
pub fn online_cpus(roots: &Roots) -> u32 {
    if let Ok(s) = read(&roots.sys("devices/system/cpu/online")) {
        if let Some(n) = count_cpu_list(s.trim()) {
            return n;
        }
    }
    // SAFETY: sysconf has no preconditions
    match unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) } {
        n if n > 0 => n as u32,
        _ => 1,
    }
}

/// Counts the CPUs of a kernel CPU list (`0-3,6` is 5); `None` if it does not parse or is empty.
pub fn count_cpu_list(s: &str) -> Option<u32> {
    let mut n = 0u32;
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                if b < a {
                    return None;
                }
                n += b - a + 1;
            }
            None => {
                part.parse::<u32>().ok()?;
                n += 1;
            }
        }
    }
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("0-3,6"), Some(5));
        assert_eq!(count_cpu_list("0-1,4-5,8"), Some(5));
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list("x"), None);
    }

    #[test]
    fn roots_join() {
        let r = Roots {
            sys: PathBuf::from("/tmp/fx/sys"),
            proc: PathBuf::from("/tmp/fx/proc"),
        };
        assert_eq!(r.sys("fs/cgroup"), PathBuf::from("/tmp/fx/sys/fs/cgroup"));
        assert_eq!(
            r.proc("self/cgroup"),
            PathBuf::from("/tmp/fx/proc/self/cgroup")
        );
        assert!(clock_ticks() > 0 && page_size() >= 4096);
        assert!(online_cpus(&Roots::default()) >= 1);
    }
}
