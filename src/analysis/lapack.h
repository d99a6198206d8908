/* The LAPACK routines used by src/analysis, called as Fortran symbols from the linked
 * libopenblas (column-major; trailing size_t arguments are the hidden lengths of the character
 * arguments that gfortran-built LAPACK expects). */
#ifndef AM_ANALYSIS_LAPACK_H
#define AM_ANALYSIS_LAPACK_H

#include <stddef.h>

void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a, const int *lda,
             const double *vl, const double *vu, const int *il, const int *iu, const double *abstol, int *m, double *w,
             double *z, const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork, const int *liwork,
             int *info, size_t jobz_len, size_t range_len, size_t uplo_len);

#endif
