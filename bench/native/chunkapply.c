// Prototype (bench/native-chunks.ts, not used by netimage yet): apply verified chunks of a
// netimage-image/2 image to a device. Every frame is decompressed and its sha256 compared with the
// index before any of it is written. `delta`: first read the target's blocks of the chunk and skip
// the chunk when they already hash to the index's sha256.
// argv: image device blockSize full|delta
// stdin, one line per chunk: <frameOffset> <compressed> <decompressed> <sha256hex> <first> <count> [<first> <count>...]
// (runs of used blocks); stdout at the end: OK <written chunks> <written bytes> <compared bytes>, or E <reason>
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdint.h>
#include <openssl/sha.h>
typedef struct ZSTD_DCtx_s ZSTD_DCtx;
ZSTD_DCtx* ZSTD_createDCtx(void);
size_t ZSTD_decompressDCtx(ZSTD_DCtx*, void*, size_t, const void*, size_t);
unsigned ZSTD_isError(size_t);
const char* ZSTD_getErrorName(size_t);

int main(int argc, char** argv) {
  if (argc != 5) { fprintf(stderr, "usage: chunkapply image device blockSize full|delta\n"); return 2; }
  int delta = strcmp(argv[4], "delta") == 0;
  unsigned long long wchunks = 0, wbytes = 0, compared = 0;
  size_t scap = 0; unsigned char* span = NULL;
  int img = open(argv[1], O_RDONLY), dev = open(argv[2], O_RDWR);
  long bs = atol(argv[3]);
  if (img < 0 || dev < 0) { perror("open"); return 1; }
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  size_t pcap = 0, rcap = 0; unsigned char *packed = NULL, *raw = NULL;
  char *line = NULL; size_t lcap = 0;
  while (getline(&line, &lcap, stdin) > 0) {
    char* p = line;
    unsigned long long off = strtoull(p, &p, 10), comp = strtoull(p, &p, 10), dec = strtoull(p, &p, 10);
    while (*p == ' ') p++;
    char want[65]; memcpy(want, p, 64); want[64] = 0; p += 64;
    if (delta) {
      // One read of the chunk's span (free blocks inside it included), hash only the used runs.
      unsigned long long r[2 * 4096]; int nr = 0; char* q = p;
      for (;;) { char* e; unsigned long long v = strtoull(q, &e, 10); if (e == q || nr == 2 * 4096) break; r[nr++] = v; q = e; }
      unsigned long long first = r[0], end = r[nr - 2] + r[nr - 1];
      size_t len = (end - first) * bs;
      if (len > scap) { scap = len; span = realloc(span, scap); }
      ssize_t got = pread(dev, span, len, first * bs);
      compared += got > 0 ? got : 0;
      if (got == (ssize_t)len) {
        SHA256_CTX c; SHA256_Init(&c);
        for (int i = 0; i < nr; i += 2) SHA256_Update(&c, span + (r[i] - first) * bs, r[i + 1] * bs);
        unsigned char md[32]; SHA256_Final(md, &c);
        char hex[65]; for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
        if (strcmp(hex, want) == 0) continue;
      }
    }
    if (comp > pcap) { pcap = comp; packed = realloc(packed, pcap); }
    if (dec > rcap) { rcap = dec; raw = realloc(raw, rcap); }
    if (pread(img, packed, comp, off) != (ssize_t)comp) { printf("E truncated\n"); return 1; }
    size_t got = ZSTD_decompressDCtx(dctx, raw, dec, packed, comp);
    if (ZSTD_isError(got) || got != dec) { printf("E decompress\n"); return 1; }
    unsigned char md[32]; SHA256(raw, dec, md);
    char hex[65]; for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    if (strcmp(hex, want) != 0) { printf("E sha256\n"); return 1; }
    size_t at = 0;
    for (;;) {
      char* q; unsigned long long first = strtoull(p, &q, 10); if (q == p) break; p = q;
      unsigned long long n = strtoull(p, &q, 10); p = q;
      if (pwrite(dev, raw + at, n * bs, first * bs) != (ssize_t)(n * bs)) { printf("E write\n"); return 1; }
      at += n * bs;
    }
    wchunks++; wbytes += dec;
  }
  if (fsync(dev) != 0) { printf("E fsync\n"); return 1; }
  printf("OK %llu %llu %llu\n", wchunks, wbytes, compared);
  return 0;
}
