#!/usr/bin/env python3
"""GridEdge command line: run the gateway, check its config, simulate sensors, look at the journal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands import what they need lazily, so `check` and `--help` start fast
    from gateway.config.loader import LoadedConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config" / "edge.yaml"


def _setup_logging(level: str = "info", fmt: str = "text") -> None:
    from gateway.logs import setup_logging

    setup_logging(level, fmt)


def _load(path: Path) -> LoadedConfig:
    from gateway.config.loader import load_config
    from gateway.config.problems import ConfigError

    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing was started", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_run(args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM/SIGINT."""
    from gateway.app import Gateway, install_signal_handlers

    loaded = _load(args.config)
    _setup_logging(loaded.config.gateway.log_level, loaded.config.gateway.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        gateway = Gateway(loaded)
        loop = asyncio.get_running_loop()

        def reload() -> None:
            loop.run_in_executor(None, gateway.reload)

        install_signal_handlers(stop, reload=reload)
        await gateway.run(stop)

    asyncio.run(main())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate every config file; print each problem as file:line: key: what, how to fix."""
    from gateway.config.check import check_config

    errors, warnings = check_config(args.config)
    for warning in warnings:
        print(f"warning: {warning}")
    for problem in errors:
        print(problem)
    if errors:
        print(f"{len(errors)} problem(s) in the config")
        return 1
    print(f"{args.config}: OK")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Publish synthetic sensor traffic, or replay a recorded CSV, to a broker."""
    from gateway import simulator

    client = simulator.connect(args.host, args.port, protocol=args.protocol)
    started = time.monotonic()
    if args.replay is not None:
        records = simulator.read_recorded(args.replay, args.device)
        sent = simulator.replay(
            client, records, grid=args.grid, speedup=args.speedup, timestamps=args.timestamps,
            qos=args.qos, limit=args.count,
        )
    else:
        devices = _sim_devices(args)
        sent = simulator.simulate(client, devices, rate=args.rate, count=args.count, seconds=args.seconds, qos=args.qos)
    client.loop_stop()
    client.disconnect()
    elapsed = time.monotonic() - started
    print(f"published {sent} readings in {elapsed:.1f}s ({sent / max(elapsed, 1e-9):.0f}/s)")
    return 0


def _sim_devices(args: argparse.Namespace) -> list:  # type: ignore[type-arg]
    from gateway import simulator

    if args.config is not None:
        loaded = _load(args.config)
        return simulator.registry_devices(loaded.registry)
    return simulator.synthetic_devices(args.devices)


def cmd_tail(args: argparse.Namespace) -> int:
    """Print the newest readings in the journal; --follow keeps printing new ones."""
    from gateway.journal import Journal, JournalSettings
    from gateway.tail import format_line

    loaded = _load(args.config)
    from gateway import build

    settings = build.journal_settings(loaded.config)
    if not settings.path.exists():
        print(f"no journal at {settings.path} yet: has the gateway run?", file=sys.stderr)
        return 1
    journal = Journal(JournalSettings(settings.path))
    last = 0
    try:
        while True:
            for row_id, line in journal.tail(args.lines, after_id=last):
                print(format_line(line))
                last = row_id
            if not args.follow:
                return 0
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        journal.close()


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the gateway on embedded defaults with simulated sensors; print readings as they become durable."""
    from gateway import simulator
    from gateway.app import Gateway, install_signal_handlers
    from gateway.tail import format_line

    loaded = _load(args.config)
    _setup_logging("info", "text")
    gateway = Gateway(loaded)
    devices = simulator.registry_devices(loaded.registry)

    async def main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        if args.seconds:
            asyncio.get_running_loop().call_later(args.seconds, stop.set)
        runner = asyncio.create_task(gateway.run(stop))
        await asyncio.to_thread(_wait_connected, gateway)
        stop_sim = threading.Event()
        sim = threading.Thread(target=_demo_traffic, args=(gateway, devices, args.rate, stop_sim), daemon=True)
        sim.start()
        last = 0
        while True:
            await asyncio.sleep(1.0)
            if stop.is_set():
                break
            for row_id, line in gateway.journal.tail(args.show, after_id=last):
                print(format_line(line), flush=True)
                last = row_id
        stop_sim.set()
        await runner

    asyncio.run(main())
    return 0


def _wait_connected(gateway: object) -> None:
    mqtt_in = getattr(gateway, "mqtt", None)
    deadline = time.monotonic() + 15
    while (mqtt_in is None or not mqtt_in.connected.is_set()) and time.monotonic() < deadline:
        time.sleep(0.1)
        mqtt_in = getattr(gateway, "mqtt", None)


def _demo_traffic(gateway: object, devices: list, rate: float, stop: threading.Event) -> None:  # type: ignore[type-arg]
    from gateway import simulator

    settings = gateway.mqtt.settings  # type: ignore[attr-defined]
    client = simulator.connect(settings.host, settings.port, protocol=settings.protocol)
    simulator.simulate(client, devices, rate=rate, stop=stop)
    client.loop_stop()
    client.disconnect()


def cmd_schema(args: argparse.Namespace) -> int:
    """Write the JSON Schema of the config (for editors)."""
    import json

    from gateway.config.check import export_json_schema

    text = json.dumps(export_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="edge.py", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser, required: bool = False) -> None:
        default = DEFAULT_CONFIG if required else None
        p.add_argument("--config", type=Path, default=default, help="gateway config file (default config/edge.yaml)")

    run = sub.add_parser("run", help="run the gateway")
    with_config(run, True)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate the config files")
    with_config(check, True)
    check.set_defaults(func=cmd_check)

    sim = sub.add_parser("simulate", help="publish synthetic or recorded sensor readings to a broker")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=1883)
    sim.add_argument("--protocol", choices=["5", "3.1.1"], default="5")
    sim.add_argument("--qos", type=int, choices=[0, 1, 2], default=1)
    sim.add_argument("--rate", type=float, default=100.0, help="readings per second (0 = as fast as possible)")
    sim.add_argument("--count", type=int, default=None, help="stop after this many readings")
    sim.add_argument("--seconds", type=float, default=None, help="stop after this long")
    sim.add_argument("--devices", type=int, default=100, help="synthetic devices when no --config is given")
    sim.add_argument("--config", type=Path, default=None, help="publish for the devices of this config's registry")
    sim.add_argument("--replay", type=Path, default=None, help="CSV of recorded readings (air quality, river level)")
    sim.add_argument("--speedup", type=float, default=3600.0, help="replay: time compression (0 = flat out)")
    sim.add_argument("--timestamps", choices=["publish", "original"], default="publish")
    sim.add_argument("--grid", default="110105001001001", help="replay: the grid code in the topic")
    sim.add_argument("--device", default=None, help="replay: device id for an air-quality file")
    sim.set_defaults(func=cmd_simulate)

    tail = sub.add_parser("tail", help="show the newest readings in the journal")
    with_config(tail, True)
    tail.add_argument("-n", "--lines", type=int, default=20)
    tail.add_argument("-f", "--follow", action="store_true")
    tail.set_defaults(func=cmd_tail)

    demo = sub.add_parser("demo", help="gateway on embedded defaults + simulated sensors, readings shown live")
    with_config(demo, True)
    demo.add_argument("--rate", type=float, default=20.0, help="simulated readings per second")
    demo.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0 = until Ctrl-C)")
    demo.add_argument("--show", type=int, default=5, help="readings printed per second at most")
    demo.set_defaults(func=cmd_demo)

    schema = sub.add_parser("schema", help="print (or write) the config's JSON Schema")
    schema.add_argument("-o", "--output", default=None)
    schema.set_defaults(func=cmd_schema)
    return top


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command."""
    args = parser().parse_args(argv)
    logging.captureWarnings(True)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
