#!/usr/bin/env python3
"""Turn `terraform show -json PLANFILE` into a Markdown pull-request comment.

    terraform plan -out=plan.out
    terraform show -json plan.out > plan.json
    python3 scripts/plan_comment.py plan.json > comment.md     # or: ... | plan_comment.py -

The comment has: a summary line, a table of counts per action for each
backend (the homelab provider's resources by their `homelab_<backend>_`
type prefix; other providers' resources by provider), then the changes:
replacements first (marked, with the attributes that force them), then
deletions, updates and creations.

Sensitive values are never shown. `terraform show -json` prints sensitive
values in clear (`before`/`after`) and marks which ones are sensitive in
`before_sensitive`/`after_sensitive`, for values marked by the configuration
(sensitive variables and outputs) and for attributes the provider's schema
declares sensitive alike. This tool prints a value only when neither mark
covers it or anything inside it, and when it contains none of the plan's
sensitive strings (a provider may copy one into an unmarked attribute, such
as an import ID); otherwise "(sensitive)". Addresses are printed as they are
(Terraform refuses sensitive values in count and for_each). It prints
nothing from `variables` (which holds sensitive variables in clear) nor from
outputs.

Standard library only (Python 3.9+). Exit status: 0 when the comment was
written, 1 when the input is not a plan in Terraform's JSON format.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

#: The first line of every comment: a workflow finds its earlier comment by it
#: and edits that one instead of adding another.
MARKER = "<!-- labforge-plan-comment -->"

#: GitHub refuses comments over 65536 characters; Gitea's default limit is
#: larger. Longer comments are cut, with a note, below this.
MAX_CHARS = 60000

#: Longest value shown; longer ones are cut in the middle.
MAX_VALUE = 80

#: How many changed attributes are listed per resource.
MAX_ATTRS = 12

ACTIONS = ["replace", "delete", "update", "create", "read", "forget"]
HEADINGS = {
    "replace": "Replace (destroy and re-create)",
    "delete": "Delete",
    "update": "Update in place",
    "create": "Create",
    "read": "Read (data sources)",
    "forget": "Forget (removed from state, not destroyed)",
}
SYMBOLS = {
    "replace": "\u00b1",  # ±
    "delete": "\u2212",  # −
    "update": "~",
    "create": "+",
    "read": "\u2193",  # ↓
    "forget": "\u2205",  # ∅
}
SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"


class PlanError(Exception):
    """The input is not a plan in Terraform's JSON format."""


def action_of(actions: list[str]) -> str | None:
    """The one action a change's `actions` list stands for (None: no-op)."""
    s = list(actions)
    if s in (["delete", "create"], ["create", "delete"]):
        return "replace"
    if len(s) == 1 and s[0] in ACTIONS:
        return s[0]
    if s in (["no-op"], []):
        return None
    raise PlanError(f"unknown actions {s!r}")


def group_of(rc: dict[str, Any]) -> str:
    """The backend of a homelab resource, else its provider's short name."""
    rtype = rc.get("type", "")
    provider = rc.get("provider_name", "")
    if provider.endswith("/labforge/homelab") or provider == "labforge/homelab":
        parts = rtype.split("_")
        if len(parts) >= 3 and parts[0] == "homelab":
            return parts[1]
        return "homelab"
    # registry.terraform.io/hashicorp/random -> hashicorp/random;
    # terraform.io/builtin/terraform -> builtin/terraform.
    return "/".join(provider.split("/")[-2:]) or "(unknown provider)"


def marked(mark: Any) -> bool:
    """Whether a sensitivity (or unknown) mark covers a value or anything in it."""
    if mark is True:
        return True
    if isinstance(mark, dict):
        return any(marked(v) for v in mark.values())
    if isinstance(mark, list):
        return any(marked(v) for v in mark)
    return False


def child(mark: Any, key: Any) -> Any:
    """The mark of a value's element `key` (a covering `true` covers children)."""
    if mark is True:
        return True
    if isinstance(mark, dict) and isinstance(key, str):
        return mark.get(key, False)
    if isinstance(mark, list) and isinstance(key, int) and key < len(mark):
        return mark[key]
    return False


#: Every sensitive string of the plan being rendered (see `collect_secrets`).
SECRETS: set[str] = set()

#: Shorter sensitive strings are not searched for inside other values (they
#: would hide ordinary values such as "1" or "on"); the values themselves are
#: still hidden wherever a mark covers them.
MIN_SECRET = 4


