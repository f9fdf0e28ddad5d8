"""Every knob of the Gmail pipeline's orchestration, in one place, from the environment.

    GMAIL_DAGSTER_SHARD_COUNT        4: jobs the mailboxes are split into
    GMAIL_DAGSTER_LOADER             target-duckdb: the Meltano loader
    GMAIL_DAGSTER_MAPPERS            none: mappings in between, e.g. `strip-bodies`
    GMAIL_DAGSTER_ENVIRONMENT        meltano.yml's default_environment: `meltano --environment`
    GMAIL_DAGSTER_SCHEDULE           `0 * * * *`: cron of the incremental sync
    GMAIL_DAGSTER_SCHEDULE_TIMEZONE  UTC: time zone of that cron
    GMAIL_DAGSTER_SCHEDULE_RUNNING   false: the schedule is on at load (else: UI or CLI)
    GMAIL_DAGSTER_RETRIES            2: retries of a failed shard run
    GMAIL_DAGSTER_RETRY_DELAY_S      60: first retry delay (then doubled, with jitter)
    GMAIL_DAGSTER_TIMEOUT_S          none: `meltano run --timeout`
    GMAIL_DAGSTER_POOL               gmail: the Dagster concurrency pool of shard runs
    GMAIL_DAGSTER_PROJECT_ROOT       this repository: the Meltano project
    GMAIL_DAGSTER_MELTANO            <root>/.venv-meltano/bin/meltano

How many shards run at once is the limit of the pool, set in the Dagster instance, see
orchestration/dagster_home/dagster.yaml. Credentials and plugin settings are not here: they
are Meltano's (meltano.yml, `.env`, TAP_GMAIL_* / TARGET_* variables), and pass through.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml  # a dependency of dagster

_ROOT = Path(__file__).resolve().parents[2]
_PLUGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class SettingsError(ValueError):
    """A GMAIL_DAGSTER_* variable with a value the pipeline cannot use."""


@dataclass(frozen=True)
class Settings:
    shard_count: int
    loader: str
    mappers: tuple[str, ...]
    environment: str
    schedule: str
    schedule_timezone: str
    schedule_running: bool
    retries: int
    retry_delay_s: int
    timeout_s: int | None
    pool: str
    project_root: Path
    meltano: Path

    @property
    def pipeline(self) -> str:
        """Meltano's name for the pair, the middle of its state IDs."""
        return f"tap-gmail-to-{self.loader}"

    def shards(self) -> list[str]:
        return [str(index) for index in range(self.shard_count)]

    def state_id(self, shard: int) -> str:
        """The Meltano state ID a shard's runs read and write."""
        return f"{self.environment}:{self.pipeline}:shard-{shard}"

    def command(self, shard: int) -> list[str]:
        """`meltano run` for one shard; its env comes from `env()`."""
        command = [str(self.meltano), f"--environment={self.environment}", "run"]
        command += ["--state-id-suffix", f"shard-{shard}"]
        if self.timeout_s:
            command += ["--timeout", str(self.timeout_s)]
        return [*command, "tap-gmail", *self.mappers, self.loader]

    def env(self, shard: int, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a shard's `meltano run`: the caller's, plus the shard."""
        env = dict(os.environ if base is None else base)
        env.update(
            TAP_GMAIL_SHARD_INDEX=str(shard),
            TAP_GMAIL_SHARD_COUNT=str(self.shard_count),
            MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        )
        # These would change the state ID or skip state, behind the orchestrator's back.
        for name in ("MELTANO_RUN_STATE_ID_SUFFIX", "MELTANO_RUN_NO_STATE_UPDATE"):
            env.pop(name, None)
        return env


def _int(env, name: str, default: int | None, minimum: int) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value}: must be at least {minimum}")
    return value


def _plugin(env, name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not _PLUGIN_NAME.match(value):
        raise SettingsError(f"{name}={value!r}: not a Meltano plugin name")
    return value


def _default_environment(root: Path) -> str:
    """meltano.yml's `default_environment`: always passed explicitly, so state IDs are known."""
    try:
        with open(root / "meltano.yml") as handle:
            project = yaml.safe_load(handle) or {}
    except OSError as error:
        raise SettingsError(f"no Meltano project at {root}: {error}") from None
    environment = project.get("default_environment")
    if not environment:
        raise SettingsError("meltano.yml has no default_environment: set GMAIL_DAGSTER_ENVIRONMENT")
    return str(environment)


def load(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    root = Path(env.get("GMAIL_DAGSTER_PROJECT_ROOT") or _ROOT).resolve()
    mappers = tuple(env.get("GMAIL_DAGSTER_MAPPERS", "").split())
    for mapper in mappers:
        if not _PLUGIN_NAME.match(mapper):
            raise SettingsError(f"GMAIL_DAGSTER_MAPPERS: {mapper!r} is not a plugin name")
    running = env.get("GMAIL_DAGSTER_SCHEDULE_RUNNING", "").strip().lower()
    if running not in ("", "0", "1", "false", "true", "no", "yes"):
        raise SettingsError(f"GMAIL_DAGSTER_SCHEDULE_RUNNING={running!r}: true or false")
    return Settings(
        shard_count=_int(env, "GMAIL_DAGSTER_SHARD_COUNT", 4, 1),
        loader=_plugin(env, "GMAIL_DAGSTER_LOADER", "target-duckdb"),
        mappers=mappers,
        environment=env.get("GMAIL_DAGSTER_ENVIRONMENT", "").strip() or _default_environment(root),
        schedule=env.get("GMAIL_DAGSTER_SCHEDULE", "").strip() or "0 * * * *",
        schedule_timezone=env.get("GMAIL_DAGSTER_SCHEDULE_TIMEZONE", "").strip() or "UTC",
        schedule_running=running in ("1", "true", "yes"),
        retries=_int(env, "GMAIL_DAGSTER_RETRIES", 2, 0),
        retry_delay_s=_int(env, "GMAIL_DAGSTER_RETRY_DELAY_S", 60, 0),
        timeout_s=_int(env, "GMAIL_DAGSTER_TIMEOUT_S", None, 1),
        pool=_plugin(env, "GMAIL_DAGSTER_POOL", "gmail"),
        project_root=root,
        meltano=Path(env.get("GMAIL_DAGSTER_MELTANO") or root / ".venv-meltano/bin/meltano"),
    )
