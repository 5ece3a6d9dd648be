"""The running gateway: wires inputs, intake, journal and outputs, supervises them, shuts down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
import time
from collections.abc import Callable

from aiohttp import web

from adapters.camera import CameraSupervisor, ClipStore
from adapters.hj212.server import Hj212Server
from adapters.influx import InfluxWriter
from adapters.mqtt.client import MqttInput
from adapters.mqtt.embedded import EmbeddedBroker, is_local, listening
from adapters.sl651.server import Sl651Server
from gateway import build
from gateway.api import make_app, start_api
from gateway.config.api import ApiConfig
from gateway.config.cameras import CamerasConfig, camera_specs, clip_directory
from gateway.config.dispatch import DispatchConfig
from gateway.config.loader import LoadedConfig, load_config
from gateway.config.problems import ConfigError
from gateway.config.protocols import Hj212Config, Sl651Config
from gateway.config.rules import RulesConfig
from gateway.config.watch import ConfigWatcher
from gateway.dispatch import Dispatch
from gateway.incidents import IncidentPoints, RuleRunner
from gateway.journal import Journal, Txn
from gateway.model import Detection
from gateway.model.lineproto import encode_line, series_key
from gateway.pipeline import Intake
from gateway.status import Status
from rules.native import STATUS as RULES_CODE

log = logging.getLogger("gridedge")

INFLUX_SINK = "influx"
SUPERVISE_EVERY = 5.0
"""Seconds between supervisor rounds (watchdogs, the gateway's own metrics)."""


class Gateway:
    """One gateway process: build the parts from config, run until stopped, drain on the way out."""

    def __init__(self, loaded: LoadedConfig, *, clock: Callable[[], int] = time.time_ns) -> None:
        config = loaded.config
        self.loaded = loaded
        self.config = config
        self.clock = clock
        self.metrics_every = config.gateway.metrics_interval
        sinks = [INFLUX_SINK] if config.influx is not None else []
        self.journal = Journal(build.journal_settings(config), sinks=sinks, clock=clock)
        self.intake = Intake(loaded.registry, self.journal, build.intake_settings(config), clock=clock)
        self.rules_config = loaded.section("rules", RulesConfig)
        self.rules: RuleRunner | None = None
        if loaded.rules is not None and self.rules_config is not None:
            self.rules = RuleRunner(
                self.journal, loaded.rules, loaded.registry.device, loaded.registry.devices(), config.gateway.id,
                state_interval=self.rules_config.state_interval, emitters=[IncidentPoints(config.gateway.id)],
            )
        cameras = loaded.section("cameras", CamerasConfig)
        self.cameras = self._camera_supervisor(cameras) if cameras else None
        clips = self.cameras.clips if self.cameras is not None else None
        self.api_config = loaded.section("api", ApiConfig)
        public_url = self.api_config.public_url if self.api_config is not None else None
        dispatch = loaded.section("dispatch", DispatchConfig)
        self.dispatch = (
            Dispatch(dispatch, self.journal, self.rules, config.gateway.id, clips, public_url) if dispatch else None
        )
        self.api: web.AppRunner | None = None
        self._detection_prefixes: dict[tuple[str, str, str, str], str] = {}
        self.status = Status(self)
        self.watcher = ConfigWatcher(loaded)
        self.broker: EmbeddedBroker | None = None
        self.servers: list[Hj212Server | Sl651Server] = []
        self.mqtt: MqttInput | None = None
        self.writer: InfluxWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._silent: set[str] = set()
        self._metrics_prefix = series_key("gridedge", {"gateway": config.gateway.id, "host": build.hostname()})

    # -- lifecycle ---------------------------------------------------------------------------------

    def start_inputs(self) -> None:
        """Start the journal, the embedded broker if one is wanted, and the MQTT input."""
        self.journal.start()
        protocol = None
        host, port, _ = build.broker_address(self.config.mqtt)
        if self.config.mqtt.embedded_broker == "auto" and is_local(host) and not listening(host, port):
            self.broker = EmbeddedBroker(host if host != "localhost" else "127.0.0.1", port)
            self.broker.start()
            protocol = "3.1.1"  # amqtt speaks MQTT 3.1.1 only
        subs = build.subscriptions(self.config)
        if subs:
            settings = build.mqtt_settings(self.config, protocol)
            self.mqtt = MqttInput(
                settings, subs, self.intake, backpressure=self._backpressure, clock=self.clock, batch_acks=True
            )
            self.journal.after_acks.append(self.mqtt.send_acks)
            self.mqtt.start()

    def _backpressure(self) -> None:
        # Blocks paho's thread while too much waits for a commit: TCP pushes back and the broker queues.
        while not self.journal.wait_capacity(1.0):
            pass

    async def start_servers(self) -> None:
        """Start the HJ 212 and SL 651 TCP servers the config asks for."""
        registry = self.loaded.registry
        hj212 = self.loaded.section("hj212", Hj212Config)
        if hj212 is not None:
            self.servers.append(build.hj212_server(self.config, hj212, self.intake, registry))
        sl651 = self.loaded.section("sl651", Sl651Config)
        if sl651 is not None:
            self.servers.append(build.sl651_server(sl651, self.intake, registry))
        for server in self.servers:
            await server.start()
            log.info("%s server listening on port %d", type(server).__name__, server.port)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down in order."""
        # What start-up built (config models, the registry, bound rules) lives as long as the process:
        # frozen, the collector's full passes skip it, and they no longer stall commits for tens of ms.
        gc.collect()
        gc.freeze()
        self.start_inputs()
        await self.start_servers()
        if self.config.influx is not None:
            self.writer = InfluxWriter(build.influx_settings(self.config.influx), self.journal, sink=INFLUX_SINK)
            self._tasks.append(asyncio.create_task(self.writer.run(), name="influx-writer"))
        self._tasks.append(asyncio.create_task(self._supervise(), name="supervisor"))
        if self.dispatch is not None:
            self.dispatch.start()
        if self.cameras is not None:
            self.cameras.start()
        if self.api_config is not None:
            routes = self.dispatch.routes() if self.dispatch is not None else []
            self.api = await start_api(make_app(self, self.api_config, routes, status=self.status), self.api_config)
        if self.rules is not None and self.rules_config is not None:
            self._tasks.append(asyncio.create_task(self._tick(self.rules, self.rules_config), name="rules-tick"))
        log.info("gateway %s running", self.config.gateway.id)
        if self.rules is not None:
            log.info("rules: %s", RULES_CODE.reason)
        await stop.wait()
        await self.shutdown()

    async def shutdown(self, drain_timeout: float = 10.0) -> None:
        """Stop taking input, commit what is queued, give the writer a deadline to drain, close."""
        log.info("shutting down: stopping inputs")
        if self.api is not None:
            await self.api.cleanup()
        for server in self.servers:
            await server.stop()
        if self.cameras is not None:
            await asyncio.to_thread(self.cameras.stop)
        if self.mqtt is not None:
            await asyncio.to_thread(self.mqtt.stop)
        if self.rules is not None:
            self.journal.call(self.rules.save_state)
        await asyncio.to_thread(self.journal.sync)
        if self.writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.writer.flush(), drain_timeout)
            self.writer.stop()
        if self.dispatch is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.dispatch.stop(), drain_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.writer is not None:
            await self.writer.aclose()
        await asyncio.to_thread(self.journal.close)
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
        log.info("stopped")

    # -- cameras -----------------------------------------------------------------------------------

    def _camera_supervisor(self, section: CamerasConfig) -> CameraSupervisor:
        """The camera workers, with the clip store when a camera records clips."""
        directory = clip_directory(section, self.config.gateway.data_dir)
        specs = camera_specs(section, directory)
        recording = any(spec.clip is not None for spec in specs)
        clips = ClipStore(directory, section.clips.max_bytes) if recording else None
        return CameraSupervisor(specs, self.on_detection, clips=clips)

    def on_detection(self, detection: Detection) -> None:
        """A camera worker's detection (one thread, in order): journal it as a point, then let the rules see it."""
        grid = self.loaded.registry.cell(detection.grid.code) if detection.grid is not None else None
        detection.grid = grid or detection.grid
        key = (detection.camera, detection.detector, detection.zone, grid.code if grid else "")
        prefix = self._detection_prefixes.get(key)
        if prefix is None:
            tags = {"camera": detection.camera, "detector": detection.detector, "zone": detection.zone}
            if detection.grid is not None:
                tags.update(detection.grid.levels())
            prefix = self._detection_prefixes[key] = series_key("detection", tags)
        fields: dict[str, float | int | bool | str] = {"score": detection.score, "boxes": float(len(detection.boxes))}
        fields.update({name: float(value) for name, value in detection.values.items()})
        line = encode_line(prefix, fields, detection.ts_ns)
        self.journal.append(detection.ts_ns, detection.camera, "detection", line, None)
        if self.rules is not None:
            keep = self.dispatch.keep_snapshot if self.dispatch is not None else _no_evidence
            self.rules.on_detection_with(detection, keep)

    # -- rules: timers and reload ---------------------------------------------------------------------

    async def _tick(self, runner: RuleRunner, rules: RulesConfig) -> None:
        next_watch = time.monotonic() + rules.watch_interval
        while True:
            await asyncio.sleep(rules.tick_interval)
            runner.tick()
            if rules.watch and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + rules.watch_interval
                if self.watcher.changed():
                    await asyncio.to_thread(self.reload)

    def reload(self) -> bool:
        """Reload devices and rules from the config files; a config that does not validate is refused whole."""
        try:
            loaded = load_config(self.loaded.path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            log.error("reload refused: %d problem(s); the running configuration is kept", len(exc.problems))
            return False
        self.watcher.reset(loaded)
        self.intake.directory = loaded.registry
        if self.rules is not None and loaded.rules is not None:
            self.rules.lookup = loaded.registry.device
            self.rules.reload(loaded.rules, loaded.registry.devices())
        self.loaded = loaded
        log.info("reloaded: %d device(s), %d rule(s)", len(loaded.registry.devices()),
                 len(loaded.rules.rules) if loaded.rules is not None else 0)
        return True

    # -- supervision ---------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        last_metrics = 0.0
        while True:
            await asyncio.sleep(SUPERVISE_EVERY if self.metrics_every >= SUPERVISE_EVERY else self.metrics_every)
            self._check_watchdogs()
            now = time.monotonic()
            if now - last_metrics >= self.metrics_every:
                last_metrics = now
                self._record_metrics()

    def _check_watchdogs(self) -> None:
        if self.mqtt is None:
            return
        silent = dict(self.mqtt.silent())
        for topic, seconds in silent.items():
            if topic not in self._silent:
                log.warning("watchdog: no message on %s for %.0f s", topic, seconds)
        for topic in self._silent - silent.keys():
            log.info("watchdog: %s is reporting again", topic)
        self._silent = set(silent)

    def readiness(self) -> dict[str, dict[str, object]]:
        """Per-component state for /readyz: each has `ok` and details."""
        out: dict[str, dict[str, object]] = {
            "journal": {"ok": not (self.journal.stats.full or self.journal.stats.held),
                        "queued": self.journal.queued, "bytes": self.journal.used_bytes(),
                        "full": self.journal.stats.full, "held": self.journal.stats.held},
        }  # fmt: skip
        if self.mqtt is not None:
            out["mqtt"] = {"ok": self.mqtt.connected.is_set(), "received": self.mqtt.stats.received,
                           "last_error": self.mqtt.stats.last_error,
                           "silent": [topic for topic, _ in self.mqtt.silent()]}  # fmt: skip
        if self.writer is not None:
            stats = self.writer.stats
            out["influx"] = {"ok": not stats.last_error or stats.lag == 0, "lag": self.journal.depth(INFLUX_SINK),
                             "last_error": stats.last_error}  # fmt: skip
        if self.dispatch is not None:
            now = self.clock()
            out["dispatch"] = {"ok": True, "backlog": self.dispatch.outbox.backlog(),
                               "oldest_undelivered_s": self.dispatch.outbox.oldest_age_s(now)}  # fmt: skip
        for server in self.servers:
            counters = server.input.counters
            out[server.input.name] = {"ok": True, "connections": counters.connections_open, "packets": counters.packets}
        return out

    def metrics(self) -> dict[str, float]:
        """The gateway's own figures: ingest, rejects by reason, journal, writer, process."""
        stats = self.intake.stats
        out: dict[str, float] = {
            "accepted": stats.accepted,
            "quarantined": stats.quarantined,
            "clamped": stats.clamped,
            "journal_committed": self.journal.stats.committed,
            "journal_queued": self.journal.queued,
            "journal_dropped": self.journal.stats.dropped,
            "journal_bytes": self.journal.used_bytes(),
            "journal_full": float(self.journal.stats.full),
            "rss_bytes": _rss_bytes(),
            "cpu_seconds": time.process_time(),
        }
        for reason, count in (stats.rejected or {}).items():
            out[f"rejected_{reason}"] = count
        out["rejected"] = sum((stats.rejected or {}).values())
        if self.mqtt is not None:
            out["mqtt_received"] = self.mqtt.stats.received
            out["mqtt_connected"] = float(self.mqtt.connected.is_set())
        if self.rules is not None:
            out["incident_events"] = self.rules.events
            out["incidents_open"] = len(self.rules.engine.open_incidents())
        if self.dispatch is not None:
            out["dispatch_backlog"] = self.dispatch.outbox.backlog()
            out["dispatch_oldest_undelivered_s"] = self.dispatch.outbox.oldest_age_s(self.clock()) or 0.0
            out.update(self.dispatch.worker.stats.fields())  # already named dispatch_*
        if self.writer is not None:
            out["influx_depth"] = self.journal.depth(INFLUX_SINK)
            for name, value in self.writer.stats.fields().items():
                out[f"influx_{name}"] = value
        return out

    def _record_metrics(self) -> None:
        # The gateway's own metrics travel like any reading: journaled, then written to InfluxDB.
        now = self.clock()
        line = encode_line(self._metrics_prefix, self.metrics(), now)
        self.journal.append(now, self.config.gateway.id, "gridedge", line, None)


def _no_evidence(_txn: Txn, _detection: Detection) -> None:
    """Without dispatch there is no outbox to keep a detection's snapshot in."""


def _rss_bytes() -> float:
    """Resident set size now (Linux /proc), falling back to the peak."""
    try:
        with open("/proc/self/statm") as statm:  # noqa: PTH123 - a tiny /proc read on the metrics path
            return float(int(statm.read().split()[1]) * resource.getpagesize())
    except OSError:
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def install_signal_handlers(stop: asyncio.Event, reload: Callable[[], None] | None = None) -> None:
    """SIGTERM and SIGINT stop the gateway gracefully; SIGHUP reloads when a reloader is given."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if reload is not None:
        loop.add_signal_handler(signal.SIGHUP, reload)
