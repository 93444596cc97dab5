"""Grouping many dumps' reports by crash signature: which dumps are the same bug.

A *row* is what triage keeps of one dump (:func:`row_of_report`): its path, release, crash
kind, signature and the dump's date, or the reason it could not be reported. :func:`group`
gathers the rows that share a signature digest into one group: how many, which kernels,
the first and the last dump's date, one example dump and the crash kind. Rows with an
error form no group; they are listed apart.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

__all__ = ["row_of_report", "group"]


def row_of_report(path: str, report: Dict[str, Any]) -> Dict[str, Any]:
    """The triage row of one dump's report (see the module docstring)."""
    summary = report.get("summary") or {}
    raw = summary.get("signature") if isinstance(summary, dict) else None
    sig: Dict[str, Any] = raw if isinstance(raw, dict) and "digest" in raw else {}
    kind = summary.get("kind", {}) if isinstance(summary, dict) else {}
    ok_sig = bool(sig)
    return {
        "path": path,
        "status": "ok",
        "release": summary.get("release") if isinstance(summary, dict) else None,
        "date": summary.get("date") if isinstance(summary, dict) else None,
        "kind": kind.get("kind"),
        "label": kind.get("label"),
        "panic": kind.get("panic"),
        "signature": sig["digest"] if ok_sig else None,
        "frames": sig["frames"] if ok_sig else [],
        "signature_text": sig["text"] if ok_sig else (kind.get("kind") or ""),
    }


def _key(row: Dict[str, Any]) -> str:
    """A group's key: the signature digest, or the kind for dumps without one (no crash,
    a stack that cannot be read)."""
    return row["signature"] or f"kind:{row['kind']}"


def group(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The groups of the rows that were reported, largest first (then by first date)."""
    groups: Dict[str, Dict[str, Any]] = {}
    for row in rows:
        if row.get("status") != "ok":
            continue
        g = groups.setdefault(_key(row), {
            "signature": row["signature"], "kind": row["kind"], "label": row["label"],
            "frames": row["frames"], "signature_text": row["signature_text"], "count": 0,
            "kernels": [], "first": None, "last": None, "example": row["path"], "dumps": [],
        })
        g["count"] += 1
        g["dumps"].append(row["path"])
        if row["release"] and row["release"] not in g["kernels"]:
            g["kernels"].append(row["release"])
        date: Optional[int] = row.get("date")
        if isinstance(date, int):
            if g["first"] is None or date < g["first"]:
                g["first"] = date
                g["example"] = row["path"]
            if g["last"] is None or date > g["last"]:
                g["last"] = date
    for g in groups.values():
        g["kernels"].sort()
        g["dumps"].sort()
    return sorted(groups.values(), key=lambda g: (-g["count"], g["first"] or 0, g["signature_text"]))
