"""Atomic writes."""


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os

    from crackedge.fileio import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
