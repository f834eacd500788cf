/* sim/scen_disk.c: whole-node scenarios with disk faults: the real node
 * driver and storage on simulated disks that lose power at any operation,
 * tear unsynced writes, fail fsync, fill up, and flip bits. Every restart
 * is checked to recover everything storage acknowledged as durable
 * (check_recovered), on top of the usual invariants. */
#include <string.h>

#include "scenarios.h"
#include "storage/format.h"
#include "vfs_sim.h"

/* Commits `count` commands of `size` bytes (8 to 2048) starting at value
 * `first`; returns the last index. */
static uint64_t commit_sized(struct sim *s, uint64_t first, int count,
                             int expected, size_t size)
{
    uint8_t cmd[2048];
    uint64_t index = 0;
    memset(cmd, 'x', sizeof(cmd));
    for (int k = 0; k < count; k++) {
        uint64_t v = first + (uint64_t)k;
        memcpy(cmd, &v, sizeof(v));
        index = sim_one(s, cmd, size, expected, true);
    }
    return index;
}

static uint64_t commit_some(struct sim *s, uint64_t first, int count,
                            int expected)
{
    return commit_sized(s, first, count, expected, 8);
}

/* One run of crash_at_every_io: power fails on `victim`'s disk at its k-th
 * operation from now while commands are committed. Returns whether the
 * fault fired (false once k is past the workload's operations). */
static bool crash_at_io(struct sim_ctx *ctx, bool on_leader, uint64_t k,
                        uint64_t *torn)
{
    ctx->s = NULL;
    struct sim *s = sim_start(ctx, 3);
    s->snapshot_every = 5;
    uint64_t leader = sim_check_one_leader(s);
    uint64_t victim = on_leader ? leader : leader % 3 + 1;
    struct sim_node *nd = &s->nodes[victim];
    vfs_sim_fail_at(nd->disk, k);
    /* Commands offered while the victim may be failing: a leader that
     * dies takes its uncommitted ones with it, so one() retries. */
    /* Commands spanning several sectors, so an interrupted write can tear
     * (a one-sector write lands whole or not at all). */
    commit_sized(s, 100, 12, 2, 1500);
    bool fired = nd->fail_stops > 0;
    if (fired) {
        SIM_ASSERT(s, !nd->up, "n%llu fail-stopped but is up",
                   (unsigned long long)victim);
        SIM_ASSERT(s, sim_restart(s, victim) == 0,
                   "n%llu could not restart after power loss at op %llu: %s",
                   (unsigned long long)victim, (unsigned long long)k,
                   nd->stop_reason);
        *torn += nd->repairs;
    } else {
        vfs_sim_fail_at(nd->disk, 0);
    }
    /* Everything committed is still there, everywhere, and the cluster
     * goes on with the restarted node. */
    uint64_t last = commit_some(s, 200, 3, 3);
    for (uint64_t i = 1; i <= last; i++) {
        SIM_ASSERT(s, sim_n_committed(s, i, NULL) == 3,
                   "index %llu not on every node after the restart",
                   (unsigned long long)i);
    }
    sim_free(s);
    ctx->s = NULL;
    return fired;
}

/* crash_at_every_io (3): for a small workload, lose power on the leader's
 * (then a follower's) disk at its k-th disk operation, for every k until
 * the workload no longer reaches it; restart from the disk (unsynced
 * writes lost, the last ones torn by sector), check every invariant and
 * that nothing acknowledged was lost. */
static void crash_at_every_io(struct sim_ctx *ctx)
{
    uint64_t runs = 0;
    uint64_t torn = 0;
    for (int role = 0; role < 2; role++) {
        uint64_t k = 1;
        while (crash_at_io(ctx, role == 0, k, &torn)) {
            k++;
            runs++;
        }
        printf("crash_at_every_io: %s: power lost at each of %llu disk "
               "operations\n",
               role == 0 ? "leader" : "follower", (unsigned long long)k - 1);
        if (k <= 20) {
            sim_fail(sim_start(ctx, 1),
                     "only %llu operations: the workload did not reach the "
                     "disk",
                     (unsigned long long)k);
        }
    }
    printf("crash_at_every_io: %llu crash points, %llu recoveries truncated "
           "a torn tail\n",
           (unsigned long long)runs, (unsigned long long)torn);
    struct sim *s = sim_start(ctx, 1);
    SIM_ASSERT(s, torn > 0,
               "no crash point ever tore a write: the torn-tail "
               "path went untested");
}

