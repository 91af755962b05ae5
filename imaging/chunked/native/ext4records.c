// ext4records: what an ext2/3/4 file system says about its own inodes, so a delta restore can skip
// reading blocks whose owner provably did not change (docs/imaging.md "Delta restore with
// file-system records"; native/ntfsrecords.c is its NTFS twin). Built on libext2fs (e2fsprogs);
// the device is only ever opened read-only (no EXT2_FLAG_RW: unix_io opens it O_RDONLY; a
// read-only loop device works).
//
//   ext4records record <device> <table-out>
//     At backup. Writes the inode table: per in-use inode (ino >= first_ino, and the root
//     directory 2) its number, generation, ctime (i_ctime, i_ctime_extra) and a sha256 of its
//     block list (every block it owns incl. extent-tree / indirect blocks, then its xattr block).
//     stdout: "OK <records>" or "SKIP <reason>" (no file written: not clean, 128-byte inodes).
//     After the records, a section for the swap files (regular files of >= 1 MiB whose first page
//     ends in a swap or hibernation signature): number, generation, that signature and a sha256 of
//     the file's block map (logical block, physical block, length of every run of its data
//     blocks), so a restore can see whether those blocks are still that swap file's (magic
//     SWAP_MAGIC; tables without it are still read: the swap file is then never left alone).
//
//   ext4records trust [--pagefile-skip] <device> <table> <bitmap-out>
//     At restore. The trust rule: block b is trusted only when it is owned now by exactly one
//     inode, that inode is not a reserved one (other than 2; nor journal, quota, orphan file,
//     snapshot), b is not its xattr block, and its number, generation, ctime (sec + nsec) and
//     block-list hash equal the table's record. Nothing is trusted when the UUID, geometry or
//     features differ from the table's, e2fsck ran since (s_lastcheck), or the file system is not
//     clean. Writes one bit per block of the
//     file system (bit b: byte b/8, mask 1 << b%8). stdout: "OK <blockSize> <blocks> <trusted
//     blocks> <trusted inodes> <unchanged swap files compared>" or "UNTRUSTED <reason>" (no bitmap
//     written).
//     --pagefile-skip (restore property pagefile=skip, as ntfsrecords'): also trusted, the data
//     blocks of a swap file beyond its first MiB (logical) when at backup its first page ended in
//     SWAPSPACE2 (plain swap: never a hibernation image, nor old-style SWAP-SPACE) and its inode
//     (number, generation) and block map are the backup's now, owned by no other inode and
//     allocated in the block bitmap. Linux never reads an old session's swap pages back; the
//     first MiB, where the swap header sits, stays compared, so a hibernation signature written
//     since is put back to the image's SWAPSPACE2 and no stale image is resumed. The block map
//     must be the backup's: blocks that are the swap file's now but held another file in the
//     image must be restored. Before the OK line: "PAGEFILE <blocks>" (every swap file left
//     alone) or "PAGEFILE <blocks> <reason>" (at least one compared, or none at all).
//
// Errors: one line on stderr, exit 1 (usage: 2).
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <openssl/evp.h>

#define MAGIC "NIEXTRC1"
#define SWAP_MAGIC "NIEXTSW1"
#define HASH_BYTES 16
// pagefile=skip keeps this much of the start of a swap file (logical) compared: the swap header.
#define SWAP_KEEP_BYTES (1024 * 1024)
// At most this many swap file entries in a table (a PC has one or two).
#define MAX_SWAP_ENTRIES 1024

struct header {
  char magic[8];
  uint8_t uuid[16];
  uint32_t blockSize;
  uint32_t inodesCount;
  uint64_t blocksCount;
  uint32_t records;
  // s_lastcheck (+ _hi << 32): a full e2fsck since the backup (it repairs through libext2fs,
  // without touching ctimes) makes the records untrustworthy. The feature words: tune2fs -O
  // (e.g. metadata_csum) rewrites metadata blocks without touching ctimes.
  uint32_t featureCompat;
  uint32_t featureIncompat;
  uint32_t featureRoCompat;
  uint64_t lastCheck;
};

struct record {
  uint32_t ino;
  uint32_t generation;
  uint32_t ctime;
  uint32_t ctimeExtra;
  uint8_t hash[HASH_BYTES];
};

