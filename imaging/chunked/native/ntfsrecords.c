// ntfsrecords: what an NTFS volume says about its own files, so a delta restore can skip reading
// clusters whose file provably did not change (docs/imaging.md "Delta restore with file-system
// records", NTFS). The NTFS twin of ext4records.c, with the same commands and output. Built on
// libntfs-3g (ntfs-3g-dev); the volume is only ever mounted NTFS_MNT_RDONLY (the device is opened
// O_RDONLY; a read-only loop device works). The MFT is read through the library (records with
// their fixups applied, attributes walked by its search context, runlists decoded by its mapping
// pairs decoder): nothing here parses NTFS by hand.
//
//   ntfsrecords record <device> <table-out>
//     At backup. Per in-use base MFT record (files and directories): its number, sequence number
//     and a sha256 of its bytes (after fixups) followed by those of all its extension records
//     (attribute lists) in record order. Any change NTFS makes to a file rewrites its record:
//     times in $STANDARD_INFORMATION (ntfs-3g bumps the MFT-change time on every write), sizes,
//     runlists, the record's $LogFile LSN and its update sequence number (bumped on every write
//     of the record). Plus the volume's identity: serial number, cluster size, total clusters.
//     stdout: "OK <records>" or "SKIP <reason>" (no file written: dirty, unclean $LogFile, ...).
//     After the records, for pagefile.sys / swapfile.sys: number, sequence number and a sha256 of
//     the file's runlist (VCN, LCN, length of every allocated run of its non-resident $DATA), so a
//     restore can see whether those clusters are still the pagefile's (header flag SWAP_RUNLISTS;
//     tables without it are still read: the pagefile is then never left alone).
//
//   ntfsrecords trust [--pagefile-skip] <device> <table> <bitmap-out>
//     At restore. The trust rule: cluster c is trusted only when it belongs now to a non-resident
//     $DATA attribute (named or unnamed) of a base record whose number, sequence number and hash
//     equal the table's, to no other attribute of any record, and is allocated in $Bitmap. Never
//     trusted: system files (records < 24, and everything under $Extend: $UsnJrnl, $Quota,
//     $ObjId, $Reparse, $RmMetadata...), hence $MFT/$MFTMirr/$LogFile/$Bitmap data; index
//     allocations and every attribute type other than $DATA (directories change their index
//     blocks without their record changing); free clusters; pagefile.sys, swapfile.sys and
//     hiberfil.sys (Windows writes them without touching their record). Nothing is trusted when
//     the serial number, cluster size or cluster count differ from the table's, the volume is
//     dirty ($VOLUME_INFORMATION), the $LogFile holds unflushed changes (a crash) or Windows is
//     hibernated / Fast Startup left the volume in use (hiberfil.sys). Writes one bit per cluster
//     (bit c: byte c/8, mask 1 << c%8; partclone.ntfs's block is the cluster). stdout: "OK
//     <clusterSize> <clusters> <trusted clusters> <trusted files> <never-trusted swap-like files
//     unchanged>" or "UNTRUSTED <reason>" (no bitmap written).
//     --pagefile-skip (restore property pagefile=skip): also trusted, the clusters of a
//     pagefile.sys / swapfile.sys whose runlist (and record number, sequence number) equals the
//     table's, except those holding its first 1 MiB of VCNs. Windows never reads a pagefile's old
//     content back after a boot; only a crash dump header at its start is (SMSS makes MEMORY.DMP
//     of it), so that part stays compared. The runlist must be the backup's: clusters that are
//     the pagefile's now but held another file in the image must be restored. hiberfil.sys (a
//     resumable memory image) is never left alone. Before the OK line: "PAGEFILE <clusters>"
//     (all such files left alone) or "PAGEFILE <clusters> <reason>" (at least one compared).
//
// Errors: one line on stderr, exit 1 (usage: 2).
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
// libntfs-3g's headers expect its config.h: these say what glibc has (time.h, sys/stat.h: else
// ntfstime.h declares its own struct timespec; endian.h, stdarg.h).
#define HAVE_TIME_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_ENDIAN_H 1
#define HAVE_STDARG_H 1
#define HAVE_ERRNO_H 1
#include <ntfs-3g/types.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/device.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/layout.h>
#include <ntfs-3g/logfile.h>
#include <ntfs-3g/logging.h>
#include <ntfs-3g/mft.h>
#include <ntfs-3g/runlist.h>
#include <ntfs-3g/volume.h>

