/*
 * tftpsend: the TFTP server's native sender (bootserver/tftp/native-sender.ts drives it).
 *
 * Why: at windowsize 1 (lock-step, what grub does) a transfer is a ping-pong bound by the cost of
 * one datagram round trip; Node's event loop adds ~25% to that (docs/performance.md "TFTP"), and
 * one Node thread serves every transfer on one core. This helper forks one small process per
 * transfer (like tftp-hpa), each a blocking recv/send loop, so lock-step transfers run at C speed
 * and on every core. Node keeps everything else: the request, access rules, negotiation, the
 * OACK's bytes, metrics and logs.
 *
 * The sending rules are those of window.ts/transfer.ts, kept identical: RFC 7440 windows with the
 * OACK as block 0, any ACK inside the window slides it, duplicate ACKs are never answered (the
 * Sorcerer's Apprentice bug), a timeout resends the window from the first unacknowledged block
 * with a doubling delay (capped at max(timeout, 6 s)), `retries` timeouts without progress end
 * the transfer with an ERROR, an ICMP port unreachable ends it after a 100 ms grace for a final
 * ACK, an ERROR from the client ends it.
 *
 * Protocol on stdin/stdout, one line per message (fields separated by one space):
 *   in:  S id file size blksize windowsize timeout_ms retries bind_ip client_ip client_port oack_hex|-
 *        K id                      (abort: ERROR "server shutting down" to the client, then end)
 *   out: P id port                 (transfer started from this port: its TID)
 *        F id message              (could not start; nothing was sent)
 *        E id ok bytes packets resent_windows duplicate_acks microseconds reason|-
 * `file` is opened read-only: Node passes /proc/<its pid>/fd/<n> of the descriptor it checked, so
 * the helper reads the very inode Node checked (a file replaced by rename keeps serving the old one).
 * EOF on stdin: every transfer is aborted, then the helper exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_BYTES (256 * 1024)
#define UNREACHABLE_GRACE_MS 100
#define MAX_LINE 8192
#define MAX_TRANSFERS 4096

static volatile sig_atomic_t stop_requested = 0;
/* The helper's pid, for a transfer process to tell "the helper died" from "aborted". */
static pid_t helper_pid;

static void on_term(int sig) {
  (void)sig;
  stop_requested = 1;
}
static void on_chld(int sig) { (void)sig; }

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One line to stdout in one write (< PIPE_BUF, so lines of concurrent transfers never mix). */
static void out_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out_line(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  ssize_t w;
  do w = write(1, buf, (size_t)n);
  while (w < 0 && errno == EINTR);
}

/* Delay before the next retransmission after `retries` timeouts: window.ts retransmitDelayMs. */
static int64_t retransmit_delay_ms(int64_t base, int retries) {
  int64_t cap = base > 6000 ? base : 6000;
  int shift = retries < 20 ? retries : 20;
  int64_t d = base;
  for (int i = 0; i < shift && d < cap; i++) d *= 2;
  return d < cap ? d : cap;
}

struct job {
  char id[64];
  char file[512];
  int64_t size;
  int blksize;
  int windowsize;
  int64_t timeout_ms;
  int retries;
  char bind_ip[64];
  char client_ip[64];
  int client_port;
  unsigned char oack[1024];
  size_t oack_len;
};

struct result {
  int ok;
  int64_t bytes;
  int64_t packets;
  int64_t resent;
  int64_t duplicates;
  const char *reason;
};

static void send_error(int sock, int code, const char *message) {
  unsigned char pkt[600];
  size_t len = strlen(message);
  if (len > 500) len = 500;
  pkt[0] = 0;
  pkt[1] = 5;
  pkt[2] = (unsigned char)(code >> 8);
  pkt[3] = (unsigned char)code;
  memcpy(pkt + 4, message, len);
  pkt[4 + len] = 0;
  (void)send(sock, pkt, 5 + len, MSG_DONTWAIT);
}

/*
 * The transfer itself, in the child. Blocks are absolute (1, 2, ... past 65535); the wire carries
 * the low 16 bits. buf holds blocks [first, first + count) as [4-byte header][block] slots.
 */
