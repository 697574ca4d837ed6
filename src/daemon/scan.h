/* scan.h — the two searches a reader runs over whole buffers: a short
 * string (the knock prefix) and the count of line ends. SSE2 where the
 * compiler has it (every x86-64), plain C otherwise; both read only the
 * bytes they are given. */
#ifndef LOGKNOCK_SCAN_H
#define LOGKNOCK_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SCAN_AVX2 1
/* scan_find_by's loop, 32 candidate starts at a time, for the CPUs that
 * have AVX2 (checked at run time: the build targets plain x86-64). Sets
 * *AT to where it stopped when it found nothing. */
__attribute__((target("avx2"))) static inline const char *scan_find_by_avx2(const char *hay, size_t len,
								     const char *needle, size_t n, size_t i,
								     size_t j, size_t *at_out)
{
	size_t at = 0;
	const __m256i bi = _mm256_set1_epi8(needle[i]), bj = _mm256_set1_epi8(needle[j]);
	for (; at + n + 31 <= len; at += 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(hay + at + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(hay + at + j));
		unsigned m = (unsigned)_mm256_movemask_epi8(
			_mm256_and_si256(_mm256_cmpeq_epi8(a, bi), _mm256_cmpeq_epi8(b, bj)));
		while (m) {
			unsigned bit = (unsigned)__builtin_ctz(m);
			if (memcmp(hay + at + bit, needle, n) == 0)
				return hay + at + bit;
			m &= m - 1;
		}
	}
	*at_out = at;
	return NULL;
}
#endif

/* The first NEEDLE (N bytes, N >= 1) in HAY (LEN bytes), or NULL. Blocks
 * of 16 candidate starts are sifted by two bytes of the needle, at I and J
 * (I < J < N: two that are rare in the text searched); the whole needle is
 * compared only where both are in place. */
static inline const char *scan_find_by(const char *hay, size_t len, const char *needle, size_t n, size_t i,
				       size_t j)
{
	size_t at = 0;
#ifdef SCAN_AVX2
	if (n >= 2 && len >= n + 31 && __builtin_cpu_supports("avx2")) {
		const char *r = scan_find_by_avx2(hay, len, needle, n, i, j, &at);
		if (r)
			return r;
	}
#endif
#ifdef __SSE2__
	if (n >= 2 && len >= at + n + 15) {
		const __m128i bi = _mm_set1_epi8(needle[i]), bj = _mm_set1_epi8(needle[j]);
		for (; at + n + 15 <= len; at += 16) {
			__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(hay + at + i));
			__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(hay + at + j));
			unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, bi),
									  _mm_cmpeq_epi8(b, bj)));
			while (m) {
				unsigned bit = (unsigned)__builtin_ctz(m);
				if (memcmp(hay + at + bit, needle, n) == 0)
					return hay + at + bit;
				m &= m - 1;
			}
		}
	}
#else
	(void)i;
	(void)j;
#endif
	return (const char *)memmem(hay + at, len - at, needle, n);
}

/* The same, sifted by its first and last byte. */
static inline const char *scan_find(const char *hay, size_t len, const char *needle, size_t n)
{
	return scan_find_by(hay, len, needle, n, 0, n - 1);
}

/* How many '\n' in P (LEN bytes). */
static inline size_t scan_count_nl(const char *p, size_t len)
{
	size_t c = 0, i = 0;
#ifdef __SSE2__
	const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
	while (i + 16 <= len) {
		/* Per byte lane, minus one for each newline: at most 255 blocks
		 * before the lanes are summed. */
		__m128i acc = zero;
		for (int k = 0; k < 255 && i + 16 <= len; k++, i += 16)
			acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), nl));
		__m128i s = _mm_sad_epu8(acc, zero);
		c += (size_t)_mm_cvtsi128_si32(s) + (size_t)_mm_cvtsi128_si32(_mm_srli_si128(s, 8));
	}
#endif
	for (; i < len; i++)
		c += p[i] == '\n';
	return c;
}

#endif
