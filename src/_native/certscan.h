/*
 * certscan: bulk PEM/DER certificate scanning, exact deduplication and OpenSSL subject hashes.
 *
 * The C twin of src/tlsback/_scan_py.py (the readable reference): same rules, same results.
 * Keep the two in sync; tests/test_scan_parity.py checks that they agree (hypothesis).
 *
 * Bytes in, offsets and codes out. No Python.h, no file I/O, no allocation: every buffer is
 * the caller's, and every write is checked against its capacity (TB_ENOSPC, never an overflow).
 *
 * The part between "CDEF BEGIN" and "CDEF END" is read by build_certscan.py for ffi.cdef():
 * it must stay plain declarations and integer #defines.
 */
#ifndef TLSBACK_CERTSCAN_H
#define TLSBACK_CERTSCAN_H

#include <stddef.h>
#include <stdint.h>

/* CDEF BEGIN */

/* Bumped whenever this interface or the scanning rules change; checked by _scan_c.py on import,
   so a stale extension left by an editable install is refused. */
#define TB_ABI_VERSION 6

/* Status codes of the exported functions. */
#define TB_OK 0
#define TB_VALID -1     /* tb_subject_hash: the data is a certificate */
#define TB_ENOSPC -2    /* a caller buffer is too small (a bug in the caller's sizing) */
#define TB_EINVAL -3    /* inconsistent arguments */
#define TB_EIO -4       /* a system call failed (tb_write_certs: *err holds its errno) */

/* tb_read_files: a file's status besides 0 (read) and an errno (open, fstat or read failed). */
#define TB_READ_NOT_REGULAR -1  /* not a regular file (any more) */
#define TB_READ_TOO_LARGE -2    /* larger than max_size: not read */
#define TB_READ_RETRY -3        /* grew since its fstat, or too large for the buffer: read it again */

/* Problem codes: indexes into tlsback._scantypes.SCAN_CODES. */
#define TB_P_MISSING_END 0
#define TB_P_BAD_BASE64 1
#define TB_P_TRUNCATED 2
#define TB_P_TRAILING 3
#define TB_P_NOT_X509 4
#define TB_P_NO_CERTS 5

typedef struct {
    uint32_t file;      /* index of the file (tb_scan_files: global, first_file + i) */
    int32_t code;       /* TB_P_* */
    uint32_t line;      /* 1-based line of the BEGIN line; 0 for findings about a whole file */
} tb_problem;

/* The deduplicated store: all memory is the caller's; the caller grows it between calls
   (tb_store_rehash for the table) so that each tb_scan_files call has room for its input. */
typedef struct {
    uint64_t *slot_fp;      /* table_cap fingerprints */
    uint32_t *slot_idx;     /* table_cap slots: 0 = empty, else unique index + 1 */
    size_t table_cap;       /* a power of two, at least 2 x (n_unique + certificates to add) */
    unsigned char *arena;   /* the unique certificates' DER, back to back */
    size_t arena_cap;
    size_t arena_len;
    uint64_t *u_off;        /* per unique certificate: offset in arena */
    uint32_t *u_len;        /* its length */
    uint32_t *u_hash;       /* its subject hash (X509_NAME_hash) */
    uint32_t *u_file;       /* the file it was first found in */
    size_t u_cap;
    size_t n_unique;
    size_t n_duplicates;
} tb_store;

int tb_abi_version(void);

/* Bytes of scratch memory the scan functions need for inputs of up to max_len bytes. */
size_t tb_scratch_size(size_t max_len);

/* Upper bounds the caller sizes its output arrays with: certificates and problems that
   nfiles files of total_len bytes can yield. */
size_t tb_max_certs(size_t total_len, size_t nfiles);
size_t tb_max_findings(size_t total_len, size_t nfiles);

/* Scan one file: every certificate in order (not deduplicated), DER copied to scratch at
   cert_off[i] (cert_len[i] bytes), and the file's problems (file index 0). */
int tb_scan_one(const unsigned char *data, size_t len,
                unsigned char *scratch, size_t scratch_cap,
                uint64_t *cert_off, uint32_t *cert_len, uint32_t *cert_hash, size_t certs_cap,
                size_t *n_certs,
                tb_problem *problems, size_t problems_cap, size_t *n_problems);

/* Scan nfiles files laid back to back in data (file i ends at ends[i]) into the store:
   unique certificates are appended, duplicates counted. found[i] / unique[i] receive each
   file's counts, problems its problems (file index first_file + i). */
int tb_scan_files(tb_store *st, const unsigned char *data, const uint64_t *ends, size_t nfiles,
                  uint32_t first_file, uint32_t *found, uint32_t *unique,
                  tb_problem *problems, size_t problems_cap, size_t *n_problems,
                  unsigned char *scratch, size_t scratch_cap);

/* Move the table to new arrays of new_cap slots (a power of two, zeroed by the caller). */
int tb_store_rehash(tb_store *st, uint64_t *new_fp, uint32_t *new_idx, size_t new_cap);

/* Check one DER certificate; TB_VALID and *hash = X509_NAME_hash of its subject, or the
   TB_P_* problem code, or TB_ENOSPC. */
int tb_subject_hash(const unsigned char *der, size_t len,
                    unsigned char *scratch, size_t scratch_cap, uint32_t *hash);

/* PEM (RFC 7468 §2) of a DER certificate of der_len bytes: "-----BEGIN CERTIFICATE-----\n",
   base64 in 64-character lines, "\n-----END CERTIFICATE-----\n". The size in bytes. */
