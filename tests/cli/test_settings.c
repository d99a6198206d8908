/* Settings files: the original's example loads unchanged with its values; every kind of mistake
 * (missing key, wrong type, out of range, missing file, unknown key) is refused with a message
 * naming the key and where it is. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "astromorph/settings.h"
#include "test_util.h"

static char dir[512];

static const char *write_file(const char *name, const char *text)
{
    static char path[8][600];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 600, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    fputs(text, fp);
    fclose(fp);
    return p;
}

/* Loads `text` as a training settings file; returns the status (settings freed). */
static am_status load_text(const char *text, am_settings_command cmd, const am_settings_overrides *ov)
{
    const char *path = write_file("s.toml", text);
    am_settings s;
    am_status st = am_settings_load(&s, path, cmd, ov);
    if (st == AM_OK) am_settings_free(&s);
    return st;
}

#define BASE "datafile = \"files.txt\"\nnetwork_name = \"amm\"\n"

static void test_original_example(void)
{
    /* the original package's example_settings.toml, byte for byte */
    char src[600];
    snprintf(src, sizeof src, "%s", am_test_path("examples/settings/original_example.toml"));
    FILE *in = fopen(src, "r");
    CHECK(in != NULL, "cannot open %s", src);
    if (!in) return;
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, in);
    text[n] = '\0';
    fclose(in);
    CHECK(strstr(text, "datafile = \"data/example_file.txt\"") != NULL, "the example is the original's");
    char sub[600];
    snprintf(sub, sizeof sub, "%s/data", dir);
    mkdir(sub, 0755);
    write_file("data/example_file.txt", "a.fits\n");
    const char *path = write_file("example_settings.toml", text);
    am_settings s;
    CHECK_OK(am_settings_load(&s, path, AM_SETTINGS_TRAINING, NULL));
    CHECK(s.train.epochs == 5 && s.train.learning_rate == 6e-6 && s.train.batch_size == 16, "epochs/lr/batch");
    CHECK(s.exponential_lr && s.train.schedule == AM_LR_EXPONENTIAL && s.train.gamma == 0.99, "exponential LR");
    CHECK(strcmp(s.network_name, "n_layer_resnet") == 0 && strcmp(s.last_layer, "layer4") == 0, "network");
    CHECK(s.export_to_csv == 1 && s.core_limit == 4 && s.stacksize == 3, "csv, cores, stacksize");
    CHECK(s.representation_size == 128 && s.byol.projection_size == 64 && s.byol.projection_hidden_size == 256 &&
              s.byol.use_momentum == 1,
          "byol sizes");
    /* found next to the settings file when not under the working directory */
    CHECK(strstr(s.datafile, "data/example_file.txt") != NULL && access(s.datafile, R_OK) == 0, "datafile %s",
          s.datafile);
    am_settings_free(&s);
    /* the same file drives inference, with the model given on the command line */
    const char *model = write_file("model.safetensors", "x");
    am_settings_overrides ov = {.trained_network_name = model};
    CHECK_OK(am_settings_load(&s, path, AM_SETTINGS_INFERENCE, &ov));
    CHECK(s.trained_network_name && strcmp(s.trained_network_name, model) == 0, "-n overrides");
    am_settings_free(&s);
}

