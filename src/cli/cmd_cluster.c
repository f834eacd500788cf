/* cli/cmd_cluster.c: `sampan cluster`: a local N-node cluster for trying
 * sampan out. It starts N `sampan serve` processes (this same binary) on
 * consecutive ports, prints how to reach each, and supervises them: a node
 * that dies is reported (not restarted: the point is to watch the others
 * carry on), and SIGINT/SIGTERM/SIGHUP stop exactly the processes it
 * started (SIGTERM, then SIGKILL after a grace period). The data stays in
 * DIR/node-<id>, so the next start with the same DIR resumes it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define CLUSTER_MAX_NODES 7
#define CLUSTER_PEER_OFFSET 10000  /* peer port = client port + this */
#define CLUSTER_STOP_GRACE_MS 5000 /* SIGTERM, then SIGKILL after this */
#define CLUSTER_DIR_MAX 900        /* leaves room for "/node-N.log"    */

struct cluster_node {
    unsigned id;
    uint16_t port, peer_port;
    char data_dir[CLUSTER_DIR_MAX + 32];
    char log_path[CLUSTER_DIR_MAX + 32];
    pid_t pid; /* 0: not running (never started, or reaped) */
};

struct cluster {
    unsigned n;
    unsigned base_port;
    unsigned election_ms; /* 0: the serve default */
    char dir[CLUSTER_DIR_MAX];
    struct cluster_node nodes[CLUSTER_MAX_NODES];
    sigset_t stop_set; /* the stop signals we honour, plus SIGCHLD */
    sigset_t old_mask; /* restored in each child before exec */
};

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- before starting ------------------------------------------------- */

/* 0 if 127.0.0.1:port can be bound now. SO_REUSEADDR as libuv sets it:
 * sockets left in TIME_WAIT by a previous run do not block the node, a
 * listener does. */
static int port_free(uint16_t port, int *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    int one = 1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rv = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (rv == 0) {
        rv = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    }
    *err = errno;
    close(fd);
    return rv;
}

/* Every port the cluster needs, each named when taken. */
static int check_ports(const struct cluster *cl)
{
    int ok = 1;
    for (unsigned i = 0; i < cl->n; i++) {
        const struct cluster_node *nd = &cl->nodes[i];
        uint16_t ports[2] = {nd->port, nd->peer_port};
        for (int k = 0; k < 2; k++) {
            int err = 0;
            if (port_free(ports[k], &err) != 0) {
                fprintf(stderr,
                        "sampan: cluster: port %u (node %u's %s port) is "
                        "not free on 127.0.0.1: %s\n",
                        ports[k], nd->id, k == 0 ? "client" : "peer",
                        strerror(err));
                ok = 0;
            }
        }
    }
    if (!ok) {
        fprintf(stderr, "sampan: cluster: stop what holds it, or pick "
                        "another --base-port\n");
    }
    return ok ? 0 : -1;
}

/* mkdir -p: each component of path, existing ones accepted. */
static int make_dirs(const char *path)
{
    char buf[CLUSTER_DIR_MAX + 32];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                fprintf(stderr, "sampan: cluster: cannot create %s: %s\n", buf,
                        strerror(errno));
                return -1;
            }
            *p = c;
            if (c == '\0') {
                return 0;
            }
        }
    }
}

/* ---- starting and reaping nodes -------------------------------------- */

/* Forks and execs `sampan serve` for node nd, stdout and stderr appended
 * to its log. Returns 0, or -1 after saying why. */
