/* Lion update on CPU: one pass over memory per element, all threads.
 *
 * Per element (Chen et al. 2023, Algorithm 2):
 *   c     = beta1 * m + (1 - beta1) * g
 *   theta = theta * (1 - lr * wd) - lr * sign(c)       sign(0) = 0, sign(NaN) = NaN
 *   m     = beta2 * m + (1 - beta2) * g
 * The step is memory-bound (fp32: read p, g, m and write p, m = 20 bytes per element), so the
 * kernel reads each element once, keeps everything in registers, and splits the tensors of
 * a param group into chunks that the threads share out (see Region).
 *
 * Arithmetic is plain fp32 with one rounding per operation (compiled with -ffp-contract=off),
 * in the same order as the reference path in functional.py, so both give the same bits.
 * bf16 tensors are widened to fp32, updated, and rounded back to nearest-even or stochastically
 * (noise from a counter-based hash of (key, element index): reproducible for any thread count).
 *
 * Built by cpu_kernel.py with the system C compiler and loaded with ctypes; no torch headers.
 */
#include <pthread.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

#define CHUNK_ELEMENTS 32768 /* one work item: 384 KiB of fp32 p, g, m */
#define MAX_THREADS 256

/* Function multi-versioning: an AVX-512 or AVX2 clone picked at load time, a baseline one
 * elsewhere. The step is memory-bound, yet the wider clone streams faster: on a 2-core Xeon
 * with AVX-512, 15 ms against 17 ms for 33.5M fp32 weights (the same loop, the same bits:
 * no FMA, -ffp-contract=off, the sign from comparisons). */
#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute) /* needs ifunc */
#if __has_attribute(target_clones)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef VECTOR_CLONES
#define VECTOR_CLONES
#endif

typedef struct {
  float lr, decay, beta1, one_minus_beta1, beta2, one_minus_beta2;
} Coefficients;

/* lowbias32 (C. Wellons): a 32-bit integer hash; rounding.py and triton_kernel.py mirror it. */
static inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  x ^= x >> 16;
  return x;
}

static inline float bits_to_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint32_t float_to_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* sign with sign(0) = 0 and sign(NaN) = NaN, branch-free so the loop vectorizes. */
static inline float sign_or_nan(float c) {
  float s = (float)(c > 0.0f) - (float)(c < 0.0f);
  return c == c ? s : c;
}

static inline float lion_element(float *m, float p, float g, Coefficients k) {
  float c = k.beta1 * *m + k.one_minus_beta1 * g;
  *m = k.beta2 * *m + k.one_minus_beta2 * g;
  return p * k.decay - k.lr * sign_or_nan(c);
}

VECTOR_CLONES
static void lion_f32(float *restrict p, const float *restrict g, float *restrict m, int64_t n,
                     Coefficients k) {
  for (int64_t i = 0; i < n; i++) p[i] = lion_element(&m[i], p[i], g[i], k);
}

/* bf16 weights: widen p and g to fp32, update, round back. Nearest-even and NaN -> 0x7FC0 as
 * torch does; stochastic: add 16 random bits below the kept mantissa, then truncate (rounds
 * up with probability = the fraction dropped). Two loops, so that nearest skips the hash. */
static inline float lion_bf16_element(float *m, uint16_t p, uint16_t g, Coefficients k) {
  return lion_element(m, bits_to_float((uint32_t)p << 16), bits_to_float((uint32_t)g << 16), k);
}

static inline uint16_t to_bf16(float theta, uint32_t added) {
  return theta == theta ? (uint16_t)((float_to_bits(theta) + added) >> 16) : (uint16_t)0x7FC0u;
}

VECTOR_CLONES
static void lion_bf16(uint16_t *restrict p, const uint16_t *restrict g, float *restrict m,
                      int64_t n, Coefficients k, int stochastic, uint32_t key, int64_t first) {
  if (stochastic) {
    for (int64_t i = 0; i < n; i++) {
      float theta = lion_bf16_element(&m[i], p[i], g[i], k);
      p[i] = to_bf16(theta, mix32((uint32_t)(first + i) * 0x9E3779B1u + key) >> 16);
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      float theta = lion_bf16_element(&m[i], p[i], g[i], k);
      p[i] = to_bf16(theta, 0x7FFFu + ((float_to_bits(theta) >> 16) & 1u));
    }
  }
}

/* Each worker owns a contiguous range of chunks (long sequential streams for the prefetcher)
 * and, once done, takes chunks from the others' ranges: a worker that the OS deschedules
 * (another process on the core) does not hold up the step. */
typedef struct {
  int64_t next, end; /* next chunk to take (atomic), one past the last */
  char pad[48];      /* one cache line per region */
} Region;

