"""/metrics: a Prometheus collector that reads the gateway's own counters when scraped.

Nothing is counted twice on the reading path: each scrape reads the intake, journal, MQTT, writer,
dispatch, rule engine and camera counters as they are. Latency histograms are built from the
recent-latency windows the writer, the journal and the dispatch worker already keep: each scrape folds
in only the samples appended since the previous one (found by object identity of the last sample seen,
so the windows need no extra counter). Samples that left a window between two scrapes are not counted;
the windows hold 1,024–4,096 samples, far more than arrive in a scrape interval.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from rules.native import STATUS as RULES_CODE

if TYPE_CHECKING:
    from gateway.status import Status

__all__ = ["GatewayCollector", "WindowHistogram", "metrics_registry"]

WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DELIVERY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
INFLUX_SINK = "influx"


def _since(window: Sequence[float], last: object | None) -> Sequence[float]:
    """The samples after `last` (compared by identity), or the whole window when `last` left it."""
    if last is None:
        return window
    for index in range(len(window) - 1, -1, -1):
        if window[index] is last:
            return window[index + 1 :]
    return window


class WindowHistogram:
    """A cumulative histogram fed from a bounded window of recent samples, one fold per scrape."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self._last: object | None = None

    def fold(self, samples: deque[float]) -> None:
        """Count the samples appended since the previous fold."""
        for _ in range(3):
            try:
                window = list(samples.copy())
                break
            except RuntimeError:  # appended to by another thread mid-copy: try again
                continue
        else:
            return
        for value in _since(window, self._last):
            self.counts[bisect.bisect_left(self.bounds, value)] += 1
            self.total += value
        if window:
            self._last = window[-1]

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs ending with +Inf."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


