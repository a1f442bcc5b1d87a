"""Code and docs explain the project as it is: no source file or doc names this project's issues, or the
brief the project was started from, which no reader of the repository has. A link to an upstream
project's issue tracker (a URL) is fine. History belongs in commit messages."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("golden", "hw", "host", "perf", "sim", "docs", "examples")
SUFFIXES = {".py", ".md", ".toml", ".cpp", ".txt"}
HISTORY = re.compile(r"\bissues?\s*#?\s*\d+|\(#\d+\)|\bbrief(?:'s)?\s+(?:section|§)", re.IGNORECASE)


def history_mentions(paths) -> list[str]:
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if "://" not in line and HISTORY.search(line):
                found.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{number}: "
                             f"{line.strip()}")
    return found


def project_files():
    files = [ROOT / "README.md"]
    for folder in FOLDERS:
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.suffix in SUFFIXES and p.is_file()]
    return files


def test_no_source_or_doc_names_an_issue_of_this_project():
    files = project_files()
    assert len(files) > 100
    assert history_mentions(files) == []


def test_the_check_finds_each_kind_of_mention_and_lets_upstream_links_pass(tmp_path):
    lines = ["# fixed in issue 15", "see issue #15 item 2", "the reduction (#14)", "brief section 3 says",
             "x = 1", "# upstream: https://github.com/amaranth-lang/amaranth/issues/1574", "tissue 3 is not one"]
    (tmp_path / "a.py").write_text("\n".join(lines) + "\n")
    found = history_mentions([tmp_path / "a.py"])
    assert [f.split(":")[1] for f in found] == ["1", "2", "3", "4"]
