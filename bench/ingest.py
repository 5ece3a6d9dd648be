#!/usr/bin/env python3
"""Sensor-path benchmark: bare paho ceiling vs the gateway end to end, latency, CPU and memory.

Run: .venv/bin/python bench/ingest.py [--messages 100000] [--devices 10000] [--sink vm|influx1]

All on this machine, on loopback: a mosquitto and an InfluxDB (VictoriaMetrics or InfluxDB 1.x)
started for the run. The same message stream is queued at the broker for a persistent session and
then drained, first by a bare paho subscriber (QoS 1, auto-ack: the receive ceiling), then by the
gateway process (QoS 1, PUBACK after the journal commit, written to InfluxDB). A second phase
paces 5,000 msg/s into an in-process gateway and measures publish -> durable commit latency.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from argparse import Namespace
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.simulator import SimDevice, synthetic_devices  # noqa: E402
from tests.gateway_proc import GatewayProcess  # noqa: E402
from tests.servers import InfluxDB1, Mosquitto, VictoriaMetrics, wait_for  # noqa: E402

TOPIC = "grid/+/+/+"


def v5_client(client_id: str, manual_ack: bool = False) -> mqtt.Client:
    """An MQTT 5 client like the gateway's: persistent session, large Receive Maximum."""
    return mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5, manual_ack=manual_ack,
    )


