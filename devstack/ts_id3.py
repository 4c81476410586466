"""ID3 timed metadata in MPEG-TS, as IVS carries PutMetadata: pure functions, no I/O.

`id3_tag(payload)` is an ID3v2.4 tag with one TXXX frame (UTF-8, empty description): the IVS player
surfaces its value as TEXT_METADATA_CUE `text`. `inject(segment, tags, continuity)` rewrites a TS
segment written by ffmpeg so that its PMT declares a metadata stream (as ffmpeg's muxer writes one
for `timed_id3`) and the tags ride on it as PES packets at the segment's first video PTS.

A segment without tags carries KEEPALIVE instead: the IVS web player (1.56.1) stops appending
media, stuck in Buffering, at the first segment whose declared metadata stream has no packet; a
PRIV frame keeps the stream fed and is not surfaced as a TEXT_METADATA_CUE (checked in Chromium).
"""
from __future__ import annotations

PACKET = 188
SYNC = 0x47
METADATA_PID = 0x0102
METADATA_STREAM_TYPE = 0x15  # metadata carried in PES packets
PRIVATE_STREAM_1 = 0xBD
VIDEO_STREAM_TYPES = frozenset({0x01, 0x02, 0x1B, 0x24})  # MPEG-1/2 video, H.264, HEVC
# metadata_descriptor: application format 0xFFFF + 'ID3 ', format 0xFF + 'ID3 ', service 0, flags.
METADATA_DESCRIPTOR = bytes([0x26, 13, 0xFF, 0xFF]) + b"ID3 " + bytes([0xFF]) + b"ID3 " + bytes([0x00, 0x0F])


def crc32_mpeg2(data: bytes) -> int:
    """The CRC of PSI sections: polynomial 0x04C11DB7, initial all ones, not reflected, no final xor."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def syncsafe(size: int) -> bytes:
    """ID3v2.4 sizes: 28 bits in four bytes of seven."""
    if not 0 <= size < 1 << 28:
        raise ValueError("ID3 size out of range")
    return bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _tag(frame_id: bytes, body: bytes) -> bytes:
    frame = frame_id + syncsafe(len(body)) + b"\x00\x00" + body
    return b"ID3\x04\x00\x00" + syncsafe(len(frame)) + frame


def id3_tag(payload: str) -> bytes:
    return _tag(b"TXXX", b"\x03" + b"\x00" + payload.encode())  # UTF-8, empty description, the value


KEEPALIVE = _tag(b"PRIV", b"livedrop.local/keepalive\x00")  # owner identifier, no private data


def _payload_start(packet: bytes) -> int:
    """Where a TS packet's payload begins (after the header and any adaptation field)."""
    control = (packet[3] >> 4) & 0x3
    if control & 0x1 == 0:
        return PACKET  # adaptation field only
    return 5 + packet[4] if control == 0x3 else 4


def _pid(packet: bytes) -> int:
    return ((packet[1] & 0x1F) << 8) | packet[2]


def _section(packet: bytes) -> bytes:
    """The PSI section that starts in this packet (PAT and PMT fit one packet as ffmpeg writes them)."""
    start = _payload_start(packet)
    start += 1 + packet[start]  # pointer_field
    length = ((packet[start + 1] & 0x0F) << 8) | packet[start + 2]
    return packet[start:start + 3 + length]


def _pmt_pid(pat: bytes) -> int:
    section = _section(pat)
    for offset in range(8, len(section) - 4, 4):
        if (section[offset] << 8) | section[offset + 1]:  # program 0 is the network PID
            return ((section[offset + 2] & 0x1F) << 8) | section[offset + 3]
    raise ValueError("no program in the PAT")


def _streams(pmt_section: bytes) -> tuple[int, list[tuple[int, int, int]]]:
    """(end of program info, [(offset, stream_type, pid)]) of a PMT section."""
    info_end = 12 + (((pmt_section[10] & 0x0F) << 8) | pmt_section[11])
    streams, offset = [], info_end
    while offset < len(pmt_section) - 4:
        es_info = ((pmt_section[offset + 3] & 0x0F) << 8) | pmt_section[offset + 4]
        streams.append((offset, pmt_section[offset], ((pmt_section[offset + 1] & 0x1F) << 8) | pmt_section[offset + 2]))
        offset += 5 + es_info
    return info_end, streams


