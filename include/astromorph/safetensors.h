/* safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then
 * the tensor bytes. Used for models, checkpoints, embeddings and test fixtures. The reader
 * treats every file as untrusted. */
#ifndef ASTROMORPH_SAFETENSORS_H
#define ASTROMORPH_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AM_DT_F32,
    AM_DT_F64,
    AM_DT_F16,
    AM_DT_BF16,
    AM_DT_I64,
    AM_DT_I32,
    AM_DT_I16,
    AM_DT_I8,
    AM_DT_U8,
    AM_DT_BOOL
} am_dtype;

size_t am_dtype_size(am_dtype dt);
const char *am_dtype_name(am_dtype dt);

typedef struct am_st_entry {
    char *name;
    am_dtype dtype;
    int ndim;
    int64_t shape[AM_MAX_DIMS];
    uint64_t begin, end; /* byte offsets into the data section */
} am_st_entry;

typedef struct am_safetensors {
    am_st_entry *entries; /* sorted by begin offset */
    size_t count;
    char **meta_keys, **meta_values;
    size_t meta_count;
    uint8_t *buffer; /* whole file: read-only when mapped */
    size_t mapped; /* bytes mapped (am_st_read), 0 when buffer is malloc'd */
    const uint8_t *data; /* data section inside buffer */
    uint64_t data_len;
} am_safetensors;

am_status am_st_read(am_safetensors *st, const char *path);
/* Parses a file image already in memory (copied). `label` names it in errors. */
am_status am_st_parse(am_safetensors *st, const uint8_t *bytes, size_t len, const char *label);
void am_st_free(am_safetensors *st);

const am_st_entry *am_st_find(const am_safetensors *st, const char *name);
const char *am_st_meta(const am_safetensors *st, const char *key); /* NULL when absent */
/* Converts any numeric dtype to a newly allocated float32 tensor of the stored shape. */
am_status am_st_get_f32(const am_safetensors *st, const char *name, am_tensor *out);
/* Copies into caller memory of exactly `count` float32 elements (shape is checked by count). */
am_status am_st_copy_f32(const am_safetensors *st, const char *name, float *dst, int64_t count);

/* Elements first .. first + count − 1 of tensor e (of st, in range), converted to float32. */
void am_st_elements_f32(const am_safetensors *st, const am_st_entry *e, int64_t first, int64_t count, float *dst);

typedef struct am_st_writer am_st_writer;
am_st_writer *am_st_writer_new(void);
/* Adds a tensor; the bytes are copied. Duplicate names are an error. */
am_status am_st_writer_add(am_st_writer *w, const char *name, am_dtype dtype, int ndim, const int64_t *shape,
                           const void *data);
/* The same without a copy: data must stay unchanged until am_st_writer_write (a model's or an
 * optimizer's state, written as it is: a ResNet18 checkpoint's 182 MB are not copied first). */
am_status am_st_writer_add_ref(am_st_writer *w, const char *name, am_dtype dtype, int ndim, const int64_t *shape,
                               const void *data);
am_status am_st_writer_add_f32(am_st_writer *w, const char *name, const am_tensor *t);
am_status am_st_writer_meta(am_st_writer *w, const char *key, const char *value);
/* Writes atomically (temporary name, then rename). */
am_status am_st_writer_write(am_st_writer *w, const char *path);
void am_st_writer_free(am_st_writer *w);

#ifdef __cplusplus
}
#endif
#endif
