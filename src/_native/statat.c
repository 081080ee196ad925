/*
 * tb_stat_at: the bulk stat of a large certificate directory's names (see certscan.h).
 *
 * Apart from certscan.c because it is the extension's only file I/O: a warm start over 10,000
 * files spends most of its time in os.stat, whose result object costs two to three times the
 * fstatat itself; here the identities go straight into the caller's packed array.
 */
#if !defined(_WIN32)
#if !defined(__APPLE__) /* macOS names the timespec fields st_*timespec only without it */
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#endif
#include <string.h>

#include "certscan.h"

#if !defined(_WIN32)
/* sec * 10**9 + nsec as os.stat's *_ns, modulo 2**64 (unsigned arithmetic: no overflow). */
static int64_t ns(int64_t sec, long nsec) {
    uint64_t v = (uint64_t)sec * 1000000000u + (uint64_t)(int64_t)nsec;
    int64_t out;
    memcpy(&out, &v, sizeof out); /* the two's complement reading, without an implementation-defined cast */
    return out;
}

static int64_t s64(uint64_t v) {
    int64_t out;
    memcpy(&out, &v, sizeof out);
    return out;
}
#endif

int tb_stat_at(int dirfd, const char *names, size_t len, size_t n, int32_t *errs, int64_t *ids) {
#if defined(_WIN32)
    (void)dirfd; (void)names; (void)len; (void)n; (void)errs; (void)ids;
    return TB_EINVAL;
#else
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = names + off;
        const char *end = off < len ? memchr(name, 0, len - off) : NULL;
        if (end == NULL || end == name)
            return TB_EINVAL;
        int64_t *o = ids + 6 * i;
        struct stat st;
        if (fstatat(dirfd, name, &st, 0) != 0) {
            errs[i] = errno ? errno : EIO;
            memset(o, 0, 6 * sizeof *o);
        } else {
            errs[i] = 0;
            o[0] = (int64_t)st.st_size;
            o[1] = s64((uint64_t)st.st_ino);
            o[2] = s64((uint64_t)st.st_dev);
            o[3] = (int64_t)st.st_mode;
#if defined(__APPLE__)
            o[4] = ns((int64_t)st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec);
            o[5] = ns((int64_t)st.st_ctimespec.tv_sec, st.st_ctimespec.tv_nsec);
#else
            o[4] = ns((int64_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
            o[5] = ns((int64_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
#endif
        }
        off = (size_t)(end - names) + 1;
    }
    return TB_OK;
#endif
}
