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

typedef struct nvmlPciInfo_st {
    char busIdLegacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

typedef struct nvmlViolationTime_st {
    unsigned long long referenceTime;
    unsigned long long violationTime;
} nvmlViolationTime_t;

typedef union nvmlValue_st {
    double dVal;
    int siVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    signed long long sllVal;
    unsigned short usVal;
} nvmlValue_t;

typedef struct nvmlFieldValue_st {
    unsigned int fieldId;
    unsigned int scopeId;
    long long timestamp;
    long long latencyUsec;
    int valueType; /* nvmlValueType_t */
    nvmlReturn_t nvmlReturn;
    nvmlValue_t value;
} nvmlFieldValue_t;

typedef struct nvmlProcessInfo_st {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef struct fake_event_set *nvmlEventSet_t;

typedef struct nvmlEventData_st {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

typedef struct fake_gpm_sample *nvmlGpmSample_t;

typedef struct {
    unsigned int metricId;
    nvmlReturn_t nvmlReturn;
    double value;
    struct {
        char *shortName;
        char *longName;
        char *unit;
    } metricInfo;
} nvmlGpmMetric_t;

typedef struct {
    unsigned int version;
    unsigned int numMetrics;
    nvmlGpmSample_t sample1;
    nvmlGpmSample_t sample2;
    nvmlGpmMetric_t metrics[210]; /* NVML_GPM_METRIC_MAX; only numMetrics entries are touched */
} nvmlGpmMetricsGet_t;

typedef struct {
    unsigned int version;
    unsigned int isSupportedDevice;
} nvmlGpmSupport_t;

#define NVML_VALUE_TYPE_UNSIGNED_INT 1
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
#define NVML_EVENT_TYPE_XID 0x8ULL
#define NVML_GPM_METRIC_GRAPHICS_UTIL 1
#define NVML_DEVICE_MIG_MAX 7 /* MIG devices per GPU an H100 can hold */

_Static_assert(sizeof(nvmlPciInfo_t) == 68, "nvmlPciInfo_t must match the NVML ABI (68 bytes)");
_Static_assert(sizeof(nvmlFieldValue_t) == 40, "nvmlFieldValue_t must match the NVML ABI (40 bytes)");
_Static_assert(offsetof(nvmlFieldValue_t, value) == 32, "nvmlFieldValue_t.value offset");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "nvmlProcessInfo_t (v2/v3) must be 24 bytes");
_Static_assert(sizeof(nvmlEventData_t) == 32, "nvmlEventData_t must be 32 bytes");
_Static_assert(sizeof(nvmlGpmMetric_t) == 40, "nvmlGpmMetric_t must be 40 bytes");
_Static_assert(offsetof(nvmlGpmMetricsGet_t, metrics) == 24, "nvmlGpmMetricsGet_t.metrics offset");

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
    X(nvmlDeviceGetTemperature)                 \
    X(nvmlDeviceGetPciInfo_v3)                  \
    X(nvmlDeviceGetClockInfo)                   \
    X(nvmlDeviceGetNumFans)                     \
    X(nvmlDeviceGetFanSpeed_v2)                 \
    X(nvmlDeviceGetCurrentClocksEventReasons)   \
    X(nvmlDeviceGetCurrentClocksThrottleReasons) \
    X(nvmlDeviceGetSupportedClocksEventReasons) \
    X(nvmlDeviceGetViolationStatus)             \
    X(nvmlDeviceGetTotalEccErrors)              \
    X(nvmlDeviceGetFieldValues)                 \
    X(nvmlDeviceGetRemappedRows)                \
    X(nvmlDeviceGetPcieReplayCounter)           \
    X(nvmlDeviceGetPcieThroughput)              \
    X(nvmlDeviceGetEncoderUtilization)          \
    X(nvmlDeviceGetDecoderUtilization)          \
    X(nvmlDeviceGetComputeRunningProcesses_v3)  \
    X(nvmlDeviceGetGraphicsRunningProcesses_v3) \
    X(nvmlDeviceGetMigMode)                     \
    X(nvmlDeviceGetMaxMigDeviceCount)           \
    X(nvmlDeviceGetMigDeviceHandleByIndex)      \
    X(nvmlDeviceGetGpuInstanceId)               \
    X(nvmlDeviceGetSupportedEventTypes)         \
    X(nvmlEventSetCreate)                       \
    X(nvmlDeviceRegisterEvents)                 \
    X(nvmlEventSetWait_v2)                      \
    X(nvmlEventSetFree)                         \
    X(nvmlGpmQueryDeviceSupport)                \
    X(nvmlGpmSampleAlloc)                       \
    X(nvmlGpmSampleFree)                        \
    X(nvmlGpmSampleGet)                         \
    X(nvmlGpmMigSampleGet)                      \
    X(nvmlGpmMetricsGet)

#define FAKE_SYM_ENUM(name) SYM_##name,
enum fake_symbol { FAKE_SYMBOLS(FAKE_SYM_ENUM) SYM__COUNT };
#define FAKE_SYM_NAME(name) #name,
static const char *const g_symbol_names[SYM__COUNT] = {FAKE_SYMBOLS(FAKE_SYM_NAME)};

/* Fields whose answers can be made to fail or to be slow. */
enum fake_field {
    F_UUID, F_NAME, F_UTIL, F_MEM, F_POWER, F_LIMIT, F_ENERGY, F_TEMP, F_HANDLE,
    F_PCI, F_CLOCK, F_FAN, F_REASONS, F_VIOLATION, F_ECC, F_FIELDS, F_REMAP, F_PCIE, F_REPLAY,
    F_ENC, F_DEC, F_PROCS, F_MIG, F_GPM, F_EVENTS,
    F__COUNT
};
static const char *const g_field_names[F__COUNT] = {
    "uuid", "name", "util", "mem", "power", "limit", "energy", "temp", "handle",
    "pci", "clock", "fan", "reasons", "violation", "ecc", "fields", "remap", "pcie", "replay",
    "enc", "dec", "procs", "mig", "gpm", "events"};

#define FAKE_MAX_FANS 8
#define FAKE_MAX_PROCS 8
#define FAKE_VIOLATIONS 6 /* power thermal sync_boost board_limit low_util reliability */
static const char *const g_violation_names[FAKE_VIOLATIONS] = {"power", "thermal", "sync_boost",
                                                               "board_limit", "low_util", "reliability"};

struct fake_proc {
    int self;         /* 1: the pid is getpid() of the caller */
    unsigned int pid; /* otherwise this pid */
    unsigned long long mem;
    unsigned int gi; /* 0xffffffff = none */
};

struct fake_mig {
    char uuid[FAKE_STR_LEN];
    unsigned int gi;
    unsigned long long mem_total;
    unsigned long long mem_used;
    unsigned int gr_active; /* GPM graphics activity, % */
};

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
    unsigned int pci_domain, pci_bus, pci_device_id;
    unsigned int sm_clock_mhz, mem_clock_mhz;
    unsigned int fans; /* 0: a fan-less board (NumFans and FanSpeed answer NOT_SUPPORTED) */
    unsigned int fan_pct[FAKE_MAX_FANS];
    unsigned long long reasons, supported_reasons;
    unsigned long long violation_ns[FAKE_VIOLATIONS];
    unsigned long long ecc_corrected, ecc_uncorrected;
    unsigned int remap_cor, remap_unc, remap_pending, remap_failure;
    unsigned long long pcie_tx, pcie_rx, pcie_step; /* step: bytes added on every read */
    unsigned int pcie_replays;
    unsigned int enc_util, dec_util;
    unsigned int nprocs, ngprocs;
    struct fake_proc procs[FAKE_MAX_PROCS], gprocs[FAKE_MAX_PROCS];
    unsigned int mig_mode, mig_pending, mig_count;
    int mig_sparse; /* MIG devices at handle indices 0, 2, 4, ... (NOT_FOUND between) */
    struct fake_mig mig[NVML_DEVICE_MIG_MAX];
    int gpm; /* GPM (Hopper+) supported */
    unsigned long long event_types;
    unsigned long long xid_total; /* XID events delivered since the fake was loaded, at most */
    unsigned long long xid;       /* the XID code of events delivered from now on */
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
/* MIG device handles: GPU i's MIG device k is g_migs[i * NVML_DEVICE_MIG_MAX + k] */
static struct nvmlDevice_st g_migs[FAKE_MAX_DEVICES * NVML_DEVICE_MIG_MAX];
#define FAKE_MIG_MAGIC 0x4d494744u /* "MIGD" */
static unsigned long long g_xid_delivered[FAKE_MAX_DEVICES]; /* survives config changes */
static unsigned long long g_pcie_extra[FAKE_MAX_DEVICES];    /* pcie_step growth so far */
static int g_fast;             /* FAKE_NVML_FAST=1: config read once, no stats file */
static long long g_gpm_live;   /* GPM samples allocated and not yet freed */
static long long g_sets_live;  /* event sets created and not yet freed */

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
        g->pci_bus = 0x18 + i;
        g->pci_device_id = 0x233010DEu; /* H100 SXM5 80GB */
        g->sm_clock_mhz = 1980;
        g->mem_clock_mhz = 2619;
        g->fans = 1;
        for (unsigned int f = 0; f < FAKE_MAX_FANS; f++) g->fan_pct[f] = 30;
        g->supported_reasons = 0x1ffULL;
        g->event_types = 0xfULL; /* SBE, DBE, PState, XID */
        g->xid = 79;
        for (unsigned int k = 0; k < NVML_DEVICE_MIG_MAX; k++) {
            struct fake_mig *m = &g->mig[k];
            snprintf(m->uuid, sizeof(m->uuid), "MIG-%08u-0000-0000-0000-%012u", i, k);
            m->gi = k + 1;
            m->mem_total = 10ULL << 30;
            m->mem_used = (unsigned long long)(k + 1) << 28;
            m->gr_active = 10 * (k + 1);
        }
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

/* "self:BYTES[:GI], PID:BYTES[:GI], ..." (at most FAKE_MAX_PROCS entries; empty = none) */
static int parse_procs(const char *v, struct fake_proc *out, unsigned int *n) {
    char buf[1024];
    if (strlen(v) >= sizeof(buf)) return -1;
    snprintf(buf, sizeof(buf), "%s", v);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *t = trim(tok);
        if (*t == '\0') continue;
        if (*n >= FAKE_MAX_PROCS) return -1;
        struct fake_proc *p = &out[*n];
        memset(p, 0, sizeof(*p));
        p->gi = 0xffffffffu;
        char *c1 = strchr(t, ':');
        if (c1 == NULL) return -1;
        *c1++ = '\0';
        char *c2 = strchr(c1, ':');
        if (c2 != NULL) *c2++ = '\0';
        if (!strcmp(trim(t), "self")) {
            p->self = 1;
        } else if (parse_uint(trim(t), &p->pid) != 0) {
            return -1;
        }
        if (parse_ull(trim(c1), &p->mem) != 0) return -1;
        if (c2 != NULL && parse_uint(trim(c2), &p->gi) != 0) return -1;
        (*n)++;
    }
    return 0;
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
    if (!strcmp(sub, "pci_domain")) return parse_uint(val, &g->pci_domain);
    if (!strcmp(sub, "pci_bus")) return parse_uint(val, &g->pci_bus);
    if (!strcmp(sub, "pci_device_id")) return parse_uint(val, &g->pci_device_id);
    if (!strcmp(sub, "sm_clock_mhz")) return parse_uint(val, &g->sm_clock_mhz);
    if (!strcmp(sub, "mem_clock_mhz")) return parse_uint(val, &g->mem_clock_mhz);
    if (!strcmp(sub, "fans")) {
        unsigned int n;
        if (parse_uint(val, &n) != 0 || n > FAKE_MAX_FANS) return -1;
        g->fans = n;
        return 0;
    }
    if (!strncmp(sub, "fan", 3) && sub[3] >= '0' && sub[3] < '0' + FAKE_MAX_FANS && sub[4] == '\0')
        return parse_uint(val, &g->fan_pct[sub[3] - '0']);
    if (!strcmp(sub, "reasons")) return parse_ull(val, &g->reasons);
    if (!strcmp(sub, "supported_reasons")) return parse_ull(val, &g->supported_reasons);
    if (!strncmp(sub, "violation.", 10)) {
        for (int k = 0; k < FAKE_VIOLATIONS; k++) {
            if (!strcmp(sub + 10, g_violation_names[k])) return parse_ull(val, &g->violation_ns[k]);
        }
    }
    if (!strcmp(sub, "ecc_corrected")) return parse_ull(val, &g->ecc_corrected);
    if (!strcmp(sub, "ecc_uncorrected")) return parse_ull(val, &g->ecc_uncorrected);
    if (!strcmp(sub, "remap_cor")) return parse_uint(val, &g->remap_cor);
    if (!strcmp(sub, "remap_unc")) return parse_uint(val, &g->remap_unc);
    if (!strcmp(sub, "remap_pending")) return parse_uint(val, &g->remap_pending);
    if (!strcmp(sub, "remap_failure")) return parse_uint(val, &g->remap_failure);
    if (!strcmp(sub, "pcie_tx")) return parse_ull(val, &g->pcie_tx);
    if (!strcmp(sub, "pcie_rx")) return parse_ull(val, &g->pcie_rx);
    if (!strcmp(sub, "pcie_step")) return parse_ull(val, &g->pcie_step);
    if (!strcmp(sub, "pcie_replays")) return parse_uint(val, &g->pcie_replays);
    if (!strcmp(sub, "enc_util")) return parse_uint(val, &g->enc_util);
    if (!strcmp(sub, "dec_util")) return parse_uint(val, &g->dec_util);
    if (!strcmp(sub, "procs")) return parse_procs(val, g->procs, &g->nprocs);
    if (!strcmp(sub, "gprocs")) return parse_procs(val, g->gprocs, &g->ngprocs);
    if (!strcmp(sub, "mig")) return parse_uint(val, &g->mig_mode);
    if (!strcmp(sub, "mig_pending")) return parse_uint(val, &g->mig_pending);
    if (!strcmp(sub, "mig_sparse")) return parse_bool(val, &g->mig_sparse);
    if (!strcmp(sub, "mig_count")) {
        unsigned int n;
        if (parse_uint(val, &n) != 0 || n > NVML_DEVICE_MIG_MAX) return -1;
        g->mig_count = n;
        return 0;
    }
    if (!strncmp(sub, "mig", 3) && sub[3] >= '0' && sub[3] < '0' + NVML_DEVICE_MIG_MAX && sub[4] == '.') {
        struct fake_mig *m = &g->mig[sub[3] - '0'];
        const char *k = sub + 5;
        if (!strcmp(k, "uuid")) {
            if (strlen(val) >= FAKE_STR_LEN) return -1;
            snprintf(m->uuid, FAKE_STR_LEN, "%s", val);
            return 0;
        }
        if (!strcmp(k, "gi")) return parse_uint(val, &m->gi);
        if (!strcmp(k, "mem_total")) return parse_ull(val, &m->mem_total);
        if (!strcmp(k, "mem_used")) return parse_ull(val, &m->mem_used);
        if (!strcmp(k, "gr_active")) return parse_uint(val, &m->gr_active);
        return -1;
    }
    if (!strcmp(sub, "gpm")) return parse_bool(val, &g->gpm);
    if (!strcmp(sub, "event_types")) return parse_ull(val, &g->event_types);
    if (!strcmp(sub, "xid_total")) return parse_ull(val, &g->xid_total);
    if (!strcmp(sub, "xid")) return parse_ull(val, &g->xid);

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
    if (!g_cfg_loaded) {
        const char *fast = getenv("FAKE_NVML_FAST");
        g_fast = fast != NULL && !strcmp(fast, "1");
    }
    if (!g_fast || !g_cfg_loaded) refresh_config();
    g_calls[sym]++;
    if (!g_fast) write_stats();
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
    for (unsigned int i = 0; i < FAKE_MAX_DEVICES * NVML_DEVICE_MIG_MAX; i++) {
        g_migs[i].index = i;
        g_migs[i].magic = FAKE_MIG_MAGIC;
    }
}

/* A MIG device handle of ours: its GPU and its instance number; -1 if it is not one. */
static int mig_handle(nvmlDevice_t device, unsigned int *gpu, unsigned int *k) {
    if (device == NULL) return -1;
    uintptr_t p = (uintptr_t)device, base = (uintptr_t)&g_migs[0];
    if (p < base || p >= base + sizeof(g_migs) || (p - base) % sizeof(g_migs[0]) != 0) return -1;
    if (device->magic != FAKE_MIG_MAGIC) return -1;
    *gpu = device->index / NVML_DEVICE_MIG_MAX;
    *k = device->index % NVML_DEVICE_MIG_MAX;
    return 0;
}

/* A getter called on a MIG device handle: like device_call, for MIG instance k of a GPU whose
 * MIG mode is on and which has that many instances; the parent GPU's field error applies. */
static nvmlReturn_t mig_call(enum fake_symbol sym, nvmlDevice_t device, enum fake_field field,
                             const void *out, struct fake_mig *mig) {
    begin_call(sym);
    if (g_init_refcount == 0) {
        end_lock();
        return NVML_ERROR_UNINITIALIZED;
    }
    unsigned int gi, k;
    if (mig_handle(device, &gi, &k) != 0 || gi >= g_cfg.count || out == NULL || !g_cfg.gpu[gi].mig_mode ||
        k >= g_cfg.gpu[gi].mig_count) {
        end_lock();
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    struct fake_gpu *g = &g_cfg.gpu[gi];
    *mig = g->mig[k];
    int gone = g_cfg.gone || g->gone;
    nvmlReturn_t err = g->error[field];
    unsigned int delay = g->delay_ms[field];
    end_lock();
    sleep_ms(delay);
    if (gone) return NVML_ERROR_GPU_IS_LOST;
    return err;
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
    unsigned int gi, k;
    if (mig_handle(device, &gi, &k) == 0) {
        struct fake_mig m;
        nvmlReturn_t r = mig_call(SYM_nvmlDeviceGetUUID, device, F_UUID, uuid, &m);
        if (r != NVML_SUCCESS) return r;
        return copy_string(uuid, length, m.uuid);
    }
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
    unsigned int gi, k;
    if (mig_handle(device, &gi, &k) == 0) {
        struct fake_mig m;
        nvmlReturn_t r = mig_call(SYM_nvmlDeviceGetMemoryInfo, device, F_MEM, memory, &m);
        if (r != NVML_SUCCESS) return r;
        memory->total = m.mem_total;
        memory->used = m.mem_used;
        memory->free = m.mem_used >= m.mem_total ? 0 : m.mem_total - m.mem_used;
        return NVML_SUCCESS;
    }
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetMemoryInfo, device, F_MEM, memory, &g);
    if (r != NVML_SUCCESS) return r;
    memory->total = g.mem_total;
    memory->used = g.mem_used + g.mem_reserved;
    memory->free = mem_free(&g);
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    unsigned int gi, k;
    if (mig_handle(device, &gi, &k) == 0) {
        struct fake_mig m;
        nvmlReturn_t r = mig_call(SYM_nvmlDeviceGetMemoryInfo_v2, device, F_MEM, memory, &m);
        if (r != NVML_SUCCESS) return r;
        if (memory->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
        memory->total = m.mem_total;
        memory->reserved = 0;
        memory->used = m.mem_used;
        memory->free = m.mem_used >= m.mem_total ? 0 : m.mem_total - m.mem_used;
        return NVML_SUCCESS;
    }
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

/* ------------------------------------------------------------------------------------------ */
/* GPU depth: PCI, clocks, fans, clock events, ECC, row remapping, PCIe, codecs, processes     */
/* ------------------------------------------------------------------------------------------ */

static unsigned long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
}

FAKE_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetPciInfo_v3, device, F_PCI, pci, &g);
    if (r != NVML_SUCCESS) return r;
    memset(pci, 0, sizeof(*pci));
    pci->domain = g.pci_domain;
    pci->bus = g.pci_bus;
    pci->device = 0;
    pci->pciDeviceId = g.pci_device_id;
    pci->pciSubSystemId = 0x16C110DEu;
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04X:%02X:00.0", g.pci_domain & 0xffffu, g.pci_bus & 0xffu);
    snprintf(pci->busId, sizeof(pci->busId), "%08X:%02X:00.0", g.pci_domain, g.pci_bus & 0xffu);
    return NVML_SUCCESS;
}

