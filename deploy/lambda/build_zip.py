"""Build the deployment package of the SNS-triggered Lambda (the due-bills email step).

The zip holds only what ``billing.entrypoints.lambda_handler`` imports: the domain, the ports, the
AWS adapters, the settings and the handler module itself (no HTTP entrypoint, no SQL adapter, no
SQLAlchemy/aiomysql/alembic), plus aioboto3 and everything it needs, installed for the Lambda
platform (python3.11 runtime = Amazon Linux 2, glibc 2.26, x86_64 -> manylinux2014 wheels only).

boto3/botocore ARE bundled, although the runtime ships its own: aiobotocore patches botocore's
internals and pins it to a narrow range (aiobotocore 2.25.1 wants botocore >=1.40.46,<1.40.62),
while the runtime's copy is whatever AWS last updated it to. Bundling the pinned pair makes the
package self-contained and reproducible; it costs ~15 MB unzipped of the 250 MB limit.

The archive is deterministic (sorted entries, fixed timestamps), so an unchanged build yields an
unchanged CodeSha256 and CloudFormation/Lambda see no spurious update.

Usage: python deploy/lambda/build_zip.py [--output deploy/dist/lambda.zip]
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import json
import py_compile
import shutil
import ssl
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"

# Paths under src/ that the handler needs (files or whole packages). Anything else in `billing`
# (entrypoints/http, entrypoints/worker, adapters/sql, adapters/security, container, ...) stays out.
BILLING_PARTS = (
    "billing/__init__.py",
    "billing/config.py",
    "billing/lambda_container.py",
    "billing/domain",
    "billing/ports",
    "billing/adapters/__init__.py",
    "billing/adapters/aws",
    "billing/adapters/clock.py",
    "billing/adapters/metrics/__init__.py",
    "billing/adapters/metrics/emf.py",  # the Lambda's metrics: EMF lines on stdout (no statsd agent)
    "billing/adapters/metrics/timing.py",
    "billing/adapters/null_metrics.py",
    "billing/entrypoints/__init__.py",
    "billing/entrypoints/lambda_handler.py",
)
HANDLER = "billing/entrypoints/lambda_handler.py"

# Third-party distributions the handler needs, taken with their pins from pyproject.toml.
THIRD_PARTY = ("aioboto3", "dependency-injector")

# The AWS services the handler calls (billing.lambda_container: DynamoDB and SES), plus STS for
# credential providers that may need it. The models of all others are left out of the package.
AWS_SERVICES = frozenset({"dynamodb", "ses", "sts"})

# The TLS trust store the handler needs, written into the package as TRUST_ANCHORS and named by
# SSL_CERT_FILE and AWS_CA_BUNDLE in the function's environment (deploy/cloudformation/messaging.yaml).
# The handler talks to AWS endpoints only, and AWS serves them with certificates that chain to the
# Amazon Trust Services roots (the four Amazon Root CAs, and Starfield Services G2, which
# cross-signs them for older clients). A small bundle keeps each TLS context the handler makes cheap
# to build at cold start (figures: bench/README.md).
TRUST_ANCHORS = "aws-trust-anchors.pem"
AWS_ROOT_CAS = frozenset({
    "Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
})
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the zip

# What the Lambda runtime is: python3.11 on Amazon Linux 2, x86_64.
PIP_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11")

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
SKIP_TOP_LEVEL = {"bin"}  # console scripts pip writes for --target installs
SKIP_SUFFIXES = (".pyc", ".pyo")
LAMBDA_PYTHON = (3, 11)
PYC_SUFFIX = f".cpython-{LAMBDA_PYTHON[0]}{LAMBDA_PYTHON[1]}.pyc"


def tls_environment(task_root: str | Path) -> dict[str, str]:
    """The variables that point OpenSSL (SSL_CERT_FILE: aiohttp's default contexts) and botocore
    (AWS_CA_BUNDLE: each client's context) at TRUST_ANCHORS in a package unpacked at task_root.
    messaging.yaml sets them for LAMBDA_TASK_ROOT; the tests and the benchmark for their copy."""
    path = f"{task_root}/{TRUST_ANCHORS}"
    return {"SSL_CERT_FILE": path, "AWS_CA_BUNDLE": path}


def pinned_requirements(pyproject: Path, names: tuple[str, ...]) -> list[str]:
    """Return the project's own requirement strings for `names` (so the zip never drifts from it)."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    by_name = {Requirement(dep).name.lower(): dep for dep in deps}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise SystemExit(f"{pyproject}: no dependency named {', '.join(missing)}")
    return [by_name[name] for name in names]


def install_third_party(target: Path, requirements: list[str]) -> None:
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install",
            "--quiet", "--disable-pip-version-check", "--no-compile",
            "--target", str(target), *PIP_PLATFORM, "--only-binary=:all:",
            *requirements,
        ],
        check=True,
    )


