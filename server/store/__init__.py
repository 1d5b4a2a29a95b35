"""The result store: jobs and results indexed in SQLite, every result's PNG on disk, in one data dir."""
