// Prototype (bench/delta.ts --native, not used by netimage yet): the backup side of
// imaging/chunked/writer.ts in C. Cuts partclone's -a0 stream (stdin) into one zstd frame per chunk
// (header + bitmap, then the used blocks of each chunk of chunkBytes of disk), level `level` with
// frame checksums, and ends the file with the zstd seekable-format seek table.
// argv: out level chunkBytes. stdout: "H <sha256 of frame 0>", "C <k> <sha256>" per chunk, then
// "F <file sha256> <bytes> <frames>", or "E <reason>".
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdint.h>
#include <openssl/evp.h>
typedef struct ZSTD_CCtx_s ZSTD_CCtx;
ZSTD_CCtx* ZSTD_createCCtx(void);
size_t ZSTD_CCtx_setParameter(ZSTD_CCtx*, int, int);
size_t ZSTD_compress2(ZSTD_CCtx*, void*, size_t, const void*, size_t);
size_t ZSTD_compressBound(size_t);
unsigned ZSTD_isError(size_t);

static int readn(unsigned char* b, size_t n) { size_t got = 0; while (got < n) { ssize_t r = read(0, b + got, n - got); if (r <= 0) return -1; got += r; } return 0; }
static void hex(const unsigned char* md, char* out) { for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]); }
static void sha(const void* d, size_t n, char* out) { unsigned char md[32]; unsigned len; EVP_Digest(d, n, md, &len, EVP_sha256(), NULL); hex(md, out); }

static int out; static EVP_MD_CTX* fileHash; static unsigned long long pos; static ZSTD_CCtx* cctx;
static uint32_t* seek; static size_t nseek, capseek; static unsigned char* packed; static size_t packedCap;
static int frame(const unsigned char* raw, size_t n) {
  size_t bound = ZSTD_compressBound(n); if (bound > packedCap) { packedCap = bound; packed = realloc(packed, bound); }
  size_t c = ZSTD_compress2(cctx, packed, packedCap, raw, n); if (ZSTD_isError(c)) return -1;
  if (pwrite(out, packed, c, pos) != (ssize_t)c) return -1;
  pos += c; EVP_DigestUpdate(fileHash, packed, c);
  if (nseek + 2 > capseek) { capseek = capseek ? capseek * 2 : 1024; seek = realloc(seek, capseek * 4); }
  seek[nseek++] = c; seek[nseek++] = n; return 0;
}
int main(int argc, char** argv) {
  if (argc != 4) return 2;
  out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600); if (out < 0) { perror("open"); return 1; }
  cctx = ZSTD_createCCtx(); ZSTD_CCtx_setParameter(cctx, 100, atoi(argv[2])); ZSTD_CCtx_setParameter(cctx, 201, 1);
  fileHash = EVP_MD_CTX_new(); EVP_DigestInit_ex(fileHash, EVP_sha256(), NULL);
  unsigned char desc[110]; if (readn(desc, 110)) { printf("E header\n"); return 1; }
  uint64_t total, bs32; memcpy(&total, desc + 60, 8); uint32_t bsz; memcpy(&bsz, desc + 84, 4); bs32 = bsz;
  size_t bml = (total + 7) / 8 + 4; unsigned char* first = malloc(110 + bml); memcpy(first, desc, 110);
  if (readn(first + 110, bml)) { printf("E bitmap\n"); return 1; }
  char h[65]; sha(first, 110 + bml, h); printf("H %s\n", h);
  if (frame(first, 110 + bml)) { printf("E write\n"); return 1; }
  const unsigned char* bm = first + 110;
  uint64_t cb = atoll(argv[3]) / bs32; if (!cb) cb = 1;
  unsigned char* raw = malloc(cb * bs32);
  for (uint64_t k = 0; k * cb < total; k++) {
    uint64_t used = 0, end = (k + 1) * cb < total ? (k + 1) * cb : total;
    for (uint64_t b = k * cb; b < end; b++) used += (bm[b >> 3] >> (b & 7)) & 1;
    if (!used) continue;
    if (readn(raw, used * bs32)) { printf("E short\n"); return 1; }
    sha(raw, used * bs32, h); printf("C %llu %s\n", (unsigned long long)k, h);
    if (frame(raw, used * bs32)) { printf("E write\n"); return 1; }
  }
  unsigned char extra; if (read(0, &extra, 1) > 0) { printf("E extra\n"); return 1; }
  size_t nf = nseek / 2, body = nf * 8 + 9; unsigned char* t = calloc(8 + body, 1);
  uint32_t v = 0x184d2a5e; memcpy(t, &v, 4); v = body; memcpy(t + 4, &v, 4);
  memcpy(t + 8, seek, nf * 8); v = nf; memcpy(t + 8 + nf * 8, &v, 4); v = 0x8f92eab1; memcpy(t + 13 + nf * 8, &v, 4);
  if (pwrite(out, t, 8 + body, pos) != (ssize_t)(8 + body)) { printf("E write\n"); return 1; }
  pos += 8 + body; EVP_DigestUpdate(fileHash, t, 8 + body);
  unsigned char md[32]; unsigned len; EVP_DigestFinal_ex(fileHash, md, &len); hex(md, h);
  if (fsync(out)) { printf("E fsync\n"); return 1; }
  printf("F %s %llu %zu\n", h, pos, nf);
  return 0;
}
