"""Rules and incidents: pure rule kinds, the per-subject lifecycle, the engine and the backtest core.

Imports only gateway.model and third-party libraries; no I/O, no wall clock (time is passed in).
The hot path runs compiled when a current mypyc build exists (see `rules.native`).
"""

from rules.native import package_path

__path__ = package_path(__name__, __path__)  # before any compiled submodule is imported

from rules.backtest import (
    BacktestResult,
    IncidentSummary,
    RuleStats,
    backtest,
    backtest_columns,
    compare_rules,
    format_compare,
    format_result,
)
from rules.cli import explain_device, run_backtest
from rules.device import DeviceInfo, DeviceSpec
from rules.effective import EffectiveRule, explain, explain_text
from rules.engine import Engine
from rules.loader import RuleFileError, load_event_types, load_rules
from rules.readers import ReadStats, read_beijing_air, read_csv, read_jsonl
from rules.ruleset import EventTypeTable, RuleSet

__all__ = [
    "BacktestResult", "DeviceInfo", "DeviceSpec", "EffectiveRule", "Engine", "EventTypeTable", "IncidentSummary",
    "ReadStats", "RuleFileError", "RuleSet", "RuleStats", "backtest", "backtest_columns", "compare_rules", "explain",
    "explain_device",
    "explain_text", "format_compare", "format_result", "load_event_types", "load_rules", "read_beijing_air",
    "read_csv", "read_jsonl", "run_backtest",
]  # fmt: skip
