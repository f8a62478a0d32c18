/* XNOR-popcount loops of xncost.kernels._xnor, compiled once per instruction set.
 *
 * _xnor.c includes this file several times, each time after defining
 *   XN_SUFFIX  the name suffix of this copy's functions (avx512, popcnt, generic);
 *   XN_TARGET  the function attribute selecting its instruction set (may be empty);
 *   XN_AVX512  (optional) to use the AVX-512 VPOPCNTDQ register-blocked GEMM micro-kernel;
 *   XN_AVX2    (optional) to use AVX2 nibble-lookup popcounts in the GEMM tiles.
 * There is deliberately no include guard. The simple loops are written so that the compiler
 * vectorises them for the copy's instruction set (vpopcntq under AVX-512 VPOPCNTDQ).
 *
 * Dot products of +-1 vectors packed 64 to a word: k - 2 * sum_q popcount(x[q] ^ y[q])
 * (padding bits equal in both operands, as pack_signs leaves them zero, XOR to 0).
 */

#define XN_CAT2(a, b) a##_##b
#define XN_CAT(a, b) XN_CAT2(a, b)
#define XN(name) XN_CAT(name, XN_SUFFIX)

/* o[j] = k - 2 popcount(x ^ y[j]) for j < len: one word per dot product, x shared. */
XN_TARGET static void XN(dots_bcast)(uint64_t x, const uint64_t *restrict y, Py_ssize_t len,
                                     int64_t k, void *restrict out, int out64)
{
    Py_ssize_t j;
    if (out64) {
        int64_t *o = (int64_t *)out;
        for (j = 0; j < len; j++)
            o[j] = k - 2 * (int64_t)XN_POPCOUNT(x ^ y[j]);
    } else {
        int32_t *o = (int32_t *)out;
        int32_t k32 = (int32_t)k;
        for (j = 0; j < len; j++)
            o[j] = k32 - 2 * (int32_t)XN_POPCOUNT(x ^ y[j]);
    }
}

/* o[j] = k - 2 popcount(x[j] ^ y[j]) for j < len: one word per dot product. */
XN_TARGET static void XN(dots_pair)(const uint64_t *restrict x, const uint64_t *restrict y,
                                    Py_ssize_t len, int64_t k, void *restrict out, int out64)
{
    Py_ssize_t j;
    if (out64) {
        int64_t *o = (int64_t *)out;
        for (j = 0; j < len; j++)
            o[j] = k - 2 * (int64_t)XN_POPCOUNT(x[j] ^ y[j]);
    } else {
        int32_t *o = (int32_t *)out;
        int32_t k32 = (int32_t)k;
        for (j = 0; j < len; j++)
            o[j] = k32 - 2 * (int32_t)XN_POPCOUNT(x[j] ^ y[j]);
    }
}

/* sum_q popcount(x[q] ^ y[q]) over w words. */
XN_TARGET static uint64_t XN(count_words)(const uint64_t *restrict x, const uint64_t *restrict y,
                                          Py_ssize_t w)
{
    uint64_t s = 0;
    Py_ssize_t q;
    for (q = 0; q < w; q++)
        s += (uint64_t)XN_POPCOUNT(x[q] ^ y[q]);
    return s;
}

/* XnODR's LP_out (Table 2 step 5) for (b, n) pairs t in [lo, hi): see xn_caps_job. */
XN_TARGET static void XN(xnodr_range)(const xn_caps_job *g, Py_ssize_t lo, Py_ssize_t hi)
{
    const Py_ssize_t n_in = g->n, m_out = g->m, e = g->e, w = g->w, ma = g->ma;
    const size_t osz = g->out64 ? 8 : 4;
    Py_ssize_t t, m, j;
    for (t = lo; t < hi; t++) {
        const Py_ssize_t n = t % n_in;
        const uint64_t *wn = g->y + n * m_out * e * w;
        char *ot = (char *)g->out + (size_t)(t * m_out * e) * osz;
        if (w == 1 && ma == 1) {
            XN(dots_bcast)(g->x[t], wn, m_out * e, g->k, ot, g->out64);
            continue;
        }
        for (m = 0; m < m_out; m++) {
            const uint64_t *x = g->x + (t * ma + (ma == 1 ? 0 : m)) * w;
            const uint64_t *wm = wn + m * e * w;
            char *om = ot + (size_t)(m * e) * osz;
            if (w == 1) {
                XN(dots_bcast)(x[0], wm, e, g->k, om, g->out64);
                continue;
            }
            for (j = 0; j < e; j++)
                xn_store(om, g->out64, j, g->k - 2 * (int64_t)XN(count_words)(x, wm + j * w, w));
        }
    }
}

