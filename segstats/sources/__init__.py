"""Where label files come from: local paths, remote URLs, file lists."""
