/*
 * appspec_deps.c - the rules between the apps of one furrow.lua (see
 * appspec_parse_all() in appspec.h), and host-label selection.
 *
 * Dependencies are ordered with Kahn's algorithm, always taking the
 * earliest-declared app that is ready, so the order is a stable sort of
 * the declaration order: apps that do not depend on each other keep the
 * order the user wrote.  Everything is O((apps + edges) log apps) and
 * iterative, since furrow.lua may declare LIMIT_DESIRED_APPS apps.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "appspec.h"
#include "appspec_int.h"
#include "bug.h"
#include "config.h"
#include "desired.h"
#include "error.h"
#include "limits.h"
#include "suggest.h"
#include "banned.h"

#define CYCLE_SHOWN 16 /* apps of a cycle named in its message */

__attribute__((format(printf, 7, 8)))
static void report(struct appspec_report *r, int code, const char *file,
		   int line, const char *app, const char *path,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	appspec_report_add(r, code, file, line, app, path, fmt, ap);
	va_end(ap);
}

void appspec_list_free(struct appspec_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		appspec_free(list->apps[i]);
	free(list->apps);
	free(list);
}

int appspec_selected(const struct appspec *a,
		     const struct config_label *labels, size_t n)
{
	for (size_t i = 0; i < a->on_count; i++) {
		size_t j;

		for (j = 0; j < n; j++)
			if (!strcmp(labels[j].key, a->on[i].key))
				break;
		if (j == n || strcmp(labels[j].value, a->on[i].value))
			return 0;
	}
	return 1;
}

/* Names sorted for lookup, each with its declaration index. */
struct name_ref {
	const char *name;
	size_t index;
};

static int cmp_ref(const void *a, const void *b)
{
	return strcmp(((const struct name_ref *)a)->name,
		      ((const struct name_ref *)b)->name);
}

/* A min-heap of declaration indices: the ready apps. */
struct heap {
	size_t *v;
	size_t n;
};

static void heap_push(struct heap *h, size_t x)
{
	size_t i = h->n++;

	while (i && h->v[(i - 1) / 2] > x) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = x;
}