static int start_node(struct cluster *cl, struct cluster_node *nd)
{
    char id[16], listen[32], peer[32], peers[CLUSTER_MAX_NODES * 32];
    char election[16], heartbeat[16];
    snprintf(id, sizeof(id), "%u", nd->id);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", nd->port);
    snprintf(peer, sizeof(peer), "127.0.0.1:%u", nd->peer_port);
    size_t off = 0;
    for (unsigned i = 0; i < cl->n; i++) {
        off += (size_t)snprintf(peers + off, sizeof(peers) - off,
                                "%s%u=127.0.0.1:%u", i ? "," : "",
                                cl->nodes[i].id, cl->nodes[i].peer_port);
    }
    /* Heartbeats at a tenth of the election timeout (serve's ratio), but
     * no faster than its 10 ms tick. */
    snprintf(election, sizeof(election), "%u", cl->election_ms);
    snprintf(heartbeat, sizeof(heartbeat), "%u",
             cl->election_ms / 10 > 10 ? cl->election_ms / 10 : 10);
    char *args[] = {"sampan",
                    "serve",
                    "--id",
                    id,
                    "--data-dir",
                    nd->data_dir,
                    "--listen",
                    listen,
                    "--peer-listen",
                    peer,
                    "--peers",
                    peers,
                    "--election-ms",
                    election,
                    "--heartbeat-ms",
                    heartbeat,
                    NULL};
    if (cl->election_ms == 0) {
        args[12] = NULL; /* keep serve's own timing */
    }

    int log =
        open(nd->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0) {
        fprintf(stderr, "sampan: cluster: cannot open %s: %s\n",
                log < 0 ? nd->log_path : "/dev/null", strerror(errno));
        goto fail;
    }
    /* A marker, so restarts appending to the same log are told apart. */
    time_t t = time(NULL);
    char when[64] = "";
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
    dprintf(log, "--- sampan cluster: starting node %u at %s ---\n", nd->id,
            when);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "sampan: cluster: cannot start node %u: fork: %s\n",
                nd->id, strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        /* Own process group: the terminal's Ctrl-C reaches only the
         * supervisor, which stops the nodes itself, one shutdown path.
         * PDEATHSIG: if the supervisor is killed outright, the node still
         * gets a SIGTERM instead of running on unsupervised. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(1); /* the supervisor died before prctl */
        }
        sigprocmask(SIG_SETMASK, &cl->old_mask, NULL);
        dup2(null, STDIN_FILENO);
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
        execv("/proc/self/exe", args);
        dprintf(STDERR_FILENO,
                "sampan: cluster: cannot run /proc/self/exe: "
                "%s\n",
                strerror(errno));
        _exit(127);
    }
    close(log);
    close(null);
    nd->pid = pid;
    return 0;
fail:
    if (log >= 0) {
        close(log);
    }
    if (null >= 0) {
        close(null);
    }
    return -1;
}

/* The last line of a node's log (why it stopped, usually), into out. */
static void last_log_line(const char *path, char *out, size_t outlen)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    char buf[1024];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from =
        size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
    close(fd);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
    }
    char *nl = strrchr(buf, '\n');
    const char *line = nl != NULL ? nl + 1 : buf;
    size_t len = strlen(line) < outlen - 1 ? strlen(line) : outlen - 1;
    memcpy(out, line, len); /* cut to fit: it is a hint */
    out[len] = '\0';
}

static void describe_status(int status, char *out, size_t outlen)
{
    if (WIFEXITED(status)) {
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(out, outlen, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        snprintf(out, outlen, "stopped (status 0x%x)", (unsigned)status);
    }
}

static unsigned count_running(const struct cluster *cl)
{
    unsigned k = 0;
    for (unsigned i = 0; i < cl->n; i++) {
        k += cl->nodes[i].pid != 0;
    }
    return k;
}

/* Reaps every node that has exited, without blocking. `report`: say so
 * on stderr as a surprise (a crash) rather than as part of stopping. */
static void reap(struct cluster *cl, int report)
{
    for (unsigned i = 0; i < cl->n; i++) {
        struct cluster_node *nd = &cl->nodes[i];
        int status;
        if (nd->pid == 0 || waitpid(nd->pid, &status, WNOHANG) != nd->pid) {
            continue;
        }
        char what[96];
        describe_status(status, what, sizeof(what));
        pid_t pid = nd->pid;
        nd->pid = 0;
        if (!report) {
            continue;
        }
        /* A node that exits by itself says why as its last words. */
        char last[256] = "";
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            last_log_line(nd->log_path, last, sizeof(last));
        }
        unsigned up = count_running(cl);
        fprintf(stderr,
                "sampan: cluster: node %u (pid %d) %s; it stays down "
                "(not restarted)\n"
                "  log: %s%s%s\n"
                "  %u of %u nodes running: %s\n",
                nd->id, (int)pid, what, nd->log_path,
                last[0] ? ", which ends: " : "", last, up, cl->n,
                up > cl->n / 2 ? "a majority, the cluster keeps serving"
                               : "no majority, writes and reads wait until "
                                 "the cluster is restarted");
    }
}

/* SIGTERM to every running node; SIGKILL to those still running after the
 * grace period, or at once on a second stop signal. */