// After the records (tables from before it end there): the swap files at backup.
struct swapSection {
  char magic[8];
  uint32_t count;
  uint32_t reserved;
};

struct swapEntry {
  uint32_t ino;
  uint32_t generation;
  char signature[16]; // as found at the end of its first page, NUL-padded ("SWAPSPACE2", "S1SUSPEND"...)
  uint8_t map[32];    // sha256 of its block map (blockMapHash)
};

static void die(const char* what, long err) {
  if (err) fprintf(stderr, "ext4records: %s: %s\n", what, error_message(err));
  else fprintf(stderr, "ext4records: %s\n", what);
  exit(1);
}

static void* xcalloc(size_t n, size_t size) {
  void* p = calloc(n, size);
  if (!p) die("out of memory", 0);
  return p;
}

// Why the file system's own records cannot be trusted (NULL: they can).
static const char* untrustworthy(ext2_filsys fs) {
  struct ext2_super_block* s = fs->super;
  if (!(s->s_state & EXT2_VALID_FS)) return "the file system was not cleanly unmounted (state not clean)";
  if (s->s_state & EXT2_ERROR_FS) return "the file system has errors (state)";
  if (ext2fs_has_feature_journal_needs_recovery(s)) return "the journal needs recovery (needs_recovery)";
  if (s->s_error_count) return "the file system has recorded errors (s_error_count)";
  if (s->s_last_orphan || ext2fs_has_feature_orphan_present(s)) return "the file system has orphan inodes pending";
  if (EXT2_INODE_SIZE(s) < 256) return "128-byte inodes hold no nanosecond ctime";
  return NULL;
}

static ext2_filsys openFs(const char* device) {
  ext2_filsys fs;
  // No EXT2_FLAG_RW: read-only, by design.
  errcode_t err = ext2fs_open2(device, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SOFTSUPP_FEATURES, 0, 0, unix_io_manager, &fs);
  if (err) die("opening the file system", err);
  if ((err = ext2fs_read_inode_bitmap(fs))) die("reading the inode bitmap", err);
  return fs;
}

struct walk {
  ext2_filsys fs;
  EVP_MD_CTX* md;
  uint64_t buf[2 * 1024];
  size_t n;
  // trust only: ownership bitmaps (NULL at record time).
  uint8_t* seen;
  uint8_t* multi;
};

static void flush(struct walk* w) {
  if (w->n && !EVP_DigestUpdate(w->md, w->buf, w->n * sizeof w->buf[0])) die("sha256 failed", 0);
  w->n = 0;
}

static void own(struct walk* w, blk64_t b) {
  if (!w->seen || b >= ext2fs_blocks_count(w->fs->super)) return;
  uint8_t m = (uint8_t)(1u << (b & 7));
  if (w->seen[b >> 3] & m) w->multi[b >> 3] |= m;
  else w->seen[b >> 3] |= m;
}

static void add(struct walk* w, e2_blkcnt_t cnt, blk64_t b) {
  if (w->n + 2 > sizeof w->buf / sizeof w->buf[0]) flush(w);
  w->buf[w->n++] = (uint64_t)cnt;
  w->buf[w->n++] = (uint64_t)b;
  own(w, b);
}

static int onBlock(ext2_filsys fs, blk64_t* blocknr, e2_blkcnt_t blockcnt, blk64_t refBlk, int refOffset, void* priv) {
  (void)fs, (void)refBlk, (void)refOffset;
  add(priv, blockcnt, *blocknr);
  return 0;
}

// Walks inode ino's blocks (into w's hash and ownership bitmaps); hash gets the digest.
static void walkInode(struct walk* w, ext2_ino_t ino, struct ext2_inode_large* inode, uint8_t hash[HASH_BYTES], char* blockBuf) {
  if (!EVP_DigestInit_ex(w->md, EVP_sha256(), NULL)) die("sha256 failed", 0);
  w->n = 0;
  struct ext2_inode* in = (struct ext2_inode*)inode;
  if (ext2fs_inode_has_valid_blocks2(w->fs, in) && !(in->i_flags & EXT4_INLINE_DATA_FL)) {
    errcode_t err = ext2fs_block_iterate3(w->fs, ino, BLOCK_FLAG_READ_ONLY, blockBuf, onBlock, w);
    if (err) {
      char what[64];
      snprintf(what, sizeof what, "walking the blocks of inode %u", ino);
      die(what, err);
    }
  }
  blk64_t acl = ext2fs_file_acl_block(w->fs, in);
  // The xattr block, marked apart from the block list.
  if (acl) add(w, -1000, acl);
  flush(w);
  uint8_t full[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!EVP_DigestFinal_ex(w->md, full, &len)) die("sha256 failed", 0);
  memcpy(hash, full, HASH_BYTES);
}