/* nvmlClockType_t: 0 graphics, 1 SM, 2 memory, 3 video */
FAKE_API nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetClockInfo, device, F_CLOCK, clock, &g);
    if (r != NVML_SUCCESS) return r;
    switch (type) {
        case 0:
        case 1: *clock = g.sm_clock_mhz; return NVML_SUCCESS;
        case 2: *clock = g.mem_clock_mhz; return NVML_SUCCESS;
        case 3: *clock = 1755; return NVML_SUCCESS;
        default: return NVML_ERROR_INVALID_ARGUMENT;
    }
}

FAKE_API nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t device, unsigned int *numFans) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetNumFans, device, F_FAN, numFans, &g);
    if (r != NVML_SUCCESS) return r;
    if (g.fans == 0) return NVML_ERROR_NOT_SUPPORTED; /* an SXM board */
    *numFans = g.fans;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t device, unsigned int fan, unsigned int *speed) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetFanSpeed_v2, device, F_FAN, speed, &g);
    if (r != NVML_SUCCESS) return r;
    if (g.fans == 0) return NVML_ERROR_NOT_SUPPORTED;
    if (fan >= g.fans) return NVML_ERROR_INVALID_ARGUMENT;
    *speed = g.fan_pct[fan];
    return NVML_SUCCESS;
}