def prune_service_models(target: Path) -> int:
    """Keep only the AWS service models the handler uses. botocore lists every service directory
    (400+) when it creates a client, a cost paid at every cold start, and the models are most of
    the package's size. Files at the data root (endpoints, partitions, retry and default
    configuration) stay."""
    removed = 0
    for data in (target / "botocore" / "data", target / "boto3" / "data"):
        for service in data.iterdir() if data.is_dir() else ():
            if service.is_dir() and service.name not in AWS_SERVICES:
                shutil.rmtree(service)
                removed += 1
    return removed


def _endpoint_prefix(service_dir: Path) -> str:
    """The endpointPrefix of the service's newest API version (SES's is "email", not "ses")."""
    newest = max(path for path in service_dir.iterdir() if path.is_dir())
    for name, opener in (("service-2.json.gz", gzip.open), ("service-2.json", open)):
        if (newest / name).is_file():
            with opener(newest / name, "rt", encoding="utf-8") as model:
                return str(json.load(model)["metadata"]["endpointPrefix"])
    raise SystemExit(f"{newest}: no service model")


def prune_endpoints(target: Path) -> None:
    """Keep, in botocore's endpoints.json, only the services the package has models for. Every
    client creation parses that file: 1.2 MB of every AWS service in every partition, about 25 ms
    of each cold start. The partitions, their regions and defaults stay whole."""
    data_dir = target / "botocore" / "data"
    prefixes = {_endpoint_prefix(data_dir / service) for service in AWS_SERVICES}
    endpoints_file = data_dir / "endpoints.json"
    endpoints = json.loads(endpoints_file.read_text(encoding="utf-8"))
    for partition in endpoints["partitions"]:
        partition["services"] = {name: spec for name, spec in partition["services"].items() if name in prefixes}
    endpoints_file.write_text(json.dumps(endpoints, separators=(",", ":")), encoding="utf-8")


def write_trust_anchors(target: Path) -> None:
    """Write the AWS root CAs, taken from the CA bundle botocore ships, as TRUST_ANCHORS."""
    bundle = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bundle.load_verify_locations(cafile=str(target / "botocore" / "cacert.pem"))
    anchors = {}
    for der, cert in zip(bundle.get_ca_certs(binary_form=True), bundle.get_ca_certs(), strict=True):
        common_name = dict(pair for rdn in cert["subject"] for pair in rdn).get("commonName")
        if common_name in AWS_ROOT_CAS:
            anchors[common_name] = ssl.DER_cert_to_PEM_cert(der)
    missing = AWS_ROOT_CAS - anchors.keys()
    if missing:
        raise SystemExit(f"botocore's CA bundle lacks {', '.join(sorted(missing))}")
    (target / TRUST_ANCHORS).write_text("".join(anchors[name] for name in sorted(anchors)), encoding="ascii")


def copy_billing(src: Path, target: Path) -> None:
    if not (src / HANDLER).is_file():
        raise SystemExit(f"{src / HANDLER} does not exist: nothing to package")
    for part in BILLING_PARTS:
        origin = src / part
        if origin.is_dir():
            shutil.copytree(origin, target / part, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
        elif origin.is_file():
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / part)
        else:
            raise SystemExit(f"{origin} is missing")


def precompile(root: Path) -> None:
    """Ship bytecode: /var/task is read-only, so without it every cold start compiles botocore,
    aiohttp and the rest again (about a second). Unchecked-hash pycs are used as they are (no mtime
    check against the zip's fixed dates) and are byte-for-byte reproducible."""
    if sys.version_info[:2] != LAMBDA_PYTHON:
        raise SystemExit(f"build with Python {'.'.join(map(str, LAMBDA_PYTHON))}: the bytecode must match the runtime")
    for stale in root.rglob("__pycache__"):
        shutil.rmtree(stale)
    ok = compileall.compile_dir(
        root, quiet=1, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    if not ok:
        raise SystemExit("byte-compiling the package failed")


def _ships(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    if parts[0] in SKIP_TOP_LEVEL:
        return False
    if "__pycache__" in parts:
        return path.name.endswith(PYC_SUFFIX)  # our own bytecode, for the runtime's Python only
    return not path.name.endswith(SKIP_SUFFIXES)


def write_zip(root: Path, output: Path) -> int:
    files = sorted(path for path in root.rglob("*") if path.is_file() and _ships(path, root))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=FIXED_DATE)
            info.external_attr = 0o644 << 16  # Lambda needs world-readable files
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    tmp.replace(output)
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "deploy" / "dist" / "lambda.zip")
    parser.add_argument("--src", type=Path, default=SRC, help="directory holding the billing package")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lambda-build-") as tmp:
        root = Path(tmp)
        install_third_party(root, pinned_requirements(REPO / "pyproject.toml", THIRD_PARTY))
        prune_service_models(root)
        prune_endpoints(root)
        write_trust_anchors(root)
        copy_billing(args.src, root)
        precompile(root)
        count = write_zip(root, args.output)
    size = args.output.stat().st_size
    print(f"{args.output}: {count} files, {size / 1_048_576:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
