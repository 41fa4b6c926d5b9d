"""Empty on purpose: benchmarks pass every gunicorn setting on the command line (bench/harness.py),
so the project's gunicorn.conf.py, read by default from the working directory, cannot change a result."""
