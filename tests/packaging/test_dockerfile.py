"""The image installs the wheel, not the checkout (no Docker engine needed to check it)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions, one list per FROM stage (continuation lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_build_stage_makes_the_wheel_and_runtime_installs_it_with_both_extras():
    build, runtime = _stages()
    assert any(i.startswith("RUN pip wheel") and "--no-deps" in i for i in build)
    assert not any(i.startswith(("COPY . ", "ADD ")) for i in runtime)  # no checkout inside
    assert any(i.startswith("COPY --from=build") for i in runtime)
    (install,) = [i for i in runtime if i.startswith("RUN pip install")]
    assert "/dist/lionlab-" in install and " -e " not in install
    assert runtime[-1].startswith("CMD") and '"lionlab", "server"' in runtime[-1]