/* torn_tail_recovery (3): the leader loses power in the middle of its log
 * writes again and again; each time some sectors of the unsynced batch
 * reach the disk and others not. Recovery truncates the torn tail (never
 * acknowledged), the node restarts and catches up, and no acknowledged
 * entry is lost. */
static void torn_tail_recovery(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t repairs = 0;
    uint64_t value = 1;
    for (int round = 0; round < 40; round++) {
        uint64_t leader = sim_check_one_leader(s);
        struct sim_node *nd = &s->nodes[leader];
        /* Mostly at the sync right after the next batch is written (its
         * sectors then land or not, one by one), else a little later. */
        vfs_sim_fail_at(nd->disk,
                        sim_rand(s) % 4 ? 2 : sim_rand_range(s, 1, 8));
        uint8_t cmd[700];
        memset(cmd, 'y', sizeof(cmd));
        for (int k = 0; k < 5; k++) {
            memcpy(cmd, &value, sizeof(value));
            sim_propose(s, leader, cmd, sizeof(cmd), NULL);
            value++;
        }
        sim_run_for(s, 50 * SIM_MS);
        if (!nd->up) {
            uint64_t before = nd->repairs;
            SIM_ASSERT(s, sim_restart(s, leader) == 0,
                       "n%llu refused to restart after a torn write: %s",
                       (unsigned long long)leader, nd->stop_reason);
            repairs += nd->repairs - before;
        } else {
            vfs_sim_fail_at(nd->disk, 0);
        }
        sim_one_u64(s, 1000000 + (uint64_t)round, 3, true);
    }
    printf("torn_tail_recovery: 40 rounds, %llu torn tails truncated\n",
           (unsigned long long)repairs);
    SIM_ASSERT(s, repairs >= 5,
               "only %llu torn tails: the fault is not "
               "exercised",
               (unsigned long long)repairs);
}

struct newest_wal {
    char name[128];
};

static void pick_newest_open(void *arg, const char *name, uint64_t size)
{
    struct newest_wal *f = arg;
    size_t n = strlen(name);
    (void)size;
    if (n > 5 && strcmp(name + n - 5, ".open") == 0 &&
        (f->name[0] == '\0' || strcmp(name, f->name) > 0)) {
        snprintf(f->name, sizeof(f->name), "%s", name);
    }
}

/* torn_magic_at_file_end (3): a follower loses power while a write that
 * extends its newest segment has put down only 1, 2 or 3 bytes of a batch
 * magic, and the file ends there. Recovery must report and zero that torn
 * tail (it used to skip it silently: found by the black-box suite), the
 * node rejoins, and nothing acknowledged is lost. */
static void torn_magic_at_file_end(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t next = 1;
    for (size_t cut = 1; cut <= 3; cut++) {
        next = commit_some(s, next, 10, 3) + 1;
        uint64_t victim = sim_check_one_leader(s) % 3 + 1;
        struct sim_node *nd = &s->nodes[victim];
        sim_crash(s, victim);
        struct newest_wal wal = {{0}};
        vfs_sim_list_durable(nd->disk, pick_newest_open, &wal);
        SIM_ASSERT(s, wal.name[0] != '\0', "n%llu has no open segment",
                   (unsigned long long)victim);
        uint64_t len = 0;
        const uint8_t *p = vfs_sim_durable(nd->disk, wal.name, &len);
        uint64_t end = FMT_SECTOR; /* past the segment header */
        while (end + FMT_BATCH_HDR <= len && memcmp(p + end, "BTCH", 4) == 0) {
            uint32_t payload =
                (uint32_t)p[end + 4] | (uint32_t)p[end + 5] << 8 |
                (uint32_t)p[end + 6] << 16 | (uint32_t)p[end + 7] << 24;
            end += batch_extent(payload);
        }
        SIM_ASSERT(s, vfs_sim_cut_file(nd->disk, wal.name, end, "BTC", cut),
                   "could not cut %s at %llu", wal.name,
                   (unsigned long long)end);
        uint64_t before = nd->repairs;
        SIM_ASSERT(s, sim_restart(s, victim) == 0,
                   "n%llu refused to restart after a %zu-byte torn magic: %s",
                   (unsigned long long)victim, cut, nd->stop_reason);
        SIM_ASSERT(s,
                   nd->repairs == before + 1 &&
                       strstr(nd->repaired, "torn tail") != NULL,
                   "n%llu restarted without reporting the %zu-byte torn "
                   "tail",
                   (unsigned long long)victim, cut);
    }
    uint64_t last = commit_some(s, next, 5, 3);
    SIM_ASSERT(s, sim_n_committed(s, last, NULL) == 3, "not converged");
    printf("torn_magic_at_file_end: 1-, 2- and 3-byte torn magics reported "
           "and repaired\n");
}

