import io

from fmd_utils.progress import disabled_by_environment, progress


def test_progress_bar_honours_the_flag_and_tqdm_disable(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert not disabled_by_environment()
    assert not progress(range(3), file=io.StringIO()).disable
    assert progress(range(3), enabled=False).disable
    for value, off in (("1", True), ("true", True), ("0", False), ("", False)):
        monkeypatch.setenv("TQDM_DISABLE", value)
        assert disabled_by_environment() is off
        assert progress(range(3)).disable is off
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert list(progress(range(3))) == [0, 1, 2]  # a disabled bar still iterates