static nvmlReturn_t reasons(enum fake_symbol sym, nvmlDevice_t device, unsigned long long *out, int supported) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(sym, device, F_REASONS, out, &g);
    if (r != NVML_SUCCESS) return r;
    *out = supported ? g.supported_reasons : (g.reasons & g.supported_reasons);
    return NVML_SUCCESS;
}

#ifndef FAKE_NVML_OLD_DRIVER
/* R535 and later; FAKE_NVML_OLD_DRIVER builds a fake of an older driver without these names */
FAKE_API nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *r) {
    return reasons(SYM_nvmlDeviceGetCurrentClocksEventReasons, device, r, 0);
}

FAKE_API nvmlReturn_t nvmlDeviceGetSupportedClocksEventReasons(nvmlDevice_t device, unsigned long long *r) {
    return reasons(SYM_nvmlDeviceGetSupportedClocksEventReasons, device, r, 1);
}
#endif

FAKE_API nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long *r) {
    return reasons(SYM_nvmlDeviceGetCurrentClocksThrottleReasons, device, r, 0);
}

/* nvmlPerfPolicyType_t: 0 power, 1 thermal, 2 sync boost, 3 board limit, 4 low utilization,
 * 5 reliability, 10 total app clocks, 11 total base clocks */
FAKE_API nvmlReturn_t nvmlDeviceGetViolationStatus(nvmlDevice_t device, int policy, nvmlViolationTime_t *v) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetViolationStatus, device, F_VIOLATION, v, &g);
    if (r != NVML_SUCCESS) return r;
    unsigned long long ns;
    if (policy >= 0 && policy < FAKE_VIOLATIONS) {
        ns = g.violation_ns[policy];
    } else if (policy == 10 || policy == 11) {
        ns = 0;
        for (int k = 0; k < FAKE_VIOLATIONS; k++) ns += g.violation_ns[k];
    } else {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    v->referenceTime = now_us();
    v->violationTime = ns;
    return NVML_SUCCESS;
}

