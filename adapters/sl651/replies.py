"""The centre's downlink answer to a report (Table 33): same serial and send time, ended by EOT or ESC."""

from __future__ import annotations

from adapters.sl651.framing import EOT, ESC, Sl651Frame, encode_frame
from adapters.sl651.message import HEARTBEAT


def reply(frame: Sl651Frame, keep_online: bool = False) -> bytes | None:
    """The downlink confirming an uplink frame (None for a heartbeat, which is not answered).

    EOT lets the station hang up; ESC asks it to stay online (10 minutes) for further downlinks.
    """
    if frame.function == HEARTBEAT or not frame.up:
        return None
    return encode_frame(centre=frame.centre, station=frame.station, password=frame.password,
                        function=frame.function, body=frame.body[:8], end=ESC if keep_online else EOT, up=False)
