#!/usr/bin/env bash
# Static security checks of the Terraform in infra/ with checkov.
#
#   .ci/checkov.sh [extra checkov arguments]
#
# checkov lives in its own virtualenv (.ci/.checkov-venv, git-ignored) because its pins
# conflict with the project's; it is installed on first use (CHECKOV_VERSION pins another
# version). Offline-friendly: --skip-download (no Prisma Cloud/Bridgecrew mapping, policies or
# upload) and no external module download (the only module is local).
# Exit status is non-zero on any failed check; a check that does not apply is skipped inline
# in the .tf file with "#checkov:skip=<ID>:<reason>".
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.ci/.checkov-venv"
checkov_version="${CHECKOV_VERSION:-3.3.30}"

if [[ ! -x "${venv}/bin/checkov" ]]; then
  echo "checkov.sh: installing checkov ${checkov_version} into ${venv}" >&2
  python3 -m venv "${venv}"
  "${venv}/bin/pip" install --quiet --disable-pip-version-check "checkov==${checkov_version}"
fi

cd "${repo_root}"
exec "${venv}/bin/checkov" \
  --directory infra \
  --framework terraform \
  --quiet \
  --compact \
  --skip-download \
  --download-external-modules false \
  "$@"