// An inode whose ctime has nanoseconds and that may carry a record.
static int recordable(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large* inode) {
  struct ext2_super_block* s = fs->super;
  if (ino < EXT2_FIRST_INODE(s) && ino != EXT2_ROOT_INO) return 0;
  // Inodes the kernel writes into without updating their ctime (journal, quota files, the orphan
  // file, a snapshot), wherever their numbers are.
  if (ino == s->s_journal_inum || ino == s->s_usr_quota_inum || ino == s->s_grp_quota_inum || ino == s->s_prj_quota_inum || ino == s->s_orphan_file_inum || ino == s->s_snapshot_inum) return 0;
  if (inode->i_flags & EXT4_EA_INODE_FL) return 0; // its ctime field is a reference count
  return inode->i_extra_isize >= offsetof(struct ext2_inode_large, i_ctime_extra) + sizeof inode->i_ctime_extra - EXT2_GOOD_OLD_INODE_SIZE;
}

typedef void (*visitFn)(struct walk* w, ext2_ino_t ino, struct ext2_inode_large* inode, void* priv);

static void scan(ext2_filsys fs, struct walk* w, visitFn visit, void* priv) {
  ext2_inode_scan sc;
  errcode_t err = ext2fs_open_inode_scan(fs, 0, &sc);
  if (err) die("opening the inode scan", err);
  size_t isz = EXT2_INODE_SIZE(fs->super);
  struct ext2_inode_large* inode = xcalloc(1, isz < sizeof *inode ? sizeof *inode : isz);
  ext2_ino_t ino;
  for (;;) {
    err = ext2fs_get_next_inode_full(sc, &ino, (struct ext2_inode*)inode, (int)isz);
    // Any error (a bad block in an inode table, a checksum) ends the run: an inode not seen could
    // own a block another one is trusted for. Restore then compares every chunk.
    if (err) die("scanning the inodes", err);
    if (!ino) break;
    if (!ext2fs_test_inode_bitmap2(fs->inode_map, ino)) continue;
    visit(w, ino, inode, priv);
  }
  ext2fs_close_inode_scan(sc);
  free(inode);
}

// A swap file (or a hibernation image in one): the kernel writes swap pages straight to its
// blocks without touching the inode, so its record proves nothing; a stale hibernation signature
// left by a skipped chunk could even make the next boot resume an old session. Its signature sits
// in the last 10 bytes of its first page (util-linux mkswap, the kernel's swsusp). Files under
// 1 MiB are not checked (one read per checked file; swap files are far larger).
// Returns 1 and the signature (NUL-terminated) in sig, 0 for no swap file, -1 for an unreadable
// header (which trust counts as swap: not trusted).
static const char* const SWAP_SIGNATURES[] = { "SWAPSPACE2", "SWAP-SPACE", "S1SUSPEND", "S2SUSPEND", "ULSUSPEND", "LINHIB0001" };

static int swapSignature(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large* inode, char sig[16]) {
  struct ext2_inode* in = (struct ext2_inode*)inode;
  if (!LINUX_S_ISREG(in->i_mode) || EXT2_I_SIZE(in) < (1u << 20)) return 0;
  ext2_file_t f;
  if (ext2fs_file_open2(fs, ino, in, 0, &f)) return -1;
  char raw[10];
  unsigned int got = 0;
  errcode_t err = ext2fs_file_llseek(f, 4096 - sizeof raw, EXT2_SEEK_SET, NULL);
  if (!err) err = ext2fs_file_read(f, raw, sizeof raw, &got);
  ext2fs_file_close(f);
  if (err || got != sizeof raw) return -1;
  for (size_t i = 0; i < sizeof SWAP_SIGNATURES / sizeof SWAP_SIGNATURES[0]; i++)
    if (!memcmp(raw, SWAP_SIGNATURES[i], strlen(SWAP_SIGNATURES[i]))) {
      memset(sig, 0, 16);
      memcpy(sig, SWAP_SIGNATURES[i], strlen(SWAP_SIGNATURES[i]));
      return 1;
    }
  return 0;
}

