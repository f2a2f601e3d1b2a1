"""Model backends and the default student; kept import-light (torch loads only when a backend is used)."""
