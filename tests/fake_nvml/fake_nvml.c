/*
 * fake_nvml.c - a tiny stand-in for NVIDIA's libnvidia-ml.so.1, for testing infermetrics' GPU
 * collector on machines without a GPU.
 *
 * It exports a subset of the NVML C API with the real ABI (function signatures, struct layouts and
 * nvmlReturn_t codes as in nvml.h / nvml-wrapper-sys 0.10 bindings). What every call answers is
 * read from a small text file (env FAKE_NVML_CONFIG), re-read on every call so a test can change
 * the answers while the library is in use; per-symbol call counts are written to env
 * FAKE_NVML_STATS. See README.md next to this file for the control format.
 *
 * Build: gcc -shared -fPIC -O2 -o libnvidia-ml.so.1 fake_nvml.c -lpthread
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* NVML ABI (subset of nvml.h)                                                                  */
/* ------------------------------------------------------------------------------------------ */

#define FAKE_API __attribute__((visibility("default")))

typedef enum nvmlReturn_enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_ALREADY_INITIALIZED = 5,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_INSUFFICIENT_POWER = 8,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_IRQ_ISSUE = 11,
    NVML_ERROR_LIBRARY_NOT_FOUND = 12,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_CORRUPTED_INFOROM = 14,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_RESET_REQUIRED = 16,
    NVML_ERROR_OPERATING_SYSTEM = 17,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVML_ERROR_IN_USE = 19,
    NVML_ERROR_MEMORY = 20,
    NVML_ERROR_NO_DATA = 21,
    NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22,
    NVML_ERROR_INSUFFICIENT_RESOURCES = 23,
    NVML_ERROR_FREQ_NOT_SUPPORTED = 24,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_DEPRECATED = 26,
    NVML_ERROR_NOT_READY = 27,
    NVML_ERROR_GPU_NOT_FOUND = 28,
    NVML_ERROR_INVALID_STATE = 29,
    NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30,
    NVML_ERROR_UNKNOWN = 999
} nvmlReturn_t;

typedef enum nvmlTemperatureSensors_enum {
    NVML_TEMPERATURE_GPU = 0,
    NVML_TEMPERATURE_COUNT
} nvmlTemperatureSensors_t;

/* Opaque in nvml.h; here the handle points at one of the static per-device structs below. */
typedef struct nvmlDevice_st {
    unsigned int index;
    unsigned int magic;
} *nvmlDevice_t;

