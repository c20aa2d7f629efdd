"""What operators see: Prometheus metrics (telemetry.metrics) and JSON logs with a request id
(telemetry.logs). Both import nothing of the project, so any layer may record into them."""
