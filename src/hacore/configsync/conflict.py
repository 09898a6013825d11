"""Whether a synchronize would throw away a change the sender has not seen,
read from content, not from a record of the last sync: each side sends the
digests of every configuration it has run, so a lost reply or a crash
cannot fake a conflict, and equal content is never one.

Rules: pure; digests in, one line out ("" when the synchronize may go on).
"""

from __future__ import annotations

from collections.abc import Collection


def refusal(receiver: str, sender: str, mine: str, theirs: str, they_know: Collection[str],
            i_know: Collection[str], ever_synced: bool) -> str:
    """Why the receiver refuses the sender's configuration (digest theirs) over its own (digest mine):
    they_know are the digests the sender has run, i_know those the receiver has run before this one."""
    if mine == theirs or mine in they_know or not ever_synced:
        return ""  # equal, the sender has had ours before, or these two never synchronized
    if theirs in i_know:
        return (f"{receiver} has a newer configuration than {sender} (which runs one {receiver} had before): "
                f"synchronize from {receiver}, or --force replaces {receiver}'s change")
    return f"conflict: both nodes changed since they last agreed; --force replaces {receiver}'s changes " \
           "(kept there as a revision)"
