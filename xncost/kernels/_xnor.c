/* xncost.kernels._xnor: compiled XNOR-popcount kernels on packed uint64 words.
 *
 * Optional accelerator for xncost.kernels.packed (which validates arguments and falls back to
 * numpy when this module is not built). Operands are any C-contiguous buffers (numpy arrays)
 * of 64-bit unsigned words; outputs are preallocated C-contiguous int32 or int64 buffers. No
 * numpy headers are needed: shapes, item sizes and formats come from the buffer protocol.
 *
 * Portable builds: the module is compiled for the baseline instruction set and carries
 * several copies of its loops (_xnor_impl.h), one per instruction set, chosen at import from
 * what the CPU reports: AVX-512 VPOPCNTDQ (8 popcounts per instruction), the POPCNT
 * instruction, or plain C. The compute loops release the GIL; large GEMMs and capsule loops
 * split their rows or columns over POSIX threads.
 *
 * GEMM (k - 2 popcount(a ^ b) summed over words): one-word to three-word dot products are
 * vectorised over output columns (B word-major); longer ones use register tiles. With AVX-512
 * a panel of 16 columns of B is packed word-interleaved and every row of A is broadcast
 * against it, 8 rows x 16 columns of counts in registers, no horizontal sums; otherwise
 * 4 x 4 tiles of dot products over cache blocks of B.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* -DXN_GENERIC_ONLY builds what a non-x86 target gets: the plain C loops alone. */
#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 8 || defined(__clang__)) &&     \
    !defined(XN_GENERIC_ONLY)
#define XN_X86 1
#include <immintrin.h>
#endif

#if !defined(_WIN32)
#define XN_PTHREADS 1
#include <pthread.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define XN_POPCOUNT(x) __builtin_popcountll(x)
#else
static int xn_popcount_portable(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
}
#define XN_POPCOUNT(x) xn_popcount_portable(x)
#endif

#define XN_STR2(x) #x
#define XN_STR(x) XN_STR2(x)
#ifndef XN_WORD_BLOCK
#define XN_WORD_BLOCK 512 /* words per dot-product block: 4 rows of A = 16 KiB */
#endif
#ifndef XN_B_BLOCK_BYTES
#define XN_B_BLOCK_BYTES (128 * 1024) /* rows of B reused by every row of A (4 x 4 tiles) */
#endif
#ifndef XN_SMALL_CHUNK
#define XN_SMALL_CHUNK 512 /* output columns per pass of the small-w GEMM */
#endif
#ifndef XN_PANEL_WORDS
#define XN_PANEL_WORDS 256 /* words of a 16-column panel of B per pass: 32 KiB, in L1 */
#endif
#ifndef XN_USE_PANEL
#define XN_USE_PANEL 1 /* 0: AVX-512 uses the 4 x 4 tiles too (for comparison) */
#endif
#ifndef XN_PANEL_MIN_W
#define XN_PANEL_MIN_W 4 /* fewest words per dot product for the panel kernel */
#endif
#ifndef XN_SMALL_W
#define XN_SMALL_W 4 /* below this many words, vectorise over columns */
#endif
#ifndef XN_PACK_COLS
#define XN_PACK_COLS 256 /* columns per unit of a pack over a non-last axis */
#endif
#define XN_MAX_THREADS 64

/* out[idx] as int32 or int64. */
static inline int64_t xn_load(const void *out, int out64, Py_ssize_t idx)
{
    return out64 ? ((const int64_t *)out)[idx] : (int64_t)((const int32_t *)out)[idx];
}

static inline void xn_store(void *out, int out64, Py_ssize_t idx, int64_t v)
{
    if (out64)
        ((int64_t *)out)[idx] = v;
    else
        ((int32_t *)out)[idx] = (int32_t)v;
}

typedef struct xn_isa_s xn_isa;

/* out[i * ldo_i + j * ldo_j] = k - 2 sum_q popcount(a[i * lda + q] ^ b[j * ldb + q]). */
typedef struct {
    const xn_isa *isa;
    const uint64_t *a, *b, *bt; /* bt: B word-major [w, n] for the small-w path */
    const uint64_t *bp;         /* NULL, or B's 16-column panels for gemm_panel (xn_panels) */
    void *out;
    Py_ssize_t m, n, w, lda, ldb, ldo_i, ldo_j;
    int64_t k;
    int out64;
    int split_rows; /* threads share rows (1) or columns (0) */
} xn_gemm_job;

/* XnODR: x [B, N, ma, w] (ma = 1 or m), y [N, m, e, w] -> out [B, N, m, e].
 * XnIDR: x [B, N, m, w], y [B, m, w] -> out [B, N, m] (e unused). */
typedef struct {
    const xn_isa *isa;
    const uint64_t *x, *y;
    void *out;
    Py_ssize_t bsz, n, m, e, w, ma;
    int64_t k;
    int out64;
} xn_caps_job;

/* Binarize-and-pack: x [outer, k, inner] float32 or float64 -> out [outer, inner, w] words,
 * bit t of word q = x[.., 64 q + t, ..] > thr (sign with 0 -> -1; see packed.sign_threshold). */
typedef struct {
    const xn_isa *isa;
    const void *x;
    uint64_t *out;
    Py_ssize_t outer, k, inner, w;
    float thr32;
    double thr64;
    int f64;
} xn_pack_job;

