"""Build the Firehose transform Lambda's deployment zip.

    python -m transforms.package [--output dist/transform.zip]

The zip holds the ``transforms`` package (its ``.py`` modules and ``streams.json``, the one
definition of the streams) under ``transforms/``, so the Lambda handler string is
``transforms.handler.lambda_handler``. Nothing else: no tests, no Django, no third-party code
(the transform uses the standard library only).

The build is deterministic: entries are sorted and every entry has the same timestamp and mode,
so building the same sources twice gives byte-identical zips and Terraform's
``filebase64sha256`` only changes when the code does. Entries are stored, not deflated: the
package is a few tens of kilobytes, and deflate output depends on the zlib build, which would
make a developer's zip and CI's zip differ for the same sources. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DEFAULT_OUTPUT = REPO_ROOT / "dist" / "transform.zip"

# The earliest timestamp a zip entry can hold; fixed so that rebuilds are byte-identical.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--

DATA_FILES = frozenset({"streams.json"})
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test"})
EXCLUDED_FILES = frozenset({"package.py", "conftest.py"})


def _is_test_module(name: str) -> bool:
    return name.startswith("test_") or name.endswith("_test.py")


def package_files(package_dir: Path = PACKAGE_DIR) -> list[tuple[str, Path]]:
    """(name in the zip, file on disk) for every file the Lambda needs, sorted by name."""
    files: list[tuple[str, Path]] = []
    for path in package_dir.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(package_dir)
        if any(part in EXCLUDED_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        name = rel.name
        wanted = (path.suffix == ".py" and name not in EXCLUDED_FILES and not _is_test_module(name)) or (
            rel.as_posix() in DATA_FILES
        )
        if wanted:
            files.append((f"{package_dir.name}/{rel.as_posix()}", path))
    files.sort(key=lambda item: item[0])
    missing = {f"{package_dir.name}/{name}" for name in DATA_FILES} - {arcname for arcname, _ in files}
    if missing:
        raise FileNotFoundError(f"missing from {package_dir}: {', '.join(sorted(missing))}")
    return files


def build_zip(output: Path, package_dir: Path = PACKAGE_DIR) -> Path:
    """Write the deployment zip to ``output`` (atomically) and return its path."""
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".transform-", suffix=".zip", dir=output.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as zf:
            for arcname, path in package_files(package_dir):
                info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_STORED
                info.create_system = 3  # Unix, whatever machine builds it, so external_attr means the same
                info.external_attr = FILE_MODE << 16
                zf.writestr(info, path.read_bytes())
        tmp.replace(output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return output


def base64_sha256(path: Path) -> str:
    """The hash Terraform's ``filebase64sha256`` (and Lambda's CodeSha256) reports for ``path``."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode("ascii")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transforms.package", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the zip (default: {DEFAULT_OUTPUT.relative_to(REPO_ROOT)} in the repository root)",
    )
    args = parser.parse_args(argv)
    output = build_zip(args.output)
    with zipfile.ZipFile(output) as zf:
        count = len(zf.namelist())
    sys.stdout.write(f"{output}: {count} files, sha256 (base64) {base64_sha256(output)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
