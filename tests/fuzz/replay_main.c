/* Replays a fuzz target's corpus without libFuzzer (any compiler, every CI run): each file under
 * the given paths (folders walked recursively) goes once through LLVMFuzzerTestOneInput, which
 * traps on a broken contract; the sanitizer build also catches what it would. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long replayed;

static int replay(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "replay: %s: cannot open\n", path);
        return 1;
    }
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return 1;
        struct dirent *e;
        int bad = 0;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            bad |= replay(sub);
        }
        closedir(d);
        return bad;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) return 1;
    uint8_t *buf = malloc((size_t)sb.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)sb.st_size, fp) : 0;
    fclose(fp);
    if (!buf) return 1;
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    replayed++;
    return 0;
}

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++) bad |= replay(argv[i]);
    printf("replayed %ld inputs\n", replayed);
    return bad || replayed == 0;
}
