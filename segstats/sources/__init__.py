"""Where label files come from: lists of files (``--files-from``), and (to move here) paths,
directories, globs, URLs and shards."""