struct find_wal {
    char name[128];
    uint64_t size;
};

static void pick_wal(void *arg, const char *name, uint64_t size)
{
    struct find_wal *f = arg;
    /* The oldest segment: a closed one full of acknowledged batches. */
    if (strncmp(name, "wal-", 4) == 0 &&
        (f->name[0] == '\0' || strcmp(name, f->name) < 0)) {
        snprintf(f->name, sizeof(f->name), "%s", name);
        f->size = size;
    }
}

/* bit_flip_mid_log (3): a bit flips in a batch in the middle of a
 * follower's log. On restart the node detects it and refuses to start,
 * naming the file and offset; it never serves or replicates the corrupt
 * data. The cluster continues with the other two; the operator wipes the
 * node, which rejoins and is brought up to date by snapshot. */
static void bit_flip_mid_log(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    s->snapshot_every = 10;
    uint64_t leader = sim_check_one_leader(s);
    uint64_t victim = leader % 3 + 1;
    commit_some(s, 1, 30, 3);
    sim_crash(s, victim);
    struct find_wal wal = {{0}, 0};
    vfs_sim_list_durable(s->nodes[victim].disk, pick_wal, &wal);
    SIM_ASSERT(s, wal.name[0] != '\0', "n%llu has no WAL segment",
               (unsigned long long)victim);
    /* Inside the first batch (after the 512-byte segment header), which
     * later batches follow: corruption, not a torn tail. */
    SIM_ASSERT(s, vfs_sim_flip(s->nodes[victim].disk, wal.name, 512 + 40, 3),
               "could not flip a bit in %s", wal.name);
    int rv = sim_restart(s, victim);
    printf("bit_flip_mid_log: restart refused: %s\n",
           s->nodes[victim].stop_reason);
    SIM_ASSERT(s, rv == SAMPAN_ECORRUPT,
               "n%llu started on a corrupt log (rv %d)",
               (unsigned long long)victim, rv);
    SIM_ASSERT(s,
               strstr(s->nodes[victim].stop_reason, wal.name) != NULL &&
                   strstr(s->nodes[victim].stop_reason, "offset") != NULL,
               "the error does not name the file and offset: %s",
               s->nodes[victim].stop_reason);
    /* The others carry on. */
    commit_some(s, 100, 15, 2);
    /* The operator wipes the node (docs/operations.md); it rejoins. */
    sim_wipe(s, victim);
    SIM_ASSERT(s, sim_restart(s, victim) == 0, "wiped n%llu did not start",
               (unsigned long long)victim);
    uint64_t last = commit_some(s, 200, 3, 3);
    SIM_ASSERT(s, s->nodes[victim].snapshots_installed > 0,
               "the wiped node caught up without a snapshot");
    SIM_ASSERT(s, sim_n_committed(s, last, NULL) == 3, "not converged");
}

/* wiped_follower_rejoins (3): a follower's disk is replaced (the node
 * restarts empty under the same id) and the leader takes no snapshot:
 * nothing compacts its log, so the follower can only be caught up from the
 * log. It rejects the leader's probe at its old match point with a hint
 * below it; the leader must forget that match and probe back to the start.
 * Holding on to it, the leader probed at the same point until its next
 * compaction (here: never; with the server's defaults 88 s under load). */
