"""The AR team's web app: the exception queue, each exception in detail, and the AR dashboard.

`tieout web` serves `create_app(config, store)` with uvicorn; `tieout users ...` manages who may
log in (see `tieout.web.accounts` for roles, sessions and the login rate limit).
"""
