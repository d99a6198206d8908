/* The ranks of include/astromorph/dist.h over MPI (OpenMPI here; any MPI-3 library). MPI is
 * joined only when a launcher started this process, so a plain `astromorph` never touches it.
 * Calls come from the main thread only (MPI_THREAD_FUNNELED): the replicas' threads compute,
 * this thread communicates between their rounds. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist_internal.h"

#include "astromorph/runtime.h"

/* Messages at most this many elements: MPI counts are int, and chunks pipeline the chain. */
enum { CHUNK = 1 << 18, MSG_LEN = 1024 };
#define ALPHA_OVER_BETA 16384.0 /* bytes */

static int g_rank = 0, g_size = 1, g_joined = 0, g_we_init = 0, g_agreed = 0;
static am_dist_stats g_stats;

/* Launchers that start ranks set these: OpenMPI's mpirun, PMI-1/2 (MPICH, srun), PMIx (srun). */
static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

static am_status mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return am_error(AM_ERR_IO, "MPI %s failed: %s", what, msg);
}

#define MPI_TRY(call, what)                                                                                            \
    do {                                                                                                               \
        int rc_ = (call);                                                                                              \
        if (rc_ != MPI_SUCCESS) return mpi_fail(rc_, what);                                                            \
    } while (0)

am_status am_dist_init(int *argc, char ***argv)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (!launched_by_mpi()) return AM_OK;
        int provided = 0;
        MPI_TRY(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "init");
        g_we_init = 1;
        if (provided < MPI_THREAD_FUNNELED) {
            MPI_Finalize();
            g_we_init = 0;
            return am_error(AM_ERR_BACKEND, "this MPI library does not allow threads beside MPI calls "
                                            "(MPI_THREAD_FUNNELED), which training and inference need");
        }
    }
    /* errors come back as codes, so they reach the caller's message, not a bare abort */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_joined = 1;
    return AM_OK;
}

void am_dist_finalize(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (g_we_init && !done) MPI_Finalize();
    g_we_init = 0;
}

_Noreturn void am_dist_abort(int code)
{
    if (g_joined && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

int am_dist_rank(void) { return g_rank; }
int am_dist_size(void) { return g_size; }
int am_dist_built_with_mpi(void) { return 1; }
int am_dist_failure_agreed(void) { return g_agreed; }
void am_dist_get_stats(am_dist_stats *out) { *out = g_stats; }

static void account(double t0, int64_t bytes)
{
    g_stats.seconds += am_monotonic_seconds() - t0;
    g_stats.bytes_sent += bytes;
    g_stats.calls++;
}

am_status am_dist_agree(am_status st)
{
    if (g_size == 1) return st;
    double t0 = am_monotonic_seconds();
    int key = st != AM_OK ? g_rank : g_size, low = g_size;
    MPI_TRY(MPI_Allreduce(&key, &low, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "allreduce");
    if (low == g_size) {
        account(t0, sizeof key);
        return AM_OK;
    }
    struct {
        int code;
        char msg[MSG_LEN];
    } m = {(int)st, ""};
    if (g_rank == low) snprintf(m.msg, sizeof m.msg, "%s", am_errmsg());
    MPI_TRY(MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, low, MPI_COMM_WORLD), "bcast");
    account(t0, sizeof key + (g_rank == low ? (int64_t)sizeof m : 0));
    g_agreed = 1;
    /* the rank is named only when it is not the one that reports */
    if (low == 0) return am_error((am_status)m.code, "%s", m.msg);
    return am_error((am_status)m.code, "rank %d: %s", low, m.msg);
}

int am_dist_any(int flag)
{
    if (g_size == 1) return flag != 0;
    double t0 = am_monotonic_seconds();
    int in = flag != 0, out = in;
    if (MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) out = 1;
    account(t0, sizeof in);
    return out;
}

static am_status sum_disjoint(void *x, int64_t n, MPI_Datatype type, size_t size)
{
    if (g_size == 1) return AM_OK;
    double t0 = am_monotonic_seconds();
    for (int64_t o = 0; o < n; o += CHUNK) {
        int c = (int)(n - o < CHUNK ? n - o : CHUNK);
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, (char *)x + (size_t)o * size, c, type, MPI_SUM, MPI_COMM_WORLD),
                "allreduce");
    }
    account(t0, n * (int64_t)size);
    return AM_OK;
}

am_status am_dist_sum_disjoint_f64(double *x, int64_t n) { return sum_disjoint(x, n, MPI_DOUBLE, sizeof *x); }
am_status am_dist_sum_disjoint_i32(int32_t *x, int64_t n) { return sum_disjoint(x, n, MPI_INT32_T, sizeof *x); }

