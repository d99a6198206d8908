/* CFITSIO calls serialised when the library is not reentrant (a no-op when it is): images are
 * read by the dataset's threads (src/data) while tables are written here (src/io). */
#ifndef AM_IO_CFITSIO_LOCK_H
#define AM_IO_CFITSIO_LOCK_H

void am_fits_lock(void);
void am_fits_unlock(void);

#endif