/* XnIDR's agreement (Table 3 step 10) for (b, n) pairs t in [lo, hi): see xn_caps_job. */
XN_TARGET static void XN(xnidr_range)(const xn_caps_job *g, Py_ssize_t lo, Py_ssize_t hi)
{
    const Py_ssize_t n_in = g->n, m_out = g->m, w = g->w;
    const size_t osz = g->out64 ? 8 : 4;
    Py_ssize_t t, m;
    if (w == 1) {
        /* Runs of whole (b, ...) blocks share v[b]: handle t one batch row at a time. */
        for (t = lo; t < hi; t++) {
            const Py_ssize_t b = t / n_in;
            XN(dots_pair)(g->x + t * m_out, g->y + b * m_out, m_out, g->k,
                          (char *)g->out + (size_t)(t * m_out) * osz, g->out64);
        }
        return;
    }
    for (t = lo; t < hi; t++) {
        const Py_ssize_t b = t / n_in;
        char *ot = (char *)g->out + (size_t)(t * m_out) * osz;
        for (m = 0; m < m_out; m++) {
            uint64_t s = XN(count_words)(g->x + (t * m_out + m) * w, g->y + (b * m_out + m) * w, w);
            xn_store(ot, g->out64, m, g->k - 2 * (int64_t)s);
        }
    }
}

/* ---- binary GEMM ---------------------------------------------------------------------- */

/* Few words per dot product: vectorise over output columns instead of words. bt is B
 * word-major [w, n] (B itself when w == 1); acc holds XN_SMALL_CHUNK partial counts. */
XN_TARGET static void XN(gemm_small)(const xn_gemm_job *g, Py_ssize_t i0, Py_ssize_t i1,
                                     Py_ssize_t j0, Py_ssize_t j1)
{
    const Py_ssize_t w = g->w, n = g->n;
    uint64_t acc[XN_SMALL_CHUNK];
    Py_ssize_t i, jc, j, q;
    for (i = i0; i < i1; i++) {
        const uint64_t *a = g->a + i * g->lda;
        for (jc = j0; jc < j1; jc += XN_SMALL_CHUNK) {
            const Py_ssize_t len = j1 - jc < XN_SMALL_CHUNK ? j1 - jc : XN_SMALL_CHUNK;
            if (w == 1 && g->ldo_j == 1) {
                XN(dots_bcast)(a[0], g->bt + jc, len, g->k,
                               (char *)g->out + (size_t)(i * g->ldo_i + jc) * (g->out64 ? 8 : 4),
                               g->out64);
                continue;
            }
            for (j = 0; j < len; j++)
                acc[j] = (uint64_t)XN_POPCOUNT(a[0] ^ g->bt[jc + j]);
            for (q = 1; q < w; q++) {
                const uint64_t x = a[q], *bq = g->bt + q * n + jc;
                for (j = 0; j < len; j++)
                    acc[j] += (uint64_t)XN_POPCOUNT(x ^ bq[j]);
            }
            if (g->ldo_j == 1 && g->out64) {
                int64_t *o = (int64_t *)g->out + i * g->ldo_i + jc;
                for (j = 0; j < len; j++)
                    o[j] = g->k - 2 * (int64_t)acc[j];
            } else if (g->ldo_j == 1) {
                int32_t *o = (int32_t *)g->out + i * g->ldo_i + jc;
                const int32_t k32 = (int32_t)g->k;
                for (j = 0; j < len; j++)
                    o[j] = k32 - 2 * (int32_t)acc[j];
            } else {
                for (j = 0; j < len; j++)
                    xn_store(g->out, g->out64, i * g->ldo_i + (jc + j) * g->ldo_j,
                             g->k - 2 * (int64_t)acc[j]);
            }
        }
    }
}

#ifdef XN_AVX512
#define XN_XPC(a, b) _mm512_popcnt_epi64(_mm512_xor_si512((a), (b)))
#define XN_ACC(s, a, b) s = _mm512_add_epi64(s, XN_XPC(a, b))
#define XN_ROW4(r, av)                                                                        \
    XN_ACC(s##r##0, av, b0); XN_ACC(s##r##1, av, b1); XN_ACC(s##r##2, av, b2);                 \
    XN_ACC(s##r##3, av, b3)
#define XN_SHUF_EVEN _MM_SHUFFLE(2, 0, 2, 0)
#define XN_SHUF_ODD _MM_SHUFFLE(3, 1, 3, 1)

/* Pairwise sums of 128-bit blocks: [x.0 + x.1, x.2 + x.3, y.0 + y.1, y.2 + y.3]. */
XN_TARGET static inline __m512i XN(fold_blocks)(__m512i x, __m512i y)
{
    return _mm512_add_epi64(_mm512_shuffle_i64x2(x, y, XN_SHUF_EVEN),
                            _mm512_shuffle_i64x2(x, y, XN_SHUF_ODD));
}

/* [sum(v0), ..., sum(v7)]: eight horizontal sums in 21 instructions instead of 56. */
XN_TARGET static inline __m512i XN(hsum8)(__m512i v0, __m512i v1, __m512i v2, __m512i v3,
                                          __m512i v4, __m512i v5, __m512i v6, __m512i v7)
{
    const __m512i t01 = _mm512_add_epi64(_mm512_unpacklo_epi64(v0, v1),
                                         _mm512_unpackhi_epi64(v0, v1));
    const __m512i t23 = _mm512_add_epi64(_mm512_unpacklo_epi64(v2, v3),
                                         _mm512_unpackhi_epi64(v2, v3));
    const __m512i t45 = _mm512_add_epi64(_mm512_unpacklo_epi64(v4, v5),
                                         _mm512_unpackhi_epi64(v4, v5));
    const __m512i t67 = _mm512_add_epi64(_mm512_unpacklo_epi64(v6, v7),
                                         _mm512_unpackhi_epi64(v6, v7));
    return XN(fold_blocks)(XN(fold_blocks)(t01, t23), XN(fold_blocks)(t45, t67));
}

/* Words [q, q1) of 8 at most, the rest zero. */
XN_TARGET static inline __mmask8 XN(word_mask)(Py_ssize_t q, Py_ssize_t q1)
{
    return q1 - q >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (q1 - q)) - 1u);
}

