"""Scripts copied into every sandbox container and run there by its python3 (stdlib only, Python 3.6+); never imported on the host."""