size_t tb_pem_size(size_t der_len);

/* Encode ncerts certificates, concatenated in ders (certificate i ends at ends[i]), as PEM, one
   after the other into out (cap >= the sum of tb_pem_size); out_ends[i] = end of PEM i.
   TB_OK, TB_ENOSPC or TB_EINVAL. */
int tb_pem_encode(const unsigned char *ders, const uint64_t *ends, size_t ncerts,
                  unsigned char *out, size_t cap, uint64_t *out_ends);

/* The one function with file I/O (statat.c), for the listing of large certificate directories:
   fstatat(dirfd, name, links followed) for n names, NUL-terminated one after the other in names
   (len bytes). For name i, errs[i] = 0 and ids[6i..6i+5] = size, inode, device, mode,
   mtime_ns, ctime_ns as os.stat gives them, reduced modulo 2**64 to signed 64 bits; or errs[i]
   = the errno (ids zero). TB_OK, or TB_EINVAL (names malformed, or no fstatat: Windows). */
int tb_stat_at(int dirfd, const char *names, size_t len, size_t n, int32_t *errs, int64_t *ids);

/* The bulk reads and writes of a cold build (fileio.c); POSIX only (TB_EINVAL on Windows).

   tb_read_files: read n files, their paths NUL-terminated one after the other in paths (len
   bytes), relative to dirfd (or the working directory when dirfd < 0), one after the other
   into buf (cap bytes). Each is opened O_RDONLY | O_CLOEXEC | O_NONBLOCK, fstat'ed, refused
   unless regular and at most max_size bytes, and read with room for one byte more than its
   size. File i: status[i] = 0 and its bytes end at ends[i] (they start at ends[i-1], or 0), or
   status[i] = an errno or TB_READ_* (ends[i] = the previous end); ids[6i..6i+5] = its fstat's
   size, inode, device, mode, mtime_ns, ctime_ns as tb_stat_at gives them (zero when it could
   not be fstat'ed): the file read, to be compared with the one listed (a source replaced in
   between must not be cached under the listed file's identity).
   Stops before a file that does not fit behind others (*n_done = files handled, the caller
   calls again from there); a first file that does not fit is TB_READ_RETRY. TB_OK or TB_EINVAL. */
int tb_read_files(int dirfd, const char *paths, size_t len, size_t n, uint64_t max_size,
                  unsigned char *buf, size_t cap, uint64_t *ends, int32_t *status, int64_t *ids,
                  size_t *n_done);

/* tb_write_certs: write n DER certificates (certificate i ends at ends[i] in ders) as PEM
   (tb_pem_encode) into new files of dirfd (O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode 0600),
   every certificate under its name HASH.N, NUL-terminated at names + TB_NAME_SIZE * i: HASH =
   hashes[i] in 8 lowercase hex digits, N = how many earlier certificates have that hash.
   Certificates of equal hash are grouped (groups in order of first appearance, members in
   order); consecutive whole groups of up to `bucket` certificates in all (a larger group alone)
   share one file: the first member's name is the file, holding their PEM one after the other,
   the others are hard links to it; positions[i] = certificate i's place in its file. work:
   tb_write_work(n) slots of scratch; scratch: at least tb_pem_size of the largest certificate
   (a file is written in as few writes as it holds). TB_OK; TB_EIO with *failed = the
   certificate whose name could not be made and *err = the errno (ENOSPC for a short write; the
   files before it stay); TB_ENOSPC; TB_EINVAL. */
#define TB_NAME_SIZE 20
size_t tb_write_work(size_t n);
int tb_write_certs(int dirfd, const unsigned char *ders, const uint64_t *ends, const uint32_t *hashes,
                   size_t n, size_t bucket, char *names, uint32_t *positions, uint32_t *work, size_t work_len,
                   unsigned char *scratch, size_t scratch_cap, size_t *failed, int32_t *err);

/* tb_list_dir: the certificate files of a large directory, listed, sorted and stat'ed in one
   call (sources._list_dir's Python twin). Reads dirfd's entries (through a descriptor of its own),
   keeps the names sources.is_certificate_name accepts (into names, names_cap bytes of scratch;
   offs and tmp: offs_cap scratch slots), sorts them by byte value into sorted (names_cap bytes,
   NUL-terminated one after the other) and stats each as tb_stat_at does into errs / ids
   (offs_cap and 6 * offs_cap slots). *n_names, *names_len
   (bytes) and *n_other (entries of other names, "." and ".." not counted) are set in every case
   but TB_EIO. Names are bytes as readdir gives them (the caller decodes them). TB_OK; TB_ENOSPC
   (too small: call again with the sizes given); TB_EIO (opendir or readdir failed); TB_EINVAL
   (Windows). */
int tb_list_dir(int dirfd, char *names, char *sorted, size_t names_cap, uint32_t *offs, uint32_t *tmp,
                size_t offs_cap, int32_t *errs, int64_t *ids, size_t *n_names, size_t *names_len, size_t *n_other);

/* SHA-1 (FIPS 180-4), exposed for tests. */
void tb_sha1(const unsigned char *data, size_t len, unsigned char digest[20]);

/* CDEF END */

#if !defined(_WIN32)
struct stat;
/* The six numbers of tb_stat_at from a stat result (statat.c; fileio.c reads them too). */
void tb_stat_ids(const struct stat *st, int64_t *o);
#endif

#endif