/* s[4 r + c] = sum over words [q0, q1) of popcount(a[r][q] ^ b[c][q]), r, c < 4. */
XN_TARGET static void XN(tile4x4)(const uint64_t *const a[4], const uint64_t *const b[4],
                                  Py_ssize_t q0, Py_ssize_t q1, uint64_t s[16])
{
    __m512i s00 = _mm512_setzero_si512(), s01 = s00, s02 = s00, s03 = s00;
    __m512i s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    __m512i s20 = s00, s21 = s00, s22 = s00, s23 = s00;
    __m512i s30 = s00, s31 = s00, s32 = s00, s33 = s00;
    __m512i a0, a1, a2, a3, b0, b1, b2, b3;
    Py_ssize_t q;
    for (q = q0; q < q1; q += 8) {
        const __mmask8 mk = XN(word_mask)(q, q1);
        b0 = _mm512_maskz_loadu_epi64(mk, b[0] + q); b1 = _mm512_maskz_loadu_epi64(mk, b[1] + q);
        b2 = _mm512_maskz_loadu_epi64(mk, b[2] + q); b3 = _mm512_maskz_loadu_epi64(mk, b[3] + q);
        a0 = _mm512_maskz_loadu_epi64(mk, a[0] + q); XN_ROW4(0, a0);
        a1 = _mm512_maskz_loadu_epi64(mk, a[1] + q); XN_ROW4(1, a1);
        a2 = _mm512_maskz_loadu_epi64(mk, a[2] + q); XN_ROW4(2, a2);
        a3 = _mm512_maskz_loadu_epi64(mk, a[3] + q); XN_ROW4(3, a3);
    }
    _mm512_storeu_si512(s, XN(hsum8)(s00, s01, s02, s03, s10, s11, s12, s13));
    _mm512_storeu_si512(s + 8, XN(hsum8)(s20, s21, s22, s23, s30, s31, s32, s33));
}

/* s[c] = sum over words [q0, q1) of popcount(a[q] ^ b[c][q]), c < 4. */
XN_TARGET static void XN(tile1x4)(const uint64_t *a, const uint64_t *const b[4], Py_ssize_t q0,
                                  Py_ssize_t q1, uint64_t s[4])
{
    __m512i s00 = _mm512_setzero_si512(), s01 = s00, s02 = s00, s03 = s00;
    __m512i a0, b0, b1, b2, b3;
    Py_ssize_t q;
    for (q = q0; q < q1; q += 8) {
        const __mmask8 mk = XN(word_mask)(q, q1);
        b0 = _mm512_maskz_loadu_epi64(mk, b[0] + q); b1 = _mm512_maskz_loadu_epi64(mk, b[1] + q);
        b2 = _mm512_maskz_loadu_epi64(mk, b[2] + q); b3 = _mm512_maskz_loadu_epi64(mk, b[3] + q);
        a0 = _mm512_maskz_loadu_epi64(mk, a + q); XN_ROW4(0, a0);
    }
    s[0] = (uint64_t)_mm512_reduce_add_epi64(s00); s[1] = (uint64_t)_mm512_reduce_add_epi64(s01);
    s[2] = (uint64_t)_mm512_reduce_add_epi64(s02); s[3] = (uint64_t)_mm512_reduce_add_epi64(s03);
}

/* A whole 4 x 4 tile of final results (one word block), rows contiguous in the output. */
XN_TARGET static void XN(store4x4)(const xn_gemm_job *g, Py_ssize_t i, Py_ssize_t j,
                                   const uint64_t s[16])
{
    const __m512i kv = _mm512_set1_epi64(g->k);
    const __m512i r01 = _mm512_sub_epi64(kv, _mm512_slli_epi64(_mm512_loadu_si512(s), 1));
    const __m512i r23 = _mm512_sub_epi64(kv, _mm512_slli_epi64(_mm512_loadu_si512(s + 8), 1));
    if (g->out64) {
        int64_t *o = (int64_t *)g->out + i * g->ldo_i + j;
        _mm256_storeu_si256((__m256i *)o, _mm512_castsi512_si256(r01));
        _mm256_storeu_si256((__m256i *)(o + g->ldo_i), _mm512_extracti64x4_epi64(r01, 1));
        _mm256_storeu_si256((__m256i *)(o + 2 * g->ldo_i), _mm512_castsi512_si256(r23));
        _mm256_storeu_si256((__m256i *)(o + 3 * g->ldo_i), _mm512_extracti64x4_epi64(r23, 1));
    } else {
        int32_t *o = (int32_t *)g->out + i * g->ldo_i + j;
        const __m256i h01 = _mm512_cvtepi64_epi32(r01), h23 = _mm512_cvtepi64_epi32(r23);
        _mm_storeu_si128((__m128i *)o, _mm256_castsi256_si128(h01));
        _mm_storeu_si128((__m128i *)(o + g->ldo_i), _mm256_extracti128_si256(h01, 1));
        _mm_storeu_si128((__m128i *)(o + 2 * g->ldo_i), _mm256_castsi256_si128(h23));
        _mm_storeu_si128((__m128i *)(o + 3 * g->ldo_i), _mm256_extracti128_si256(h23, 1));
    }
}
#define XN_HAVE_STORE4X4 1

