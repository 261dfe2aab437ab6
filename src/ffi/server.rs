//! `INFERMETRICS_ServerOptions` and `INFERMETRICS_Server`: the embedded /metrics server.
use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use super::boundary::{castable, guard, to_raw, try_mut, try_out, try_ref, try_str, try_take};
use super::error::INFERMETRICS_Error;
use crate::collect::pinned;
use crate::exporter::{EnvOverrides, Server, ServerConfig};

/// A C `bool` as it crosses the boundary (any non-zero byte is true).
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct CBool(pub u8);

/// Options for INFERMETRICS_ServerNew. Defaults (Triton's): address "0.0.0.0", port 8002,
/// interval 2000 ms, GPU, CPU and pinned-memory metrics on; process and container metrics on,
/// host metrics off. Owned by the caller; free with
/// INFERMETRICS_ServerOptionsDelete (it may be freed right after ServerNew).
pub struct INFERMETRICS_ServerOptions {
    _private: [u8; 0],
}

pub(crate) struct Options {
    config: ServerConfig,
    env: EnvOverrides,
}

castable!(INFERMETRICS_ServerOptions => Options, 7);

/// A running metrics server: a bound socket serving GET /metrics, plus collector threads.
/// Owned by the caller; free with INFERMETRICS_ServerDelete.
pub struct INFERMETRICS_Server {
    _private: [u8; 0],
}

castable!(INFERMETRICS_Server => Server, 8);

/// Creates server options with the defaults, then reads the environment overrides
/// INFERMETRICS_ADDRESS, INFERMETRICS_PORT, INFERMETRICS_INTERVAL_MS,
/// INFERMETRICS_NVML_LIBRARY, INFERMETRICS_MAX_CONNECTIONS, INFERMETRICS_OPENMETRICS (1/0/
/// true/false) and INFERMETRICS_WEB_CONFIG, the collector switches
/// INFERMETRICS_COLLECTORS, INFERMETRICS_<NAME>_METRICS (PROCESS, CONTAINER, HOST, CPU, GPU,
/// PINNED_MEMORY), INFERMETRICS_DISK_PATHS and INFERMETRICS_GPU_VENDORS. An environment value,
/// when set, wins over what code sets later with the setters, so an operator can move a server
/// without
/// rebuilding the host. INFERMETRICS_ServerNew logs one line for each variable that changes
/// what code set, e.g. "INFERMETRICS_PORT=9100 overrides the port 8002 set by the host".
///
/// @param options out: the new options, owned by the caller (free with INFERMETRICS_ServerOptionsDelete).
/// @return NULL on success; INVALID_ARG if `options` is NULL or an environment variable
///         does not parse (the message names the variable and its value).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsNew(
    options: *mut *mut INFERMETRICS_ServerOptions,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsNew", || {
        let out = try_out(options, "options")?;
        let env = EnvOverrides::from_env()?;
        *out = to_raw(Options {
            config: ServerConfig::default(),
            env,
        })?;
        Ok(())
    })
}

/// Frees server options.
///
/// @param options the options; dangling after success.
/// @return NULL on success; INVALID_ARG if NULL or not live options.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsDelete(
    options: *mut INFERMETRICS_ServerOptions,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsDelete", || {
        drop(try_take(options, "options")?);
        Ok(())
    })
}

/// Sets the address to bind: an IPv4 or IPv6 literal ("0.0.0.0", "127.0.0.1", "::", "::1")
/// or "localhost". Default "0.0.0.0".
///
/// @param options live options.
/// @param address the address (copied).
/// @return NULL on success; INVALID_ARG for NULL arguments or an address that does not parse.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetAddress(
    options: *mut INFERMETRICS_ServerOptions,
    address: *const c_char,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetAddress", || {
        let o = try_mut(options, "options")?;
        let a = try_str(address, "address")?;
        crate::exporter::check_address(a)?;
        o.config.address = a.to_owned();
        Ok(())
    })
}

