// chunkcut: the backup side of imaging/chunked/writer.ts in C (same format, same chunks: see
// format.ts). Cuts partclone's -a0 stream (stdin) into one zstd frame per chunk (frame 0: header +
// bitmap; then the used blocks of each chunk of chunkBytes of disk), level `level` with frame
// checksums, and ends the file with the zstd seekable-format seek table. The caller fsyncs the image. Node's writer costs ~2x
// the CPU of partclone | zstd; this one ~1x (docs/performance.md).
//   chunkcut level chunkBytes report < partclone-stream > image (stdout must be a regular file)
// report, written when all went well: "D <110-byte partclone descriptor, hex>", "H <sha256 of frame
// 0>", "C <k> <sha256>" per non-empty chunk, "F <sha256 of the file> <bytes> <frames>".
// Errors: one line on stderr, exit 1 (usage: exit 2). Node checks the descriptor (parseStreamHead).
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zstd.h>

#define DESC 110

static void die(const char* what) {
  fprintf(stderr, "chunkcut: %s\n", what);
  exit(1);
}
static void dieErrno(const char* what) {
  fprintf(stderr, "chunkcut: %s: %s\n", what, strerror(errno));
  exit(1);
}
static void* xrealloc(void* p, size_t n) {
  void* q = realloc(p, n ? n : 1);
  if (!q) die("out of memory");
  return q;
}
// Exactly n bytes from stdin; 0 = clean end before the first byte, 1 = all read; dies on a short read.
static int readn(unsigned char* b, size_t n, const char* what) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(0, b + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) dieErrno("reading partclone's stream");
    if (r == 0) {
      if (got == 0 && n > 0) return 0;
      fprintf(stderr, "chunkcut: partclone's stream ended early (in %s: %zu of %zu bytes)\n", what, got, n);
      exit(1);
    }
    got += (size_t)r;
  }
  return 1;
}
static void pwriteAll(const unsigned char* b, size_t n, uint64_t at) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(1, b + done, n - done, (off_t)(at + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) dieErrno("writing the image");
    done += (size_t)w;
  }
}
static void hex(const unsigned char* md, char* out) {
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}
static void sha(const void* d, size_t n, char* out) {
  unsigned char md[32];
  unsigned len;
  if (!EVP_Digest(d, n, md, &len, EVP_sha256(), NULL)) die("sha256 failed");
  hex(md, out);
}

static EVP_MD_CTX* fileHash;
static uint64_t pos;
static ZSTD_CCtx* cctx;
static uint32_t* seek;
static size_t nseek, capseek;
static unsigned char* packed;
static size_t packedCap;

