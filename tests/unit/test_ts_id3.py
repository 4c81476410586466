"""ID3 timed metadata in MPEG-TS (devstack/ts_id3.py), on hand-made packets. A real segment from
ffmpeg, read back by ffprobe, is in tests/integration/test_hls.py."""
import json
import zlib

import pytest

from devstack import ts_id3
from devstack.ts_id3 import PACKET, crc32_mpeg2, id3_tag, inject, pes_packets, syncsafe


def test_crc32_mpeg2_check_value():
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the published check value of CRC-32/MPEG-2
    assert crc32_mpeg2(b"123456789") != zlib.crc32(b"123456789")  # not the reflected zip CRC


def test_syncsafe_sizes():
    assert syncsafe(0) == b"\x00\x00\x00\x00"
    assert syncsafe(127) == b"\x00\x00\x00\x7f"
    assert syncsafe(128) == b"\x00\x00\x01\x00"
    assert syncsafe((1 << 28) - 1) == b"\x7f\x7f\x7f\x7f"
    with pytest.raises(ValueError):
        syncsafe(1 << 28)


def test_id3_tag_is_one_utf8_txxx_frame():
    payload = json.dumps({"v": 1, "title": "Pullover – grün"}, ensure_ascii=False)
    tag = id3_tag(payload)
    assert tag[:6] == b"ID3\x04\x00\x00"
    assert tag[10:14] == b"TXXX"
    body = tag[20:]
    assert body == b"\x03\x00" + payload.encode()  # UTF-8, empty description, the value
    assert tag[6:10] == syncsafe(len(tag) - 10) and tag[14:18] == syncsafe(len(body))


@pytest.mark.parametrize("size", [1, 170, 171, 172, 173, 350, 1100])
def test_pes_packets_fill_whole_packets_with_counting_continuity(size):
    packets, after = pes_packets(b"x" * size, pts=90000, continuity=14)
    assert all(len(p) == PACKET and p[0] == 0x47 for p in packets)
    assert [p[3] & 0x0F for p in packets] == [(14 + i) % 16 for i in range(len(packets))]
    assert after == (14 + len(packets)) % 16
    assert packets[0][1] & 0x40 and not any(p[1] & 0x40 for p in packets[1:])  # PES starts once
    # Reassembled, the payloads are exactly the PES: header + 8 bytes of flags/PTS + the tag.
    pes = b"".join(p[5 + p[4]:] if p[3] & 0x20 else p[4:] for p in packets)
    assert pes[:4] == b"\x00\x00\x01\xbd" and int.from_bytes(pes[4:6], "big") == 8 + size
    assert pes[6] & 0x04 and pes[7] == 0x80  # data aligned, PTS only
    assert pes[14:] == b"x" * size


def ts_packet(pid, payload, start=True, continuity=0):
    head = bytes([0x47, (0x40 if start else 0) | pid >> 8, pid & 0xFF, 0x10 | continuity])
    return head + payload + b"\xff" * (PACKET - 4 - len(payload))


def section(table_id, body):
    length = len(body) + 4
    data = bytes([table_id, 0xB0 | length >> 8, length & 0xFF]) + body
    return data + crc32_mpeg2(data).to_bytes(4, "big")


def tiny_segment(video_pts=900000):
    pat = ts_packet(0, b"\x00" + section(0x00, bytes([0, 1, 0xC1, 0, 0, 0, 1, 0xF0, 0x00])))
    pmt_body = bytes([0, 1, 0xC1, 0, 0, 0xE1, 0x00, 0xF0, 0x00, 0x1B, 0xE1, 0x00, 0xF0, 0x00])
    pmt = ts_packet(0x1000, b"\x00" + section(0x02, pmt_body))
    pes = b"\x00\x00\x01\xe0\x00\x00\x80\x80\x05" + ts_id3._encode_pts(video_pts) + b"\x00\x00\x00\x01\x09"
    return pat + pmt + ts_packet(0x100, pes) + ts_packet(0x100, b"\x00" * 10, start=False, continuity=1)


def test_every_segment_declares_the_metadata_stream_and_feeds_it_even_without_tags():
    out, continuity = inject(tiny_segment(), [], 5)
    assert continuity == 6 and len(out) == len(tiny_segment()) + PACKET
    keepalive = out[2 * PACKET:3 * PACKET]
    assert ts_id3._pid(keepalive) == 0x102 and b"PRIV" in keepalive and b"TXXX" not in keepalive
    pmt = out[PACKET:2 * PACKET]
    sec = ts_id3._section(pmt)
    assert crc32_mpeg2(sec[:-4]).to_bytes(4, "big") == sec[-4:]
    _, streams = ts_id3._streams(sec)
    assert [(kind, pid) for _, kind, pid in streams] == [(0x1B, 0x100), (0x15, 0x102)]
    assert ts_id3.METADATA_DESCRIPTOR in sec


def test_tags_follow_the_first_pmt_at_the_first_video_pts():
    tags = [id3_tag("a"), id3_tag("b" * 300)]
    out, continuity = inject(tiny_segment(video_pts=123456789), tags, 15)
    packets = [out[i:i + PACKET] for i in range(0, len(out), PACKET)]
    metadata = [i for i, p in enumerate(packets) if ts_id3._pid(p) == 0x102]
    assert metadata == [2, 3, 4]  # right after PAT + PMT, before the video
    assert [packets[i][3] & 0x0F for i in metadata] == [15, 0, 1] and continuity == 2
    assert [ts_id3._pts(packets[i]) for i in (2, 3)] == [123456789, 123456789]


def test_refuses_what_is_not_a_segment():
    with pytest.raises(ValueError):
        inject(b"\x47" * 100, [], 0)
    with pytest.raises(ValueError):
        inject(tiny_segment()[PACKET:], [], 0)  # no PAT