typedef void (*xn_gemm_fn)(const xn_gemm_job *, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t);
typedef void (*xn_caps_fn)(const xn_caps_job *, Py_ssize_t, Py_ssize_t);
typedef void (*xn_pack_fn)(const xn_pack_job *, Py_ssize_t, Py_ssize_t);
typedef void (*xn_panel_fn)(const xn_gemm_job *, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                            uint64_t *);

struct xn_isa_s {
    const char *name;
    xn_gemm_fn gemm_blocked, gemm_small;
    xn_caps_fn xnodr, xnidr, xnodr_blocked;
    xn_pack_fn pack_last, pack_mid;
    xn_panel_fn gemm_panel; /* NULL: this instruction set uses gemm_blocked */
};

#ifdef XN_X86
#define XN_SUFFIX avx512vpopcntdq
#define XN_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq,popcnt")))
#define XN_AVX512 1
#include "_xnor_impl.h"
#undef XN_AVX512
#undef XN_TARGET
#undef XN_SUFFIX

#define XN_SUFFIX avx2
#define XN_TARGET __attribute__((target("avx2,popcnt")))
#define XN_AVX2 1
#include "_xnor_impl.h"
#undef XN_AVX2
#undef XN_TARGET
#undef XN_SUFFIX

#define XN_SUFFIX popcnt
#define XN_TARGET __attribute__((target("popcnt")))
#include "_xnor_impl.h"
#undef XN_TARGET
#undef XN_SUFFIX
#endif

#define XN_SUFFIX generic
#define XN_TARGET
#include "_xnor_impl.h"
#undef XN_TARGET
#undef XN_SUFFIX

/* Every copy compiled here, best first, and whether this CPU can run it. */
static const xn_isa *xn_all[] = {
#ifdef XN_X86
    &isa_avx512vpopcntdq,
    &isa_avx2,
    &isa_popcnt,
#endif
    &isa_generic,
};
#define XN_N_ISA ((int)(sizeof(xn_all) / sizeof(xn_all[0])))
static int xn_supported[XN_N_ISA];
static const xn_isa *xn_best;

static void xn_detect(void)
{
    int i;
#ifdef XN_X86
    __builtin_cpu_init();
    xn_supported[0] = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512vpopcntdq") &&
                      __builtin_cpu_supports("popcnt");
    xn_supported[1] = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    xn_supported[2] = __builtin_cpu_supports("popcnt");
#endif
    xn_supported[XN_N_ISA - 1] = 1;
    for (i = 0; i < XN_N_ISA; i++)
        if (xn_supported[i]) {
            xn_best = xn_all[i];
            break;
        }
}

/* ---- threads ------------------------------------------------------------------------ */

typedef void (*xn_range_fn)(const void *job, Py_ssize_t lo, Py_ssize_t hi);
#ifndef XN_CHUNKS_PER_THREAD
#define XN_CHUNKS_PER_THREAD 4 /* chunks a call is cut into, per thread */
#endif

#ifdef XN_PTHREADS
/* A persistent pool: workers are started on first use (as many as a call needs, at most
 * XN_MAX_THREADS - 1) and then sleep on a condition variable until the next call. A call
 * is cut into chunks that the calling thread and the woken workers claim one at a time
 * (under the lock), so a worker that wakes late, its core busy with another process, costs
 * no waiting: the caller takes its chunks, and waits only for chunks already being run. A
 * worker that wakes after the call finds nothing left to claim. One call uses the pool at a
 * time: a concurrent call (another Python thread; the GIL is released) runs its chunks in
 * its own thread instead of waiting. After fork() the child has no workers: the pool is
 * reset and restarted there on demand. */
static pthread_mutex_t xn_pool_busy = PTHREAD_MUTEX_INITIALIZER; /* held by the running call */
static pthread_mutex_t xn_pool_mu = PTHREAD_MUTEX_INITIALIZER;   /* guards the fields below */
static pthread_cond_t xn_pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t xn_pool_done = PTHREAD_COND_INITIALIZER;
static xn_range_fn xn_pool_fn;
static const void *xn_pool_job;
static Py_ssize_t xn_pool_total, xn_pool_per, xn_pool_next; /* chunks of xn_pool_per items */
static int xn_pool_workers, xn_pool_running, xn_pool_atfork;
static unsigned long xn_pool_generation;

/* Claim the next chunk of the current call (lock held): 0 when none is left. */
static int xn_pool_claim(xn_range_fn *fn, const void **job, Py_ssize_t *lo, Py_ssize_t *hi)
{
    if (xn_pool_fn == NULL || xn_pool_next >= xn_pool_total)
        return 0;
    *fn = xn_pool_fn;
    *job = xn_pool_job;
    *lo = xn_pool_next;
    *hi = xn_pool_next + xn_pool_per < xn_pool_total ? xn_pool_next + xn_pool_per
                                                     : xn_pool_total;
    xn_pool_next = *hi;
    xn_pool_running++;
    return 1;
}

/* Run chunks until none is left to claim (lock held on entry and exit). */
static void xn_pool_drain(void)
{
    xn_range_fn fn;
    const void *job;
    Py_ssize_t lo, hi;
    while (xn_pool_claim(&fn, &job, &lo, &hi)) {
        pthread_mutex_unlock(&xn_pool_mu);
        fn(job, lo, hi);
        pthread_mutex_lock(&xn_pool_mu);
        if (--xn_pool_running == 0 && xn_pool_next >= xn_pool_total)
            pthread_cond_signal(&xn_pool_done);
    }
}

