"""The runs folder on disk, without torch: a run folder's files, summaries, notes, the listing, the
run queue's store, and the columns, filter language and tables the CLI and the app show runs with."""
