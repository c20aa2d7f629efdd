"""Business rules of Warga, one module per domain concept (report, kelurahan, dinas, ...)."""
