"""``python -m segstats``."""

from segstats.cli import main

if __name__ == "__main__":
    main()
