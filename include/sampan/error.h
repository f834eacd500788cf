/* sampan/error.h: the error codes every sampan function returns, and their
 * human-readable names. Functions return 0 on success or one of these
 * negative codes; sampan_strerror() never returns NULL. */
#ifndef SAMPAN_ERROR_H
#define SAMPAN_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum sampan_error {
    SAMPAN_OK = 0,
    SAMPAN_ENOMEM = -1,      /* an allocation failed                        */
    SAMPAN_EINVAL = -2,      /* an argument or message field is malformed   */
    SAMPAN_ENOTLEADER = -3,  /* this node is not the leader                 */
    SAMPAN_ENOLEADER = -4,   /* no leader is known to forward to            */
    SAMPAN_ETOOBIG = -5,     /* a payload exceeds a configured size limit   */
    SAMPAN_EBUSY = -6,       /* a bounded resource is full; retry later     */
    SAMPAN_ETRANSFER = -7,   /* a leadership transfer is in progress        */
    SAMPAN_ESTALE = -8,      /* message from an older term, ignored         */
    SAMPAN_ENOTMEMBER = -9,  /* the node id is not in the configuration     */
    SAMPAN_ECOMPACTED = -10, /* the entry was discarded by log compaction   */
    SAMPAN_EUNAVAIL = -11,   /* the entry is not in the log                 */
    SAMPAN_ECORRUPT = -12,   /* persisted data failed a consistency check   */
    SAMPAN_EIO = -13,        /* an I/O operation failed                     */
    SAMPAN_ESTATE = -14,     /* call not allowed in the current state       */
    SAMPAN_ENOSPC = -15,     /* the disk is full                            */
    SAMPAN_ENOENT = -16,     /* no such file                                */
    SAMPAN_ELOCKED = -17,    /* the data directory is in use by a process   */
    SAMPAN_ESTOPPED = -18,   /* the node stopped after a fatal I/O error    */
};

/* Returns a static, NUL-terminated description of `err` (never NULL). */
const char *sampan_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