static void *xn_pool_main(void *arg)
{
    unsigned long seen = (unsigned long)(uintptr_t)arg; /* the generation it was started in */
    pthread_mutex_lock(&xn_pool_mu);
    for (;;) {
        xn_pool_drain();
        while (xn_pool_generation == seen)
            pthread_cond_wait(&xn_pool_wake, &xn_pool_mu);
        seen = xn_pool_generation;
    }
    return NULL;
}

static void xn_pool_after_fork(void)
{
    pthread_mutex_init(&xn_pool_busy, NULL);
    pthread_mutex_init(&xn_pool_mu, NULL);
    pthread_cond_init(&xn_pool_wake, NULL);
    pthread_cond_init(&xn_pool_done, NULL);
    xn_pool_workers = xn_pool_running = 0;
    xn_pool_fn = NULL;
}

/* Start workers until `want` run (lock held); returns how many run. */
static int xn_pool_grow(int want)
{
    pthread_attr_t attr;
    if (!xn_pool_atfork)
        xn_pool_atfork = pthread_atfork(NULL, NULL, xn_pool_after_fork) == 0 ? 1 : -1;
    if (xn_pool_atfork < 0) /* without a fork handler a forked child could wait forever */
        return 0;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (xn_pool_workers < want) {
        pthread_t tid;
        if (pthread_create(&tid, &attr, xn_pool_main, (void *)(uintptr_t)xn_pool_generation))
            break;
        xn_pool_workers++;
    }
    pthread_attr_destroy(&attr);
    return xn_pool_workers;
}
#endif

/* fn(job, lo, hi) over [0, total), on `threads` threads (the caller and threads - 1 pool
 * workers) in chunks of a multiple of `align` items, `chunks` per thread. Called without
 * the GIL. */
static void xn_parallel_chunks(xn_range_fn fn, const void *job, Py_ssize_t total,
                               Py_ssize_t align, int threads, int chunks)
{
#ifdef XN_PTHREADS
    Py_ssize_t per;
    if (threads > XN_MAX_THREADS)
        threads = XN_MAX_THREADS;
    if (threads > 1 && total > align && pthread_mutex_trylock(&xn_pool_busy) == 0) {
        pthread_mutex_lock(&xn_pool_mu);
        threads = 1 + xn_pool_grow(threads - 1);
        if (threads > 1) {
            per = (total + (Py_ssize_t)threads * chunks - 1) / ((Py_ssize_t)threads * chunks);
            per = (per + align - 1) / align * align;
            xn_pool_fn = fn;
            xn_pool_job = job;
            xn_pool_total = total;
            xn_pool_per = per;
            xn_pool_next = 0;
            xn_pool_running = 0;
            xn_pool_generation++;
            pthread_cond_broadcast(&xn_pool_wake);
            xn_pool_drain();
            while (xn_pool_running > 0)
                pthread_cond_wait(&xn_pool_done, &xn_pool_mu);
            xn_pool_fn = NULL;
            pthread_mutex_unlock(&xn_pool_mu);
            pthread_mutex_unlock(&xn_pool_busy);
            return;
        }
        pthread_mutex_unlock(&xn_pool_mu);
        pthread_mutex_unlock(&xn_pool_busy);
    }
#else
    (void)align;
    (void)threads;
    (void)chunks;
#endif
    fn(job, 0, total);
}

static void xn_parallel(xn_range_fn fn, const void *job, Py_ssize_t total, Py_ssize_t align,
                        int threads)
{
    xn_parallel_chunks(fn, job, total, align, threads, XN_CHUNKS_PER_THREAD);
}

static void xn_gemm_blocked_part(const void *job, Py_ssize_t lo, Py_ssize_t hi)
{
    const xn_gemm_job *g = (const xn_gemm_job *)job;
    if (g->split_rows)
        g->isa->gemm_blocked(g, lo, hi, 0, g->n);
    else
        g->isa->gemm_blocked(g, 0, g->m, lo, hi);
}

/* B [n, w] (row stride ldb) as ceil(n/16) panels of 16 word-interleaved columns, zero past
 * n: bp[(j / 16) * 16 w + q * 16 + j % 16] = b[j, q]; NULL when out of memory. */
static uint64_t *xn_panels(const uint64_t *b, Py_ssize_t n, Py_ssize_t w, Py_ssize_t ldb)
{
    const Py_ssize_t np = (n + 15) / 16;
    uint64_t *bp = (uint64_t *)calloc((size_t)(np * 16 * w), sizeof(uint64_t));
    Py_ssize_t j, q;
    if (bp == NULL)
        return NULL;
    for (j = 0; j < n; j++) {
        uint64_t *dst = bp + (j / 16) * 16 * w + j % 16;
        for (q = 0; q < w; q++)
            dst[q * 16] = b[j * ldb + q];
    }
    return bp;
}

