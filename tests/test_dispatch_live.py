"""Dispatch in the running gateway: an incident opened by MQTT readings reaches the reference receiver
signed; the platform's signed 受理/处置完毕 calls come back through the gateway's HTTP API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from tests.gateway_proc import GatewayProcess, write_config
from tests.receivers import BACK, SECRET, events_of
from tests.servers import Mosquitto, free_port, wait_for
from tests.test_e2e import publisher, wait_subscribed
from tests.test_rules_live import keep_sending, rules_config


def callback(api_port: int, incident_id: str, action: str, msg_id: str) -> int:
    body = json.dumps({"incident_id": incident_id, "action": action}).encode()
    timestamp = int(time.time())
    signature = Webhook(BACK).sign(msg_id, _datetime(timestamp), body.decode())
    req = urllib.request.Request(
        f"http://127.0.0.1:{api_port}/api/dispatch/v1/callbacks", data=body, method="POST",
        headers={"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
                 "webhook-signature": signature},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _datetime(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def test_incident_is_delivered_signed_and_the_platform_calls_back(
    tmp_path: Path, mosquitto: Mosquitto, receiver: tuple[int, Path]
) -> None:
    port, store = receiver
    api_port = free_port()
    cfg = tmp_path / "cfg"
    extra: dict[str, object] = {
        "rules": rules_config(cfg, hold="1s"),
        "dispatch": {"endpoints": [{"name": "centre", "url": f"http://127.0.0.1:{port}/", "secret": "env:HOOK_KEY"}],
                     "backchannel_secret": "env:BACK_KEY"},
        "api": {"port": api_port, "token": "env:API_TOKEN"},
    }
    env = {"HOOK_KEY": SECRET, "BACK_KEY": BACK, "API_TOKEN": "t0ken"}
    gateway = GatewayProcess(write_config(cfg, broker_url=mosquitto.url, extra=extra), env=env)
    gateway.start()
    try:
        wait_subscribed(gateway)
        pub = publisher(mosquitto)
        keep_sending(pub, 170, 2.0)
        wait_for(lambda: events_of(store), timeout=20, what="the opened event at the receiver")
        opened = events_of(store)[0]
        assert str(opened["type"]).endswith("incident.opened") and opened["subject"] == "110105001001001"
        data = opened["data"]
        assert isinstance(data, dict)
        incident_id = str(data["incident_id"])
        assert callback(api_port, incident_id, "ack", "msg-1") == 204
        assert callback(api_port, incident_id, "ack", "msg-1") == 200  # duplicate webhook-id
        assert callback(api_port, "no-such-incident", "ack", "msg-2") == 404
        assert callback(api_port, incident_id, "handled", "msg-3") == 204  # still over the limit: 核查不通过
        wait_for(lambda: len(events_of(store)) >= 2, timeout=20, what="the verification update")
        update = events_of(store)[1]
        update_data = update["data"]
        assert isinstance(update_data, dict)
        assert str(update["type"]).endswith("incident.updated")
        assert update_data["verification"] == "failed" and update_data["revision"] == 2
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/readyz", timeout=5) as resp:
            ready = json.loads(resp.read())
        assert ready["components"]["dispatch"]["backlog"] == 0
        pub.loop_stop()
    finally:
        assert gateway.terminate() == 0
    log = gateway.output()
    for secret in (SECRET, BACK, "t0ken"):
        assert secret not in log
