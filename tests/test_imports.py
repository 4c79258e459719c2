"""Every module of the apps imports first: no import circle hides behind the order in which the
admin's autodiscovery or a test happens to import them.

One fresh interpreter loads the apps (their models, as ``django.setup()`` does) without the
admin's autodiscovery, which would import every ``admin`` module in its own order; it then forks
once per module, and the child imports that module before any other of the apps' modules beyond
the models. A fork costs milliseconds where a fresh interpreter per module costs a second.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

APPS = ("members", "merger")

IMPORT_EACH_FIRST = """
import json, os, pkgutil, sys, traceback
from django.conf import settings

# Django's admin without autodiscover() (SimpleAdminConfig): each admin module is imported by
# its own child below, first.
settings.INSTALLED_APPS = [
    "django.contrib.admin.apps.SimpleAdminConfig" if name == "cluster.apps.AdminConfig" else name
    for name in settings.INSTALLED_APPS
]
import django

django.setup()

modules = []
for app in sys.argv[1:]:
    package = __import__(app)
    modules.append(app)
    modules.extend(
        info.name for info in pkgutil.walk_packages(package.__path__, prefix=app + ".")
    )

failures = {}
for module in modules:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            __import__(module)
        except BaseException:
            os.write(write, traceback.format_exc().encode())
            os._exit(1)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        error = pipe.read().decode()
    _pid, status = os.waitpid(pid, 0)
    if status:
        failures[module] = error or f"exit status {status}"

print(json.dumps({"modules": modules, "failures": failures}))
"""


def test_every_module_imports_first_in_a_fresh_interpreter():
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "cluster.settings"}
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_FIRST, *APPS],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.splitlines()[-1])

    # The walk found the apps' modules, their admin modules and migrations among them.
    assert {"members.admin", "merger.admin", "members.migrations.0001_initial"} <= set(
        result["modules"]
    )
    assert result["failures"] == {}, "\n\n".join(
        f"{module}:\n{error}" for module, error in result["failures"].items()
    )
