"""The SSH keys of configuration sync (the seed's set-up: generate a key on
each node, paste each public key into the other).

Rules: one key pair per node, in the state directory (private key 0600),
serves as the node's client key and as its server's host key; the peer's
public key, once set, is both the only client key the server accepts and
the only host key the client trusts - nothing is trusted on first use.
Files are written atomically; a malformed key is refused with its reason.
asyncssh is imported where a key is read or made (about 16 MiB resident):
a node without keys never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hacore.support.atomic import atomic_write

if TYPE_CHECKING:
    import asyncssh

KEY_TYPES = {"ed25519": "ssh-ed25519", "rsa": "ssh-rsa"}
RSA_BITS = 3072


class SshKeyError(Exception):
    """A key operation that cannot be done; str() is the one line to show."""


@dataclass(frozen=True)
class KeyFiles:
    dir: Path

    @property
    def private(self) -> Path:
        return self.dir / "id_hacore"

    @property
    def remote(self) -> Path:
        return self.dir / "remote.pub"

    def generate(self, kind: str, comment: str, force: bool) -> str:
        """A new key pair; returns the public key line to paste into the peer."""
        if kind not in KEY_TYPES:
            raise SshKeyError(f"unknown key type {kind!r} (known: {', '.join(KEY_TYPES)})")
        if self.private.exists() and not force:
            raise SshKeyError(f"a key exists already ({self.private}); --force replaces it, and the peer then "
                            "needs the new public key")
        import asyncssh

        key = asyncssh.generate_private_key(KEY_TYPES[kind], comment=comment,
                                            **({"key_size": RSA_BITS} if kind == "rsa" else {}))
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(self.private, key.export_private_key(), mode=0o600)
        return public_line(key)

    def local_key(self) -> asyncssh.SSHKey:
        if not self.private.exists():
            raise SshKeyError("no local key: `hacore cluster ssh-key generate` first")
        import asyncssh

        try:
            return asyncssh.read_private_key(str(self.private))
        except (OSError, asyncssh.KeyImportError) as exc:
            raise SshKeyError(f"{self.private}: {exc}") from None

    def show(self) -> str:
        return public_line(self.local_key())

    def set_remote(self, line: str) -> str:
        """Pin the peer's public key (one OpenSSH line); returns its fingerprint."""
        key = parse_public(line)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(self.remote, key.export_public_key(), mode=0o600)
        return str(key.get_fingerprint())

    def remote_key(self) -> asyncssh.SSHKey:
        if not self.remote.exists():
            raise SshKeyError("no remote key: paste the peer's `hacore cluster ssh-key show` into "
                              "`hacore cluster ssh-key set-remote`")
        import asyncssh

        try:
            return asyncssh.read_public_key(str(self.remote))
        except (OSError, asyncssh.KeyImportError) as exc:
            raise SshKeyError(f"{self.remote}: {exc}") from None

    def status(self) -> dict[str, bool]:
        return {"local": self.private.exists(), "remote": self.remote.exists()}


def public_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key().decode().strip()


def parse_public(line: str) -> asyncssh.SSHKey:
    parts = line.strip().split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES.values():
        raise SshKeyError(f"not a public key line ({' or '.join(KEY_TYPES.values())} AAAA... [comment])")
    import asyncssh

    try:
        return asyncssh.import_public_key(line.strip())
    except asyncssh.KeyImportError as exc:
        raise SshKeyError(f"not a valid public key: {exc}") from None
