"""Start-up cost (issue #21): each command imports what it runs, nothing more.

Asserted on what a fresh interpreter has imported (sys.modules), not on timings: `imagebot --help`
builds no pydantic model and loads no HTTP client; the commands that only read a repository
(validate, inventory, drift) load no pipeline, registry client or requests; a config without
tag filters loads no `regex`, one without promotions no promotion machinery.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code` (this checkout's imagebot)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _probe(code: str, env: dict[str, str] | None = None) -> list[str]:
    """The words a fresh interpreter prints running `code` (this checkout's imagebot)."""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **(env or {})},
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.split()


HEAVY = ("pydantic", "requests", "urllib3", "ruamel.yaml", "imagebot.config.schema", "imagebot.pipeline",
         "imagebot.registry", "prometheus_client", "regex")


def test_the_command_line_loads_no_config_schema_and_no_http_client():
    mods = loaded_after("import imagebot.cli")
    assert "imagebot.cli.plan_cmd" in mods  # every command is registered...
    assert not [m for m in HEAVY if m in mods]  # ...without what the commands run


def test_help_and_version_still_answer(tmp_path: Path):
    for args in (["--help"], ["--version"], ["plan", "--help"]):
        out = subprocess.run([sys.executable, "-m", "imagebot", *args], cwd=tmp_path, env={"PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


def test_config_load_builds_the_schema_but_loads_no_registry_client():
    mods = loaded_after("from imagebot.cli.common import load_config\nfrom imagebot.lanes import workspace_for\nimport imagebot.config.load")
    assert "imagebot.config.schema" in mods
    assert not {"requests", "imagebot.registry", "imagebot.pipeline", "regex"} & mods


@pytest.mark.parametrize("command", ["validate_cmd", "inventory_cmd", "drift_cmd"])
def test_commands_that_read_a_clone_load_no_pipeline(command: str):
    mods = loaded_after(f"import imagebot.cli.{command}\nfrom imagebot.lanes import workspace_for\n"
                        "import imagebot.discover, imagebot.deliver.workspace, imagebot.config.paths")
    assert not {"requests", "urllib3", "imagebot.registry", "imagebot.pipeline", "imagebot.fleet"} & mods


def test_plan_loads_no_promotion_machinery_metrics_or_regex_before_it_needs_them():
    mods = loaded_after("import imagebot.cli, imagebot.pipeline, imagebot.report.summary, imagebot.fleet.round")
    assert "requests" in mods  # plan lists tags: the registry client is needed
    assert not {"prometheus_client", "regex", "imagebot.promote.gates", "imagebot.promote.source",
                "imagebot.deliver.forge"} & mods


def test_a_tag_filter_still_compiles_with_regex():
    from imagebot.policy.filters import compile_pattern

    assert compile_pattern(r"^v(?P<n>\d+)$", "tag-filter").search("v12")["n"] == "12"


def _plugins_setting_after(code: str, env: dict[str, str]) -> str | None:
    out = _probe(f"{code}\nimport os\nprint(repr(os.environ.get('PYDANTIC_DISABLE_PLUGINS')))", env)
    return eval(out[-1])  # noqa: S307 - our own probe's repr


def test_the_command_line_turns_pydantic_plugin_search_off_unless_the_user_set_it():
    # The search scans every installed distribution's entry points at the first model (start-up time).
    assert _plugins_setting_after("import imagebot.cli", {}) == "__all__"
    # A user's choice wins, including an empty value (plugins on) and a list of plugin names.
    assert _plugins_setting_after("import imagebot.cli", {"PYDANTIC_DISABLE_PLUGINS": ""}) == ""
    assert _plugins_setting_after("import imagebot.cli", {"PYDANTIC_DISABLE_PLUGINS": "logfire"}) == "logfire"
    # Only the command line decides for the process: the modules it runs leave pydantic's default alone.
    assert _plugins_setting_after("import imagebot.config.load, imagebot.pipeline", {}) is None


def _entry_point_scans(cli: bool) -> int:
    """How often a fresh interpreter asks importlib.metadata for entry points while loading a config."""
    probe = ("import importlib.metadata as md\ncalls = []\nreal = md.entry_points\n"
             "md.entry_points = lambda **kw: calls.append(kw) or real(**kw)\n"
             + ("import imagebot.cli\n" if cli else "")
             + "from imagebot.config.load import load_text\n"
             "assert load_text('repository:\\n  url: https://example.com/x.git\\n').repository.url\n"
             "print(len(calls))")
    return int(_probe(probe)[-1])


def test_a_config_loaded_under_the_command_line_scans_no_entry_points():
    assert _entry_point_scans(cli=False) > 0  # pydantic's default: the plugin search reads every distribution
    assert _entry_point_scans(cli=True) == 0


def test_start_up_objects_leave_the_garbage_collectors_reach_once_the_config_is_loaded(tmp_path: Path):
    cfg = tmp_path / "imagebot.yaml"
    cfg.write_text("repository:\n  url: https://example.com/x.git\n")
    before, after, collectable, still_collectable = _probe(
        "import gc\nfrom imagebot.cli.common import load_config\n"
        "print(gc.get_freeze_count())\n"
        f"load_config({str(cfg)!r})\nprint(gc.get_freeze_count())\n"
        "marker = [[]]\nprint(any(o is marker for o in gc.get_objects()))\n"
        f"load_config({str(cfg)!r})\n"
        "print(any(o is marker for o in gc.get_objects()))\n")
    assert before == "0" and int(after) > 1000  # modules, classes, the schema's validators
    # Once per process: what a later run creates is collected as usual (a second load freezes nothing).
    assert collectable == "True" and still_collectable == "True"


def test_the_command_line_freezes_what_is_left_at_exit_after_the_other_exit_handlers():
    # This probe's handler is registered before the command line's, so it runs after it.
    frozen, unfrozen = _probe(
        "import atexit, gc\n"
        "atexit.register(lambda: print(gc.get_freeze_count() > 0, len(gc.get_objects()) < 100))\n"
        "import imagebot.cli\nkeep = [{} for _ in range(1000)]\n")
    assert frozen == "True" and unfrozen == "True"


def test_the_command_line_collects_the_youngest_generation_less_often():
    default, cli = _probe("import gc\nprint(gc.get_threshold()[0])\nimport imagebot.cli\nprint(gc.get_threshold()[0])")
    assert (int(default), int(cli)) == (700, 50_000)
    # Cycles are still collected: the collector is tuned, not off.
    assert _probe("import gc, imagebot.cli\nprint(gc.isenabled())") == ["True"]


def test_no_name_of_the_config_package_is_also_one_of_its_submodules() -> None:
    """Python binds a submodule on its package when anything imports it, so a lazily offered name
    equal to a submodule's would give the module to `from imagebot.config import <name>` in some
    import orders (it did: `load`)."""
    import pkgutil

    import imagebot.config as config
    submodules = {m.name for m in pkgutil.iter_modules(config.__path__)}
    assert submodules & set(config.__all__) == set()
    assert submodules & set(config._HOME) == set()


@pytest.mark.parametrize("command", [["plan"], ["run", "--once"]])
def test_a_command_that_runs_one_cycle_and_exits_collects_no_garbage(tmp_path: Path, command: list[str]):
    """imagebot.collector: `plan` and `run --once` exit after their cycle; the collector is off
    from the config's load on (a cycle leaves ~120 objects in reference cycles, and collecting
    them would only delay the exit), and stays off after the cycle."""
    cfg = tmp_path / "imagebot.yaml"
    cfg.write_text(f"repository:\n  url: https://example.com/x.git\ncache_dir: {tmp_path / 'cache'}\n")
    words = _probe(
        "import atexit, gc\nimport imagebot.pipeline as pipeline\nseen = []\n"
        "def cycle(*args, **kwargs):\n    seen.append(gc.isenabled())\n    raise SystemExit(0)\n"
        "pipeline.run_cycle = cycle\n"
        "atexit.register(lambda: print(seen, gc.isenabled()))\n"
        "from imagebot.cli import main\n"
        f"main({[*command, '-c', str(cfg)]!r}, prog_name='imagebot')\n")
    assert words[-2:] == ["[False]", "False"]


def test_start_up_collects_no_garbage_and_a_command_that_goes_on_collects_again(tmp_path: Path):
    """The command line holds collection off while a command imports its modules and loads the
    config (what they build lives until exit), and turns it on again once the config is loaded."""
    cfg = tmp_path / "imagebot.yaml"
    cfg.write_text(f"repository:\n  url: {tmp_path / 'none.git'}\ncache_dir: {tmp_path / 'cache'}\n")
    words = _probe(
        "import atexit, gc\nimport imagebot.config.load as load\nseen = []\nreal = load.load\n"
        "def loading(*args, **kwargs):\n    seen.append(gc.isenabled())\n    return real(*args, **kwargs)\n"
        "load.load = loading\n"
        "atexit.register(lambda: print(seen, gc.isenabled()))\n"
        "from imagebot.cli import main\n"
        "try:\n"
        f"    main(['validate', '-c', {str(cfg)!r}], prog_name='imagebot')\n"
        "except SystemExit:\n    pass\n")  # no clone to validate: what counts is the collector
    assert words[-2:] == ["[False]", "True"]


@pytest.mark.parametrize("command", [["plan"], ["run", "--once"]])
def test_a_one_shot_command_never_turns_collection_back_on(tmp_path: Path, command: list[str]):
    """Start-up holds collection off; a command that runs one cycle and exits keeps that hold
    (collection is not turned on when the config is loaded, to be turned off again)."""
    cfg = tmp_path / "imagebot.yaml"
    cfg.write_text(f"repository:\n  url: https://example.com/x.git\ncache_dir: {tmp_path / 'cache'}\n")
    words = _probe(
        "import atexit, gc\nimport imagebot.pipeline as pipeline\nturned_on = []\nreal = gc.enable\n"
        "gc.enable = lambda: (turned_on.append(1), real())\n"
        "def cycle(*args, **kwargs):\n    raise SystemExit(0)\n"
        "pipeline.run_cycle = cycle\n"
        "atexit.register(lambda: print(len(turned_on)))\n"
        "from imagebot.cli import main\n"
        f"main({[*command, '-c', str(cfg)]!r}, prog_name='imagebot')\n")
    assert words[-1] == "0"
