"""Webhook output: incident events to the dispatch platform as signed CloudEvents, in order, losing nothing.

Public surface (see docs/webhooks.md for the contract):
    DeliveryWorker(store, DispatchSettings, clock=, sleep=).run(stop)   the delivery worker
    DispatchSettings, EndpointSettings, RetrySettings                  its settings
    DeliveryStore, Pending                                              what it needs of the outbox
    build_event, encode, event_id                                       the CloudEvents body
    parse_secret, new_secret, sign, signed_headers, verify              Standard Webhooks signing
    backchannel_routes(secrets, on_ack, on_handled)                     the platform's 受理/处置完毕 calls
    EscalationPolicy, escalate, next_escalation, routing                网格 → 社区 → 街道 → 区
"""

from adapters.webhook.backchannel import backchannel_routes
from adapters.webhook.cloudevent import build_event, encode, event_id
from adapters.webhook.escalation import LEVELS, EscalationPolicy, escalate, next_escalation, routing
from adapters.webhook.settings import DispatchSettings, EndpointSettings, RetrySettings
from adapters.webhook.signing import SignatureError, new_secret, parse_secret, sign, signed_headers, verify
from adapters.webhook.stats import DispatchStats
from adapters.webhook.store import DeliveryStore, Pending
from adapters.webhook.worker import DeliveryWorker

__all__ = [
    "LEVELS",
    "DeliveryStore",
    "DeliveryWorker",
    "DispatchSettings",
    "DispatchStats",
    "EndpointSettings",
    "EscalationPolicy",
    "Pending",
    "RetrySettings",
    "SignatureError",
    "backchannel_routes",
    "build_event",
    "encode",
    "escalate",
    "event_id",
    "new_secret",
    "next_escalation",
    "parse_secret",
    "routing",
    "sign",
    "signed_headers",
    "verify",
]