def collect_secrets(plan: dict[str, Any]) -> set[str]:
    """Every string a sensitivity mark covers, in any resource change or
    output, and the values of variables declared sensitive.

    A provider may copy a sensitive value into an attribute that is not
    marked (an import ID such as `zone/name/TXT/<value>`): `render` hides
    any value that contains one of these strings.
    """
    found: set[str] = set()

    def walk(value: Any, mark: Any, covered: bool = False) -> None:
        covered = covered or mark is True
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, child(mark, k), covered)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, child(mark, i), covered)
        elif covered and value is not None:
            found.add(value if isinstance(value, str) else json.dumps(value))

    for rc in list(plan.get("resource_changes") or []) + list(plan.get("resource_drift") or []):
        change = rc.get("change") or {}
        walk(change.get("before"), change.get("before_sensitive", False))
        walk(change.get("after"), change.get("after_sensitive", False))
    for oc in (plan.get("output_changes") or {}).values():
        walk(oc.get("before"), oc.get("before_sensitive", False))
        walk(oc.get("after"), oc.get("after_sensitive", False))
    declared = ((plan.get("configuration") or {}).get("root_module") or {}).get("variables") or {}
    for name, var in (plan.get("variables") or {}).items():
        if (declared.get(name) or {}).get("sensitive"):
            walk(var.get("value"), True)
    return {s for s in found if len(s) >= MIN_SECRET}