/* 16 rows of B from j0 (zero past `cols`), word-interleaved for gemm_panel:
 * panel[q * 16 + c] = b[(j0 + c) * ldb + q]. */
XN_TARGET static void XN(pack_panel)(const uint64_t *b, Py_ssize_t ldb, Py_ssize_t cols,
                                     Py_ssize_t w, uint64_t *restrict panel)
{
    Py_ssize_t q, c;
    for (c = 0; c < 16; c++) {
        const uint64_t *bc = b + (c < cols ? c : 0) * ldb;
        for (q = 0; q < w; q++)
            panel[q * 16 + c] = c < cols ? bc[q] : 0;
    }
}

#define XN_PACC(r) \
    c##r##0 = _mm512_add_epi64(c##r##0, XN_XPC(_mm512_set1_epi64((long long)a##r[q]), b0)); \
    c##r##1 = _mm512_add_epi64(c##r##1, XN_XPC(_mm512_set1_epi64((long long)a##r[q]), b1))
#define XN_PSTORE(r)                                                                           \
    if (r < rows)                                                                              \
    XN(panel_store)(g, i + r, j0, cols, c##r##0, c##r##1, first, last)

/* Row i, columns [j0, j0 + cols) of the output from two vectors of counts. */
XN_TARGET static inline void XN(panel_store)(const xn_gemm_job *g, Py_ssize_t i, Py_ssize_t j0,
                                             Py_ssize_t cols, __m512i lo, __m512i hi,
                                             int first, int last)
{
    const Py_ssize_t base = i * g->ldo_i + j0 * g->ldo_j;
    if (first && last && g->ldo_j == 1) {
        const __m512i kv = _mm512_set1_epi64(g->k);
        const __mmask16 mk = (__mmask16)((1u << cols) - 1u);
        lo = _mm512_sub_epi64(kv, _mm512_slli_epi64(lo, 1));
        hi = _mm512_sub_epi64(kv, _mm512_slli_epi64(hi, 1));
        if (g->out64) {
            int64_t *o = (int64_t *)g->out + base;
            _mm512_mask_storeu_epi64(o, (__mmask8)mk, lo);
            _mm512_mask_storeu_epi64(o + 8, (__mmask8)(mk >> 8), hi);
        } else {
            int32_t *o = (int32_t *)g->out + base;
            const __m512i v = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo)), _mm512_cvtepi64_epi32(hi), 1);
            _mm512_mask_storeu_epi32(o, mk, v);
        }
    } else {
        uint64_t s[16];
        Py_ssize_t c;
        _mm512_storeu_si512(s, lo);
        _mm512_storeu_si512(s + 8, hi);
        for (c = 0; c < cols; c++) {
            const Py_ssize_t idx = base + c * g->ldo_j;
            int64_t v = (int64_t)s[c];
            if (!first)
                v += xn_load(g->out, g->out64, idx);
            xn_store(g->out, g->out64, idx, last ? g->k - 2 * v : v);
        }
    }
}

/* Rows [i0, i1) x one packed panel of 16 columns of B, words [q0, q1): 8 rows x 16 columns of
 * counts in 16 registers; each word of A is broadcast against 16 words of B, so no horizontal
 * sums are needed. */
XN_TARGET static void XN(panel_rows)(const xn_gemm_job *g, const uint64_t *panel, Py_ssize_t j0,
                                     Py_ssize_t cols, Py_ssize_t i0, Py_ssize_t i1,
                                     Py_ssize_t q0, Py_ssize_t q1, int first, int last)
{
    Py_ssize_t i, q;
    for (i = i0; i < i1; i += 8) {
        const Py_ssize_t rows = i1 - i < 8 ? i1 - i : 8;
#define XN_AROW(r) const uint64_t *a##r = g->a + (i + (r < rows ? r : rows - 1)) * g->lda
        XN_AROW(0); XN_AROW(1); XN_AROW(2); XN_AROW(3);
        XN_AROW(4); XN_AROW(5); XN_AROW(6); XN_AROW(7);
#undef XN_AROW
        __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00;
        __m512i c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00;
        __m512i c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        for (q = q0; q < q1; q++) {
            const __m512i b0 = _mm512_loadu_si512(panel + q * 16);
            const __m512i b1 = _mm512_loadu_si512(panel + q * 16 + 8);
            XN_PACC(0); XN_PACC(1); XN_PACC(2); XN_PACC(3);
            XN_PACC(4); XN_PACC(5); XN_PACC(6); XN_PACC(7);
        }
        XN_PSTORE(0); XN_PSTORE(1); XN_PSTORE(2); XN_PSTORE(3);
        XN_PSTORE(4); XN_PSTORE(5); XN_PSTORE(6); XN_PSTORE(7);
    }
}
#undef XN_PSTORE
#undef XN_PACC

