/* bench/steps.py's clock: `stamp` writes "@T workload <CLOCK_MONOTONIC ns>" to stderr and
 * exits 0; `stamp --launch CMD...` writes "@T launch", runs CMD, waits for it and writes
 * "@T end". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void mark(const char *name) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char buf[96];
    int n = snprintf(buf, sizeof buf, "@T %s %llu\n", name,
                     (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
    if (write(2, buf, n) != n) _exit(3);
}

int main(int argc, char **argv) {
    if (argc < 3 || argv[1][0] != '-') {
        mark("workload");
        return 0;
    }
    mark("launch");
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    mark("end");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