static int isSwapFile(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large* inode) {
  char sig[16];
  return swapSignature(fs, ino, inode, sig) != 0;
}

// The block map of a file: its data blocks as runs (logical, physical, length), hashed. Extent-tree
// and indirect blocks are left out (never trusted by pagefile=skip; an extent split when an
// unwritten extent is written changes them, not the mapping). With `mark`, also sets the bits of
// its data blocks from logical block `keep` on.
struct blockMap {
  EVP_MD_CTX* md;
  uint64_t lstart, pstart, len;
  uint8_t* mark;
  blk64_t keep, max;
};

static void mapFlush(struct blockMap* m) {
  if (!m->len) return;
  uint64_t run[3] = { m->lstart, m->pstart, m->len };
  if (!EVP_DigestUpdate(m->md, run, sizeof run)) die("sha256 failed", 0);
  m->len = 0;
}

static int mapBlock(ext2_filsys fs, blk64_t* blocknr, e2_blkcnt_t blockcnt, blk64_t refBlk, int refOffset, void* priv) {
  (void)fs, (void)refBlk, (void)refOffset;
  struct blockMap* m = priv;
  if (blockcnt < 0) return 0;
  if (m->len && (uint64_t)blockcnt == m->lstart + m->len && *blocknr == m->pstart + m->len) m->len++;
  else {
    mapFlush(m);
    m->lstart = (uint64_t)blockcnt, m->pstart = *blocknr, m->len = 1;
  }
  if (m->mark && (blk64_t)blockcnt >= m->keep && *blocknr < m->max) m->mark[*blocknr >> 3] |= (uint8_t)(1u << (*blocknr & 7));
  return 0;
}

static void blockMapHash(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large* inode, char* blockBuf, uint8_t out[32], uint8_t* mark) {
  struct blockMap m = { .md = EVP_MD_CTX_new(), .mark = mark, .keep = SWAP_KEEP_BYTES / fs->blocksize, .max = ext2fs_blocks_count(fs->super) };
  if (!m.md || !EVP_DigestInit_ex(m.md, EVP_sha256(), NULL)) die("sha256 failed", 0);
  struct ext2_inode* in = (struct ext2_inode*)inode;
  if (ext2fs_inode_has_valid_blocks2(fs, in) && !(in->i_flags & EXT4_INLINE_DATA_FL)) {
    errcode_t err = ext2fs_block_iterate3(fs, ino, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY, blockBuf, mapBlock, &m);
    if (err) die("walking the blocks of a swap file", err);
  }
  mapFlush(&m);
  unsigned len = 0;
  if (!EVP_DigestFinal_ex(m.md, out, &len)) die("sha256 failed", 0);
  EVP_MD_CTX_free(m.md);
}

struct recordOut {
  FILE* f;
  uint32_t n;
  char* blockBuf;
  struct swapEntry swaps[MAX_SWAP_ENTRIES];
  uint32_t nswaps;
};

static void recordOne(struct walk* w, ext2_ino_t ino, struct ext2_inode_large* inode, void* priv) {
  struct recordOut* o = priv;
  if (!recordable(w->fs, ino, inode)) return;
  struct record r = { .ino = ino, .generation = inode->i_generation, .ctime = inode->i_ctime, .ctimeExtra = inode->i_ctime_extra };
  walkInode(w, ino, inode, r.hash, o->blockBuf);
  if (fwrite(&r, sizeof r, 1, o->f) != 1) die("writing the table", errno);
  o->n++;
  // Swap files, plain or holding a hibernation image (trust tells them apart by the signature).
  // Beyond MAX_SWAP_ENTRIES the rest get none: pagefile=skip never leaves those alone.
  struct swapEntry e = { .ino = ino, .generation = inode->i_generation };
  if (o->nswaps < MAX_SWAP_ENTRIES && swapSignature(w->fs, ino, inode, e.signature) == 1) {
    blockMapHash(w->fs, ino, inode, o->blockBuf, e.map, NULL);
    o->swaps[o->nswaps++] = e;
  }
}

