#!/usr/bin/env python3
"""GridEdge command line: run the gateway, check its config, simulate sensors, look at the journal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands import what they need lazily, so `check` and `--help` start fast
    from gateway.config.loader import LoadedConfig
    from gateway.simulator import Drill, SimDevice

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config" / "edge.yaml"


def _setup_logging(level: str = "info", fmt: str = "text", levels: dict[str, str] | None = None) -> None:
    """Log at `level`; per-component `levels` from the config, with $GRIDEDGE_LOG_LEVELS over them."""
    from gateway.logs import LEVELS_ENV, parse_levels, setup_logging

    from_env, _ = parse_levels(os.environ.get(LEVELS_ENV, ""))
    setup_logging(level, fmt, {**(levels or {}), **from_env})


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


def _defer_opencv() -> None:
    """The gateway process imports OpenCV only if it uses it (camera workers are processes of their own)."""
    from gateway.deferred import defer

    defer("cv2")


def cmd_run(args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM/SIGINT."""
    _defer_opencv()
    from gateway.app import Gateway, install_signal_handlers

    loaded = _load(args.config)
    gateway_config = loaded.config.gateway
    _setup_logging(gateway_config.log_level, gateway_config.log_format, dict(gateway_config.log_levels))

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
    _defer_opencv()
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
        drill = _demo_drill(devices, args.drill_after)
        sim = threading.Thread(target=_demo_traffic, args=(gateway, devices, args.rate, stop_sim, drill), daemon=True)
        sim.start()
        last = 0
        while True:
            await asyncio.sleep(1.0)
            if stop.is_set():
                break
            rows = gateway.journal.tail(100_000, after_id=last)
            shown = {row_id for row_id, _ in rows[-args.show :]}
            for row_id, line in rows:  # every incident, and the newest few readings
                if row_id in shown or line.startswith("incident,"):
                    print(format_line(line), flush=True)
            last = rows[-1][0] if rows else last
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


def _demo_drill(devices: list[SimDevice], after: float) -> Drill | None:
    """The demo's scripted fire alarm on the first fire device (None with --drill-after 0 or no such device)."""
    from gateway import simulator

    fire = next((d for d in devices if d.kind == "fire"), None)
    if fire is None or after <= 0:
        return None
    drill = simulator.Drill(fire.id, time.time(), after=after)
    logging.getLogger("gridedge").info(
        "demo: %s raises a drill fire alarm in %.0f s, for %.0f s, every %.0f s (--drill-after 0: none)",
        fire.id, drill.after, drill.length, drill.every,
    )  # fmt: skip
    return drill


def _demo_traffic(
    gateway: object, devices: list[SimDevice], rate: float, stop: threading.Event, drill: Drill | None
) -> None:
    from gateway import simulator

    settings = gateway.mqtt.settings  # type: ignore[attr-defined]
    client = simulator.connect(settings.host, settings.port, protocol=settings.protocol)
    simulator.simulate(client, devices, rate=rate, stop=stop, drill=drill)
    client.loop_stop()
    client.disconnect()


