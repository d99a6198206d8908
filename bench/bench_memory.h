/* Peak anonymous memory of a bench program, sampled every 5 ms by a thread: the algorithm's own
 * memory, without a mapped file's pages (which are the page cache's). */
#ifndef AM_BENCH_MEMORY_H
#define AM_BENCH_MEMORY_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile int sampling = 1;
static volatile long peak_anon_kb;

/* A "Key:" line of /proc/self/status, in kB (-1 when absent). */
static long status_kb(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (fp && fgets(line, sizeof line, fp))
        if (!strncmp(line, key, n)) v = atol(line + n);
    if (fp) fclose(fp);
    return v;
}

static void *sampler(void *arg)
{
    (void)arg;
    while (sampling) {
        long a = status_kb("RssAnon:");
        if (a > peak_anon_kb) peak_anon_kb = a;
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    return NULL;
}

#endif