static size_t heap_pop(struct heap *h)
{
	size_t top = h->v[0], x = h->v[--h->n], i = 0;

	for (;;) {
		size_t l = 2 * i + 1, m = l;

		if (l >= h->n)
			break;
		if (l + 1 < h->n && h->v[l + 1] < h->v[l])
			m = l + 1;
		if (h->v[m] >= x)
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	if (h->n)
		h->v[i] = x;
	return top;
}

struct graph {
	size_t n;
	size_t *dep_off, *deps;    /* deps of i: deps[dep_off[i]..dep_off[i+1]) */
	size_t *rev_off, *rev;     /* apps depending on i, likewise */
	size_t *pending;           /* deps of i not yet placed */
};

static void graph_free(struct graph *g)
{
	free(g->dep_off);
	free(g->deps);
	free(g->rev_off);
	free(g->rev);
	free(g->pending);
}

/* The file that declared app i of sum: the included file it came from,
 * else file (summaries built without app_files). */
static const char *app_file(const struct desired_summary *sum, size_t i,
			    const char *file)
{
	return sum->app_files && sum->app_files[i] ? sum->app_files[i] : file;
}

/* Resolve depends_on names to indices; missing names are reported. */
static void build_graph(struct graph *g, struct appspec **apps, size_t n,
			struct appspec_report *rep, const char *file,
			const struct desired_summary *sum)
{
	struct name_ref *refs = xcalloc(n + 1, sizeof(*refs));
	size_t edges = 0, k = 0;

	g->n = n;
	for (size_t i = 0; i < n; i++) {
		refs[i].name = apps[i]->name;
		refs[i].index = i;
		edges += apps[i]->depends_count;
	}
	qsort(refs, n, sizeof(*refs), cmp_ref);
	g->dep_off = xcalloc(n + 1, sizeof(*g->dep_off));
	g->deps = xcalloc(edges + 1, sizeof(*g->deps));
	g->rev_off = xcalloc(n + 2, sizeof(*g->rev_off));
	g->rev = xcalloc(edges + 1, sizeof(*g->rev));
	g->pending = xcalloc(n + 1, sizeof(*g->pending));
	for (size_t i = 0; i < n; i++) {
		const struct appspec *a = apps[i];

		g->dep_off[i] = k;
		for (size_t j = 0; j < a->depends_count; j++) {
			struct name_ref key = { a->depends_on[j], 0 }, *hit;
			struct strbuf path = STRBUF_INIT;

			hit = bsearch(&key, refs, n, sizeof(*refs), cmp_ref);
			if (hit) {
				g->deps[k++] = hit->index;
				g->rev_off[hit->index + 2]++;
				continue;
			}
			strbuf_addf(&path, "depends_on[%zu]", j + 1);
			{
				/* Suggestions scan every name: only for
				 * messages that will be shown. */
				const char *hint = rep->count < LIMIT_APP_ERRORS ?
					suggest_pick(a->depends_on[j],
						     (const char *const *)
						     sum->app_names, n) : NULL;

				report(rep, FURROW_EINVAL, app_file(sum, i, file),
				       a->line, a->name,
				       path.buf, "no app named '%s' in %s%s%s%s",
				       a->depends_on[j], file,
				       hint ? " (did you mean '" : "",
				       hint ? hint : "", hint ? "'?)" : "");
			}
			strbuf_release(&path);
		}
		g->pending[i] = k - g->dep_off[i];
	}
	g->dep_off[n] = k;
	/* Counting sort of the reversed edges: rev_off[d + 2] counted
	 * them; two prefix sums later rev_off[d + 1] is where d's list
	 * fills from, and ends as its end. */
	for (size_t i = 2; i < n + 2; i++)
		g->rev_off[i] += g->rev_off[i - 1];
	for (size_t i = 0; i < n; i++)
		for (size_t e = g->dep_off[i]; e < g->dep_off[i + 1]; e++)
			g->rev[g->rev_off[g->deps[e] + 1]++] = i;
	free(refs);
}

/* Report one cycle among the apps Kahn's algorithm could not place. */
static void report_cycle(const struct graph *g, struct appspec **apps,
			 struct appspec_report *rep, const char *file,
			 const struct desired_summary *sum)
{
	size_t *step = xcalloc(g->n + 1, sizeof(*step));
	size_t *path = xcalloc(g->n + 1, sizeof(*path));
	size_t len = 0, cur = g->n, first, start, min;
	struct strbuf msg = STRBUF_INIT;

	for (size_t i = 0; i < g->n && cur == g->n; i++)
		if (g->pending[i])
			cur = i;
	if (cur == g->n)
		BUG("no app left in a dependency cycle");
	/* Every app left waits for another app left: walking from one
	 * must come back to an app already seen, closing a cycle. */
	while (!step[cur]) {
		size_t e;

		step[cur] = ++len;
		path[len - 1] = cur;
		for (e = g->dep_off[cur]; e < g->dep_off[cur + 1]; e++)
			if (g->pending[g->deps[e]])
				break;
		if (e == g->dep_off[cur + 1])
			BUG("app %zu waits for no app", cur);
		cur = g->deps[e];
	}
	first = step[cur] - 1;
	/* Start the message at the earliest-declared app of the cycle. */
	start = first;
	min = path[first];
	for (size_t i = first; i < len; i++)
		if (path[i] < min) {
			min = path[i];
			start = i;
		}
	for (size_t i = 0; i < len - first; i++) {
		size_t at = first + (start - first + i) % (len - first);

		if (i == CYCLE_SHOWN) {
			strbuf_addstr(&msg, " -> ...");
			break;
		}
		strbuf_addf(&msg, "%s%s", i ? " -> " : "", apps[path[at]]->name);
	}
	strbuf_addf(&msg, " -> %s", apps[min]->name);
	report(rep, FURROW_EINVAL, app_file(sum, min, file), apps[min]->line,
	       apps[min]->name,
	       "depends_on", "dependency cycle: %s", msg.buf);
	strbuf_release(&msg);
	free(step);
	free(path);
}

/* The order of apps, or NULL after reporting a cycle. */
static size_t *order_apps(struct graph *g, struct appspec **apps,
			  struct appspec_report *rep, const char *file,
			  const struct desired_summary *sum)
{
	struct heap h = { xcalloc(g->n + 1, sizeof(size_t)), 0 };
	size_t *order = xcalloc(g->n + 1, sizeof(*order)), placed = 0;

	for (size_t i = 0; i < g->n; i++)
		if (!g->pending[i])
			heap_push(&h, i);
	while (h.n) {
		size_t i = heap_pop(&h);

		order[placed++] = i;
		for (size_t e = g->rev_off[i]; e < g->rev_off[i + 1]; e++)
			if (!--g->pending[g->rev[e]])
				heap_push(&h, g->rev[e]);
	}
	free(h.v);
	if (placed < g->n) {
		report_cycle(g, apps, rep, file, sum);
		free(order);
		return NULL;
	}
	return order;
}

int appspec_parse_all(struct appspec_list **out, const char *file,
		      const struct desired_summary *sum)
{
	struct appspec_report rep;
	struct graph g;
	struct appspec **apps;
	size_t n = sum->app_count, *order = NULL;
	int ret;

	*out = NULL;
	memset(&g, 0, sizeof(g));
	appspec_report_init(&rep);
	apps = xcalloc(n + 1, sizeof(*apps));
	for (size_t i = 0; i < n; i++)
		appspec_parse_into(&apps[i], &rep, app_file(sum, i, file),
				   sum->app_lines[i],
				   sum->app_names[i], sum->app_specs[i]);
	if (rep.count)
		goto out;
	build_graph(&g, apps, n, &rep, file, sum);
	if (rep.count)
		goto out;
	order = order_apps(&g, apps, &rep, file, sum);
	if (!order)
		goto out;
	*out = xcalloc(1, sizeof(**out));
	(*out)->apps = xcalloc(n + 1, sizeof(*(*out)->apps));
	for (size_t i = 0; i < n; i++) {
		(*out)->apps[i] = apps[order[i]];
		apps[order[i]] = NULL;
	}
	(*out)->count = n;
out:
	ret = appspec_report_finish(&rep, file);
	for (size_t i = 0; i < n; i++)
		appspec_free(apps[i]);
	free(apps);
	free(order);
	graph_free(&g);
	appspec_report_release(&rep);
	return ret;
}