static void stop_all(struct cluster *cl)
{
    unsigned n = count_running(cl);
    printf("sampan: cluster: stopping %u node%s...\n", n, n == 1 ? "" : "s");
    fflush(stdout);
    for (unsigned i = 0; i < cl->n; i++) {
        if (cl->nodes[i].pid != 0) {
            kill(cl->nodes[i].pid, SIGTERM);
        }
    }
    int64_t deadline = now_ms() + CLUSTER_STOP_GRACE_MS;
    int hurry = 0;
    while (!hurry && count_running(cl) > 0) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            break;
        }
        /* Wake on SIGCHLD, but poll too: a node may have exited between
         * reap() and here, its SIGCHLD already consumed. */
        struct timespec ts = {.tv_nsec = (left < 100 ? left : 100) * 1000000L};
        int sig = sigtimedwait(&cl->stop_set, NULL, &ts);
        if (sig > 0 && sig != SIGCHLD) {
            hurry = 1;
        }
        reap(cl, 0);
    }
    for (unsigned i = 0; i < cl->n; i++) {
        struct cluster_node *nd = &cl->nodes[i];
        if (nd->pid != 0) {
            fprintf(stderr,
                    "sampan: cluster: node %u (pid %d) %s; sending SIGKILL\n",
                    nd->id, (int)nd->pid,
                    hurry ? "still running at a second stop signal"
                          : "did not stop in time");
            kill(nd->pid, SIGKILL);
            waitpid(nd->pid, NULL, 0);
            nd->pid = 0;
        }
    }
}

/* ---- the command ----------------------------------------------------- */

static void print_banner(const struct cluster *cl)
{
    char self[PATH_MAX] = "sampan";
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
    }
    printf("sampan cluster: %u node%s, data in %s (supervisor pid %d)\n", cl->n,
           cl->n == 1 ? "" : "s", cl->dir, (int)getpid());
    char addrs[CLUSTER_MAX_NODES * 24] = "";
    size_t off = 0;
    for (unsigned i = 0; i < cl->n; i++) {
        const struct cluster_node *nd = &cl->nodes[i];
        printf("node %u: redis-cli -p %u  pid %d  data %s  log %s\n", nd->id,
               nd->port, (int)nd->pid, nd->data_dir, nd->log_path);
        off += (size_t)snprintf(addrs + off, sizeof(addrs) - off,
                                "%s127.0.0.1:%u", i ? "," : "", nd->port);
    }
    unsigned last = cl->base_port + cl->n - 1;
    printf("\ntry it:\n");
    printf("  redis-cli -p %u set k v    # any node: followers forward "
           "writes\n",
           cl->base_port);
    printf("  redis-cli -p %u get k      # reads are linearizable on every "
           "node\n",
           last);
    printf("  %s get k --addr 127.0.0.1:%u    # without redis-cli\n", self,
           last);
    printf("  %s status --addrs %s    # who leads, each node's lag\n", self,
           addrs);
    printf("  kill -9 <pid of the leader>    # the others elect a new one\n");
    printf("Ctrl-C stops every node; the data stays in %s for the next "
           "start.\n",
           cl->dir);
    fflush(stdout);
}