/* errorType 0 corrected, 1 uncorrected; counterType 0 volatile, 1 aggregate (same numbers here) */
FAKE_API nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int errorType, int counterType,
                                                  unsigned long long *count) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetTotalEccErrors, device, F_ECC, count, &g);
    if (r != NVML_SUCCESS) return r;
    if ((errorType != 0 && errorType != 1) || (counterType != 0 && counterType != 1))
        return NVML_ERROR_INVALID_ARGUMENT;
    *count = errorType == 0 ? g.ecc_corrected : g.ecc_uncorrected;
    return NVML_SUCCESS;
}

/* Field values: 142-145 (row remapping) and 197/198 (PCIe bytes, growing by pcie_step on every
 * read); every other field answers NOT_SUPPORTED in its own nvmlReturn. */
FAKE_API nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount, nvmlFieldValue_t *values) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetFieldValues, device, F_FIELDS, values, &g);
    if (r != NVML_SUCCESS) return r;
    if (valuesCount <= 0) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned long long extra = 0;
    int pcie_read = 0;
    for (int i = 0; i < valuesCount; i++) {
        if (values[i].fieldId == 197 || values[i].fieldId == 198) pcie_read = 1;
    }
    if (pcie_read && g.error[F_PCIE] == NVML_SUCCESS) {
        pthread_mutex_lock(&g_lock);
        g_pcie_extra[device->index] += g.pcie_step;
        extra = g_pcie_extra[device->index];
        pthread_mutex_unlock(&g_lock);
    }
    long long ts = (long long)now_us();
    for (int i = 0; i < valuesCount; i++) {
        nvmlFieldValue_t *v = &values[i];
        v->timestamp = ts;
        v->latencyUsec = 0;
        v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
        v->nvmlReturn = NVML_SUCCESS;
        memset(&v->value, 0, sizeof(v->value));
        switch (v->fieldId) {
            case 142: v->value.uiVal = g.remap_cor; v->nvmlReturn = g.error[F_REMAP]; break;
            case 143: v->value.uiVal = g.remap_unc; v->nvmlReturn = g.error[F_REMAP]; break;
            case 144: v->value.uiVal = g.remap_pending; v->nvmlReturn = g.error[F_REMAP]; break;
            case 145: v->value.uiVal = g.remap_failure; v->nvmlReturn = g.error[F_REMAP]; break;
            case 197:
                v->valueType = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
                v->value.ullVal = g.pcie_tx + extra;
                v->nvmlReturn = g.error[F_PCIE];
                break;
            case 198:
                v->valueType = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
                v->value.ullVal = g.pcie_rx + extra / 2;
                v->nvmlReturn = g.error[F_PCIE];
                break;
            default: v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED; break;
        }
    }
    return NVML_SUCCESS;
}

