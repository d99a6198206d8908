/* Processes working as one: the ranks of an MPI job (mpirun, srun) when astromorph is built with
 * MPI, else this process alone. Training, inference and search split their work over the ranks
 * and give the same results as one process (docs/cluster.md). */
#ifndef ASTROMORPH_DIST_H
#define ASTROMORPH_DIST_H

#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Joins the job when this process was started by an MPI launcher (its environment says so) and
 * MPI is built in; otherwise, or when MPI is already initialised by the caller, only records the
 * world's rank and size. Safe to call more than once. */
am_status am_dist_init(int *argc, char ***argv);
/* Leaves the job (MPI_Finalize when am_dist_init initialised MPI). */
void am_dist_finalize(void);
/* Ends every rank at once with `code` (MPI_Abort), after a failure the other ranks do not know
 * of; a single process just exits. */
_Noreturn void am_dist_abort(int code);

int am_dist_rank(void); /* 0 .. size-1; 0 without MPI */
int am_dist_size(void); /* 1 without MPI */
int am_dist_built_with_mpi(void);
/* 1 when the last failure came from a collective check (am_dist_agree), so every rank has it
 * and can end normally; 0 when it is this rank's own and the job must be aborted. */
int am_dist_failure_agreed(void);

/* What communication cost this process so far (for bench/). */
typedef struct am_dist_stats {
    double seconds; /* inside MPI calls */
    int64_t bytes_sent; /* by this rank, point to point and its share of collectives */
    int64_t calls;
} am_dist_stats;
void am_dist_get_stats(am_dist_stats *out);

#ifdef __cplusplus
}
#endif
#endif