static void wiped_follower_rejoins(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t leader = sim_check_one_leader(s);
    uint64_t victim = leader % 3 + 1;
    commit_some(s, 1, 20, 3);
    sim_crash(s, victim);
    sim_wipe(s, victim);
    SIM_ASSERT(s, sim_restart(s, victim) == 0, "wiped n%llu did not start",
               (unsigned long long)victim);
    uint64_t last = commit_some(s, 100, 3, 2);
    sim_run_for(s, 2 * SIM_SEC);
    struct sampan_status st;
    sim_status(s, victim, &st);
    SIM_ASSERT(s, st.last_index >= last,
               "the wiped n%llu holds %llu entries of %llu two seconds on",
               (unsigned long long)victim, (unsigned long long)st.last_index,
               (unsigned long long)last);
    SIM_ASSERT(s, sim_n_committed(s, last, NULL) == 3, "not converged");
    printf("wiped_follower_rejoins: n%llu caught up from the log to index "
           "%llu\n",
           (unsigned long long)victim, (unsigned long long)st.last_index);
}

/* fsync_error_failstop (3): the leader's fsync fails. It stops for good
 * (fail-stop, never retrying the fsync), saying why; nothing it had not
 * made durable is acknowledged; the others elect a leader and commit; the
 * restarted node rejoins with nothing lost. */
static void fsync_error_failstop(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t leader = sim_check_one_leader(s);
    uint64_t before = commit_some(s, 1, 5, 3);
    struct sim_node *nd = &s->nodes[leader];
    vfs_sim_fail_next_sync(nd->disk);
    uint64_t value = 777;
    sim_propose(s, leader, &value, sizeof(value), NULL);
    sim_run_for(s, 10 * SIM_MS);
    printf("fsync_error_failstop: %s\n", nd->stop_reason);
    SIM_ASSERT(s, nd->fail_stops == 1 && !nd->up,
               "the leader kept running after its fsync failed");
    SIM_ASSERT(s, strstr(nd->stop_reason, "I/O error") != NULL,
               "the stop reason does not say it was an I/O error: %s",
               nd->stop_reason);
    uint64_t after = commit_some(s, 100, 5, 2);
    SIM_ASSERT(s, after > before, "the cluster stopped committing");
    SIM_ASSERT(s, sim_restart(s, leader) == 0, "restart failed: %s",
               nd->stop_reason);
    commit_some(s, 200, 2, 3);
}

/* disk_full (3): a follower's disk fills up. Its writes fail with ENOSPC
 * and it stops (an unwritable log cannot acknowledge anything); the
 * cluster goes on with the others; once space returns the node restarts
 * and catches up, with nothing lost. */
static void disk_full(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    uint64_t leader = sim_check_one_leader(s);
    uint64_t victim = leader % 3 + 1;
    commit_some(s, 1, 5, 3);
    struct sim_node *nd = &s->nodes[victim];
    vfs_sim_set_capacity(nd->disk, vfs_sim_used(nd->disk) + 1);
    commit_some(s, 100, 40, 2);
    printf("disk_full: %s\n", nd->stop_reason);
    SIM_ASSERT(s, !nd->up && strstr(nd->stop_reason, "space") != NULL,
               "the full node did not stop with a disk-full error: %s",
               nd->up ? "still up" : nd->stop_reason);
    /* Space returns. */
    vfs_sim_set_capacity(nd->disk, 0);
    SIM_ASSERT(s, sim_restart(s, victim) == 0, "restart failed: %s",
               nd->stop_reason);
    uint64_t last = commit_some(s, 200, 3, 3);
    SIM_ASSERT(s, sim_n_committed(s, last, NULL) == 3, "not converged");
}

/* vfs_model: the simulated disk itself behaves as a page cache over a disk
 * should, or none of the scenarios above mean anything: unsynced data and
 * names vanish in a crash, synced ones stay, renames need the directory
 * synced, unsynced writes tear by sector, and faults fire when asked. */