typedef struct {
  void *const *params;
  const void *const *grads;
  float *const *exp_avgs;
  const int64_t *numels;
  const uint32_t *round_keys; /* per tensor; NULL: round bf16 to nearest */
  const int64_t *first_chunk; /* ntensors + 1 prefix sums of chunk counts */
  int64_t ntensors;
  int is_bf16;
  Coefficients k;
  Region *regions;
  int nregions;
} Step;

typedef struct {
  Step *step;
  int id;
} Worker;

static void run_chunk(const Step *s, int64_t chunk) {
  int64_t lo = 0, hi = s->ntensors - 1; /* tensor t holds chunks [first[t], first[t+1]) */
  while (lo < hi) {
    int64_t mid = (lo + hi + 1) / 2;
    if (s->first_chunk[mid] <= chunk) lo = mid; else hi = mid - 1;
  }
  int64_t t = lo, start = (chunk - s->first_chunk[t]) * CHUNK_ELEMENTS;
  int64_t n = s->numels[t] - start < CHUNK_ELEMENTS ? s->numels[t] - start : CHUNK_ELEMENTS;
  float *m = s->exp_avgs[t] + start;
  if (s->is_bf16) {
    uint32_t key = s->round_keys ? s->round_keys[t] : 0u;
    lion_bf16((uint16_t *)s->params[t] + start, (const uint16_t *)s->grads[t] + start, m, n,
              s->k, s->round_keys != NULL, key, start);
  } else {
    lion_f32((float *)s->params[t] + start, (const float *)s->grads[t] + start, m, n, s->k);
  }
}

static void *work(void *arg) {
  const Worker *w = (const Worker *)arg;
  Step *s = w->step;
  for (int r = 0; r < s->nregions; r++) { /* own region first, then help the others */
    Region *region = &s->regions[(w->id + r) % s->nregions];
    for (;;) {
      int64_t chunk = __atomic_fetch_add(&region->next, 1, __ATOMIC_RELAXED);
      if (chunk >= region->end) break;
      run_chunk(s, chunk);
    }
  }
  return NULL;
}

/* One Lion step over ntensors tensors of one dtype (fp32, or bf16 when is_bf16).
 * Returns 0, or -1 when out of memory (nothing was changed). */
int lionlab_lion_step(int64_t ntensors, void *const *params, const void *const *grads,
                      float *const *exp_avgs, const int64_t *numels, int is_bf16,
                      const uint32_t *round_keys, float lr, float decay, float beta1,
                      float one_minus_beta1, float beta2, float one_minus_beta2,
                      int nthreads) {
  if (ntensors <= 0) return 0;
  /* Threads only where there is work for them: at least 4 chunks each. */
  int64_t total = 0;
  for (int64_t t = 0; t < ntensors; t++)
    total += (numels[t] + CHUNK_ELEMENTS - 1) / CHUNK_ELEMENTS;
  int64_t useful = total / 4 > 1 ? total / 4 : 1;
  int workers = (int)(useful < nthreads ? useful : nthreads);
  workers = workers < 1 ? 1 : (workers > MAX_THREADS ? MAX_THREADS : workers);

  int64_t *first = malloc((size_t)(ntensors + 1) * sizeof *first);
  Region *regions = malloc((size_t)workers * sizeof *regions);
  if (!first || !regions) {
    free(first);
    free(regions);
    return -1;
  }
  first[0] = 0;
  for (int64_t t = 0; t < ntensors; t++)
    first[t + 1] = first[t] + (numels[t] + CHUNK_ELEMENTS - 1) / CHUNK_ELEMENTS;
  for (int i = 0; i < workers; i++) {
    regions[i].next = total * i / workers;
    regions[i].end = total * (i + 1) / workers;
  }
  Step s = {params, grads, exp_avgs, numels, round_keys, first, ntensors, is_bf16,
            {lr, decay, beta1, one_minus_beta1, beta2, one_minus_beta2}, regions, workers};

#ifdef _OPENMP
  /* Built against the OpenMP runtime torch already loaded (cpu_kernel.py): the step runs on
   * torch's own intra-op threads, which after a backward pass are still spinning for work. */
#pragma omp parallel num_threads(workers)
  {
    Worker w = {&s, omp_get_thread_num()};
    work(&w);
  }
#else
  pthread_t threads[MAX_THREADS];
  Worker args[MAX_THREADS];
  int started = 0;
  for (int i = 1; i < workers; i++, started++) {
    args[i] = (Worker){&s, i};
    if (pthread_create(&threads[started], NULL, work, &args[i]) != 0) break; /* fewer is fine */
  }
  args[0] = (Worker){&s, 0};
  work(&args[0]);
  for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
#endif
  free(first);
  free(regions);
  return 0;
}