typedef struct nvmlUtilization_st {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct nvmlMemory_st {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlMemory_v2_st {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;

#define NVML_STRUCT_VERSION(data, ver) (unsigned int)(sizeof(nvml##data##_v##ver##_t) | ((ver) << 24U))
#define nvmlMemory_v2 NVML_STRUCT_VERSION(Memory, 2)

_Static_assert(sizeof(nvmlMemory_v2_t) == 40, "nvmlMemory_v2_t must match the NVML ABI (40 bytes)");
_Static_assert(offsetof(nvmlMemory_v2_t, total) == 8, "nvmlMemory_v2_t.total offset");
_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t must match the NVML ABI (24 bytes)");
_Static_assert(sizeof(nvmlUtilization_t) == 8, "nvmlUtilization_t must match the NVML ABI");
_Static_assert(sizeof(nvmlReturn_t) == 4, "nvmlReturn_t must be 4 bytes");

/* ------------------------------------------------------------------------------------------ */
/* State                                                                                        */
/* ------------------------------------------------------------------------------------------ */

#define FAKE_MAX_DEVICES 64
#define FAKE_DEVICE_MAGIC 0x4e564d4cu /* "NVML" */
#define FAKE_STR_LEN 96               /* NVML_DEVICE_UUID_V2_BUFFER_SIZE / NAME_V2 */
#define FAKE_CONFIG_MAX (64 * 1024)

/* Every exported symbol, in the order the stats file lists them. */
#define FAKE_SYMBOLS(X)                         \
    X(nvmlInit_v2)                              \
    X(nvmlInitWithFlags)                        \
    X(nvmlShutdown)                             \
    X(nvmlErrorString)                          \
    X(nvmlSystemGetDriverVersion)               \
    X(nvmlSystemGetNVMLVersion)                 \
    X(nvmlDeviceGetCount_v2)                    \
    X(nvmlDeviceGetHandleByIndex_v2)            \
    X(nvmlDeviceGetHandleByUUID)                \
    X(nvmlDeviceGetIndex)                       \
    X(nvmlDeviceGetUUID)                        \
    X(nvmlDeviceGetName)                        \
    X(nvmlDeviceGetUtilizationRates)            \
    X(nvmlDeviceGetMemoryInfo)                  \
    X(nvmlDeviceGetMemoryInfo_v2)               \
    X(nvmlDeviceGetPowerUsage)                  \
    X(nvmlDeviceGetPowerManagementLimit)        \
    X(nvmlDeviceGetEnforcedPowerLimit)          \
    X(nvmlDeviceGetTotalEnergyConsumption)      \
    X(nvmlDeviceGetTemperature)

#define FAKE_SYM_ENUM(name) SYM_##name,
enum fake_symbol { FAKE_SYMBOLS(FAKE_SYM_ENUM) SYM__COUNT };
#define FAKE_SYM_NAME(name) #name,
static const char *const g_symbol_names[SYM__COUNT] = {FAKE_SYMBOLS(FAKE_SYM_NAME)};

/* Fields whose answers can be made to fail or to be slow. */
enum fake_field { F_UUID, F_NAME, F_UTIL, F_MEM, F_POWER, F_LIMIT, F_ENERGY, F_TEMP, F_HANDLE, F__COUNT };
static const char *const g_field_names[F__COUNT] = {"uuid",  "name",   "util", "mem",   "power",
                                                    "limit", "energy", "temp", "handle"};

struct fake_gpu {
    char uuid[FAKE_STR_LEN];
    char name[FAKE_STR_LEN];
    unsigned int util;     /* gpu %, 0..100 */
    unsigned int mem_util; /* memory-controller %, 0..100 */
    unsigned long long mem_total;
    unsigned long long mem_used;
    unsigned long long mem_reserved;
    unsigned int power_mw;
    unsigned int limit_mw;
    unsigned int enforced_limit_mw; /* 0 = same as limit_mw */
    unsigned long long energy_mj;
    unsigned int temp_c;
    int gone;
    nvmlReturn_t error[F__COUNT];
    unsigned int delay_ms[F__COUNT];
};

struct fake_config {
    nvmlReturn_t init_result;
    unsigned int init_delay_ms;
    unsigned int count;
    int gone;
    char driver_version[FAKE_STR_LEN];
    struct fake_gpu gpu[FAKE_MAX_DEVICES];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_config g_cfg;
static int g_cfg_loaded;              /* g_cfg holds a parse result (or the defaults) */
static char *g_cfg_text;              /* the text g_cfg was parsed from; NULL = defaults */
static size_t g_cfg_text_len;
static unsigned int g_init_refcount;  /* nvmlInit / nvmlShutdown are reference counted */
static unsigned long long g_calls[SYM__COUNT];
static struct nvmlDevice_st g_devices[FAKE_MAX_DEVICES];

/* ------------------------------------------------------------------------------------------ */
/* Config                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void set_defaults(struct fake_config *c) {
    memset(c, 0, sizeof(*c));
    c->init_result = NVML_SUCCESS;
    c->count = 1;
    snprintf(c->driver_version, sizeof(c->driver_version), "%s", "580.95.05");
    for (unsigned int i = 0; i < FAKE_MAX_DEVICES; i++) {
        struct fake_gpu *g = &c->gpu[i];
        snprintf(g->uuid, sizeof(g->uuid), "GPU-00000000-0000-0000-0000-%012u", i);
        snprintf(g->name, sizeof(g->name), "%s", "NVIDIA Fake GPU 80GB");
        g->util = 42;
        g->mem_util = 17;
        g->mem_total = 80ULL << 30;  /* 80 GiB */
        g->mem_used = 1ULL << 30;    /* 1 GiB */
        g->mem_reserved = 0;
        g->power_mw = 150000;        /* 150 W */
        g->limit_mw = 700000;        /* 700 W */
        g->enforced_limit_mw = 0;
        g->energy_mj = 1000000;      /* 1000 J */
        g->temp_c = 45;
    }
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

static int parse_ull(const char *v, unsigned long long *out) {
    if (*v == '\0' || *v == '-') return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 0);
    if (errno != 0 || end == v || *end != '\0') return -1;
    *out = x;
    return 0;
}

static int parse_uint(const char *v, unsigned int *out) {
    unsigned long long x;
    if (parse_ull(v, &x) != 0 || x > 0xffffffffULL) return -1;
    *out = (unsigned int)x;
    return 0;
}

static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static const struct {
    const char *name;
    nvmlReturn_t code;
} g_error_names[] = {
    {"ok", NVML_SUCCESS},
    {"none", NVML_SUCCESS},
    {"success", NVML_SUCCESS},
    {"uninitialized", NVML_ERROR_UNINITIALIZED},
    {"invalid_argument", NVML_ERROR_INVALID_ARGUMENT},
    {"not_supported", NVML_ERROR_NOT_SUPPORTED},
    {"no_permission", NVML_ERROR_NO_PERMISSION},
    {"not_found", NVML_ERROR_NOT_FOUND},
    {"insufficient_size", NVML_ERROR_INSUFFICIENT_SIZE},
    {"insufficient_power", NVML_ERROR_INSUFFICIENT_POWER},
    {"driver_not_loaded", NVML_ERROR_DRIVER_NOT_LOADED},
    {"timeout", NVML_ERROR_TIMEOUT},
    {"irq_issue", NVML_ERROR_IRQ_ISSUE},
    {"corrupted_inforom", NVML_ERROR_CORRUPTED_INFOROM},
    {"gpu_is_lost", NVML_ERROR_GPU_IS_LOST},
    {"reset_required", NVML_ERROR_RESET_REQUIRED},
    {"operating_system", NVML_ERROR_OPERATING_SYSTEM},
    {"lib_rm_version_mismatch", NVML_ERROR_LIB_RM_VERSION_MISMATCH},
    {"in_use", NVML_ERROR_IN_USE},
    {"memory", NVML_ERROR_MEMORY},
    {"no_data", NVML_ERROR_NO_DATA},
    {"insufficient_resources", NVML_ERROR_INSUFFICIENT_RESOURCES},
    {"argument_version_mismatch", NVML_ERROR_ARGUMENT_VERSION_MISMATCH},
    {"not_ready", NVML_ERROR_NOT_READY},
    {"gpu_not_found", NVML_ERROR_GPU_NOT_FOUND},
    {"unknown", NVML_ERROR_UNKNOWN},
};

/* An error name from the table above, or a decimal nvmlReturn_t code. */
static int parse_error(const char *v, nvmlReturn_t *out) {
    for (size_t i = 0; i < sizeof(g_error_names) / sizeof(g_error_names[0]); i++) {
        if (!strcmp(v, g_error_names[i].name)) {
            *out = g_error_names[i].code;
            return 0;
        }
    }
    unsigned int code;
    if (parse_uint(v, &code) == 0) {
        *out = (nvmlReturn_t)code;
        return 0;
    }
    return -1;
}

static int parse_field(const char *s, size_t len) {
    for (int f = 0; f < F__COUNT; f++) {
        if (strlen(g_field_names[f]) == len && !strncmp(s, g_field_names[f], len)) return f;
    }
    return -1;
}

/* Applies one `key=value`; returns 0, or -1 for an unknown key / bad value. */
static int apply_setting(struct fake_config *c, const char *key, const char *val) {
    if (!strcmp(key, "init")) {
        if (!strcmp(val, "fail")) {
            c->init_result = NVML_ERROR_DRIVER_NOT_LOADED;
            return 0;
        }
        return parse_error(val, &c->init_result);
    }
    if (!strcmp(key, "init.delay_ms")) return parse_uint(val, &c->init_delay_ms);
    if (!strcmp(key, "count")) {
        unsigned int n;
        if (parse_uint(val, &n) != 0 || n > FAKE_MAX_DEVICES) return -1;
        c->count = n;
        return 0;
    }
    if (!strcmp(key, "gone")) return parse_bool(val, &c->gone);
    if (!strcmp(key, "driver_version")) {
        if (strlen(val) >= sizeof(c->driver_version)) return -1;
        snprintf(c->driver_version, sizeof(c->driver_version), "%s", val);
        return 0;
    }
    if (strncmp(key, "gpu", 3) != 0) return -1;

    const char *p = key + 3;
    if (*p < '0' || *p > '9') return -1;
    unsigned int idx = 0;
    while (*p >= '0' && *p <= '9') {
        idx = idx * 10 + (unsigned int)(*p - '0');
        if (idx >= FAKE_MAX_DEVICES) return -1;
        p++;
    }
    if (*p != '.') return -1;
    const char *sub = p + 1;
    struct fake_gpu *g = &c->gpu[idx];

    if (!strcmp(sub, "uuid") || !strcmp(sub, "name")) {
        char *dst = !strcmp(sub, "uuid") ? g->uuid : g->name;
        if (strlen(val) >= FAKE_STR_LEN) return -1;
        snprintf(dst, FAKE_STR_LEN, "%s", val);
        return 0;
    }
    if (!strcmp(sub, "util")) return parse_uint(val, &g->util);
    if (!strcmp(sub, "mem_util")) return parse_uint(val, &g->mem_util);
    if (!strcmp(sub, "mem_total")) return parse_ull(val, &g->mem_total);
    if (!strcmp(sub, "mem_used")) return parse_ull(val, &g->mem_used);
    if (!strcmp(sub, "mem_reserved")) return parse_ull(val, &g->mem_reserved);
    if (!strcmp(sub, "power_mw")) return parse_uint(val, &g->power_mw);
    if (!strcmp(sub, "limit_mw")) return parse_uint(val, &g->limit_mw);
    if (!strcmp(sub, "enforced_limit_mw")) return parse_uint(val, &g->enforced_limit_mw);
    if (!strcmp(sub, "energy_mj")) return parse_ull(val, &g->energy_mj);
    if (!strcmp(sub, "temp_c")) return parse_uint(val, &g->temp_c);
    if (!strcmp(sub, "gone")) return parse_bool(val, &g->gone);

    const char *dot = strchr(sub, '.');
    if (dot == NULL) return -1;
    int f = parse_field(sub, (size_t)(dot - sub));
    if (f < 0) return -1;
    if (!strcmp(dot + 1, "error")) return parse_error(val, &g->error[f]);
    if (!strcmp(dot + 1, "delay_ms")) return parse_uint(val, &g->delay_ms[f]);
    return -1;
}

static void parse_config(struct fake_config *c, const char *text, size_t len, const char *path) {
    set_defaults(c);
    char *buf = malloc(len + 1);
    if (buf == NULL) return;
    memcpy(buf, text, len);
    buf[len] = '\0';
    unsigned int lineno = 0;
    /* strtok_r would skip empty lines and so miscount; walk lines by hand. */
    char *line = buf;
    while (line != NULL) {
        char *next = strchr(line, '\n');
        if (next != NULL) *next++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL) *hash = '\0';
        char *l = trim(line);
        if (*l != '\0') {
            char *eq = strchr(l, '=');
            if (eq == NULL) {
                fprintf(stderr, "fake_nvml: %s:%u: expected key=value, got '%s' (ignored)\n", path,
                        lineno, l);
            } else {
                *eq = '\0';
                char *key = trim(l);
                char *val = trim(eq + 1);
                if (apply_setting(c, key, val) != 0) {
                    fprintf(stderr, "fake_nvml: %s:%u: unknown key or bad value '%s=%s' (ignored)\n",
                            path, lineno, key, val);
                }
            }
        }
        line = next;
    }
    free(buf);
}

/* Reads the whole file into a malloc'd buffer; NULL if it cannot be read. */
static char *read_file(const char *path, size_t *len_out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (len == cap) {
            if (cap >= FAKE_CONFIG_MAX) break;
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) continue;
            free(buf);
            buf = NULL;
            break;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    *len_out = len;
    return buf;
}

/* Called with g_lock held: brings g_cfg up to date with FAKE_NVML_CONFIG (re-read every call,
 * re-parsed only when the text changed). */
static void refresh_config(void) {
    const char *path = getenv("FAKE_NVML_CONFIG");
    char *text = NULL;
    size_t len = 0;
    if (path != NULL && *path != '\0') {
        text = read_file(path, &len);
        if (text == NULL && (g_cfg_text != NULL || !g_cfg_loaded)) {
            fprintf(stderr, "fake_nvml: cannot read FAKE_NVML_CONFIG=%s (%s); using defaults\n", path,
                    strerror(errno));
        }
    }
    if (g_cfg_loaded) {
        if (text == NULL && g_cfg_text == NULL) return;
        if (text != NULL && g_cfg_text != NULL && len == g_cfg_text_len &&
            memcmp(text, g_cfg_text, len) == 0) {
            free(text);
            return;
        }
    }
    if (text != NULL) {
        parse_config(&g_cfg, text, len, path);
    } else {
        set_defaults(&g_cfg);
    }
    free(g_cfg_text);
    g_cfg_text = text;
    g_cfg_text_len = len;
    g_cfg_loaded = 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Stats                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Called with g_lock held: rewrites FAKE_NVML_STATS atomically (tmp file + rename). */
static void write_stats(void) {
    const char *path = getenv("FAKE_NVML_STATS");
    if (path == NULL || *path == '\0') return;
    char buf[SYM__COUNT * 64];
    size_t len = 0;
    for (int s = 0; s < SYM__COUNT; s++) {
        int n = snprintf(buf + len, sizeof(buf) - len, "%s=%llu\n", g_symbol_names[s], g_calls[s]);
        if (n < 0 || (size_t)n >= sizeof(buf) - len) break;
        len += (size_t)n;
    }
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        off += (size_t)w;
    }
    close(fd);
    if (off != len || rename(tmp, path) != 0) unlink(tmp);
}

/* ------------------------------------------------------------------------------------------ */
/* Call plumbing                                                                                */
/* ------------------------------------------------------------------------------------------ */

static void sleep_ms(unsigned int ms) {
    if (ms == 0) return;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Start of every call: refresh the config, count the call, write the stats. Takes g_lock. */
static void begin_call(enum fake_symbol sym) {
    pthread_mutex_lock(&g_lock);
    refresh_config();
    g_calls[sym]++;
    write_stats();
}

static void end_lock(void) { pthread_mutex_unlock(&g_lock); }

static int device_index(nvmlDevice_t device, unsigned int *idx) {
    if (device == NULL) return -1;
    uintptr_t p = (uintptr_t)device, base = (uintptr_t)&g_devices[0];
    if (p < base || p >= base + sizeof(g_devices) || (p - base) % sizeof(g_devices[0]) != 0) return -1;
    if (device->magic != FAKE_DEVICE_MAGIC) return -1;
    *idx = device->index;
    return 0;
}

/* A device getter: validates, takes a snapshot of the device's configuration into *gpu, applies
 * the field's delay and configured error. Returns what the call should return before filling its
 * output (NVML_SUCCESS = go on and answer from *gpu). */
static nvmlReturn_t device_call(enum fake_symbol sym, nvmlDevice_t device, enum fake_field field,
                                const void *out, struct fake_gpu *gpu) {
    begin_call(sym);
    if (g_init_refcount == 0) {
        end_lock();
        return NVML_ERROR_UNINITIALIZED;
    }
    unsigned int idx;
    if (device_index(device, &idx) != 0 || idx >= g_cfg.count || out == NULL) {
        end_lock();
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *gpu = g_cfg.gpu[idx];
    int gone = g_cfg.gone || gpu->gone;
    end_lock();

    sleep_ms(gpu->delay_ms[field]);
    if (gone) return NVML_ERROR_GPU_IS_LOST;
    return gpu->error[field];
}

static void ensure_devices(void) {
    /* Called with g_lock held. */
    for (unsigned int i = 0; i < FAKE_MAX_DEVICES; i++) {
        g_devices[i].index = i;
        g_devices[i].magic = FAKE_DEVICE_MAGIC;
    }
}

static nvmlReturn_t copy_string(char *dst, unsigned int length, const char *src) {
    if (dst == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    size_t need = strlen(src) + 1;
    if (length < need) return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, need);
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ */
/* Exported API                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static nvmlReturn_t do_init(enum fake_symbol sym) {
    begin_call(sym);
    nvmlReturn_t r = g_cfg.init_result;
    unsigned int delay = g_cfg.init_delay_ms;
    end_lock();
    sleep_ms(delay);
    if (r != NVML_SUCCESS) return r;
    pthread_mutex_lock(&g_lock);
    ensure_devices();
    g_init_refcount++;
    end_lock();
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlInit_v2(void) { return do_init(SYM_nvmlInit_v2); }

FAKE_API nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    return do_init(SYM_nvmlInitWithFlags);
}

FAKE_API nvmlReturn_t nvmlShutdown(void) {
    begin_call(SYM_nvmlShutdown);
    nvmlReturn_t r = NVML_SUCCESS;
    if (g_init_refcount == 0) {
        r = NVML_ERROR_UNINITIALIZED;
    } else {
        g_init_refcount--;
    }
    end_lock();
    return r;
}

FAKE_API const char *nvmlErrorString(nvmlReturn_t result) {
    begin_call(SYM_nvmlErrorString);
    end_lock();
    switch (result) {
        case NVML_SUCCESS: return "Success";
        case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
        case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
        case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
        case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
        case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
        case NVML_ERROR_NOT_FOUND: return "Not Found";
        case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
        case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
        case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
        case NVML_ERROR_TIMEOUT: return "Timeout";
        case NVML_ERROR_IRQ_ISSUE: return "Interrupt Request Issue";
        case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
        case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
        case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
        case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
        case NVML_ERROR_RESET_REQUIRED: return "GPU requires restart";
        case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request.";
        case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
        case NVML_ERROR_IN_USE: return "In use by another client";
        case NVML_ERROR_MEMORY: return "Insufficient Memory";
        case NVML_ERROR_NO_DATA: return "No data";
        case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
        case NVML_ERROR_NOT_READY: return "Not ready";
        case NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
        case NVML_ERROR_UNKNOWN: return "Unknown Error";
        default: return "Unknown Error";
    }
}

FAKE_API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    begin_call(SYM_nvmlSystemGetDriverVersion);
    nvmlReturn_t r = g_init_refcount == 0 ? NVML_ERROR_UNINITIALIZED
                                          : copy_string(version, length, g_cfg.driver_version);
    end_lock();
    return r;
}

FAKE_API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
    begin_call(SYM_nvmlSystemGetNVMLVersion);
    char buf[FAKE_STR_LEN + 8];
    snprintf(buf, sizeof(buf), "13.%s", g_cfg.driver_version);
    nvmlReturn_t r = copy_string(version, length, buf);
    end_lock();
    return r;
}

FAKE_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
    begin_call(SYM_nvmlDeviceGetCount_v2);
    nvmlReturn_t r = NVML_SUCCESS;
    if (g_init_refcount == 0) {
        r = NVML_ERROR_UNINITIALIZED;
    } else if (deviceCount == NULL) {
        r = NVML_ERROR_INVALID_ARGUMENT;
    } else {
        *deviceCount = g_cfg.count;
    }
    end_lock();
    return r;
}

FAKE_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    begin_call(SYM_nvmlDeviceGetHandleByIndex_v2);
    if (g_init_refcount == 0) {
        end_lock();
        return NVML_ERROR_UNINITIALIZED;
    }
    if (device == NULL || index >= g_cfg.count) {
        end_lock();
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    struct fake_gpu *g = &g_cfg.gpu[index];
    unsigned int delay = g->delay_ms[F_HANDLE];
    nvmlReturn_t r = (g_cfg.gone || g->gone) ? NVML_ERROR_GPU_IS_LOST : g->error[F_HANDLE];
    end_lock();
    sleep_ms(delay);
    if (r == NVML_SUCCESS) *device = &g_devices[index];
    return r;
}

FAKE_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
    begin_call(SYM_nvmlDeviceGetHandleByUUID);
    nvmlReturn_t r = NVML_ERROR_NOT_FOUND;
    if (g_init_refcount == 0) {
        r = NVML_ERROR_UNINITIALIZED;
    } else if (uuid == NULL || device == NULL) {
        r = NVML_ERROR_INVALID_ARGUMENT;
    } else {
        for (unsigned int i = 0; i < g_cfg.count; i++) {
            if (!strcmp(g_cfg.gpu[i].uuid, uuid)) {
                struct fake_gpu *g = &g_cfg.gpu[i];
                r = (g_cfg.gone || g->gone) ? NVML_ERROR_GPU_IS_LOST : g->error[F_HANDLE];
                if (r == NVML_SUCCESS) *device = &g_devices[i];
                break;
            }
        }
    }
    end_lock();
    return r;
}

FAKE_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetIndex, device, F_HANDLE, index, &g);
    if (r != NVML_SUCCESS) return r;
    *index = device->index;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetUUID, device, F_UUID, uuid, &g);
    if (r != NVML_SUCCESS) return r;
    return copy_string(uuid, length, g.uuid);
}

FAKE_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetName, device, F_NAME, name, &g);
    if (r != NVML_SUCCESS) return r;
    return copy_string(name, length, g.name);
}

FAKE_API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetUtilizationRates, device, F_UTIL, utilization, &g);
    if (r != NVML_SUCCESS) return r;
    utilization->gpu = g.util;
    utilization->memory = g.mem_util;
    return NVML_SUCCESS;
}

static unsigned long long mem_free(const struct fake_gpu *g) {
    unsigned long long taken = g->mem_used + g->mem_reserved;
    return taken >= g->mem_total ? 0 : g->mem_total - taken;
}

/* v1: as in NVML >= 510, `used` includes the driver-reserved memory. */
FAKE_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetMemoryInfo, device, F_MEM, memory, &g);
    if (r != NVML_SUCCESS) return r;
    memory->total = g.mem_total;
    memory->used = g.mem_used + g.mem_reserved;
    memory->free = mem_free(&g);
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetMemoryInfo_v2, device, F_MEM, memory, &g);
    if (r != NVML_SUCCESS) return r;
    /* Real NVML checks the caller's struct version (nvml-wrapper sets nvmlMemory_v2). */
    if (memory->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    memory->total = g.mem_total;
    memory->reserved = g.mem_reserved;
    memory->used = g.mem_used;
    memory->free = mem_free(&g);
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetPowerUsage, device, F_POWER, power, &g);
    if (r != NVML_SUCCESS) return r;
    *power = g.power_mw;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetPowerManagementLimit, device, F_LIMIT, limit, &g);
    if (r != NVML_SUCCESS) return r;
    *limit = g.limit_mw;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetEnforcedPowerLimit, device, F_LIMIT, limit, &g);
    if (r != NVML_SUCCESS) return r;
    *limit = g.enforced_limit_mw != 0 ? g.enforced_limit_mw : g.limit_mw;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetTotalEnergyConsumption, device, F_ENERGY, energy, &g);
    if (r != NVML_SUCCESS) return r;
    *energy = g.energy_mj;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensorType,
                                               unsigned int *temp) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetTemperature, device, F_TEMP, temp, &g);
    if (r != NVML_SUCCESS) return r;
    if (sensorType != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
    *temp = g.temp_c;
    return NVML_SUCCESS;
}