static void xn_gemm_panel_part(const void *job, Py_ssize_t lo, Py_ssize_t hi)
{
    const xn_gemm_job *g = (const xn_gemm_job *)job;
    uint64_t *panel;
    if (g->bp != NULL && g->split_rows) {
        g->isa->gemm_panel(g, lo, hi, 0, g->n, NULL);
        return;
    }
    panel = (uint64_t *)malloc((size_t)g->w * 16 * sizeof(uint64_t));
    if (panel == NULL) { /* no memory for the panel: the unpacked tiles need none */
        xn_gemm_blocked_part(job, lo, hi);
        return;
    }
    if (g->split_rows)
        g->isa->gemm_panel(g, lo, hi, 0, g->n, panel);
    else
        g->isa->gemm_panel(g, 0, g->m, lo, hi, panel);
    free(panel);
}

static void xn_gemm_small_part(const void *job, Py_ssize_t lo, Py_ssize_t hi)
{
    const xn_gemm_job *g = (const xn_gemm_job *)job;
    if (g->split_rows)
        g->isa->gemm_small(g, lo, hi, 0, g->n);
    else
        g->isa->gemm_small(g, 0, g->m, lo, hi);
}

static void xn_xnodr_part(const void *job, Py_ssize_t lo, Py_ssize_t hi)
{
    const xn_caps_job *g = (const xn_caps_job *)job;
    g->isa->xnodr(g, lo, hi);
}

static void xn_xnidr_part(const void *job, Py_ssize_t lo, Py_ssize_t hi)
{
    const xn_caps_job *g = (const xn_caps_job *)job;
    g->isa->xnidr(g, lo, hi);
}

static void xn_xnodr_blocked_part(const void *job, Py_ssize_t lo, Py_ssize_t hi)
{
    const xn_caps_job *g = (const xn_caps_job *)job;
    g->isa->xnodr_blocked(g, lo, hi);
}

/* ---- argument checking -------------------------------------------------------------- */

/* The format's type character, with a native or little-endian prefix skipped (else 0). */
static char xn_format_char(const Py_buffer *v)
{
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || (*f == '<' && PY_LITTLE_ENDIAN))
        f++;
    return (f[0] && !f[1]) ? f[0] : 0;
}

static int xn_get(PyObject *obj, Py_buffer *view, int writable, int ndim, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    char c;
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    c = xn_format_char(view);
    if (view->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must have %d dimensions, got %d", name, ndim,
                     view->ndim);
        goto fail;
    }
    if (!writable && !(view->itemsize == 8 && c && strchr("LQN", c))) {
        PyErr_Format(PyExc_ValueError, "%s must hold uint64 words", name);
        goto fail;
    }
    if (writable && !((view->itemsize == 4 || view->itemsize == 8) && c && strchr("ilqn", c))) {
        PyErr_Format(PyExc_ValueError, "%s must be int32 or int64", name);
        goto fail;
    }
    return 0;
fail:
    PyBuffer_Release(view);
    return -1;
}

static int xn_check_k(long long k, Py_ssize_t w, const Py_buffer *out)
{
    if (k < 0 || (k + 63) / 64 != w) {
        PyErr_Format(PyExc_ValueError, "k=%lld needs %lld words, the operands have %zd", k,
                     (k + 63) / 64, w);
        return -1;
    }
    if (out->itemsize == 4 && k > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "int32 output cannot hold dot products this long");
        return -1;
    }
    return 0;
}

static int xn_pick_isa(const char *name, const xn_isa **isa)
{
    int i;
    if (name == NULL) {
        *isa = xn_best;
        return 0;
    }
    for (i = 0; i < XN_N_ISA; i++)
        if (strcmp(name, xn_all[i]->name) == 0) {
            if (!xn_supported[i]) {
                PyErr_Format(PyExc_ValueError, "this CPU cannot run the %s kernels", name);
                return -1;
            }
            *isa = xn_all[i];
            return 0;
        }
    PyErr_Format(PyExc_ValueError, "unknown instruction set '%s'", name);
    return -1;
}

#define XN_SHAPE(v, d) ((v).shape[d])

/* ---- Python entry points ------------------------------------------------------------ */

PyDoc_STRVAR(gemm_doc,
             "gemm(a, b, k, out, threads=1, isa=None)\n--\n\n"
             "out[i, j] = k - 2 * sum_q popcount(a[i, q] ^ b[j, q]).\n\n"
             "a [M, W] and b [N, W] are C-contiguous uint64 words (W = ceil(k/64), padding bits\n"
             "equal in a and b); out [M, N] is a C-contiguous int32 or int64 array, overwritten.\n"
             "`threads` POSIX threads share the output; `isa` names one of `isas` (default:\n"
             "the best this CPU supports).");

