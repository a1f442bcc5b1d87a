"""The README documents every CLI subcommand; the docs the guide requires exist."""

from pathlib import Path

from sim.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_readme_lists_every_subcommand():
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        nested = [a for a in sub._actions if getattr(a, "choices", None) and a.dest.endswith("_command")]
        names = [f"pam {name} {n}" for a in nested for n in a.choices] or [f"pam {name}"]
        for full in names:
            assert f"`{full}" in readme, f"README misses {full}"


def test_required_docs_exist():
    for name in ("architecture", "numerics", "traces", "results", "host"):
        assert (ROOT / "docs" / f"{name}.md").stat().st_size > 200