#define MAGIC "NINTFRC1"
#define SWAP_MAGIC "NINTFSW1"
// header.flags: the swap runlist section follows the records (older tables: 0, no section).
#define SWAP_RUNLISTS 1u
// pagefile=skip keeps this much of the start of the file (in VCNs) compared: the crash dump header.
#define PAGEFILE_KEEP_BYTES (1024 * 1024)
// swapLike values (bits): paging files that may be left alone, hiberfil.sys which never is.
#define SWAP_PAGEFILE 1
#define SWAP_HIBERFIL 2
#define HASH_BYTES 16
// Records below this are the NTFS metafiles and the ones reserved for them (FILE_first_user is 16;
// 16-23 are reserved and Windows puts $Extend's children there or just above).
#define FIRST_NORMAL_RECORD 24
#define BATCH 256

struct header {
  char magic[8];
  uint64_t serial;
  uint32_t clusterSize;
  uint32_t mftRecordSize;
  uint64_t clusters;
  uint32_t records;
  uint32_t flags; // was "reserved" (0) before SWAP_RUNLISTS
};

struct swapSection {
  char magic[8];
  uint32_t count;
  uint32_t reserved;
};

struct swapEntry {
  uint32_t num;
  uint16_t seq;
  uint16_t reserved;
  uint8_t runlist[32]; // sha256 of the (vcn, lcn, length) triples of its allocated $DATA runs
};

struct record {
  uint32_t num;
  uint16_t seq;
  uint16_t reserved;
  uint8_t hash[HASH_BYTES];
};

static void die(const char* what, int err) {
  if (err) fprintf(stderr, "ntfsrecords: %s: %s\n", what, strerror(err));
  else fprintf(stderr, "ntfsrecords: %s\n", what);
  exit(1);
}

static void* xcalloc(size_t n, size_t size) {
  void* p = calloc(n ? n : 1, size);
  if (!p) die("out of memory", 0);
  return p;
}

static void* xrealloc(void* p, size_t size) {
  p = realloc(p, size);
  if (!p) die("out of memory", 0);
  return p;
}

static ntfs_volume* openVolume(const char* device) {
  // Read-only by design: the device is opened O_RDONLY and nothing is written (ntfs-3g checks
  // neither $LogFile nor hibernation on read-only mounts: untrustworthy() does).
  ntfs_volume* vol = ntfs_mount(device, NTFS_MNT_RDONLY);
  if (!vol) die("opening the NTFS volume", errno);
  return vol;
}

static uint64_t serialOf(ntfs_volume* vol) {
  NTFS_BOOT_SECTOR bs;
  if (ntfs_pread(vol->dev, 0, sizeof bs, &bs) != (s64)sizeof bs) die("reading the boot sector", errno);
  return le64_to_cpu(bs.volume_serial_number);
}

// Why the volume's own records cannot be trusted (NULL: they can).
static const char* untrustworthy(ntfs_volume* vol) {
  if (vol->flags & VOLUME_IS_DIRTY) return "the volume is marked dirty ($VOLUME_INFORMATION): Windows or ntfs-3g did not finish with it, chkdsk is pending";
  ntfs_inode* ni = ntfs_inode_open(vol, FILE_LogFile);
  if (!ni) die("opening $LogFile", errno);
  ntfs_attr* na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
  if (!na) die("opening $LogFile's data", errno);
  RESTART_PAGE_HEADER* rp = NULL;
  const char* why = NULL;
  if (!ntfs_check_logfile(na, &rp) || !ntfs_is_logfile_clean(na, rp)) why = "the $LogFile holds unflushed changes (Windows crashed, or hibernated / Fast Startup)";
  free(rp);
  ntfs_attr_close(na);
  ntfs_inode_close(ni);
  if (why) return why;
  // Fails with EPERM when hiberfil.sys holds an active hibernation image (Fast Startup too): the
  // volume as the image saw it is in Windows' memory, not on disk.
  if (ntfs_volume_check_hiberfile(vol, 0) < 0 && errno == EPERM) return "Windows is hibernated on this volume (hiberfil.sys: hibernation or Fast Startup)";
  return NULL;
}

