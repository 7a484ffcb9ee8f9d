"""gunicorn's configuration for the billing HTTP API: `gunicorn -c deploy/gunicorn.conf.py`.

The same server as `billing serve` (which deploy/systemd/billing-serve.service runs), from
gunicorn's own command line, for an operator who wants one of its flags (`--workers 4`,
`--max-requests 10000`, `--check-config`, `--print-config`). It reads the BILLING_* variables
like every command: the address from BILLING_HTTP_HOST and BILLING_HTTP_PORT, the processes from
BILLING_HTTP_WORKERS (else one per CPU). It sets:

    wsgi_app          billing.entrypoints.http.gunicorn_app:serving_runner
    worker_class      aiohttp's GunicornUVLoopWebWorker (BillingWorker: see gunicorn_app.py)
    graceful_timeout  25 s: below TimeoutStopSec=35 of billing-serve.service
    logger_class      gunicorn's lines as the service's JSON lines; no access log of its own

The values live in billing.entrypoints.http.gunicorn_app.gunicorn_options, shared with
`billing serve`; docs/operations.md explains the signals and timeouts.
"""

from billing.entrypoints.http.gunicorn_app import command_line_config

globals().update(command_line_config())
