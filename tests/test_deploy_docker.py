"""The Dockerfile and .dockerignore, checked offline (no Docker engine on these machines: nothing is built here).

The instructions are parsed and held to the deployment rules (multi-stage, numeric non-root user, health check on
/livez, exec-form entry point, no remote ADD), hadolint lints the file, and every setting the image bakes in must
resolve to a real Settings field.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from dataclasses import dataclass

import pytest

from dispatch_bridge.cli import build_parser
from tests.test_deploy_helpers import ROOT, setting, settings_env, tool

DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (enough of the grammar for our file)."""
    out: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, "the file ends inside a continued instruction"
    return out


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def env_pairs(args: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", args))


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(instructions) -> list[Instruction]:
    return stages(instructions)[-1]


def only(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in stage if i.keyword == keyword]


def test_parser_joins_continuations_and_skips_comments():
    parsed = parse_dockerfile("# c\nFROM a AS b\nRUN x \\\n    # inside\n    && y\nUSER 1\n")
    assert [(i.keyword, i.args, i.line) for i in parsed] == [
        ("FROM", "a AS b", 2), ("RUN", "x && y", 3), ("USER", "1", 6)]


def test_two_stages_on_python_311_slim_with_the_venv_built_in_the_first(instructions):
    args = {i.args.split("=")[0]: i.args.split("=", 1)[1] for i in instructions if i.keyword == "ARG" and "=" in i.args}
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    build, runtime = stages(instructions)
    assert build[0].args == "${PYTHON_IMAGE} AS build"
    assert runtime[0].args.startswith("${PYTHON_IMAGE}")
    assert any("python -m venv /opt/venv" in i.args for i in only(build, "RUN"))
    assert any("pip install --no-cache-dir ." in i.args for i in only(build, "RUN"))
    copies = [i.args for i in only(runtime, "COPY")]
    assert "--from=build /opt/venv /opt/venv" in copies
    # Nothing but the venv and the rules comes from outside the runtime base: no compilers, no source tree.
    assert not any("dispatch_bridge" in c for c in copies)


def test_runs_as_numeric_non_root_user_in_group_zero(final):
    users = only(final, "USER")
    assert users, "the runtime stage must set USER"
    uid, _, gid = users[-1].args.partition(":")
    assert uid.isdigit() and int(uid) == 10001, "numeric, so runAsNonRoot can verify it without /etc/passwd"
    assert gid == "0"
    assert any("useradd --uid 10001 --gid 0" in i.args for i in only(final, "RUN"))
    # Nothing after USER runs as root again.
    after = final[final.index(users[-1]):]
    assert not only(after, "RUN")


def test_healthcheck_polls_livez_with_python_urllib_in_exec_form(final):
    (check,) = only(final, "HEALTHCHECK")
    options, _, command = check.args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    assert "urllib.request.urlopen" in argv[2] and "/livez" in argv[2]
    port = re.search(r"127\.0\.0\.1:(\d+)/livez", argv[2]).group(1)
    assert only(final, "EXPOSE")[0].args == port
    env = env_pairs(" ".join(i.args for i in only(final, "ENV")))
    assert env["DISPATCH_BRIDGE_HTTP__PORT"] == port


def test_entrypoint_and_cmd_are_exec_form_and_run_the_service(final):
    entrypoint = json.loads(only(final, "ENTRYPOINT")[-1].args)
    cmd = json.loads(only(final, "CMD")[-1].args)
    assert entrypoint + cmd == ["dispatch-bridge", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["dispatch-bridge"] == "dispatch_bridge.cli:main"
    assert build_parser().parse_args(cmd).command == "run"
    assert only(final, "STOPSIGNAL")[-1].args == "SIGTERM"


def test_no_remote_add_and_every_copy_source_exists(instructions):
    assert not [i for i in instructions if i.keyword == "ADD"], "COPY only: ADD fetches URLs and unpacks archives"
    fetches = [i for i in instructions if i.keyword in ("RUN", "COPY", "FROM") and re.search(r"https?://|\bcurl\b|\bwget\b", i.args)]
    assert not fetches, "the build downloads nothing but Python packages through pip"
    for instruction in instructions:
        if instruction.keyword != "COPY" or "--from=" in instruction.args:
            continue
        sources = [a for a in instruction.args.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"line {instruction.line}: COPY source {source} is missing"
            assert dockerignore_keeps(source), f"line {instruction.line}: .dockerignore excludes {source}"


def test_baked_in_settings_resolve_and_rules_and_data_are_volumes(final, monkeypatch):
    env = env_pairs(" ".join(i.args for i in only(final, "ENV")))
    assert env["PYTHONUNBUFFERED"] == "1"
    settings = settings_env(env, monkeypatch)
    assert str(setting(settings, "DISPATCH_BRIDGE_RULES_DIR")) == "/app/rules/default"
    assert settings.store.url == "sqlite:////app/data/dispatch-bridge.db"
    volumes = json.loads(only(final, "VOLUME")[-1].args)
    assert volumes == ["/app/rules", "/app/data"]
    # The default pack is in the image (it runs on its own) exactly where the setting points.
    assert any(i.args.endswith("rules/default /app/rules/default") for i in only(final, "COPY"))


def test_hadolint_passes_at_the_strictest_threshold():
    result = subprocess.run([tool("hadolint"), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_is_live_it_flags_a_root_user_and_add(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nADD app /app\nUSER root\n", encoding="utf-8")
    result = subprocess.run([tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DL3002" in result.stdout  # last USER should not be root
    assert "DL3020" in result.stdout  # use COPY instead of ADD


# -- .dockerignore ----------------------------------------------------------------------------------------------


def _pattern(raw: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(raw):
        if raw.startswith("**", i):
            out += ".*"
            i += 2
            if raw.startswith("/", i):
                out += "/?"
                i += 1
        elif raw[i] == "*":
            out += "[^/]*"
            i += 1
        else:
            out += re.escape(raw[i])
            i += 1
    return re.compile(out)


def dockerignore_keeps(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent directory matches the path."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            rules.append((negate, _pattern(line.lstrip("!").rstrip("/"))))
    path = path.rstrip("/")
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    keep = True
    for negate, pattern in rules:
        if any(pattern.fullmatch(c) for c in candidates):
            keep = negate
    return keep


@pytest.mark.parametrize("path", [
    "pyproject.toml", "README.md", "dispatch_bridge/service.py", "dispatch_bridge/contracts/schemas/recommendation.v1.json",
    "rules/default/pack.yaml", "rules/default/route.test.yaml",  # the pack's own cases run before it goes live
])
def test_dockerignore_keeps_what_the_image_needs(path):
    assert dockerignore_keeps(path)


@pytest.mark.parametrize("path", [
    "tests/test_e2e.py", ".venv/bin/python", ".git/HEAD", "dispatch-bridge.db", "deploy/k8s/secret.yaml",
    "dispatch_bridge/__pycache__/service.cpython-311.pyc", "bench/run.py", "rules/default/x.db",
])
def test_dockerignore_excludes_local_state_and_everything_else(path):
    assert not dockerignore_keeps(path)
