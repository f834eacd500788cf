/* codec/msg.h: the peer wire format, the bytes one node sends another for
 * each struct sampan_msg, as pure functions over byte buffers. Nothing here
 * does I/O, allocates or keeps state, so the transport, the tests and the
 * fuzz target call the same code. docs/protocol.md (peer protocol) is the
 * byte-by-byte description; every integer is little endian.
 *
 * A frame is a 12-byte header {u32 tag "SMP2", u32 body length, u32
 * crc32c(body)} followed by the body. A stream reader frames messages with
 * codec_frame_peek() and decodes each whole frame with codec_msg_decode().
 *
 * Decoder contract: the decoders read at most `len` bytes of their buffer
 * (any value, any content; the buffer may be NULL when len is 0), never
 * outside them, whatever the bytes say, and never loop on a count before
 * checking that the bytes it covers are there. They check the framing, not
 * Raft rules: sampan_raft_step() validates the decoded message. Errors come
 * with a short static reason in *why when why is non-NULL. */
#ifndef SAMPAN_CODEC_MSG_H
#define SAMPAN_CODEC_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "sampan/raft.h"

/* "SMP2" read as a little-endian u32: 'S' 'M' 'P' then the version digit.
 * A new wire version changes the last byte, so an old node reports
 * "unsupported protocol version" instead of decoding garbage. Version 2:
 * SNAPSHOT carries the whole configuration (sampan_membership_encode)
 * where version 1 carried only the voter ids. */
#define CODEC_FRAME_TAG 0x32504d53u
#define CODEC_FRAME_HDR 12u
/* Fixed body fields: u8 type, u8 flags, ten u64, u32 n_entries. */
#define CODEC_BODY_FIXED 86u
/* Per entry: u64 term, u64 index, u8 type, u32 len (then len bytes). */
#define CODEC_ENTRY_HDR 21u
/* SNAPSHOT only, after the entries: u64 index, u64 term, u32 conf_len, then
 * conf_len bytes of configuration (at most SAMPAN_MEMBERSHIP_MAX_BYTES),
 * u32 len and the chunk. */
#define CODEC_SNAP_META_FIXED 20u
/* Largest body a frame may carry, so that header + body fits a u32 (and
 * so a size_t on every platform). */
#define CODEC_MAX_BODY (UINT32_MAX - CODEC_FRAME_HDR)

/* Flags byte. Other bits are reserved: encoders write 0, decoders refuse
 * frames that set them (room for a later version to use them). */
#define CODEC_FLAG_REJECT 0x01u
#define CODEC_FLAG_DONE 0x02u

/* The max_frame the transport uses unless configured otherwise, sized for
 * the core's defaults (sampan_raft_config_default): the core always puts at
 * least one entry in an AppendEntries, and a forwarded proposal carries
 * one, so a frame must hold one max_entry_bytes (16 MiB) entry; 1 MiB more
 * covers the headers (about 50,000 entries' worth) and makes room for a
 * 1 MiB snapshot chunk or max_msg_bytes batch. A transport with other
 * limits wants at least max(max_entry_bytes, max_msg_bytes,
 * snapshot_chunk_bytes) + headroom for headers. */
#define CODEC_MAX_FRAME_DEFAULT ((size_t)17u << 20)

/* Exact size in bytes of the frame codec_msg_encode() writes for m, or 0
 * when m cannot be encoded (the reasons codec_msg_encode() refuses it). */
size_t codec_msg_size(const struct sampan_msg *m);

/* Encodes m (borrowed, only read) as one frame into buf[0..cap) (owned by
 * the caller) and sets *written to its size, equal to codec_msg_size(m).
 * Only the fields m->type carries are encoded: `snapshot`, `len` and
 * `data` for SNAPSHOT alone; everything else for every type. The caller
 * should compare the size against the receiver's max_frame before sending:
 * a receiver refuses a larger frame and drops the connection.
 * Errors (nothing is written to buf, *written untouched):
 *   SAMPAN_EINVAL   type outside 1..SAMPAN_MSG_TYPE_MAX, entries NULL with
 *                   n_entries > 0, an entry or the chunk with len > 0 and
 *                   data NULL, a SNAPSHOT whose snapshot.conf is not a
 *                   valid membership (sampan_membership_validate);
 *   SAMPAN_ETOOBIG  the body would exceed CODEC_MAX_BODY (including more
 *                   than UINT32_MAX entries), or cap is below the size. */
int codec_msg_encode(const struct sampan_msg *m, uint8_t *buf, size_t cap,
                     size_t *written);

/* Frames a byte stream: looks at the len bytes at the head of buf (owned
 * by the caller, only read) and says whether a whole frame is there.
 *   0, *frame_len > 0   buf[0..*frame_len) is one frame: pass it to
 *                       codec_msg_decode(), then drop it from the stream;
 *   0, *frame_len == 0  no verdict yet: read more bytes and ask again;
 *   SAMPAN_EINVAL       not a sampan peer stream (bad tag), another
 *                       protocol version, or a body too short to hold the
 *                       fixed fields;
 *   SAMPAN_ETOOBIG      the header announces a frame over max_frame bytes.
 * Errors are final for the connection: the stream can no longer be framed.
 * The header is judged as soon as its bytes arrive (the tag from the first
 * byte on), so a wrong peer is refused without waiting for a body. The
 * body's checksum is checked by codec_msg_decode(), not here. */
int codec_frame_peek(const uint8_t *buf, size_t len, size_t max_frame,
                     size_t *frame_len, const char **why);

/* Decodes the frame in frame[0..len) (exactly one frame: len must equal
 * the length its header announces) into *out, without copying payloads.
 *
 * Ownership: out->entries points to `ents` (caller's scratch array of
 * max_ents elements, may be NULL when max_ents is 0), or is NULL when the
 * message has no entries. Each entry's data and out->data point INTO
 * `frame` (NULL when their len is 0). So the decoded message is valid only
 * while both `frame` and `ents` are kept alive and unchanged; pass it to
 * sampan_raft_step(), which copies what it keeps, then reuse both. The
 * pointers are non-const only because struct sampan_msg's are: nothing may
 * write through them. Fields the type does not carry are zero / NULL.
 *
 * Errors:
 *   SAMPAN_EINVAL   malformed: short frame, bad tag or version, length not
 *                   matching the header, unknown message type, reserved
 *                   flag bits, a count or length running past the body,
 *                   a snapshot configuration longer than
 *                   SAMPAN_MEMBERSHIP_MAX_BYTES or failing
 *                   sampan_membership_decode (then *why is that
 *                   function's reason), bytes left over;
 *   SAMPAN_ECORRUPT the body does not match its checksum;
 *   SAMPAN_ETOOBIG  the frame holds more than max_ents entries. Then (and
 *                   only then) out->n_entries is the announced count,
 *                   already checked to fit the frame (so at most
 *                   len / CODEC_ENTRY_HDR): the caller may grow its scratch
 *                   to that and decode again.
 * On any error *out is otherwise zeroed. */
int codec_msg_decode(const uint8_t *frame, size_t len,
                     struct sampan_entry *ents, size_t max_ents,
                     struct sampan_msg *out, const char **why);

#endif