#ifndef FAKE_NVML_OLD_DRIVER
FAKE_API nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corrRows, unsigned int *uncRows,
                                                unsigned int *isPending, unsigned int *failureOccurred) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetRemappedRows, device, F_REMAP, corrRows, &g);
    if (r != NVML_SUCCESS) return r;
    if (uncRows == NULL || isPending == NULL || failureOccurred == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *corrRows = g.remap_cor;
    *uncRows = g.remap_unc;
    *isPending = g.remap_pending;
    *failureOccurred = g.remap_failure;
    return NVML_SUCCESS;
}
#endif

FAKE_API nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t device, unsigned int *value) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetPcieReplayCounter, device, F_REPLAY, value, &g);
    if (r != NVML_SUCCESS) return r;
    *value = g.pcie_replays;
    return NVML_SUCCESS;
}

/* Exported so a test can prove it is never called: real NVML sleeps ~20 ms inside it. */
FAKE_API nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t device, int counter, unsigned int *value) {
    struct fake_gpu g;
    (void)counter;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetPcieThroughput, device, F_PCIE, value, &g);
    if (r != NVML_SUCCESS) return r;
    sleep_ms(20);
    *value = 0;
    return NVML_SUCCESS;
}

static nvmlReturn_t codec(enum fake_symbol sym, enum fake_field f, nvmlDevice_t device, unsigned int *util,
                          unsigned int *period) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(sym, device, f, util, &g);
    if (r != NVML_SUCCESS) return r;
    if (period == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *util = f == F_ENC ? g.enc_util : g.dec_util;
    *period = 167000;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int *util, unsigned int *period) {
    return codec(SYM_nvmlDeviceGetEncoderUtilization, F_ENC, device, util, period);
}