struct run {
  uint32_t base;
  int64_t vcn;
  int64_t lcn;
  int64_t len;
};

// One pass over the MFT: every record in use, its hash, its base, what it owns.
struct scan {
  ntfs_volume* vol;
  uint64_t nrecs;
  uint64_t clusters;
  uint8_t* mftBitmap;
  uint8_t* inUse;       // per record: 2 an allocated base record in use, 1 any other record in use
  uint8_t (*rhash)[32]; // per record: sha256 of its bytes
  uint32_t* base;       // per record: its base record
  uint16_t* seq;
  int64_t* firstExt;    // per base record: first extension record (-1: none)
  int64_t* nextExt;
  uint32_t* lastExt;
  uint8_t* underExtend; // per record: has a name in $Extend or below
  uint8_t* swapLike;    // per record: SWAP_PAGEFILE (pagefile.sys, swapfile.sys) | SWAP_HIBERFIL
  uint32_t (*edges)[2]; // (child, parent) from every $FILE_NAME
  size_t nedges, capEdges;
  struct run* data;     // non-resident $DATA runs
  size_t ndata, capData;
  uint8_t* seen;        // per cluster: claimed by an attribute
  uint8_t* multi;       // per cluster: claimed more than once
};

static int bit(const uint8_t* b, uint64_t i) { return b[i >> 3] & (1u << (i & 7)); }

static void claim(struct scan* s, int64_t lcn, int64_t len) {
  if (lcn < 0 || len <= 0) return;
  for (int64_t c = lcn; c < lcn + len; c++) {
    // A run beyond the volume: a damaged runlist; everything it touches stays untrusted.
    if ((uint64_t)c >= s->clusters) break;
    uint8_t m = (uint8_t)(1u << (c & 7));
    if (s->seen[c >> 3] & m) s->multi[c >> 3] |= m;
    else s->seen[c >> 3] |= m;
  }
}

static int nameIs(const FILE_NAME_ATTR* fn, const char* ascii) {
  size_t n = strlen(ascii);
  if (fn->file_name_length != n) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned c = le16_to_cpu(fn->file_name[i]);
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    if (c != (unsigned char)ascii[i]) return 0;
  }
  return 1;
}

static void attributes(struct scan* s, uint32_t r, MFT_RECORD* rec) {
  uint32_t b = s->base[r];
  ntfs_attr_search_ctx* ctx = ntfs_attr_get_search_ctx(NULL, rec);
  if (!ctx) die("walking attributes", errno);
  while (!ntfs_attrs_walk(ctx)) {
    ATTR_RECORD* a = ctx->attr;
    if (a->type == AT_FILE_NAME && !a->non_resident) {
      // The library checked the attribute's length against the record; its value is ours to check.
      uint32_t voff = le16_to_cpu(a->value_offset), vlen = le32_to_cpu(a->value_length);
      const FILE_NAME_ATTR* fn = (const FILE_NAME_ATTR*)((const u8*)a + voff);
      if (voff + (uint64_t)vlen > le32_to_cpu(a->length) || vlen < sizeof *fn || vlen < sizeof *fn + fn->file_name_length * sizeof(ntfschar)) {
        char what[80];
        snprintf(what, sizeof what, "a damaged $FILE_NAME in MFT record %u", r);
        die(what, 0);
      }
      uint64_t parent = MREF_LE(fn->parent_directory);
      if (s->nedges == s->capEdges) s->edges = xrealloc(s->edges, (s->capEdges = s->capEdges * 2 + 1024) * sizeof *s->edges);
      s->edges[s->nedges][0] = b;
      s->edges[s->nedges][1] = parent < UINT32_MAX ? (uint32_t)parent : UINT32_MAX;
      s->nedges++;
      if (nameIs(fn, "pagefile.sys") || nameIs(fn, "swapfile.sys")) s->swapLike[b] |= SWAP_PAGEFILE;
      if (nameIs(fn, "hiberfil.sys")) s->swapLike[b] |= SWAP_HIBERFIL;
    }
    if (!a->non_resident) continue;
    runlist_element* rl = ntfs_mapping_pairs_decompress(s->vol, a, NULL);
    if (!rl) {
      char what[80];
      snprintf(what, sizeof what, "decoding a runlist of MFT record %u", r);
      die(what, errno);
    }
    for (runlist_element* e = rl; e->length; e++) {
      if (e->lcn < 0) continue;
      claim(s, e->lcn, e->length);
      if (a->type == AT_DATA) {
        if (s->ndata == s->capData) s->data = xrealloc(s->data, (s->capData = s->capData * 2 + 1024) * sizeof *s->data);
        s->data[s->ndata++] = (struct run){ .base = b, .vcn = e->vcn, .lcn = e->lcn, .len = e->length };
      }
    }
    free(rl);
  }
  if (errno != ENOENT) die("walking attributes", errno);
  ntfs_attr_put_search_ctx(ctx);
}