/* Output rows [i0, i1) x columns [j0, j1): pack 16 columns of B at a time (in `panel`,
 * 16 w words; or take them from g->bp, packed once per call) and sweep every row of A over it, XN_PANEL_WORDS words at a time (the panel
 * block stays in L1); partial counts of a word block live in the output. */
XN_TARGET static void XN(gemm_panel)(const xn_gemm_job *g, Py_ssize_t i0, Py_ssize_t i1,
                                     Py_ssize_t j0, Py_ssize_t j1, uint64_t *panel)
{
    const Py_ssize_t w = g->w;
    Py_ssize_t j, q0;
    for (j = j0; j < j1; j += 16) {
        const Py_ssize_t cols = j1 - j < 16 ? j1 - j : 16;
        const uint64_t *pp = panel;
        if (g->bp != NULL) /* packed for the whole call (j0 is then a multiple of 16) */
            pp = g->bp + (j / 16) * 16 * w;
        else
            XN(pack_panel)(g->b + j * g->ldb, g->ldb, cols, w, panel);
        for (q0 = 0; q0 < w; q0 += XN_PANEL_WORDS) {
            const Py_ssize_t q1 = q0 + XN_PANEL_WORDS < w ? q0 + XN_PANEL_WORDS : w;
            XN(panel_rows)(g, pp, j, cols, i0, i1, q0, q1, q0 == 0, q1 == w);
        }
    }
}
#undef XN_SHUF_ODD
#undef XN_SHUF_EVEN
#undef XN_ROW4
#undef XN_ACC
#undef XN_XPC
#elif defined(XN_AVX2)
/* AVX2 has no vector popcount: nibble lookup (vpshufb) counts the bits of each byte; byte
 * counts accumulate for at most 31 steps of 4 words (8 bits x 31 <= 255), then vpsadbw adds
 * them into 64-bit lanes. Two rows x four columns of B per call. */
XN_TARGET static inline __m256i XN(pc_bytes)(__m256i v, __m256i lut, __m256i low)
{
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, low)),
                           _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low)));
}

XN_TARGET static inline uint64_t XN(hsum4)(__m256i v)
{
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

#define XN_BACC(R, C) \
    c##R##C = _mm256_add_epi8(c##R##C, XN(pc_bytes)(_mm256_xor_si256(a##R, b##C), lut, low))
#define XN_BFLUSH(R, C) t##R##C = _mm256_add_epi64(t##R##C, _mm256_sad_epu8(c##R##C, zero))

XN_TARGET static void XN(tile2x4)(const uint64_t *a0p, const uint64_t *a1p,
                                  const uint64_t *const b[4], Py_ssize_t q0, Py_ssize_t q1,
                                  uint64_t s0[4], uint64_t s1[4])
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                         2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    __m256i t00 = zero, t01 = zero, t02 = zero, t03 = zero;
    __m256i t10 = zero, t11 = zero, t12 = zero, t13 = zero;
    const uint64_t *b0p = b[0], *b1p = b[1], *b2p = b[2], *b3p = b[3];
    Py_ssize_t q = q0, c;
    while (q1 - q >= 4) {
        Py_ssize_t steps = (q1 - q) / 4;
        const Py_ssize_t qe = q + 4 * (steps < 31 ? steps : 31);
        __m256i c00 = zero, c01 = zero, c02 = zero, c03 = zero;
        __m256i c10 = zero, c11 = zero, c12 = zero, c13 = zero;
        for (; q < qe; q += 4) {
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)(a0p + q));
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(a1p + q));
            const __m256i b0 = _mm256_loadu_si256((const __m256i *)(b0p + q));
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)(b1p + q));
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(b2p + q));
            const __m256i b3 = _mm256_loadu_si256((const __m256i *)(b3p + q));
            XN_BACC(0, 0); XN_BACC(0, 1); XN_BACC(0, 2); XN_BACC(0, 3);
            XN_BACC(1, 0); XN_BACC(1, 1); XN_BACC(1, 2); XN_BACC(1, 3);
        }
        XN_BFLUSH(0, 0); XN_BFLUSH(0, 1); XN_BFLUSH(0, 2); XN_BFLUSH(0, 3);
        XN_BFLUSH(1, 0); XN_BFLUSH(1, 1); XN_BFLUSH(1, 2); XN_BFLUSH(1, 3);
    }
    s0[0] = XN(hsum4)(t00); s0[1] = XN(hsum4)(t01); s0[2] = XN(hsum4)(t02); s0[3] = XN(hsum4)(t03);
    s1[0] = XN(hsum4)(t10); s1[1] = XN(hsum4)(t11); s1[2] = XN(hsum4)(t12); s1[3] = XN(hsum4)(t13);
    for (; q < q1; q++)
        for (c = 0; c < 4; c++) {
            s0[c] += (uint64_t)XN_POPCOUNT(a0p[q] ^ b[c][q]);
            s1[c] += (uint64_t)XN_POPCOUNT(a1p[q] ^ b[c][q]);
        }
}
#undef XN_BFLUSH
#undef XN_BACC

