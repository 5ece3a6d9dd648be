"""Replies a platform sends a device (§6.1, Appendix C): 9014 data ack, 9011 request answer, 9012 result."""

from __future__ import annotations

import functools
from enum import IntEnum

from adapters.hj212.crc import crc_joined, crc_joiner
from adapters.hj212.framing import MAX_LENGTH_FIELD, encode_packet
from adapters.hj212.packet import Hj212Packet

REPLY_ST = "91"
"""ST of system interaction (Table 5)."""
REPLY_FLAG = 4
"""HJ 212-2017, no ack wanted (Appendix C)."""


class QnRtn(IntEnum):
    """Request answer codes (Table 7)."""

    READY = 1
    REJECTED = 2
    PW_ERROR = 3
    MN_ERROR = 4
    ST_ERROR = 5
    FLAG_ERROR = 6
    QN_ERROR = 7
    CN_ERROR = 8
    CRC_ERROR = 9
    UNKNOWN = 100


class ExeRtn(IntEnum):
    """Execution result codes (Table 6)."""

    SUCCESS = 1
    FAILED = 2
    CONDITION_ERROR = 3
    TIMEOUT = 4
    BUSY = 5
    SYSTEM_FAULT = 6
    NO_DATA = 100


def reply_segment(packet: Hj212Packet, cn: str, cp: str = "") -> str:
    """A reply's data segment: the request's QN (when it had one), ST=91, PW, MN, Flag=4 and a CP area."""
    qn = f"QN={packet.qn};" if packet.qn else ""
    return f"{qn}ST={REPLY_ST};CN={cn};PW={packet.pw};MN={packet.mn};Flag={REPLY_FLAG};CP=&&{cp}&&"


def data_ack(packet: Hj212Packet) -> bytes:
    """9014 data answer to an upload whose Flag asked for one (sent once the data is durable)."""
    if not packet.qn:
        return encode_packet(reply_segment(packet, "9014"))
    head = b"QN=%s" % packet.qn.encode()
    tail, joiner = _ack_tail(packet.pw, packet.mn)
    if len(head) + len(tail) > MAX_LENGTH_FIELD:
        return encode_packet(reply_segment(packet, "9014"))
    return b"##%04d%s%s%04X\r\n" % (len(head) + len(tail), head, tail, crc_joined(head, joiner))


@functools.lru_cache(maxsize=4096)
def _ack_tail(pw: str, mn: str) -> tuple[bytes, tuple[bytes, int, int]]:
    """The part of a device's 9014 after its QN, with what its CRC needs (cached: only the QN changes)."""
    tail = f";ST={REPLY_ST};CN=9014;PW={pw};MN={mn};Flag={REPLY_FLAG};CP=&&&&".encode()
    return tail, crc_joiner(tail)


def request_answer(packet: Hj212Packet, code: QnRtn = QnRtn.READY) -> bytes:
    """9011 request answer with a QnRtn code."""
    return encode_packet(reply_segment(packet, "9011", f"QnRtn={int(code)}"))


def execution_result(packet: Hj212Packet, code: ExeRtn = ExeRtn.SUCCESS) -> bytes:
    """9012 execution result with an ExeRtn code."""
    return encode_packet(reply_segment(packet, "9012", f"ExeRtn={int(code)}"))
