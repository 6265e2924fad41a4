"""core: settings (every environment variable, read in one place) and db (connections, COPY,
transactions, and naming the server setting that stopped a statement). Everything else builds on it."""
