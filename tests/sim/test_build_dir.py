"""One build directory: the option, the environment variable, the checkout's build/, else the user cache."""


import sim.build_dir as bd
from sim.cli import main


def test_the_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv(bd.ENV_VAR, str(tmp_path / "b"))
    assert bd.build_dir() == tmp_path / "b"


def test_a_checkout_builds_in_its_build_folder(monkeypatch):
    monkeypatch.delenv(bd.ENV_VAR, raising=False)
    assert bd.checkout_root() is not None
    assert bd.build_dir() == bd.checkout_root() / "build"


def test_an_installed_copy_builds_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(bd.ENV_VAR, raising=False)
    monkeypatch.setattr(bd, "checkout_root", lambda: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert bd.build_dir() == tmp_path / "pam-model" / "build"


def test_the_option_sets_it_and_doctor_shows_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(bd.ENV_VAR, str(tmp_path / "overridden"))       # restored after the test
    assert main(["--build-dir", str(tmp_path / "x"), "doctor"]) == 0
    assert f"build directory: {tmp_path / 'x'}" in capsys.readouterr().out