def _with_metadata_stream(pmt: bytes) -> bytes:
    """The PMT packet with the metadata stream added to its section, and a new CRC."""
    section = _section(pmt)
    _, streams = _streams(section)
    if any(pid == METADATA_PID for _, _, pid in streams):
        raise ValueError(f"PID {METADATA_PID:#x} is already used")
    entry = bytes([METADATA_STREAM_TYPE, 0xE0 | METADATA_PID >> 8, METADATA_PID & 0xFF,
                   0xF0, len(METADATA_DESCRIPTOR)]) + METADATA_DESCRIPTOR
    body = section[3:-4] + entry
    length = len(body) + 4
    head = bytes([section[0], (section[1] & 0xF0) | length >> 8, length & 0xFF])
    new_section = head + body
    new_section += crc32_mpeg2(new_section).to_bytes(4, "big")
    payload = bytes([0]) + new_section  # pointer_field 0
    header = bytes([pmt[0], pmt[1], pmt[2], 0x10 | (pmt[3] & 0x0F)])  # payload only, same counter
    if len(payload) > PACKET - 4:
        raise ValueError("the PMT with the metadata stream does not fit one packet")
    return header + payload + b"\xFF" * (PACKET - 4 - len(payload))


def _pts(packet: bytes) -> int | None:
    """The PTS of the PES that starts in this packet, if it has one."""
    pes = packet[_payload_start(packet):]
    if pes[:3] != b"\x00\x00\x01" or len(pes) < 14 or not pes[7] & 0x80:
        return None
    b = pes[9:14]
    return ((b[0] >> 1) & 0x07) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1


def _encode_pts(pts: int) -> bytes:
    return bytes([0x21 | ((pts >> 29) & 0x0E), (pts >> 22) & 0xFF, 0x01 | ((pts >> 14) & 0xFE),
                  (pts >> 7) & 0xFF, 0x01 | ((pts << 1) & 0xFE)])


def pes_packets(tag: bytes, pts: int, continuity: int) -> tuple[list[bytes], int]:
    """One ID3 tag as a PES (private_stream_1, data aligned, PTS) in TS packets on the metadata PID."""
    header = bytes([0x84, 0x80, 5]) + _encode_pts(pts)  # data_alignment; PTS only
    pes = b"\x00\x00\x01" + bytes([PRIVATE_STREAM_1]) + (len(header) + len(tag)).to_bytes(2, "big") + header + tag
    packets = []
    for start in range(0, len(pes), PACKET - 4):
        chunk = pes[start:start + PACKET - 4]
        first = 0x40 if start == 0 else 0x00
        pid_bytes = bytes([SYNC, first | METADATA_PID >> 8, METADATA_PID & 0xFF])
        stuffing = PACKET - 4 - len(chunk)
        if stuffing:
            # Adaptation field: its length byte, then (if any room is left) flags and 0xFF stuffing.
            field = bytes([stuffing - 1]) + (bytes([0x00]) + b"\xFF" * (stuffing - 2) if stuffing > 1 else b"")
            packets.append(pid_bytes + bytes([0x30 | continuity]) + field + chunk)
        else:
            packets.append(pid_bytes + bytes([0x10 | continuity]) + chunk)
        continuity = (continuity + 1) % 16
    return packets, continuity


def inject(segment: bytes, tags: list[bytes], continuity: int) -> tuple[bytes, int]:
    """The segment with every PMT declaring the metadata stream and `tags` (or KEEPALIVE) right
    after its first PMT, at its first video PTS; and the metadata PID's next continuity counter."""
    if len(segment) % PACKET or segment[:1] != bytes([SYNC]):
        raise ValueError("not an MPEG-TS segment of 188-byte packets")
    packets = [segment[i:i + PACKET] for i in range(0, len(segment), PACKET)]
    pmt_pid = next((_pmt_pid(p) for p in packets if _pid(p) == 0 and p[1] & 0x40), None)
    if pmt_pid is None:
        raise ValueError("no PAT in the segment")
    first_pmt = next((i for i, p in enumerate(packets) if _pid(p) == pmt_pid and p[1] & 0x40), None)
    if first_pmt is None:
        raise ValueError("no PMT in the segment")
    _, streams = _streams(_section(packets[first_pmt]))
    video = next((pid for _, kind, pid in streams if kind in VIDEO_STREAM_TYPES), None)
    if video is None:
        raise ValueError("no video stream in the PMT")
    pts = next((_pts(p) for p in packets if _pid(p) == video and p[1] & 0x40), None)
    if pts is None:
        raise ValueError("no video PTS in the segment")
    out = [_with_metadata_stream(p) if _pid(p) == pmt_pid and p[1] & 0x40 else p for p in packets]
    carried = []
    for tag in tags or [KEEPALIVE]:
        more, continuity = pes_packets(tag, pts, continuity)
        carried += more
    out[first_pmt + 1:first_pmt + 1] = carried
    return b"".join(out), continuity
