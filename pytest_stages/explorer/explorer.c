/*
 * The explorer: a small static helper that the stage checks run inside a
 * student's container.
 *
 * It is a multi-call binary chosen by the basename of argv[0]:
 *   sh     a tiny shell for `sh -c STRING` (simple commands joined by ;, && and ||)
 *   ls     ls [DIR]
 *   cat    cat [FILE...]
 *   echo   echo [ARG...]
 *   any other name behaves as `docker-explorer SUBCOMMAND [ARG...]`
 *
 * Build: cc -static -O2 -o docker-explorer explorer.c (C99 with POSIX calls,
 * tested with glibc and written for musl too).
 *
 * Output goes through stdio. Every path that ends the process, forks or
 * raises a signal flushes stdout first and checks for write errors. A write
 * error ends the process with status 1. It is silent for EPIPE, because a
 * reader that closed its end of the pipe does not want a message, and names
 * the error otherwise. SIGPIPE keeps whatever disposition the process
 * inherited, so by default a closed pipe kills it the way it kills any tool.
 */
#define _GNU_SOURCE /* sethostname() on glibc and musl */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_WRITE_ERROR 1
#define DEFAULT_PATH "/bin:/usr/bin:/usr/local/bin:/sbin:/usr/sbin"

/* A large buffer keeps `lines` fast: 200000 lines take a few dozen writes. */
static char stdout_buffer[1 << 16];

/* The name used as prefix of write-error messages. */
static const char *program_name = "docker-explorer";

/* ------------------------------------------------------------------ */
/* Output helpers                                                     */
/* ------------------------------------------------------------------ */

static void exit_on_write_error(int error)
{
    if (error != EPIPE)
        fprintf(stderr, "%s: write error: %s\n", program_name, strerror(error));
    /* _exit, because exit() would try to flush the failed stream again. */
    _exit(EXIT_WRITE_ERROR);
}

static void flush_stdout(void)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout))
        exit_on_write_error(errno != 0 ? errno : EIO);
}

static void check_stream(FILE *stream)
{
    if (ferror(stream))
        exit_on_write_error(errno != 0 ? errno : EIO);
}

static void finish(int status)
{
    flush_stdout();
    check_stream(stderr);
    exit(status);
}

/* Print ARGS joined by single spaces, then a newline. */
static void print_words(FILE *stream, int count, char **words)
{
    for (int i = 0; i < count; i++) {
        if (i > 0)
            fputc(' ', stream);
        fputs(words[i], stream);
    }
    fputc('\n', stream);
    check_stream(stream);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* ------------------------------------------------------------------ */
/* Argument parsing                                                   */
/* ------------------------------------------------------------------ */

/* Parse a whole decimal integer in [min, max]. Returns 0 on success. */
static int parse_long(const char *text, long min, long max, long *value)
{
    char *end;

    errno = 0;
    *value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    return (*value < min || *value > max) ? -1 : 0;
}

/* Parse a non-negative decimal number of seconds such as 2 or 0.25. */
static int parse_seconds(const char *text, double *seconds)
{
    char *end;

    errno = 0;
    *seconds = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    return (isfinite(*seconds) && *seconds >= 0) ? 0 : -1;
}

static const struct {
    const char *name;
    int number;
} signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"CHLD", SIGCHLD},
    {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},
};

