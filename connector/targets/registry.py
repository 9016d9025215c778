"""Which class implements each ``target.kind``. Vendor targets are imported only when used."""

from __future__ import annotations

import importlib
from typing import Any

from connector.errors import ConfigError
from connector.targets.base import Target
from connector.targets.dry_run import DryRunTarget, Recorder

VENDOR_TARGETS = {
    "foxdeli": "connector.targets.foxdeli:FoxdeliTarget",
    "parcellab": "connector.targets.parcellab:ParcellabTarget",
    "http": "connector.targets.http:HttpJsonTarget",
}


def build_vendor_target(kind: str, **kwargs: Any) -> Target:
    spec = VENDOR_TARGETS.get(kind)
    if spec is None:
        raise ConfigError(f"target.kind: unknown target {kind!r}")
    module_name, class_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"target.kind: the {kind} target is not available in this build ({exc.name})") from None
    return getattr(module, class_name)(**kwargs)


def build_target(kind: str, dry_run_mapping: str, recorder: Recorder) -> Target:
    """A ready target for ``kind``; dry-run borrows the mapping named by ``dry_run_mapping``."""
    if kind == "dry-run":
        mapping = None if dry_run_mapping == "neutral" else build_vendor_target(dry_run_mapping)
        return DryRunTarget(recorder, mapping)
    return build_vendor_target(kind)