/* The chain: the first rank with arrays starts the sum, every later rank receives the running
 * sum, adds its own arrays in order and passes it on, chunk by chunk so that the ranks work on
 * successive chunks at once; the last rank's sum then goes to every rank. A chunk of c bytes
 * costs a latency α plus c·β per hop and the chain takes (chunks + hops − 1) of them, least for
 * c = sqrt(m·(α/β)/hops) (docs/scaling.md); α/β, the message size whose transfer takes as long
 * as its latency, is about 16 KB on the 10-100 Gb/s networks of clusters. */
static int64_t chain_chunk(int64_t m, int hops)
{
    double c = sqrt((double)m * (double)sizeof(float) * ALPHA_OVER_BETA / (hops > 0 ? hops : 1)) / sizeof(float);
    int64_t lo = 4096, hi = CHUNK;
    return c < (double)lo ? lo : c > (double)hi ? hi : (int64_t)c;
}

am_status am_dist_chain_sum_f32(float *dst, float *const *local, int nlocal, int64_t m)
{
    if (g_size == 1 || m == 0) {
        am_dist_sum_in_order(dst, local, nlocal, m);
        return AM_OK;
    }
    double t0 = am_monotonic_seconds();
    int64_t sent = 0;
    int *counts = malloc((size_t)g_size * sizeof *counts);
    float *run = malloc((size_t)(m < CHUNK ? m : CHUNK) * sizeof *run);
    if (!counts || !run) {
        free(counts), free(run);
        return am_error(AM_ERR_NOMEM, "MPI: out of memory for a gradient sum");
    }
    int rc = MPI_Allgather(&nlocal, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
    int first = -1, last = -1;
    for (int r = 0; r < g_size; r++)
        if (counts[r] > 0) last = r, first = first < 0 ? r : first;
    free(counts);
    if (rc != MPI_SUCCESS || first < 0) {
        free(run);
        return rc != MPI_SUCCESS ? mpi_fail(rc, "allgather") : AM_OK;
    }
    int in_chain = g_rank >= first && g_rank <= last;
    const int64_t step = chain_chunk(m, last - first);
    for (int64_t o = 0; in_chain && rc == MPI_SUCCESS && o < m; o += step) {
        int c = (int)(m - o < step ? m - o : step);
        float *d = dst + o;
        if (g_rank == first) {
            float *part[AM_DIST_MAX_LOCAL];
            for (int l = 0; l < nlocal; l++) part[l] = local[l] + o;
            am_dist_sum_in_order(d, part, nlocal, c);
        } else {
            /* messages between two ranks arrive in order: one tag for all chunks */
            rc = MPI_Recv(run, c, MPI_FLOAT, g_rank - 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            for (int l = 0; l < nlocal; l++)
                for (int j = 0; j < c; j++) run[j] += local[l][o + j];
            memcpy(d, run, (size_t)c * sizeof *d);
        }
        if (rc == MPI_SUCCESS && g_rank < last) {
            rc = MPI_Send(d, c, MPI_FLOAT, g_rank + 1, 3, MPI_COMM_WORLD);
            sent += (int64_t)c * (int64_t)sizeof *d;
        }
    }
    free(run);
    for (int64_t o = 0; rc == MPI_SUCCESS && o < m; o += CHUNK) {
        int c = (int)(m - o < CHUNK ? m - o : CHUNK);
        rc = MPI_Bcast(dst + o, c, MPI_FLOAT, last, MPI_COMM_WORLD);
        if (g_rank == last) sent += (int64_t)c * (int64_t)sizeof *dst;
    }
    account(t0, sent);
    return rc == MPI_SUCCESS ? AM_OK : mpi_fail(rc, "gradient sum");
}

am_status am_dist_ordered_f64(double *acc, int64_t m, void (*add)(void *user, double *acc), void *user)
{
    if (g_size == 1) {
        add(user, acc);
        return AM_OK;
    }
    if (m > INT32_MAX) return am_error(AM_ERR_VALUE, "MPI: an ordered sum of %lld values is too long", (long long)m);
    double t0 = am_monotonic_seconds();
    int rc = MPI_SUCCESS;
    if (g_rank > 0) rc = MPI_Recv(acc, (int)m, MPI_DOUBLE, g_rank - 1, 4, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    double t1 = am_monotonic_seconds();
    if (rc == MPI_SUCCESS) add(user, acc);
    double t2 = am_monotonic_seconds();
    if (rc == MPI_SUCCESS && g_rank < g_size - 1) rc = MPI_Send(acc, (int)m, MPI_DOUBLE, g_rank + 1, 4, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS) rc = MPI_Bcast(acc, (int)m, MPI_DOUBLE, g_size - 1, MPI_COMM_WORLD);
    g_stats.seconds -= t2 - t1; /* the additions are not communication */
    account(t0, m * (int64_t)sizeof *acc);
    return rc == MPI_SUCCESS ? AM_OK : mpi_fail(rc, "ordered sum");
}

am_status am_dist_allgather(const void *mine, int64_t bytes, void *all)
{
    if (g_size == 1) {
        if (all != mine) memmove(all, mine, (size_t)bytes);
        return AM_OK;
    }
    if (bytes > (int64_t)CHUNK * 256)
        return am_error(AM_ERR_VALUE, "MPI: %lld bytes per rank is too many to gather", (long long)bytes);
    double t0 = am_monotonic_seconds();
    MPI_TRY(MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD), "allgather");
    account(t0, bytes);
    return AM_OK;
}

am_status am_dist_bcast(void *buf, int64_t bytes, int root)
{
    if (g_size == 1) return AM_OK;
    double t0 = am_monotonic_seconds();
    for (int64_t o = 0; o < bytes; o += (int64_t)CHUNK * 4) {
        int c = (int)(bytes - o < (int64_t)CHUNK * 4 ? bytes - o : (int64_t)CHUNK * 4);
        MPI_TRY(MPI_Bcast((char *)buf + o, c, MPI_BYTE, root, MPI_COMM_WORLD), "bcast");
    }
    account(t0, g_rank == root ? bytes : 0);
    return AM_OK;
}

am_status am_dist_ring_shift(const void *send, int64_t sbytes, void *recv, int64_t rbytes)
{
    if (g_size == 1) {
        if (recv != send) memmove(recv, send, (size_t)sbytes);
        return AM_OK;
    }
    double t0 = am_monotonic_seconds();
    const int next = (g_rank + 1) % g_size, prev = (g_rank + g_size - 1) % g_size;
    const int64_t step = (int64_t)CHUNK * 4;
    int rc = MPI_SUCCESS;
    for (int64_t o = 0; rc == MPI_SUCCESS && (o < sbytes || o < rbytes); o += step) {
        int sc = (int)(sbytes - o > step ? step : sbytes - o > 0 ? sbytes - o : 0);
        int rcount = (int)(rbytes - o > step ? step : rbytes - o > 0 ? rbytes - o : 0);
        rc = MPI_Sendrecv((const char *)send + (sc ? o : 0), sc, MPI_BYTE, next, 2, (char *)recv + (rcount ? o : 0),
                          rcount, MPI_BYTE, prev, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    account(t0, sbytes);
    return rc == MPI_SUCCESS ? AM_OK : mpi_fail(rc, "ring shift");
}

/* Point to point from every rank to root, in rank order: counts can pass 2^31 bytes in all. */
am_status am_dist_gatherv(const void *mine, int64_t bytes, void *all, const int64_t *counts, int root)
{
    if (g_size == 1) {
        if (all != mine) memmove(all, mine, (size_t)bytes);
        return AM_OK;
    }
    double t0 = am_monotonic_seconds();
    int rc = MPI_SUCCESS;
    if (g_rank == root) {
        char *at = all;
        for (int r = 0; r < g_size && rc == MPI_SUCCESS; r++) {
            if (r == root) {
                if (at != mine) memmove(at, mine, (size_t)bytes);
            } else {
                for (int64_t o = 0; rc == MPI_SUCCESS && o < counts[r]; o += (int64_t)CHUNK * 4) {
                    int c = (int)(counts[r] - o < (int64_t)CHUNK * 4 ? counts[r] - o : (int64_t)CHUNK * 4);
                    rc = MPI_Recv(at + o, c, MPI_BYTE, r, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                }
            }
            at += counts[r];
        }
    } else {
        for (int64_t o = 0; rc == MPI_SUCCESS && o < bytes; o += (int64_t)CHUNK * 4) {
            int c = (int)(bytes - o < (int64_t)CHUNK * 4 ? bytes - o : (int64_t)CHUNK * 4);
            rc = MPI_Send((const char *)mine + o, c, MPI_BYTE, root, 1, MPI_COMM_WORLD);
        }
    }
    account(t0, g_rank == root ? 0 : bytes);
    return rc == MPI_SUCCESS ? AM_OK : mpi_fail(rc, "gather");
}
