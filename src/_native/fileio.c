/*
 * tb_read_files, tb_write_certs: the per-file system calls of a cold build, in bulk (see
 * certscan.h and docs/cache.md, "Entries").
 *
 * Apart from certscan.c, which does no I/O. A cold build of a 10,000-file tree spent about half
 * its time in Python's per-call overhead around open/fstat/read/close and open/write/close; the
 * system calls themselves are the same here, with the same flags and checks as the Python twins
 * (loader._read_files, cache.EntryWriter.add), which tests/test_bulk_io.py holds them to.
 */
#if !defined(_WIN32)
#if !defined(__APPLE__)
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#include <string.h>

#include "certscan.h"

#if !defined(_WIN32)
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

static int open_retry(int dirfd, const char *name, int flags, mode_t mode) {
    int fd;
    do {
        fd = openat(dirfd < 0 ? AT_FDCWD : dirfd, name, flags, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

static int errno_or_eio(void) { return errno ? errno : EIO; }

/* fstat, and on success the file's six numbers (tb_stat_ids) into o. */
static int fstat_ids(int fd, struct stat *st, int64_t *o) {
    if (fstat(fd, st) != 0)
        return -1;
    tb_stat_ids(st, o);
    return 0;
}
#endif

int tb_read_files(int dirfd, const char *paths, size_t len, size_t n, uint64_t max_size,
                  unsigned char *buf, size_t cap, uint64_t *ends, int32_t *status, int64_t *ids,
                  size_t *n_done) {
#if defined(_WIN32)
    (void)dirfd; (void)paths; (void)len; (void)n; (void)max_size; (void)buf; (void)cap;
    (void)ends; (void)status; (void)ids; (void)n_done;
    return TB_EINVAL;
#else
    size_t off = 0, pos = 0, i;
    /* O_NONBLOCK: a FIFO or device swapped in for a listed file since the listing's stat must
       not block the open; the fstat then refuses anything but a regular file. */
    const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
    *n_done = 0;
    for (i = 0; i < n; i++) {
        const char *name = paths + pos;
        const char *end = pos < len ? memchr(name, 0, len - pos) : NULL;
        struct stat st;
        int fd;
        if (end == NULL || end == name)
            return TB_EINVAL;
        ends[i] = off;
        memset(ids + 6 * i, 0, 6 * sizeof *ids);
        fd = open_retry(dirfd, name, flags, 0);
        if (fd < 0) {
            status[i] = errno_or_eio();
        } else if (fstat_ids(fd, &st, ids + 6 * i) != 0) {
            status[i] = errno_or_eio();
            close(fd);
        } else if (!S_ISREG(st.st_mode)) {
            status[i] = TB_READ_NOT_REGULAR;
            close(fd);
        } else if ((uint64_t)st.st_size > max_size) {
            status[i] = TB_READ_TOO_LARGE;
            close(fd);
        } else {
            /* size + 1 bytes: the extra one tells a file that grew since the fstat */
            size_t want = (size_t)st.st_size + 1, got = 0;
            if (want > cap - off) {
                close(fd);
                if (i > 0) /* the caller calls again from here, with another buffer */
                    break;
                status[i] = TB_READ_RETRY;
                pos = (size_t)(end - paths) + 1;
                *n_done = i + 1;
                continue;
            }
            status[i] = 0;
            while (got < want) {
                ssize_t r = read(fd, buf + off + got, want - got);
                if (r < 0) {
                    if (errno == EINTR)
                        continue;
                    status[i] = errno_or_eio();
                    break;
                }
                if (r == 0)
                    break;
                got += (size_t)r;
            }
            if (close(fd) != 0 && status[i] == 0 && errno != EINTR)
                status[i] = errno_or_eio();
            if (status[i] == 0 && got > (size_t)st.st_size)
                status[i] = TB_READ_RETRY; /* it grew: the caller reads it again, to its end */
            if (status[i] == 0) {
                off += got;
                ends[i] = off;
            }
        }
        pos = (size_t)(end - paths) + 1;
        *n_done = i + 1;
    }
    return TB_OK;
#endif
}

#if !defined(_WIN32)
/* "%08x.%u" of (hash, suffix), NUL-terminated: at most 8 + 1 + 10 + 1 bytes (TB_NAME_SIZE). */
static void hash_name(char *name, uint32_t hash, uint32_t suffix) {
    static const char hex[] = "0123456789abcdef";
    char digits[10];
    int k, nd = 0;
    for (k = 0; k < 8; k++)
        name[k] = hex[(hash >> (28 - 4 * k)) & 15];
    name[8] = '.';
    do {
        digits[nd++] = (char)('0' + suffix % 10);
        suffix /= 10;
    } while (suffix);
    for (k = 0; k < nd; k++)
        name[9 + k] = digits[nd - 1 - k];
    name[9 + nd] = 0;
}
#endif

static size_t table_size(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

size_t tb_write_work(size_t n) { return 3 * table_size(n) + 4 * n + 1; }

#if !defined(_WIN32)
/* Write len bytes or fail: a short write means the file system is full (as the Python twin says). */
static int write_all(int fd, const unsigned char *data, size_t len) {
    ssize_t w;
    do {
        w = write(fd, data, len);
    } while (w < 0 && errno == EINTR);
    if (w < 0)
        return errno_or_eio();
    return (size_t)w == len ? 0 : ENOSPC;
}
#endif

int tb_write_certs(int dirfd, const unsigned char *ders, const uint64_t *ends, const uint32_t *hashes,
                   size_t n, size_t bucket, char *names, uint32_t *positions, uint32_t *work, size_t work_len,
                   unsigned char *scratch, size_t scratch_cap, size_t *failed, int32_t *err) {
#if defined(_WIN32)
    (void)dirfd; (void)ders; (void)ends; (void)hashes; (void)n; (void)bucket; (void)names; (void)positions;
    (void)work; (void)work_len; (void)scratch; (void)scratch_cap; (void)failed; (void)err;
    return TB_EINVAL;
#else
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    size_t cap = table_size(n), i, g, n_groups = 0, first_group;
    uint32_t *tab_hash = work, *tab_count = work + cap, *tab_group = work + 2 * cap;
    uint32_t *group_of = work + 3 * cap, *count = group_of + n, *start = count + n, *order = start + n + 1;
    *failed = 0;
    *err = 0;
    if (dirfd < 0 || bucket == 0 || work_len < tb_write_work(n) || n > UINT32_MAX)
        return TB_EINVAL;
    for (i = 0; i < n; i++)
        if (ends[i] < (i ? ends[i - 1] : 0))
            return TB_EINVAL;
    memset(tab_count, 0, cap * sizeof *tab_count);
    /* The names: HASH.N, N counting the certificates before this one with the same subject
       hash; and the groups of equal hashes, numbered in order of first appearance. */
    for (i = 0; i < n; i++) {
        uint32_t h = hashes[i];
        size_t slot = (size_t)(h * 2654435761u) & (cap - 1);
        while (tab_count[slot] != 0 && tab_hash[slot] != h)
            slot = (slot + 1) & (cap - 1);
        if (tab_count[slot] == 0) {
            tab_hash[slot] = h;
            tab_group[slot] = (uint32_t)n_groups;
            count[n_groups++] = 0;
        }
        hash_name(names + TB_NAME_SIZE * i, h, tab_count[slot]++);
        group_of[i] = tab_group[slot];
        count[group_of[i]]++;
    }
    /* Each group's members, in order, one group after the other. */
    start[0] = 0;
    for (g = 0; g < n_groups; g++) {
        start[g + 1] = start[g] + count[g];
        count[g] = 0;
    }
    for (i = 0; i < n; i++) {
        g = group_of[i];
        order[start[g] + count[g]++] = (uint32_t)i;
    }
    /* Files of whole groups, up to `bucket` certificates (a larger group alone): the first name
       holds them all, the others are hard links to it. */
    for (first_group = 0; first_group < n_groups;) {
        size_t last = first_group + 1, k, used = 0, lead;
        int fd, e;
        while (last < n_groups && start[last + 1] - start[first_group] <= bucket)
            last++;
        lead = order[start[first_group]];
        fd = open_retry(dirfd, names + TB_NAME_SIZE * lead, flags, 0600);
        if (fd < 0) {
            *failed = lead;
            *err = errno_or_eio();
            return TB_EIO;
        }
        e = 0;
        for (k = start[first_group]; k < start[last] && e == 0; k++) {
            size_t c = order[k], from = c ? (size_t)ends[c - 1] : 0, len = tb_pem_size((size_t)ends[c] - from);
            uint64_t one = ends[c] - from, pem_end;
            positions[c] = (uint32_t)(k - start[first_group]);
            if (len > scratch_cap) {
                close(fd);
                return TB_ENOSPC;
            }
            if (len > scratch_cap - used) { /* flush what the scratch holds */
                e = write_all(fd, scratch, used);
                used = 0;
            }
            if (e == 0) {
                if (tb_pem_encode(ders + from, &one, 1, scratch + used, scratch_cap - used, &pem_end) != TB_OK) {
                    close(fd); /* cannot happen (len was checked): never write what was not encoded */
                    return TB_ENOSPC;
                }
                used += (size_t)pem_end;
            }
        }
        if (e == 0 && used)
            e = write_all(fd, scratch, used);
        if (close(fd) != 0 && e == 0 && errno != EINTR)
            e = errno_or_eio();
        if (e != 0) {
            *failed = lead;
            *err = e;
            return TB_EIO;
        }
        for (k = start[first_group] + 1; k < start[last]; k++) {
            size_t c = order[k];
            int r;
            do {
                r = linkat(dirfd, names + TB_NAME_SIZE * lead, dirfd, names + TB_NAME_SIZE * c, 0);
            } while (r != 0 && errno == EINTR);
            if (r != 0) {
                *failed = c;
                *err = errno_or_eio();
                return TB_EIO;
            }
        }
        first_group = last;
    }
    return TB_OK;
#endif
}