static PyObject *xn_py_gemm(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"a", "b", "k", "out", "threads", "isa", NULL};
    PyObject *ao, *bo, *oo;
    long long k;
    int threads = 1;
    const char *isa_name = NULL;
    const xn_isa *isa;
    Py_buffer a, b, out;
    xn_gemm_job g;
    uint64_t *bt = NULL;
    PyObject *ret = NULL;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOLO|iz:gemm", kwlist, &ao, &bo, &k, &oo,
                                     &threads, &isa_name))
        return NULL;
    if (xn_pick_isa(isa_name, &isa) < 0)
        return NULL;
    if (xn_get(ao, &a, 0, 2, "a") < 0)
        return NULL;
    if (xn_get(bo, &b, 0, 2, "b") < 0) {
        PyBuffer_Release(&a);
        return NULL;
    }
    if (xn_get(oo, &out, 1, 2, "out") < 0) {
        PyBuffer_Release(&a);
        PyBuffer_Release(&b);
        return NULL;
    }
    if (XN_SHAPE(b, 1) != XN_SHAPE(a, 1) || XN_SHAPE(out, 0) != XN_SHAPE(a, 0) ||
        XN_SHAPE(out, 1) != XN_SHAPE(b, 0)) {
        PyErr_Format(PyExc_ValueError, "shapes do not fit: a [%zd, %zd], b [%zd, %zd], out "
                     "[%zd, %zd]", XN_SHAPE(a, 0), XN_SHAPE(a, 1), XN_SHAPE(b, 0),
                     XN_SHAPE(b, 1), XN_SHAPE(out, 0), XN_SHAPE(out, 1));
        goto done;
    }
    if (xn_check_k(k, XN_SHAPE(a, 1), &out) < 0)
        goto done;
    memset(&g, 0, sizeof(g));
    g.isa = isa;
    g.a = (const uint64_t *)a.buf;
    g.b = (const uint64_t *)b.buf;
    g.out = out.buf;
    g.m = XN_SHAPE(a, 0);
    g.n = XN_SHAPE(b, 0);
    g.w = XN_SHAPE(a, 1);
    g.lda = g.ldb = g.w;
    g.ldo_i = g.n;
    g.ldo_j = 1;
    g.k = (int64_t)k;
    g.out64 = out.itemsize == 8;
    if (threads < 1)
        threads = 1;
    if (g.m == 0 || g.n == 0) {
        ret = Py_NewRef(Py_None);
        goto done;
    }
    if (g.w == 0) {
        memset(out.buf, 0, (size_t)out.len);
        ret = Py_NewRef(Py_None);
        goto done;
    }
    if (g.w < XN_SMALL_W && !(XN_PANEL_MIN_W < XN_SMALL_W && isa->gemm_panel != NULL &&
                              g.w >= XN_PANEL_MIN_W)) {
        if (g.w > 1) {
            Py_ssize_t j, q;
            bt = (uint64_t *)malloc((size_t)(g.n * g.w) * sizeof(uint64_t));
            if (bt == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            for (j = 0; j < g.n; j++)
                for (q = 0; q < g.w; q++)
                    bt[q * g.n + j] = g.b[j * g.w + q];
            g.bt = bt;
        } else {
            g.bt = g.b;
        }
        g.split_rows = 1;
        Py_BEGIN_ALLOW_THREADS
        xn_parallel(xn_gemm_small_part, &g, g.m, 1, threads);
        Py_END_ALLOW_THREADS
    } else {
        if (g.n < 4 && g.m > g.n) { /* one tall column block: swap roles so tiles fill */
            const uint64_t *t = g.a;
            Py_ssize_t s = g.m;
            g.a = g.b;
            g.b = t;
            g.m = g.n;
            g.n = s;
            g.ldo_i = 1;
            g.ldo_j = XN_SHAPE(b, 0);
        }
        g.split_rows = g.m >= g.n;
        Py_BEGIN_ALLOW_THREADS
        if (isa->gemm_panel != NULL && XN_USE_PANEL) {
            /* rows split into chunks: pack B's panels once, not once per chunk */
            if (g.split_rows && threads > 1)
                g.bp = bt = xn_panels(g.b, g.n, g.w, g.ldb);
            xn_parallel(xn_gemm_panel_part, &g, g.split_rows ? g.m : g.n,
                        g.split_rows ? 8 : 16, threads);
        }
        else
            xn_parallel(xn_gemm_blocked_part, &g, g.split_rows ? g.m : g.n, 4, threads);
        Py_END_ALLOW_THREADS
    }
    ret = Py_NewRef(Py_None);
done:
    free(bt);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    PyBuffer_Release(&out);
    return ret;
}

