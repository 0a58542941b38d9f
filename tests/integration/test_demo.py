"""`masar demo` as a person runs it: both URLs answer, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from provisioning.broker import free_port

pytestmark = pytest.mark.integration


def descendants(pid: int) -> set[int]:
    children: set[int] = set()
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(status.parent.name)
            children |= {child} | descendants(child)
    return children


def test_demo_serves_both_urls_and_stops_cleanly_on_ctrl_c() -> None:
    hub_port, kiosk_port = free_port(), free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "masar",
            "demo",
            "--hub-port",
            str(hub_port),
            "--kiosk-port",
            str(kiosk_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines = []
        # The demo measures its kiosk's face calibration first: ~30 s, more on a busy machine.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            lines.append(line)
            if "log in as" in line or not line:
                break
        output = "".join(lines)
        urls = re.findall(r"(?:hub web|kiosk UI): +(http://127\.0\.0\.1:\d+/)", output)
        assert urls == [f"http://127.0.0.1:{hub_port}/", f"http://127.0.0.1:{kiosk_port}/"], output
        children = descendants(demo.pid)
        assert len(children) >= 4  # broker, hub web (+ its workers), ingest, kiosk
        for url in urls:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
        # The printed password opens the hub's API.
        password = re.findall(r"password (\S+)", output)[0]
        login = urllib.request.Request(
            urls[0] + "api/v1/session",
            data=json.dumps({"username": "registrar", "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as response:
            token = json.load(response)["token"]
        search = urllib.request.Request(
            urls[0] + "api/v1/detainees?q=Person", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(search, timeout=10) as response:
            assert len(json.load(response)) == 25
        # The kiosk reports itself to the hub through the broker and the ingest worker.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with urllib.request.urlopen(urls[0] + "healthz", timeout=5) as response:
                if b'"state":"online"' in response.read():
                    break
            time.sleep(0.3)
        else:
            raise AssertionError("the kiosk never appeared online at the hub")
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=30)
        assert demo.returncode == 0, output + rest
        assert "nothing left running" in rest
        time.sleep(0.5)
        alive = [
            pid
            for pid in children
            if Path(f"/proc/{pid}").exists()
            and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
        ]
        assert alive == [], f"left behind: {alive}"
    finally:
        if demo.poll() is None:
            os.kill(demo.pid, signal.SIGKILL)
            demo.wait()
