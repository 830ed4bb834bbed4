"""Data out: the DHRD transfer and municipal extracts."""
