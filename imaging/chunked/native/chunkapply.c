// chunkapply: the byte work of imaging/chunked/apply.ts in C (Node keeps the logic: frame offsets
// from the seek table, block runs from the bitmap, sha256 from chunks.json, and hands them over).
// Every frame is decompressed and its sha256 compared with the index before any of it is written
// (full: by decoder threads ahead of the writes; a chunk is handed to the writer threads only when
// it and every chunk before it were verified; writes use O_DIRECT when the block size is a
// multiple of 4 KiB); `delta` first reads the target's blocks of the chunk and skips the chunk when they already hash
// to the index's sha256.
//   chunkapply image device blockSize full|delta [pauseAfterWrites]
// stdin, one line per chunk: <frameOffset> <compressed> <decompressed> <sha256hex> <first> <count>...
// (runs of used blocks, ascending). stdout: "w" (written) or "s" (skipped) per chunk, then
// "OK <written chunks> <written bytes> <compared bytes> <seconds: waiting for target reads, sha256
// of frames, image read, decompress, target write, fsync, target reads and compare sha256 in the
// reader threads, waiting for the decoder threads (full)>" after fsync (full: sha256, image read,
// decompress summed over the decoder threads, target write over the writer threads). Errors: one line on stderr,
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
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <zstd.h>

// The largest frame or compared span we accept (a chunk is 1 MiB by default).
#define MAX_BYTES (1ull << 30)

static unsigned long long lineNo;
// A reader, decoder or writer thread's own chunk line (0: none yet; the main thread's lineNo is
// then the best there is): its error names the chunk it was working on, not the main thread's.
static __thread unsigned long long threadLine;
// The first error ends the process with its own line only: exit() would run OpenSSL's atexit
// clean-up while a decoder thread is still hashing, whose EVP_Digest then fails and could print
// "sha256 failed" in place of the real reason (seen under load). So one line, flush, _exit.
static pthread_mutex_t dieMu = PTHREAD_MUTEX_INITIALIZER;
static void dieLine(const char* what, const char* detail) {
  pthread_mutex_lock(&dieMu); // never unlocked: a second error waits here until the process is gone
  unsigned long long line = threadLine ? threadLine : lineNo;
  if (detail) fprintf(stderr, "chunkapply: chunk line %llu: %s: %s\n", line, what, detail);
  else fprintf(stderr, "chunkapply: chunk line %llu: %s\n", line, what);
  fflush(NULL);
  _exit(1);
}
static void die(const char* what) { dieLine(what, NULL); }
static void dieErrno(const char* what) { dieLine(what, strerror(errno)); }
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

struct chunk {
  unsigned long long off, comp, dec;
  char want[65];
  size_t run0, nr;  // runs[run0 .. run0+nr): first, count pairs
};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

// Delta reads and hashes the target's spans in READERS threads, up to RING chunks ahead of the
// main thread, with O_DIRECT when the block size allows (no copy through the page cache, no
// readahead guessing): reads overlap hashing, the disk sees more than one request at a time and
// sha256 (~1.2 GB/s per core with SHA-NI, not much above a fast disk) runs on two cores
// (bench/delta-fs.ts: 1.7-3.4x faster than one thread with buffered reads).
#define RING 8
#define READERS 2
struct slot {
  unsigned char* buf;
  size_t cap, got;
  long long idx;  // chunk whose span was read and hashed, -1: none
  int same;       // its used blocks hash to the index's sha256
  double readSeconds, hashSeconds;
};
static struct slot slots[RING];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static size_t nextRead, consumed, nChunks;
static struct chunk* gChunks;
static unsigned long long* gRuns;
static unsigned long long gBs;
static int readFd, bufferedFd;

static void spanOf(size_t ci, unsigned long long* first, unsigned long long* len) {
  unsigned long long* r = gRuns + gChunks[ci].run0;
  size_t nr = gChunks[ci].nr;
  *first = r[0];
  *len = (r[nr - 2] + r[nr - 1] - r[0]) * gBs;
}

