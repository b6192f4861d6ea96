"""Dagster as the platform's control plane: a long-running code server, the webserver and
the daemon as managed processes, the local instance's dagster.yaml and workspace, and
launching/terminating the stream runs through the webserver's GraphQL API (what the UI
itself does).

The code location is served by one long-running code server (`dagster code-server start`,
a `grpc_server` entry in the home's workspace.yaml, as Dagster's deployment docs recommend)
instead of servers the webserver and daemon spawn: the daemon's spawned server here died
every ~60 s ("No heartbeat received in 20 seconds") and re-imported the whole location each
time. The repository's workspace.yaml (python_module) stays for `dagster dev` and ECS."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import requests
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from quantcore.errors import PlatformError
from quantcore_platform.services.process import ManagedProcess, port_open, wait_until
from quantcore.settings import REPO_ROOT, SECTIONS, Settings
from quantcore_platform.streams.catalog import Stream
from quantcore_platform.streams.health_policy import ACTIVE

LOCATION = "quantcore"
INSTANCE_TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "dagster_local.yaml"
ACTIVE_STATUSES = sorted(ACTIVE)  # one definition: the health policy's
SECTION_NAMES = tuple(section.section_name for section in SECTIONS)


def dagster_home(settings: Settings) -> Path:
    return settings.paths.home_dir / "dagster"


def write_instance_config(settings: Settings) -> Path:
    """DAGSTER_HOME with a dagster.yaml whose storage lives under the platform home."""
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    config = INSTANCE_TEMPLATE.read_text().replace("{{ storage }}", str(home / "storage"))
    (home / "dagster.yaml").write_text(config)
    return home


def write_workspace(settings: Settings) -> Path:
    """The local platform's workspace: the code location at its long-running code server."""
    path = dagster_home(settings) / "workspace.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([
        "# Written by `quantcore up`: the code location is served by the platform's code server.",
        "load_from:", "  - grpc_server:", "      host: 127.0.0.1", f"      port: {settings.dagster.code_server_port}",
        f"      location_name: {LOCATION}", ""]))
    return path


def _dagster_env(settings: Settings) -> dict[str, str]:
    # Every section: the code servers and run workers inherit these and launch every stream
    # (each stream child then gets only its own sections, `stream_launch`).
    return {**settings.child_env(*SECTION_NAMES), "DAGSTER_HOME": str(dagster_home(settings)),
            "PYTHONUNBUFFERED": "1"}


def _binary(name: str) -> str:
    found = Path(sys.executable).parent / name
    if found.exists():
        return str(found)
    if (other := shutil.which(name)) is None:
        raise PlatformError(f"{name} is not installed", "run `make setup` (it installs the Python dependencies)")
    return other


class _DagsterProcess:
    """One Dagster process of the platform: its command, and how to tell it is ready. They
    all read the instance config and get every settings section (runs are launched from
    them and each stream child then gets only its own sections)."""

    name = ""
    ready_timeout_s: float | None = 120.0  # None: no readiness to wait for

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process = ManagedProcess(self.name, settings.paths.run_dir, settings.paths.logs_dir)

    def command(self) -> list[str]:
        raise NotImplementedError

    def port(self) -> int | None:
        return None

    def start(self) -> None:
        write_instance_config(self.settings)
        self.process.start(self.command(), port=self.port(), env=_dagster_env(self.settings), cwd=REPO_ROOT)
        if self.ready_timeout_s is not None:
            wait_until(self.healthy, self.ready_timeout_s, interval=0.5, what=self.name.replace("-", " "),
                       alive=lambda: self.process.running() is not None, log_tail=self.process.log_tail)

    def stop(self) -> bool:
        return self.process.stop(timeout=15.0)

    def healthy(self) -> bool:
        return self.process.running() is not None


