/*
 * backup_drill.c - prove a restore works: restore the app's newest
 * snapshot into a scratch directory, compare every entry with the
 * manifest (type, mode, owner, size, mtime, link target, and each file's
 * bytes against the chunk ids and holes it was stored as), time it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup_int.h"
#include "error.h"
#include "limits.h"
#include "log.h"
#include "monoclock.h"
#include "store.h"
#include "strbuf.h"
#include "banned.h"

/* Bytes [off, end) of fd must all be zero; holes are skipped without
 * reading (SEEK_DATA), so a sparse file of many GiB checks quickly. */
static int zeros(int fd, uint64_t off, uint64_t end, unsigned char *buf,
		 const char *path, char *why, size_t whylen)
{
	while (off < end) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA), h;
		size_t i;

		if (d < 0 && errno == ENXIO)
			return 0; /* a hole to the end of the file */
		if (d < 0)
			d = (off_t)off; /* no SEEK_DATA: read it all */
		if ((uint64_t)d >= end)
			return 0;
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > end)
			h = (off_t)end;
		for (off = (uint64_t)d; off < (uint64_t)h;) {
			size_t want = (uint64_t)h - off > LIMIT_BACKUP_CHUNK_BYTES ?
				      LIMIT_BACKUP_CHUNK_BYTES :
				      (size_t)((uint64_t)h - off);
			ssize_t r = pread(fd, buf, want, (off_t)off);

			if (r <= 0) {
				snprintf(why, whylen, "%s: short read at %llu",
					 path, (unsigned long long)off);
				return 1;
			}
			for (i = 0; i < (size_t)r && !buf[i]; i++)
				;
			if (i < (size_t)r) {
				snprintf(why, whylen, "%s: bytes at %llu should "
					 "be zero", path,
					 (unsigned long long)(off + i));
				return 1;
			}
			off += (uint64_t)r;
		}
	}
	return 0;
}

/* The file rel in dfd against its extents; path (dir/rel) is for
 * messages. */
static int check_file(const struct backup_store *bs, int dfd,
		      const char *rel, const char *path,
		      const struct bt_entry *e, char *why, size_t whylen)
{
	struct bt_extent_reader xr;
	struct bt_extent x;
	unsigned char id[BT_ID_BYTES], *buf;
	uint64_t off = 0;
	int fd = openat(dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), bad = 0;

	if (fd < 0) {
		snprintf(why, whylen, "%s: cannot open: %s", path,
			 strerror(errno));
		return 1;
	}
	buf = malloc(LIMIT_BACKUP_CHUNK_BYTES);
	bt_extents(&xr, e);
	while (!bad && bt_extent_next(&xr, &x)) {
		if (x.hole) {
			bad = zeros(fd, off, off + x.len, buf, path, why, whylen);
		} else {
			/* A data extent is one chunk. */
			ssize_t r = pread(fd, buf, (size_t)x.len, (off_t)off);

			if (r != (ssize_t)x.len) {
				snprintf(why, whylen, "%s: short read at %llu",
					 path, (unsigned long long)off);
				bad = 1;
				break;
			}
			backup_chunk_id(&bs->key, buf, (size_t)x.len, id);
			if (memcmp(id, x.id, BT_ID_BYTES)) {
				snprintf(why, whylen, "%s: bytes at %llu differ "
					 "from the snapshot", path,
					 (unsigned long long)off);
				bad = 1;
			}
		}
		off += x.len;
	}
	close(fd);
	free(buf);
	return bad;
}

/* Entries are looked at relative to dir, opened once, as the restore
 * made them: a tree restored under a longer directory than it was taken
 * from can be deeper than PATH_MAX as whole paths.  Messages still name
 * the whole path. */