struct trustState {
  struct record* recs;
  uint32_t nrecs, next;
  uint8_t* cand;
  uint32_t trustedInodes;
  uint32_t swapFiles;
  char* blockBuf;
  // --pagefile-skip: the table's swap files (NULL: the table has no section), which of them were
  // met in the scan, the blocks left alone, and the first reason one was not.
  int pagefileSkip;
  struct swapEntry* swaps;
  uint32_t nswaps, nextSwap;
  uint8_t* swapMet;
  uint8_t* pf;
  char pfWhy[200];
};

static void pagefileNot(struct trustState* t, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void pagefileNot(struct trustState* t, const char* fmt, ...) {
  if (t->pfWhy[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->pfWhy, sizeof t->pfWhy, fmt, ap);
  va_end(ap);
}

// pagefile=skip for the inode `ino` the table holds swap entry e for: mark its data blocks beyond
// the first MiB when it is plain swap at backup with the same inode and block map now.
static void pagefileSwap(struct walk* w, struct trustState* t, const struct swapEntry* e, ext2_ino_t ino, struct ext2_inode_large* inode) {
  if (strncmp(e->signature, "SWAPSPACE2", sizeof e->signature)) {
    pagefileNot(t, "the swap file (inode %u) held %.16s at backup, not plain swap (SWAPSPACE2: a hibernation image or old-style swap)", ino, e->signature);
    return;
  }
  struct ext2_inode* in = (struct ext2_inode*)inode;
  if (e->generation != inode->i_generation || !LINUX_S_ISREG(in->i_mode)) {
    pagefileNot(t, "the swap file of the backup (inode %u) was deleted or recreated since", ino);
    return;
  }
  uint8_t now[32];
  blockMapHash(w->fs, ino, inode, t->blockBuf, now, NULL);
  if (memcmp(now, e->map, 32)) {
    pagefileNot(t, "the swap file's blocks are not the ones it had at backup (its block map differs: resized, moved or recreated)");
    return;
  }
  // The same map again, marking (its extent tree is in the cache now).
  blockMapHash(w->fs, ino, inode, t->blockBuf, now, t->pf);
}

struct mark {
  uint8_t* cand;
  blk64_t max;
};

static int markBlock(ext2_filsys fs, blk64_t* blocknr, e2_blkcnt_t blockcnt, blk64_t refBlk, int refOffset, void* priv) {
  (void)fs, (void)blockcnt, (void)refBlk, (void)refOffset;
  struct mark* m = priv;
  if (*blocknr < m->max) m->cand[*blocknr >> 3] |= (uint8_t)(1u << (*blocknr & 7));
  return 0;
}

static void trustOne(struct walk* w, ext2_ino_t ino, struct ext2_inode_large* inode, void* priv) {
  struct trustState* t = priv;
  uint8_t hash[HASH_BYTES];
  // Every in-use inode counts as an owner (reserved ones and those without records too).
  walkInode(w, ino, inode, hash, t->blockBuf);
  if (t->pagefileSkip && t->swaps) {
    while (t->nextSwap < t->nswaps && t->swaps[t->nextSwap].ino < ino) t->nextSwap++;
    if (t->nextSwap < t->nswaps && t->swaps[t->nextSwap].ino == ino) {
      t->swapMet[t->nextSwap] = 1;
      pagefileSwap(w, t, &t->swaps[t->nextSwap], ino, inode);
    }
  }
  while (t->next < t->nrecs && t->recs[t->next].ino < ino) t->next++;
  if (t->next >= t->nrecs || t->recs[t->next].ino != ino) return;
  const struct record* r = &t->recs[t->next];
  if (!recordable(w->fs, ino, inode) || r->generation != inode->i_generation || r->ctime != inode->i_ctime || r->ctimeExtra != inode->i_ctime_extra || memcmp(r->hash, hash, HASH_BYTES)) return;
  if (isSwapFile(w->fs, ino, inode)) {
    t->swapFiles++;
    return;
  }
  // Same block list as at backup: mark its blocks as candidates (a second walk over metadata
  // that is in the cache now).
  struct ext2_inode* in = (struct ext2_inode*)inode;
  struct mark m = { t->cand, ext2fs_blocks_count(w->fs->super) };
  if (ext2fs_inode_has_valid_blocks2(w->fs, in) && !(in->i_flags & EXT4_INLINE_DATA_FL)) {
    errcode_t err = ext2fs_block_iterate3(w->fs, ino, BLOCK_FLAG_READ_ONLY, t->blockBuf, markBlock, &m);
    if (err) die("walking the blocks of a trusted inode", err);
  }
  // The xattr block is never trusted: it can be shared, and its reference count changes (another
  // inode dropping it) without this inode's ctime changing. It is in the hash all the same.
  t->trustedInodes++;
}

static uint64_t lastCheck(const struct ext2_super_block* s) {
  return (uint64_t)s->s_lastcheck | ((uint64_t)s->s_lastcheck_hi << 32);
}

static int cmdRecord(const char* device, const char* out) {
  ext2_filsys fs = openFs(device);
  const char* why = untrustworthy(fs);
  if (why) {
    printf("SKIP %s\n", why);
    ext2fs_close_free(&fs);
    return 0;
  }
  FILE* f = fopen(out, "wbx");
  if (!f) die("creating the table", errno);
  struct ext2_super_block* s = fs->super;
  struct header h = { .blockSize = fs->blocksize, .inodesCount = s->s_inodes_count, .blocksCount = ext2fs_blocks_count(s), .featureCompat = s->s_feature_compat, .featureIncompat = s->s_feature_incompat, .featureRoCompat = s->s_feature_ro_compat, .lastCheck = lastCheck(s) };
  memcpy(h.magic, MAGIC, 8);
  memcpy(h.uuid, fs->super->s_uuid, 16);
  if (fwrite(&h, sizeof h, 1, f) != 1) die("writing the table", errno);
  struct walk w = { .fs = fs, .md = EVP_MD_CTX_new() };
  if (!w.md) die("out of memory", 0);
  // (57 KiB of swap entries on the stack)
  struct recordOut o = { .f = f, .blockBuf = xcalloc(3, fs->blocksize) };
  scan(fs, &w, recordOne, &o);
  h.records = o.n;
  struct swapSection sw = { .count = o.nswaps };
  memcpy(sw.magic, SWAP_MAGIC, 8);
  if (fwrite(&sw, sizeof sw, 1, f) != 1 || (o.nswaps && fwrite(o.swaps, sizeof o.swaps[0], o.nswaps, f) != o.nswaps)) die("writing the table", errno);
  if (fseek(f, 0, SEEK_SET) || fwrite(&h, sizeof h, 1, f) != 1 || fflush(f) || fsync(fileno(f)) || fclose(f)) die("writing the table", errno);
  printf("OK %u\n", o.n);
  ext2fs_close_free(&fs);
  return 0;
}

static int cmdTrust(const char* device, const char* table, const char* bitmapOut, int pagefileSkip) {
  FILE* f = fopen(table, "rb");
  if (!f) die("opening the table", errno);
  struct header h;
  if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, MAGIC, 8)) die("the inode table is damaged (header)", 0);
  struct record* recs = xcalloc(h.records ? h.records : 1, sizeof *recs);
  if (h.records && fread(recs, sizeof *recs, h.records, f) != h.records) die("the inode table is damaged (truncated)", 0);
  // The swap file section; a table from before it ends after the records.
  struct swapSection sw = { .count = 0 };
  struct swapEntry* swaps = NULL;
  size_t got = fread(&sw, 1, sizeof sw, f);
  if (got) {
    if (got != sizeof sw || memcmp(sw.magic, SWAP_MAGIC, 8) || sw.count > MAX_SWAP_ENTRIES) die("the inode table is damaged (swap files)", 0);
    swaps = xcalloc(sw.count ? sw.count : 1, sizeof *swaps);
    if (sw.count && fread(swaps, sizeof *swaps, sw.count, f) != sw.count) die("the inode table is damaged (swap files truncated)", 0);
    for (uint32_t i = 1; i < sw.count; i++)
      if (swaps[i].ino <= swaps[i - 1].ino) die("the inode table is damaged (swap files not sorted)", 0);
  } else if (ferror(f)) die("reading the table", errno);
  fclose(f);
  for (uint32_t i = 1; i < h.records; i++)
    if (recs[i].ino <= recs[i - 1].ino) die("the inode table is damaged (not sorted)", 0);

  ext2_filsys fs = openFs(device);
  const char* why = untrustworthy(fs);
  if (!why && memcmp(h.uuid, fs->super->s_uuid, 16)) why = "the file system's UUID differs from the one the inode table was taken of";
  if (!why && (h.blockSize != fs->blocksize || h.blocksCount != ext2fs_blocks_count(fs->super) || h.inodesCount != fs->super->s_inodes_count))
    why = "the file system's geometry (block size, blocks, inodes) differs from the inode table's";
  if (!why && (h.featureCompat != fs->super->s_feature_compat || h.featureIncompat != fs->super->s_feature_incompat || h.featureRoCompat != fs->super->s_feature_ro_compat))
    why = "the file system's features changed since the backup (tune2fs)";
  if (!why && h.lastCheck != lastCheck(fs->super)) why = "e2fsck checked the file system since the backup (its repairs do not update ctimes)";
  if (why) {
    printf("UNTRUSTED %s\n", why);
    ext2fs_close_free(&fs);
    return 0;
  }
  uint64_t blocks = ext2fs_blocks_count(fs->super);
  size_t bytes = (size_t)((blocks + 7) / 8);
  struct walk w = { .fs = fs, .md = EVP_MD_CTX_new(), .seen = xcalloc(bytes, 1), .multi = xcalloc(bytes, 1) };
  if (!w.md) die("out of memory", 0);
  struct trustState t = { .recs = recs, .nrecs = h.records, .cand = xcalloc(bytes, 1), .blockBuf = xcalloc(3, fs->blocksize), .pagefileSkip = pagefileSkip, .swaps = swaps, .nswaps = sw.count, .swapMet = xcalloc(sw.count ? sw.count : 1, 1), .pf = xcalloc(bytes, 1) };
  scan(fs, &w, trustOne, &t);
  if (pagefileSkip) {
    if (!swaps) pagefileNot(&t, "the image's inode table has no swap file block maps (taken before netimage recorded them)");
    else if (!sw.count) pagefileNot(&t, "the image had no swap file at backup (a file whose first page ends in SWAPSPACE2)");
    for (uint32_t i = 0; i < sw.count; i++)
      if (!t.swapMet[i]) pagefileNot(&t, "the swap file of the backup (inode %u) was deleted since", swaps[i].ino);
    // Allocated blocks only: a consistent file system has every mapped block allocated; one that
    // is not was never the swap file's to vouch for.
    errcode_t err = ext2fs_read_block_bitmap(fs);
    if (err) die("reading the block bitmap", err);
    for (size_t i = 0; i < bytes; i++) {
      t.pf[i] &= (uint8_t)~w.multi[i];
      for (unsigned b = 0; t.pf[i] && b < 8; b++)
        if ((t.pf[i] & (1u << b)) && !ext2fs_test_block_bitmap2(fs->block_map, (blk64_t)i * 8 + b)) t.pf[i] &= (uint8_t)~(1u << b);
    }
  }
  uint64_t trusted = 0, pfBlocks = 0;
  for (size_t i = 0; i < bytes; i++) {
    pfBlocks += (uint64_t)__builtin_popcount(t.pf[i]);
    t.cand[i] = (uint8_t)((t.cand[i] & ~w.multi[i]) | t.pf[i]);
    trusted += (uint64_t)__builtin_popcount(t.cand[i]);
  }
  FILE* o = fopen(bitmapOut, "wb");
  if (!o || fwrite(t.cand, 1, bytes, o) != bytes || fclose(o)) die("writing the trusted-block bitmap", errno);
  if (pagefileSkip) {
    if (t.pfWhy[0]) printf("PAGEFILE %llu %s\n", (unsigned long long)pfBlocks, t.pfWhy);
    else printf("PAGEFILE %llu\n", (unsigned long long)pfBlocks);
  }
  printf("OK %u %llu %llu %u %u\n", fs->blocksize, (unsigned long long)blocks, (unsigned long long)trusted, t.trustedInodes, t.swapFiles);
  ext2fs_close_free(&fs);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  add_error_table(&et_ext2_error_table);
  if (argc == 4 && !strcmp(argv[1], "record")) return cmdRecord(argv[2], argv[3]);
  if (argc == 5 && !strcmp(argv[1], "trust")) return cmdTrust(argv[2], argv[3], argv[4], 0);
  if (argc == 6 && !strcmp(argv[1], "trust") && !strcmp(argv[2], "--pagefile-skip")) return cmdTrust(argv[3], argv[4], argv[5], 1);
  fprintf(stderr, "usage: ext4records record <device> <table-out> | trust [--pagefile-skip] <device> <table> <bitmap-out>\n");
  return 2;
}
