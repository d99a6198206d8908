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
    CHECK(s.train.learning_rate == ours.learning_rate && strcmp(s.network_name, "amm") == 0 &&
              s.original_defaults == 0,
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
    CHECK_OK(am_settings_load(&s, write_file("r.toml", BASE "resume = true\nseed = 7\n[byol_settings]\n"
                                                              "loss = \"symmetric\"\n"),
                                  AM_SETTINGS_TRAINING, NULL));
    CHECK(s.resume == 1 && s.train.seed == 7 && s.byol.loss == AM_BYOL_LOSS_SYMMETRIC, "our keys");
    am_settings_free(&s);
    CHECK_FAILS(load_text(BASE "core_limit = -1\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE, "core_limit = -1: must be >= 0");
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
    CHECK_FAILS(load_text(BASE "gamma = 1.0\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE, "gamma = 1: must be in (0, 1)");
    CHECK_FAILS(load_text(BASE "gamma = 0\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE, "gamma = 0: must be in (0, 1)");
    CHECK_FAILS(load_text(BASE "epochs = \"5\"\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "s.toml:3:10: epochs must be an integer, not a string");
    CHECK_FAILS(load_text(BASE "export_to_csv = 1\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "export_to_csv must be true or false, not a integer");
    CHECK_FAILS(load_text(BASE "batch_size = 2.5\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "batch_size must be an integer");
    CHECK_FAILS(load_text(BASE "network_name = \"vgg\"\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_FORMAT,
                "already defined");
    CHECK_FAILS(load_text("datafile = \"files.txt\"\nnetwork_name = \"vgg\"\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_VALUE,
                "network_name = \"vgg\": must be one of \"n_layer_resnet\", \"amm\"");
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
                "s.toml:4:14: augmentation: rotation.p = 2 is outside");
}

static void test_unknown_keys(void)
{
    CHECK_FAILS(load_text(BASE "epoch = 3\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
                "s.toml:3:1: unknown key 'epoch' (did you mean 'epochs'?)");
    CHECK_FAILS(load_text(BASE "learningrate = 1e-4\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
                "(did you mean 'learning_rate'?)");
    CHECK_FAILS(load_text(BASE "stacksize = 3\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
                "unknown key 'stacksize' (it belongs in [data_settings])");
    CHECK_FAILS(load_text(BASE "[byol_settings]\nprojection_sise = 64\n", AM_SETTINGS_TRAINING, NULL), AM_ERR_NOTFOUND,
                "s.toml:4:1: unknown key 'byol_settings.projection_sise' (did you mean 'byol_settings.projection_size'?)");
    CHECK_FAILS(load_text(BASE "[network_settings]\nlast_layer = \"layer5\"\n", AM_SETTINGS_TRAINING, NULL),
                AM_ERR_VALUE, "s.toml:4:14: network_settings.last_layer = \"layer5\": must be one of \"layer1\"");
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

/* The keys a TOML-like text writes, table by table: "key = ..." or "# key = ..." (or "# key:"),
 * tables other than the four of settings.c skipped. */
typedef struct {
    char key[4][64][48];
    int n[4];
} key_list;
static const char *const key_tables[] = {"", "network_settings", "data_settings", "byol_settings"};

static void keys_of_text(char *text, key_list *kl)
{
    memset(kl, 0, sizeof *kl);
    int table = 0; /* the top level until a [table] line */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '[') {
            table = -1;
            for (int t = 1; t < 4; t++)
                if (!strncmp(line + 1, key_tables[t], strlen(key_tables[t])) && line[1 + strlen(key_tables[t])] == ']')
                    table = t;
            continue;
        }
        const char *k = line[0] == '#' ? line + 1 + (line[1] == ' ') : line;
        size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz_");
        int assign = !strncmp(k + n, " = ", 3) || (line[0] == '#' && k[n] == ':');
        if (n == 0 || n >= 48 || !assign || table < 0) continue;
        int dup = 0;
        for (int j = 0; j < kl->n[table]; j++) dup |= !strncmp(kl->key[table][j], k, n) && kl->key[table][j][n] == 0;
        if (!dup && kl->n[table] < 64) snprintf(kl->key[table][kl->n[table]++], 48, "%.*s", (int)n, k);
    }
}

/* kl holds exactly the keys the reader knows, each in its own table. */
static void check_same_keys(const char *what, const key_list *kl)
{
    for (int t = 0; t < 4; t++) {
        const char *const *known = am_settings_known_keys(key_tables[t]);
        for (const char *const *kk = known; kk && *kk; kk++) {
            /* tables are keys of the top level too: they are their own [table] lines */
            if (t == 0 && (!strcmp(*kk, "network_settings") || !strcmp(*kk, "data_settings") ||
                           !strcmp(*kk, "byol_settings") || !strcmp(*kk, "augmentation")))
                continue;
            int found = 0;
            for (int j = 0; j < kl->n[t]; j++) found |= !strcmp(kl->key[t][j], *kk);
            CHECK(found, "%s lists '%s' in [%s]", what, *kk, key_tables[t]);
        }
        for (int j = 0; j < kl->n[t]; j++) {
            int known_key = 0;
            for (const char *const *kk = known; kk && *kk; kk++) known_key |= !strcmp(kl->key[t][j], *kk);
            CHECK(known_key, "%s's '%s' in [%s] is a key the reader knows", what, kl->key[t][j], key_tables[t]);
        }
    }
}

/* examples/settings/reference.toml and the effective-settings dump of the training log both name
 * every key the reader knows, each in its own table, and no other. */
static void check_key_lists(void)
{
    key_list kl;
    char *text = am_test_slurp(am_test_path("examples/settings/reference.toml"), NULL);
    CHECK(text != NULL, "examples/settings/reference.toml is readable");
    if (text) {
        keys_of_text(text, &kl);
        check_same_keys("reference.toml", &kl);
        free(text);
    }
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
