/* `astromorph index` end to end (the program in $AM_CLI) on a small file: --check reports
 * recall 1 for flat (and IVF probing every list) and saves exported/<model>.faiss; similar,
 * outliers and project use a fresh index of their metric and give what the exact search gives;
 * a stale, foreign-metric or truncated index is passed over with a one-line note, never a
 * failure; bad options fail with a message. Without FAISS: the one-line refusal, then skip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "astromorph/embeddings.h"
#include "astromorph/knn_index.h"
#include "synth.h"
#include "test_util.h"

static const char *cli, *dir;
static char out_text[1 << 18], err_text[1 << 14], first[1 << 18];

static void slurp(const char *name, char *buf, size_t cap)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "rb");
    size_t n = fp ? fread(buf, 1, cap - 1, fp) : 0;
    if (fp) fclose(fp);
    buf[n] = 0;
}

static int run(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >out.txt 2>err.txt", dir, cli, args);
    int st = system(cmd);
    slurp("out.txt", out_text, sizeof out_text);
    slurp("err.txt", err_text, sizeof err_text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* The command's output with and without the index: the same table. */
static void same_as_exact(const char *args, const char *exact_flag, const char *note)
{
    char a[1024];
    snprintf(a, sizeof a, "%s %s", args, exact_flag);
    CHECK(run(a) == 0, "%s: %s", a, err_text);
    snprintf(first, sizeof first, "%s", out_text);
    CHECK(run(args) == 0, "%s: %s", args, err_text);
    CHECK(strstr(err_text, note) != NULL, "%s: stderr lacks '%s': %s", args, note, err_text);
    CHECK(strcmp(first, out_text) == 0 && lines(out_text) > 1, "%s: differs from %s", args, exact_flag);
}

static void write_embeddings(const float *x, int64_t n, int64_t d, const char *name)
{
    am_embeddings e;
    CHECK_OK(am_embeddings_alloc(&e, n, d));
    memcpy(e.data, x, (size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++) snprintf(e.meta[i].object, AM_META_LEN, "obj_%lld", (long long)i);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK_OK(am_embeddings_write(&e, p));
    am_embeddings_free(&e);
}

int main(void)
{
    cli = getenv("AM_CLI");
    CHECK(cli != NULL, "AM_CLI is not set (ctest sets it to the astromorph program)");
    if (!cli) return am_test_finish();
    dir = am_test_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/exported", dir);
    mkdir(p, 0755);
    const int64_t n = 600, D = 16;
    float *x = synth_clusters(n, D, 5, 4.0, 23, NULL);
    write_embeddings(x, n, D, "exported/m.safetensors");
    if (!am_index_available()) {
        CHECK(run("index") == 1 && strstr(err_text, "no FAISS") && lines(err_text) == 1, "no FAISS: %s", err_text);
        am_free(x);
        return am_test_skip("built without FAISS (libfaiss-dev): only the refusal was tested");
    }
    /* the default embeddings, a flat cosine index beside them, checked */
    CHECK(run("index --type flat --check --queries 200 -k 5") == 0, "index: %s", err_text);
    CHECK(strstr(out_text, "exported/m.faiss: flat index, cosine, 600 x 16") != NULL, "index said: %s", out_text);
    CHECK(strstr(out_text, "recall@5 1.0000 (FAISS alone 1.0000) over 200 queries") != NULL, "flat check: %s",
          out_text);
    snprintf(p, sizeof p, "%s/exported/m.faiss", dir);
    struct stat st;
    CHECK(stat(p, &st) == 0 && st.st_size > 600 * 16 * 4, "exported/m.faiss not written");
    /* --check again: the saved index, not rebuilt */
    CHECK(run("index --check --queries 50") == 0 && strstr(out_text, "checking the saved index"), "recheck: %s",
          out_text);
    same_as_exact("similar --index 3 -k 7", "--exact", "using the flat index exported/m.faiss");
    /* outliers are Euclidean by default: a cosine index is passed over */
    same_as_exact("outliers --top 20", "--no-index", "is a cosine index, this search is euclidean");
    /* a Euclidean IVF probing all its lists is exhaustive: recall 1 and the exact tables */
    CHECK(run("index --type ivf --metric euclidean --nlist 8 --nprobe 8 --check -k 10") == 0, "ivf: %s", err_text);
    CHECK(strstr(out_text, "8 lists, 8 probed") && strstr(out_text, "recall@10 1.0000"), "ivf check: %s", out_text);
    same_as_exact("outliers --top 20 -k 8", "--no-index", "using the ivf index");
    same_as_exact("project --iterations 300 --seed 2", "--no-index", "using the ivf index");
    /* re-exported embeddings: the index is stale, the search goes without it */
    x[5] += 0.5f;
    write_embeddings(x, n, D, "exported/m.safetensors");
    same_as_exact("outliers --top 10", "--no-index", "stale index");
    CHECK(lines(err_text) == 2, "one line about the stale index (after the file used): %s", err_text);
    /* a truncated file: a one-line note naming it, and the exact result */
    CHECK(truncate(p, st.st_size / 2) == 0, "truncate");
    same_as_exact("similar --index 3 --metric euclidean", "--exact", "truncated");
    CHECK(lines(err_text) == 2 && strstr(err_text, "exported/m.faiss"), "truncated, one line: %s", err_text);
    /* the same file at 1 and 2 threads */
    CHECK(run("index --type ivf --nlist 12 --threads 1 -o t1.faiss") == 0, "1 thread: %s", err_text);
    CHECK(run("index --type ivf --nlist 12 --threads 2 -o t2.faiss") == 0, "2 threads: %s", err_text);
    char t1[1 << 17], t2[1 << 17];
    slurp("t1.faiss", t1, sizeof t1);
    slurp("t2.faiss", t2, sizeof t2);
    snprintf(p, sizeof p, "%s/t1.faiss", dir);
    struct stat s1;
    CHECK(stat(p, &s1) == 0 && s1.st_size > 1000 && s1.st_size < (off_t)sizeof t1 &&
              !memcmp(t1, t2, (size_t)s1.st_size),
          "the index differs at 1 and 2 threads");
    /* -o elsewhere, and bad options */
    CHECK(run("index --embeddings exported/m.safetensors --type ivfpq --pq-m 4 -o other.faiss") == 0, "ivfpq: %s",
          err_text);
    CHECK(strstr(out_text, "other.faiss: ivfpq index") && strstr(out_text, "4-byte codes"), "ivfpq: %s", out_text);
    CHECK(run("index --type lsh") == 2 && strstr(err_text, "unknown index type 'lsh'"), "--type lsh: %s", err_text);
    CHECK(run("index --type ivfpq --pq-m 5") == 1 && strstr(err_text, "does not divide"), "--pq-m 5: %s", err_text);
    CHECK(run("index --where 'gini > 0.5'") == 1 && strstr(err_text, "--where"), "--where: %s", err_text);
    CHECK(run("index --embeddings absent.safetensors") == 1 && lines(err_text) == 1, "absent: %s", err_text);
    am_free(x);
    return am_test_finish();
}
