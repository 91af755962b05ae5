/*
 * sha256 of one file, for stage 1's init (the stage 2 check, docs/bootimage.md "Two stages").
 *
 *   sha256 FILE   prints "<hex>  FILE\n" like sha256sum; exit 0, or 1 with a message on stderr
 *
 * Why not busybox's sha256sum: its C loop hashes ~61 MB/s on the emulated (TCG, qemu64) PC of
 * the benches, this ~80 MB/s, and on real PCs OpenSSL's code takes the CPU's SHA extensions or
 * AVX2 (docs/performance.md "Session 12"). The compression function is OpenSSL's own
 * (sha256_block_data_order from sha256-x86_64.pl, which picks SHA-NI, AVX2, AVX, SSSE3 or plain
 * x86-64 by CPUID; OPENSSL_ia32_cpuid from x86_64cpuid.pl), linked from the build host's
 * libcrypto.a (bootimage/builder/hasher.ts). Only padding and I/O are here.
 *
 * No libc: stage 1 has none (busybox is static) and a static glibc would add ~280 KB to grub's
 * TFTP; this is a few KB. Raw Linux x86-64 system calls, own _start.
 */
#include <stddef.h>
#include <stdint.h>

/* OpenSSL: h[8] is the first member of SHA256_CTX; blocks of 64 bytes. */
extern void sha256_block_data_order(uint32_t *h, const void *in, size_t blocks);
extern uint64_t OPENSSL_ia32_cpuid(unsigned int *cap);
extern unsigned int OPENSSL_ia32cap_P[4];
/* x86_64cpuid.o calls this from .init, which nothing runs here: the capabilities are set in main. */
void OPENSSL_cpuid_setup(void) {}

static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
enum { SYS_read = 0, SYS_write = 1, SYS_open = 2, SYS_exit_group = 231, O_RDONLY_CLOEXEC = 02000000 };

/* gcc may emit calls to these even with -ffreestanding. */
void *memset(void *d, int c, size_t n) {
  unsigned char *p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}
void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *p = d;
  const unsigned char *q = s;
  while (n--) *p++ = *q++;
  return d;
}

static size_t len(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
static void out(int fd, const char *s, size_t n) {
  while (n > 0) {
    long w = sys3(SYS_write, fd, (long)s, (long)n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}
static int fail(const char *what, const char *file) {
  out(2, "sha256: ", 8);
  out(2, what, len(what));
  out(2, file, len(file));
  out(2, "\n", 1);
  return 1;
}

/* 1 MiB reads: the file is on a tmpfs; fewer system calls matter under emulation. */
static unsigned char buf[1 << 20];

static int hash_file(const char *file) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  long fd = sys3(SYS_open, (long)file, O_RDONLY_CLOEXEC, 0);
  if (fd < 0) return fail("cannot open ", file);
  uint64_t total = 0;
  size_t have = 0; /* bytes in buf not yet hashed (< 64 between reads) */
  for (;;) {
    long n = sys3(SYS_read, fd, (long)(buf + have), (long)(sizeof buf - have));
    if (n == -4 /* EINTR */) continue;
    if (n < 0) return fail("read error on ", file);
    if (n == 0) break;
    total += (uint64_t)n;
    have += (size_t)n;
    size_t blocks = have / 64;
    if (blocks) sha256_block_data_order(h, buf, blocks);
    size_t rest = have - blocks * 64;
    memcpy(buf, buf + blocks * 64, rest);
    have = rest;
  }
  /* Padding: 0x80, zeros, the length in bits big-endian in the last 8 bytes (FIPS 180-4 5.1.1). */
  buf[have++] = 0x80;
  size_t padded = have <= 56 ? 64 : 128;
  memset(buf + have, 0, padded - have);
  uint64_t bits = total * 8;
  for (int i = 0; i < 8; i++) buf[padded - 1 - i] = (unsigned char)(bits >> (8 * i));
  sha256_block_data_order(h, buf, padded / 64);

  static const char hex[] = "0123456789abcdef";
  char line[64 + 2];
  for (int i = 0; i < 32; i++) {
    unsigned char b = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
    line[2 * i] = hex[b >> 4];
    line[2 * i + 1] = hex[b & 15];
  }
  line[64] = ' ';
  line[65] = ' ';
  out(1, line, sizeof line);
  out(1, file, len(file));
  out(1, "\n", 1);
  return 0;
}

static int main_(int argc, char **argv) {
  if (argc != 2) {
    out(2, "usage: sha256 FILE\n", 19);
    return 2;
  }
  uint64_t vec = OPENSSL_ia32_cpuid(OPENSSL_ia32cap_P);
  /* As OpenSSL's OPENSSL_cpuid_setup (crypto/cpuid.c); bit 10 marks the vector initialised. */
  OPENSSL_ia32cap_P[0] = (unsigned int)vec | (1 << 10);
  OPENSSL_ia32cap_P[1] = (unsigned int)(vec >> 32);
  return hash_file(argv[1]);
}

__attribute__((used)) static void start_c(long *sp) {
  sys3(SYS_exit_group, main_((int)sp[0], (char **)(sp + 1)), 0, 0);
}
__asm__(".text\n.globl _start\n_start:\n  xor %ebp, %ebp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call start_c\n  hlt\n");
