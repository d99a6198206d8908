/* Model copies side by side: jobs on plain threads, each worker with an OpenMP team of its own
 * for the layers inside. Plain threads rather than an OpenMP region, because a region's threads
 * get teams of their own only with nested parallelism, where the layers' teams and the region's
 * threads then compete for the same cores (and oneDNN inside such nested teams was seen to hang);
 * a plain thread's omp_set_num_threads sizes its own team. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/runtime.h"

enum { MAX_WORKERS = 256 };

typedef struct run {
    am_job_fn fn;
    void *user;
    int njobs, workers, threads;
    am_status *status;
    char (*msg)[256];
} run;

typedef struct worker {
    run *r;
    int w;
} worker;

static void work(run *r, int w)
{
    for (int job = w; job < r->njobs; job += r->workers) {
        r->status[job] = r->fn(r->user, job, w);
        /* messages are thread-local: keep this one for the caller's thread */
        if (r->status[job] != AM_OK) snprintf(r->msg[job], sizeof r->msg[job], "%s", am_errmsg());
    }
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    omp_set_num_threads(wk->r->threads);
    work(wk->r, wk->w);
    return NULL;
}

am_status am_replicas_run(int njobs, int workers, am_job_fn fn, void *user, int *failed)
{
    if (failed) *failed = -1;
    if (njobs <= 0) return AM_OK;
    if (workers > njobs) workers = njobs;
    if (workers > MAX_WORKERS) workers = MAX_WORKERS;
    if (workers < 1) workers = 1;
    am_status *status = calloc((size_t)njobs, sizeof *status);
    char(*msg)[256] = calloc((size_t)njobs, sizeof *msg);
    if (!status || !msg) {
        free(status), free(msg);
        return am_error(AM_ERR_NOMEM, "replicas: out of memory");
    }
    int all = am_get_threads() > 0 ? am_get_threads() : 1;
    run r = {.fn = fn,
             .user = user,
             .njobs = njobs,
             .workers = workers,
             .threads = all / workers > 1 ? all / workers : 1,
             .status = status,
             .msg = msg};
    if (workers == 1) {
        work(&r, 0); /* its layers keep all the threads */
    } else {
        pthread_t th[MAX_WORKERS];
        worker wk[MAX_WORKERS];
        int started = 0;
        for (int w = 1; w < workers; w++, started++) {
            wk[w] = (worker){&r, w};
            if (pthread_create(&th[w], NULL, worker_main, &wk[w]) != 0) break;
        }
        /* Not enough threads: the remaining workers' jobs run here, each worker's in order. */
        for (int w = started + 1; w < workers; w++) work(&r, w);
        /* this thread is worker 0, with its share of the threads */
        int prev = omp_get_max_threads();
        omp_set_num_threads(r.threads);
        work(&r, 0);
        omp_set_num_threads(prev);
        for (int w = 1; w <= started; w++) pthread_join(th[w], NULL);
    }
    am_status s = AM_OK;
    for (int job = 0; job < njobs && s == AM_OK; job++)
        if (status[job] != AM_OK) {
            s = am_error(status[job], "%s", msg[job]);
            if (failed) *failed = job;
        }
    free(status), free(msg);
    return s;
}
