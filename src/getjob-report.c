/* getjob-report.c: what a download tells its owner -- lines (errors also
 * as "error" events) and JSON events, through the owner's hooks */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "getjob-int.h"

double ms__job_elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* a JSON event for the owner (o is handed over) */
void ms__job_event(struct ms_getjob *g, json_t *o)
{
	if (o && g->hooks.on_event)
		g->hooks.on_event(g->hooks.ud, o);
	else
		json_decref(o);
}

/* a message for the owner; errors are also an "error" event */
static void vsay(struct ms_getjob *g, int error, const char *fmt, va_list ap)
{
	char buf[1200];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (g->hooks.on_line)
		g->hooks.on_line(g->hooks.ud, error, buf);
	if (error)
		ms__job_event(g, json_pack("{s:s,s:s,s:s}", "event", "error", "repo", g->rel.repo,
				   "message", buf));
}

void ms__job_error(struct ms_getjob *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(g, 1, fmt, ap);
	va_end(ap);
}

void ms__job_info(struct ms_getjob *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(g, 0, fmt, ap);
	va_end(ap);
}

