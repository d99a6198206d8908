/* Ctrl-C and SIGTERM (what SLURM sends at a time limit) during a long run: the first asks the
 * run to stop at the next image and save a checkpoint; a second stops at once, except while an
 * atomic file (the checkpoint) is being written, when the program ends as soon as it is complete. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "astromorph/runtime.h"

static volatile int requested;

const volatile int *am_interrupt_flag(void) { return &requested; }

static void say(const char *msg, size_t n)
{
    ssize_t w = write(STDERR_FILENO, msg, n);
    (void)w;
}

static void on_signal(int sig)
{
    if (!requested) {
        requested = 1;
        return;
    }
    /* cutting a write short would leave only its temporary */
    if (am_atomic_pending() > 0) {
        static const char msg[] = "\nastromorph: still writing the checkpoint; stopping as soon as it is complete\n";
        say(msg, sizeof msg - 1);
        return;
    }
    static const char stop[] = "\nastromorph: stopped at once; the last checkpoint written (if any) is unchanged\n";
    say(stop, sizeof stop - 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

void am_interrupt_catch(void)
{
    requested = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void am_interrupt_release(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}