static void scanMft(struct scan* s) {
  ntfs_volume* vol = s->vol;
  s->nrecs = (uint64_t)vol->mft_na->initialized_size >> vol->mft_record_size_bits;
  if (s->nrecs >= UINT32_MAX) die("the MFT has more records than this helper handles", 0);
  s->clusters = (uint64_t)vol->nr_clusters;
  size_t bmBytes = (size_t)((s->nrecs + 7) / 8);
  s->mftBitmap = xcalloc(bmBytes, 1);
  s64 have = vol->mftbmp_na->initialized_size < (s64)bmBytes ? vol->mftbmp_na->initialized_size : (s64)bmBytes;
  if (ntfs_attr_pread(vol->mftbmp_na, 0, have, s->mftBitmap) != have) die("reading the MFT bitmap", errno);
  size_t n = (size_t)s->nrecs;
  s->inUse = xcalloc(n, 1);
  s->rhash = xcalloc(n, sizeof *s->rhash);
  s->base = xcalloc(n, sizeof *s->base);
  s->seq = xcalloc(n, sizeof *s->seq);
  s->firstExt = xcalloc(n, sizeof *s->firstExt);
  s->nextExt = xcalloc(n, sizeof *s->nextExt);
  s->lastExt = xcalloc(n, sizeof *s->lastExt);
  s->underExtend = xcalloc(n, 1);
  s->swapLike = xcalloc(n, 1);
  size_t cb = (size_t)((s->clusters + 7) / 8);
  s->seen = xcalloc(cb, 1);
  s->multi = xcalloc(cb, 1);
  for (size_t i = 0; i < n; i++) s->firstExt[i] = s->nextExt[i] = -1;

  size_t rs = vol->mft_record_size;
  u8* buf = xcalloc(BATCH, rs);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (!md) die("out of memory", 0);
  for (uint64_t start = 0; start < s->nrecs; start += BATCH) {
    uint64_t count = s->nrecs - start < BATCH ? s->nrecs - start : BATCH;
    if (ntfs_mft_records_read(vol, MK_MREF(start, 0), (s64)count, (MFT_RECORD*)buf)) die("reading the MFT", errno);
    for (uint64_t i = 0; i < count; i++) {
      uint32_t r = (uint32_t)(start + i);
      MFT_RECORD* rec = (MFT_RECORD*)(buf + i * rs);
      int allocated = bit(s->mftBitmap, r) != 0;
      int isFile = ntfs_is_file_record(rec->magic);
      int inUse = isFile && (rec->flags & MFT_RECORD_IN_USE);
      if (!inUse) {
        // Allocated in $MFT's bitmap but no readable record (a torn write: "BAAD", damage): the
        // file it held could own anything; the restore then compares every chunk. Free records
        // whose bitmap bit is still set (a deletion between its two writes; Windows' reserved
        // records 16-23) own nothing.
        if (allocated && !isFile && r >= FIRST_NORMAL_RECORD) {
          char what[96];
          snprintf(what, sizeof what, "MFT record %u is allocated but unreadable (damaged or torn)", r);
          die(what, 0);
        }
        continue;
      }
      unsigned len = 0;
      if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL) || !EVP_DigestUpdate(md, rec, rs) || !EVP_DigestFinal_ex(md, s->rhash[r], &len)) die("sha256 failed", 0);
      uint64_t b = MREF_LE(rec->base_mft_record);
      if (b >= s->nrecs) die("an extension record names a base record beyond the MFT", 0);
      // In use but not allocated in the bitmap: it still counts as an owner (what it claims is
      // not trusted for anyone else), but it is neither recorded nor trusted itself.
      s->inUse[r] = !allocated ? 1 : b ? 1 : 2;
      s->base[r] = b ? (uint32_t)b : r;
      s->seq[r] = le16_to_cpu(rec->sequence_number);
      if (b) {
        // Extensions in record order, per base (a base may sit after its extensions).
        if (s->firstExt[b] < 0) s->firstExt[b] = r;
        else s->nextExt[s->lastExt[b]] = r;
        s->lastExt[b] = r;
      }
      attributes(s, r, rec);
    }
  }
  EVP_MD_CTX_free(md);
  free(buf);
  // Under $Extend: a name in $Extend, or in a directory under it (its own records are in use
  // far above 24: $UsnJrnl, $RmMetadata\$Txf...). Depth is small: repeat until nothing changes.
  for (int changed = 1; changed;) {
    changed = 0;
    for (size_t e = 0; e < s->nedges; e++) {
      uint32_t child = s->edges[e][0], parent = s->edges[e][1];
      if (s->underExtend[child]) continue;
      if (parent == FILE_Extend || (parent < s->nrecs && s->underExtend[parent])) s->underExtend[child] = changed = 1;
    }
  }
}

