"""A missing settings file: the error says which file was looked for, where, and how to
point elsewhere (--settings, $FILEBRIDGE_SETTINGS)."""

from __future__ import annotations

from filebridge.cli.main import main


def test_missing_settings_says_where_it_looked_and_how_to_point_elsewhere(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FILEBRIDGE_SETTINGS", raising=False)
    assert main(["history"]) == 2
    err = capsys.readouterr().err
    assert f"no settings file at {tmp_path / 'settings.yaml'}" in err
    assert "the default, in the current folder" in err
    assert "--settings FILE" in err and "FILEBRIDGE_SETTINGS=FILE" in err

    monkeypatch.setenv("FILEBRIDGE_SETTINGS", str(tmp_path / "elsewhere.yaml"))
    assert main(["status"]) == 2
    assert f"{tmp_path / 'elsewhere.yaml'} (from $FILEBRIDGE_SETTINGS)" in \
        capsys.readouterr().err

    assert main(["check", "--settings", "nope.yaml"]) == 2
    assert f"{tmp_path / 'nope.yaml'} (given with --settings)" in capsys.readouterr().err