static void run_transfer(const struct job *j, int sock, int fd, struct result *r) {
  static char reason[256];
  const int64_t last_block = j->size / j->blksize + 1;
  const size_t stride = (size_t)j->blksize + 4;
  int64_t slots = CHUNK_BYTES / j->blksize;
  if (slots < j->windowsize) slots = j->windowsize;
  if (slots > last_block) slots = last_block;
  if (slots < 1) slots = 1;
  unsigned char *buf = malloc((size_t)slots * stride);
  struct iovec *iov = malloc((size_t)slots * sizeof *iov);
  if (!buf || !iov) {
    r->reason = "out of memory";
    send_error(sock, 0, "server error");
    return;
  }
  int64_t first = -1, count = 0;
  int64_t acked = j->oack_len ? -1 : 0, highest = acked;
  int64_t send_from, send_to;
  int retries = 0, unreachable = 0;
  int64_t deadline = 0;
  /* The SO_RCVTIMEO set on the socket (0: none yet). */
  int64_t rcvtimeo_us = 0;
  unsigned char in[1024];

#define PLAN_FROM_FIRST_UNACKED()                                                    \
  do {                                                                               \
    if (acked < 0) {                                                                 \
      send_from = 0;                                                                 \
      send_to = 0;                                                                   \
    } else {                                                                         \
      send_from = acked + 1;                                                         \
      send_to = acked + j->windowsize < last_block ? acked + j->windowsize : last_block; \
    }                                                                                \
    if (send_to > highest) highest = send_to;                                        \
  } while (0)

  PLAN_FROM_FIRST_UNACKED();
  for (;;) {
    /* Send [send_from, send_to]. */
    int64_t b = send_from;
    if (b == 0 && j->oack_len) {
      if (send(sock, j->oack, j->oack_len, 0) < 0 && errno == ECONNREFUSED && !unreachable) {
        unreachable = 1;
        deadline = now_us() + UNREACHABLE_GRACE_MS * 1000;
      }
      b = 1;
    }
    for (; b <= send_to; b++) {
      if (b < first || b >= first + count) {
        /* Read the chunk starting at the first block still wanted. */
        int64_t n = last_block - b + 1 < slots ? last_block - b + 1 : slots;
        int64_t pos = (b - 1) * (int64_t)j->blksize;
        int64_t want = j->size - pos < n * (int64_t)j->blksize ? j->size - pos : n * (int64_t)j->blksize;
        if (want < 0) want = 0;
        for (int64_t i = 0; i < n; i++) {
          iov[i].iov_base = buf + i * stride + 4;
          iov[i].iov_len = (size_t)j->blksize;
        }
        int64_t got = 0;
        int iovoff = 0;
        while (got < want) {
          /* preadv takes at most IOV_MAX (1024) buffers per call. */
          int cnt = (int)(n - iovoff < 1024 ? n - iovoff : 1024);
          ssize_t g = preadv(fd, iov + iovoff, cnt, pos + got);
          if (g < 0 && errno == EINTR) continue;
          if (g < 0) {
            snprintf(reason, sizeof reason, "read failed: %s", strerror(errno));
            goto abort;
          }
          if (g == 0) break;
          got += g;
          iovoff = (int)(got / j->blksize);
          /* A partial iovec: finish it by hand (rare; only on odd short reads). */
          if (got % j->blksize && got < want) {
            ssize_t g2 = pread(fd, buf + iovoff * stride + 4 + got % j->blksize, (size_t)(j->blksize - got % j->blksize), pos + got);
            if (g2 <= 0) break;
            got += g2;
            iovoff = (int)(got / j->blksize);
          }
        }
        if (got < want) {
          snprintf(reason, sizeof reason, "read failed: file shrank: %lld of %lld bytes at %lld", (long long)got, (long long)want, (long long)pos);
          goto abort;
        }
        first = b;
        count = n;
      }
      unsigned char *p = buf + (b - first) * stride;
      p[0] = 0;
      p[1] = 3;
      p[2] = (unsigned char)((b >> 8) & 0xff);
      p[3] = (unsigned char)(b & 0xff);
      int64_t len = j->size - (b - 1) * (int64_t)j->blksize;
      if (len > j->blksize) len = j->blksize;
      if (len < 0) len = 0;
      r->bytes += len;
      r->packets++;
      if (send(sock, p, (size_t)len + 4, 0) < 0 && errno == ECONNREFUSED && !unreachable) {
        unreachable = 1;
        deadline = now_us() + UNREACHABLE_GRACE_MS * 1000;
      }
    }
    int64_t delay_us = retransmit_delay_ms(j->timeout_ms, retries) * 1000;
    if (!unreachable) deadline = now_us() + delay_us;

    /*
     * Wait for an ACK that moves the window, or the deadline. The first wait after a send is one
     * blocking recv with SO_RCVTIMEO (in lock-step that is every wait: two syscalls per block);
     * after a packet that did not move the window, poll for what is left.
     */
    int fresh = !unreachable;
    for (;;) {
      if (stop_requested) {
        snprintf(reason, sizeof reason, getppid() != helper_pid ? "native sender exited" : "server shutting down");
        goto abort;
      }
      int64_t left = deadline - now_us();
      if (left <= 0) {
        if (unreachable) {
          r->reason = "client port unreachable";
          goto out;
        }
        if (retries >= j->retries) {
          snprintf(reason, sizeof reason, "no ACK after %d retransmissions", j->retries);
          goto abort;
        }
        retries++;
        r->resent++;
        PLAN_FROM_FIRST_UNACKED();
        break;
      }
      ssize_t n;
      if (fresh) {
        fresh = 0;
        /* The delay changes only with the retry count: set it only then. It may end a few
           microseconds past the deadline; that does not matter. */
        if (delay_us != rcvtimeo_us) {
          struct timeval tv = {.tv_sec = delay_us / 1000000, .tv_usec = delay_us % 1000000};
          (void)setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
          rcvtimeo_us = delay_us;
        }
        n = recv(sock, in, sizeof in, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      } else {
        struct pollfd pfd = {.fd = sock, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)((left + 999) / 1000));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        n = recv(sock, in, sizeof in, MSG_DONTWAIT);
      }
      if (n < 0) {
        if (errno == ECONNREFUSED && !unreachable) {
          unreachable = 1;
          deadline = now_us() + UNREACHABLE_GRACE_MS * 1000;
        }
        continue;
      }
      if (n < 4 || in[0] != 0 || in[1] != 4) {
        if (n >= 4 && in[0] == 0 && in[1] == 5) {
          snprintf(reason, sizeof reason, "client error %d", (in[2] << 8) | in[3]);
          r->reason = reason;
          goto out;
        }
        continue;
      }
      int64_t wire = (in[2] << 8) | in[3];
      int64_t delta = (wire - acked) & 0xffff;
      if (delta == 0) {
        r->duplicates++;
        continue;
      }
      int64_t block = acked + delta;
      if (block > highest) continue; /* out of window */
      acked = block;
      retries = 0;
      if (acked >= last_block) {
        r->ok = 1;
        goto out;
      }
      send_from = acked + 1;
      send_to = acked + j->windowsize < last_block ? acked + j->windowsize : last_block;
      if (send_to > highest) highest = send_to;
      break;
    }
  }
abort:
  send_error(sock, 0, reason);
  r->reason = reason;
out:
  free(buf);
  free(iov);
#undef PLAN_FROM_FIRST_UNACKED
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse_job(char *line, struct job *j) {
  char *save = NULL;
  char *f[13];
  int n = 0;
  for (char *t = strtok_r(line, " ", &save); t && n < 13; t = strtok_r(NULL, " ", &save)) f[n++] = t;
  if (n != 12) return -1;
  if (strlen(f[1]) >= sizeof j->id || strlen(f[2]) >= sizeof j->file || strlen(f[8]) >= sizeof j->bind_ip || strlen(f[9]) >= sizeof j->client_ip) return -1;
  strcpy(j->id, f[1]);
  strcpy(j->file, f[2]);
  j->size = strtoll(f[3], NULL, 10);
  j->blksize = atoi(f[4]);
  j->windowsize = atoi(f[5]);
  j->timeout_ms = strtoll(f[6], NULL, 10);
  j->retries = atoi(f[7]);
  strcpy(j->bind_ip, f[8]);
  strcpy(j->client_ip, f[9]);
  j->client_port = atoi(f[10]);
  j->oack_len = 0;
  if (strcmp(f[11], "-") != 0) {
    size_t hl = strlen(f[11]);
    if (hl % 2 || hl / 2 > sizeof j->oack) return -1;
    for (size_t i = 0; i < hl; i += 2) {
      int hi = hexval(f[11][i]), lo = hexval(f[11][i + 1]);
      if (hi < 0 || lo < 0) return -1;
      j->oack[j->oack_len++] = (unsigned char)(hi << 4 | lo);
    }
  }
  if (j->size < 0 || j->blksize < 8 || j->blksize > 65464 || j->windowsize < 1 || j->windowsize > 65535 || j->timeout_ms < 1 || j->retries < 0 || j->client_port < 1 || j->client_port > 65535) return -1;
  return 0;
}

/* Socket bound to bind_ip:0 and connected to the client (its TID); -1 with errno on failure. */
static int open_socket(const struct job *j) {
  struct sockaddr_storage local = {0}, remote = {0};
  socklen_t len;
  int family;
  if (inet_pton(AF_INET, j->client_ip, &((struct sockaddr_in *)&remote)->sin_addr) == 1) {
    family = AF_INET;
    struct sockaddr_in *l = (struct sockaddr_in *)&local, *r = (struct sockaddr_in *)&remote;
    l->sin_family = r->sin_family = AF_INET;
    r->sin_port = htons((uint16_t)j->client_port);
    if (inet_pton(AF_INET, j->bind_ip, &l->sin_addr) != 1) l->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof(struct sockaddr_in);
  } else if (inet_pton(AF_INET6, j->client_ip, &((struct sockaddr_in6 *)&remote)->sin6_addr) == 1) {
    family = AF_INET6;
    struct sockaddr_in6 *l = (struct sockaddr_in6 *)&local, *r = (struct sockaddr_in6 *)&remote;
    l->sin6_family = r->sin6_family = AF_INET6;
    r->sin6_port = htons((uint16_t)j->client_port);
    if (inet_pton(AF_INET6, j->bind_ip, &l->sin6_addr) != 1) l->sin6_addr = in6addr_any;
    len = sizeof(struct sockaddr_in6);
  } else {
    errno = EINVAL;
    return -1;
  }
  int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  int sz = 4 * 1024 * 1024;
  (void)setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  sz = 256 * 1024;
  (void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  if (bind(s, (struct sockaddr *)&local, len) < 0 || connect(s, (struct sockaddr *)&remote, len) < 0) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

static int local_port(int s) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  if (getsockname(s, (struct sockaddr *)&a, &len) < 0) return -1;
  return a.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&a)->sin_port) : ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
}