XN_TARGET static void XN(tile1x4)(const uint64_t *a, const uint64_t *const b[4], Py_ssize_t q0,
                                  Py_ssize_t q1, uint64_t s[4])
{
    uint64_t unused[4];
    XN(tile2x4)(a, a, b, q0, q1, s, unused);
}
#else
/* Scalar popcount: two rows at a time keep 8 counters and 6 operands in registers. */
XN_TARGET static void XN(tile2x4)(const uint64_t *a0p, const uint64_t *a1p,
                                  const uint64_t *const b[4], Py_ssize_t q0, Py_ssize_t q1,
                                  uint64_t s0[4], uint64_t s1[4])
{
    uint64_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    const uint64_t *b0p = b[0], *b1p = b[1], *b2p = b[2], *b3p = b[3];
    Py_ssize_t q;
    for (q = q0; q < q1; q++) {
        const uint64_t a0 = a0p[q], a1 = a1p[q];
        const uint64_t b0 = b0p[q], b1 = b1p[q], b2 = b2p[q], b3 = b3p[q];
        s00 += (uint64_t)XN_POPCOUNT(a0 ^ b0); s01 += (uint64_t)XN_POPCOUNT(a0 ^ b1);
        s02 += (uint64_t)XN_POPCOUNT(a0 ^ b2); s03 += (uint64_t)XN_POPCOUNT(a0 ^ b3);
        s10 += (uint64_t)XN_POPCOUNT(a1 ^ b0); s11 += (uint64_t)XN_POPCOUNT(a1 ^ b1);
        s12 += (uint64_t)XN_POPCOUNT(a1 ^ b2); s13 += (uint64_t)XN_POPCOUNT(a1 ^ b3);
    }
    s0[0] = s00; s0[1] = s01; s0[2] = s02; s0[3] = s03;
    s1[0] = s10; s1[1] = s11; s1[2] = s12; s1[3] = s13;
}

XN_TARGET static void XN(tile1x4)(const uint64_t *a, const uint64_t *const b[4], Py_ssize_t q0,
                                  Py_ssize_t q1, uint64_t s[4])
{
    uint64_t s00 = 0, s01 = 0, s02 = 0, s03 = 0;
    const uint64_t *b0p = b[0], *b1p = b[1], *b2p = b[2], *b3p = b[3];
    Py_ssize_t q;
    for (q = q0; q < q1; q++) {
        const uint64_t a0 = a[q];
        s00 += (uint64_t)XN_POPCOUNT(a0 ^ b0p[q]); s01 += (uint64_t)XN_POPCOUNT(a0 ^ b1p[q]);
        s02 += (uint64_t)XN_POPCOUNT(a0 ^ b2p[q]); s03 += (uint64_t)XN_POPCOUNT(a0 ^ b3p[q]);
    }
    s[0] = s00; s[1] = s01; s[2] = s02; s[3] = s03;
}
#endif

#ifndef XN_AVX512
/* Four rows as two pairs (tile2x4 of the AVX2 or the scalar copy). */
XN_TARGET static void XN(tile4x4)(const uint64_t *const a[4], const uint64_t *const b[4],
                                  Py_ssize_t q0, Py_ssize_t q1, uint64_t s[16])
{
    XN(tile2x4)(a[0], a[1], b, q0, q1, s, s + 4);
    XN(tile2x4)(a[2], a[3], b, q0, q1, s + 8, s + 12);
}
#endif

/* Output rows [i0, i1) x columns [j0, j1), cache-blocked: a block of B's rows (about
 * XN_B_BLOCK_BYTES, in L2) is reused by every row of A, and words are taken XN_WORD_BLOCK at
 * a time (4 rows of A in L1); 4 x 4 register tiles, edge tiles repeat their last row/column.
 * Partial counts of a word block live in the output until the last block finishes them. */
