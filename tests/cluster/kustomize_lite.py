"""A renderer for the subset of kustomize that manifests/ uses (resources; patches: strategic merge by kind and
name, or JSON 6902 add/replace operations on a target; labels on metadata), so that CI can render every overlay
without a kustomize binary. Anything else in a kustomization.yaml is refused rather than ignored; where kubectl is
installed the tests compare with it.

As in kustomize, a merge patch on a custom resource (no schema) replaces lists instead of merging them by name.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN = {"apiVersion", "kind", "resources", "patches", "labels"}
BUILT_IN_GROUPS = ("", "apps", "batch", "rbac.authorization.k8s.io", "networking.k8s.io", "policy")


class Unsupported(Exception):
    pass


def build(folder: Path) -> list[dict[str, Any]]:
    """The rendered resources of the kustomization in `folder`."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    extra = set(spec) - KNOWN
    if extra:
        raise Unsupported(f"{folder}/kustomization.yaml: {sorted(extra)} not supported by this renderer")
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = folder / entry
        docs += build(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in spec.get("patches", []):
        if set(patch) - {"path", "target"}:
            raise Unsupported(f"{folder}: patch {patch} (only path: and target: are supported)")
        body = yaml.safe_load((folder / patch["path"]).read_text())
        if "target" in patch:
            wanted = patch["target"]
            targets = [d for d in docs if all(_field(d, k) == v for k, v in wanted.items())]
            if len(targets) != 1 or not isinstance(body, list):
                raise Unsupported(f"{folder}/{patch['path']}: expected JSON patch operations for one target")
            for op in body:
                apply_operation(targets[0], op)
            continue
        for change in yaml.safe_load_all((folder / patch["path"]).read_text()):
            targets = [d for d in docs if _key(d) == _key(change)]
            if len(targets) != 1:
                raise Unsupported(f"{folder}/{patch['path']}: {len(targets)} targets for {_key(change)}")
            merge(targets[0], change, by_name=_group(targets[0]) in BUILT_IN_GROUPS)
    for label in spec.get("labels", []):
        if set(label) - {"pairs"}:
            raise Unsupported(f"{folder}: labels option {sorted(set(label) - {'pairs'})}")
        for doc in docs:
            doc.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    return docs


def _key(doc: dict[str, Any]) -> tuple[str, str, str]:
    return doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace", "")


def _group(doc: dict[str, Any]) -> str:
    return doc["apiVersion"].rpartition("/")[0]


def _field(doc: dict[str, Any], name: str) -> str:
    if name not in ("group", "kind", "name", "namespace"):
        raise Unsupported(f"patch target field {name}")
    return {"group": _group(doc), "kind": doc["kind"], "name": doc["metadata"]["name"],
            "namespace": doc["metadata"].get("namespace", "")}[name]  # fmt: skip


def apply_operation(doc: dict[str, Any], op: dict[str, Any]) -> None:
    """One JSON 6902 `add` or `replace` operation."""
    if op.get("op") not in ("add", "replace"):
        raise Unsupported(f"JSON patch op {op.get('op')!r}")
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op["op"] == "add":
            node.insert(index, copy.deepcopy(op["value"]))
        else:
            node[index] = copy.deepcopy(op["value"])
    else:
        if op["op"] == "replace" and last not in node:
            raise Unsupported(f"JSON patch replace of missing {op['path']}")
        node[last] = copy.deepcopy(op["value"])


def merge(target: dict[str, Any], change: dict[str, Any], by_name: bool = True) -> None:
    """Strategic merge as kustomize does it: maps recursively; lists of named items by name on built-in kinds
    (`by_name`), other lists replaced."""
    for key, value in change.items():
        old = target.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merge(old, value, by_name)
        elif by_name and isinstance(old, list) and isinstance(value, list) and _named(old) and _named(value):
            named = {item["name"]: item for item in old}
            for item in value:
                if item["name"] in named:
                    merge(named[item["name"]], item, by_name)
                else:
                    old.append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)
