"""Where label files come from, as paths or bytes."""
