/*
 * certscan.c: see certscan.h. The C twin of src/tlsback/_scan_py.py: every rule here has its
 * readable counterpart there, and tests/test_scan_parity.py holds them equal. Change both.
 *
 * Safety: positions are size_t and always satisfy pos <= end before any subtraction; every
 * read is preceded by a length check; every write goes through a bounded buffer (buf_put) or
 * checks its capacity. Hostile lengths are capped (4 length octets at most, so < 2^32).
 */
#include "certscan.h"

#include <string.h>

#define NAME_MAX_LEN ((size_t)1024 * 1024) /* OpenSSL's X509_NAME_MAX (crypto/x509/x_name.c) */

int tb_abi_version(void) { return TB_ABI_VERSION; }

/* ------------------------------------------------------------------------------------------ */
/* SHA-1, FIPS 180-4. Small and portable; only hashes canonical names (a few hundred bytes).  */

#define ROL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80], a, b, c, d, e, t;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 80; i++)
        w[i] = ROL32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20)
            t = ((b & c) | (~b & d)) + 0x5A827999u;
        else if (i < 40)
            t = (b ^ c ^ d) + 0x6ED9EBA1u;
        else if (i < 60)
            t = ((b & c) | (b & d) | (c & d)) + 0x8F1BBCDCu;
        else
            t = (b ^ c ^ d) + 0xCA62C1D6u;
        t += ROL32(a, 5) + e + w[i];
        e = d; d = c; c = ROL32(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

void tb_sha1(const unsigned char *data, size_t len, unsigned char digest[20])
{
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    unsigned char tail[128];
    size_t full = len & ~(size_t)63, rest = len - full, tlen;
    uint64_t bits = (uint64_t)len * 8;
    size_t i;
    for (i = 0; i < full; i += 64)
        sha1_block(h, data + i);
    memset(tail, 0, sizeof tail);
    if (rest)
        memcpy(tail, data + full, rest);
    tail[rest] = 0x80;
    tlen = rest < 56 ? 64 : 128;
    for (i = 0; i < 8; i++)
        tail[tlen - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tlen == 128)
        sha1_block(h, tail + 64);
    for (i = 0; i < 5; i++) {
        digest[4 * i] = (unsigned char)(h[i] >> 24);
        digest[4 * i + 1] = (unsigned char)(h[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(h[i] >> 8);
        digest[4 * i + 3] = (unsigned char)h[i];
    }
}

/* ------------------------------------------------------------------------------------------ */
/* DER, X.690 §8.1: identifier, definite length (short, or long with 1-4 octets), content.   */

enum { H_OK = 0, H_TRUNC = 1, H_BAD = 2 };

/* Parse the TLV header at d[pos:end] (pos <= end). Mirrors _scan_py._header. */
static int der_header(const unsigned char *d, size_t pos, size_t end,
                      unsigned *tag, size_t *cs, size_t *ce)
{
    size_t len, k, i;
    unsigned n;
    if (end - pos < 2)
        return H_TRUNC;
    *tag = d[pos];
    if ((d[pos] & 0x1F) == 0x1F)
        return H_BAD; /* high tag number form: never part of the X.509 skeleton */
    n = d[pos + 1];
    pos += 2;
    if (n < 0x80) {
        len = n;
    } else if (n == 0x80 || n > 0x84) {
        return H_BAD; /* indefinite length (BER only) or a length of 2^32 bytes or more */
    } else {
        k = n & 0x7F;
        if (end - pos < k)
            return H_TRUNC;
        len = 0;
        for (i = 0; i < k; i++)
            len = (len << 8) | d[pos + i];
        pos += k;
    }
    if (len > end - pos)
        return H_TRUNC;
    *cs = pos;
    *ce = pos + len;
    return H_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Bounded output buffers and the scratch layout.                                              */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int overflow;
} buf_t;

static void buf_put(buf_t *b, const unsigned char *src, size_t n)
{
    if (b->overflow || n > b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void buf_byte(buf_t *b, unsigned char c) { buf_put(b, &c, 1); }

/* Minimal DER length (X.690 §10.1). */
static void buf_der_len(buf_t *b, size_t n)
{
    unsigned char tmp[9];
    int k = 0, i;
    if (n < 0x80) {
        buf_byte(b, (unsigned char)n);
        return;
    }
    while (n) {
        tmp[k++] = (unsigned char)(n & 0xFF);
        n >>= 8;
    }
    buf_byte(b, (unsigned char)(0x80 | k));
    for (i = k - 1; i >= 0; i--)
        buf_byte(b, tmp[i]);
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The name workspace for names of up to n bytes: canonical output and the current RDN's
   entries (each < 3n: strings at most double in UTF-8, headers grow by a byte or two per
   entry of at least 7 bytes), one value (< 2n), and (offset, length) pairs of the entries
   (an entry is at least 7 bytes). */
typedef struct {
    uint32_t *ent;
    size_t ent_cap;
    unsigned char *canon, *set, *val;
    size_t canon_cap, set_cap, val_cap;
} work_t;

static size_t work_size_for(size_t n)
{
    if (n > NAME_MAX_LEN)
        n = NAME_MAX_LEN;
    return align8(8 * (n / 7 + 2)) + 2 * align8(3 * n + 16) + align8(2 * n + 16);
}

size_t tb_scratch_size(size_t max_len)
{
    /* decoded DER (never longer than its input) + the name workspace */
    return align8(max_len + 8) + work_size_for(max_len);
}

static int work_init(work_t *w, unsigned char *mem, size_t cap, size_t n)
{
    size_t need = work_size_for(n), off = 0;
    if (n > NAME_MAX_LEN)
        n = NAME_MAX_LEN;
    if (cap < need)
        return 0;
    w->ent = (uint32_t *)(void *)mem;
    w->ent_cap = n / 7 + 2;
    off += align8(8 * w->ent_cap);
    w->canon = mem + off;
    w->canon_cap = 3 * n + 16;
    off += align8(w->canon_cap);
    w->set = mem + off;
    w->set_cap = 3 * n + 16;
    off += align8(w->set_cap);
    w->val = mem + off;
    w->val_cap = 2 * n + 16;
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* OpenSSL's canonical name encoding (crypto/x509/x_name.c: x509_name_canon,                 */
/* asn1_string_canon; crypto/asn1/a_mbstr.c, a_utf8.c for the string conversions).            */

static void put_utf8(buf_t *b, uint32_t v)
{
    unsigned char t[4];
    if (v < 0x80) {
        buf_byte(b, (unsigned char)v);
    } else if (v < 0x800) {
        t[0] = (unsigned char)(0xC0 | (v >> 6));
        t[1] = (unsigned char)(0x80 | (v & 0x3F));
        buf_put(b, t, 2);
    } else if (v < 0x10000) {
        t[0] = (unsigned char)(0xE0 | (v >> 12));
        t[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
        t[2] = (unsigned char)(0x80 | (v & 0x3F));
        buf_put(b, t, 3);
    } else {
        t[0] = (unsigned char)(0xF0 | (v >> 18));
        t[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
        t[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
        t[3] = (unsigned char)(0x80 | (v & 0x3F));
        buf_put(b, t, 4);
    }
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF): what OpenSSL's
   UTF8_getc + is_unicode_valid accept, and what Python's "utf-8" codec accepts. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (n - i < 2 || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            unsigned c1;
            if (n - i < 3)
                return 0;
            c1 = s[i + 1];
            if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            if (c == 0xE0 && c1 < 0xA0)
                return 0; /* overlong */
            if (c == 0xED && c1 >= 0xA0)
                return 0; /* surrogate */
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            unsigned c1;
            if (n - i < 4)
                return 0;
            c1 = s[i + 1];
            if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if (c == 0xF0 && c1 < 0x90)
                return 0; /* overlong */
            if (c == 0xF4 && c1 >= 0x90)
                return 0; /* above U+10FFFF */
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static int is_space(unsigned c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }

/* Canonicalise one attribute value d[vpos:end] (exactly one TLV) and append its encoding to
   out. Returns H_OK or H_BAD. Mirrors _scan_py._canon_value. */
static int canon_value(const unsigned char *d, size_t vpos, size_t end, work_t *w, buf_t *out)
{
    unsigned tag;
    size_t s, e, i, n, a, z;
    buf_t v;
    const unsigned char *raw;
    if (der_header(d, vpos, end, &tag, &s, &e) != H_OK || e != end)
        return H_BAD;
    raw = d + s;
    n = e - s;
    v.p = w->val;
    v.len = 0;
    v.cap = w->val_cap;
    v.overflow = 0;
    switch (tag) {
    case 0x0C: /* UTF8String */
        if (!utf8_valid(raw, n))
            return H_BAD;
        buf_put(&v, raw, n);
        break;
    case 0x13: /* PrintableString */
    case 0x14: /* T61String */
    case 0x16: /* IA5String: one byte is one character (Latin-1), as ASN1_STRING_to_UTF8 */
        for (i = 0; i < n; i++)
            put_utf8(&v, raw[i]);
        break;
    case 0x1E: /* BMPString: UCS-2 big-endian; surrogates refused */
        if (n & 1)
            return H_BAD;
        for (i = 0; i < n; i += 2) {
            uint32_t c = (uint32_t)raw[i] << 8 | raw[i + 1];
            if (c >= 0xD800 && c <= 0xDFFF)
                return H_BAD;
            put_utf8(&v, c);
        }
        break;
    case 0x1C: /* UniversalString: UCS-4 big-endian */
        if (n & 3)
            return H_BAD;
        for (i = 0; i < n; i += 4) {
            uint32_t c = (uint32_t)raw[i] << 24 | (uint32_t)raw[i + 1] << 16 |
                         (uint32_t)raw[i + 2] << 8 | raw[i + 3];
            if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                return H_BAD;
            put_utf8(&v, c);
        }
        break;
    case 0x12: case 0x07: case 0x08: case 0x09: case 0x0B:
    case 0x0D: case 0x0E: case 0x0F: case 0x1D:
        /* NumericString and B_ASN1_UNKNOWN tags: not canonicalised, re-encoded in DER */
        buf_byte(out, (unsigned char)tag);
        buf_der_len(out, n);
        buf_put(out, raw, n);
        return H_OK;
    case 0x03: { /* BIT STRING: c2i/i2c_ASN1_BIT_STRING drop the unused bits */
        unsigned unused;
        if (n < 1 || raw[0] > 7)
            return H_BAD;
        unused = raw[0];
        if (n == 1)
            unused = 0;
        buf_byte(out, 0x03);
        buf_der_len(out, n);
        buf_byte(out, (unsigned char)unused);
        if (n > 1) {
            buf_put(out, raw + 1, n - 2);
            buf_byte(out, (unsigned char)(raw[n - 1] & (0xFF << unused)));
        }
        return H_OK;
    }
    case 0x30: /* SEQUENCE: kept as the original bytes */
        buf_put(out, d + vpos, end - vpos);
        return H_OK;
    default:
        return H_BAD;
    }
    if (v.overflow)
        return H_BAD; /* cannot happen: val_cap >= 2n + 16 */
    /* asn1_string_canon: strip, fold whitespace runs to one space, ASCII lower case */
    a = 0;
    z = v.len;
    while (a < z && is_space(v.p[a]))
        a++;
    while (z > a && is_space(v.p[z - 1]))
        z--;
    n = 0; /* canonical length, written in place */
    for (i = a; i < z;) {
        unsigned c = v.p[i];
        if (is_space(c)) {
            v.p[n++] = ' ';
            while (i < z && is_space(v.p[i]))
                i++;
        } else {
            v.p[n++] = (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            i++;
        }
    }
    buf_byte(out, 0x0C);
    buf_der_len(out, n);
    buf_put(out, v.p, n);
    return H_OK;
}

static int oid_valid(const unsigned char *o, size_t n)
{
    size_t i;
    if (n == 0 || (o[n - 1] & 0x80))
        return 0;
    for (i = 0; i < n; i++)
        if (o[i] == 0x80 && (i == 0 || !(o[i - 1] & 0x80)))
            return 0;
    return 1;
}

/* DER SET OF order (X.690 §11.6): memcmp, then the shorter first. */
static int ent_less(const unsigned char *base, const uint32_t *x, const uint32_t *y)
{
    size_t m = x[1] < y[1] ? x[1] : y[1];
    int c = memcmp(base + x[0], base + y[0], m);
    if (c)
        return c < 0;
    return x[1] < y[1];
}

static void ent_sift(const unsigned char *base, uint32_t *e, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        uint32_t t0, t1;
        if (child >= n)
            return;
        if (child + 1 < n && ent_less(base, e + 2 * child, e + 2 * (child + 1)))
            child++;
        if (!ent_less(base, e + 2 * root, e + 2 * child))
            return;
        t0 = e[2 * root]; t1 = e[2 * root + 1];
        e[2 * root] = e[2 * child]; e[2 * root + 1] = e[2 * child + 1];
        e[2 * child] = t0; e[2 * child + 1] = t1;
        root = child;
    }
}

/* Heapsort: O(n log n) whatever a hostile name holds, and no allocation. */
static void ent_sort(const unsigned char *base, uint32_t *e, size_t n)
{
    size_t i;
    if (n < 2)
        return;
    for (i = n / 2; i-- > 0;)
        ent_sift(base, e, i, n);
    for (i = n - 1; i > 0; i--) {
        uint32_t t0 = e[0], t1 = e[1];
        e[0] = e[2 * i]; e[1] = e[2 * i + 1];
        e[2 * i] = t0; e[2 * i + 1] = t1;
        ent_sift(base, e, 0, i);
    }
}

/* X509_NAME_hash of the Name TLV d[start:end] (hash NULL: only check it). Returns H_OK, H_BAD or
   -1 (workspace too small). Mirrors _scan_py._canon_name. */
static int name_hash(const unsigned char *d, size_t start, size_t end, work_t *w, uint32_t *hash)
{
    unsigned tag;
    size_t pos, stop, s, e, es, ee, os, oe, nent, i, total;
    buf_t canon, set;
    unsigned char md[20];
    if (end - start > NAME_MAX_LEN)
        return H_BAD;
    if (der_header(d, start, end, &tag, &pos, &stop) != H_OK || tag != 0x30 || stop != end)
        return H_BAD;
    canon.p = w->canon; canon.len = 0; canon.cap = w->canon_cap; canon.overflow = 0;
    while (pos < stop) {
        if (der_header(d, pos, stop, &tag, &s, &e) != H_OK || tag != 0x31)
            return H_BAD;
        pos = e;
        set.p = w->set; set.len = 0; set.cap = w->set_cap; set.overflow = 0;
        nent = 0;
        while (s < e) {
            size_t body_start, body_len;
            if (der_header(d, s, e, &tag, &es, &ee) != H_OK || tag != 0x30)
                return H_BAD;
            s = ee;
            if (der_header(d, es, ee, &tag, &os, &oe) != H_OK || tag != 0x06)
                return H_BAD;
            if (!oid_valid(d + os, oe - os))
                return H_BAD;
            if (nent >= w->ent_cap)
                return -1;
            /* entry body first (oid + value) at the end of set, then its header in front:
               write the body into set, measure, and shift by the header length */
            body_start = set.len;
            buf_byte(&set, 0x06);
            buf_der_len(&set, oe - os);
            buf_put(&set, d + os, oe - os);
            if (canon_value(d, oe, ee, w, &set) != H_OK)
                return H_BAD;
            if (set.overflow)
                return -1;
            body_len = set.len - body_start;
            {
                unsigned char hdr[10];
                buf_t h;
                h.p = hdr; h.len = 0; h.cap = sizeof hdr; h.overflow = 0;
                buf_byte(&h, 0x30);
                buf_der_len(&h, body_len);
                if (h.len > set.cap - set.len)
                    return -1;
                memmove(set.p + body_start + h.len, set.p + body_start, body_len);
                memcpy(set.p + body_start, hdr, h.len);
                set.len += h.len;
                w->ent[2 * nent] = (uint32_t)body_start;
                w->ent[2 * nent + 1] = (uint32_t)(body_len + h.len);
            }
            nent++;
        }
        if (nent == 0)
            continue; /* an empty RDN has no entries, so it vanishes from the canonical form */
        ent_sort(set.p, w->ent, nent);
        total = set.len;
        buf_byte(&canon, 0x31);
        buf_der_len(&canon, total);
        for (i = 0; i < nent; i++)
            buf_put(&canon, set.p + w->ent[2 * i], w->ent[2 * i + 1]);
        if (canon.overflow)
            return -1;
    }
    if (hash == NULL) /* only checking that OpenSSL can decode the name (the issuer) */
        return H_OK;
    tb_sha1(canon.p, canon.len, md);
    *hash = (uint32_t)md[0] | (uint32_t)md[1] << 8 | (uint32_t)md[2] << 16 | (uint32_t)md[3] << 24;
    return H_OK;
}

/* The X.509 template of OpenSSL 3's d2i_X509 (crypto/x509/x_x509.c; RFC 5280 §4.1), field by
   field, nothing left over in any SEQUENCE, primitives checked where OpenSSL's decoder checks
   them (crypto/asn1/tasn_dec.c asn1_ex_c2i, a_int.c c2i_ibuf, a_bitstr.c, a_object.c): a
   certificate accepted here is one OpenSSL loads. Mirrors _scan_py._int_ok ... _x509_subject_hash. */

static int int_ok(const unsigned char *c, size_t n)
{
    if (n == 0)
        return 0;
    if (n == 1)
        return 1;
    if (c[0] == 0x00)
        return (c[1] & 0x80) != 0;
    if (c[0] == 0xFF) {
        size_t i;
        for (i = 1; i < n; i++)
            if (c[i])
                return (c[1] & 0x80) == 0;
    }
    return 1;
}

static int bits_ok(const unsigned char *c, size_t n) { return n >= 1 && c[0] <= 7; }

static int prim_ok(unsigned tag, const unsigned char *c, size_t n)
{
    switch (tag) {
    case 0x00: case 0x10: case 0x11: return 0; /* EOC; SEQUENCE/SET must be constructed */
    case 0x01: return n == 1;
    case 0x02: case 0x0A: return int_ok(c, n);
    case 0x03: return bits_ok(c, n);
    case 0x05: return n == 0;
    case 0x06: return oid_valid(c, n);
    case 0x1E: return (n & 1) == 0;
    case 0x1C: return (n & 3) == 0;
    case 0x17: return n >= 13; /* UTCTime, GeneralizedTime: OpenSSL 3 refuses shorter ones */
    case 0x18: return n >= 15;
    default: return 1;
    }
}

static int any_ok(unsigned tag, const unsigned char *c, size_t n)
{
    if (tag & 0xC0)
        return 1;
    if (tag & 0x20)
        return tag == 0x30 || tag == 0x31;
    return prim_ok(tag, c, n);
}

/* The TLV at pos must have tag `want` (and a valid content if a universal primitive). */
static int expect(const unsigned char *d, size_t pos, size_t end, unsigned want, size_t *s, size_t *e)
{
    unsigned tag;
    if (der_header(d, pos, end, &tag, s, e) != H_OK || tag != want)
        return 0;
    return tag >= 0x20 || prim_ok(tag, d + *s, *e - *s);
}

/* AlgorithmIdentifier ::= SEQUENCE { OID, ANY OPTIONAL }; *next = its end. */
static int algid(const unsigned char *d, size_t pos, size_t end, size_t *next)
{
    size_t s, e, os, oe, ps, pe;
    unsigned tag;
    if (!expect(d, pos, end, 0x30, &s, &e) || !expect(d, s, e, 0x06, &os, &oe))
        return 0;
    if (oe < e && (der_header(d, oe, e, &tag, &ps, &pe) != H_OK || pe != e || !any_ok(tag, d + ps, pe - ps)))
        return 0;
    *next = e;
    return 1;
}

/* Check one complete DER certificate (outer framing included). Returns TB_VALID with *hash,
   a TB_P_* code, or TB_ENOSPC. Mirrors _scan_py._check_der / _x509_subject_hash. */
static int check_der(const unsigned char *der, size_t n, work_t *w, uint32_t *hash)
{
    unsigned tag;
    size_t cs, ce, ts, te, s, e, p, vs, ve, iss_s, iss_e, subj_s, subj_e, ks, xs, xe, ls, le, es, ee;
    int r, i;
    r = der_header(der, 0, n, &tag, &cs, &ce);
    if (r == H_TRUNC)
        return TB_P_TRUNCATED;
    if (r == H_BAD || tag != 0x30)
        return TB_P_NOT_X509;
    if (ce != n)
        return TB_P_TRAILING;
    if (!expect(der, cs, ce, 0x30, &ts, &te) || !algid(der, te, ce, &p) /* signatureAlgorithm */
        || !expect(der, p, ce, 0x03, &s, &p) || p != ce) /* signatureValue */
        return TB_P_NOT_X509;
    if (der_header(der, ts, te, &tag, &s, &e) != H_OK)
        return TB_P_NOT_X509;
    if (tag == 0xA0) { /* [0] EXPLICIT Version: exactly one INTEGER */
        if (!expect(der, s, e, 0x02, &vs, &ve) || ve != e || der_header(der, e, te, &tag, &s, &e) != H_OK)
            return TB_P_NOT_X509;
    }
    if (tag != 0x02 || !int_ok(der + s, e - s)) /* serialNumber */
        return TB_P_NOT_X509;
    if (!algid(der, e, te, &e)) /* signature */
        return TB_P_NOT_X509;
    iss_s = e;
    if (!expect(der, e, te, 0x30, &s, &e))
        return TB_P_NOT_X509;
    iss_e = e;
    if (!expect(der, e, te, 0x30, &vs, &ve)) /* validity: two times */
        return TB_P_NOT_X509;
    for (i = 0; i < 2; i++) {
        if (der_header(der, vs, ve, &tag, &s, &vs) != H_OK || (tag != 0x17 && tag != 0x18)
            || !prim_ok(tag, der + s, vs - s))
            return TB_P_NOT_X509;
    }
    if (vs != ve)
        return TB_P_NOT_X509;
    subj_s = ve;
    if (!expect(der, ve, te, 0x30, &s, &e))
        return TB_P_NOT_X509;
    subj_e = e;
    if (!expect(der, e, te, 0x30, &ks, &e) || !algid(der, ks, e, &p) /* subjectPublicKeyInfo */
        || !expect(der, p, e, 0x03, &s, &p) || p != e)
        return TB_P_NOT_X509;
    for (i = 0x81; i <= 0x82; i++) /* issuerUniqueID, subjectUniqueID: [n] IMPLICIT BIT STRING */
        if (e < te && der[e] == (unsigned char)i && (!expect(der, e, te, (unsigned)i, &s, &e) || !bits_ok(der + s, e - s)))
            return TB_P_NOT_X509;
    if (e < te) { /* [3] EXPLICIT Extensions: SEQUENCE OF SEQUENCE { OID, BOOLEAN OPTIONAL, OCTET STRING } */
        if (!expect(der, e, te, 0xA3, &xs, &xe) || !expect(der, xs, xe, 0x30, &ls, &le) || le != xe)
            return TB_P_NOT_X509;
        while (ls < le) {
            if (!expect(der, ls, le, 0x30, &es, &ls) || !expect(der, es, ls, 0x06, &s, &es))
                return TB_P_NOT_X509;
            if (es < ls && der[es] == 0x01 && !expect(der, es, ls, 0x01, &s, &es))
                return TB_P_NOT_X509;
            if (!expect(der, es, ls, 0x04, &s, &ee) || ee != ls)
                return TB_P_NOT_X509;
        }
        e = xe;
    }
    if (e != te)
        return TB_P_NOT_X509;
    r = name_hash(der, subj_s, subj_e, w, hash);
    if (r == H_OK && (iss_e - iss_s != subj_e - subj_s || memcmp(der + iss_s, der + subj_s, iss_e - iss_s)))
        r = name_hash(der, iss_s, iss_e, w, NULL); /* d2i canonicalises the issuer too */
    if (r < 0)
        return TB_ENOSPC;
    return r == H_OK ? TB_VALID : TB_P_NOT_X509;
}

int tb_subject_hash(const unsigned char *der, size_t len,
                    unsigned char *scratch, size_t scratch_cap, uint32_t *hash)
{
    work_t w;
    if (!work_init(&w, scratch, scratch_cap, len))
        return TB_ENOSPC;
    return check_der(der, len, &w, hash);
}

/* ------------------------------------------------------------------------------------------ */
/* PEM, RFC 7468, and its lax base64.                                                          */

#define B64_WS 0x40
#define B64_PAD 0x41
#define B64_BAD 0xFF

static const unsigned char b64_table[256] = {
#define X B64_BAD
    X, X, X, X, X, X, X, X, X, 0x40, 0x40, 0x40, 0x40, 0x40, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    0x40, X, X, X, X, X, X, X, X, X, X, 62, X, X, X, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, 0x41, X, X,
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, X,
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
#undef X
};

static const char BEGIN_CERT[] = "-----BEGIN CERTIFICATE-----";
static const char END_CERT[] = "-----END CERTIFICATE-----";
static const char PEM_HINT[] = "-----BEGIN ";

/* Lines end with CRLF, CR or LF (RFC 7468's eol). The end of the line that starts at or before
   pos: the position of its CR or LF, or len. */
static size_t line_end(const unsigned char *d, size_t pos, size_t len)
{
    /* two memchr passes (vectorised in every libc) beat one byte loop: a CR, where there is one,
       sits just before the LF */
    const unsigned char *lf = memchr(d + pos, '\n', len - pos);
    size_t end = lf ? (size_t)(lf - d) : len;
    const unsigned char *cr = memchr(d + pos, '\r', end - pos);
    return cr ? (size_t)(cr - d) : end;
}

/* The start of the line after the one ended at eol (line_end's result). */
static size_t next_line(const unsigned char *d, size_t eol, size_t len)
{
    if (eol >= len)
        return len;
    if (d[eol] == '\r' && eol + 1 < len && d[eol + 1] == '\n')
        return eol + 2;
    return eol + 1;
}

/* Does d[pos:len] hold text, then [ \t]*, then a line end or the end of data? On success, *next
   is the start of the following line (len at the end of data) and *eol says if a line end ended
   it. */
static int boundary_line(const unsigned char *d, size_t pos, size_t len, const char *text,
                         size_t tlen, size_t *next, int *had_nl)
{
    if (len - pos < tlen || memcmp(d + pos, text, tlen) != 0)
        return 0;
    pos += tlen;
    while (pos < len && (d[pos] == ' ' || d[pos] == '\t'))
        pos++;
    if (pos == len) {
        *next = len;
        *had_nl = 0;
        return 1;
    }
    if (d[pos] != '\n' && d[pos] != '\r')
        return 0;
    *next = next_line(d, pos, len);
    *had_nl = 1;
    return 1;
}

/* Is there a line starting with "-----BEGIN " (at the start of the data, or after a CR or LF)? */
static int looks_like_pem(const unsigned char *d, size_t len)
{
    const size_t hl = sizeof PEM_HINT - 1;
    size_t p = 0;
    for (;;) {
        if (len - p >= hl && memcmp(d + p, PEM_HINT, hl) == 0)
            return 1;
        p = line_end(d, p, len);
        if (p >= len)
            return 0;
        p++; /* a CR or LF: what follows it starts a line (an LF after a CR: no match there) */
    }
}

/* How many lines end in d[a:b]: every LF, and every CR not followed by an LF. */
static size_t count_nl(const unsigned char *d, size_t a, size_t b)
{
    size_t n = 0;
    for (; a < b; a++)
        n += d[a] == '\n' || (d[a] == '\r' && !(a + 1 < b && d[a + 1] == '\n'));
    return n;
}

/* Decode the body of a block that starts at line start q, up to the terminator: the next line
   starting with "-----". *term is its position, or len if there is none. Decoded bytes go to
   out (capacity >= the body length * 3 / 4 + 3). Returns 1 if the body is valid base64. */
static int pem_body(const unsigned char *d, size_t q, size_t len, size_t *term,
                    unsigned char *out, size_t *out_len)
{
    uint32_t acc = 0;
    unsigned qn = 0, npad = 0;
    int ok = 1;
    size_t o = 0;
    for (;;) {
        size_t eol, i;
        if (q >= len) {
            *term = len;
            break;
        }
        if (len - q >= 5 && memcmp(d + q, "-----", 5) == 0) {
            *term = q;
            break;
        }
        eol = line_end(d, q, len);
        if (ok) {
            i = q;
            while (i < eol) {
                unsigned v0, v1, v2, v3, c;
                if (qn == 0 && npad == 0 && eol - i >= 4) {
                    v0 = b64_table[d[i]];
                    v1 = b64_table[d[i + 1]];
                    v2 = b64_table[d[i + 2]];
                    v3 = b64_table[d[i + 3]];
                    if ((v0 | v1 | v2 | v3) < 64) {
                        uint32_t t = v0 << 18 | v1 << 12 | v2 << 6 | v3;
                        out[o] = (unsigned char)(t >> 16);
                        out[o + 1] = (unsigned char)(t >> 8);
                        out[o + 2] = (unsigned char)t;
                        o += 3;
                        i += 4;
                        continue;
                    }
                }
                c = b64_table[d[i++]];
                if (c < 64) {
                    if (npad) {
                        ok = 0; /* data after padding */
                        break;
                    }
                    acc = acc << 6 | c;
                    if (++qn == 4) {
                        out[o] = (unsigned char)(acc >> 16);
                        out[o + 1] = (unsigned char)(acc >> 8);
                        out[o + 2] = (unsigned char)acc;
                        o += 3;
                        qn = 0;
                        acc = 0;
                    }
                } else if (c == B64_WS) {
                    continue;
                } else if (c == B64_PAD) {
                    if (++npad > 2) {
                        ok = 0;
                        break;
                    }
                } else {
                    ok = 0;
                    break;
                }
            }
        }
        if (eol >= len) {
            *term = len;
            break;
        }
        q = next_line(d, eol, len); /* the line end itself is whitespace; nothing to decode */
    }
    if (ok) {
        /* padding, if any, only completing the last quantum; without it (as uv accepts), 2 or 3
           characters left over */
        if (npad == 0 && qn == 1)
            ok = 0;
        else if ((npad == 1 || npad == 0) && qn == 3) {
            out[o] = (unsigned char)(acc >> 10);
            out[o + 1] = (unsigned char)(acc >> 2);
            o += 2;
        } else if ((npad == 2 || npad == 0) && qn == 2) {
            out[o] = (unsigned char)(acc >> 4);
            o += 1;
        } else if (npad != 0)
            ok = 0;
    }
    *out_len = o;
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* One file, then the two entry points.                                                        */

/* 64-bit fingerprint of a certificate for the dedupe table (collisions only cost a memcmp). */
static uint64_t fingerprint(const unsigned char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n * 0xFF51AFD7ED558CCDull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h ^= w * 0x87C37B91114253D5ull;
        h = (h << 31 | h >> 33) * 0x4CF5AD432745937Full;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001B3ull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return h;
}

typedef struct {
    /* where certificates go: a store (dedupe) or plain arrays (tb_scan_one) */
    tb_store *st;
    uint32_t file;
    uint32_t found, unique;
    uint64_t *cert_off;
    uint32_t *cert_len, *cert_hash;
    size_t certs_cap, n_certs;
    const unsigned char *base; /* tb_scan_one: offsets are relative to this (the scratch) */
    tb_problem *problems;
    size_t problems_cap, n_problems;
    work_t w;
    unsigned char *decoded; /* room for one file's decoded blocks */
    size_t decoded_cap;
} ctx_t;

static int add_problem(ctx_t *c, int code, uint32_t line)
{
    if (c->n_problems >= c->problems_cap)
        return TB_ENOSPC;
    c->problems[c->n_problems].file = c->file;
    c->problems[c->n_problems].code = code;
    c->problems[c->n_problems].line = line;
    c->n_problems++;
    return TB_OK;
}

/* A candidate certificate (der, n), found at line (0 = DER file). */
static int add_candidate(ctx_t *c, const unsigned char *der, size_t n, uint32_t line)
{
    uint32_t hash = 0;
    int r;
    if (c->st) {
        tb_store *st = c->st;
        uint64_t fp = fingerprint(der, n);
        size_t mask = st->table_cap - 1, i = (size_t)fp & mask, probes = 0;
        while (st->slot_idx[i]) {
            size_t u = st->slot_idx[i] - 1;
            if (st->slot_fp[i] == fp && st->u_len[u] == n &&
                memcmp(st->arena + st->u_off[u], der, n) == 0) {
                c->found++;
                st->n_duplicates++;
                return TB_OK;
            }
            i = (i + 1) & mask;
            if (++probes > st->table_cap)
                return TB_ENOSPC;
        }
        r = check_der(der, n, &c->w, &hash);
        if (r == TB_ENOSPC)
            return r;
        if (r != TB_VALID)
            return add_problem(c, r, line);
        if (st->n_unique >= st->u_cap || n > st->arena_cap - st->arena_len ||
            2 * (st->n_unique + 1) > st->table_cap || n > 0xFFFFFFFFu)
            return TB_ENOSPC;
        memcpy(st->arena + st->arena_len, der, n);
        st->u_off[st->n_unique] = st->arena_len;
        st->u_len[st->n_unique] = (uint32_t)n;
        st->u_hash[st->n_unique] = hash;
        st->u_file[st->n_unique] = c->file;
        st->arena_len += n;
        st->n_unique++;
        st->slot_fp[i] = fp;
        st->slot_idx[i] = (uint32_t)st->n_unique;
        c->found++;
        c->unique++;
        return TB_OK;
    }
    r = check_der(der, n, &c->w, &hash);
    if (r == TB_ENOSPC)
        return r;
    if (r != TB_VALID)
        return add_problem(c, r, line);
    if (c->n_certs >= c->certs_cap)
        return TB_ENOSPC;
    c->cert_off[c->n_certs] = (uint64_t)(der - c->base);
    c->cert_len[c->n_certs] = (uint32_t)n;
    c->cert_hash[c->n_certs] = hash;
    c->n_certs++;
    c->found++;
    return TB_OK;
}

static int scan_file(ctx_t *c, const unsigned char *d, size_t len)
{
    size_t p = 0, counted = 0, dec = 0;
    uint32_t line = 1;
    int r;
    size_t problems_before = c->n_problems;
    c->found = 0;
    c->unique = 0;
    if (len > 0 && d[0] == 0x30 && !looks_like_pem(d, len)) {
        /* one DER certificate; tb_scan_one reports offsets into scratch, so copy it there */
        const unsigned char *der = d;
        if (!c->st) {
            if (len > c->decoded_cap)
                return TB_ENOSPC;
            memcpy(c->decoded, d, len);
            der = c->decoded;
        }
        r = add_candidate(c, der, len, 0);
        if (r != TB_OK)
            return r;
    } else {
        while (p < len) {
            size_t body, term, out_len;
            int nl, ok;
            if (d[p] == '-' &&
                boundary_line(d, p, len, BEGIN_CERT, sizeof BEGIN_CERT - 1, &body, &nl)) {
                line += (uint32_t)count_nl(d, counted, p);
                counted = p;
                if (!nl) {
                    r = add_problem(c, TB_P_MISSING_END, line);
                    if (r != TB_OK)
                        return r;
                    break;
                }
                if (len - body > c->decoded_cap - dec)
                    return TB_ENOSPC; /* cannot happen: blocks decode to less than they take */
                ok = pem_body(d, body, len, &term, c->decoded + dec, &out_len);
                /* the END line: one starting with END_CERT, whatever follows (as uv reads it) */
                if (term >= len || len - term < sizeof END_CERT - 1 ||
                    memcmp(d + term, END_CERT, sizeof END_CERT - 1) != 0) {
                    r = add_problem(c, TB_P_MISSING_END, line);
                    if (r != TB_OK)
                        return r;
                    if (term >= len)
                        break;
                    p = term; /* that line may begin the next block */
                    continue;
                }
                if (!ok) {
                    r = add_problem(c, TB_P_BAD_BASE64, line);
                } else {
                    r = add_candidate(c, c->decoded + dec, out_len, line);
                    if (!c->st)
                        dec += out_len; /* keep it: tb_scan_one returns offsets into it */
                }
                if (r != TB_OK)
                    return r;
                p = term;
                /* fall through to skip the END line */
            }
            {
                size_t eol = line_end(d, p, len);
                if (eol >= len)
                    break;
                p = next_line(d, eol, len);
            }
        }
    }
    if (c->found == 0 && c->n_problems == problems_before)
        return add_problem(c, TB_P_NO_CERTS, 0);
    return TB_OK;
}

size_t tb_max_certs(size_t total_len, size_t nfiles)
{
    /* a PEM certificate takes at least 27 + 1 + 25 bytes of boundaries; a DER file holds one */
    return total_len / 53 + nfiles + 1;
}

size_t tb_max_findings(size_t total_len, size_t nfiles)
{
    /* every PEM finding needs its own BEGIN line (27 bytes); a file adds at most one more */
    return total_len / 27 + nfiles + 1;
}

int tb_scan_one(const unsigned char *data, size_t len,
                unsigned char *scratch, size_t scratch_cap,
                uint64_t *cert_off, uint32_t *cert_len, uint32_t *cert_hash, size_t certs_cap,
                size_t *n_certs,
                tb_problem *problems, size_t problems_cap, size_t *n_problems)
{
    ctx_t c;
    size_t dcap = align8(len + 8);
    int r;
    if (scratch_cap < tb_scratch_size(len))
        return TB_ENOSPC;
    memset(&c, 0, sizeof c);
    c.decoded = scratch;
    c.decoded_cap = dcap;
    c.base = scratch;
    if (!work_init(&c.w, scratch + dcap, scratch_cap - dcap, len))
        return TB_ENOSPC;
    c.cert_off = cert_off;
    c.cert_len = cert_len;
    c.cert_hash = cert_hash;
    c.certs_cap = certs_cap;
    c.problems = problems;
    c.problems_cap = problems_cap;
    r = scan_file(&c, data, len);
    *n_certs = c.n_certs;
    *n_problems = c.n_problems;
    return r;
}

int tb_scan_files(tb_store *st, const unsigned char *data, const uint64_t *ends, size_t nfiles,
                  uint32_t first_file, uint32_t *found, uint32_t *unique,
                  tb_problem *problems, size_t problems_cap, size_t *n_problems,
                  unsigned char *scratch, size_t scratch_cap)
{
    ctx_t c;
    size_t i, start = 0, maxlen = 0, dcap;
    int r = TB_OK;
    if (!st || (st->table_cap & (st->table_cap - 1)) || st->table_cap == 0)
        return TB_EINVAL;
    for (i = 0; i < nfiles; i++) {
        if (ends[i] < start)
            return TB_EINVAL;
        if (ends[i] - start > maxlen)
            maxlen = (size_t)(ends[i] - start);
        start = (size_t)ends[i];
    }
    if (scratch_cap < tb_scratch_size(maxlen))
        return TB_ENOSPC;
    dcap = align8(maxlen + 8);
    memset(&c, 0, sizeof c);
    c.st = st;
    c.decoded = scratch;
    c.decoded_cap = dcap;
    if (!work_init(&c.w, scratch + dcap, scratch_cap - dcap, maxlen))
        return TB_ENOSPC;
    c.problems = problems;
    c.problems_cap = problems_cap;
    start = 0;
    for (i = 0; i < nfiles; i++) {
        c.file = first_file + (uint32_t)i;
        r = scan_file(&c, data + start, (size_t)ends[i] - start);
        found[i] = c.found;
        unique[i] = c.unique;
        if (r != TB_OK)
            break;
        start = (size_t)ends[i];
    }
    *n_problems = c.n_problems;
    return r;
}

int tb_store_rehash(tb_store *st, uint64_t *new_fp, uint32_t *new_idx, size_t new_cap)
{
    size_t i, mask = new_cap - 1;
    if (new_cap == 0 || (new_cap & mask) || new_cap < 2 * st->n_unique)
        return TB_EINVAL;
    for (i = 0; i < st->table_cap; i++) {
        size_t j;
        if (!st->slot_idx[i])
            continue;
        j = (size_t)st->slot_fp[i] & mask;
        while (new_idx[j])
            j = (j + 1) & mask;
        new_fp[j] = st->slot_fp[i];
        new_idx[j] = st->slot_idx[i];
    }
    st->slot_fp = new_fp;
    st->slot_idx = new_idx;
    st->table_cap = new_cap;
    return TB_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* PEM encoding, RFC 7468 §2 (the lazy store's HASH.N files). Mirrors _scan_py.pem_encode.     */

static const char PEM_B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char PEM_BEGIN[] = "-----BEGIN CERTIFICATE-----\n"; /* 28 bytes */
static const char PEM_END[] = "\n-----END CERTIFICATE-----\n";   /* 27 bytes */

size_t tb_pem_size(size_t der_len)
{
    size_t b64 = (der_len + 2) / 3 * 4, lines = (b64 + 63) / 64;
    return (sizeof PEM_BEGIN - 1) + b64 + (lines ? lines - 1 : 0) + (sizeof PEM_END - 1);
}

int tb_pem_encode(const unsigned char *ders, const uint64_t *ends, size_t ncerts,
                  unsigned char *out, size_t cap, uint64_t *out_ends)
{
    size_t i, j, n, col, start = 0, o = 0;
    uint32_t v;
    const unsigned char *d;
    for (i = 0; i < ncerts; i++) {
        if (ends[i] < start)
            return TB_EINVAL;
        n = (size_t)ends[i] - start;
        d = ders + start;
        if (cap - o < tb_pem_size(n))
            return TB_ENOSPC;
        memcpy(out + o, PEM_BEGIN, sizeof PEM_BEGIN - 1);
        o += sizeof PEM_BEGIN - 1;
        col = 0;
        for (j = 0; j < n; j += 3) {
            v = (uint32_t)d[j] << 16;
            if (j + 1 < n)
                v |= (uint32_t)d[j + 1] << 8;
            if (j + 2 < n)
                v |= d[j + 2];
            if (col == 64) {
                out[o++] = '\n';
                col = 0;
            }
            out[o++] = (unsigned char)PEM_B64[v >> 18];
            out[o++] = (unsigned char)PEM_B64[(v >> 12) & 63];
            out[o++] = (unsigned char)(j + 1 < n ? PEM_B64[(v >> 6) & 63] : '=');
            out[o++] = (unsigned char)(j + 2 < n ? PEM_B64[v & 63] : '=');
            col += 4;
        }
        memcpy(out + o, PEM_END, sizeof PEM_END - 1);
        o += sizeof PEM_END - 1;
        out_ends[i] = o;
        start = (size_t)ends[i];
    }
    return TB_OK;
}