/* Parse a signal number or a name with or without the SIG prefix. */
static int parse_signal(const char *text)
{
    long number;

    if (parse_long(text, 1, 64, &number) == 0)
        return (int)number;
    if (strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++) {
        if (strcasecmp(text, signal_names[i].name) == 0)
            return signal_names[i].number;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Tools shared by the multi-call names and the subcommands           */
/* ------------------------------------------------------------------ */

static int compare_names(const void *left, const void *right)
{
    /* strcmp compares as unsigned char, so the order is bytewise. */
    return strcmp(*(char *const *)left, *(char *const *)right);
}

/* Read the names in DIRECTORY except . and .. into a growing array. */
static int read_names(DIR *directory, char ***names, size_t *count)
{
    size_t capacity = 0;
    struct dirent *entry;

    *names = NULL;
    *count = 0;
    errno = 0;
    while ((entry = readdir(directory)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            *names = realloc(*names, capacity * sizeof **names);
        }
        if (*names == NULL || ((*names)[*count] = strdup(entry->d_name)) == NULL)
            return ENOMEM;
        (*count)++;
    }
    return errno;
}

/*
 * The original challenge's helper prints "No such file or directory" to
 * stdout for a missing directory, and checks compare against that text.
 */
static int list_directory(const char *path)
{
    DIR *directory = opendir(path);
    char **names;
    size_t count;
    int error;

    if (directory == NULL && errno == ENOENT) {
        puts("No such file or directory");
        return 2;
    }
    if (directory == NULL) {
        fprintf(stderr, "ls: cannot open directory '%s': %s\n", path, strerror(errno));
        return 2;
    }
    error = read_names(directory, &names, &count);
    closedir(directory);
    if (error != 0) {
        fprintf(stderr, "ls: cannot read directory '%s': %s\n", path, strerror(error));
        return 2;
    }
    qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 0; i < count; i++)
        puts(names[i]);
    return 0;
}

/* Copy the open file DESCRIPTOR to stdout. Returns 0 or an errno value. */
static int copy_to_stdout(int descriptor)
{
    char buffer[1 << 16];
    ssize_t count;

    while ((count = read(descriptor, buffer, sizeof buffer)) != 0) {
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            return errno;
        if (fwrite(buffer, 1, (size_t)count, stdout) != (size_t)count)
            exit_on_write_error(errno);
    }
    return 0;
}

static int cat_file(const char *path)
{
    int descriptor = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
    int error;

    if (descriptor < 0) {
        fprintf(stderr, "cat: %s: %s\n", path, strerror(errno));
        return 1;
    }
    error = copy_to_stdout(descriptor);
    if (descriptor != STDIN_FILENO)
        close(descriptor);
    if (error != 0) {
        fprintf(stderr, "cat: %s: %s\n", path, strerror(error));
        return 1;
    }
    return 0;
}

static void sleep_seconds(double seconds)
{
    struct timespec remaining;

    remaining.tv_sec = (time_t)seconds;
    remaining.tv_nsec = (long)((seconds - (double)remaining.tv_sec) * 1e9);
    /* nanosleep stores the time left when a signal interrupts it. */
    while (nanosleep(&remaining, &remaining) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------ */
/* Multi-call tools: argv[0] is the tool name                         */
/* ------------------------------------------------------------------ */

static int ls_main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-' && argv[1][1] != '\0')) {
        fprintf(stderr, "usage: ls [DIR] (this ls takes no options)\n");
        return EXIT_USAGE;
    }
    return list_directory(argc == 2 ? argv[1] : ".");
}

static int cat_main(int argc, char **argv)
{
    int status = 0;

    if (argc < 2)
        return cat_file("-");
    for (int i = 1; i < argc; i++) {
        if (cat_file(argv[i]) != 0)
            status = 1;
    }
    return status;
}

static int echo_main(int argc, char **argv)
{
    print_words(stdout, argc - 1, argv + 1);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The shell                                                          */
/* ------------------------------------------------------------------ */

enum operator { OP_NONE, OP_SEQUENCE, OP_NEWLINE, OP_AND, OP_OR, OP_END };

/* One simple command and the operator that joins it to the previous one. */
struct command {
    char **argv;
    int argc;
    enum operator joined_by;
};

struct text_buffer {
    char *data;
    size_t length;
    size_t capacity;
};

static void append_char(struct text_buffer *buffer, char c)
{
    if (buffer->length + 1 >= buffer->capacity) {
        buffer->capacity = buffer->capacity ? buffer->capacity * 2 : 32;
        buffer->data = realloc(buffer->data, buffer->capacity);
        if (buffer->data == NULL) {
            fputs("sh: out of memory\n", stderr);
            finish(2);
        }
    }
    buffer->data[buffer->length++] = c;
    buffer->data[buffer->length] = '\0';
}

static void syntax_error(const char *message)
{
    fprintf(stderr, "sh: syntax error: %s\n", message);
    finish(2);
}

/* Reject shell syntax this shell does not implement instead of misreading it. */
static void unsupported(char c)
{
    fprintf(stderr,
            "sh: unsupported syntax '%c': this shell runs simple commands "
            "joined by ;, && and ||, without expansions or redirections\n",
            c);
    finish(2);
}

/* Read a single-quoted string. CURSOR points after the opening quote. */
static const char *read_single_quoted(const char *cursor, struct text_buffer *word)
{
    while (*cursor != '\'') {
        if (*cursor == '\0')
            syntax_error("unterminated quoted string");
        append_char(word, *cursor++);
    }
    return cursor + 1;
}

/* Inside double quotes a backslash escapes only $ ` " \ and newline. */
static const char *read_double_quoted(const char *cursor, struct text_buffer *word)
{
    while (*cursor != '"') {
        if (*cursor == '\0')
            syntax_error("unterminated quoted string");
        if (*cursor == '$' || *cursor == '`')
            unsupported(*cursor);
        if (*cursor == '\\' && strchr("$`\"\\\n", cursor[1]) != NULL && cursor[1] != '\0') {
            if (cursor[1] != '\n')
                append_char(word, cursor[1]);
            cursor += 2;
            continue;
        }
        append_char(word, *cursor++);
    }
    return cursor + 1;
}

/* Read one unquoted character, a quoted string or an escape into WORD. */
static const char *read_word_part(const char *cursor, struct text_buffer *word)
{
    if (*cursor == '\'')
        return read_single_quoted(cursor + 1, word);
    if (*cursor == '"')
        return read_double_quoted(cursor + 1, word);
    if (*cursor == '\\' && cursor[1] == '\n')
        return cursor + 2; /* line continuation */
    if (*cursor == '\\' && cursor[1] != '\0') {
        append_char(word, cursor[1]);
        return cursor + 2;
    }
    /* Glob characters stay literal, as sh leaves a pattern that matches nothing. */
    if (strchr("<>()$`", *cursor) != NULL)
        unsupported(*cursor);
    append_char(word, *cursor);
    return cursor + 1;
}

/* Read an operator at CURSOR, or return OP_NONE when a word starts there. */
static enum operator read_operator(const char **cursor)
{
    const char *c = *cursor;

    if (*c == '\0')
        return OP_END;
    *cursor = c + 1;
    if (*c == ';')
        return OP_SEQUENCE;
    if (*c == '\n')
        return OP_NEWLINE;
    if ((*c == '&' || *c == '|') && c[1] == *c) {
        *cursor = c + 2;
        return *c == '&' ? OP_AND : OP_OR;
    }
    if (*c == '&' || *c == '|')
        unsupported(*c);
    *cursor = c;
    return OP_NONE;
}

/* Read the next word into WORD and return OP_NONE, or read the next operator. */
static enum operator next_token(const char **cursor, struct text_buffer *word)
{
    enum operator op;

    while (**cursor == ' ' || **cursor == '\t')
        (*cursor)++;
    if (**cursor == '#') /* a comment runs to the end of the line */
        *cursor += strcspn(*cursor, "\n");
    op = read_operator(cursor);
    if (op != OP_NONE)
        return op;
    /* Start an empty string, so '' yields an empty word. */
    append_char(word, '\0');
    word->length = 0;
    word->data[0] = '\0';
    while (**cursor != '\0' && strchr(" \t\n;&|", **cursor) == NULL)
        *cursor = read_word_part(*cursor, word);
    return OP_NONE;
}

static void append_word(struct command *command, const char *word)
{
    command->argv = realloc(command->argv, (size_t)(command->argc + 2) * sizeof(char *));
    if (command->argv == NULL || (command->argv[command->argc] = strdup(word)) == NULL) {
        fputs("sh: out of memory\n", stderr);
        finish(2);
    }
    command->argv[++command->argc] = NULL;
}

/* Start a new empty command joined by OP at the end of the list. */
static struct command *add_command(struct command **list, size_t *count, enum operator op)
{
    *list = realloc(*list, (*count + 1) * sizeof **list);
    if (*list == NULL) {
        fputs("sh: out of memory\n", stderr);
        finish(2);
    }
    (*list)[*count] = (struct command){NULL, 0, op};
    return &(*list)[(*count)++];
}

/*
 * Parse the whole script before running any of it, as sh does for one line,
 * so a syntax error runs nothing. Memory is never freed, because the process
 * is short-lived. Empty lines are skipped, but an empty command before ;, &&
 * or || is a syntax error, as in sh.
 */
static struct command *parse_script(const char *script, size_t *count)
{
    struct command *list = NULL;
    struct command *current = NULL;
    struct text_buffer word = {NULL, 0, 0};
    enum operator pending = OP_SEQUENCE;
    enum operator op;

    *count = 0;
    while ((op = next_token(&script, &word)) != OP_END) {
        if (op == OP_NONE) {
            if (current == NULL)
                current = add_command(&list, count, pending);
            append_word(current, word.data);
        } else if (current != NULL) {
            pending = op == OP_NEWLINE ? OP_SEQUENCE : op;
            current = NULL;
        } else if (op != OP_NEWLINE) {
            syntax_error(op == OP_SEQUENCE ? "unexpected ';'"
                         : op == OP_AND  ? "unexpected '&&'"
                                         : "unexpected '||'");
        }
    }
    if (current == NULL && (pending == OP_AND || pending == OP_OR))
        syntax_error("unexpected end of input after '&&' or '||'");
    return list;
}

/* Try each PATH directory, as execvp does, but with our own default PATH. */
static int exec_from_path(char **argv)
{
    const char *path = getenv("PATH");
    int saw_eacces = 0;
    size_t name_length = strlen(argv[0]);

    if (path == NULL)
        path = DEFAULT_PATH;
    while (1) {
        size_t dir_length = strcspn(path, ":");
        char *candidate = malloc(dir_length + name_length + 3);

        if (candidate == NULL)
            return ENOMEM;
        /* An empty PATH element means the current directory. */
        sprintf(candidate, "%.*s/%s", (int)dir_length, dir_length ? path : ".", argv[0]);
        execv(candidate, argv);
        saw_eacces |= errno == EACCES;
        free(candidate);
        if (path[dir_length] == '\0')
            break;
        path += dir_length + 1;
    }
    return saw_eacces ? EACCES : ENOENT;
}

/* Runs in the forked child: exec ARGV or report why not and exit 126/127. */
static void exec_command(char **argv)
{
    int error;

    if (argv[0][0] != '\0' && strchr(argv[0], '/') != NULL) {
        execv(argv[0], argv);
        error = errno;
    } else {
        error = argv[0][0] != '\0' ? exec_from_path(argv) : ENOENT;
    }
    if (error == ENOENT || error == ENOTDIR)
        fprintf(stderr, "sh: %s: not found\n", argv[0]);
    else
        fprintf(stderr, "sh: %s: %s\n", argv[0], strerror(error));
    _exit(error == ENOENT || error == ENOTDIR ? 127 : 126);
}

static int wait_status(pid_t child)
{
    int status;

    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "sh: waitpid: %s\n", strerror(errno));
            return 2;
        }
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static int run_external(char **argv)
{
    pid_t child;

    /* Flush so the child does not inherit and repeat buffered output. */
    flush_stdout();
    child = fork();
    if (child < 0) {
        fprintf(stderr, "sh: fork: %s\n", strerror(errno));
        return 2;
    }
    if (child == 0)
        exec_command(argv);
    return wait_status(child);
}

static int builtin_cd(struct command *command)
{
    const char *target = command->argc > 1 ? command->argv[1] : getenv("HOME");

    if (target == NULL)
        target = "/";
    if (chdir(target) != 0) {
        fprintf(stderr, "sh: cd: %s: %s\n", target, strerror(errno));
        return 1;
    }
    return 0;
}

static void builtin_exit(struct command *command, int last_status)
{
    long status = last_status;

    if (command->argc > 1 && parse_long(command->argv[1], 0, 255, &status) != 0) {
        fprintf(stderr, "sh: exit: Illegal number: %s\n", command->argv[1]);
        status = 2;
    }
    finish((int)status);
}

static int run_command(struct command *command, int last_status)
{
    const char *name = command->argv[0];

    if (strcmp(name, "exit") == 0)
        builtin_exit(command, last_status);
    if (strcmp(name, "cd") == 0)
        return builtin_cd(command);
    if (strcmp(name, "echo") == 0)
        return echo_main(command->argc, command->argv);
    return run_external(command->argv);
}

static int run_script(const char *script)
{
    size_t count;
    struct command *commands = parse_script(script, &count);
    int status = 0;

    for (size_t i = 0; i < count; i++) {
        /* A skipped command keeps the status, so `false && a || b` runs b. */
        if (commands[i].joined_by == OP_AND && status != 0)
            continue;
        if (commands[i].joined_by == OP_OR && status == 0)
            continue;
        status = run_command(&commands[i], status);
    }
    return status;
}

static int sh_main(int argc, char **argv)
{
    /* Words after the script would set $0, $1 and so on, which this shell never expands. */
    if (argc < 3 || strcmp(argv[1], "-c") != 0) {
        fputs("usage: sh -c COMMAND (this shell runs only -c scripts)\n", stderr);
        return EXIT_USAGE;
    }
    return run_script(argv[2]);
}

/* ------------------------------------------------------------------ */
/* docker-explorer subcommands: argv[0] is the subcommand name        */
/* ------------------------------------------------------------------ */

static int usage_error(const char *name, const char *usage)
{
    fprintf(stderr, "usage: docker-explorer %s%s%s\n", name, usage[0] ? " " : "", usage);
    return EXIT_USAGE;
}

static int explorer_echo_stderr(int argc, char **argv)
{
    print_words(stderr, argc - 1, argv + 1);
    return 0;
}

static int explorer_exit(int argc, char **argv)
{
    long status;

    (void)argc;
    if (parse_long(argv[1], 0, 255, &status) != 0)
        return usage_error(argv[0], "N (an exit code from 0 to 255)");
    return (int)status;
}

static int explorer_mypid(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("%ld\n", (long)getpid());
    return 0;
}

static int explorer_ls(int argc, char **argv)
{
    return list_directory(argc > 1 ? argv[1] : ".");
}

/* Update the times of an existing file (also a directory), else create it. */
static int explorer_touch(int argc, char **argv)
{
    int descriptor;

    (void)argc;
    if (utimensat(AT_FDCWD, argv[1], NULL, 0) == 0)
        return 0;
    descriptor = errno == ENOENT ? open(argv[1], O_WRONLY | O_CREAT | O_NOCTTY, 0666) : -1;
    if (descriptor < 0) {
        fprintf(stderr, "touch: cannot touch '%s': %s\n", argv[1], strerror(errno));
        return 1;
    }
    close(descriptor);
    return 0;
}

static int write_all(int descriptor, const char *text, size_t length)
{
    while (length > 0) {
        ssize_t written = write(descriptor, text, length);

        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0)
            return -1;
        text += written;
        length -= (size_t)written;
    }
    return 0;
}