/// Sets the TCP port. Default 8002; 0 picks a free port (see INFERMETRICS_ServerPort).
///
/// @param options live options.
/// @param port the port.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetPort(
    options: *mut INFERMETRICS_ServerOptions,
    port: u16,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetPort", || {
        try_mut(options, "options")?.config.port = port;
        Ok(())
    })
}

/// Sets how often the collectors refresh, in milliseconds. Default 2000. 0 is taken as 1.
///
/// @param options live options.
/// @param ms the interval.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetMetricsInterval(
    options: *mut INFERMETRICS_ServerOptions,
    ms: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetMetricsInterval", || {
        try_mut(options, "options")?.config.interval = Duration::from_millis(ms);
        Ok(())
    })
}

/// Switches the GPU collector (NVML) on or off. Default on. Off means no GPU series.
///
/// @param options live options.
/// @param enable true for on.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetGpuMetrics(
    options: *mut INFERMETRICS_ServerOptions,
    enable: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetGpuMetrics", || {
        try_mut(options, "options")?.config.gpu = enable.0 != 0;
        Ok(())
    })
}

/// Switches the CPU and host-memory collector on or off. Default on.
///
/// @param options live options.
/// @param enable true for on.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetCpuMetrics(
    options: *mut INFERMETRICS_ServerOptions,
    enable: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetCpuMetrics", || {
        try_mut(options, "options")?.config.cpu = enable.0 != 0;
        Ok(())
    })
}

/// Switches the pinned-memory pool series on or off. Default on.
///
/// @param options live options.
/// @param enable true for on.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics(
    options: *mut INFERMETRICS_ServerOptions,
    enable: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetPinnedMemoryMetrics", || {
        try_mut(options, "options")?.config.pinned = enable.0 != 0;
        Ok(())
    })
}

/// Sets the most connections the server keeps open at once. Default 256. At the cap, a new
/// connection closes one that is not inside a request (a partial request head first, else
/// the longest-idle one); when every connection is inside a request, new ones wait in the
/// kernel's backlog until one finishes. So the server never holds more sockets than this
/// (plus its listener and one connection being accepted). Also settable with the
/// environment variable INFERMETRICS_MAX_CONNECTIONS.
///
/// @param options live options.
/// @param max_connections the cap, 1 to 65536.
/// @return NULL on success; INVALID_ARG if `options` is NULL or `max_connections` is 0 or
///         larger than 65536.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetMaxConnections(
    options: *mut INFERMETRICS_ServerOptions,
    max_connections: u32,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetMaxConnections", || {
        let o = try_mut(options, "options")?;
        o.config.max_connections =
            crate::exporter::check_max_connections(u64::from(max_connections)).map_err(|e| {
                crate::core::Error::invalid_arg(format!(
                    "argument 'max_connections': {}",
                    e.message
                ))
            })?;
        Ok(())
    })
}

/// Whether the server opens its own HTTP listener. Default true. False: INFERMETRICS_ServerNew
/// binds no socket and starts no HTTP thread, only the collectors, for a host that serves the
/// series from its own HTTP server: render them with INFERMETRICS_ServerMetrics and
/// INFERMETRICS_MetricsRender (INFERMETRICS_MetricsNegotiate picks the format and encoding for a
/// request). The address, port and max-connections options (and their environment variables)
/// are then unused; INFERMETRICS_ServerPort answers UNAVAILABLE. Any number of servers without
/// a listener may run beside each other and beside listening ones.
///
/// @param options live options.
/// @param listen true to bind and serve GET /metrics; false for collectors only.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetListen(
    options: *mut INFERMETRICS_ServerOptions,
    listen: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetListen", || {
        try_mut(options, "options")?.config.listen = listen.0 != 0;
        Ok(())
    })
}