/* Shared by xnodr and xnidr: buffers x, y, out with the given dimensions, checked. */
static PyObject *xn_caps_call(PyObject *args, PyObject *kwargs, int odr)
{
    static char *kwlist[] = {"x", "y", "k", "out", "threads", "isa", NULL};
    PyObject *xo, *yo, *oo;
    long long k;
    int threads = 1, ok;
    const char *isa_name = NULL;
    const xn_isa *isa;
    Py_buffer x, y, out;
    xn_caps_job g;
    Py_ssize_t bsz, total;
    PyObject *ret = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, odr ? "OOLO|iz:xnodr" : "OOLO|iz:xnidr",
                                     kwlist, &xo, &yo, &k, &oo, &threads, &isa_name))
        return NULL;
    if (xn_pick_isa(isa_name, &isa) < 0)
        return NULL;
    if (xn_get(xo, &x, 0, 4, "x") < 0)
        return NULL;
    if (xn_get(yo, &y, 0, odr ? 4 : 3, "y") < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    if (xn_get(oo, &out, 1, odr ? 4 : 3, "out") < 0) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&y);
        return NULL;
    }
    memset(&g, 0, sizeof(g));
    g.isa = isa;
    g.x = (const uint64_t *)x.buf;
    g.y = (const uint64_t *)y.buf;
    g.out = out.buf;
    g.k = (int64_t)k;
    g.out64 = out.itemsize == 8;
    g.bsz = bsz = XN_SHAPE(x, 0);
    g.n = XN_SHAPE(x, 1);
    g.w = XN_SHAPE(x, 3);
    if (odr) { /* x [B, N, ma, W], y [N, M, E, W], out [B, N, M, E] */
        g.m = XN_SHAPE(y, 1);
        g.e = XN_SHAPE(y, 2);
        g.ma = XN_SHAPE(x, 2);
        ok = XN_SHAPE(y, 0) == g.n && (g.ma == 1 || g.ma == g.m) && XN_SHAPE(y, 3) == g.w &&
             XN_SHAPE(out, 0) == bsz && XN_SHAPE(out, 1) == g.n && XN_SHAPE(out, 2) == g.m &&
             XN_SHAPE(out, 3) == g.e;
    } else { /* x [B, N, M, W], y [B, M, W], out [B, N, M] */
        g.m = XN_SHAPE(x, 2);
        ok = XN_SHAPE(y, 0) == bsz && XN_SHAPE(y, 1) == g.m && XN_SHAPE(y, 2) == g.w &&
             XN_SHAPE(out, 0) == bsz && XN_SHAPE(out, 1) == g.n && XN_SHAPE(out, 2) == g.m;
    }
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, odr ? "xnodr: shapes do not fit x [B, N, 1 or M, W], "
                                                "y [N, M, E, W], out [B, N, M, E]"
                                              : "xnidr: shapes do not fit x [B, N, M, W], "
                                                "y [B, M, W], out [B, N, M]");
        goto done;
    }
    if (xn_check_k(k, g.w, &out) < 0)
        goto done;
    total = bsz * g.n;
    if (threads < 1)
        threads = 1;
    if (g.w == 0) {
        memset(out.buf, 0, (size_t)out.len);
    } else if (total > 0 && odr && g.w >= XN_SMALL_W) { /* GEMM tiles, split over N */
        Py_BEGIN_ALLOW_THREADS
        xn_parallel(xn_xnodr_blocked_part, &g, g.n, 1, threads);
        Py_END_ALLOW_THREADS
    } else if (total > 0) {
        Py_BEGIN_ALLOW_THREADS
        xn_parallel(odr ? xn_xnodr_part : xn_xnidr_part, &g, total, 1, threads);
        Py_END_ALLOW_THREADS
    }
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&x);
    PyBuffer_Release(&y);
    PyBuffer_Release(&out);
    return ret;
}

PyDoc_STRVAR(xnodr_doc,
             "xnodr(x, y, k, out, threads=1, isa=None)\n--\n\n"
             "XnODR's LP_out (Table 2 step 5): out[b, n, m, e] = k - 2 * sum_q popcount(\n"
             "x[b, n, m or 0, q] ^ y[n, m, e, q]). x [B, N, 1 or M, W], y [N, M, E, W] uint64;\n"
             "out [B, N, M, E] int32 or int64. Arguments as in gemm.");

static PyObject *xn_py_xnodr(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return xn_caps_call(args, kwargs, 1);
}

PyDoc_STRVAR(xnidr_doc,
             "xnidr(x, y, k, out, threads=1, isa=None)\n--\n\n"
             "XnIDR's agreement (Table 3 step 10): out[b, n, m] = k - 2 * sum_q popcount(\n"
             "x[b, n, m, q] ^ y[b, m, q]). x [B, N, M, W], y [B, M, W] uint64; out [B, N, M]\n"
             "int32 or int64. Arguments as in gemm.");

static PyObject *xn_py_xnidr(PyObject *self, PyObject *args, PyObject *kwargs)
{
    (void)self;
    return xn_caps_call(args, kwargs, 0);
}

static void xn_pack_last_part(const void *job, Py_ssize_t lo, Py_ssize_t hi)
{
    const xn_pack_job *g = (const xn_pack_job *)job;
    g->isa->pack_last(g, lo, hi);
}

static void xn_pack_mid_part(const void *job, Py_ssize_t lo, Py_ssize_t hi)
{
    const xn_pack_job *g = (const xn_pack_job *)job;
    g->isa->pack_mid(g, lo, hi);
}

PyDoc_STRVAR(pack_doc,
             "pack(x, out, threads=1, isa=None)\n--\n\n"
             "Binarize and pack: out[o, j, q] bit t = x[o, 64 q + t, j] > eps/2 (sign with\n"
             "0 -> -1, as packed.sign_threshold), bits past k zero. x [outer, k, inner] is a\n"
             "C-contiguous float32 or float64 array; out [outer, inner, ceil(k/64)] a\n"
             "C-contiguous uint64 array, overwritten. threads and isa as in gemm.");

