"""InfluxDB output: drains the journal into InfluxDB (v1 `/write` or v2 `/api/v2/write`) in order, losing nothing.

The hot path posts journaled line protocol as it is, over aiohttp with our own batching; see
docs/influxdb.md for the schema, the retry and split behaviour, and v1/v2 settings.
"""

from adapters.influx.post import WriteError, write_points
from adapters.influx.response import Outcome, Response
from adapters.influx.settings import Endpoint, InfluxSettings
from adapters.influx.spool import MemorySpool, Row, Spool
from adapters.influx.stats import WriterStats
from adapters.influx.writer import InfluxWriter

__all__ = [
    "Endpoint",
    "InfluxSettings",
    "InfluxWriter",
    "MemorySpool",
    "Outcome",
    "Response",
    "Row",
    "Spool",
    "WriteError",
    "WriterStats",
    "write_points",
]