/* Waits for stop signals and node deaths. Returns the exit code. */
static int supervise(struct cluster *cl)
{
    for (;;) {
        int sig = sigwaitinfo(&cl->stop_set, NULL);
        if (sig < 0) {
            continue; /* EINTR */
        }
        if (sig == SIGCHLD) {
            reap(cl, 1);
            if (count_running(cl) == 0) {
                fprintf(stderr,
                        "sampan: cluster: every node has exited; "
                        "see the logs in %s\n",
                        cl->dir);
                return CLI_EXIT_FAIL;
            }
            continue;
        }
        printf("\nsampan: cluster: signal %d (%s)\n", sig, strsignal(sig));
        reap(cl, 1);
        stop_all(cl);
        printf("sampan: cluster: all nodes stopped; data kept in %s\n",
               cl->dir);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
}

static int parse_flags(struct cluster *cl, int argc, char **argv)
{
    char why[CLUSTER_DIR_MAX + 128];
    const char *dir = "./sampan-cluster";
    cl->n = 3;
    cl->base_port = 7379;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (cli_is_help_flag(flag)) {
            cli_print_command_usage(stdout, &cli_cmd_cluster);
            return CLI_EXIT_OK;
        }
        if (strcmp(flag, "--nodes") != 0 && strcmp(flag, "--base-port") != 0 &&
            strcmp(flag, "--dir") != 0 && strcmp(flag, "--election-ms") != 0) {
            snprintf(why, sizeof(why), "cluster: unknown argument '%s'", flag);
            return cli_usage_error(&cli_cmd_cluster, why);
        }
        if (v == NULL) {
            snprintf(why, sizeof(why), "%s needs a value", flag);
            return cli_usage_error(&cli_cmd_cluster, why);
        }
        i++;
        const char *want;
        if (strcmp(flag, "--nodes") == 0) {
            bad = parse_uint(v, 1, CLUSTER_MAX_NODES, &cl->n);
            want = "a count from 1 to 7";
        } else if (strcmp(flag, "--base-port") == 0) {
            bad = parse_uint(v, 1024, 65535, &cl->base_port);
            want = "a port from 1024 to 65535";
        } else if (strcmp(flag, "--dir") == 0) {
            bad = v[0] == '\0' || strlen(v) >= sizeof(cl->dir);
            dir = v;
            want = "a directory path under 900 bytes";
        } else {
            bad = parse_uint(v, 20, 60000, &cl->election_ms);
            want = "milliseconds from 20 to 60000";
        }
        if (bad) {
            snprintf(why, sizeof(why), "bad value '%.*s' for %s (want %s)", 200,
                     v, flag, want);
            return cli_usage_error(&cli_cmd_cluster, why);
        }
    }
    if (cl->base_port + cl->n - 1 + CLUSTER_PEER_OFFSET > 65535) {
        snprintf(why, sizeof(why),
                 "--base-port %u: peer ports (base + %d) would pass 65535",
                 cl->base_port, CLUSTER_PEER_OFFSET);
        return cli_usage_error(&cli_cmd_cluster, why);
    }
    snprintf(cl->dir, sizeof(cl->dir), "%s", dir);
    for (unsigned i = 0; i < cl->n; i++) {
        struct cluster_node *nd = &cl->nodes[i];
        nd->id = i + 1;
        nd->port = (uint16_t)(cl->base_port + i);
        nd->peer_port = (uint16_t)(nd->port + CLUSTER_PEER_OFFSET);
        snprintf(nd->data_dir, sizeof(nd->data_dir), "%s/node-%u", cl->dir,
                 nd->id);
        snprintf(nd->log_path, sizeof(nd->log_path), "%s/node-%u.log", cl->dir,
                 nd->id);
    }
    return -1; /* go on */
}

static int cluster_run(int argc, char **argv)
{
    struct cluster *cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        fprintf(stderr, "sampan: cluster: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    int code = parse_flags(cl, argc, argv);
    if (code >= 0) {
        free(cl);
        return code;
    }
    code = CLI_EXIT_FAIL;
    if (check_ports(cl) != 0 || make_dirs(cl->dir) != 0) {
        free(cl);
        return CLI_EXIT_FAIL;
    }
    for (unsigned i = 0; i < cl->n; i++) {
        if (make_dirs(cl->nodes[i].data_dir) != 0) {
            free(cl);
            return CLI_EXIT_FAIL;
        }
    }
    /* Stop signals are taken synchronously (sigwaitinfo), so no handler
     * and no global. One the caller left ignored (nohup's SIGHUP, a
     * background job's SIGINT) stays ignored. */
    sigemptyset(&cl->stop_set);
    sigaddset(&cl->stop_set, SIGCHLD);
    const int stops[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
        struct sigaction sa;
        if (sigaction(stops[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN) {
            sigaddset(&cl->stop_set, stops[i]);
        }
    }
    sigprocmask(SIG_BLOCK, &cl->stop_set, &cl->old_mask);
    int started = 1;
    for (unsigned i = 0; i < cl->n && started; i++) {
        started = start_node(cl, &cl->nodes[i]) == 0;
    }
    if (started) {
        print_banner(cl);
        code = supervise(cl);
    } else {
        stop_all(cl);
    }
    sigprocmask(SIG_SETMASK, &cl->old_mask, NULL);
    free(cl);
    return code;
}

const struct cli_command cli_cmd_cluster = {
    .name = "cluster",
    .summary = "run N local nodes (default 3, ports 7379.., data in "
               "./sampan-cluster)",
    .usage = "sampan cluster [--nodes N] [--base-port P] [--dir DIR] "
             "[--election-ms MS]",
    .run = cluster_run,
};
