/* sim/vfs_sim.h: a simulated disk behind the sampan_vfs interface, one per
 * simulated node. It models a page cache: writes and directory changes are
 * visible at once but durable only after sync (file data and size) and
 * sync_dir (names). A crash reverts everything to its durable image, and
 * may tear the last unsynced write of a file at 512-byte sector
 * granularity (some of its sectors reach the disk, others not). Faults:
 * power loss at the k-th operation, EIO from a sync, a capacity that makes
 * writes fail with ENOSPC, and bit flips in durable data. Deterministic:
 * all choices come from the PRNG state passed in. */
#ifndef SAMPAN_SIM_VFS_SIM_H
#define SAMPAN_SIM_VFS_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "sampan/vfs.h"

struct vfs_sim;

/* Creates an empty disk. *out is owned by the caller (vfs_sim_free). */
struct vfs_sim *vfs_sim_new(void);
void vfs_sim_free(struct vfs_sim *d);

/* The sampan_vfs view of the disk (valid while the disk lives). Open file
 * handles are invalidated by a crash. */
struct sampan_vfs vfs_sim_vfs(struct vfs_sim *d);

/* Power loss: every file and name reverts to its durable image. With
 * `tear`, the last unsynced write of each file instead reaches the disk
 * partially: each of its sectors independently, chosen by *rng. */
void vfs_sim_crash(struct vfs_sim *d, bool tear, uint64_t *rng);

/* Faults. fail_at: the operation number (counting from now, 1-based) at
 * which the disk loses power: that operation and all after it fail with
 * SAMPAN_EIO until vfs_sim_crash (0: never). */
void vfs_sim_fail_at(struct vfs_sim *d, uint64_t op);
bool vfs_sim_powered_off(const struct vfs_sim *d);
/* Cancels pending faults (power loss, sync failure, capacity). */
void vfs_sim_clear_faults(struct vfs_sim *d);
/* The next sync (of a file) fails with SAMPAN_EIO. */
void vfs_sim_fail_next_sync(struct vfs_sim *d);
/* Writes/allocations that would take the disk past `bytes` in total fail
 * with SAMPAN_ENOSPC (0: unlimited). */
void vfs_sim_set_capacity(struct vfs_sim *d, uint64_t bytes);
/* Flips one bit of the durable (and current) content of file `name` at
 * byte `off`; returns false when there is no such file or byte. */
bool vfs_sim_flip(struct vfs_sim *d, const char *name, uint64_t off, int bit);
/* Makes file `name` end at off + len, its bytes from off on being
 * buf[0..len) (durable and current): what a crash leaves of a write that
 * extended the file and was cut short. Only for a stopped node's disk and
 * only shrinking; returns false when there is no such file or the new end
 * would be past the old one. */
bool vfs_sim_cut_file(struct vfs_sim *d, const char *name, uint64_t off,
                      const void *buf, size_t len);
/* The durable bytes of file `name` (valid until the disk changes), or NULL;
 * *len gets their number. The disk keeps ownership. */
const uint8_t *vfs_sim_durable(const struct vfs_sim *d, const char *name,
                               uint64_t *len);
/* Counters. */
uint64_t vfs_sim_ops(const struct vfs_sim *d);
uint64_t vfs_sim_used(const struct vfs_sim *d);
/* Names of durable files (for fault targeting): calls cb for each. */
void vfs_sim_list_durable(const struct vfs_sim *d,
                          void (*cb)(void *arg, const char *name,
                                     uint64_t size),
                          void *arg);

#endif
