"""The control protocol between the CLI and the daemon: the command schema and the unix-socket request line."""