// The hash of base record b: its bytes' hash, then each extension's number and hash.
static void fileHash(struct scan* s, uint32_t b, uint8_t out[HASH_BYTES]) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) || !EVP_DigestUpdate(md, s->rhash[b], 32)) die("sha256 failed", 0);
  for (int64_t e = s->firstExt[b]; e >= 0; e = s->nextExt[e]) {
    uint32_t num = (uint32_t)e;
    if (!EVP_DigestUpdate(md, &num, sizeof num) || !EVP_DigestUpdate(md, s->rhash[e], 32)) die("sha256 failed", 0);
  }
  uint8_t full[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!EVP_DigestFinal_ex(md, full, &len)) die("sha256 failed", 0);
  EVP_MD_CTX_free(md);
  memcpy(out, full, HASH_BYTES);
}

// A file the pagefile rule may leave alone: a paging file by name and by nothing else.
static int pagefileLike(const struct scan* s, uint32_t r) { return s->swapLike[r] == SWAP_PAGEFILE && s->inUse[r] == 2 && r >= FIRST_NORMAL_RECORD && !s->underExtend[r]; }

// sha256 of base record b's allocated $DATA runs (vcn, lcn, length), in the order the MFT scan
// met them (record order, attribute order): any move, growth or shrink changes it.
static void runlistHash(const struct scan* s, uint32_t b, uint8_t out[32]) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) die("sha256 failed", 0);
  for (size_t i = 0; i < s->ndata; i++) {
    const struct run* d = &s->data[i];
    if (d->base != b) continue;
    int64_t t[3] = { d->vcn, d->lcn, d->len };
    if (!EVP_DigestUpdate(md, t, sizeof t)) die("sha256 failed", 0);
  }
  unsigned len = 0;
  if (!EVP_DigestFinal_ex(md, out, &len)) die("sha256 failed", 0);
  EVP_MD_CTX_free(md);
}

