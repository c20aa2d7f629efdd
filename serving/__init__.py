"""How the app meets the network: request bounds and headers (guard), uvicorn's settings and
its protocol with a header timeout (uvicorn_options)."""