static void vfs_model(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 1);
    struct vfs_sim *d = vfs_sim_new();
    struct sampan_vfs v = vfs_sim_vfs(d);
    const struct sampan_vfs_ops *o = v.ops;
    uint8_t buf[2048];
    uint8_t back[2048];
    memset(buf, 0xab, sizeof(buf));
    int fd;
    size_t got;
    uint64_t size;
    uint64_t rng = 7;
    /* A new file, written and synced, but its name never synced. */
    SIM_ASSERT(s, o->open(d, "a", true, &fd) == 0, "open");
    SIM_ASSERT(s, o->write(d, fd, 0, buf, 100) == 0, "write");
    SIM_ASSERT(s, o->sync(d, fd) == 0, "sync");
    vfs_sim_crash(d, false, &rng);
    SIM_ASSERT(s, o->open(d, "a", false, &fd) == SAMPAN_ENOENT,
               "a name that was never synced survived a crash");
    /* Synced data and name survive; unsynced data does not. */
    SIM_ASSERT(s, o->open(d, "b", true, &fd) == 0, "open b");
    SIM_ASSERT(s, o->write(d, fd, 0, buf, 100) == 0, "write b");
    SIM_ASSERT(s, o->sync(d, fd) == 0 && o->sync_dir(d) == 0, "sync b");
    SIM_ASSERT(s, o->write(d, fd, 100, buf, 100) == 0, "write b more");
    vfs_sim_crash(d, false, &rng);
    SIM_ASSERT(s, o->open(d, "b", false, &fd) == 0, "synced b lost");
    SIM_ASSERT(s, o->size(d, fd, &size) == 0 && size == 100,
               "b has %llu bytes after the crash, want 100",
               (unsigned long long)size);
    SIM_ASSERT(s,
               o->read(d, fd, 0, back, 100, &got) == 0 && got == 100 &&
                   memcmp(back, buf, 100) == 0,
               "b's synced bytes changed");
    /* A rename is durable only with the directory synced. */
    SIM_ASSERT(s, o->rename(d, "b", "c") == 0, "rename");
    vfs_sim_crash(d, false, &rng);
    SIM_ASSERT(s, o->open(d, "b", false, &fd) == 0, "unsynced rename kept");
    SIM_ASSERT(s, o->rename(d, "b", "c") == 0 && o->sync_dir(d) == 0,
               "rename c");
    vfs_sim_crash(d, false, &rng);
    SIM_ASSERT(s,
               o->open(d, "b", false, &fd) == SAMPAN_ENOENT &&
                   o->open(d, "c", false, &fd) == 0,
               "synced rename lost");
    /* Tearing: a 4-sector unsynced write lands partly, sector by sector. */
    int partial = 0;
    for (int round = 0; round < 32; round++) {
        SIM_ASSERT(s, o->open(d, "t", true, &fd) == 0, "open t");
        SIM_ASSERT(s,
                   o->truncate(d, fd, 0) == 0 && o->sync(d, fd) == 0 &&
                       o->sync_dir(d) == 0,
                   "reset t");
        SIM_ASSERT(s, o->write(d, fd, 0, buf, 2048) == 0, "write t");
        vfs_sim_crash(d, true, &rng);
        SIM_ASSERT(s, o->open(d, "t", false, &fd) == 0, "t lost");
        memset(back, 0, sizeof(back));
        SIM_ASSERT(s, o->read(d, fd, 0, back, 2048, &got) == 0, "read t");
        int landed = 0;
        for (int sec = 0; sec < 4; sec++) {
            bool written = (size_t)(sec * 512 + 512) <= got &&
                           back[sec * 512] == 0xab &&
                           back[sec * 512 + 511] == 0xab;
            landed += written;
        }
        partial += landed > 0 && landed < 4;
    }
    SIM_ASSERT(s, partial > 0, "no torn write in 32 crashes");
    /* Faults: power loss at an operation, a failing sync, a full disk. */
    SIM_ASSERT(s, o->open(d, "f", true, &fd) == 0, "open f");
    vfs_sim_fail_at(d, 2);
    SIM_ASSERT(s, o->write(d, fd, 0, buf, 10) == 0, "op 1 should work");
    SIM_ASSERT(s, o->sync(d, fd) == SAMPAN_EIO && vfs_sim_powered_off(d),
               "power loss at op 2 did not happen");
    SIM_ASSERT(s, o->write(d, fd, 0, buf, 10) == SAMPAN_EIO,
               "a powered-off disk took a write");
    vfs_sim_crash(d, false, &rng);
    SIM_ASSERT(s, o->open(d, "f", true, &fd) == 0, "open f again");
    vfs_sim_fail_next_sync(d);
    SIM_ASSERT(s, o->sync(d, fd) == SAMPAN_EIO, "sync did not fail");
    SIM_ASSERT(s, o->sync(d, fd) == 0, "the sync failure repeated");
    vfs_sim_set_capacity(d, vfs_sim_used(d) + 10);
    SIM_ASSERT(s, o->write(d, fd, 0, buf, 500) == SAMPAN_ENOSPC,
               "a full disk took a write");
    vfs_sim_free(d);
    printf("vfs_model: %d of 32 crashes tore the write\n", partial);
}