FAKE_API nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int *util, unsigned int *period) {
    return codec(SYM_nvmlDeviceGetDecoderUtilization, F_DEC, device, util, period);
}

/* NVML's two-call protocol: with too small a buffer (or none) INSUFFICIENT_SIZE and the count;
 * SUCCESS with a count of 0 when there is no process. */
static nvmlReturn_t procs(enum fake_symbol sym, nvmlDevice_t device, unsigned int *count, nvmlProcessInfo_t *infos,
                          int graphics) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(sym, device, F_PROCS, count, &g);
    if (r != NVML_SUCCESS) return r;
    unsigned int n = graphics ? g.ngprocs : g.nprocs;
    const struct fake_proc *list = graphics ? g.gprocs : g.procs;
    if (n == 0) {
        *count = 0;
        return NVML_SUCCESS;
    }
    if (infos == NULL || *count < n) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned int i = 0; i < n; i++) {
        infos[i].pid = list[i].self ? (unsigned int)getpid() : list[i].pid;
        infos[i].usedGpuMemory = list[i].mem;
        infos[i].gpuInstanceId = list[i].gi;
        infos[i].computeInstanceId = list[i].gi == 0xffffffffu ? 0xffffffffu : 0;
    }
    *count = n;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                              nvmlProcessInfo_t *infos) {
    return procs(SYM_nvmlDeviceGetComputeRunningProcesses_v3, device, count, infos, 0);
}

FAKE_API nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                               nvmlProcessInfo_t *infos) {
    return procs(SYM_nvmlDeviceGetGraphicsRunningProcesses_v3, device, count, infos, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* MIG and GPM                                                                                  */
/* ------------------------------------------------------------------------------------------ */

FAKE_API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetMigMode, device, F_MIG, current, &g);
    if (r != NVML_SUCCESS) return r;
    if (pending == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *current = g.mig_mode ? 1 : 0;
    *pending = g.mig_pending ? 1 : 0;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetMaxMigDeviceCount, device, F_MIG, count, &g);
    if (r != NVML_SUCCESS) return r;
    *count = g.mig_mode ? NVML_DEVICE_MIG_MAX : 0;
    return NVML_SUCCESS;
}

/* Instances sit at indices 0..mig_count-1, or 0, 2, 4, ... with mig_sparse; NOT_FOUND elsewhere
 * below the maximum. */
FAKE_API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                          nvmlDevice_t *mig) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetMigDeviceHandleByIndex, device, F_MIG, mig, &g);
    if (r != NVML_SUCCESS) return r;
    if (!g.mig_mode) return NVML_ERROR_INVALID_ARGUMENT;
    if (index >= NVML_DEVICE_MIG_MAX) return NVML_ERROR_INVALID_ARGUMENT;
    if (g.mig_sparse && index % 2 != 0) return NVML_ERROR_NOT_FOUND;
    unsigned int k = g.mig_sparse ? index / 2 : index;
    if (k >= g.mig_count) return NVML_ERROR_NOT_FOUND;
    *mig = &g_migs[device->index * NVML_DEVICE_MIG_MAX + k];
    return NVML_SUCCESS;
}

