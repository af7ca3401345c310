/*
 * backup_tree.c - encode and decode snapshot manifests (backup_tree.h).
 */
#include <stdint.h>
#include <string.h>

#include "backup_tree.h"
#include "error.h"
#include "limits.h"
#include "strbuf.h"
#include "banned.h"

void bt_put_uvarint(struct strbuf *out, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	strbuf_add(out, b, n);
}

void bt_put_svarint(struct strbuf *out, int64_t v)
{
	bt_put_uvarint(out, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void bt_put_bytes(struct strbuf *out, const void *s, size_t len)
{
	bt_put_uvarint(out, len);
	strbuf_add(out, s, len);
}

int bt_get_uvarint(const unsigned char **p, const unsigned char *end,
		   uint64_t *v)
{
	uint64_t r = 0;
	unsigned shift = 0;
	const unsigned char *q = *p;

	while (q < end) {
		unsigned char c = *q++;

		if (shift == 63 && (c & 0x7e))
			return -1; /* more than 64 bits */
		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			/* One canonical encoding: no trailing zero group. */
			if (c == 0 && shift)
				return -1;
			*v = r;
			*p = q;
			return 0;
		}
		shift += 7;
		if (shift > 63)
			return -1;
	}
	return -1;
}

int bt_get_svarint(const unsigned char **p, const unsigned char *end,
		   int64_t *v)
{
	uint64_t u;

	if (bt_get_uvarint(p, end, &u))
		return -1;
	*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return 0;
}

int bt_get_bytes(const unsigned char **p, const unsigned char *end,
		 size_t max, const char **s, size_t *len)
{
	uint64_t n;

	if (bt_get_uvarint(p, end, &n) || n > max ||
	    n > (uint64_t)(end - *p))
		return -1;
	*s = (const char *)*p;
	*len = (size_t)n;
	*p += n;
	return 0;
}

int bt_path_valid(const char *path, size_t len)
{
	size_t i = 0, start;

	if (len == 0 || len > LIMIT_PATH_BYTES || memchr(path, '\0', len))
		return 0;
	while (i <= len) {
		start = i;
		while (i < len && path[i] != '/')
			i++;
		if (i == start)
			return 0; /* empty component, leading or trailing / */
		if ((i - start == 1 && path[start] == '.') ||
		    (i - start == 2 && path[start] == '.' &&
		     path[start + 1] == '.'))
			return 0;
		i++;
	}
	return 1;
}

void bt_begin(struct strbuf *out)
{
	strbuf_addstr(out, BT_MAGIC);
}

void bt_add_entry(struct strbuf *out, const struct bt_entry *e)
{
	strbuf_addch(out, e->type);
	bt_put_bytes(out, e->path, e->path_len);
	bt_put_uvarint(out, e->mode);
	bt_put_uvarint(out, e->uid);
	bt_put_uvarint(out, e->gid);
	bt_put_svarint(out, e->mtime_sec);
	bt_put_uvarint(out, e->mtime_nsec);
	bt_put_uvarint(out, e->size);
	bt_put_uvarint(out, e->ino);
	bt_put_svarint(out, e->ctime_sec);
	bt_put_uvarint(out, e->ctime_nsec);
	if (e->type == BT_SYMLINK || e->type == BT_HARDLINK)
		bt_put_bytes(out, e->target, e->target_len);
	else if (e->type == BT_FILE)
		bt_put_uvarint(out, e->nextents);
}

void bt_add_extent(struct strbuf *out, const struct bt_extent *x)
{
	bt_put_uvarint(out, x->len);
	strbuf_addch(out, x->hole ? 0 : 1);
	if (!x->hole)
		strbuf_add(out, x->id, BT_ID_BYTES);
}

int bt_reader_init(struct bt_reader *r, const void *buf, size_t len)
{
	size_t m = strlen(BT_MAGIC);

	memset(r, 0, sizeof(*r));
	if (len < m || memcmp(buf, BT_MAGIC, m))
		return error_set(FURROW_ESYNTAX, "snapshot tree: not a furrow "
				 "tree (bad magic)");
	r->p = (const unsigned char *)buf + m;
	r->end = (const unsigned char *)buf + len;
	return 0;
}

static int bad(const struct bt_reader *r, const char *what)
{
	return error_set(FURROW_ESYNTAX, "snapshot tree: entry %llu: %s",
			 (unsigned long long)r->count + 1, what);
}

/* Walk the extents once to validate them and find where they end. */
static int skip_extents(struct bt_reader *r, struct bt_entry *e)
{
	const unsigned char *p = r->p;
	uint64_t i, len, sum = 0;

	e->extents = p;
	for (i = 0; i < e->nextents; i++) {
		if (bt_get_uvarint(&p, r->end, &len) || len == 0 ||
		    p >= r->end || *p > 1)
			return bad(r, "malformed extent");
		if (*p++ == 1) {
			if (len > LIMIT_BACKUP_CHUNK_BYTES)
				return bad(r, "data extent over the chunk limit");
			if ((size_t)(r->end - p) < BT_ID_BYTES)
				return bad(r, "truncated extent");
			p += BT_ID_BYTES;
		}
		if (len > UINT64_MAX - sum)
			return bad(r, "extents overflow");
		sum += len;
	}
	if (sum != e->size)
		return bad(r, "extents do not add up to the file size");
	e->extents_len = (size_t)(p - e->extents);
	r->p = p;
	return 0;
}

int bt_next(struct bt_reader *r, struct bt_entry *e)
{
	uint64_t u[7];
	int64_t mt, ct;
	const unsigned char *p;

	memset(e, 0, sizeof(*e));
	if (r->p == r->end)
		return 0;
	p = r->p;
	e->type = *p++;
	if (e->type != BT_DIR && e->type != BT_FILE && e->type != BT_SYMLINK &&
	    e->type != BT_HARDLINK && e->type != BT_FIFO)
		return bad(r, "unknown entry type");
	if (bt_get_bytes(&p, r->end, LIMIT_PATH_BYTES, &e->path, &e->path_len))
		return bad(r, "malformed path");
	if (!bt_path_valid(e->path, e->path_len))
		return bad(r, "invalid path");
	if (bt_get_uvarint(&p, r->end, &u[0]) ||
	    bt_get_uvarint(&p, r->end, &u[1]) ||
	    bt_get_uvarint(&p, r->end, &u[2]) ||
	    bt_get_svarint(&p, r->end, &mt) ||
	    bt_get_uvarint(&p, r->end, &u[3]) ||
	    bt_get_uvarint(&p, r->end, &u[4]) ||
	    bt_get_uvarint(&p, r->end, &u[5]) ||
	    bt_get_svarint(&p, r->end, &ct) ||
	    bt_get_uvarint(&p, r->end, &u[6]))
		return bad(r, "malformed attributes");
	if (u[0] > 07777 || u[1] > UINT32_MAX || u[2] > UINT32_MAX ||
	    u[3] > 999999999 || u[6] > 999999999)
		return bad(r, "attribute out of range");
	e->mode = (uint32_t)u[0];
	e->uid = (uint32_t)u[1];
	e->gid = (uint32_t)u[2];
	e->mtime_sec = mt;
	e->mtime_nsec = (uint32_t)u[3];
	e->size = u[4];
	e->ino = u[5];
	e->ctime_sec = ct;
	e->ctime_nsec = (uint32_t)u[6];
	if (e->type != BT_FILE && e->size)
		return bad(r, "size on a non-file");
	r->p = p;
	if (e->type == BT_SYMLINK || e->type == BT_HARDLINK) {
		if (bt_get_bytes(&r->p, r->end, LIMIT_PATH_BYTES, &e->target,
				 &e->target_len) || e->target_len == 0 ||
		    memchr(e->target, '\0', e->target_len))
			return bad(r, "malformed link target");
		if (e->type == BT_HARDLINK &&
		    !bt_path_valid(e->target, e->target_len))
			return bad(r, "invalid hard link target");
	} else if (e->type == BT_FILE) {
		if (bt_get_uvarint(&r->p, r->end, &e->nextents) ||
		    e->nextents > (uint64_t)(r->end - r->p))
			return bad(r, "malformed extent count");
		if (skip_extents(r, e))
			return FURROW_ESYNTAX;
	}
	r->count++;
	return 1;
}

void bt_extents(struct bt_extent_reader *x, const struct bt_entry *e)
{
	/* Not a file (or no extents): nothing to read, and no arithmetic
	 * on a null pointer. */
	x->p = e->extents;
	x->end = e->extents ? e->extents + e->extents_len : NULL;
	x->left = e->extents ? e->nextents : 0;
}

int bt_extent_next(struct bt_extent_reader *x, struct bt_extent *out)
{
	if (!x->left)
		return 0;
	x->left--;
	memset(out, 0, sizeof(*out));
	(void)bt_get_uvarint(&x->p, x->end, &out->len);
	out->hole = *x->p++ == 0;
	if (!out->hole) {
		memcpy(out->id, x->p, BT_ID_BYTES);
		x->p += BT_ID_BYTES;
	}
	return 1;
}