/// Sets the NVML library to load, for drivers in unusual places (also settable with the
/// environment variable INFERMETRICS_NVML_LIBRARY). Default: "libnvidia-ml.so.1" from the
/// usual library paths. Not loaded until the server starts; a missing library means no GPU
/// series and one log line, never a failure.
///
/// @param options live options.
/// @param path the library's path (copied).
/// @return NULL on success; INVALID_ARG for NULL arguments or an empty path.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetNvmlLibrary(
    options: *mut INFERMETRICS_ServerOptions,
    path: *const c_char,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetNvmlLibrary", || {
        let o = try_mut(options, "options")?;
        let p = try_str(path, "path")?;
        if p.is_empty() {
            return Err(crate::core::Error::invalid_arg("argument 'path' is empty"));
        }
        o.config.nvml_library = Some(PathBuf::from(p));
        Ok(())
    })
}

/// Serves OpenMetrics 1.0 text (content type "application/openmetrics-text; version=1.0.0;
/// charset=utf-8", ending with "# EOF") to scrapes whose Accept header prefers it (Prometheus
/// does); others keep getting the 0.0.4 text. Default **off**: Prometheus stores every
/// counter sample of an OpenMetrics target as NAME_total, so counters without the suffix
/// (Triton's nv_inference_*, nv_energy_consumption) would change their stored names (see
/// the README). The environment variable INFERMETRICS_OPENMETRICS (1/0/true/false), when set,
/// wins over this call (and says so in the log).
///
/// @param options live options.
/// @param enable true to offer OpenMetrics.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetOpenMetrics(
    options: *mut INFERMETRICS_ServerOptions,
    enable: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetOpenMetrics", || {
        try_mut(options, "options")?.config.openmetrics = enable.0 != 0;
        Ok(())
    })
}

/// Sets a web configuration file in the format of the Prometheus exporter-toolkit
/// (web-config.yml, as node_exporter and Prometheus read it): tls_server_config (cert_file /
/// cert, key_file / key, client_auth_type NoClientCert, VerifyClientCertIfGiven or
/// RequireAndVerifyClientCert, client_ca_file / client_ca, min_version and max_version TLS12
/// or TLS13), basic_auth_users (user: bcrypt hash) and http_server_config.headers. With
/// tls_server_config the server speaks HTTPS only (plain HTTP gets 400 and a close); with
/// basic_auth_users every request needs a user and password (401 with WWW-Authenticate
/// otherwise). The file is read by INFERMETRICS_ServerNew, which fails on a bad file, and
/// read again when it or a file it names changes (checked at most once a second, as
/// connections arrive), so certificates can be rotated without restarting the host; a file
/// that fails to load then keeps the last good configuration and is logged once. Relative
/// paths in it are relative to its directory. The environment variable
/// INFERMETRICS_WEB_CONFIG, when set, wins over this call. Default: none (plain HTTP, no
/// authentication).
///
/// @param options live options.
/// @param path the file's path (copied; read by INFERMETRICS_ServerNew).
/// @return NULL on success; INVALID_ARG for NULL arguments or an empty path.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetWebConfig(
    options: *mut INFERMETRICS_ServerOptions,
    path: *const c_char,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetWebConfig", || {
        let o = try_mut(options, "options")?;
        let p = try_str(path, "path")?;
        if p.is_empty() {
            return Err(crate::core::Error::invalid_arg("argument 'path' is empty"));
        }
        o.config.web_config = Some(PathBuf::from(p));
        Ok(())
    })
}

/// Switches the process collector on or off: the standard process_cpu_seconds_total,
/// process_resident_memory_bytes, process_virtual_memory_bytes, process_start_time_seconds,
/// process_open_fds, process_max_fds and process_threads series of the Prometheus client
/// libraries. Default on. The environment variable INFERMETRICS_PROCESS_METRICS (0/1), when
/// set, wins over this call (and says so in the log).
///
/// @param options live options.
/// @param enable true for on.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetProcessMetrics(
    options: *mut INFERMETRICS_ServerOptions,
    enable: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetProcessMetrics", || {
        try_mut(options, "options")?.config.process = enable.0 != 0;
        Ok(())
    })
}