def connect_v5(client: mqtt.Client, port: int, session_expiry: int = 3600) -> None:
    """Connect as the gateway does (session kept for an hour); session_expiry 0 starts clean and keeps none."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry
    props.ReceiveMaximum = 65535
    client.connect("127.0.0.1", port, clean_start=session_expiry == 0, properties=props)


def register_session(port: int, client_id: str) -> None:
    """Create a persistent session subscribed to the stream, then leave (the broker queues for it)."""
    client = v5_client(client_id)
    done = threading.Event()
    client.on_subscribe = lambda *_: done.set()
    connect_v5(client, port)
    client.loop_start()
    client.subscribe(TOPIC, qos=1)
    done.wait(10)
    client.disconnect()
    client.loop_stop()


def end_session(port: int, client_id: str) -> None:
    """Remove a client's persistent session: a session left subscribed keeps every later message queued,
    and the broker then rewrites a persistence file of tens of MB every autosave (1 s), stalling the
    phases after it (publish -> commit p99 rose from ~40 ms to ~190 ms)."""
    client = v5_client(client_id)
    connect_v5(client, port, session_expiry=0)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


def payloads(devices: list[SimDevice], count: int) -> list[tuple[str, bytes]]:
    """`count` dust readings round-robin over the devices, with unique times and sequence numbers."""
    t0 = int(time.time() * 1000) - count - 60_000
    out = []
    for seq in range(count):
        d = devices[seq % len(devices)]
        body = {"pm25": 30 + seq % 40, "pm10": 55 + seq % 60, "seq": seq, "ts": t0 + seq}
        out.append((f"grid/{d.grid}/{d.kind}/{d.id}", json.dumps(body).encode()))
    return out


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Publish every message at QoS 1 as fast as the broker takes them; returns the seconds taken."""
    client = v5_client(f"bench-pub-{time.monotonic_ns()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.monotonic()
    # paho's message ids wrap at 65535: keep fewer than that unacknowledged at once.
    for start in range(0, len(messages), 20_000):
        infos = [client.publish(topic, body, qos=1) for topic, body in messages[start : start + 20_000]]
        for info in infos:
            info.wait_for_publish(60)
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    return elapsed


def bare_ceiling(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Messages/s a bare paho subscriber drains from its queued session at QoS 1 (auto-ack)."""
    register_session(port, "bench-bare")
    publish_all(port, messages)
    got = 0
    done = threading.Event()
    first: list[float] = []

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal got
        if not first:
            first.append(time.monotonic())
        got += 1
        if got == len(messages):
            done.set()

    client = v5_client("bench-bare")
    client.on_message = on_message
    connect_v5(client, port)
    started, cpu = time.monotonic(), time.process_time()
    client.loop_start()
    done.wait(300)
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    client.disconnect()
    client.loop_stop()
    end_session(port, "bench-bare")
    print(f"  (bare subscriber used {cpu / elapsed:.0%} of a core: {cpu / got * 1e6:.0f} us of CPU per message)")
    return got / elapsed


def write_registry(directory: Path, devices: list[SimDevice]) -> None:
    """A devices CSV and a grids YAML for the synthetic fleet."""
    with (directory / "devices.csv").open("w") as handle:
        handle.write("id,kind,grid,interval\n")
        for d in devices:
            handle.write(f"{d.id},{d.kind},{d.grid},60s\n")
    codes = sorted({d.grid for d in devices})
    (directory / "grids.yaml").write_text("".join(f"- code: '{c}'\n" for c in codes))


def gateway_config(directory: Path, broker_port: int, sink: str, sink_url: str, rules: bool = False) -> Path:
    """The gateway's edge.yaml for the benchmark (with the shipped rule file when `rules`)."""
    influx = (
        f"  version: 2\n  url: {sink_url}\n  org: bench\n  bucket: bench\n  token: none\n"
        if sink == "vm"
        else f"  version: 1\n  url: {sink_url}\n  db: gridedge\n"
    )
    path = directory / "edge.yaml"
    path.write_text(
        "gateway:\n  id: bench\n  data_dir: var\n  log_level: info\n"
        f"mqtt:\n  url: mqtt://127.0.0.1:{broker_port}\n  client_id: bench-gw\n  embedded_broker: 'off'\n"
        "  subscriptions:\n    - topic: grid/+/+/+\n      template: grid/{grid}/{kind}/{device}\n"
        f"influx:\n{influx}  batch_size: 10000\n  flush_interval: 200ms\n"
        "journal:\n  commit_interval: 20ms\n  commit_readings: 2000\n"
        "devices:\n  files: [devices.csv]\ngrids:\n  files: [grids.yaml]\n"
        + (f"rules:\n  file: {REPO / 'config' / 'rules.yaml'}\n" if rules else "")
    )
    return path


def landed(sink: str, server: VictoriaMetrics | InfluxDB1) -> int:
    """How many dust readings the sink holds."""
    if isinstance(server, VictoriaMetrics):
        with urllib.request.urlopen(f"{server.url}/internal/force_flush", timeout=10):
            pass
        url = f"{server.url}/api/v1/query?query=sum(count_over_time(dust_seq[10y]))"
        with urllib.request.urlopen(url, timeout=30) as resp:
            result = json.loads(resp.read())["data"]["result"]
        return int(float(result[0]["value"][1])) if result else 0
    series = server.query("SELECT count(seq) FROM dust", db="gridedge")
    return int(series[0]["values"][0][1]) if series else 0  # type: ignore[index]


def proc_usage(pid: int) -> tuple[float, int]:
    """CPU seconds used and peak RSS (bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cpu, peak


def gateway_end_to_end(
    work: Path, broker: Mosquitto, sink: str, server: VictoriaMetrics | InfluxDB1, messages: list[tuple[str, bytes]],
    rules: bool = False,
) -> dict[str, float]:
    """Drain the same queued stream through the gateway process into InfluxDB; figures of the run."""
    config = gateway_config(work, broker.port, sink, server.url, rules)
    register_session(broker.port, "bench-gw")
    publish_all(broker.port, messages)
    base = landed(sink, server)
    gateway = GatewayProcess(config)
    gateway.start()
    assert gateway.proc is not None
    # The clock starts when the gateway has loaded its config and connected (start-up is not throughput).
    wait_for(lambda: "MQTT connected" in gateway.output(), timeout=120, what="gateway connected")
    started = time.monotonic()
    cpu_at_start, _ = proc_usage(gateway.proc.pid)
    peak_cpu = 0.0
    while landed(sink, server) - base < len(messages):
        if not gateway.alive():
            raise RuntimeError(gateway.output()[-3000:])
        cpu, rss = proc_usage(gateway.proc.pid)
        peak_cpu = cpu
        if time.monotonic() - started > 600:
            raise TimeoutError("gateway did not land the stream in 10 minutes")
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    cpu, rss = proc_usage(gateway.proc.pid)
    gateway.terminate()
    end_session(broker.port, "bench-gw")
    used = max(cpu, peak_cpu) - cpu_at_start
    return {"rate": len(messages) / elapsed, "seconds": elapsed, "cpu": used, "rss": rss, "n": len(messages)}


def latency_at_rate(work: Path, broker: Mosquitto, devices: list[SimDevice], rate: int, seconds: float) -> list[float]:
    """publish -> durable commit latencies (s) at a paced rate, with the gateway in this process."""
    import asyncio

    from gateway.app import Gateway
    from gateway.config.loader import load_config

    config = work / "latency.yaml"
    config.write_text(
        "gateway:\n  id: bench-lat\n  data_dir: var-lat\n  log_level: warning\n"
        f"mqtt:\n  url: mqtt://127.0.0.1:{broker.port}\n  client_id: bench-lat\n  embedded_broker: 'off'\n"
        "  subscriptions:\n    - topic: lat/+/+/+\n      template: lat/{grid}/{kind}/{device}\n"
        "      timestamp: {path: sent, unit: ns}\n"
        "devices:\n  files: [devices.csv]\ngrids:\n  files: [grids.yaml]\n"
    )
    loaded = load_config(config)
    gateway = Gateway(loaded)
    latencies: list[float] = []
    intake_submit = gateway.intake.submit

    def submit(reading: object) -> None:
        sent = reading.ts_ns  # type: ignore[attr-defined]
        original = reading.ack  # type: ignore[attr-defined]

        def ack() -> None:
            latencies.append((time.time_ns() - sent) / 1e9)
            if original is not None:
                original()

        reading.ack = ack  # type: ignore[attr-defined]
        intake_submit(reading)  # type: ignore[arg-type]

    gateway.intake.submit = submit  # type: ignore[method-assign]

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await asyncio.to_thread(lambda: gateway.mqtt is not None and gateway.mqtt.connected.wait(10))
        pub = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PACED_PUBLISHER, str(broker.port), str(rate), str(seconds),
            json.dumps([[d.id, d.kind, d.grid] for d in devices[:1000]]), str(REPO),
        )
        await pub.wait()
        await asyncio.sleep(1.0)
        commits = sorted(gateway.journal.stats.commit_latency_s)
        print(f"  (journal: {gateway.journal.stats.commits} group commits, commit p50 "
              f"{pct(commits, 50) * 1e3:.1f} ms, p99 {pct(commits, 99) * 1e3:.1f} ms, max {commits[-1] * 1e3:.1f} ms)")
        stop.set()
        await task

    asyncio.run(run())
    return latencies


PACED_PUBLISHER = """
# A lean load generator: MQTT 3.1.1 over a plain socket, QoS 1 PUBLISH packets built by hand and written
# every millisecond in the batch due by then, each stamped with its write time; PUBACKs are read and
# dropped. A paho publisher at 5,000 msg/s needs most of a core on a slow box and falls behind, and its
# own queueing then shows up as gateway latency.
import json, socket, sys, time
port, rate, seconds, devices = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
sys.path.insert(0, sys.argv[5])
from adapters.mqtt.fastread import varint
sock = socket.create_connection(("127.0.0.1", port))
cid = b"bench-lat-pub"
body = b"\\x00\\x04MQTT\\x04\\x02\\x00\\x3c" + len(cid).to_bytes(2, "big") + cid
sock.sendall(b"\\x10" + varint(len(body)) + body)
assert sock.recv(4)[:1] == b"\\x20", "no CONNACK"
sock.setblocking(False)
topics = [f"lat/{d[2]}/{d[1]}/{d[0]}".encode() for d in devices]
start = time.monotonic(); n = 0
while time.monotonic() - start < seconds:
    due = int((time.monotonic() - start) * rate)
    out = bytearray()
    while n < due:
        topic = topics[n % len(topics)]
        payload = b'{"pm10": %d, "sent": %d}' % (50 + n % 30, time.time_ns())
        packet = len(topic).to_bytes(2, "big") + topic + (n % 65535 + 1).to_bytes(2, "big") + payload
        out += b"\\x32" + varint(len(packet)) + packet
        n += 1
    if out:
        sock.setblocking(True); sock.sendall(out); sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        pass
    time.sleep(0.001)
time.sleep(0.5); sock.close()
"""


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--sink", choices=["vm", "influx1"], default="vm")
    ap.add_argument("--latency-rate", type=int, default=5000)
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--only", choices=["throughput", "latency"], default=None, help="run one phase only")
    ap.add_argument("--rules", action="store_true", help="the gateway also evaluates config/rules.yaml")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="gridedge-bench-") as tmp:
        work = Path(tmp)
        devices = synthetic_devices(args.devices)
        for d in devices:
            object.__setattr__(d, "kind", "dust")  # one stream shape: dust readings
        write_registry(work, devices)
        broker = Mosquitto(work / "mosquitto")
        server: VictoriaMetrics | InfluxDB1 = (
            VictoriaMetrics(work / "vm") if args.sink == "vm" else InfluxDB1(work / "influx")
        )
        broker.start()
        server.start()
        if isinstance(server, InfluxDB1):
            server.create_db("gridedge")
        try:
            if args.only != "latency":
                throughput(work, broker, server, devices, args)
            if args.only != "throughput":
                lat = latency_at_rate(work, broker, devices, args.latency_rate, args.latency_seconds)
                print(f"publish -> durable commit at {args.latency_rate} msg/s over {args.latency_seconds:.0f} s "
                      f"({len(lat)} readings): p50 {pct(lat, 50) * 1e3:.1f} ms, p99 {pct(lat, 99) * 1e3:.1f} ms, "
                      f"max {max(lat) * 1e3:.1f} ms, mean {statistics.fmean(lat) * 1e3:.1f} ms")
        finally:
            server.stop()
            broker.stop()


def throughput(
    work: Path, broker: Mosquitto, server: VictoriaMetrics | InfluxDB1, devices: list[SimDevice], args: Namespace
) -> None:
    """Phase 1: the bare paho ceiling and the gateway's end-to-end drain of the same stream."""
    messages = payloads(devices, args.messages)
    print(f"stream: {len(messages)} QoS 1 JSON readings, {len(devices)} registered devices, sink {args.sink}")
    ceiling = bare_ceiling(broker.port, messages)
    print(f"bare paho subscriber (QoS 1, auto-ack):           {ceiling:10.0f} msg/s")
    e2e = gateway_end_to_end(work, broker, args.sink, server, messages, args.rules)
    label = "gateway end to end, with rules:    " if args.rules else "gateway end to end (commit -> PUBACK -> landed):"
    print(f"{label}  {e2e['rate']:10.0f} msg/s ({e2e['seconds']:.1f} s)")
    print(f"ratio gateway / bare ceiling:                     {e2e['rate'] / ceiling:10.0%}")
    print(f"gateway CPU: {e2e['cpu']:.1f} s ({e2e['cpu'] / e2e['seconds']:.0%} of one core, "
          f"{e2e['cpu'] / e2e['n'] * 1e6:.0f} us per message); "
          f"peak RSS {e2e['rss'] / 2**20:.0f} MiB with {len(devices)} devices")


if __name__ == "__main__":
    main()
