"""Tests against a real S3-compatible server (SeaweedFS) started on loopback."""


def dedup_config(batch_size: int, *extra: str) -> str:
    """A config of text statistics and dedup whose policy rejects duplicates (plus ``extra`` top-level lines)."""
    lines = [f"batch_size: {batch_size}", *extra]
    return "\n".join(lines) + (
        "\nstages:\n  - name: text.stats\n  - name: dedup\npolicy:\n  rules:\n"
        '    - {when: "dup_kind not_null", reason: "duplicate:{value}"}\n'
    )
