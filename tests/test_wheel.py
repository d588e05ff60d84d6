"""The wheel carries everything the laboratory needs: built, installed into a fresh venv and
served from another directory (not the source checkout, which editable installs hide)."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from app import __version__
from tests.api.server import ROOT, free_port, wait_healthy


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (path,) = out.glob("rmaplab-*.whl")
    return path


def test_wheel_holds_page_templates_static_and_scenarios(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "app/templates/index.html",
        "app/static/js/app.js",
        "app/static/css/lab.css",
        "app/scenarios/seed-story.json",
        "app/engine/state.py",
    ):
        assert needed in names, needed
    assert wheel.name.startswith(f"rmaplab-{__version__}-")


def test_installed_wheel_serves_the_laboratory_from_elsewhere(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    # The fresh venv gets the wheel's files and, for its dependencies (fastapi, uvicorn, ...),
    # this interpreter's site-packages by a path entry. A .pth line adds a folder without
    # running the .pth files inside it, so the editable install of the checkout stays out.
    fresh_site = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (fresh_site / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(fresh_site),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    (env_dir / "bin" / "rmaplab").write_text(
        f"#!{py}\nimport sys\nfrom app.cli import main\nsys.exit(main())\n"
    )
    (env_dir / "bin" / "rmaplab").chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [py, "-c", "import app; print(app.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(fresh_site)), where
    version = subprocess.run(
        [env_dir / "bin" / "rmaplab", "--version"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.strip() == f"rmaplab {__version__}"

    port = free_port()
    proc = subprocess.Popen(
        [env_dir / "bin" / "rmaplab", "serve", "--port", str(port)],
        cwd=elsewhere,
        env={"PATH": "/usr/bin:/bin", "RMAPLAB_DB": str(tmp_path / "s.sqlite3")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        page = httpx.get(url + "/", timeout=10)
        assert page.status_code == 200 and "rmaplab" in page.text
        assert httpx.get(url + "/static/js/app.js", timeout=10).status_code == 200
        scenarios = httpx.get(url + "/api/scenarios", timeout=10)
        assert scenarios.status_code == 200 and "seed-story" in scenarios.text
    finally:
        proc.terminate()
        proc.wait(10)
