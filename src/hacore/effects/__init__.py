"""Effects: idempotent reconcilers that make the kernel match the role (observe -> plan -> apply)."""