def render(value: Any) -> str:
    """A value as compact JSON, cut to MAX_VALUE characters; "(sensitive)"
    when it contains a sensitive string."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
    raw = json.dumps(value, ensure_ascii=False)
    if any(secret in text or secret in raw or secret in str(value) for secret in SECRETS):
        return SENSITIVE
    if len(text) > MAX_VALUE:
        half = (MAX_VALUE - 3) // 2
        text = text[:half] + "..." + text[-half:]
    return text


def code(text: str) -> str:
    """`text` as inline code that no backtick in it can end early."""
    text = text.replace("\n", " ")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def path_text(path: list[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def diff(before: Any, after: Any, bs: Any, as_: Any, au: Any, path: list[Any], out: list):
    """Appends (path, before_text, after_text) for every changed leaf.

    Objects are compared key by key and lists of equal length element by
    element; anything else that differs is one change. A value is shown
    only when no sensitivity mark covers it or anything inside it.
    """
    if au is True:
        b = SENSITIVE if marked(bs) else render(before)
        out.append((path, b, UNKNOWN))
        return
    if before == after and not marked(au):
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for k in sorted(set(before) | set(after)):
            diff(before.get(k), after.get(k), child(bs, k), child(as_, k), child(au, k), path + [k], out)
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after)):
            diff(b, a, child(bs, i), child(as_, i), child(au, i), path + [i], out)
        return
    b = SENSITIVE if marked(bs) else render(before)
    a = SENSITIVE if marked(as_) else (UNKNOWN if marked(au) and after is None else render(after))
    if b == a == SENSITIVE:
        # Both sides hidden: say only that it changed.
        out.append((path, SENSITIVE, SENSITIVE))
    else:
        out.append((path, b, a))


def changed_attributes(change: dict[str, Any]) -> list[tuple[list[Any], str, str]]:
    out: list = []
    diff(
        change.get("before"),
        change.get("after"),
        change.get("before_sensitive", False),
        change.get("after_sensitive", False),
        change.get("after_unknown", False),
        [],
        out,
    )
    return out


def forcing(change: dict[str, Any]) -> list[str]:
    """The attributes whose change forces a replacement (`replace_paths`)."""
    paths = []
    for p in change.get("replace_paths") or []:
        if isinstance(p, list):
            paths.append(path_text(p))
    return sorted(set(paths))


REASONS = {
    "replace_because_tainted": "tainted",
    "replace_by_request": "requested with -replace",
    "replace_by_triggers": "replace_triggered_by",
    "replace_because_cannot_update": "the provider cannot update it in place",
    "delete_because_no_resource_config": "no longer in the configuration",
    "delete_because_wrong_repetition": "count/for_each changed",
    "delete_because_count_index": "count index out of range",
    "delete_because_each_key": "for_each key removed",
    "delete_because_no_module": "its module was removed",
    "delete_because_no_move_target": "moved to an address that does not exist",
    "read_because_config_unknown": "its configuration is known only after apply",
    "read_because_dependency_pending": "a dependency has changes",
}


def entry(rc: dict[str, Any], action: str) -> list[str]:
    change = rc.get("change", {})
    address = rc.get("address", "?")
    lines = []
    reason = REASONS.get(rc.get("action_reason", ""), "")
    head = f"- {SYMBOLS[action]} {code(address)}"
    if action == "replace":
        head = f"- **\u26a0\ufe0f {SYMBOLS[action]} {code(address)}** (replaced)"
        forced = forcing(change)
        if forced:
            head += ": forced by " + ", ".join(code(p) for p in forced)
    if reason:
        head += f" \u2014 {reason}"
    lines.append(head)
    if action in ("replace", "update"):
        attrs = changed_attributes(change)
        for path, b, a in attrs[:MAX_ATTRS]:
            lines.append(f"  - {code(path_text(path) or '(whole object)')}: {code(b)} \u2192 {code(a)}")
        if len(attrs) > MAX_ATTRS:
            lines.append(f"  - \u2026 and {len(attrs) - MAX_ATTRS} more attributes")
    return lines


def summary(plan: dict[str, Any], title: str) -> str:
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise PlanError("not the output of `terraform show -json PLANFILE` (no format_version)")
    if "planned_values" not in plan and "resource_changes" not in plan:
        raise PlanError("this is a state, not a plan (run `terraform show -json` on a plan file)")

    SECRETS.clear()
    SECRETS.update(collect_secrets(plan))
    by_action: dict[str, list[dict[str, Any]]] = {a: [] for a in ACTIONS}
    counts: dict[str, dict[str, int]] = {}
    for rc in plan.get("resource_changes") or []:
        action = action_of(rc.get("change", {}).get("actions", []))
        if action is None:
            continue
        by_action[action].append(rc)
        group = group_of(rc)
        counts.setdefault(group, {a: 0 for a in ACTIONS})[action] += 1
    for rcs in by_action.values():
        rcs.sort(key=lambda rc: rc.get("address", ""))

    lines = [MARKER, f"### {title}", ""]
    if plan.get("errored"):
        lines += ["**The plan failed**: what follows is what Terraform had planned when it stopped.", ""]
    n = {a: len(by_action[a]) for a in ACTIONS}
    total = sum(n.values())
    drift = len(plan.get("resource_drift") or [])
    if total == 0:
        lines.append("**No changes.** The infrastructure matches the configuration.")
    else:
        parts = [
            f"**{n['create']} to add**",
            f"**{n['update']} to change**",
            f"**{n['replace']} to replace**",
            f"**{n['delete']} to destroy**",
        ]
        if n["read"]:
            parts.append(f"{n['read']} to read")
        if n["forget"]:
            parts.append(f"{n['forget']} to forget")
        lines.append(", ".join(parts) + ".")
    if drift:
        lines.append("")
        lines.append(f"{drift} object(s) changed outside Terraform since the last apply (refresh found them).")
    if n["replace"]:
        lines += ["", f"> [!WARNING]\n> {n['replace']} resource(s) will be **destroyed and re-created**: see below."]

    if total:
        shown = [a for a in ACTIONS if any(c[a] for c in counts.values())]
        lines += ["", "| backend | " + " | ".join(f"{SYMBOLS[a]} {a}" for a in shown) + " |"]
        lines.append("| --- |" + " ---: |" * len(shown))
        for group in sorted(counts):
            row = counts[group]
            lines.append(f"| {group} | " + " | ".join(str(row[a]) for a in shown) + " |")
        lines.append("| **total** | " + " | ".join(f"**{n[a]}**" for a in shown) + " |")

        for action in ACTIONS:
            if not by_action[action]:
                continue
            lines += ["", f"#### {SYMBOLS[action]} {HEADINGS[action]} ({n[action]})", ""]
            for rc in by_action[action]:
                lines += entry(rc, action)

    text = "\n".join(lines) + "\n"
    if len(text) > MAX_CHARS:
        cut = text.rfind("\n", 0, MAX_CHARS - 200)
        text = text[:cut] + "\n\n\u2026 (cut: the full plan is in the workflow run's log)\n"
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("plan_json", help="`terraform show -json PLANFILE` output, or - for stdin")
    ap.add_argument("--title", default="Terraform plan", help="the comment's heading")
    args = ap.parse_args(argv)
    try:
        if args.plan_json == "-":
            raw = sys.stdin.read()
        else:
            with open(args.plan_json, encoding="utf-8") as f:
                raw = f.read()
        text = summary(json.loads(raw), args.title)
    except (OSError, ValueError, PlanError) as e:
        # Never echo the input: it holds sensitive values in clear.
        print(f"plan_comment: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
