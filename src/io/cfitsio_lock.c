/* CFITSIO built without --enable-reentrant must not be entered by two threads at once. */
#include "io/cfitsio_lock.h"

#include <fitsio.h>
#include <pthread.h>

static pthread_mutex_t cfitsio_lock = PTHREAD_MUTEX_INITIALIZER;

void am_fits_lock(void)
{
    if (!fits_is_reentrant()) pthread_mutex_lock(&cfitsio_lock);
}

void am_fits_unlock(void)
{
    if (!fits_is_reentrant()) pthread_mutex_unlock(&cfitsio_lock);
}
