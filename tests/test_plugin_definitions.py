"""The Meltano Hub-style definitions in ``plugins/`` match what the plugins say in ``--about``.

Every setting ``--about`` lists (flattened the Hub's way) is in the definition and vice versa,
every secret is marked sensitive, the capabilities agree, and ``meltano.yml`` declares each
of the plugin's own settings, since Meltano passes no value (not even from the environment)
for a setting it does not know.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("hub", ROOT / "scripts" / "hub_definitions.py")
hub = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hub)

PLUGINS = list(hub.PLUGINS)
PLUGIN_TYPES = {"tap-gmail": "extractors", "target-gmail": "loaders"}
# Settings singer-sdk adds to every plugin; Meltano adds its own for the capabilities.
SDK_SETTINGS = ("stream_maps", "stream_map_config", "faker_config", "flattening_", "batch_config")
SDK_TARGET_SETTINGS = ("add_record_metadata", "load_method", "batch_size_rows", "validate_records")


@pytest.fixture(scope="module", params=PLUGINS)
def plugin(request):
    name = request.param
    about = hub.about(name)
    document = yaml.safe_load(hub.PLUGINS[name]["path"].read_text(encoding="utf-8"))
    return name, about, document


def test_every_setting_is_defined_and_nothing_else(plugin):
    name, about, document = plugin
    expected = set(hub.leaves(about["settings"]["properties"]))
    defined = [setting["name"] for setting in document["settings"]]
    assert len(defined) == len(set(defined)), f"{name}: a setting is listed twice"
    assert sorted(expected - set(defined)) == [], f"{name}: in --about, not in plugins/"
    assert sorted(set(defined) - expected) == [], f"{name}: in plugins/, not in --about"


def test_secrets_are_sensitive_and_only_they(plugin):
    name, about, document = plugin
    schemas = hub.leaves(about["settings"]["properties"])
    for setting in document["settings"]:
        secret = hub.is_sensitive(schemas[setting["name"]])
        assert bool(setting.get("sensitive")) == secret, f"{name}: {setting['name']}"
        if secret:
            assert setting["kind"] == "password", f"{name}: {setting['name']}"
    assert {"oauth_credentials.client_secret", "oauth_credentials.refresh_token",
            "service_account_info"} <= {s["name"] for s in document["settings"]
                                        if s.get("sensitive")}  # fmt: skip


def test_definition_is_current_and_hub_shaped(plugin):
    name, about, document = plugin
    assert document == hub.definition(name), f"{name}: run scripts/hub_definitions.py"
    assert document["capabilities"] == sorted(about["capabilities"])
    for key in ("name", "namespace", "variant", "label", "pip_url", "repo", "executable"):
        assert document.get(key), key
    assert document["maintenance_status"] in ("active", "beta", "development", "inactive")
    hub_kinds = {"oauth", "hidden", "password", "date_iso8601", "file", "email", "integer",
                 "options", "object", "array", "boolean", "string"}  # fmt: skip
    names = {s["name"] for s in document["settings"]}
    for setting in document["settings"]:
        assert setting["kind"] in hub_kinds, setting
        assert setting.get("label"), setting
        if setting["kind"] == "options":
            assert setting["options"], setting
    for group in document["settings_group_validation"]:
        assert set(group) <= names, group
    path = hub.PLUGINS[name]["path"]
    assert path.parent.name == PLUGIN_TYPES[name]
    assert path.name == f"{name}--{document['variant']}.yml"


def test_meltano_yml_declares_the_plugins_own_settings(plugin):
    name, about, _ = plugin
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    declared = next(
        {s["name"] for s in p.get("settings", [])}
        for p in project["plugins"][PLUGIN_TYPES[name]]
        if p["name"] == name
    )
    own = {
        setting
        for setting in hub.leaves(about["settings"]["properties"])
        if not setting.startswith(SDK_SETTINGS) and setting not in SDK_TARGET_SETTINGS
    }
    assert sorted(own - declared) == [], f"meltano.yml: {name} does not declare these"
