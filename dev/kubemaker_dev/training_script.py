#!/usr/bin/env python3
"""The training script of the test world's training image (trainingimage.py installs it as `train`),
written to SageMaker's training container contract only: it reads its hyperparameters and channels
where SageMaker puts them and writes what it learned where SageMaker takes it from.

It fits y = a * x + b to the `train` channel's CSV rows (x,y), if it has one, and writes, as model-<host>.json, the
fit and what it was given (config files, SM_* variables, the files it saw), so a test can check all
of it in the uploaded model.tar.gz. Hyperparameters steer it:
- `fail`: write this text to /opt/ml/output/failure and exit 1;
- `sleep`: seconds to train for (a job to delete mid-run);
- `port`: with several hosts, algo-1 listens there and every other host connects to it by its
  SageMaker name, so each host records the others it reached.
"""

import csv
import json
import os
import socket
import sys
import time
from pathlib import Path

CONFIG = Path("/opt/ml/input/config")


def read_rows(channel: Path) -> tuple[list[list[float]], list[str]]:
    rows, files = [], []
    for path in sorted(p for p in channel.rglob("*") if p.is_file()):
        files.append(str(path.relative_to(channel)))
        with open(path, newline="") as handle:
            rows += [[float(value) for value in row] for row in csv.reader(handle) if row]
    return rows, files


def fit(rows: list[list[float]]) -> dict[str, float]:
    n = len(rows)
    mean_x = sum(x for x, _ in rows) / n
    mean_y = sum(y for _, y in rows) / n
    spread = sum((x - mean_x) ** 2 for x, _ in rows)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in rows) / spread if spread else 0.0
    return {"a": slope, "b": mean_y - slope * mean_x}


def meet_peers(hosts: list[str], current: str, port: int) -> dict[str, object]:
    """algo-1 accepts one connection from every other host; the others connect to it by name."""
    addresses = {host: socket.gethostbyname(host) for host in hosts}
    if current == "algo-1":
        server = socket.create_server((addresses[current], port))
        server.settimeout(300)
        seen = []
        while len(seen) < len(hosts) - 1:
            connection, _ = server.accept()
            with connection:
                seen.append(connection.recv(64).decode())
                connection.sendall(current.encode())
        return {"addresses": addresses, "seen": sorted(seen)}
    deadline = time.monotonic() + 300
    while True:
        try:
            with socket.create_connection((addresses["algo-1"], port), timeout=5) as connection:
                connection.sendall(current.encode())
                return {"addresses": addresses, "reached": connection.recv(64).decode()}
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> int:
    hyperparameters = json.loads((CONFIG / "hyperparameters.json").read_text())
    resources = json.loads((CONFIG / "resourceconfig.json").read_text())
    current = resources["current_host"]
    print(f"training on {current} of {resources['hosts']} with {hyperparameters}", flush=True)
    if "fail" in hyperparameters:
        print("failing as asked", flush=True)
        Path("/opt/ml/output/failure").write_text(hyperparameters["fail"])
        return 1
    # A job with no train channel (the KFP example's) learns nothing, but still makes a model.
    rows, files = read_rows(Path(os.environ["SM_CHANNEL_TRAIN"])) if "SM_CHANNEL_TRAIN" in os.environ else ([], [])
    model = {
        "fit": fit(rows) if rows else None, "rows": len(rows), "files": files, "hyperparameters": hyperparameters,
        "resourceconfig": resources,
        "inputdataconfig": json.loads((CONFIG / "inputdataconfig.json").read_text()),
        "environment": {name: value for name, value in os.environ.items()
                        if name.startswith("SM_") or name == "TRAINING_JOB_NAME"},
    }
    if len(resources["hosts"]) > 1:
        model["peers"] = meet_peers(resources["hosts"], current, int(hyperparameters["port"]))
    time.sleep(float(hyperparameters.get("sleep", 0)))
    Path(os.environ["SM_MODEL_DIR"], f"model-{current}.json").write_text(json.dumps(model, indent=1))
    Path(os.environ["SM_OUTPUT_DATA_DIR"], f"metrics-{current}.json").write_text(json.dumps({"rows": len(rows)}))
    print(f"wrote model-{current}.json: {model['fit']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