static PyObject *xn_py_pack(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"x", "out", "threads", "isa", NULL};
    PyObject *xo, *oo;
    int threads = 1;
    const char *isa_name = NULL;
    const xn_isa *isa;
    Py_buffer x, out;
    xn_pack_job g;
    char c;
    PyObject *ret = NULL;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|iz:pack", kwlist, &xo, &oo, &threads,
                                     &isa_name))
        return NULL;
    if (xn_pick_isa(isa_name, &isa) < 0)
        return NULL;
    if (PyObject_GetBuffer(xo, &x, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    if (PyObject_GetBuffer(oo, &out, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    c = xn_format_char(&x);
    if (x.ndim != 3 || !((c == 'f' && x.itemsize == 4) || (c == 'd' && x.itemsize == 8))) {
        PyErr_SetString(PyExc_ValueError, "x must be a 3-dimensional float32 or float64 array");
        goto done;
    }
    c = xn_format_char(&out);
    if (out.ndim != 3 || out.itemsize != 8 || !c || !strchr("LQN", c)) {
        PyErr_SetString(PyExc_ValueError, "out must be a 3-dimensional uint64 array");
        goto done;
    }
    memset(&g, 0, sizeof(g));
    g.x = x.buf;
    g.out = (uint64_t *)out.buf;
    g.outer = XN_SHAPE(x, 0);
    g.k = XN_SHAPE(x, 1);
    g.inner = XN_SHAPE(x, 2);
    g.w = (g.k + 63) / 64;
    g.f64 = x.itemsize == 8;
    g.thr32 = 0x1p-24f; /* float32 eps / 2 */
    g.thr64 = 0x1p-53;  /* float64 eps / 2 */
    if (XN_SHAPE(out, 0) != g.outer || XN_SHAPE(out, 1) != g.inner || XN_SHAPE(out, 2) != g.w) {
        PyErr_Format(PyExc_ValueError, "pack: out must be [%zd, %zd, %zd], got [%zd, %zd, %zd]",
                     g.outer, g.inner, g.w, XN_SHAPE(out, 0), XN_SHAPE(out, 1),
                     XN_SHAPE(out, 2));
        goto done;
    }
    g.isa = isa;
    if (threads < 1)
        threads = 1;
    if (g.outer > 0 && g.inner > 0 && g.w > 0) {
        Py_BEGIN_ALLOW_THREADS
        if (g.inner == 1)
            xn_parallel(xn_pack_last_part, &g, g.outer, 1, threads);
        else
            xn_parallel(xn_pack_mid_part, &g, g.outer * ((g.inner + XN_PACK_COLS - 1) /
                                                           XN_PACK_COLS), 1, threads);
        Py_END_ALLOW_THREADS
    }
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    return ret;
}

/* ---- peak throughput probes (benchmarks/bench_kernels.py states the machine's limit) ---- */

#define XN_PEAK_CHAINS 12 /* independent chains: enough to hide each instruction's latency */

#ifdef XN_X86
/* iters x 12 x (XOR, VPOPCNTQ, add) on 512-bit registers: the GEMM's inner step without
 * memory; each step is 512 binary multiply-accumulates. */
__attribute__((target("avx512f,avx512vpopcntdq"), noinline)) static uint64_t
xn_peak_popcount512(long long iters)
{
    __m512i acc[XN_PEAK_CHAINS];
    const __m512i b = _mm512_set1_epi64(0x5DEECE66DLL);
    uint64_t sum = 0;
    long long i;
    int c;
    for (c = 0; c < XN_PEAK_CHAINS; c++)
        acc[c] = _mm512_set1_epi64(c + 1);
    for (i = 0; i < iters; i++)
        for (c = 0; c < XN_PEAK_CHAINS; c++)
            acc[c] = _mm512_add_epi64(acc[c], _mm512_popcnt_epi64(_mm512_xor_si512(acc[c], b)));
    for (c = 0; c < XN_PEAK_CHAINS; c++)
        sum += (uint64_t)_mm512_reduce_add_epi64(acc[c]);
    return sum;
}

/* iters x 12 x 512-bit float32 FMA: 16 multiply-accumulates each. */
__attribute__((target("avx512f,fma"), noinline)) static uint64_t xn_peak_fma512(long long iters)
{
    __m512 acc[XN_PEAK_CHAINS];
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
    float sum = 0.0f;
    long long i;
    int c;
    for (c = 0; c < XN_PEAK_CHAINS; c++)
        acc[c] = _mm512_set1_ps((float)c);
    for (i = 0; i < iters; i++)
        for (c = 0; c < XN_PEAK_CHAINS; c++)
            acc[c] = _mm512_fmadd_ps(acc[c], x, y);
    for (c = 0; c < XN_PEAK_CHAINS; c++)
        sum += _mm512_reduce_add_ps(acc[c]);
    return (uint64_t)sum;
}

/* iters x 12 x 256-bit float32 FMA: 8 multiply-accumulates each. */
__attribute__((target("avx2,fma"), noinline)) static uint64_t xn_peak_fma256(long long iters)
{
    __m256 acc[XN_PEAK_CHAINS];
    const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
    float out[8], sum = 0.0f;
    long long i;
    int c, l;
    for (c = 0; c < XN_PEAK_CHAINS; c++)
        acc[c] = _mm256_set1_ps((float)c);
    for (i = 0; i < iters; i++)
        for (c = 0; c < XN_PEAK_CHAINS; c++)
            acc[c] = _mm256_fmadd_ps(acc[c], x, y);
    for (c = 0; c < XN_PEAK_CHAINS; c++) {
        _mm256_storeu_ps(out, acc[c]);
        for (l = 0; l < 8; l++)
            sum += out[l];
    }
    return (uint64_t)sum;
}

/* iters x 12 x 64-bit (XOR, POPCNT, add): 64 binary multiply-accumulates each. */
__attribute__((target("popcnt"), noinline)) static uint64_t xn_peak_popcnt64(long long iters)
{
    uint64_t acc[XN_PEAK_CHAINS], sum = 0;
    long long i;
    int c;
    for (c = 0; c < XN_PEAK_CHAINS; c++)
        acc[c] = (uint64_t)c + 1;
    for (i = 0; i < iters; i++)
        for (c = 0; c < XN_PEAK_CHAINS; c++)
            acc[c] += (uint64_t)__builtin_popcountll(acc[c] ^ 0x5DEECE66DULL);
    for (c = 0; c < XN_PEAK_CHAINS; c++)
        sum += acc[c];
    return sum;
}
#endif

PyDoc_STRVAR(peak_doc,
             "peak(kind, iters)\n--\n\n"
             "Run iters x 12 independent register-only steps of one kind and return a checksum\n"
             "(time the call to get a throughput): 'popcount512' (XOR, VPOPCNTQ, add on 512 bits:\n"
             "512 binary multiply-accumulates), 'popcnt64' (the same on 64 bits: 64), 'fma512'\n"
             "(16 float32 multiply-accumulates), 'fma256' (8). `peaks` lists the kinds this CPU\n"
             "can run.");

static PyObject *xn_py_peak(PyObject *self, PyObject *args)
{
    const char *kind;
    long long iters;
    uint64_t r = 0;
    int ok = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "sL:peak", &kind, &iters))
        return NULL;
    if (iters < 0) {
        PyErr_SetString(PyExc_ValueError, "iters must be >= 0");
        return NULL;
    }
#ifdef XN_X86
    Py_BEGIN_ALLOW_THREADS
    if (strcmp(kind, "popcount512") == 0 && xn_supported[0]) {
        r = xn_peak_popcount512(iters);
        ok = 1;
    } else if (strcmp(kind, "fma512") == 0 && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("fma")) {
        r = xn_peak_fma512(iters);
        ok = 1;
    } else if (strcmp(kind, "fma256") == 0 && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma")) {
        r = xn_peak_fma256(iters);
        ok = 1;
    } else if (strcmp(kind, "popcnt64") == 0 && __builtin_cpu_supports("popcnt")) {
        r = xn_peak_popcnt64(iters);
        ok = 1;
    }
    Py_END_ALLOW_THREADS
#endif
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "peak '%s' is unknown or not supported by this CPU", kind);
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(r);
}

