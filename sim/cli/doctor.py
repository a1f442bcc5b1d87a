"""``pam doctor``: the toolchain check."""

from __future__ import annotations



from sim.build_dir import ENV_VAR, build_dir
from sim.cli.common import emit, table
from sim.verilator.toolchain import check_toolchain, fst_missing


def cmd_doctor(args):
    tools = check_toolchain()
    fst = fst_missing()
    data = {"ok": True, "tools": [{"name": t.name, "version": t.version, "path": t.path} for t in tools],
            "fst_waves": fst is None, **({"fst_missing": fst} if fst else {}), "build_dir": str(build_dir())}
    emit(args, data, table([(t.name, t.version, t.path) for t in tools], ("tool", "version", "path"))
          + ["", "toolchain OK", f"FST waves: {'available' if fst is None else 'not available: ' + fst}",
             f"build directory: {build_dir()} (--build-dir or ${ENV_VAR} moves it)"])