struct child {
  pid_t pid;
  char id[64];
};
static struct child children[MAX_TRANSFERS];

static void reap(void) {
  pid_t pid;
  while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
    for (int i = 0; i < MAX_TRANSFERS; i++)
      if (children[i].pid == pid) children[i].pid = 0;
}

static void start(char *line) {
  struct job j;
  char id[64] = "?";
  sscanf(line, "S %63s", id);
  if (parse_job(line, &j) < 0) {
    out_line("F %s bad job line", id);
    return;
  }
  int slot = -1;
  for (int i = 0; i < MAX_TRANSFERS && slot < 0; i++)
    if (children[i].pid == 0) slot = i;
  if (slot < 0) {
    out_line("F %s too many transfers", j.id);
    return;
  }
  int fd = open(j.file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out_line("F %s open: %s", j.id, strerror(errno));
    return;
  }
  int s = open_socket(&j);
  if (s < 0) {
    out_line("F %s socket: %s", j.id, strerror(errno));
    close(fd);
    return;
  }
  int port = local_port(s);
  pid_t parent = getpid();
  helper_pid = parent;
  pid_t pid = fork();
  if (pid < 0) {
    out_line("F %s fork: %s", j.id, strerror(errno));
    close(fd);
    close(s);
    return;
  }
  if (pid == 0) {
    signal(SIGCHLD, SIG_DFL);
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    /* If the helper dies, end this transfer too (an ERROR to the client, a failed result to
       Node) rather than run on where nothing can abort it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) stop_requested = 1;
    close(0);
    struct result r = {0};
    int64_t t0 = now_us();
    run_transfer(&j, s, fd, &r);
    out_line("E %s %d %lld %lld %lld %lld %lld %s", j.id, r.ok, (long long)r.bytes, (long long)r.packets, (long long)r.resent, (long long)r.duplicates,
             (long long)(now_us() - t0), r.ok ? "-" : r.reason ? r.reason : "unknown");
    _exit(0);
  }
  children[slot].pid = pid;
  snprintf(children[slot].id, sizeof children[slot].id, "%s", j.id);
  close(fd);
  close(s);
  out_line("P %s %d", j.id, port);
}

int main(void) {
  /* SIGTERM reaches the children through the K command or stdin EOF, not by killing the parent. */
  struct sigaction sa = {0};
  sa.sa_handler = on_chld;
  sigaction(SIGCHLD, &sa, NULL); /* no SA_RESTART: a child's end wakes read() for reaping */
  signal(SIGPIPE, SIG_IGN);
  static char line[MAX_LINE];
  size_t have = 0;
  for (;;) {
    ssize_t n = read(0, line + have, sizeof line - 1 - have);
    if (n < 0 && errno == EINTR) {
      reap();
      continue;
    }
    if (n <= 0) break;
    have += (size_t)n;
    char *nl;
    while ((nl = memchr(line, '\n', have)) != NULL) {
      *nl = 0;
      if (line[0] == 'S' && line[1] == ' ') start(line);
      else if (line[0] == 'K' && line[1] == ' ') {
        for (int i = 0; i < MAX_TRANSFERS; i++)
          if (children[i].pid && strcmp(children[i].id, line + 2) == 0) kill(children[i].pid, SIGTERM);
      }
      size_t used = (size_t)(nl - line) + 1;
      memmove(line, nl + 1, have - used);
      have -= used;
    }
    if (have == sizeof line - 1) have = 0; /* an absurd line: drop it */
    reap();
  }
  for (int i = 0; i < MAX_TRANSFERS; i++)
    if (children[i].pid) kill(children[i].pid, SIGTERM);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
  }
  return 0;
}