/* disk_stall (3): the leader's disk stalls for 2 s (its fsyncs wait behind
 * another process's, say) while commands keep arriving. Its writes run
 * off its loop, as in the server, so it goes on heartbeating and
 * replicating what it is still writing itself (thesis 10.2.1): no
 * follower starts an election, and the followers' acknowledgements alone
 * commit the commands, which the followers apply during the stall. A
 * leader that sent nothing while a write was in flight would be deposed
 * one election timeout (300-600 ms) into the stall. */
static void disk_stall(struct sim_ctx *ctx)
{
    struct sim *s = sim_start(ctx, 3);
    s->write_latency_max_us = 300;
    uint64_t leader = sim_check_one_leader(s);
    commit_some(s, 1, 5, 3);
    struct sampan_status before;
    sim_status(s, leader, &before);
    uint64_t follower = leader % 3 + 1;
    uint64_t applied_before = s->nodes[follower].applied.last;
    s->nodes[leader].write_stall_until = s->now + 2 * SIM_SEC;
    for (uint64_t k = 0; k < 19; k++) {
        uint64_t value = 1000 + k;
        SIM_ASSERT(s, sim_propose(s, leader, &value, sizeof(value), NULL) == 0,
                   "the leader refused a command %llu ms into its stall",
                   (unsigned long long)(k * 100));
        sim_run_for(s, 100 * SIM_MS);
        for (uint64_t id = 1; id <= 3; id++) {
            struct sampan_status st;
            sim_status(s, id, &st);
            SIM_ASSERT(s, st.term == before.term,
                       "n%llu is in term %llu %llu ms into the leader's "
                       "disk stall (was %llu): the leader went silent",
                       (unsigned long long)id, (unsigned long long)st.term,
                       (unsigned long long)((k + 1) * 100),
                       (unsigned long long)before.term);
        }
    }
    uint64_t applied_stall = s->nodes[follower].applied.last;
    SIM_ASSERT(s, applied_stall >= applied_before + 19,
               "n%llu applied %llu commands during the leader's stall, not "
               "the 19 the followers had acknowledged",
               (unsigned long long)follower,
               (unsigned long long)(applied_stall - applied_before));
    sim_run_for(s, 200 * SIM_MS);
    SIM_ASSERT(s, sim_is_leader(s, leader), "the leader lost its leadership");
    commit_some(s, 2000, 3, 3);
    printf("disk_stall: term %llu throughout; n%llu applied %llu commands "
           "while the leader's write stalled\n",
           (unsigned long long)before.term, (unsigned long long)follower,
           (unsigned long long)(applied_stall - applied_before));
}

const struct sim_scenario sim_scenarios_disk[] = {
    {"disk_stall", disk_stall},
    {"wiped_follower_rejoins", wiped_follower_rejoins},
    {"vfs_model", vfs_model},
    {"crash_at_every_io", crash_at_every_io},
    {"torn_tail_recovery", torn_tail_recovery},
    {"torn_magic_at_file_end", torn_magic_at_file_end},
    {"bit_flip_mid_log", bit_flip_mid_log},
    {"fsync_error_failstop", fsync_error_failstop},
    {"disk_full", disk_full},
    {NULL, NULL},
};