def cmd_rules_explain(args: argparse.Namespace) -> int:
    """Print the effective rules and thresholds of one device (overrides applied)."""
    from gateway.config.rules import RulesConfig
    from rules import explain_text

    loaded = _load(args.config)
    device = loaded.registry.device(args.device)
    if device is None:
        print(f"device {args.device!r} is not in the registry of {args.config}", file=sys.stderr)
        return 1
    if loaded.rules is None or loaded.section("rules", RulesConfig) is None:
        print(f"{args.config} has no rules section", file=sys.stderr)
        return 1
    print(explain_text(loaded.rules, device))
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Run rules over recorded readings as fast as the machine can; print the incidents they open."""
    from gateway.history import Progress, data_format, read_lines
    from rules import RuleFileError, run_backtest

    old, new = (args.compare or [args.rules, None])[:2]
    if old is None:
        print("backtest needs --rules FILE or --compare OLD NEW", file=sys.stderr)
        return 2
    start, end = _when(args.start), _when(args.end)
    devices = list(_load(args.config).registry.devices()) if args.config else []
    progress = Progress("readings")
    try:
        report = run_backtest(
            Path(old).read_text(encoding="utf-8"),
            read_lines(args.data, start, end),
            args.format or data_format(args.data),
            compare_text=Path(new).read_text(encoding="utf-8") if new else None,
            event_types_text=Path(args.event_types).read_text(encoding="utf-8") if args.event_types else None,
            devices=devices, start_ns=start, end_ns=end, progress=progress,
        )
    except RuleFileError as exc:
        progress.done()
        print(exc, file=sys.stderr)
        return 1
    progress.done()
    print(report)
    return 0


def _when(text: str | None) -> int | None:
    """An ISO 8601 time (naive = Asia/Shanghai) as epoch ns."""
    if text is None:
        return None
    from datetime import datetime, timedelta, timezone

    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone(timedelta(hours=8)))
    return int(moment.timestamp() * 1e9)


def cmd_receive(args: argparse.Namespace) -> int:
    """Run the reference webhook receiver: verify signatures, drop duplicates, print or store events."""
    from gateway.receiver import run_receiver

    secret = args.secret or os.environ.get("GRIDEDGE_RECEIVER_SECRET", "")
    if not secret:
        print("receive needs --secret or GRIDEDGE_RECEIVER_SECRET (whsec_…)", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        run_receiver(args.port, secret, args.store, host=args.host)
    return 0


def cmd_deadletter(args: argparse.Namespace) -> int:
    """List the dispatch dead letters, or send them again."""
    from gateway import build
    from gateway.outbox import Outbox, format_dead_letters

    loaded = _load(args.config)
    outbox = Outbox(build.journal_settings(loaded.config).path)
    if args.action == "list":
        print(format_dead_letters(outbox.dead_letters(endpoint=args.endpoint, limit=args.limit)))
        return 0
    count = outbox.replay(endpoint=args.endpoint, event_ids=args.event or None)
    print(f"{count} event(s) queued again; the running gateway delivers them")
    return 0


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


def _with_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="gateway config file (default config/edge.yaml)")


def _add_gateway_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run the gateway")
    _with_config(run)
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="validate the config files")
    _with_config(check)
    check.set_defaults(func=cmd_check)
    tail = sub.add_parser("tail", help="show the newest readings in the journal")
    _with_config(tail)
    tail.add_argument("-n", "--lines", type=int, default=20)
    tail.add_argument("-f", "--follow", action="store_true")
    tail.set_defaults(func=cmd_tail)
    demo = sub.add_parser("demo", help="gateway on embedded defaults + simulated sensors, readings shown live")
    _with_config(demo)
    demo.add_argument("--rate", type=float, default=20.0, help="simulated readings per second")
    demo.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0 = until Ctrl-C)")
    demo.add_argument("--show", type=int, default=5, help="readings printed per second at most (incidents: all)")
    demo.add_argument("--drill-after", type=float, default=15.0,
                      help="seconds until a fire device raises a 30 s drill alarm, every 3 min (0 = none)")  # fmt: skip
    demo.set_defaults(func=cmd_demo)
    schema = sub.add_parser("schema", help="print (or write) the config's JSON Schema")
    schema.add_argument("-o", "--output", default=None)
    schema.set_defaults(func=cmd_schema)


def _add_simulate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _add_rules_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules_cmd = sub.add_parser("rules", help="inspect alert rules")
    rules_sub = rules_cmd.add_subparsers(dest="rules_command", required=True)
    explain_cmd = rules_sub.add_parser("explain", help="effective rules and thresholds of one device")
    explain_cmd.add_argument("device")
    _with_config(explain_cmd)
    explain_cmd.set_defaults(func=cmd_rules_explain)
    back = sub.add_parser("backtest", help="run rules over recorded readings and print the incidents")
    back.add_argument("--rules", default=None, help="rule file to test")
    back.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), help="compare two rule files instead")
    back.add_argument("--data", required=True, help="CSV, JSONL, Beijing CSV, or influx://HOST:PORT/DB?measurement=M")
    back.add_argument("--format", choices=["csv", "jsonl", "beijing"], default=None, help="default: by file")
    back.add_argument("--from", dest="start", default=None, help="ISO 8601 start (naive = Beijing time)")
    back.add_argument("--to", dest="end", default=None, help="ISO 8601 end (exclusive)")
    back.add_argument("--event-types", default=None, help="event-type code table to check rules against")
    back.add_argument("--config", type=Path, default=None, help="take devices (classes, cells) from this config")
    back.set_defaults(func=cmd_backtest)


def _add_dispatch_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    receive = sub.add_parser("receive", help="reference webhook receiver (verifies signatures, drops duplicates)")
    receive.add_argument("--port", type=int, default=9000)
    receive.add_argument("--host", default="127.0.0.1")
    receive.add_argument("--secret", default=None, help="whsec_… signing secret (or GRIDEDGE_RECEIVER_SECRET)")
    receive.add_argument("--store", type=Path, default=None, help="append each event to this JSONL file")
    receive.set_defaults(func=cmd_receive)
    dead = sub.add_parser("deadletter", help="list or replay incident events the platform never took")
    dead.add_argument("action", choices=["list", "replay"])
    _with_config(dead)
    dead.add_argument("--endpoint", default=None, help="only this endpoint's")
    dead.add_argument("--event", action="append", default=[], help="replay: only this event id (repeatable)")
    dead.add_argument("--limit", type=int, default=100)
    dead.set_defaults(func=cmd_deadletter)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="edge.py", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    _add_gateway_commands(sub)
    _add_simulate(sub)
    _add_rules_commands(sub)
    _add_dispatch_commands(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command."""
    from gateway.journal import JournalVersionError

    args = parser().parse_args(argv)
    logging.captureWarnings(True)
    try:
        return int(args.func(args))
    except JournalVersionError as exc:  # every command that opens the journal: a message, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
