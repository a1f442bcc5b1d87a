"""docs/api.md runs: every ```python block is executed, each in a fresh namespace and a temporary working
directory, so the documented API cannot drift from the code. Every block asserts on its own result, and every
file the page names exists."""

import re
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line of the block's first code line in the page, code) of every ```python block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def run_block(line: int, code: str, path: Path = DOC) -> dict:
    """Execute one block in a fresh namespace; tracebacks carry the page's own line numbers. A failure fails
    the test with the block's line and first line in the message."""
    namespace = {"__name__": "__main__"}
    try:
        exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    except Exception:
        failure = traceback.format_exc()
    else:
        return namespace
    first = code.strip().splitlines()[0] if code.strip() else ""
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    pytest.fail(f"{name} block at line {line} ({first!r}) failed:\n{failure}", pytrace=False)


BLOCKS = python_blocks(DOC.read_text())


def test_the_page_has_at_least_four_examples_each_checking_its_result():
    assert len(BLOCKS) >= 4, f"{len(BLOCKS)} python blocks in {DOC}"
    for line, code in BLOCKS:
        assert re.search(r"^\s*assert\b", code, re.MULTILINE), f"block at line {line} asserts nothing"


@pytest.mark.parametrize("line,code", BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_example_runs(line, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_block(line, code)


def test_every_named_file_and_link_exists():
    text = DOC.read_text()
    named = re.findall(r"`([\w./-]+/[\w.-]+\.(?:py|md|toml|json))`", text)
    links = [target for target in re.findall(r"\]\(([^)#]+)\)", text) if "://" not in target]
    assert named and links
    missing = [p for p in named if not (ROOT / p).exists()] + [p for p in links if not (DOC.parent / p).exists()]
    assert not missing, f"docs/api.md names files that do not exist: {missing}"


def test_a_failing_block_names_its_first_line(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=r"(?s)line 7 \('x = 1'\).*AssertionError"):
        run_block(7, "x = 1\nassert x == 2\n", tmp_path / "page.md")
