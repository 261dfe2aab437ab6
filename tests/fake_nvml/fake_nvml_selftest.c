/*
 * fake_nvml_selftest.c - CTest check that the CMake-built fake NVML loads with dlopen and answers
 * from FAKE_NVML_CONFIG. Usage: fake_nvml_selftest /path/to/libnvidia-ml.so.1 /tmp/dir
 * (the program writes its config and stats files into the given directory).
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*init_fn)(void);
typedef int (*count_fn)(unsigned int *);
typedef int (*handle_fn)(unsigned int, void **);
typedef int (*uint_fn)(void *, unsigned int *);
typedef int (*ull_fn)(void *, unsigned long long *);

static int failures;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fputc('\n', stderr);                           \
            failures++;                                    \
        }                                                  \
    } while (0)

static void *sym(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (p == NULL) {
        fprintf(stderr, "FAIL: symbol %s missing: %s\n", name, dlerror());
        exit(1);
    }
    return p;
}

/* Object pointer -> function pointer without the cast ISO C does not define. */
static void load(void *fn, size_t size, void *lib, const char *name) {
    void *p = sym(lib, name);
    memcpy(fn, &p, size);
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    fputs(text, f);
    return fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBRARY WORKDIR\n", argv[0]);
        return 2;
    }
    char config[4096], stats[4096];
    snprintf(config, sizeof(config), "%s/selftest.conf", argv[2]);
    snprintf(stats, sizeof(stats), "%s/selftest.stats", argv[2]);
    if (write_file(config, "count = 2\ngpu1.power_mw = 250000\ngpu1.energy.error = not_supported\n") != 0) {
        fprintf(stderr, "FAIL: cannot write %s\n", config);
        return 1;
    }
    setenv("FAKE_NVML_CONFIG", config, 1);
    setenv("FAKE_NVML_STATS", stats, 1);

    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "FAIL: dlopen(%s): %s\n", argv[1], dlerror());
        return 1;
    }
    init_fn init;
    count_fn count;
    handle_fn handle;
    uint_fn power;
    ull_fn energy;
    load(&init, sizeof(init), lib, "nvmlInit_v2");
    load(&count, sizeof(count), lib, "nvmlDeviceGetCount_v2");
    load(&handle, sizeof(handle), lib, "nvmlDeviceGetHandleByIndex_v2");
    load(&power, sizeof(power), lib, "nvmlDeviceGetPowerUsage");
    load(&energy, sizeof(energy), lib, "nvmlDeviceGetTotalEnergyConsumption");

    int r = init();
    CHECK(r == 0, "nvmlInit_v2: expected 0, got %d", r);
    unsigned int n = 0;
    r = count(&n);
    CHECK(r == 0 && n == 2, "nvmlDeviceGetCount_v2: expected 0 / 2, got %d / %u", r, n);
    void *dev = NULL;
    r = handle(1, &dev);
    CHECK(r == 0 && dev != NULL, "nvmlDeviceGetHandleByIndex_v2(1): expected 0, got %d", r);
    unsigned int mw = 0;
    r = power(dev, &mw);
    CHECK(r == 0 && mw == 250000, "nvmlDeviceGetPowerUsage: expected 0 / 250000, got %d / %u", r, mw);
    unsigned long long mj = 0;
    r = energy(dev, &mj);
    CHECK(r == 3, "nvmlDeviceGetTotalEnergyConsumption: expected 3 (NOT_SUPPORTED), got %d", r);

    FILE *f = fopen(stats, "r");
    CHECK(f != NULL, "stats file %s was not written", stats);
    if (f != NULL) {
        char line[256];
        int seen = 0;
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strcmp(line, "nvmlDeviceGetPowerUsage=1\n") == 0) seen = 1;
        }
        fclose(f);
        CHECK(seen, "stats file lacks the line nvmlDeviceGetPowerUsage=1");
    }
    dlclose(lib);
    if (failures == 0) printf("fake_nvml_selftest: OK\n");
    return failures == 0 ? 0 : 1;
}