static void frame(const unsigned char* raw, size_t n) {
  if (n > UINT32_MAX) die("a frame is larger than the seek table can describe");
  size_t bound = ZSTD_compressBound(n);
  if (bound > packedCap) packed = xrealloc(packed, packedCap = bound);
  size_t c = ZSTD_compress2(cctx, packed, packedCap, raw, n);
  if (ZSTD_isError(c)) {
    fprintf(stderr, "chunkcut: zstd: %s\n", ZSTD_getErrorName(c));
    exit(1);
  }
  pwriteAll(packed, c, pos);
  pos += c;
  if (!EVP_DigestUpdate(fileHash, packed, c)) die("sha256 failed");
  if (nseek + 2 > capseek) seek = xrealloc(seek, (capseek = capseek ? capseek * 2 : 1024) * sizeof *seek);
  seek[nseek++] = (uint32_t)c;
  seek[nseek++] = (uint32_t)n;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: chunkcut level chunkBytes report < partclone-stream > image\n");
    return 2;
  }
  int level = atoi(argv[1]);
  unsigned long long chunkBytes = strtoull(argv[2], NULL, 10);
  if (level < 1 || level > 19 || chunkBytes == 0) die("bad level or chunk size");
  if (lseek(1, 0, SEEK_CUR) < 0) die("stdout must be a regular file (the image)");
  FILE* report = fopen(argv[3], "w");
  if (!report) dieErrno("opening the report");
  cctx = ZSTD_createCCtx();
  if (!cctx || ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)) || ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)))
    die("zstd set-up failed");
  fileHash = EVP_MD_CTX_new();
  if (!fileHash || !EVP_DigestInit_ex(fileHash, EVP_sha256(), NULL)) die("sha256 set-up failed");

  unsigned char desc[DESC];
  if (!readn(desc, DESC, "the header")) die("partclone's stream is empty");
  if (memcmp(desc, "partclone-image", 15) != 0 || memcmp(desc + 30, "0002", 4) != 0) die("not a partclone v2 stream");
  uint64_t total;
  uint32_t bs;
  memcpy(&total, desc + 60, 8);
  memcpy(&bs, desc + 84, 4);
  // The same limits as parseStreamHead (format.ts); a bitmap of more than 2^40 blocks is nonsense.
  if (bs == 0 || bs > (1u << 20) || total > (1ull << 40) || desc[105] != 1) die("unsupported partclone header (block size, size or bitmap mode)");
  size_t bml = (size_t)((total + 7) / 8 + 4);
  unsigned char* first = xrealloc(NULL, DESC + bml);
  memcpy(first, desc, DESC);
  // readn says 0 when the stream ends right here: without its bitmap there is no image.
  if (!readn(first + DESC, bml, "the bitmap")) die("partclone's stream ended early (in the bitmap: 0 bytes)");
  fprintf(report, "D ");
  for (int i = 0; i < DESC; i++) fprintf(report, "%02x", desc[i]);
  char h[65];
  sha(first, DESC + bml, h);
  fprintf(report, "\nH %s\n", h);
  frame(first, DESC + bml);

  const unsigned char* bm = first + DESC;
  uint64_t cb = chunkBytes / bs;
  if (!cb) cb = 1;
  if (cb * bs > (1ull << 31)) die("chunk size too large");
  unsigned char* raw = xrealloc(NULL, cb * bs);
  uint64_t usedAll = 0;
  for (uint64_t k = 0; k * cb < total; k++) {
    uint64_t used = 0, end = (k + 1) * cb < total ? (k + 1) * cb : total;
    for (uint64_t b = k * cb; b < end; b++) used += (bm[b >> 3] >> (b & 7)) & 1;
    if (!used) continue;
    usedAll += used;
    char what[64];
    snprintf(what, sizeof what, "chunk %llu", (unsigned long long)k);
    if (!readn(raw, used * bs, what)) {
      fprintf(stderr, "chunkcut: partclone's stream ended early (before %s)\n", what);
      return 1;
    }
    sha(raw, used * bs, h);
    fprintf(report, "C %llu %s\n", (unsigned long long)k, h);
    frame(raw, used * bs);
  }
  // The header's count comes from the file system's summary (a superblock not written back after
  // a power cut is stale); the bitmap is what the data follows and what partclone.restore uses.
  fprintf(report, "U %llu\n", (unsigned long long)usedAll);
  unsigned char extra;
  if (readn(&extra, 1, "the end")) die("partclone wrote more data than its bitmap announces");

  size_t nf = nseek / 2, body = nf * 8 + 9;
  unsigned char* t = calloc(8 + body, 1);
  if (!t) die("out of memory");
  uint32_t v = 0x184d2a5e;
  memcpy(t, &v, 4);
  v = (uint32_t)body;
  memcpy(t + 4, &v, 4);
  memcpy(t + 8, seek, nf * 8);
  v = (uint32_t)nf;
  memcpy(t + 8 + nf * 8, &v, 4);
  v = 0x8f92eab1;
  memcpy(t + 13 + nf * 8, &v, 4);
  pwriteAll(t, 8 + body, pos);
  pos += 8 + body;
  if (!EVP_DigestUpdate(fileHash, t, 8 + body)) die("sha256 failed");
  unsigned char md[32];
  unsigned len;
  if (!EVP_DigestFinal_ex(fileHash, md, &len)) die("sha256 failed");
  hex(md, h);
  fprintf(report, "F %s %llu %zu\n", h, (unsigned long long)pos, nf);
  if (fclose(report) != 0) dieErrno("writing the report");
  return 0;
}
