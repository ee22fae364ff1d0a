"""The CLI answers at once: its parser and `study --help` import no heavy library, and
`study status` (a study folder read without Ray) imports neither torch, Ray, scipy nor optuna.

Each check runs in a fresh interpreter, since this test process has imported everything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.study_files import make_study

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "ray", "scipy", "pandas", "numpy", "optuna", "matplotlib")


def loaded_after(code: str) -> tuple[set[str], str]:
    """The top-level packages ``code`` (run in a fresh interpreter) leaves imported, its stdout."""
    probe = (
        f"import sys\n{code}\n"
        f"print('loaded:', *sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    *output, last = run.stdout.splitlines()
    assert last.startswith("loaded:"), run.stdout
    return set(last.split()[1:]), "\n".join(output)


def test_parser_and_help_import_no_heavy_library() -> None:
    loaded, _ = loaded_after("import study.cli\nstudy.cli.build_parser()")
    assert loaded == set()
    code = "from study.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    loaded, printed = loaded_after(code)
    assert loaded == set() and "status" in printed


def test_status_imports_no_torch_ray_scipy_optuna_or_pandas(tmp_path: Path) -> None:
    storage = make_study(tmp_path)
    argv = ["status", "--name", "demo", "--storage", str(storage)]
    loaded, printed = loaded_after(f"from study.cli import main\nassert main({argv!r}) == 0")
    assert "best val_top1" in printed
    assert not loaded & {"torch", "ray", "scipy", "optuna", "matplotlib", "pandas"}
