/* util/error.c: names for sampan's error codes and the core's enums. */
#include "sampan/error.h"
#include "sampan/raft.h"

const char *sampan_strerror(int err)
{
    switch (err) {
    case SAMPAN_OK:
        return "success";
    case SAMPAN_ENOMEM:
        return "out of memory";
    case SAMPAN_EINVAL:
        return "invalid argument or malformed message";
    case SAMPAN_ENOTLEADER:
        return "not the leader";
    case SAMPAN_ENOLEADER:
        return "no leader known";
    case SAMPAN_ETOOBIG:
        return "payload exceeds the configured size limit";
    case SAMPAN_EBUSY:
        return "resource limit reached, retry later";
    case SAMPAN_ETRANSFER:
        return "leadership transfer in progress";
    case SAMPAN_ESTALE:
        return "stale term";
    case SAMPAN_ENOTMEMBER:
        return "not a member of the configuration";
    case SAMPAN_ECOMPACTED:
        return "entry compacted away";
    case SAMPAN_EUNAVAIL:
        return "entry not in the log";
    case SAMPAN_ECORRUPT:
        return "persisted data is corrupt";
    case SAMPAN_EIO:
        return "I/O error";
    case SAMPAN_ESTATE:
        return "call not allowed in the current state";
    case SAMPAN_ENOSPC:
        return "no space left on the disk";
    case SAMPAN_ENOENT:
        return "no such file";
    case SAMPAN_ELOCKED:
        return "data directory in use by another process";
    case SAMPAN_ESTOPPED:
        return "node stopped after a fatal I/O error";
    default:
        return "unknown error";
    }
}

const char *sampan_msg_type_name(int type)
{
    static const char *const names[SAMPAN_MSG_TYPE_MAX + 1] = {
        [SAMPAN_MSG_PREVOTE] = "PreVote",
        [SAMPAN_MSG_PREVOTE_RESP] = "PreVoteResp",
        [SAMPAN_MSG_VOTE] = "Vote",
        [SAMPAN_MSG_VOTE_RESP] = "VoteResp",
        [SAMPAN_MSG_APPEND] = "Append",
        [SAMPAN_MSG_APPEND_RESP] = "AppendResp",
        [SAMPAN_MSG_HEARTBEAT] = "Heartbeat",
        [SAMPAN_MSG_HEARTBEAT_RESP] = "HeartbeatResp",
        [SAMPAN_MSG_PROPOSE] = "Propose",
        [SAMPAN_MSG_TIMEOUT_NOW] = "TimeoutNow",
        [SAMPAN_MSG_READ_INDEX] = "ReadIndex",
        [SAMPAN_MSG_READ_INDEX_RESP] = "ReadIndexResp",
        [SAMPAN_MSG_SNAPSHOT] = "Snapshot",
        [SAMPAN_MSG_SNAPSHOT_RESP] = "SnapshotResp",
    };
    if (type < 1 || type > SAMPAN_MSG_TYPE_MAX) {
        return "Unknown";
    }
    return names[type];
}

const char *sampan_role_name(enum sampan_role role)
{
    switch (role) {
    case SAMPAN_FOLLOWER:
        return "follower";
    case SAMPAN_PRECANDIDATE:
        return "precandidate";
    case SAMPAN_CANDIDATE:
        return "candidate";
    case SAMPAN_LEADER:
        return "leader";
    }
    return "unknown";
}
