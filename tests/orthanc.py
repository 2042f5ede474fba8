"""A real Orthanc PACS on 127.0.0.1 for the tests and the benchmarks: own configuration, storage and ports.

    with OrthancServer(tmp_path) as pacs:
        pacs.node            # a PacsNode for our SCU
        pacs.rest("/instances")
        pacs.stop(); pacs.start()   # the same storage survives a restart
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from planner.pacs.network import PacsNode

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrthancServer:
    def __init__(self, folder: Path, ae_title: str = "ORTHANC", config: dict | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ae_title = ae_title
        self.dicom_port, self.http_port = free_port(), free_port()
        self.config = {
            "Name": "spine-planner-test",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "storage"),
            "DicomAet": ae_title,
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "UnknownSopClassAccepted": False,
            "StorageCompression": False,
            "Plugins": [],
            "SaveJobs": False,
            "HttpServerEnabled": True,
            "StableAge": 1,
        }
        self.config.update(config or {})
        self.process: subprocess.Popen | None = None

    @property
    def node(self) -> PacsNode:
        return PacsNode(self.ae_title, "127.0.0.1", self.dicom_port, "SPINEPLANNER", name="test Orthanc", timeout_s=10.0)

    def start(self, timeout_s: float = 30.0) -> "OrthancServer":
        config = self.folder / "orthanc.json"
        config.write_text(json.dumps(self.config))
        log = open(self.folder / "orthanc.log", "ab")
        self.process = subprocess.Popen([ORTHANC, str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start: {(self.folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                self.rest("/system")
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def rest(self, path: str, method: str = "GET", data: bytes | None = None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        kind = answer.headers.get("Content-Type", "")
        return json.loads(body) if "json" in kind else body

    def instance_file(self, sop_instance_uid: str) -> bytes:
        """The stored file of one instance, byte for byte (Orthanc's /instances/{id}/file)."""
        found = self.rest("/tools/lookup", method="POST", data=sop_instance_uid.encode())
        ids = [f["ID"] for f in found if f["Type"] == "Instance"]
        assert ids, f"Orthanc has no instance {sop_instance_uid}"
        return self.rest(f"/instances/{ids[0]}/file")

    def __enter__(self) -> "OrthancServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
