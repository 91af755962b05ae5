// chunkapply: the byte work of imaging/chunked/apply.ts in C (Node keeps the logic: frame offsets
// from the seek table, block runs from the bitmap, sha256 from chunks.json, and hands them over).
// Every frame is decompressed and its sha256 compared with the index before any of it is written;
// `delta` first reads the target's blocks of the chunk and skips the chunk when they already hash
// to the index's sha256.
//   chunkapply image device blockSize full|delta [pauseAfterWrites]
// stdin, one line per chunk: <frameOffset> <compressed> <decompressed> <sha256hex> <first> <count>...
// (runs of used blocks, ascending). stdout: "w" (written) or "s" (skipped) per chunk, then
// "OK <written chunks> <written bytes> <compared bytes>" after fsync. Errors: one line on stderr,
// exit 1 (usage: 2). pauseAfterWrites (tests: a power cut mid-restore): print "PAUSED" before the
// next write and wait to be killed. Dies with its parent (PR_SET_PDEATHSIG).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zstd.h>

// The largest frame or compared span we accept (a chunk is 1 MiB by default).
#define MAX_BYTES (1ull << 30)

static unsigned long long lineNo;
static void die(const char* what) {
  fprintf(stderr, "chunkapply: chunk line %llu: %s\n", lineNo, what);
  exit(1);
}
static void dieErrno(const char* what) {
  fprintf(stderr, "chunkapply: chunk line %llu: %s: %s\n", lineNo, what, strerror(errno));
  exit(1);
}
static void* xrealloc(void* p, size_t n) {
  void* q = realloc(p, n ? n : 1);
  if (!q) die("out of memory");
  return q;
}
// Bytes read (short only at the end of the file/device).
static size_t preadAll(int fd, unsigned char* b, size_t n, uint64_t at, const char* what) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, b + got, n - got, (off_t)(at + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) dieErrno(what);
    if (r == 0) break;
    got += (size_t)r;
  }
  return got;
}
static void pwriteAll(int fd, const unsigned char* b, size_t n, uint64_t at) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(fd, b + done, n - done, (off_t)(at + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) dieErrno("writing the target");
    if (w == 0) die("writing the target: no progress (past its end?)");
    done += (size_t)w;
  }
}
static void hex(const unsigned char* md, char* out) {
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}
static unsigned long long number(char** p) {
  char* e;
  errno = 0;
  unsigned long long v = strtoull(*p, &e, 10);
  if (e == *p || errno) die("malformed line");
  *p = e;
  return v;
}

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: chunkapply image device blockSize full|delta [pauseAfterWrites]\n");
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int delta = strcmp(argv[4], "delta") == 0;
  if (!delta && strcmp(argv[4], "full") != 0) die("mode must be full or delta");
  unsigned long long bs = strtoull(argv[3], NULL, 10);
  if (bs == 0 || bs > (1u << 20)) die("bad block size");
  long long pauseAfter = argc == 6 ? atoll(argv[5]) : -1;
  int img = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (img < 0) dieErrno("opening the image");
  int dev = open(argv[2], O_RDWR | O_CLOEXEC);
  if (dev < 0) dieErrno("opening the target");
  setvbuf(stdout, NULL, _IOLBF, 0);
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!dctx || !ctx) die("out of memory");
  unsigned long long wchunks = 0, wbytes = 0, compared = 0;
  unsigned char *span = NULL, *packed = NULL, *raw = NULL;
  size_t scap = 0, pcap = 0, rcap = 0, runCap = 0;
  unsigned long long* runs = NULL;
  char* line = NULL;
  size_t lcap = 0;
  while (getline(&line, &lcap, stdin) > 0) {
    lineNo++;
    char* p = line;
    unsigned long long off = number(&p), comp = number(&p), dec = number(&p);
    while (*p == ' ') p++;
    char want[65];
    if (strspn(p, "0123456789abcdef") != 64) die("malformed sha256");
    memcpy(want, p, 64);
    want[64] = 0;
    p += 64;
    size_t nr = 0;
    unsigned long long sum = 0, prevEnd = 0;
    for (;;) {
      while (*p == ' ') p++;
      if (*p == '\n' || *p == 0) break;
      if (nr + 2 > runCap) runs = xrealloc(runs, (runCap = runCap ? runCap * 2 : 256) * sizeof *runs);
      unsigned long long first = number(&p), n = number(&p);
      if (n == 0 || first < prevEnd || first + n < first) die("runs not ascending");
      runs[nr++] = first;
      runs[nr++] = n;
      prevEnd = first + n;
      sum += n;
    }
    // Nothing is written unless the runs hold exactly the frame's bytes.
    if (nr == 0 || comp == 0 || comp > MAX_BYTES || dec > MAX_BYTES || sum * bs != dec) die("the block runs do not match the frame size");
    unsigned long long spanFirst = runs[0], spanLen = (prevEnd - spanFirst) * bs;
    if (spanLen > MAX_BYTES) die("chunk spans too many blocks");
    if (delta) {
      // One read of the chunk's span (free blocks inside it included), hash only the used runs.
      if (spanLen > scap) span = xrealloc(span, scap = spanLen);
      size_t got = preadAll(dev, span, spanLen, spanFirst * bs, "reading the target");
      compared += got;
      if (got == spanLen) {
        unsigned char md[32];
        unsigned len;
        char have[65];
        if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) die("sha256 failed");
        for (size_t i = 0; i < nr; i += 2) EVP_DigestUpdate(ctx, span + (runs[i] - spanFirst) * bs, runs[i + 1] * bs);
        if (!EVP_DigestFinal_ex(ctx, md, &len)) die("sha256 failed");
        hex(md, have);
        if (strcmp(have, want) == 0) {
          puts("s");
          continue;
        }
      }
    }
    if (comp > pcap) packed = xrealloc(packed, pcap = comp);
    if (dec > rcap) raw = xrealloc(raw, rcap = dec);
    if (preadAll(img, packed, comp, off, "reading the image") != comp) die("the image is damaged: the chunk is truncated");
    size_t got = ZSTD_decompressDCtx(dctx, raw, dec, packed, comp);
    if (ZSTD_isError(got)) {
      fprintf(stderr, "chunkapply: chunk line %llu: the image is damaged: the chunk does not decompress (%s); nothing of it was written\n", lineNo, ZSTD_getErrorName(got));
      return 1;
    }
    unsigned char md[32];
    unsigned len;
    char have[65];
    if (!EVP_Digest(raw, dec, md, &len, EVP_sha256(), NULL)) die("sha256 failed");
    hex(md, have);
    if (got != dec || strcmp(have, want) != 0) die("the image is damaged: the chunk does not match its sha256 in the chunk index; nothing of it was written");
    if (pauseAfter >= 0 && (long long)wchunks >= pauseAfter) {
      puts("PAUSED");
      for (;;) pause();
    }
    size_t at = 0;
    for (size_t i = 0; i < nr; i += 2) {
      pwriteAll(dev, raw + at, runs[i + 1] * bs, runs[i] * bs);
      at += runs[i + 1] * bs;
    }
    wchunks++;
    wbytes += dec;
    puts("w");
  }
  if (ferror(stdin)) die("reading the chunk list");
  // The data must be on the disk before the restore says done.
  if (fsync(dev) != 0) dieErrno("fsync of the target");
  printf("OK %llu %llu %llu\n", wchunks, wbytes, compared);
  return 0;
}
