/* libFuzzer target for the safetensors reader (am_st_parse): any bytes must give AM_OK or a clean
 * error, never a crash or an out-of-bounds read; an accepted file must satisfy the invariants
 * the rest of the code relies on. Build with `make fuzz` (clang), run e.g.
 *   build-fuzz/fuzz_safetensors -max_total_time=60 corpus/ */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    am_safetensors st;
    if (am_st_parse(&st, data, size, "fuzz") != AM_OK) return 0;
    for (size_t i = 0; i < st.count; i++) {
        const am_st_entry *e = &st.entries[i];
        int64_t n = 1;
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0) abort();
            n *= e->shape[d];
        }
        /* Offsets inside the data section, sized exactly for the shape, in order, not overlapping. */
        if (e->begin > e->end || e->end > st.data_len) abort();
        if (e->end - e->begin != (uint64_t)n * am_dtype_size(e->dtype)) abort();
        if (i > 0 && st.entries[i - 1].end > e->begin) abort();
        if (am_st_find(&st, e->name) != e) abort();
        am_tensor t;
        if (am_st_get_f32(&st, e->name, &t) == AM_OK) {
            volatile float sink = 0;
            for (int64_t k = 0; k < am_tensor_numel(&t); k++) sink += t.data[k];
            (void)sink;
            am_tensor_free(&t);
        }
    }
    for (size_t i = 0; i < st.meta_count; i++)
        if (am_st_meta(&st, st.meta_keys[i]) == NULL) abort();
    am_st_free(&st);
    return 0;
}