static void* reader(void* arg) {
  (void)arg;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) die("out of memory");
  for (;;) {
    pthread_mutex_lock(&mu);
    while (nextRead < nChunks && nextRead >= consumed + RING) pthread_cond_wait(&cv, &mu);
    if (nextRead >= nChunks) {
      pthread_mutex_unlock(&mu);
      return NULL;
    }
    size_t n = nextRead++;
    pthread_mutex_unlock(&mu);
    threadLine = n + 1;
    // The slot is ours: its previous chunk (n - RING) was consumed.
    struct slot* sl = &slots[n % RING];
    unsigned long long first, len;
    spanOf(n, &first, &len);
    if (len > sl->cap) {
      free(sl->buf);
      sl->buf = NULL;
      if (posix_memalign((void**)&sl->buf, 4096, len)) die("out of memory");
      sl->cap = len;
    }
    size_t got = 0;
    int fd = readFd;
    double t0 = now();
    while (got < len) {
      ssize_t r = pread(fd, sl->buf + got, len - got, (off_t)(first * gBs + got));
      if (r < 0 && errno == EINTR) continue;
      // O_DIRECT refused (alignment, or a short read left an unaligned rest): buffered from here.
      if (r < 0 && errno == EINVAL && fd != bufferedFd) {
        fd = bufferedFd;
        continue;
      }
      if (r < 0) dieErrno("reading the target");
      if (r == 0) break;
      got += (size_t)r;
    }
    double t1 = now();
    int same = 0;
    if (got == len) {
      unsigned long long* rr = gRuns + gChunks[n].run0;
      unsigned char md[32];
      unsigned mdLen;
      char have[65];
      if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) die("sha256 failed");
      for (size_t i = 0; i < gChunks[n].nr; i += 2) EVP_DigestUpdate(ctx, sl->buf + (rr[i] - first) * gBs, rr[i + 1] * gBs);
      if (!EVP_DigestFinal_ex(ctx, md, &mdLen)) die("sha256 failed");
      hex(md, have);
      same = strcmp(have, gChunks[n].want) == 0;
    }
    pthread_mutex_lock(&mu);
    sl->got = got;
    sl->same = same;
    sl->readSeconds = t1 - t0;
    sl->hashSeconds = now() - t1;
    sl->idx = (long long)n;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
  }
}

// Full reads, decompresses and hashes frames in DECODERS threads, up to DRING chunks ahead of the
// writes: reading the image and zstd + sha256 overlap the target writes, as the two processes of
// `zstd -dc | partclone.restore` do. A decoder never writes; the main thread takes the chunks in
// order and hands one to the writers only after its decoder published it as verified, so nothing
// from the first bad chunk on reaches the target. The image is read ahead with POSIX_FADV_WILLNEED a ring's worth beyond the decoders and
// its pages are dropped once decoded (they would only push the target's dirty pages out).
#ifndef DECODERS
#define DECODERS 2
#endif
#ifndef DRING
#define DRING 16
#endif
struct frameSlot {
  unsigned char *packed, *raw;
  size_t pcap, rcap;
  long long idx;   // chunk decoded into this slot, -1: none
  char err[256];   // why it must not be written ("" = verified)
  double imageSeconds, decompSeconds, hashSeconds;
};
static struct frameSlot fslots[DRING];
static size_t nextDecode;
static int imgFd;

static void prefetchFrame(size_t n) {
  if (n < nChunks) posix_fadvise(imgFd, (off_t)gChunks[n].off, (off_t)gChunks[n].comp, POSIX_FADV_WILLNEED);
}