/// Switches the container collector on or off: CPU usage, limit, utilisation and throttling,
/// memory usage, working set and limit, and OOM kills of this process's cgroup (v2, or v1),
/// as nv_container_* series. Default on; where no cgroup is found the collector serves
/// nothing and says so once in the log. The environment variable INFERMETRICS_CONTAINER_METRICS
/// (0/1), when set, wins over this call.
///
/// @param options live options.
/// @param enable true for on.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetContainerMetrics(
    options: *mut INFERMETRICS_ServerOptions,
    enable: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetContainerMetrics", || {
        try_mut(options, "options")?.config.container = enable.0 != 0;
        Ok(())
    })
}

/// Switches the host collectors on or off: node_exporter's node_memory_*, node_load*,
/// node_procs_*, node_processes_pids and node_filesystem_* series (for the disk paths, see
/// INFERMETRICS_ServerOptionsSetDiskPaths) and nv_cpu_core_utilization{cpu}. Default **off**
/// (next to a node_exporter the host would be counted twice). The environment variable
/// INFERMETRICS_HOST_METRICS (0/1), when set, wins over this call.
///
/// @param options live options.
/// @param enable true for on.
/// @return NULL on success; INVALID_ARG if `options` is NULL.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetHostMetrics(
    options: *mut INFERMETRICS_ServerOptions,
    enable: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetHostMetrics", || {
        try_mut(options, "options")?.config.host = enable.0 != 0;
        Ok(())
    })
}

/// Switches one collector on or off by name, the uniform form of the Set...Metrics calls:
/// "pinned", "cpu", "gpu", "process", "container" or "host". The environment variable
/// INFERMETRICS_COLLECTORS (e.g. "host,-gpu": a name or +name switches on, -name off, "all"
/// and "none" every collector) and each collector's own variable win over this call.
///
/// @param options live options.
/// @param name the collector's name.
/// @param enable true for on.
/// @return NULL on success; INVALID_ARG for NULL arguments or an unknown name (the message
///         lists the known ones).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetCollector(
    options: *mut INFERMETRICS_ServerOptions,
    name: *const c_char,
    enable: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetCollector", || {
        let o = try_mut(options, "options")?;
        let n = try_str(name, "name")?;
        crate::collect::set_enabled(&mut o.config, n, enable.0 != 0)
    })
}

/// Switches one GPU vendor on or off: "nvidia" (NVML), "amd" (amdgpu, from sysfs) or "intel"
/// (xe and i915, from sysfs). Default: all on. Every vendor serves the same nv_gpu_* families
/// (see docs/metrics.md); a vendor without GPUs on the machine costs nothing. Switching the GPU
/// collector off (INFERMETRICS_ServerOptionsSetGpuMetrics) switches every vendor off. The
/// environment variable INFERMETRICS_GPU_VENDORS (e.g. "-amd,-intel": a name or +name switches
/// on, -name off, "all" and "none" every vendor; applied left to right), when set, wins over
/// this call.
///
/// @param options live options.
/// @param vendor "nvidia", "amd" or "intel".
/// @param enable true for on.
/// @return NULL on success; INVALID_ARG for NULL arguments or an unknown vendor (the message
///         lists the known ones).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetGpuVendor(
    options: *mut INFERMETRICS_ServerOptions,
    vendor: *const c_char,
    enable: CBool,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetGpuVendor", || {
        let o = try_mut(options, "options")?;
        let v = try_str(vendor, "vendor")?;
        o.config.gpu_vendors.set(v, enable.0 != 0)
    })
}

/// Sets the paths whose filesystems the host collectors report (node_filesystem_size_bytes,
/// _free_bytes, _avail_bytes with labels device, fstype, mountpoint: those of the mount that
/// holds each path). Default "/". The environment variable INFERMETRICS_DISK_PATHS, when set,
/// wins over this call. A path whose statfs hangs (a dead network filesystem) is skipped and
/// logged once; it never holds up a scrape or the other series.
///
/// @param options live options.
/// @param paths comma-separated absolute paths, e.g. "/,/models" (copied).
/// @return NULL on success; INVALID_ARG for NULL arguments, a relative path or no path.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerOptionsSetDiskPaths(
    options: *mut INFERMETRICS_ServerOptions,
    paths: *const c_char,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerOptionsSetDiskPaths", || {
        let o = try_mut(options, "options")?;
        let p = try_str(paths, "paths")?;
        o.config.disk_paths = crate::collect::parse_disk_paths(p, "argument 'paths'")?;
        Ok(())
    })
}