int tree_check_against(const struct backup_store *bs, const void *tree,
		       size_t tree_len, const char *dir, char *why,
		       size_t whylen)
{
	struct strbuf path = STRBUF_INIT, rel = STRBUF_INIT;
	struct bt_reader rd;
	struct bt_entry e;
	struct stat st;
	char target[LIMIT_PATH_BYTES + 1];
	int ret, bad = 0, root = geteuid() == 0, dfd;

	if ((ret = bt_reader_init(&rd, tree, tree_len)))
		return ret;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(why, whylen, "%s: cannot open: %s", dir,
			 strerror(errno));
		return 1;
	}
	while (!bad && (ret = bt_next(&rd, &e)) == 1) {
		strbuf_reset(&rel);
		strbuf_add(&rel, e.path, e.path_len);
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", dir, rel.buf);
		if (fstatat(dfd, rel.buf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			snprintf(why, whylen, "%s: missing", path.buf);
			bad = 1;
			break;
		}
		bad = 1;
		if ((e.type == BT_DIR && !S_ISDIR(st.st_mode)) ||
		    ((e.type == BT_FILE || e.type == BT_HARDLINK) &&
		     !S_ISREG(st.st_mode)) ||
		    (e.type == BT_SYMLINK && !S_ISLNK(st.st_mode)) ||
		    (e.type == BT_FIFO && !S_ISFIFO(st.st_mode)))
			snprintf(why, whylen, "%s: wrong type", path.buf);
		else if (e.type != BT_SYMLINK &&
			 (st.st_mode & 07777) != e.mode)
			snprintf(why, whylen, "%s: mode %o, snapshot has %o",
				 path.buf, st.st_mode & 07777, e.mode);
		else if (root && (st.st_uid != e.uid || st.st_gid != e.gid))
			snprintf(why, whylen, "%s: owner %u:%u, snapshot has "
				 "%u:%u", path.buf, st.st_uid, st.st_gid, e.uid,
				 e.gid);
		else if (e.type == BT_FILE && (uint64_t)st.st_size != e.size)
			snprintf(why, whylen, "%s: %llu bytes, snapshot has "
				 "%llu", path.buf, (unsigned long long)st.st_size,
				 (unsigned long long)e.size);
		else if (e.type != BT_HARDLINK &&
			 (st.st_mtim.tv_sec != e.mtime_sec ||
			  (uint32_t)st.st_mtim.tv_nsec != e.mtime_nsec))
			snprintf(why, whylen, "%s: modification time differs",
				 path.buf);
		else
			bad = 0;
		if (bad)
			break;
		if (e.type == BT_SYMLINK) {
			ssize_t n = readlinkat(dfd, rel.buf, target,
					       sizeof(target));

			if (n < 0 || (size_t)n != e.target_len ||
			    memcmp(target, e.target, e.target_len)) {
				snprintf(why, whylen, "%s: link target differs",
					 path.buf);
				bad = 1;
			}
		} else if (e.type == BT_FILE) {
			bad = check_file(bs, dfd, rel.buf, path.buf, &e, why,
					 whylen);
		}
	}
	close(dfd);
	strbuf_release(&path);
	strbuf_release(&rel);
	if (ret < 0)
		return ret;
	return bad;
}

int backup_drill(struct backup_store *bs, const char *app,
		 struct backup_drill_result *r)
{
	struct backup_info info;
	struct backup_record rec;
	struct chunk_source src;
	struct backup_restore_stats stats;
	struct backup_status st;
	struct strbuf scratch = STRBUF_INIT, tree = STRBUF_INIT;
	int ret, bad;

	memset(r, 0, sizeof(*r));
	memset(&rec, 0, sizeof(rec));
	if ((ret = backup_find(bs, app, "latest", &info)))
		return ret;
	r->snapshot = info.id;
	strbuf_addf(&scratch, "%s/backup-drill", bs->state_dir);
	if (mkdir(scratch.buf, 0700) < 0 && errno != EEXIST) {
		ret = error_errno(FURROW_EIO, "cannot create %s", scratch.buf);
		goto out;
	}
	strbuf_addf(&scratch, "/%s", app);
	if ((ret = backup_rmtree(scratch.buf)) ||
	    (ret = record_load(bs, info.id, &rec)))
		goto out;
	backup_local_source(&src, bs);
	ret = restore_to_new_dir(&src, &rec, scratch.buf, &stats);
	if (!ret)
		ret = tree_load(&src, &rec, &tree);
	if (ret) {
		/* A drill that cannot restore is a failed drill, recorded. */
		snprintf(r->why, sizeof(r->why), "%s", error_message());
		error_clear();
		ret = 0;
	} else {
		r->seconds = stats.seconds;
		r->files = stats.files;
		r->bytes = stats.bytes;
		bad = tree_check_against(bs, tree.buf, tree.len, scratch.buf,
					 r->why, sizeof(r->why));
		if (bad < 0) {
			snprintf(r->why, sizeof(r->why), "%s", error_message());
			error_clear();
		}
		r->ok = bad == 0;
	}
	(void)backup_rmtree(scratch.buf);
	if (!status_load(bs->st, app, &st)) {
		st.drill_time = (long long)time(NULL);
		st.drill_seconds = r->seconds;
		st.drill_snapshot = r->snapshot;
		st.drill_ok = r->ok;
		ret = status_save(bs->st, app, &st);
	}
	log_event(r->ok ? LOG_INFO : LOG_ERROR, r->ok ? "backup.drill_passed" :
		  "backup.drill_failed", r->ok ? "restored and checked" : r->why,
		  "app", app, NULL);
out:
	record_release(&rec);
	strbuf_release(&scratch);
	strbuf_release(&tree);
	return ret;
}
