"""Replies a platform sends a device (§6.1, Appendix C): 9014 data ack, 9011 request answer, 9012 result."""

from __future__ import annotations

from enum import IntEnum

from adapters.hj212.framing import encode_packet
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
    return encode_packet(reply_segment(packet, "9014"))


def request_answer(packet: Hj212Packet, code: QnRtn = QnRtn.READY) -> bytes:
    """9011 request answer with a QnRtn code."""
    return encode_packet(reply_segment(packet, "9011", f"QnRtn={int(code)}"))


def execution_result(packet: Hj212Packet, code: ExeRtn = ExeRtn.SUCCESS) -> bytes:
    """9012 execution result with an ExeRtn code."""
    return encode_packet(reply_segment(packet, "9012", f"ExeRtn={int(code)}"))
