/* CSV fields as the tables of the io module and the program write them. */
#ifndef AM_IO_CSV_INTERNAL_H
#define AM_IO_CSV_INTERNAL_H

#include <stdio.h>

/* One field quoted as pandas does (only when it holds the separator, a quote or a line break). */
void am_csv_field(FILE *fp, const char *s);
void am_csv_field_sep(FILE *fp, const char *s, char sep); /* the same for another separator */

#endif
