#!/usr/bin/env python3
"""InfluxDB write throughput: points/s the writer drains from a spool into InfluxDB 1.x and VictoriaMetrics.

Run: .venv/bin/python bench/influx_write.py [--points 200000] [--batch 5000] [--devices 1000]

Starts each server itself (tests/servers.py) in a temp dir, prepares line-protocol lines as the
journal holds them (dust readings with grid tags, four float fields), and for gzip on and off
times `InfluxWriter.flush()` over an in-memory spool. For reference it also times posting the
same bodies pre-joined and pre-compressed (the ceiling the writer's own work is measured against).
Each run uses its own timestamps, so no run overwrites another's points.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adapters.influx import InfluxSettings, InfluxWriter, MemorySpool  # noqa: E402
from adapters.influx.post import encode_body, post_body  # noqa: E402
from gateway.model import GridCell, Reading  # noqa: E402
from gateway.model.lineproto import encode_reading  # noqa: E402
from tests.servers import InfluxDB1, VictoriaMetrics  # noqa: E402

T0 = 1_700_000_000_000_000_000


def prepare(points: int, devices: int, run: int) -> list[str]:
    """Journal-like lines: `points` dust readings spread over `devices` devices in 100 cells."""
    cells = [GridCell(f"110101{s:03d}{c:03d}{g:03d}") for s in range(1, 5) for c in range(1, 6) for g in range(1, 6)]
    base = T0 + run * 10**15
    return [
        encode_reading(
            Reading(
                device=f"dust-{i % devices:05d}",
                kind="dust",
                ts_ns=base + i * 1_000_000,
                fields={"pm25": 35.0 + i % 50, "pm10": 70.5 + i % 90, "tsp": 120.25, "noise": 55.1},
                grid=cells[(i % devices) % len(cells)],
                tags={"vendor": "acme"},
            )
        )
        for i in range(points)
    ]


async def through_writer(settings: InfluxSettings, lines: list[str]) -> tuple[float, float, InfluxWriter]:
    """Flush all lines through the writer; wall seconds, CPU seconds and the writer."""
    spool = MemorySpool(capacity=len(lines))
    spool.extend(lines)
    cpu, start = time.process_time(), time.perf_counter()
    async with InfluxWriter(settings, spool) as writer:
        await writer.flush()
    return time.perf_counter() - start, time.process_time() - cpu, writer


async def raw_ceiling(settings: InfluxSettings, lines: list[str]) -> float:
    """Wall seconds to post the same batches pre-joined and pre-compressed, one request at a time."""
    bodies = [
        encode_body("\n".join(lines[i : i + settings.batch_size]), settings.gzip)
        for i in range(0, len(lines), settings.batch_size)
    ]
    endpoint = settings.endpoint()
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        for body in bodies:
            response = await post_body(session, endpoint, body, settings.gzip, settings.timeout)
            if response.status != 204:
                raise RuntimeError(f"raw post failed: {response}")
        return time.perf_counter() - start


Server = InfluxDB1 | VictoriaMetrics


def settings_for(server: Server, batch: int, use_gzip: bool) -> InfluxSettings:
    """v1 settings for InfluxDB 1.x, v2 for VictoriaMetrics; short retries (InfluxDB 1.6 404s just after CREATE)."""
    common = {"batch_size": batch, "gzip": use_gzip, "retry_delay": 0.1, "max_retry_delay": 1.0}
    if isinstance(server, InfluxDB1):
        return InfluxSettings(version=1, url=server.url, db="gridedge", **common)  # type: ignore[arg-type]
    return InfluxSettings(version=2, url=server.url, org="grid", bucket="edge", **common)  # type: ignore[arg-type]


def bench_server(server: Server, args: argparse.Namespace, first_run: int) -> None:
    """Print writer and raw figures for one server, gzip on and off."""
    for n, use_gzip in enumerate((True, False)):
        settings = settings_for(server, args.batch, use_gzip)
        lines = prepare(args.points, args.devices, first_run + 2 * n)
        wall, cpu, writer = asyncio.run(through_writer(settings, lines))
        raw = asyncio.run(raw_ceiling(settings, prepare(args.points, args.devices, first_run + 2 * n + 1)))
        stats = writer.stats
        p50, p99 = stats.latency_percentile(50) or 0.0, stats.latency_percentile(99) or 0.0
        print(
            f"{server.name:17} gzip={'on ' if use_gzip else 'off'}  writer {args.points / wall:>9,.0f} points/s"
            f"  ({wall:5.2f} s, client CPU {cpu:5.2f} s, {stats.bytes_sent / 1e6:6.1f} MB sent,"
            f" request p50 {p50 * 1000:5.1f} ms p99 {p99 * 1000:5.1f} ms)"
            f"  |  raw prepared bodies {args.points / raw:>9,.0f} points/s"
        )
        if stats.points_written != args.points or stats.rejects:
            print(f"  !! wrote {stats.points_written} of {args.points}, rejects {dict(stats.rejects)}")


def main() -> None:
    """Start each server, run the benchmark against it, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--devices", type=int, default=1000)
    args = parser.parse_args()
    line = prepare(1, 1, 0)[0]
    print(f"{args.points:,} points, batch {args.batch}, {len(line)} bytes/line, e.g. {line}")
    with tempfile.TemporaryDirectory() as tmp:
        influx = InfluxDB1(Path(tmp) / "influxdb")
        vm = VictoriaMetrics(Path(tmp) / "vm")
        servers: tuple[Server, ...] = (influx, vm)
        for run, server in enumerate(servers):
            server.start()
            try:
                if isinstance(server, InfluxDB1):
                    server.create_db("gridedge")
                bench_server(server, args, run * 10)
                if isinstance(server, InfluxDB1):
                    series = server.query("SELECT count(pm10) FROM dust", db="gridedge")
                    count = cast(list[list[int]], series[0]["values"])[0][1]
                    print(f"  InfluxDB holds {count:,} dust points (expected {4 * args.points:,})")
            finally:
                server.stop()


if __name__ == "__main__":
    main()