static int cmdRecord(const char* device, const char* out) {
  ntfs_volume* vol = openVolume(device);
  const char* why = untrustworthy(vol);
  if (why) {
    printf("SKIP %s\n", why);
    ntfs_umount(vol, FALSE);
    return 0;
  }
  struct scan s = { .vol = vol };
  scanMft(&s);
  FILE* f = fopen(out, "wbx");
  if (!f) die("creating the table", errno);
  struct header h = { .serial = serialOf(vol), .clusterSize = vol->cluster_size, .mftRecordSize = vol->mft_record_size, .clusters = s.clusters, .flags = SWAP_RUNLISTS };
  memcpy(h.magic, MAGIC, 8);
  if (fwrite(&h, sizeof h, 1, f) != 1) die("writing the table", errno);
  for (uint32_t r = 0; r < s.nrecs; r++) {
    if (s.inUse[r] != 2) continue;
    struct record rec = { .num = r, .seq = s.seq[r] };
    fileHash(&s, r, rec.hash);
    if (fwrite(&rec, sizeof rec, 1, f) != 1) die("writing the table", errno);
    h.records++;
  }
  struct swapSection sw = { .count = 0 };
  memcpy(sw.magic, SWAP_MAGIC, 8);
  for (uint32_t r = 0; r < s.nrecs; r++) sw.count += pagefileLike(&s, r) ? 1 : 0;
  if (fwrite(&sw, sizeof sw, 1, f) != 1) die("writing the table", errno);
  for (uint32_t r = 0; r < s.nrecs; r++) {
    if (!pagefileLike(&s, r)) continue;
    struct swapEntry e = { .num = r, .seq = s.seq[r] };
    runlistHash(&s, r, e.runlist);
    if (fwrite(&e, sizeof e, 1, f) != 1) die("writing the table", errno);
  }
  if (fseek(f, 0, SEEK_SET) || fwrite(&h, sizeof h, 1, f) != 1 || fflush(f) || fsync(fileno(f)) || fclose(f)) die("writing the table", errno);
  printf("OK %u\n", h.records);
  ntfs_umount(vol, FALSE);
  return 0;
}