static void* decoder(void* arg) {
  (void)arg;
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (!dctx) die("out of memory");
  for (;;) {
    pthread_mutex_lock(&mu);
    while (nextDecode < nChunks && nextDecode >= consumed + DRING) pthread_cond_wait(&cv, &mu);
    if (nextDecode >= nChunks) {
      pthread_mutex_unlock(&mu);
      ZSTD_freeDCtx(dctx);
      return NULL;
    }
    size_t n = nextDecode++;
    pthread_mutex_unlock(&mu);
    threadLine = n + 1;
    prefetchFrame(n + DRING);
    struct chunk* c = &gChunks[n];
    struct frameSlot* sl = &fslots[n % DRING];
    sl->err[0] = 0;
    // Aligned: the main thread may write it with O_DIRECT.
    if (c->dec > sl->rcap) {
      free(sl->raw);
      sl->raw = NULL;
      if (posix_memalign((void**)&sl->raw, 4096, c->dec)) die("out of memory");
      sl->rcap = c->dec;
    }
    if (c->comp > sl->pcap) sl->packed = xrealloc(sl->packed, sl->pcap = c->comp);
    double t0 = now(), t1 = t0, t2 = t0, t3 = t0;
    size_t got = 0;
    while (got < c->comp) {
      ssize_t r = pread(imgFd, sl->packed + got, c->comp - got, (off_t)(c->off + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        snprintf(sl->err, sizeof sl->err, "reading the image: %s", strerror(errno));
        break;
      }
      if (r == 0) {
        snprintf(sl->err, sizeof sl->err, "the image is damaged: the chunk is truncated");
        break;
      }
      got += (size_t)r;
    }
    t1 = now();
    if (!sl->err[0]) {
      size_t d = ZSTD_decompressDCtx(dctx, sl->raw, c->dec, sl->packed, c->comp);
      t2 = now();
      if (ZSTD_isError(d))
        snprintf(sl->err, sizeof sl->err, "the image is damaged: the chunk does not decompress (%s); nothing of it was written", ZSTD_getErrorName(d));
      else {
        unsigned char md[32];
        unsigned len;
        char have[65];
        if (!EVP_Digest(sl->raw, c->dec, md, &len, EVP_sha256(), NULL)) die("sha256 failed");
        hex(md, have);
        t3 = now();
        if (d != c->dec || strcmp(have, c->want) != 0) snprintf(sl->err, sizeof sl->err, "the image is damaged: the chunk does not match its sha256 in the chunk index; nothing of it was written");
      }
    }
    posix_fadvise(imgFd, (off_t)c->off, (off_t)c->comp, POSIX_FADV_DONTNEED);
    pthread_mutex_lock(&mu);
    sl->imageSeconds = t1 - t0;
    sl->decompSeconds = t2 > t1 ? t2 - t1 : 0;
    sl->hashSeconds = t3 > t2 ? t3 - t2 : 0;
    sl->idx = (long long)n;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
  }
}

// Full: WRITERS threads write the verified chunks the main thread hands over, so the disk has two
// O_DIRECT writes to work on (one writer waited on each 1 MiB write: bench/delta-fs.ts --only
// full). A slot is free for the decoders again once every chunk up to it is written. A writer
// failing names the main thread's current chunk line, not necessarily the one it wrote.
#ifndef WRITERS
#define WRITERS 2
#endif
static size_t handedOver, nextWrite;
static int writtenFlag[DRING];
static int gDev, gWriteFd;
static double writersSeconds;

// One run of blocks: O_DIRECT where the device takes it, else through the page cache (fsync
// covers both).
static void writeRun(const unsigned char* b, size_t n, uint64_t at) {
  if (gWriteFd != gDev) {
    ssize_t w;
    do w = pwrite(gWriteFd, b, n, (off_t)at);
    while (w < 0 && errno == EINTR);
    if (w >= 0 && (size_t)w == n) return;
    if (w < 0 && errno != EINVAL) dieErrno("writing the target");
    if (w > 0) {
      b += w;
      n -= (size_t)w;
      at += (uint64_t)w;
    }
  }
  pwriteAll(gDev, b, n, at);
}

static void* writer(void* arg) {
  (void)arg;
  double busy = 0;
  for (;;) {
    pthread_mutex_lock(&mu);
    while (nextWrite >= handedOver && nextWrite < nChunks) pthread_cond_wait(&cv, &mu);
    if (nextWrite >= nChunks) {
      writersSeconds += busy;
      pthread_mutex_unlock(&mu);
      return NULL;
    }
    size_t n = nextWrite++;
    pthread_mutex_unlock(&mu);
    threadLine = n + 1;
    double t0 = now();
    struct chunk* c = &gChunks[n];
    unsigned long long* r = gRuns + c->run0;
    const unsigned char* frame = fslots[n % DRING].raw;
    size_t at = 0;
    for (size_t i = 0; i < c->nr; i += 2) {
      writeRun(frame + at, r[i + 1] * gBs, r[i] * gBs);
      at += r[i + 1] * gBs;
    }
    busy += now() - t0;
    puts("w");
    pthread_mutex_lock(&mu);
    writtenFlag[n % DRING] = 1;
    while (consumed < nChunks && consumed < handedOver && writtenFlag[consumed % DRING]) {
      writtenFlag[consumed % DRING] = 0;
      consumed++;
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
  }
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

  // The whole list first (Node writes it at once): a malformed list writes nothing, and delta
  // knows the spans ahead to prefetch them.
  struct chunk* chunks = NULL;
  size_t nc = 0, ccap = 0, nruns = 0, runCap = 0;
  unsigned long long* runs = NULL;
  char* line = NULL;
  size_t lcap = 0;
  while (getline(&line, &lcap, stdin) > 0) {
    lineNo++;
    char* p = line;
    if (nc == ccap) chunks = xrealloc(chunks, (ccap = ccap ? ccap * 2 : 1024) * sizeof *chunks);
    struct chunk* c = &chunks[nc];
    c->off = number(&p);
    c->comp = number(&p);
    c->dec = number(&p);
    while (*p == ' ') p++;
    if (strspn(p, "0123456789abcdef") != 64) die("malformed sha256");
    memcpy(c->want, p, 64);
    c->want[64] = 0;
    p += 64;
    c->run0 = nruns;
    unsigned long long sum = 0, prevEnd = 0;
    for (;;) {
      while (*p == ' ') p++;
      if (*p == '\n' || *p == 0) break;
      if (nruns + 2 > runCap) runs = xrealloc(runs, (runCap = runCap ? runCap * 2 : 4096) * sizeof *runs);
      unsigned long long first = number(&p), n = number(&p);
      if (n == 0 || first < prevEnd || first + n < first) die("runs not ascending");
      runs[nruns++] = first;
      runs[nruns++] = n;
      prevEnd = first + n;
      sum += n;
    }
    c->nr = nruns - c->run0;
    // Nothing is written unless the runs hold exactly the frame's bytes.
    if (c->nr == 0 || c->comp == 0 || c->comp > MAX_BYTES || c->dec > MAX_BYTES || sum * bs != c->dec) die("the block runs do not match the frame size");
    if ((prevEnd - runs[c->run0]) * bs > MAX_BYTES) die("chunk spans too many blocks");
    nc++;
  }
  if (ferror(stdin)) die("reading the chunk list");

  unsigned long long wchunks = 0, wbytes = 0, compared = 0;
  // tRead: the main thread waiting for the readers; tTargetReads/tTargetHash: summed over them.
  // tFrames: the main thread waiting for the decoders (full); tImage/tDecomp/tHash summed over them.
  double tTargetReads = 0, tTargetHash = 0, tFrames = 0;
  double tRead = 0, tHash = 0, tImage = 0, tDecomp = 0, tWrite = 0, tFsync = 0;
  unsigned char *packed = NULL, *raw = NULL;
  size_t pcap = 0, rcap = 0;
  pthread_t readers[READERS], decoders[DECODERS], writers[WRITERS];
  gChunks = chunks;
  gRuns = runs;
  gBs = bs;
  nChunks = nc;
  // Writes go straight to the disk (O_DIRECT, when the block size allows): no copy into the page
  // cache and no GBs of dirty pages for the final fsync; writing through the page cache was
  // 1.1-1.8x slower, also pushing it out with sync_file_range every 8 MiB 2-3x slower, at half to
  // a third more CPU (bench/delta-fs.ts --only full, docs/performance.md fifth measurement).
  // NETIMAGE_CHUNKAPPLY_WRITE=buffered: through the page cache (the bench's A/B).
  const char* how = getenv("NETIMAGE_CHUNKAPPLY_WRITE");
  int writeFd = dev;
  if (!(how && strcmp(how, "buffered") == 0) && bs % 4096 == 0) {
    writeFd = open(argv[2], O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (writeFd < 0) writeFd = dev;
  }
  gDev = dev;
  gWriteFd = writeFd;
  if (delta) {
    bufferedFd = dev;
    readFd = bs % 4096 == 0 ? open(argv[2], O_RDONLY | O_DIRECT | O_CLOEXEC) : -1;
    if (readFd < 0) readFd = dev;
    for (int i = 0; i < RING; i++) slots[i].idx = -1;
    for (int i = 0; i < READERS; i++)
      if (pthread_create(&readers[i], NULL, reader, NULL)) die("cannot start a reader thread");
  } else {
    imgFd = img;
    posix_fadvise(img, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (size_t n = 0; n < DRING; n++) prefetchFrame(n);
    for (int i = 0; i < DRING; i++) fslots[i].idx = -1;
    for (int i = 0; i < DECODERS; i++)
      if (pthread_create(&decoders[i], NULL, decoder, NULL)) die("cannot start a decoder thread");
    for (int i = 0; i < WRITERS; i++)
      if (pthread_create(&writers[i], NULL, writer, NULL)) die("cannot start a writer thread");
  }
  for (size_t ci = 0; ci < nc; ci++) {
    lineNo = ci + 1;
    struct chunk* c = &chunks[ci];
    unsigned long long* r = runs + c->run0;
    size_t nr = c->nr;
    unsigned char* frame;
    struct frameSlot* fs = NULL;
    if (delta) {
      // The readers compared this chunk; hand its slot back either way (writing uses the frame).
      struct slot* sl = &slots[ci % RING];
      double t0 = now();
      pthread_mutex_lock(&mu);
      while (sl->idx != (long long)ci) pthread_cond_wait(&cv, &mu);
      int same = sl->same;
      compared += sl->got;
      tTargetReads += sl->readSeconds;
      tTargetHash += sl->hashSeconds;
      consumed = ci + 1;
      pthread_cond_broadcast(&cv);
      pthread_mutex_unlock(&mu);
      tRead += now() - t0;
      if (same) {
        puts("s");
        continue;
      }
      if (c->comp > pcap) packed = xrealloc(packed, pcap = c->comp);
      if (c->dec > rcap) {
        // Aligned for O_DIRECT writes.
        free(raw);
        raw = NULL;
        if (posix_memalign((void**)&raw, 4096, c->dec)) die("out of memory");
        rcap = c->dec;
      }
      t0 = now();
      if (preadAll(img, packed, c->comp, c->off, "reading the image") != c->comp) die("the image is damaged: the chunk is truncated");
      double t1 = now();
      size_t got = ZSTD_decompressDCtx(dctx, raw, c->dec, packed, c->comp);
      if (ZSTD_isError(got)) {
        fprintf(stderr, "chunkapply: chunk line %llu: the image is damaged: the chunk does not decompress (%s); nothing of it was written\n", lineNo, ZSTD_getErrorName(got));
        return 1;
      }
      double t2 = now();
      unsigned char md[32];
      unsigned len;
      char have[65];
      if (!EVP_Digest(raw, c->dec, md, &len, EVP_sha256(), NULL)) die("sha256 failed");
      hex(md, have);
      tImage += t1 - t0;
      tDecomp += t2 - t1;
      tHash += now() - t2;
      if (got != c->dec || strcmp(have, c->want) != 0) die("the image is damaged: the chunk does not match its sha256 in the chunk index; nothing of it was written");
      frame = raw;
    } else {
      // The slot stays ours (consumed is not advanced) until its bytes are written.
      fs = &fslots[ci % DRING];
      double t0 = now();
      pthread_mutex_lock(&mu);
      while (fs->idx != (long long)ci) pthread_cond_wait(&cv, &mu);
      pthread_mutex_unlock(&mu);
      tFrames += now() - t0;
      tImage += fs->imageSeconds;
      tDecomp += fs->decompSeconds;
      tHash += fs->hashSeconds;
      if (fs->err[0] || (pauseAfter >= 0 && (long long)wchunks >= pauseAfter)) {
        // Every chunk before this one is verified: finish writing them first (as one thread did).
        pthread_mutex_lock(&mu);
        while (consumed < handedOver) pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
      }
      if (fs->err[0]) die(fs->err);
      if (pauseAfter >= 0 && (long long)wchunks >= pauseAfter) {
        puts("PAUSED");
        for (;;) pause();
      }
      pthread_mutex_lock(&mu);
      handedOver = ci + 1;
      pthread_cond_broadcast(&cv);
      pthread_mutex_unlock(&mu);
      wchunks++;
      wbytes += c->dec;
      continue;
    }
    if (pauseAfter >= 0 && (long long)wchunks >= pauseAfter) {
      puts("PAUSED");
      for (;;) pause();
    }
    double t3 = now();
    size_t at = 0;
    for (size_t i = 0; i < nr; i += 2) {
      writeRun(frame + at, r[i + 1] * bs, r[i] * bs);
      at += r[i + 1] * bs;
    }
    tWrite += now() - t3;
    wchunks++;
    wbytes += c->dec;
    puts("w");
  }
  if (delta)
    for (int i = 0; i < READERS; i++) pthread_join(readers[i], NULL);
  else {
    for (int i = 0; i < WRITERS; i++) pthread_join(writers[i], NULL);
    for (int i = 0; i < DECODERS; i++) pthread_join(decoders[i], NULL);
    tWrite = writersSeconds;
  }
  // The data must be on the disk before the restore says done.
  double t0 = now();
  if (writeFd != dev && fsync(writeFd) != 0) dieErrno("fsync of the target");
  if (fsync(dev) != 0) dieErrno("fsync of the target");
  tFsync = now() - t0;
  // Seconds: the main thread waiting for the readers (delta), sha256 of decompressed frames, image
  // reads, decompression (full: summed over the decoder threads), target writes, the final fsync; then the readers' own target reads and compare hashing, summed over
  // the threads; the main thread waiting for the decoders (full).
  printf("OK %llu %llu %llu %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f\n", wchunks, wbytes, compared, tRead, tHash, tImage, tDecomp, tWrite, tFsync, tTargetReads, tTargetHash, tFrames);
  return 0;
}