static int explorer_write(int argc, char **argv)
{
    int descriptor = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY, 0666);

    (void)argc;
    if (descriptor < 0 || write_all(descriptor, argv[2], strlen(argv[2])) != 0) {
        fprintf(stderr, "write: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (close(descriptor) != 0) {
        fprintf(stderr, "write: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    return 0;
}

static int explorer_lines(int argc, char **argv)
{
    long count;

    (void)argc;
    if (parse_long(argv[2], 0, 1000000000L, &count) != 0)
        return usage_error(argv[0], "PREFIX N (N from 0 to 1000000000)");
    for (long i = 1; i <= count; i++) {
        if (printf("%s-%ld\n", argv[1], i) < 0)
            exit_on_write_error(errno);
    }
    return 0;
}

static int explorer_sleep(int argc, char **argv)
{
    double seconds;

    (void)argc;
    if (parse_seconds(argv[1], &seconds) != 0)
        return usage_error(argv[0], "SECONDS (a number such as 2 or 0.5)");
    sleep_seconds(seconds);
    return 0;
}

static int explorer_sleep_then_echo(int argc, char **argv)
{
    double seconds;

    if (parse_seconds(argv[1], &seconds) != 0)
        return usage_error(argv[0], "SECONDS [ARG...]");
    sleep_seconds(seconds);
    print_words(stdout, argc - 2, argv + 2);
    return 0;
}

/*
 * Die by SIGNAL with its default action. The kernel drops a signal that PID 1
 * of a PID namespace sends to itself while it has no handler, so there the
 * process survives and reports it.
 */
static int explorer_kill_self(int argc, char **argv)
{
    int number = parse_signal(argv[1]);
    sigset_t set;

    (void)argc;
    if (number < 0)
        return usage_error(argv[0], "SIGNAL (a number or a name such as TERM or KILL)");
    signal(number, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, number);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    flush_stdout();
    raise(number);
    fprintf(stderr,
            "docker-explorer: kill_self: still running after signal %d (its default "
            "action ignores it, or this process is PID 1 of a PID namespace)\n",
            number);
    return 1;
}

/*
 * Die of a real SIGSEGV by writing through a null pointer. Unlike a raised
 * signal, a fault is delivered even to PID 1 of a PID namespace, so a command
 * that is PID 1 can still be killed by a signal.
 */
static int explorer_segfault(int argc, char **argv)
{
    volatile int *nowhere = NULL;
    sigset_t set;

    (void)argc;
    (void)argv;
    signal(SIGSEGV, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    flush_stdout();
    *nowhere = 1;
    return 1;
}

static int explorer_pid_exists(int argc, char **argv)
{
    long pid;

    (void)argc;
    if (parse_long(argv[1], 1, 0x7fffffffL, &pid) != 0)
        return usage_error(argv[0], "PID (a positive process id)");
    /* EPERM means the process exists but belongs to another user. */
    if (kill((pid_t)pid, 0) == 0 || errno == EPERM) {
        puts("exists");
        return 0;
    }
    puts("no such process");
    return 1;
}

static int explorer_hostname(int argc, char **argv)
{
    struct utsname names;

    (void)argc;
    (void)argv;
    if (uname(&names) != 0) {
        fprintf(stderr, "hostname: %s\n", strerror(errno));
        return 1;
    }
    puts(names.nodename);
    return 0;
}

static int explorer_sethostname(int argc, char **argv)
{
    (void)argc;
    if (sethostname(argv[1], strlen(argv[1])) != 0) {
        fprintf(stderr, "sethostname: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

static int explorer_readlink(int argc, char **argv)
{
    size_t size = 256;

    (void)argc;
    while (1) {
        char *target = malloc(size);
        ssize_t length = target ? readlink(argv[1], target, size) : -1;

        if (length < 0) {
            fprintf(stderr, "readlink: %s: %s\n", argv[1], strerror(target ? errno : ENOMEM));
            return 1;
        }
        /* A result that fills the buffer may have been cut short. */
        if ((size_t)length < size) {
            printf("%.*s\n", (int)length, target);
            return 0;
        }
        free(target);
        size *= 2;
    }
}

static int explorer_same_file(int argc, char **argv)
{
    struct stat first, second;

    (void)argc;
    for (int i = 1; i <= 2; i++) {
        if (stat(argv[i], i == 1 ? &first : &second) != 0) {
            fprintf(stderr, "same_file: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
    }
    if (first.st_dev == second.st_dev && first.st_ino == second.st_ino) {
        puts("same");
        return 0;
    }
    puts("different");
    return 1;
}

static int explorer_uid(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("%ld\n", (long)getuid());
    return 0;
}

static int explorer_help(int argc, char **argv);

static const struct subcommand {
    const char *name;
    const char *usage; /* the arguments, for help and usage errors */
    int min_args;
    int max_args; /* -1 means no limit */
    int (*run)(int argc, char **argv);
} subcommands[] = {
    {"echo", "[ARG...]", 0, -1, echo_main},
    {"echo_stderr", "[ARG...]", 0, -1, explorer_echo_stderr},
    {"exit", "N", 1, 1, explorer_exit},
    {"mypid", "", 0, 0, explorer_mypid},
    {"ls", "[DIR]", 0, 1, explorer_ls},
    {"cat", "FILE...", 1, -1, cat_main},
    {"touch", "PATH", 1, 1, explorer_touch},
    {"write", "PATH TEXT", 2, 2, explorer_write},
    {"lines", "PREFIX N", 2, 2, explorer_lines},
    {"sleep", "SECONDS", 1, 1, explorer_sleep},
    {"sleep_then_echo", "SECONDS [ARG...]", 1, -1, explorer_sleep_then_echo},
    {"kill_self", "SIGNAL", 1, 1, explorer_kill_self},
    {"segfault", "", 0, 0, explorer_segfault},
    {"pid_exists", "PID", 1, 1, explorer_pid_exists},
    {"hostname", "", 0, 0, explorer_hostname},
    {"sethostname", "NAME", 1, 1, explorer_sethostname},
    {"readlink", "PATH", 1, 1, explorer_readlink},
    {"same_file", "A B", 2, 2, explorer_same_file},
    {"uid", "", 0, 0, explorer_uid},
    {"help", "", 0, 0, explorer_help},
};

#define SUBCOMMAND_COUNT (sizeof subcommands / sizeof subcommands[0])

static int explorer_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    puts("usage: docker-explorer SUBCOMMAND [ARG...]");
    puts("Also runs as sh, ls, cat or echo when called by that name.");
    puts("Subcommands:");
    for (size_t i = 0; i < SUBCOMMAND_COUNT; i++)
        printf("  %s%s%s\n", subcommands[i].name, subcommands[i].usage[0] ? " " : "",
               subcommands[i].usage);
    return 0;
}

static int explorer_main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("SUBCOMMAND", "[ARG...] (run 'docker-explorer help' for the list)");
    for (size_t i = 0; i < SUBCOMMAND_COUNT; i++) {
        const struct subcommand *sub = &subcommands[i];
        int args = argc - 2;

        if (strcmp(argv[1], sub->name) != 0)
            continue;
        if (args < sub->min_args || (sub->max_args >= 0 && args > sub->max_args))
            return usage_error(sub->name, sub->usage);
        return sub->run(argc - 1, argv + 1);
    }
    fprintf(stderr,
            "docker-explorer: unknown subcommand '%s'\n"
            "usage: docker-explorer SUBCOMMAND [ARG...] (run 'docker-explorer help' for the list)\n",
            argv[1]);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const char *name = argc > 0 ? base_name(argv[0]) : "docker-explorer";

    setvbuf(stdout, stdout_buffer, _IOFBF, sizeof stdout_buffer);
    if (strcmp(name, "sh") == 0 || strcmp(name, "ls") == 0 || strcmp(name, "cat") == 0 ||
        strcmp(name, "echo") == 0)
        program_name = name;
    if (strcmp(name, "sh") == 0)
        finish(sh_main(argc, argv));
    if (strcmp(name, "ls") == 0)
        finish(ls_main(argc, argv));
    if (strcmp(name, "cat") == 0)
        finish(cat_main(argc, argv));
    if (strcmp(name, "echo") == 0)
        finish(echo_main(argc, argv));
    finish(explorer_main(argc, argv));
    return 0;
}
