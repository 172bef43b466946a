"""Builds the Kubernetes components, etcd and Helm from their official Go modules and caches the binaries.

The wrapper modules in `tools/` pin the upstream releases; the cache key is a hash of the wrapper's
files, so a version bump rebuilds and an unchanged pin never does.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"
WRAPPER_FILES = ("go.mod", "go.sum", "main.go")


def cache_root() -> Path:
    configured = os.environ.get("KUBEMAKER_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "kubemaker"
    return base / "bin"


@dataclass(frozen=True)
class GoTool:
    name: str

    @property
    def source_dir(self) -> Path:
        return TOOLS_DIR / self.name

    def cache_key(self) -> str:
        digest = hashlib.sha256()
        for file_name in WRAPPER_FILES:
            digest.update(file_name.encode())
            digest.update((self.source_dir / file_name).read_bytes())
        return digest.hexdigest()[:12]

    @property
    def path(self) -> Path:
        return cache_root() / f"{self.name}-{self.cache_key()}" / self.name

    def ldflags(self) -> str:
        flags = ["-s", "-w"]
        if self.name == "kube":
            version = required_version(self.source_dir / "go.mod", "k8s.io/kubernetes")
            major, minor = version.lstrip("v").split(".")[:2]
            # Without these the server reports v0.0.0 and kubectl warns about version skew.
            for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
                flags += [
                    f"-X {package}.gitVersion={version}",
                    f"-X {package}.gitMajor={major}",
                    f"-X {package}.gitMinor={minor}",
                    f"-X {package}.gitTreeState=clean",
                ]
        elif self.name == "actionlint":
            # Otherwise `actionlint -version` reports the wrapper module's "(devel)".
            version = required_version(self.source_dir / "go.mod", "github.com/rhysd/actionlint")
            flags.append(f"-X github.com/rhysd/actionlint.version={version}")
        return " ".join(flags)


# One binary for kube-apiserver, kube-controller-manager, kube-scheduler and the kubelet (`kube
# COMPONENT ...`): they share most of their packages, so one build compiles them once.
KUBE = GoTool("kube")
ETCD = GoTool("etcd")
TOOLS = (ETCD, KUBE)
# For the chart tests only, so `kubemaker-dev up` does not wait for it.
HELM = GoTool("helm")
# For the release workflow's test only (tests/unit/test_release.py).
ACTIONLINT = GoTool("actionlint")


def required_version(go_mod: Path, module: str) -> str:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.M)
    if not match:
        raise RuntimeError(f"{go_mod} does not pin {module}")
    return match.group(1)


class BuildError(RuntimeError):
    pass


def ensure_built(tool: GoTool, out=sys.stderr) -> Path:
    """Returns the cached binary, building it first if the cache has none for this pin."""
    if tool.path.is_file():
        return tool.path
    go = shutil.which("go")
    if go is None:
        raise BuildError(f"building {tool.name} needs the Go toolchain on PATH")
    target = tool.path
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{tool.name}.partial-{os.getpid()}")
    print(f"building {tool.name} from Go modules into {target.parent} (first time only; minutes)", file=out, flush=True)
    env = dict(os.environ, CGO_ENABLED="0")
    command = [go, "build", "-v", "-trimpath", "-ldflags", tool.ldflags(), "-o", str(partial), "."]
    started = time.monotonic()
    log_path = target.parent / "build.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=tool.source_dir, env=env, stdout=log, stderr=subprocess.PIPE, text=True)
        compiled = 0
        assert process.stderr is not None
        for line in process.stderr:
            log.write(line)
            compiled += 1
            # `go build -v` names each package as it compiles: a cheap progress signal.
            if compiled % 100 == 0:
                print(f"  {tool.name}: {compiled} packages, {time.monotonic() - started:.0f}s", file=out, flush=True)
        code = process.wait()
    if code != 0:
        partial.unlink(missing_ok=True)
        raise BuildError(f"building {tool.name} failed (exit {code}); see {log_path}")
    partial.rename(target)
    print(f"built {tool.name} in {time.monotonic() - started:.0f}s", file=out, flush=True)
    return target


def ensure_all_built(out=sys.stderr) -> dict[str, Path]:
    return {tool.name: ensure_built(tool, out) for tool in TOOLS}