def _counter(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _by_label(
    kind: type[CounterMetricFamily | GaugeMetricFamily], name: str, doc: str, label: str, values: dict[str, float]
) -> Metric:
    family = kind(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    return family


class GatewayCollector:
    """Reads the gateway's counters at scrape time (a prometheus_client custom collector)."""

    def __init__(self, status: Status) -> None:
        self.status = status
        self.write_latency = WindowHistogram(WRITE_BUCKETS)
        self.delivery_latency = WindowHistogram(DELIVERY_BUCKETS)
        self.commit_latency = WindowHistogram(COMMIT_BUCKETS)

    def describe(self) -> list[Metric]:
        """Nothing up front: the families depend on which parts are configured."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every family, read now."""
        yield from self._intake()
        yield from self._journal()
        yield from self._mqtt()
        yield from self._rules()
        yield from self._influx()
        yield from self._dispatch()
        yield from self._cameras()
        yield from self._protocols()
        yield from self._status()

    def _intake(self) -> Iterator[Metric]:
        stats = self.status.gateway.intake.stats
        yield _counter("gridedge_readings_accepted", "Readings accepted and journaled.", stats.accepted)
        yield _counter("gridedge_readings_quarantined", "Readings of unknown devices kept in quarantine.",
                       stats.quarantined)  # fmt: skip
        yield _counter("gridedge_readings_clamped", "Readings whose device time was clamped.", stats.clamped)
        rejected = {reason: float(n) for reason, n in (stats.rejected or {}).items()}
        yield _by_label(CounterMetricFamily, "gridedge_readings_rejected", "Inputs rejected, by reason.",
                        "reason", rejected)  # fmt: skip

    def _journal(self) -> Iterator[Metric]:
        journal = self.status.gateway.journal
        stats = journal.stats
        yield _counter("gridedge_journal_committed", "Rows committed to the journal.", stats.committed)
        yield _counter("gridedge_journal_commits", "Group commits.", stats.commits)
        yield _counter("gridedge_journal_dropped", "Unsent rows deleted under drop_oldest.", stats.dropped)
        yield _counter("gridedge_journal_dead_letters", "Rejected inputs kept in the dead-letter table.",
                       stats.dead_letters)  # fmt: skip
        yield _gauge("gridedge_journal_queued", "Items waiting for the next group commit.", journal.queued)
        yield _gauge("gridedge_journal_bytes", "Bytes the journal file uses.", journal.used_bytes())
        yield _gauge("gridedge_journal_full", "1 when the journal is at its disk budget.", float(stats.full))
        depths = {sink: float(journal.depth(sink)) for sink in journal.sinks}
        yield _by_label(GaugeMetricFamily, "gridedge_journal_depth", "Rows a sink has yet to take.", "sink", depths)
        self.commit_latency.fold(stats.commit_latency_s)
        yield self._histogram("gridedge_journal_commit_seconds", "Group commit duration.", self.commit_latency)

    def _mqtt(self) -> Iterator[Metric]:
        mqtt = self.status.gateway.mqtt
        if mqtt is None:
            return
        yield _counter("gridedge_mqtt_received", "MQTT messages received.", mqtt.stats.received)
        yield _counter("gridedge_mqtt_connects", "MQTT connections made.", mqtt.stats.connects)
        yield _gauge("gridedge_mqtt_connected", "1 while connected to the broker.", float(mqtt.connected.is_set()))

    def _rules(self) -> Iterator[Metric]:
        runner = self.status.gateway.rules
        if runner is None:
            return
        counters = dict(runner.engine.counters)
        evaluations = {"reading": float(counters.get("readings", 0)), "detection": float(counters.get("detections", 0))}
        yield _by_label(CounterMetricFamily, "gridedge_rule_evaluations", "Inputs evaluated by the rule engine.",
                        "input", evaluations)  # fmt: skip
        yield _gauge("gridedge_rules_compiled", "1 when the rules' hot path runs compiled (mypyc), 0 interpreted.",
                     float(RULES_CODE.compiled))  # fmt: skip
        board = self.status.board
        for name, counts in (("opened", board.opened), ("resolved", board.resolved), ("updated", board.updated)):
            yield _by_label(CounterMetricFamily, f"gridedge_incidents_{name}", f"Incidents {name} since start.",
                            "event_type", {k: float(v) for k, v in counts.items()})  # fmt: skip
        yield _by_label(GaugeMetricFamily, "gridedge_incidents_open", "Incidents open now.", "event_type",
                        {k: float(v) for k, v in board.open_by_type().items()})  # fmt: skip

    def _influx(self) -> Iterator[Metric]:
        writer = self.status.gateway.writer
        if writer is None:
            return
        stats = writer.stats
        yield _counter("gridedge_influx_points_written", "Points InfluxDB accepted.", stats.points_written)
        yield _counter("gridedge_influx_retries", "InfluxDB write retries.", stats.retries)
        yield _by_label(CounterMetricFamily, "gridedge_influx_rejects", "Points InfluxDB refused, by reason.",
                        "reason", {k: float(v) for k, v in stats.rejects.items()})  # fmt: skip
        yield _gauge("gridedge_influx_lag_seconds", "Age of the oldest point not yet written.", stats.lag_seconds)
        self.write_latency.fold(stats.latencies)
        yield self._histogram("gridedge_influx_write_seconds", "InfluxDB write request latency.", self.write_latency)

    def _dispatch(self) -> Iterator[Metric]:
        dispatch = self.status.gateway.dispatch
        if dispatch is None:
            return
        stats = dispatch.worker.stats
        yield _by_label(CounterMetricFamily, "gridedge_dispatch_delivered", "Incident events delivered, by endpoint.",
                        "endpoint", {k: float(v) for k, v in stats.delivered.items()})  # fmt: skip
        yield _by_label(CounterMetricFamily, "gridedge_dispatch_retries", "Failed deliveries to retry, by endpoint.",
                        "endpoint", {k: float(v) for k, v in stats.retries.items()})  # fmt: skip
        yield _by_label(CounterMetricFamily, "gridedge_dispatch_dead_letters", "Events given up on, by reason.",
                        "reason", {k: float(v) for k, v in stats.dead.items()})  # fmt: skip
        yield _gauge("gridedge_dispatch_backlog", "Events waiting for delivery.", dispatch.outbox.backlog())
        self.delivery_latency.fold(stats.latency)
        yield self._histogram("gridedge_dispatch_delivery_seconds", "From incident event to the receiver's 2xx.",
                              self.delivery_latency)  # fmt: skip

    def _cameras(self) -> Iterator[Metric]:
        statuses = self.status.camera_statuses()
        if not statuses:
            return
        fps = {cid: s.fps for cid, s in statuses.items()}
        yield _by_label(GaugeMetricFamily, "gridedge_camera_fps", "Decoded frames per second.", "camera", fps)
        errors = {cid: float(s.decode_errors) for cid, s in statuses.items()}
        yield _by_label(CounterMetricFamily, "gridedge_camera_decode_errors", "Frames that failed to decode.",
                        "camera", errors)  # fmt: skip
        frames = {cid: float(s.frames) for cid, s in statuses.items()}
        yield _by_label(CounterMetricFamily, "gridedge_camera_frames", "Frames decoded.", "camera", frames)
        restarts = {cid: float(s.restarts) for cid, s in statuses.items()}
        yield _by_label(CounterMetricFamily, "gridedge_camera_restarts", "Worker restarts.", "camera", restarts)
        state = GaugeMetricFamily("gridedge_camera_state", "1 for each camera's current state.",
                                  labels=["camera", "state"])  # fmt: skip
        for cid, s in sorted(statuses.items()):
            state.add_metric([cid, s.state], 1.0)
        yield state
        for name, doc in (("clips", "Pre/post clips written."), ("clip_errors", "Clips that failed to write."),
                          ("clip_frames_dropped", "Ring frames dropped over the clip byte budget.")):  # fmt: skip
            counts = {cid: float(getattr(s, name)) for cid, s in statuses.items()}
            yield _by_label(CounterMetricFamily, f"gridedge_camera_{name}", doc, "camera", counts)
        yield from self._clip_store()

    def _clip_store(self) -> Iterator[Metric]:
        stats = self.status.clip_stats()
        if stats is None:
            return
        yield _gauge("gridedge_clips_kept", "Clips in the clip store.", stats["clips"])
        yield _gauge("gridedge_clips_bytes", "Bytes the kept clips use.", stats["bytes"])
        yield _gauge("gridedge_clips_max_bytes", "The clip store's byte budget.", stats["max_bytes"])
        yield _counter("gridedge_clips_evicted", "Clips deleted over the budget.", stats.get("evicted", 0))
        yield _counter("gridedge_clips_failed", "Clips a worker failed to write.", stats.get("failed", 0))

    def _protocols(self) -> Iterator[Metric]:
        servers = self.status.gateway.servers
        if not servers:
            return
        conns = GaugeMetricFamily("gridedge_protocol_connections", "Open TCP connections.", labels=["protocol"])
        packets = CounterMetricFamily("gridedge_protocol_packets", "Packets received.", labels=["protocol"])
        for server in servers:
            counters = server.input.counters
            conns.add_metric([server.input.name], float(counters.connections_open))
            packets.add_metric([server.input.name], float(counters.packets))
        yield conns
        yield packets

    def _status(self) -> Iterator[Metric]:
        summary = self.status.device_summary()
        yield _by_label(GaugeMetricFamily, "gridedge_devices", "Registered devices, by health.", "health",
                        {k: float(v) for k, v in summary.items()})  # fmt: skip
        yield _gauge("gridedge_sse_clients", "Status-page live streams open.", self.status.hub.clients)
        yield _counter("gridedge_sse_cut_off", "Live streams cut off for falling behind.", self.status.hub.cut_off)
        rejects = {k: float(v) for k, v in self.status.api_rejects.items()}
        yield _by_label(CounterMetricFamily, "gridedge_api_rejected", "API requests refused, by reason.", "reason",
                        rejects)  # fmt: skip

    @staticmethod
    def _histogram(name: str, doc: str, hist: WindowHistogram) -> HistogramMetricFamily:
        return HistogramMetricFamily(name, doc, buckets=hist.buckets(), sum_value=hist.total)


def metrics_registry(status: Status) -> CollectorRegistry:
    """A registry of its own (not the global one): the gateway's collector plus process CPU and RSS."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(status))
    ProcessCollector(registry=registry)
    return registry
