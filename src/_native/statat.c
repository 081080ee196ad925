/*
 * tb_stat_at, tb_list_dir: the listing of a large certificate directory (see certscan.h).
 *
 * Apart from certscan.c, which does no I/O: a warm start over 10,000 files spends most of its
 * time listing, filtering, sorting and stat'ing names, and os.stat's result object alone costs
 * two to three times the fstatat; here the names and identities go straight into the caller's
 * packed arrays. The Python twin is sources._list_dir (tests/test_bulk_stat.py).
 */
#if !defined(_WIN32)
#if !defined(__APPLE__) /* macOS names the timespec fields st_*timespec only without it */
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
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

#if !defined(_WIN32)
void tb_stat_ids(const struct stat *st, int64_t *o) {
    o[0] = (int64_t)st->st_size;
    o[1] = s64((uint64_t)st->st_ino);
    o[2] = s64((uint64_t)st->st_dev);
    o[3] = (int64_t)st->st_mode;
#if defined(__APPLE__)
    o[4] = ns((int64_t)st->st_mtimespec.tv_sec, st->st_mtimespec.tv_nsec);
    o[5] = ns((int64_t)st->st_ctimespec.tv_sec, st->st_ctimespec.tv_nsec);
#else
    o[4] = ns((int64_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    o[5] = ns((int64_t)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
#endif
}

static void stat_one(int dirfd, const char *name, int32_t *err, int64_t *o) {
    struct stat st;
    if (fstatat(dirfd, name, &st, 0) != 0) {
        *err = errno ? errno : EIO;
        memset(o, 0, 6 * sizeof *o);
        return;
    }
    *err = 0;
    tb_stat_ids(&st, o);
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
        stat_one(dirfd, name, errs + i, ids + 6 * i);
        off = (size_t)(end - names) + 1;
    }
    return TB_OK;
#endif
}

#if !defined(_WIN32)
/* sources.is_certificate_name on the bytes of a name: a .pem/.crt/.cer suffix (ASCII letters,
   any case), or OpenSSL's hash name [0-9a-f]{8}\.[0-9]+. Equal to the Python rule on the name
   decoded from UTF-8 (surrogateescape included): there an ASCII byte is always its own character,
   no non-ASCII character lowers to one of these letters (U+0130 and U+212A, the only two that
   lower to ASCII at all, give i and k), and the hash name is ASCII. _ext.list_dir does not use
   this listing under any other file system encoding. */
static int is_certificate_name(const char *name, size_t len) {
    static const char *const suffixes[] = {".pem", ".crt", ".cer"};
    size_t k;
    if (len >= 4) {
        const char *t = name + len - 4;
        for (k = 0; k < 3; k++) {
            size_t j = 0;
            while (j < 4 && (t[j] >= 'A' && t[j] <= 'Z' ? t[j] + 32 : t[j]) == suffixes[k][j])
                j++;
            if (j == 4)
                return 1;
        }
    }
    if (len <= 9 || name[8] != '.')
        return 0;
    for (k = 0; k < 8; k++)
        if (!((name[k] >= '0' && name[k] <= '9') || (name[k] >= 'a' && name[k] <= 'f')))
            return 0;
    for (k = 9; k < len; k++)
        if (name[k] < '0' || name[k] > '9')
            return 0;
    return 1;
}

/* Sort offs[0..n) (offsets of NUL-terminated names in base) by strcmp: a bottom-up merge sort
   through tmp; the result is in offs. Byte order is code point order for valid UTF-8 names,
   which is Python's sorted() (_ext.list_dir sorts names holding undecodable bytes again). */
static void sort_names(const char *base, uint32_t *offs, uint32_t *tmp, size_t n) {
    uint32_t *src = offs, *dst = tmp, *swap;
    size_t width, i;
    for (width = 1; width < n; width *= 2) {
        for (i = 0; i < n; i += 2 * width) {
            size_t a = i, mid = i + width < n ? i + width : n, b = mid;
            size_t stop = i + 2 * width < n ? i + 2 * width : n, o = i;
            while (a < mid && b < stop)
                dst[o++] = strcmp(base + src[a], base + src[b]) <= 0 ? src[a++] : src[b++];
            while (a < mid)
                dst[o++] = src[a++];
            while (b < stop)
                dst[o++] = src[b++];
        }
        swap = src; src = dst; dst = swap;
    }
    if (src != offs)
        memcpy(offs, src, n * sizeof *offs);
}
#endif

int tb_list_dir(int dirfd, char *names, char *sorted, size_t names_cap, uint32_t *offs, uint32_t *tmp,
                size_t offs_cap, int32_t *errs, int64_t *ids, size_t *n_names, size_t *names_len, size_t *n_other) {
#if defined(_WIN32)
    (void)dirfd; (void)names; (void)sorted; (void)names_cap; (void)offs; (void)tmp; (void)offs_cap; (void)errs;
    (void)ids; (void)n_names; (void)names_len; (void)n_other;
    return TB_EINVAL;
#else
    /* Its own descriptor (and offset): the caller's stays where it was. */
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir;
    struct dirent *e;
    size_t n = 0, used = 0, other = 0, i;
    if (fd < 0)
        return TB_EIO;
    dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return TB_EIO;
    }
    for (;;) {
        const char *name;
        size_t len;
        errno = 0;
        e = readdir(dir);
        if (e == NULL)
            break;
        name = e->d_name;
        if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
            continue;
        len = strlen(name);
        if (!is_certificate_name(name, len)) {
            other++;
            continue;
        }
        if (n < offs_cap && used <= names_cap && len + 1 <= names_cap - used && used <= UINT32_MAX) {
            offs[n] = (uint32_t)used;
            memcpy(names + used, name, len + 1);
        }
        n++;
        used += len + 1;
    }
    if (errno != 0) {
        closedir(dir);
        return TB_EIO;
    }
    closedir(dir);
    *n_names = n;
    *names_len = used;
    *n_other = other;
    if (n > offs_cap || used > names_cap || used > UINT32_MAX)
        return TB_ENOSPC; /* the sizes needed are in *n_names and *names_len: call again */
    sort_names(names, offs, tmp, n);
    used = 0;
    for (i = 0; i < n; i++) {
        size_t len = strlen(names + offs[i]) + 1;
        memcpy(sorted + used, names + offs[i], len);
        stat_one(dirfd, sorted + used, errs + i, ids + 6 * i);
        used += len;
    }
    return TB_OK;
#endif
}
