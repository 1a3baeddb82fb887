"""The `ita` command line: the same functions the jobs and the GUI call, without Qt."""
