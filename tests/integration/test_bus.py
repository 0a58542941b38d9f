"""The kiosk's MQTT wrapper against a real Mosquitto."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kiosk.bus import BusUnavailable, Message, MqttBus
from kiosk.config import BrokerConfig
from provisioning.broker import LocalBroker

pytestmark = pytest.mark.integration


def test_a_refused_connection_stops_retrying_and_says_why(tmp_path: Path) -> None:
    with LocalBroker(tmp_path / "broker", allow_anonymous=False) as broker:
        bus = MqttBus("kiosk-refused", BrokerConfig(port=broker.port))
        bus.start()
        try:
            deadline = time.monotonic() + 10
            while bus.refused is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert bus.refused == "Not authorized"
            time.sleep(3.5)  # were it retrying, the broker would refuse it about once a second
            refusals = {
                line
                for line in broker.log_path.read_text().splitlines()
                if "not authorised" in line
            }
            assert len(refusals) == 1
            assert not bus.connected
            with pytest.raises(BusUnavailable, match="not connected to the broker"):
                bus.publish("masar/v1/s/kiosk/k/status", b"{}")
        finally:
            bus.stop()


def test_subscriptions_come_back_after_the_broker_restarts(tmp_path: Path) -> None:
    received: list[Message] = []
    with LocalBroker(tmp_path / "broker") as broker:
        listener = MqttBus("listener", BrokerConfig(port=broker.port, keepalive=5))
        talker = MqttBus("talker", BrokerConfig(port=broker.port, keepalive=5))
        listener.subscribe("masar/v1/s/kiosk/k/cmd", received.append)
        listener.start()
        talker.start()
        try:
            assert listener.wait_connected(10) and talker.wait_connected(10)
            broker.stop()
            broker.start()
            deadline = time.monotonic() + 20
            while not (listener.connected and talker.connected):
                assert time.monotonic() < deadline, "no reconnect after the broker restart"
                time.sleep(0.1)
            time.sleep(0.3)
            talker.publish("masar/v1/s/kiosk/k/cmd", b"after restart")
            deadline = time.monotonic() + 5
            while not received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [m.payload for m in received] == [b"after restart"]
        finally:
            listener.stop()
            talker.stop()
