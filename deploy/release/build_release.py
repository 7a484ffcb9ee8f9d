"""Build the CodeDeploy revision: deploy/dist/billing-release.tgz.

Layout of the archive (CodeDeploy bundle type ``tgz``; tar keeps the hook scripts executable):

    appspec.yml        deploy/codedeploy/appspec.yml
    scripts/           deploy/codedeploy/scripts/*.sh (the lifecycle hooks)
    systemd/           deploy/systemd/* (units + the secret renderer)
    cloudwatch/        deploy/cloudwatch/* (CloudWatch agent config)
    rsyslog/           deploy/rsyslog/* (journal -> JSON log files for the agent)
    wheelhouse/        the billing wheel and every dependency as a wheel for the instances'
                       platform (Amazon Linux 2023: glibc 2.34, x86_64, CPython 3.11), so the
                       install hook works offline with `pip install --no-index`.
    REVISION           the git commit the bundle was built from

Usage: python deploy/release/build_release.py [--output deploy/dist/billing-release.tgz]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# pip does not widen a --platform tag to older glibc versions, so every acceptable one is listed
# (AL2023 has glibc 2.34; manylinux2014 stands for manylinux_2_17 and pip expands it to 2010/1).
PIP_PLATFORM = (
    "--platform", "manylinux_2_34_x86_64", "--platform", "manylinux_2_28_x86_64",
    "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
)

# (source directory, name inside the bundle, file mode)
TREES = (
    (DEPLOY / "codedeploy" / "scripts", "scripts", 0o755),
    (DEPLOY / "systemd", "systemd", 0o644),
    (DEPLOY / "cloudwatch", "cloudwatch", 0o644),
    (DEPLOY / "rsyslog", "rsyslog", 0o644),
)


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"], check=True)


def build_wheelhouse(wheelhouse: Path) -> None:
    pip("wheel", "--no-deps", "--wheel-dir", str(wheelhouse), str(REPO))
    (wheel,) = wheelhouse.glob("billing-*.whl")
    pip("download", "--only-binary=:all:", *PIP_PLATFORM, "--dest", str(wheelhouse), str(wheel))


def revision() -> str:
    result = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def add_file(archive: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    info.uname = info.gname = "root"
    archive.addfile(info, io.BytesIO(data))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEPLOY / "dist" / "billing-release.tgz")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="release-build-") as tmp:
        wheelhouse = Path(tmp)
        build_wheelhouse(wheelhouse)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(args.output, "w:gz") as archive:
            add_file(archive, "appspec.yml", (DEPLOY / "codedeploy" / "appspec.yml").read_bytes(), 0o644)
            add_file(archive, "REVISION", (revision() + "\n").encode(), 0o644)
            for source, name, mode in TREES:
                for path in sorted(p for p in source.iterdir() if p.is_file()):
                    file_mode = 0o755 if path.suffix in {".sh", ".py"} else mode
                    add_file(archive, f"{name}/{path.name}", path.read_bytes(), file_mode)
            for path in sorted(wheelhouse.glob("*.whl")):
                add_file(archive, f"wheelhouse/{path.name}", path.read_bytes(), 0o644)
    print(f"{args.output}: {args.output.stat().st_size / 1_048_576:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