#ifndef FAKE_NVML_OLD_DRIVER
FAKE_API nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id) {
    unsigned int gi, k;
    if (mig_handle(device, &gi, &k) != 0) {
        begin_call(SYM_nvmlDeviceGetGpuInstanceId);
        end_lock();
        return NVML_ERROR_NOT_SUPPORTED; /* a full GPU, not a MIG device */
    }
    struct fake_mig m;
    nvmlReturn_t r = mig_call(SYM_nvmlDeviceGetGpuInstanceId, device, F_MIG, id, &m);
    if (r != NVML_SUCCESS) return r;
    *id = m.gi;
    return NVML_SUCCESS;
}
#endif

#define FAKE_GPM_MAGIC 0x47504d53u /* "GPMS" */
struct fake_gpm_sample {
    unsigned int magic;
    int filled;
    unsigned int gpu;
    unsigned int gi; /* 0xffffffff: the whole GPU */
};

FAKE_API nvmlReturn_t nvmlGpmQueryDeviceSupport(nvmlDevice_t device, nvmlGpmSupport_t *support) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlGpmQueryDeviceSupport, device, F_GPM, support, &g);
    if (r != NVML_SUCCESS) return r;
    if (support->version != 1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    support->isSupportedDevice = g.gpm ? 1 : 0;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlGpmSampleAlloc(nvmlGpmSample_t *sample) {
    begin_call(SYM_nvmlGpmSampleAlloc);
    int init = g_init_refcount > 0;
    if (init && sample != NULL) g_gpm_live++;
    end_lock();
    if (!init) return NVML_ERROR_UNINITIALIZED;
    if (sample == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    struct fake_gpm_sample *s = calloc(1, sizeof(*s));
    if (s == NULL) return NVML_ERROR_MEMORY;
    s->magic = FAKE_GPM_MAGIC;
    *sample = s;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlGpmSampleFree(nvmlGpmSample_t sample) {
    begin_call(SYM_nvmlGpmSampleFree);
    if (sample == NULL || sample->magic != FAKE_GPM_MAGIC) {
        end_lock();
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    g_gpm_live--;
    end_lock();
    sample->magic = 0;
    free(sample);
    return NVML_SUCCESS;
}

static nvmlReturn_t gpm_get(enum fake_symbol sym, nvmlDevice_t device, unsigned int gi, nvmlGpmSample_t sample) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(sym, device, F_GPM, sample, &g);
    if (r != NVML_SUCCESS) return r;
    if (sample->magic != FAKE_GPM_MAGIC) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g.gpm) return NVML_ERROR_NOT_SUPPORTED;
    if (gi != 0xffffffffu) {
        int found = 0;
        for (unsigned int k = 0; g.mig_mode && k < g.mig_count; k++) found |= g.mig[k].gi == gi;
        if (!found) return NVML_ERROR_NOT_FOUND;
    }
    sample->filled = 1;
    sample->gpu = device->index;
    sample->gi = gi;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlGpmSampleGet(nvmlDevice_t device, nvmlGpmSample_t sample) {
    return gpm_get(SYM_nvmlGpmSampleGet, device, 0xffffffffu, sample);
}

FAKE_API nvmlReturn_t nvmlGpmMigSampleGet(nvmlDevice_t device, unsigned int gpuInstanceId, nvmlGpmSample_t sample) {
    return gpm_get(SYM_nvmlGpmMigSampleGet, device, gpuInstanceId, sample);
}

/* Only NVML_GPM_METRIC_GRAPHICS_UTIL (1) is known: the MIG instance's gr_active (or, for a whole
 * GPU sample, the GPU's util); every other metric answers NOT_SUPPORTED in its own nvmlReturn. */
FAKE_API nvmlReturn_t nvmlGpmMetricsGet(nvmlGpmMetricsGet_t *req) {
    static char s_short[] = "gr_util", s_long[] = "Graphics engine activity", s_unit[] = "%";
    begin_call(SYM_nvmlGpmMetricsGet);
    if (g_init_refcount == 0) {
        end_lock();
        return NVML_ERROR_UNINITIALIZED;
    }
    if (req == NULL || req->version != 1 || req->numMetrics > 210 || req->sample1 == NULL || req->sample2 == NULL ||
        req->sample1->magic != FAKE_GPM_MAGIC || req->sample2->magic != FAKE_GPM_MAGIC || !req->sample1->filled ||
        !req->sample2->filled || req->sample1->gpu != req->sample2->gpu || req->sample1->gi != req->sample2->gi) {
        end_lock();
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    const struct fake_gpu *g = &g_cfg.gpu[req->sample2->gpu];
    double value = g->util;
    for (unsigned int k = 0; g->mig_mode && k < g->mig_count; k++) {
        if (req->sample2->gi != 0xffffffffu && g->mig[k].gi == req->sample2->gi) value = g->mig[k].gr_active;
    }
    for (unsigned int i = 0; i < req->numMetrics; i++) {
        nvmlGpmMetric_t *m = &req->metrics[i];
        if (m->metricId == NVML_GPM_METRIC_GRAPHICS_UTIL) {
            m->nvmlReturn = NVML_SUCCESS;
            m->value = value;
            m->metricInfo.shortName = s_short;
            m->metricInfo.longName = s_long;
            m->metricInfo.unit = s_unit;
        } else {
            m->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            m->value = 0;
            m->metricInfo.shortName = m->metricInfo.longName = m->metricInfo.unit = NULL;
        }
    }
    end_lock();
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ */
/* Events (critical XID errors)                                                                 */
/* ------------------------------------------------------------------------------------------ */

#define FAKE_SET_MAGIC 0x45565453u /* "EVTS" */
struct fake_event_set {
    unsigned int magic;
    unsigned long long types[FAKE_MAX_DEVICES]; /* registered event types per device */
};

FAKE_API nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *types) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceGetSupportedEventTypes, device, F_EVENTS, types, &g);
    if (r != NVML_SUCCESS) return r;
    *types = g.event_types;
    return NVML_SUCCESS;
}

FAKE_API nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
    begin_call(SYM_nvmlEventSetCreate);
    int init = g_init_refcount > 0;
    if (init && set != NULL) g_sets_live++;
    end_lock();
    if (!init) return NVML_ERROR_UNINITIALIZED;
    if (set == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    struct fake_event_set *s = calloc(1, sizeof(*s));
    if (s == NULL) return NVML_ERROR_MEMORY;
    s->magic = FAKE_SET_MAGIC;
    *set = s;
    return NVML_SUCCESS;
}

/* Like NVML: the whole call fails (NOT_SUPPORTED) if one requested type is not supported. */
FAKE_API nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, nvmlEventSet_t set) {
    struct fake_gpu g;
    nvmlReturn_t r = device_call(SYM_nvmlDeviceRegisterEvents, device, F_EVENTS, set, &g);
    if (r != NVML_SUCCESS) return r;
    if (set->magic != FAKE_SET_MAGIC) return NVML_ERROR_INVALID_ARGUMENT;
    if ((types & ~g.event_types) != 0) return NVML_ERROR_NOT_SUPPORTED;
    set->types[device->index] |= types;
    return NVML_SUCCESS;
}

/* Delivers a pending XID event of a registered device (one per call), else sleeps in 5 ms steps
 * (re-reading the configuration; in fast mode in one step) until the timeout and answers TIMEOUT. */
FAKE_API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms) {
    begin_call(SYM_nvmlEventSetWait_v2);
    end_lock();
    if (set == NULL || data == NULL || set->magic != FAKE_SET_MAGIC) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned int waited = 0;
    for (;;) {
        pthread_mutex_lock(&g_lock);
        if (!g_fast) refresh_config();
        if (g_init_refcount == 0) {
            pthread_mutex_unlock(&g_lock);
            return NVML_ERROR_UNINITIALIZED;
        }
        for (unsigned int i = 0; i < g_cfg.count; i++) {
            const struct fake_gpu *g = &g_cfg.gpu[i];
            if ((set->types[i] & NVML_EVENT_TYPE_XID) && g_xid_delivered[i] < g->xid_total) {
                g_xid_delivered[i]++;
                data->device = &g_devices[i];
                data->eventType = NVML_EVENT_TYPE_XID;
                data->eventData = g->xid;
                data->gpuInstanceId = 0xffffffffu;
                data->computeInstanceId = 0xffffffffu;
                pthread_mutex_unlock(&g_lock);
                return NVML_SUCCESS;
            }
        }
        pthread_mutex_unlock(&g_lock);
        if (waited >= timeoutms) return NVML_ERROR_TIMEOUT;
        /* fast mode: the configuration never changes, so no event can become due: sleep it out
           in one go, as the real driver blocks (no CPU) */
        unsigned int step = g_fast ? timeoutms - waited : (timeoutms - waited < 5 ? timeoutms - waited : 5);
        sleep_ms(step);
        waited += step;
    }
}