static int cmdTrust(const char* device, const char* table, const char* bitmapOut, int pagefileSkip) {
  FILE* f = fopen(table, "rb");
  if (!f) die("opening the table", errno);
  struct header h;
  if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, MAGIC, 8)) die("the record table is damaged (header)", 0);
  struct record* recs = xcalloc(h.records, sizeof *recs);
  if (h.records && fread(recs, sizeof *recs, h.records, f) != h.records) die("the record table is damaged (truncated)", 0);
  struct swapSection sw = { .count = 0 };
  struct swapEntry* swaps = NULL;
  if (h.flags & SWAP_RUNLISTS) {
    if (fread(&sw, sizeof sw, 1, f) != 1 || memcmp(sw.magic, SWAP_MAGIC, 8) || sw.count > 1024) die("the record table is damaged (pagefile runlists)", 0);
    swaps = xcalloc(sw.count, sizeof *swaps);
    if (sw.count && fread(swaps, sizeof *swaps, sw.count, f) != sw.count) die("the record table is damaged (pagefile runlists truncated)", 0);
  }
  fclose(f);
  for (uint32_t i = 1; i < h.records; i++)
    if (recs[i].num <= recs[i - 1].num) die("the record table is damaged (not sorted)", 0);

  ntfs_volume* vol = openVolume(device);
  const char* why = untrustworthy(vol);
  if (!why && h.serial != serialOf(vol)) why = "the volume's serial number differs from the one the record table was taken of";
  if (!why && (h.clusterSize != vol->cluster_size || h.clusters != (uint64_t)vol->nr_clusters || h.mftRecordSize != vol->mft_record_size))
    why = "the volume's geometry (cluster size, clusters, MFT record size) differs from the record table's";
  if (why) {
    printf("UNTRUSTED %s\n", why);
    ntfs_umount(vol, FALSE);
    return 0;
  }
  struct scan s = { .vol = vol };
  scanMft(&s);
  size_t bytes = (size_t)((s.clusters + 7) / 8);
  uint8_t* trustedFile = xcalloc((size_t)s.nrecs, 1);
  uint32_t trustedFiles = 0, swapLike = 0;
  for (uint32_t i = 0; i < h.records; i++) {
    uint32_t r = recs[i].num;
    if (r >= s.nrecs || s.inUse[r] != 2 || s.seq[r] != recs[i].seq) continue;
    uint8_t hash[HASH_BYTES];
    fileHash(&s, r, hash);
    if (memcmp(hash, recs[i].hash, HASH_BYTES)) continue;
    if (r < FIRST_NORMAL_RECORD || s.underExtend[r]) continue;
    if (s.swapLike[r]) {
      swapLike++;
      continue;
    }
    trustedFile[r] = 1;
    trustedFiles++;
  }
  // pagefile=skip: the pagefile's clusters beyond its first MiB, where its runlist is the backup's.
  uint8_t* pf = xcalloc(bytes, 1);
  const char* pfWhy = NULL;
  if (pagefileSkip) {
    if (!(h.flags & SWAP_RUNLISTS)) pfWhy = "the image's MFT record table has no pagefile runlists (taken before netimage recorded them)";
    for (uint32_t r = 0; r < s.nrecs; r++) {
      if (!pagefileLike(&s, r) || !(h.flags & SWAP_RUNLISTS)) continue;
      uint8_t now[32];
      runlistHash(&s, r, now);
      int same = 0;
      for (uint32_t i = 0; i < sw.count; i++)
        if (swaps[i].num == r && swaps[i].seq == s.seq[r] && !memcmp(swaps[i].runlist, now, 32)) same = 1;
      if (!same) {
        if (!pfWhy) pfWhy = "the pagefile's clusters are not the ones it had at backup (its runlist differs: resized, moved or recreated)";
        continue;
      }
      int64_t keep = (PAGEFILE_KEEP_BYTES + vol->cluster_size - 1) / vol->cluster_size;
      for (size_t i = 0; i < s.ndata; i++) {
        const struct run* d = &s.data[i];
        if (d->base != r) continue;
        for (int64_t k = d->vcn < keep ? keep - d->vcn : 0, c = d->lcn + k; k < d->len && (uint64_t)c < s.clusters; k++, c++) pf[c >> 3] |= (uint8_t)(1u << (c & 7));
      }
    }
  }
  uint8_t* cand = xcalloc(bytes, 1);
  for (size_t i = 0; i < s.ndata; i++) {
    const struct run* d = &s.data[i];
    if (!trustedFile[d->base]) continue;
    for (int64_t c = d->lcn; c < d->lcn + d->len && (uint64_t)c < s.clusters; c++) cand[c >> 3] |= (uint8_t)(1u << (c & 7));
  }
  // Allocated clusters only ($Bitmap): a consistent volume has every run's clusters allocated; a
  // cluster that is not was never the file's to vouch for.
  uint8_t* lcnbmp = xcalloc(bytes, 1);
  s64 have = vol->lcnbmp_na->initialized_size < (s64)bytes ? vol->lcnbmp_na->initialized_size : (s64)bytes;
  if (ntfs_attr_pread(vol->lcnbmp_na, 0, have, lcnbmp) != have) die("reading $Bitmap", errno);
  uint64_t trusted = 0, pfClusters = 0;
  for (size_t i = 0; i < bytes; i++) {
    pf[i] &= (uint8_t)(~s.multi[i] & lcnbmp[i]);
    pfClusters += (uint64_t)__builtin_popcount(pf[i]);
    cand[i] = (uint8_t)((cand[i] & ~s.multi[i] & lcnbmp[i]) | pf[i]);
    trusted += (uint64_t)__builtin_popcount(cand[i]);
  }
  FILE* o = fopen(bitmapOut, "wb");
  if (!o || fwrite(cand, 1, bytes, o) != bytes || fclose(o)) die("writing the trusted-cluster bitmap", errno);
  if (pagefileSkip) {
    if (pfWhy) printf("PAGEFILE %llu %s\n", (unsigned long long)pfClusters, pfWhy);
    else printf("PAGEFILE %llu\n", (unsigned long long)pfClusters);
  }
  printf("OK %u %llu %llu %u %u\n", vol->cluster_size, (unsigned long long)s.clusters, (unsigned long long)trusted, trustedFiles, swapLike);
  ntfs_umount(vol, FALSE);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  // The library's own messages would mix into stdout; errors are reported through errno here.
  ntfs_log_set_handler(ntfs_log_handler_null);
  if (argc == 4 && !strcmp(argv[1], "record")) return cmdRecord(argv[2], argv[3]);
  if (argc == 5 && !strcmp(argv[1], "trust")) return cmdTrust(argv[2], argv[3], argv[4], 0);
  if (argc == 6 && !strcmp(argv[1], "trust") && !strcmp(argv[2], "--pagefile-skip")) return cmdTrust(argv[3], argv[4], argv[5], 1);
  fprintf(stderr, "usage: ntfsrecords record <device> <table-out> | trust [--pagefile-skip] <device> <table> <bitmap-out>\n");
  return 2;
}
