"""Write the Meltano Hub-style plugin definitions in ``plugins/`` from the plugins' ``--about``.

    .venv/bin/python scripts/hub_definitions.py          # rewrite plugins/*.yml
    .venv/bin/python scripts/hub_definitions.py --check  # exit 1 if they are out of date

Settings, their kinds, defaults, descriptions and sensitivity come from
``tap-gmail --about --format json`` and ``target-gmail --about --format json``, flattened the
way the Hub lists them (``oauth_credentials.client_id``, ``batch_config.storage.root``).
Only the Hub metadata (labels, keywords, ...) is written here by hand.
``tests/test_plugin_definitions.py`` checks the files against ``--about``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# Not published yet: OWNER is a placeholder to replace when the repository is public.
REPO = "https://github.com/OWNER/gmail-connector"
VARIANT = "gmail-connector"

PLUGINS = {
    "tap-gmail": {
        "path": ROOT / "plugins" / "extractors" / f"tap-gmail--{VARIANT}.yml",
        "meta": {
            "name": "tap-gmail",
            "namespace": "tap_gmail",
            "variant": VARIANT,
            "label": "Gmail",
            "description": "Gmail messages, threads and labels (full, then historyId-incremental)",
            "pip_url": f"git+{REPO}.git",
            "repo": REPO,
            "executable": "tap-gmail",
            "domain_url": "https://developers.google.com/gmail/api",
            "logo_url": "/assets/logos/extractors/gmail.png",
            "keywords": ["meltano_sdk", "api", "email"],
            "maintenance_status": "development",
        },
        "groups": [
            [
                "oauth_credentials.client_id",
                "oauth_credentials.client_secret",
                "oauth_credentials.refresh_token",
            ],
            ["service_account_info", "user_ids"],
            ["service_account_file", "user_ids"],
        ],
    },
    "target-gmail": {
        "path": ROOT / "plugins" / "loaders" / f"target-gmail--{VARIANT}.yml",
        "meta": {
            "name": "target-gmail",
            "namespace": "target_gmail",
            "variant": VARIANT,
            "label": "Gmail",
            "description": "Gmail label changes, label upserts and exactly-once sends",
            "pip_url": f"git+{REPO}.git",
            "repo": REPO,
            "executable": "target-gmail",
            "domain_url": "https://developers.google.com/gmail/api",
            "logo_url": "/assets/logos/extractors/gmail.png",
            "keywords": ["meltano_sdk", "api", "email"],
            "maintenance_status": "development",
        },
        "groups": [
            [
                "oauth_credentials.client_id",
                "oauth_credentials.client_secret",
                "oauth_credentials.refresh_token",
            ],
            ["service_account_info", "user_ids"],
            ["service_account_file", "user_ids"],
        ],
    },
}

# Labels where title-casing the name reads badly.
LABELS = {
    "oauth_credentials.client_id": "OAuth Client ID",
    "oauth_credentials.client_secret": "OAuth Client Secret",
    "oauth_credentials.refresh_token": "OAuth Refresh Token",
    "user_id": "Mailbox (OAuth)",
    "user_ids": "Mailboxes (Service Account)",
    "service_account_info": "Service Account Key (JSON)",
    "service_account_file": "Service Account Key File",
    "api_url": "API URL",
    "token_url": "Token URL",
    "messages.q": "Messages Search Query",
    "messages.include_spam_trash": "Include Spam and Trash",
    "quota_units_per_second": "Quota Units per Second (per Mailbox)",
    "quota_window_s": "Quota Window (Seconds)",
    "quota_costs": "Quota Cost per Method",
    "request_timeout_s": "Request Timeout (Seconds)",
    "max_concurrency": "Max Concurrent Requests (per Mailbox)",
    "max_parallel_mailboxes": "Mailboxes in Parallel",
    "keep_thread_index": "Keep Thread Index",
    "thread_index_dir": "Thread Index Directory",
    "reconcile_delays_s": "Reconcile Delays (Seconds)",
    "dry_run": "Dry Run (Plan Only)",
    "plan_path": "Dry-Run Plan File",
    "ledger_path": "Send Ledger (SQLite)",
    "rejects_path": "Rejected Records File (JSONL)",
}


def about(plugin: str) -> dict:
    """``<plugin> --about --format json``, from the virtualenv of this interpreter if there."""
    local = Path(sys.executable).parent / plugin
    exe = str(local) if local.exists() else shutil.which(plugin)
    if exe is None:
        raise SystemExit(f"{plugin} is not installed (run `make venv`)")
    out = subprocess.run(
        [exe, "--about", "--format", "json"], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def leaves(properties: dict, prefix: str = "") -> dict[str, dict]:
    """Settings as the Hub lists them: objects with named properties become dotted leaves."""
    out: dict[str, dict] = {}
    for name, schema in properties.items():
        children = schema.get("properties") or {}
        named = {k: v for k, v in children.items() if not k.startswith("__")}
        if named and schema.get("description"):  # a part of the object: say what it is part of
            named = {
                k: v if v.get("description") else {**v, "description": schema["description"]}
                for k, v in named.items()
            }
        if named:
            out.update(leaves(named, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = schema
    return out


def _types(schema: dict) -> list[str]:
    kind = schema.get("type") or []
    kinds = [kind] if isinstance(kind, str) else list(kind)
    if not kinds and "anyOf" in schema:
        kinds = [t for s in schema["anyOf"] for t in _types(s)]
    return [k for k in kinds if k != "null"]


def is_sensitive(schema: dict) -> bool:
    return bool(schema.get("secret") or schema.get("writeOnly"))


def kind_of(schema: dict) -> str:
    types = _types(schema)
    if is_sensitive(schema):
        return "password"
    if schema.get("enum"):
        return "options"
    if "boolean" in types:
        return "boolean"
    # integer also for "number": the Hub has no decimal kind, and meltano 4 cannot serialise
    # a Decimal into a plugin's config.
    if "integer" in types or "number" in types:
        return "integer"
    if "object" in types:
        return "object"
    if "array" in types:
        return "array"
    if schema.get("format") == "date-time":
        return "date_iso8601"
    return "string"


def setting(name: str, schema: dict) -> dict:
    entry: dict = {"name": name, "kind": kind_of(schema)}
    entry["label"] = LABELS.get(name) or name.replace("_", " ").replace(".", " ").title()
    if schema.get("description"):
        entry["description"] = schema["description"]
    if entry["kind"] == "options":
        entry["options"] = [
            {"label": str(v).replace("-", " ").replace("_", " ").title(), "value": v}
            for v in schema["enum"]
            if v is not None
        ]
    default = schema.get("default")
    if default is not None and not isinstance(default, (dict, list)):
        entry["value"] = default
    if is_sensitive(schema):
        entry["sensitive"] = True
    return entry


def definition(plugin: str) -> dict:
    spec = PLUGINS[plugin]
    info = about(plugin)
    settings = leaves(info["settings"]["properties"])
    document = {
        **spec["meta"],
        "capabilities": sorted(info["capabilities"]),
        "settings": [setting(name, settings[name]) for name in sorted(settings)],
        "settings_group_validation": spec["groups"],
    }
    return dict(sorted(document.items()))


def render(document: dict) -> str:
    header = (
        "# Generated by scripts/hub_definitions.py from `--about --format json`; "
        "do not edit by hand.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=88, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args(argv)
    stale = []
    for plugin, spec in PLUGINS.items():
        text = render(definition(plugin))
        path: Path = spec["path"]
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