FAKE_API nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
    begin_call(SYM_nvmlEventSetFree);
    if (set == NULL || set->magic != FAKE_SET_MAGIC) {
        end_lock();
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    g_sets_live--;
    end_lock();
    set->magic = 0;
    free(set);
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ */
/* Not NVML: for tests and benchmarks that load the fake themselves (dlopen the same path)      */
/* ------------------------------------------------------------------------------------------ */

/* Calls of `symbol` since the fake was loaded; all calls when `symbol` is NULL; with "-" as the
 * first character, all calls except that symbol's ("-nvmlEventSetWait_v2"). */
FAKE_API unsigned long long fakeNvmlCallCount(const char *symbol) {
    unsigned long long n = 0;
    pthread_mutex_lock(&g_lock);
    int except = symbol != NULL && symbol[0] == '-';
    const char *name = except ? symbol + 1 : symbol;
    for (int s = 0; s < SYM__COUNT; s++) {
        int match = name == NULL || !strcmp(g_symbol_names[s], name);
        if (except ? !match : match) n += g_calls[s];
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

/* GPM samples and event sets allocated and not yet freed. */
FAKE_API long long fakeNvmlLiveObjects(void) {
    pthread_mutex_lock(&g_lock);
    long long n = g_gpm_live + g_sets_live;
    pthread_mutex_unlock(&g_lock);
    return n;
}
