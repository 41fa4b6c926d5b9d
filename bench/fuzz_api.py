"""schemathesis against /api/schema/ with an authenticated token, on the app under gunicorn.

Goal: 0 server errors and responses that match the schema. Prints schemathesis' summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import PY, ROOT, bench_env, drop_database, fresh_database, gunicorn  # noqa: E402

DB = "sourcebook_bench_fuzz"


def main() -> int:
    fresh_database(DB)
    env = bench_env(DB)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    subprocess.run([PY, "manage.py", "setup_roles", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PY, "manage.py", "seed_demo", "--count", "60"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    token = subprocess.run([PY, "-c", (
        "import django;django.setup();from django.contrib.auth.models import User,Group;"
        "from rest_framework.authtoken.models import Token;"
        "u,_=User.objects.get_or_create(username='fuzzer');u.groups.add(Group.objects.get(name='Admin'));"
        "u.groups.add(Group.objects.get(name='Marketing'));print(Token.objects.get_or_create(user=u)[0].key)")],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "project.settings"}, check=True, capture_output=True, text=True).stdout.strip()
    try:
        with gunicorn(DB) as url:
            result = subprocess.run(
                [str(Path(PY).parent / "schemathesis"), "run", f"{url}/api/schema/", "--header", f"Authorization: Token {token}",
                 "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                 "--max-examples", os.environ.get("FUZZ_EXAMPLES", "40"), "--request-timeout", "10"],
                cwd=ROOT, env=env)
        return result.returncode
    finally:
        drop_database(DB)


if __name__ == "__main__":
    sys.exit(main())
