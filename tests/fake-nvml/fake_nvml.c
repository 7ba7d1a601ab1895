/* A fake libnvidia-ml.so.1 for tests, driven by environment variables:
 *   FAKE_NVML_INIT_RC   return code of nvmlInit_v2 (0 = success; 9 = driver not loaded, 4 = no permission, 18 = version mismatch)
 *   FAKE_NVML_DRIVER    driver version string            (default 550.54.15)
 *   FAKE_NVML_CUDA      CUDA driver version as NVML int  (default 12040)
 *   FAKE_NVML_COUNT     number of devices                (default 1)
 *   FAKE_NVML_NAME      device name                      (default "NVIDIA H100 80GB HBM3")
 *   FAKE_NVML_BRAND     nvmlBrandType_t                  (default 2 = Tesla)
 *   FAKE_NVML_CC        compute capability "major.minor" (default 9.0)
 *   FAKE_NVML_MIG       1 = MIG enabled                  (default 0)
 *   FAKE_NVML_MEM_MIB   total memory in MiB              (default 81559)
 * Build: cc -shared -fPIC -o libnvidia-ml.so.1 fake_nvml.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;
typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

static const char *env(const char *k, const char *d) {
    const char *v = getenv(k);
    return v && *v ? v : d;
}
static int envi(const char *k, int d) {
    const char *v = getenv(k);
    return v && *v ? atoi(v) : d;
}
static int inited;

nvmlReturn_t nvmlInit_v2(void) {
    int rc = atoi(env("FAKE_NVML_INIT_RC", "0"));
    if (rc == 0) inited = 1;
    return rc;
}
nvmlReturn_t nvmlInitWithFlags(unsigned int flags) { (void)flags; return nvmlInit_v2(); }
nvmlReturn_t nvmlShutdown(void) { inited = 0; return 0; }
const char *nvmlErrorString(nvmlReturn_t r) { (void)r; return "fake NVML error"; }

nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned int len) {
    if (!inited) return 1;
    snprintf(buf, len, "%s", env("FAKE_NVML_DRIVER", "550.54.15"));
    return 0;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) {
    if (!inited) return 1;
    *v = envi("FAKE_NVML_CUDA", 12040);
    return 0;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v) { return nvmlSystemGetCudaDriverVersion_v2(v); }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) {
    if (!inited) return 1;
    *n = (unsigned)envi("FAKE_NVML_COUNT", 1);
    return 0;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
    if (!inited) return 1;
    if (i >= (unsigned)envi("FAKE_NVML_COUNT", 1)) return 2;
    *d = (nvmlDevice_t)(unsigned long)(i + 1);
    return 0;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *buf, unsigned int len) {
    (void)d;
    snprintf(buf, len, "%s", env("FAKE_NVML_NAME", "NVIDIA H100 80GB HBM3"));
    return 0;
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *buf, unsigned int len) {
    snprintf(buf, len, "GPU-00000000-0000-0000-0000-00000000000%lu", (unsigned long)d);
    return 0;
}
nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t d, int *b) {
    (void)d;
    *b = envi("FAKE_NVML_BRAND", 2);
    return 0;
}
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor) {
    (void)d;
    const char *cc = env("FAKE_NVML_CC", "9.0");
    *major = atoi(cc);
    const char *dot = strchr(cc, '.');
    *minor = dot ? atoi(dot + 1) : 0;
    return 0;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m) {
    (void)d;
    m->total = (unsigned long long)envi("FAKE_NVML_MEM_MIB", 81559) << 20;
    m->free = m->total;
    m->used = 0;
    m->reserved = 0;
    return 0;
}
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *cur, unsigned int *pending) {
    (void)d;
    *cur = *pending = (unsigned)envi("FAKE_NVML_MIG", 0);
    return 0;
}