static void test_defaults(void)
{
    am_settings s;
    am_train_settings ours, orig;
    am_train_settings_default(&ours);
    am_train_settings_original(&orig);
    CHECK_OK(am_settings_load(&s, write_file("d.toml", "datafile = \"files.txt\"\n"), AM_SETTINGS_TRAINING, NULL));
    CHECK(s.train.learning_rate == ours.learning_rate && strcmp(s.network_name, "amm") == 0 && s.original_defaults == 0,
          "our defaults: lr %g", s.train.learning_rate);
    am_settings_free(&s);
    const char *orig_text = "defaults = \"original\"\n" BASE "[network_settings]\n[byol_settings]\n"
                            "representation_size = 128\n";
    CHECK_OK(am_settings_load(&s, write_file("o.toml", orig_text), AM_SETTINGS_TRAINING, NULL));
    CHECK(s.original_defaults == 1 && s.train.learning_rate == 5e-6 && s.train.learning_rate == orig.learning_rate &&
              s.train.epochs == 10 && s.train.batch_size == 16 && s.train.gamma == 0.99 &&
              s.train.schedule == AM_LR_CONSTANT && s.byol.projection_size == 256 &&
              s.byol.projection_hidden_size == 1024,
          "the original's defaults");
    am_settings_free(&s);
    /* a file naming the original's value gets it, whatever the defaults */
    CHECK_OK(am_settings_load(&s, write_file("v.toml", BASE "learning_rate = 5e-6\nexponential_lr = false\n"),
                              AM_SETTINGS_TRAINING, NULL));
    CHECK(s.train.learning_rate == 5e-6 && s.train.schedule == AM_LR_CONSTANT, "explicit values win");
    am_settings_free(&s);
    CHECK_OK(am_settings_load(&s,
                              write_file("r.toml", BASE "resume = true\nseed = 7\n[byol_settings]\n"
                                                        "loss = \"symmetric\"\n"),
                              AM_SETTINGS_TRAINING, NULL));
    CHECK(s.resume == 1 && s.train.seed == 7 && s.byol.loss == AM_BYOL_LOSS_SYMMETRIC, "our keys");
    am_settings_free(&s);
    CHECK_FAILS(load_text(BASE "core_limit = -1\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "core_limit = -1: must be between 0 and 4096");
    CHECK_FAILS(load_text("defaults = \"original\"\ndatafile = \"files.txt\"\n", AM_SETTINGS_TRAINING, NULL),
                AM_ERR_NOTFOUND, "missing required key 'network_name'");
    CHECK_FAILS(load_text("defaults = \"original\"\n" BASE "[network_settings]\n", AM_SETTINGS_TRAINING, NULL),
                AM_ERR_NOTFOUND, "missing required key 'byol_settings'");
    CHECK_FAILS(load_text("defaults = \"theirs\"\n" BASE, AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "s.toml:1:12: defaults = \"theirs\": must be one of \"ours\", \"original\"");
}

static void test_mistakes(void)
{
    CHECK_FAILS(load_text("network_name = \"amm\"\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
                "s.toml: missing required key 'datafile'");
    CHECK_FAILS(load_text(BASE "epochs = 0\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "s.toml:3:10: epochs = 0: must be > 0");
    CHECK_FAILS(load_text(BASE "epochs = -3\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE, "epochs = -3: must be > 0");
    CHECK_FAILS(load_text(BASE "epochs = 9223372036854775807\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "epochs = 9223372036854775807: must be <= 2147483647");
    CHECK_FAILS(load_text(BASE "gamma = 1.0\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "gamma = 1: must be in (0, 1)");
    CHECK_FAILS(load_text(BASE "gamma = 0\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "gamma = 0: must be in (0, 1)");
    CHECK_FAILS(load_text(BASE "epochs = \"5\"\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "s.toml:3:10: epochs must be an integer, not a string");
    CHECK_FAILS(load_text(BASE "export_to_csv = 1\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "export_to_csv must be true or false, not an integer");
    CHECK_FAILS(load_text(BASE "batch_size = 2.5\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "batch_size must be an integer");
    CHECK_FAILS(load_text(BASE "network_name = \"vgg\"\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_FORMAT,
                "already defined");
    CHECK_FAILS(load_text("datafile = \"files.txt\"\nnetwork_name = \"vgg\"\n", AM_SETTINGS_TRAINING, NULL),
                AM_ERR_VALUE, "network_name = \"vgg\": must be one of \"n_layer_resnet\", \"amm\"");
    CHECK_FAILS(load_text("datafile = \"nope.txt\"\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
                "s.toml:1:12: datafile: 'nope.txt' does not exist");
    CHECK_FAILS(load_text(BASE "byol_settings = 3\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "byol_settings must be a table");
    CHECK_FAILS(load_text(BASE "[data_settings]\nnan_policy = \"mean\"\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "data_settings.nan_policy = \"mean\": must be one of \"zero\", \"min\", \"median\"");
    CHECK_FAILS(load_text(BASE "exponential_lr = true\nlr_schedule = \"cosine\"\n", AM_SETTINGS_TRAINING, NULL),
                AM_ERR_VALUE, "contradicts exponential_lr = true");
    CHECK_FAILS(load_text(BASE "epochs = 5\nepochs 6\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_FORMAT, "s.toml:4:8:");
    CHECK_FAILS(load_text(BASE "[augmentation]\nrotation.p = 2\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "s.toml:4:14: augmentation.rotation.p = 2: must be in [0, 1]");
    CHECK_FAILS(
        load_text(BASE "[data_settings]\nextra_keys = [\"TELESCOP\", \"NINECHARS\"]\n", AM_SETTINGS_TRAINING, NULL),
        AM_ERR_VALUE, "data_settings.extra_keys[1] = \"NINECHARS\": must be a FITS keyword");
    CHECK_FAILS(load_text(BASE "[augmentation]\norder = [\"hflip\", 3]\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "augmentation.order[1] must be a string, not an integer");
    CHECK_FAILS(load_text(BASE "[augmentation]\nview_size = 64.5\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "augmentation.view_size = 64.5: must be 0 or between 8 and 4096");
    CHECK_FAILS(load_text(BASE "[augmentation]\nblur.kernel = 4\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "augmentation.blur.kernel = 4: must be an odd integer between 1 and 63");
    CHECK_FAILS(load_text(BASE "seed = 1979-05-27\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "seed must be an integer, not a local date");
    /* nested tables and dotted keys are the same keys; numbers for the augment module's flags */
    am_settings s;
    CHECK_OK(am_settings_load(&s,
                              write_file("n.toml", BASE "[augmentation.rotation]\np = 0.25\n"
                                                        "[augmentation]\nhflip.enabled = 0\nblur.enabled = true\n"
                                                        "[data_settings]\nextra_keys = [\"TELESCOP\"]\n"),
                              AM_SETTINGS_TRAINING, NULL));
    int blur_last = s.augment.n_order > 0 && s.augment.order[s.augment.n_order - 1] == AM_AUG_BLUR;
    CHECK(s.augment.step[AM_AUG_ROTATION].p == 0.25 && !s.augment.step[AM_AUG_HFLIP].enabled && blur_last &&
              s.n_extra_keys == 1 && !strcmp(s.data.fits.extra_keys[0], "TELESCOP"),
          "nested [augmentation.rotation], numeric flags, a switched-on transform runs last, extra_keys");
    am_settings_free(&s);
}

static void test_unknown_keys(void)
{
    CHECK_FAILS(load_text(BASE "epoch = 3\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
                "s.toml:3:1: unknown key 'epoch' (did you mean 'epochs'?)");
    CHECK_FAILS(load_text(BASE "learningrate = 1e-4\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
                "(did you mean 'learning_rate'?)");
    CHECK_FAILS(load_text(BASE "stacksize = 3\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
                "unknown key 'stacksize' (it belongs in [data_settings])");
    CHECK_FAILS(
        load_text(BASE "[byol_settings]\nprojection_sise = 64\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
        "s.toml:4:1: unknown key 'byol_settings.projection_sise' (did you mean 'byol_settings.projection_size'?)");
    CHECK_FAILS(load_text(BASE "[network_settings]\nlast_layer = \"layer5\"\n", AM_SETTINGS_TRAINING, NULL),
                AM_ERR_VALUE, "s.toml:4:14: network_settings.last_layer = \"layer5\": must be one of \"layer1\"");
    {
        am_settings ps;
        CHECK_OK(am_settings_load(&ps, write_file("s.toml", BASE "[network_settings]\npooling = \"average\"\n"),
                                  AM_SETTINGS_TRAINING, NULL));
        CHECK(ps.pooling == AM_POOLING_AVERAGE, "pooling = \"average\" read: %d", (int)ps.pooling);
        am_settings_free(&ps);
        CHECK_OK(am_settings_load(&ps, write_file("s.toml", BASE), AM_SETTINGS_TRAINING, NULL));
        CHECK(ps.pooling == AM_POOLING_GEM, "pooling defaults to GeM: %d", (int)ps.pooling);
        am_settings_free(&ps);
        CHECK_OK(am_settings_load(&ps,
                                  write_file("s.toml",
                                             "defaults = \"original\"\n" BASE "[network_settings]\n[byol_settings]\n"
                                             "representation_size = 128\n"),
                                  AM_SETTINGS_TRAINING, NULL));
        CHECK(ps.pooling == AM_POOLING_AVERAGE, "the original's defaults: the average: %d", (int)ps.pooling);
        am_settings_free(&ps);
    }
    CHECK_FAILS(load_text(BASE "[network_settings]\npooling = \"max\"\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "s.toml:4:11: network_settings.pooling = \"max\": must be one of \"average\", \"intensity\", \"gem\"");
    {
        am_settings ws;
        CHECK_OK(am_settings_load(&ws, write_file("s.toml", BASE "[network_settings]\namm_width = 2\n"),
                                  AM_SETTINGS_TRAINING, NULL));
        CHECK(ws.amm_width == 2, "amm_width = 2 read: %d", ws.amm_width);
        am_settings_free(&ws);
        CHECK_OK(am_settings_load(&ws, write_file("s.toml", BASE), AM_SETTINGS_TRAINING, NULL));
        CHECK(ws.amm_width == 1, "amm_width defaults to 1: %d", ws.amm_width);
        am_settings_free(&ws);
        CHECK_OK(am_settings_load(&ws,
                                  write_file("s.toml", "defaults = \"original\"\n" BASE "[network_settings]\n"
                                                       "[byol_settings]\nrepresentation_size = 128\n"),
                                  AM_SETTINGS_TRAINING, NULL));
        CHECK(ws.amm_width == 1, "the original's defaults: amm_width 1: %d", ws.amm_width);
        am_settings_free(&ws);
    }
    CHECK_FAILS(load_text(BASE "[network_settings]\namm_width = 5\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "s.toml:4:13: network_settings.amm_width = 5: must be between 1 and 4");
    CHECK_FAILS(load_text(BASE "[network_settings]\namm_width = 0\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "network_settings.amm_width = 0: must be between 1 and 4");
    CHECK_FAILS(load_text("datafile = \"files.txt\"\nnetwork_name = \"n_layer_resnet\"\n"
                          "[network_settings]\namm_width = 2\n",
                          AM_SETTINGS_TRAINING, NULL),
                AM_ERR_VALUE, "s.toml:4:13: network_settings.amm_width = 2 widens amm only, not n_layer_resnet");
    CHECK_OK(load_text("datafile = \"files.txt\"\nnetwork_name = \"n_layer_resnet\"\n"
                       "[network_settings]\namm_width = 1\n",
                       AM_SETTINGS_TRAINING, NULL));
    CHECK_FAILS(load_text(BASE "[network_settings]\nlastlayer = \"layer3\"\n", AM_SETTINGS_TRAINING, NULL),
                AM_ERR_NOTFOUND, "did you mean 'network_settings.last_layer'");
    /* nothing close: no guess */
    am_status st = load_text(BASE "zzzzzzzz = 1\n", AM_SETTINGS_TRAINING, NULL);
    CHECK(st == AM_ERR_NOTFOUND && strstr(am_errmsg(), "unknown key 'zzzzzzzz'") && !strstr(am_errmsg(), "mean"),
          "no suggestion for a far key: %s", am_errmsg());
    CHECK(am_edit_distance("epoch", "epochs") == 1 && am_edit_distance("gama", "gamma") == 1 &&
              am_edit_distance("abc", "abc") == 0 && am_edit_distance("kitten", "sitting") == 3,
          "edit distance");
}

static void test_inference_files(void)
{
    CHECK_FAILS(load_text("datafile = \"files.txt\"\n", AM_SETTINGS_INFERENCE, NULL), AM_ERR_NOTFOUND,
                "missing required key 'trained_network_name' (or give -n)");
    am_settings_overrides ov = {.trained_network_name = "absent.safetensors"};
    CHECK_FAILS(load_text("datafile = \"files.txt\"\n", AM_SETTINGS_INFERENCE, &ov), AM_ERR_NOTFOUND,
                "--trained_network_name trained_network_name: 'absent.safetensors' does not exist");
    am_settings s;
    CHECK_FAILS(am_settings_load(&s, NULL, AM_SETTINGS_INFERENCE, &ov), AM_ERR_NOTFOUND,
                "no datafile: give --datafile or a settings file with -c");
    /* training ignores a model file it does not read */
    CHECK_OK(load_text(BASE "trained_network_name = \"later.safetensors\"\n", AM_SETTINGS_TRAINING, NULL));
    /* a folder is a valid datafile (all *.fits in it), but not a valid model */
    char folder[600];
    snprintf(folder, sizeof folder, "%s/images", dir);
    mkdir(folder, 0755);
    ov.trained_network_name = folder;
    ov.datafile = folder;
    CHECK_FAILS(am_settings_load(&s, NULL, AM_SETTINGS_INFERENCE, &ov), AM_ERR_VALUE, "is a folder, not a file");
}

static void test_print(void)
{
    am_settings s;
    CHECK_OK(am_settings_load(&s, write_file("p.toml", BASE "epochs = 7\n[data_settings]\nstacksize = 2\n"),
                              AM_SETTINGS_TRAINING, NULL));
    char path[600];
    snprintf(path, sizeof path, "%s/printed.toml", dir);
    FILE *fp = fopen(path, "w");
    am_settings_print(&s, fp);
    fclose(fp);
    am_settings_free(&s);
    char text[8192];
    fp = fopen(path, "r");
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    CHECK(strstr(text, "epochs = 7\n") && strstr(text, "stacksize = 2\n") && strstr(text, "network_name = \"amm\""),
          "printed settings:\n%s", text);
}

/* The keys a TOML-like text writes, table by table: "key = ..." or "# key = ..." (or "# key: not set"),
 * dotted augmentation keys included; "table.key" for keys inside a [table]. */
typedef struct {
    char key[256][64];
    int n;
} key_list;

static void keys_of_text(char *text, key_list *kl)
{
    memset(kl, 0, sizeof *kl);
    char table[48] = "";
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '[') {
            size_t n = strcspn(line + 1, "]");
            snprintf(table, sizeof table, "%.*s", (int)n, line + 1);
            continue;
        }
        const char *k = line[0] == '#' ? line + 1 + (line[1] == ' ') : line;
        size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz_.");
        int assign = !strncmp(k + n, " = ", 3) || (line[0] == '#' && !strncmp(k + n, ": not set", 9));
        if (n == 0 || n >= 40 || !assign) continue;
        char name[64];
        snprintf(name, sizeof name, "%s%s%.*s", table, *table ? "." : "", (int)n, k);
        int dup = 0;
        for (int j = 0; j < kl->n; j++) dup |= !strcmp(kl->key[j], name);
        if (!dup && kl->n < 256) snprintf(kl->key[kl->n++], 64, "%s", name);
    }
}

/* kl holds exactly the keys the reader knows, each in its own table. */
static void check_same_keys(const char *what, const key_list *kl)
{
    int known = 0;
    const char *table, *key;
    for (int i = 0; (key = am_settings_key_at(i, &table)); i++, known++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", table, *table ? "." : "", key);
        int found = 0;
        for (int j = 0; j < kl->n; j++) found |= !strcmp(kl->key[j], name);
        CHECK(found, "%s lists '%s'", what, name);
    }
    CHECK(kl->n == known, "%s lists %d keys, the reader knows %d", what, kl->n, known);
}

/* The effective-settings dump of the training log names every key the reader knows, each in its
 * own table, and no other; examples/settings/reference.toml and the key table of
 * docs/pipeline.md are exactly what `astromorph settings` writes from the same rows. */
static void check_key_lists(void)
{
    key_list kl;
    am_settings s;
    CHECK_OK(am_settings_load(&s, NULL, AM_SETTINGS_INFERENCE,
                              &(am_settings_overrides){.datafile = am_test_path("tests"),
                                                       .trained_network_name = am_test_path("README.md")}));
    char *dump = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&dump, &len);
    if (fp) {
        am_settings_print(&s, fp);
        fclose(fp);
        keys_of_text(dump, &kl);
        check_same_keys("the settings dump", &kl);
    }
    free(dump);
    am_settings_free(&s);

    for (int markdown = 0; markdown < 2; markdown++) {
        char *want = NULL;
        fp = open_memstream(&want, &len);
        CHECK_OK(am_settings_reference(fp, markdown ? AM_SETTINGS_REFERENCE_MARKDOWN : AM_SETTINGS_REFERENCE_TOML));
        fclose(fp);
        const char *file = markdown ? "docs/pipeline.md" : "examples/settings/reference.toml";
        char *text = am_test_slurp(am_test_path(file), NULL);
        CHECK(text != NULL, "%s is readable", file);
        if (text && markdown) {
            /* the table between the markers */
            char *begin = strstr(text, "<!-- keys: begin -->\n"), *end = strstr(text, "<!-- keys: end -->");
            CHECK(begin && end && end > begin, "docs/pipeline.md has the key table's markers");
            if (begin && end && end > begin) {
                begin += strlen("<!-- keys: begin -->\n");
                memmove(text, begin, (size_t)(end - begin));
                text[end - begin] = 0;
            }
        }
        CHECK(text && want && strcmp(text, want) == 0,
              "%s is what `astromorph settings%s` writes (regenerate it after changing a key)", file,
              markdown ? " --markdown" : "");
        if (text && !markdown) {
            char *copy = strdup(text);
            keys_of_text(copy, &kl);
            check_same_keys("reference.toml", &kl);
            free(copy);
        }
        free(text);
        free(want);
    }
    /* the reference is a settings file that loads, with our defaults */
    char path[600];
    snprintf(path, sizeof path, "%s", am_test_path("examples/settings/reference.toml"));
    am_settings_overrides ov = {.datafile = am_test_path("tests")};
    CHECK_OK(am_settings_load(&s, path, AM_SETTINGS_TRAINING, &ov));
    am_train_settings ours;
    am_train_settings_default(&ours);
    CHECK(s.train.epochs == ours.epochs && s.train.learning_rate == ours.learning_rate && s.augment.view_size == 64 &&
              s.hybrid_weight == 0.5,
          "reference.toml holds our defaults");
    am_settings_free(&s);
}

int main(void)
{
    check_key_lists();
    snprintf(dir, sizeof dir, "%s", am_test_tmpdir());
    /* relative paths in the files resolve against the working directory first */
    if (chdir(dir) != 0) return 2;
    write_file("files.txt", "a.fits\n");
    test_original_example();
    test_defaults();
    test_mistakes();
    test_unknown_keys();
    test_inference_files();
    test_print();
    return am_test_finish();
}
