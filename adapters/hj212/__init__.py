"""HJ 212-2017 for dust and noise monitors: codec, TCP server input and upstream relay.

Public surface: framing (`encode_packet`, `FrameReader`), parsing (`parse_segment`, `Hj212Packet`),
readings (`to_readings`, `ReadingSettings`), replies (`data_ack`, `request_answer`, `execution_result`),
the MQTT payload codec (`decode_payload`, `Hj212Codec`).
"""

from __future__ import annotations

from adapters.hj212.codec import CODEC_NAME, Hj212Codec, decode_packet, decode_payload
from adapters.hj212.crc import hj212_crc
from adapters.hj212.framing import Frame, FrameReader, Garbage, encode_packet, split_packet
from adapters.hj212.packet import Hj212Packet, parse_segment
from adapters.hj212.readings import DeviceInfo, ReadingSettings, data_time_ns, to_readings
from adapters.hj212.replies import ExeRtn, QnRtn, data_ack, execution_result, request_answer

__all__ = [
    "CODEC_NAME",
    "DeviceInfo",
    "ExeRtn",
    "Frame",
    "FrameReader",
    "Garbage",
    "Hj212Codec",
    "Hj212Packet",
    "QnRtn",
    "ReadingSettings",
    "data_ack",
    "data_time_ns",
    "decode_packet",
    "decode_payload",
    "encode_packet",
    "execution_result",
    "hj212_crc",
    "parse_segment",
    "request_answer",
    "split_packet",
    "to_readings",
]