/// Starts a metrics server: binds the socket before returning (unless the options say no
/// listener: then only the collectors start, see INFERMETRICS_ServerOptionsSetListen), runs each collector once,
/// then serves GET /metrics (and /metrics/, and HEAD) with content type
/// "text/plain; version=0.0.4; charset=utf-8" (or OpenMetrics, when enabled and asked for),
/// gzipped when the request's Accept-Encoding allows it; other paths 404, other methods 405,
/// malformed requests 400. With a web config (INFERMETRICS_ServerOptionsSetWebConfig): HTTPS
/// and/or basic authentication. One thread serves every connection (at most the options' max connections;
/// a request head must arrive within 10 s of its first byte, an idle connection is closed
/// after 60 s) and another renders, so a large registry delays no other connection.
/// Collectors run every interval on the server's threads, never on the caller's. Several
/// servers may run in one process, each on its own port.
///
/// @param server out: the running server, owned by the caller (free with INFERMETRICS_ServerDelete).
/// @param options live options (not retained).
/// @return NULL on success; UNAVAILABLE "Socket 'ADDR:PORT' already in use" for a taken port
///         (or another bind failure); INVALID_ARG for NULL arguments, a bad address or a
///         web config that does not load (the message names the file, the key and, where
///         the YAML parser gives it, the line).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerNew(
    server: *mut *mut INFERMETRICS_Server,
    options: *const INFERMETRICS_ServerOptions,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerNew", || {
        let out = try_out(server, "server")?;
        let o = try_ref(options, "options")?;
        let mut config = o.config.clone();
        o.env.apply(&mut config);
        *out = to_raw(Server::start(&config)?)?;
        Ok(())
    })
}

/// The port the server is bound to (useful with port 0).
///
/// @param server a live server.
/// @param port out: the port.
/// @return NULL on success; INVALID_ARG for NULL arguments; UNAVAILABLE for a server started
///         without a listener (INFERMETRICS_ServerOptionsSetListen false).
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerPort(
    server: *mut INFERMETRICS_Server,
    port: *mut u16,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerPort", || {
        let s = try_ref(server, "server")?;
        let out = try_out(port, "port")?;
        *out = s.port().ok_or_else(|| {
            crate::core::Error::unavailable(
                "this server has no listener (it was started with INFERMETRICS_ServerOptionsSetListen false), so it has no port: serve its series with INFERMETRICS_MetricsRender",
            )
        })?;
        Ok(())
    })
}

/// Stops a server: stops and joins its threads (promptly, well under a second), and frees
/// its port before returning. Safe while a scrape is in flight. In a forked child that
/// inherited the server this only frees the handle (the server's threads exist in the
/// parent only, and its sockets were closed in the child at the fork).
///
/// @param server the server; dangling after success.
/// @return NULL on success; INVALID_ARG if NULL or not a live server.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_ServerDelete(
    server: *mut INFERMETRICS_Server,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_ServerDelete", || {
        drop(try_take(server, "server")?);
        Ok(())
    })
}

/// Reports the host's pinned-memory pool, served as nv_pinned_memory_pool_total_bytes and
/// nv_pinned_memory_pool_used_bytes (0 before any report) by every server from its next
/// collection on. Process-wide; lock-free.
///
/// @param total_bytes pool size.
/// @param used_bytes bytes in use; at most `total_bytes`.
/// @return NULL on success; INVALID_ARG if `used_bytes` > `total_bytes`.
#[no_mangle]
pub unsafe extern "C" fn INFERMETRICS_PinnedMemoryPoolReport(
    total_bytes: u64,
    used_bytes: u64,
) -> *mut INFERMETRICS_Error {
    guard("INFERMETRICS_PinnedMemoryPoolReport", || {
        pinned::report(total_bytes, used_bytes)
    })
}