XN_TARGET static void XN(gemm_blocked)(const xn_gemm_job *g, Py_ssize_t i0, Py_ssize_t i1,
                                       Py_ssize_t j0, Py_ssize_t j1)
{
    const Py_ssize_t w = g->w;
    const Py_ssize_t wb = w < XN_WORD_BLOCK ? w : XN_WORD_BLOCK;
    Py_ssize_t nb = XN_B_BLOCK_BYTES / (8 * wb);
    Py_ssize_t jb, q0, i, j, r, c;
    uint64_t s[16];
    nb -= nb % 4;
    if (nb < 4)
        nb = 4;
    for (jb = j0; jb < j1; jb += nb) {
        const Py_ssize_t je = jb + nb < j1 ? jb + nb : j1;
        for (q0 = 0; q0 < w; q0 += wb) {
            const Py_ssize_t q1 = q0 + wb < w ? q0 + wb : w;
            const int first = q0 == 0, last = q1 == w;
            for (i = i0; i < i1; i += 4) {
                const Py_ssize_t rows = i1 - i < 4 ? i1 - i : 4;
                const uint64_t *ap[4];
                for (r = 0; r < 4; r++)
                    ap[r] = g->a + (i + (r < rows ? r : rows - 1)) * g->lda;
                for (j = jb; j < je; j += 4) {
                    const Py_ssize_t cols = je - j < 4 ? je - j : 4;
                    const uint64_t *bp[4];
                    for (c = 0; c < 4; c++)
                        bp[c] = g->b + (j + (c < cols ? c : cols - 1)) * g->ldb;
                    if (rows == 4) {
                        XN(tile4x4)(ap, bp, q0, q1, s);
#ifdef XN_HAVE_STORE4X4
                        if (cols == 4 && first && last && g->ldo_j == 1) {
                            XN(store4x4)(g, i, j, s);
                            continue;
                        }
#endif
                    } else
                        for (r = 0; r < rows; r++)
                            XN(tile1x4)(ap[r], bp, q0, q1, s + 4 * r);
                    for (r = 0; r < rows; r++)
                        for (c = 0; c < cols; c++) {
                            const Py_ssize_t idx = (i + r) * g->ldo_i + (j + c) * g->ldo_j;
                            int64_t v = (int64_t)s[4 * r + c];
                            if (!first)
                                v += xn_load(g->out, g->out64, idx);
                            xn_store(g->out, g->out64, idx, last ? g->k - 2 * v : v);
                        }
                }
            }
        }
    }
}

#undef XN_HAVE_STORE4X4

/* XnODR with many words per dot product, input capsules n in [lo, hi): for each n (and m
 * when the input is I_Cap) a GEMM [B, w] x [M E or E, w] into rows of stride N M E. */
XN_TARGET static void XN(xnodr_blocked)(const xn_caps_job *g, Py_ssize_t lo, Py_ssize_t hi)
{
    const Py_ssize_t n_in = g->n, m_out = g->m, e = g->e, w = g->w, ma = g->ma;
    const Py_ssize_t per = ma == 1 ? 1 : m_out, cols = ma == 1 ? m_out * e : e;
    xn_gemm_job j;
    Py_ssize_t n, m;
#if defined(XN_AVX512) && XN_USE_PANEL
    uint64_t *panel = (uint64_t *)malloc((size_t)w * 16 * sizeof(uint64_t));
#endif
    memset(&j, 0, sizeof(j));
    j.isa = g->isa;
    j.m = g->bsz;
    j.n = cols;
    j.w = w;
    j.lda = n_in * ma * w;
    j.ldb = w;
    j.ldo_i = n_in * m_out * e;
    j.ldo_j = 1;
    j.k = g->k;
    j.out64 = g->out64;
    for (n = lo; n < hi; n++)
        for (m = 0; m < per; m++) {
            j.a = g->x + (n * ma + m) * w;
            j.b = g->y + (n * m_out + m) * e * w;
            j.out = (char *)g->out + (size_t)((n * m_out + m) * e) * (g->out64 ? 8 : 4);
#if defined(XN_AVX512) && XN_USE_PANEL
            if (panel != NULL) {
                XN(gemm_panel)(&j, 0, j.m, 0, j.n, panel);
                continue;
            }
#endif
            XN(gemm_blocked)(&j, 0, j.m, 0, j.n);
        }
#if defined(XN_AVX512) && XN_USE_PANEL
    free(panel);
#endif
}

/* ---- binarize and pack --------------------------------------------------------------- */

#if !defined(XN_X86)
/* Eight 0/1 bytes (byte i = bit i) -> the 8-bit number they spell: the product by
 * 0x0102040810204080 puts bit i at position 56 + i, without carries. */
XN_TARGET static inline uint64_t XN(gather8)(uint64_t bytes)
{
    return (bytes * 0x0102040810204080ULL) >> 56;
}
#endif

/* Bits [0, n) of one packed word from x[0 .. n) (n <= 64): bit t = x[t] > thr; one
 * function per element type T (float: __m512 and ps intrinsics, 16/8/4 lanes; double:
 * __m512d and pd, 8/4/2). */
#if defined(XN_AVX512)
#define XN_PACK_VECTOR(V, S, L512, L256, L128)                                                 \
    const __m512##V tv = _mm512_set1_##S(thr);                                                 \
    for (; t < n; t += L512) {                                                                 \
        const uint32_t mk = n - t >= L512 ? (1u << L512) - 1u : (1u << (n - t)) - 1u;          \
        word |= (uint64_t)_mm512_mask_cmp_##S##_mask(mk, _mm512_maskz_loadu_##S(mk, x + t), tv, \
                                                     _CMP_GT_OQ)                               \
                << t;                                                                          \
    }
#elif defined(XN_AVX2)
#define XN_PACK_VECTOR(V, S, L512, L256, L128)                                                 \
    const __m256##V tv = _mm256_set1_##S(thr);                                                 \
    for (; t + L256 <= n; t += L256)                                                           \
        word |= (uint64_t)(unsigned)_mm256_movemask_##S(                                       \
                    _mm256_cmp_##S(_mm256_loadu_##S(x + t), tv, _CMP_GT_OQ))                   \
                << t;
