"""HJ 212 packets carried inside MQTT payloads (some bridges publish them verbatim): the `hj212` codec."""

from __future__ import annotations

import time
from collections.abc import Mapping

from adapters.hj212.framing import split_packet
from adapters.hj212.packet import Hj212Packet, parse_segment
from adapters.hj212.readings import ReadingSettings, to_readings
from gateway.model import Reading, Rejected, RejectReason

CODEC_NAME = "hj212"


def decode_packet(data: bytes) -> Hj212Packet:
    """One whole framed packet (tail optional) as a parsed packet; `Rejected` (BAD_CRC, MALFORMED…) else."""
    frame = split_packet(data)
    packet = parse_segment(frame.segment)
    packet.anomalies[:0] = frame.anomalies
    return packet


def decode_payload(payload: bytes, settings: ReadingSettings | None = None, now_ns: int | None = None) -> list[Reading]:
    """The readings of one payload holding one or more HJ 212 packets, one per line."""
    settings = settings or ReadingSettings()
    now = time.time_ns() if now_ns is None else now_ns
    lines = [line for line in payload.replace(b"\\r\\n", b"\n").splitlines() if line.strip()]
    if not lines:
        raise Rejected(RejectReason.NO_FIELDS, "empty HJ 212 payload")
    readings: list[Reading] = []
    for line in lines:
        readings.extend(to_readings(decode_packet(line), settings, now))
    if not readings:
        raise Rejected(RejectReason.NO_FIELDS, "HJ 212 payload carries no data upload (CN 2011/2051/2061/2031)")
    return readings


class Hj212Codec:
    """The `hj212` payload codec: topic levels may name the device and kind; the packet's MN is the default."""

    name = CODEC_NAME

    def __init__(self, settings: ReadingSettings | None = None) -> None:
        self.settings = settings or ReadingSettings()

    def decode(self, payload: bytes, topic: Mapping[str, str], now_ns: int) -> list[Reading]:
        """Decode a payload; a `device`/`kind` captured by the topic template overrides MN/ST."""
        readings = decode_payload(payload, self.settings, now_ns)
        for reading in readings:
            reading.device = topic.get("device") or reading.device
            reading.kind = topic.get("kind") or reading.kind
            reading.tags.update({k: v for k, v in topic.items() if k not in {"device", "kind", "grid"}})
            if "grid" in topic:
                reading.tags["topic_grid"] = topic["grid"]
        return readings
