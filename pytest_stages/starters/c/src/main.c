/*
 * A container runtime, written one stage at a time.
 *
 * Called as: your_program.sh run IMAGE COMMAND [ARG...]
 */
#define _GNU_SOURCE /* for unshare() and CLONE_NEW* in later stages */
#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: your_program.sh run IMAGE COMMAND [ARG...]\n";

int main(int argc, char *argv[])
{
    if (argc < 4 || strcmp(argv[1], "run") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    const char *image = argv[2];
    char **command = &argv[3]; /* command[0] is the program, then its arguments */

    /*
     * Stage 1: run command[0] with its arguments and wait for it to finish
     * (fork, execvp and waitpid). Print your own messages to stderr: stdout
     * belongs to the command.
     */
    fprintf(stderr,
            "your_program: TODO: run '%s' with %d argument(s) (image '%s'). "
            "Write stage 1 in src/main.c; read its instructions with "
            "`pytest-stages instructions 1`.\n",
            command[0], argc - 4, image);
    return 1;
}