#elif defined(XN_X86) /* SSE2, part of every x86-64 CPU */
#define XN_PACK_VECTOR(V, S, L512, L256, L128)                                                 \
    const __m128##V tv = _mm_set1_##S(thr);                                                    \
    for (; t + L128 <= n; t += L128)                                                           \
        word |= (uint64_t)(unsigned)_mm_movemask_##S(_mm_cmpgt_##S(_mm_loadu_##S(x + t), tv)) << t;
#else
#define XN_PACK_VECTOR(V, S, L512, L256, L128)                                                 \
    for (; t + 8 <= n; t += 8)                                                                 \
        word |= XN(gather8)((uint64_t)(x[t] > thr) | (uint64_t)(x[t + 1] > thr) << 8 |         \
                            (uint64_t)(x[t + 2] > thr) << 16 | (uint64_t)(x[t + 3] > thr) << 24 | \
                            (uint64_t)(x[t + 4] > thr) << 32 | (uint64_t)(x[t + 5] > thr) << 40 | \
                            (uint64_t)(x[t + 6] > thr) << 48 | (uint64_t)(x[t + 7] > thr) << 56)  \
                << t;
#endif
#define XN_PACK_WORD(NAME, T, V, S, L512, L256, L128)                                             \
    XN_TARGET static inline uint64_t XN(NAME)(const T *x, Py_ssize_t n, T thr)                 \
    {                                                                                          \
        uint64_t word = 0;                                                                     \
        Py_ssize_t t = 0;                                                                      \
        XN_PACK_VECTOR(V, S, L512, L256, L128)                                                 \
        for (; t < n; t++)                                                                     \
            word |= (uint64_t)(x[t] > thr) << t;                                               \
        return word;                                                                           \
    }
XN_PACK_WORD(pack_word_f32, float, , ps, 16, 8, 4)
XN_PACK_WORD(pack_word_f64, double, d, pd, 8, 4, 2)
#undef XN_PACK_WORD
#undef XN_PACK_VECTOR

/* Rows [lo, hi) of x [rows, k] (packed axis last, inner == 1) into out [rows, w]. */
XN_TARGET static void XN(pack_last)(const xn_pack_job *g, Py_ssize_t lo, Py_ssize_t hi)
{
    const Py_ssize_t k = g->k, w = g->w;
    Py_ssize_t r, q;
    for (r = lo; r < hi; r++) {
        uint64_t *o = g->out + r * w;
        if (g->f64) {
            const double *x = (const double *)g->x + r * k;
            for (q = 0; q < w; q++)
                o[q] = XN(pack_word_f64)(x + 64 * q, k - 64 * q < 64 ? k - 64 * q : 64,
                                         g->thr64);
        } else {
            const float *x = (const float *)g->x + r * k;
            for (q = 0; q < w; q++)
                o[q] = XN(pack_word_f32)(x + 64 * q, k - 64 * q < 64 ? k - 64 * q : 64,
                                         g->thr32);
        }
    }
}

/* Units [lo, hi) of x [outer, k, inner] packed over k (inner > 1) into out [outer, inner, w]:
 * a unit is XN_PACK_COLS columns of one outer index. Rows are read contiguously; 64 of them
 * fill one word per column (acc), written with stride w. The loops vectorise over columns. */
XN_TARGET static void XN(pack_mid)(const xn_pack_job *g, Py_ssize_t lo, Py_ssize_t hi)
{
    const Py_ssize_t k = g->k, w = g->w, inner = g->inner;
    const Py_ssize_t blocks = (inner + XN_PACK_COLS - 1) / XN_PACK_COLS;
    uint64_t acc[XN_PACK_COLS];
    Py_ssize_t u, q0, t, c;
    for (u = lo; u < hi; u++) {
        const Py_ssize_t o = u / blocks, j0 = (u % blocks) * XN_PACK_COLS;
        const Py_ssize_t cols = inner - j0 < XN_PACK_COLS ? inner - j0 : XN_PACK_COLS;
        for (q0 = 0; q0 < k; q0 += 64) {
            const Py_ssize_t n = k - q0 < 64 ? k - q0 : 64;
            for (c = 0; c < cols; c++)
                acc[c] = 0;
            for (t = 0; t < n; t++) {
                const Py_ssize_t base = (o * k + q0 + t) * inner + j0;
                if (g->f64) {
                    const double *x = (const double *)g->x + base;
                    const double thr = g->thr64;
                    for (c = 0; c < cols; c++)
                        acc[c] |= (uint64_t)(x[c] > thr) << t;
                } else {
                    const float *x = (const float *)g->x + base;
                    const float thr = g->thr32;
                    for (c = 0; c < cols; c++)
                        acc[c] |= (uint64_t)(x[c] > thr) << t;
                }
            }
            for (c = 0; c < cols; c++)
                g->out[(o * inner + j0 + c) * w + q0 / 64] = acc[c];
        }
    }
}

static const xn_isa XN(isa) = {
    XN_STR(XN_SUFFIX), XN(gemm_blocked), XN(gemm_small), XN(xnodr_range), XN(xnidr_range),
    XN(xnodr_blocked), XN(pack_last), XN(pack_mid),
#ifdef XN_AVX512
    XN(gemm_panel),
#else
    NULL,
#endif
};

#undef XN
#undef XN_CAT
#undef XN_CAT2