class DagsterCodeServer(_DagsterProcess):
    """Loads the code location once and serves it to the webserver and the daemon; runs are
    launched from it."""

    name = "dagster-code-server"

    @property
    def address(self) -> str:
        return f"grpc://127.0.0.1:{self.settings.dagster.code_server_port}"

    def port(self) -> int:
        return self.settings.dagster.code_server_port

    def command(self) -> list[str]:
        return [_binary("dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(self.port()),
                "-m", "quantcore_platform.definitions", "--location-name", LOCATION]

    def healthy(self) -> bool:
        return port_open(self.port())


class DagsterWebserver(_DagsterProcess):
    name = "dagster-webserver"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.settings.dagster.port}"

    def port(self) -> int:
        return self.settings.dagster.port

    def command(self) -> list[str]:
        return [_binary("dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.port()),
                "-w", str(write_workspace(self.settings))]

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.address}/server_info", timeout=2).ok
        except requests.RequestException:
            return False


class DagsterDaemon(_DagsterProcess):
    name = "dagster-daemon"
    ready_timeout_s = None  # it serves nothing to probe; running is healthy

    @property
    def address(self) -> str:
        return f"DAGSTER_HOME={dagster_home(self.settings)}"

    def command(self) -> list[str]:
        return [_binary("dagster-daemon"), "run", "-w", str(write_workspace(self.settings))]


class DagsterApi:
    """The webserver's GraphQL API, for launching and terminating the stream runs."""

    def __init__(self, settings: Settings) -> None:
        self.port = settings.dagster.port
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=self.port, timeout=30)

    def available(self) -> bool:
        return port_open(self.port)

    def query(self, text: str, variables: dict | None = None) -> dict:
        response = requests.post(self.url, json={"query": text, "variables": variables or {}}, timeout=30)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise PlatformError(f"Dagster GraphQL error: {body['errors']}", "see the dagster-webserver log")
        return body["data"]

    def stream_runs(self, statuses: list[str] = ACTIVE_STATUSES) -> list[dict]:
        data = self.query(
            """query($statuses: [RunStatus!]) { runsOrError(filter: {statuses: $statuses}) {
                 ... on Runs { results { runId jobName status } } } }""",
            {"statuses": statuses},
        )
        jobs = {stream.job_name for stream in Stream}
        return [run for run in data["runsOrError"]["results"] if run["jobName"] in jobs]

    def wait_until_loaded(self, timeout: float = 120.0) -> None:
        """The code location loads in a subprocess after the webserver answers."""
        query = """{ workspaceOrError { ... on Workspace { locationEntries {
                      name locationOrLoadError { __typename } } } } }"""

        def loaded() -> bool:
            entries = self.query(query)["workspaceOrError"].get("locationEntries", [])
            return any(e["name"] == LOCATION and e["locationOrLoadError"]
                       and e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries)

        wait_until(loaded, timeout, interval=1.0, what="the Dagster code location")

    def launch(self, stream: Stream) -> str:
        return self.client.submit_job_execution(stream.job_name, repository_location_name=LOCATION,
                                                repository_name="__repository__")

    def launch_missing_streams(self) -> dict[str, str]:
        """Launch each stream that has no active run; {job: run id} of those launched."""
        running = {run["jobName"] for run in self.stream_runs()}
        return {stream.job_name: self.launch(stream) for stream in Stream if stream.job_name not in running}

    def terminate_streams(self, timeout: float = 60.0) -> list[str]:
        """Terminate every active stream run; {job} of those that were active. A run still
        STARTING cannot be terminated yet (Dagster refuses): asked again until it can, and
        past `timeout` left to `down`, which stops its processes anyway."""
        runs = self.stream_runs()
        deadline = time.monotonic() + timeout
        while (active := self.stream_runs()) and time.monotonic() < deadline:
            try:
                self.client.terminate_runs([run["runId"] for run in active])
            except DagsterGraphQLClientError:
                pass  # some were STARTING (or ended meanwhile): the others were terminated
            time.sleep(0.5)
        return [run["jobName"] for run in runs]