static PyMethodDef xn_methods[] = {
    {"peak", (PyCFunction)xn_py_peak, METH_VARARGS, peak_doc},
    {"pack", (PyCFunction)(void (*)(void))xn_py_pack, METH_VARARGS | METH_KEYWORDS, pack_doc},
    {"gemm", (PyCFunction)(void (*)(void))xn_py_gemm, METH_VARARGS | METH_KEYWORDS, gemm_doc},
    {"xnodr", (PyCFunction)(void (*)(void))xn_py_xnodr, METH_VARARGS | METH_KEYWORDS, xnodr_doc},
    {"xnidr", (PyCFunction)(void (*)(void))xn_py_xnidr, METH_VARARGS | METH_KEYWORDS, xnidr_doc},
    {NULL, NULL, 0, NULL},
};

static int xn_exec(PyObject *mod)
{
    PyObject *isas;
    int i;
    xn_detect();
    isas = PyTuple_New(0);
    if (isas == NULL)
        return -1;
    for (i = 0; i < XN_N_ISA; i++) {
        PyObject *name;
        if (!xn_supported[i])
            continue;
        name = PyUnicode_FromString(xn_all[i]->name);
        if (name == NULL || _PyTuple_Resize(&isas, PyTuple_GET_SIZE(isas) + 1) < 0) {
            Py_XDECREF(name);
            Py_XDECREF(isas);
            return -1;
        }
        PyTuple_SET_ITEM(isas, PyTuple_GET_SIZE(isas) - 1, name);
    }
    if (PyModule_AddObject(mod, "isas", isas) < 0) {
        Py_DECREF(isas);
        return -1;
    }
    if (PyModule_AddStringConstant(mod, "isa", xn_best->name) < 0)
        return -1;
    {
        PyObject *peaks = PyTuple_New(0);
#ifdef XN_X86
        const char *kinds[4] = {"popcount512", "popcnt64", "fma512", "fma256"};
        const int have[4] = {
            xn_supported[0], __builtin_cpu_supports("popcnt"),
            __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"),
            __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")};
        for (i = 0; peaks != NULL && i < 4; i++) {
            PyObject *name;
            if (!have[i])
                continue;
            name = PyUnicode_FromString(kinds[i]);
            if (name == NULL || _PyTuple_Resize(&peaks, PyTuple_GET_SIZE(peaks) + 1) < 0) {
                Py_XDECREF(name);
                Py_XDECREF(peaks);
                return -1;
            }
            PyTuple_SET_ITEM(peaks, PyTuple_GET_SIZE(peaks) - 1, name);
        }
#endif
        if (peaks == NULL || PyModule_AddObject(mod, "peaks", peaks) < 0) {
            Py_XDECREF(peaks);
            return -1;
        }
    }
    return PyModule_AddIntConstant(mod, "threads_supported",
#ifdef XN_PTHREADS
                                   1
#else
                                   0
#endif
    );
}

static PyModuleDef_Slot xn_slots[] = {
    {Py_mod_exec, (void *)xn_exec},
    {0, NULL},
};

PyDoc_STRVAR(xn_doc,
             "Compiled XNOR-popcount kernels on packed uint64 words (see xncost.kernels.packed).\n\n"
             "isa: the instruction set used by default; isas: every one this CPU can run.");

static struct PyModuleDef xn_module = {
    PyModuleDef_HEAD_INIT, "_xnor", xn_doc, 0, xn_methods, xn_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__xnor(void)
{
    return PyModuleDef_Init(&xn_module);
}
