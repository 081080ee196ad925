/*
 * libFuzzer harness for certscan.c (ASan + UBSan). Every buffer is allocated at exactly the
 * size the C side asks for, so any read or write past it is caught.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *       -I src/_native src/_native/fuzz_certscan.c src/_native/certscan.c -o /tmp/fuzz_certscan
 *   /tmp/fuzz_certscan -runs=1000000 -max_len=8192 tests/fuzz_corpus
 *
 * Without -fsanitize=fuzzer (define FUZZ_MAIN) it is a plain program that runs each file named
 * on the command line once: that is what valgrind runs over the corpus.
 */
#include "certscan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static void scan_one(const uint8_t *data, size_t size)
{
    size_t scratch_size = tb_scratch_size(size);
    size_t ncap = tb_max_certs(size, 1), pcap = tb_max_findings(size, 1), nc = 0, np = 0, i;
    unsigned char *scratch = xmalloc(scratch_size);
    uint64_t *off = xmalloc(ncap * sizeof *off);
    uint32_t *len = xmalloc(ncap * sizeof *len), *hash = xmalloc(ncap * sizeof *hash);
    tb_problem *pr = xmalloc(pcap * sizeof *pr);
    int r = tb_scan_one(data, size, scratch, scratch_size, off, len, hash, ncap, &nc, pr, pcap, &np);
    if (r != TB_OK)
        abort(); /* buffers sized from the published bounds must always suffice */
    for (i = 0; i < nc; i++) {
        uint32_t h2;
        size_t wn = tb_scratch_size(len[i]);
        unsigned char *work;
        if (off[i] + len[i] > scratch_size)
            abort();
        /* each certificate found re-checks on its own with the same hash */
        work = xmalloc(wn);
        if (tb_subject_hash(scratch + off[i], len[i], work, wn, &h2) != TB_VALID || h2 != hash[i])
            abort();
        free(work);
    }
    for (i = 0; i < np; i++)
        if (pr[i].code < 0 || pr[i].code > TB_P_NO_CERTS)
            abort();
    if (nc == 0 && np == 0)
        abort(); /* a file always yields something */
    free(scratch); free(off); free(len); free(hash); free(pr);
}

static void scan_files(const uint8_t *data, size_t size)
{
    /* the input as three files (split at two points derived from the data) into one store */
    size_t cut1 = size ? data[0] * size / 256 : 0, cut2 = size > 1 ? cut1 + (size - cut1) / 2 : size;
    uint64_t ends[3] = {cut1, cut2, size};
    size_t maxc = tb_max_certs(size, 3), pcap = tb_max_findings(size, 3), cap = 1, np = 0;
    uint32_t found[3], unique[3];
    tb_store st;
    unsigned char *scratch;
    tb_problem *pr;
    int r;
    while (cap < 2 * maxc)
        cap *= 2;
    memset(&st, 0, sizeof st);
    st.slot_fp = calloc(cap, sizeof *st.slot_fp);
    st.slot_idx = calloc(cap, sizeof *st.slot_idx);
    st.table_cap = cap;
    st.arena = xmalloc(size);
    st.arena_cap = size;
    st.u_off = xmalloc(maxc * sizeof *st.u_off);
    st.u_len = xmalloc(maxc * sizeof *st.u_len);
    st.u_hash = xmalloc(maxc * sizeof *st.u_hash);
    st.u_file = xmalloc(maxc * sizeof *st.u_file);
    st.u_cap = maxc;
    scratch = xmalloc(tb_scratch_size(size));
    pr = xmalloc(pcap * sizeof *pr);
    r = tb_scan_files(&st, data, ends, 3, 0, found, unique, pr, pcap, &np, scratch, tb_scratch_size(size));
    if (r != TB_OK)
        abort();
    if (st.n_unique > maxc || st.arena_len > size)
        abort();
    if ((size_t)unique[0] + unique[1] + unique[2] != st.n_unique)
        abort();
    if ((size_t)found[0] + found[1] + found[2] != st.n_unique + st.n_duplicates)
        abort();
    free(st.slot_fp); free(st.slot_idx); free(st.arena); free(st.u_off); free(st.u_len);
    free(st.u_hash); free(st.u_file); free(scratch); free(pr);
}

static void hash_only(const uint8_t *data, size_t size)
{
    size_t n = tb_scratch_size(size);
    unsigned char *scratch = xmalloc(n);
    uint32_t h;
    int r = tb_subject_hash(data, size, scratch, n, &h);
    if (r != TB_VALID && (r < 0 || r > TB_P_NO_CERTS))
        abort();
    free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* copy to an exact-size heap block: reads past the end are caught by ASan / valgrind */
    uint8_t *copy = xmalloc(size);
    memcpy(copy, data, size);
    scan_one(copy, size);
    scan_files(copy, size);
    hash_only(copy, size);
    free(copy);
    return 0;
}

#ifdef FUZZ_MAIN
int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        uint8_t *buf;
        long n;
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = xmalloc((size_t)n);
        if (fread(buf, 1, (size_t)n, f) != (size_t)n)
            abort();
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
    }
    printf("ran %d inputs\n", argc - 1);
    return 0;
}
#endif
