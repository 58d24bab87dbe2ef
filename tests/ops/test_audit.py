"""`make audit` never reads as clean when it checked nothing (issue 18 item 22)."""

from typing import Any

import pytest

from altaviz.ops.audit import Unreachable, audit


def _skipped(name: str, version: str) -> dict[str, str]:
    return {
        "name": name,
        "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} ({version})",
    }


SKIPPED_ALL = {
    "dependencies": [
        _skipped("jinja2", "3.1.6"),
        _skipped("urllib3", "2.8.0"),
        {"name": "altaviz", "skip_reason": "distribution marked as editable"},
    ],
    "fixes": [],
}


def _offline(name: str) -> dict[str, Any] | None:
    raise Unreachable("connection refused")


def test_without_network_it_says_it_could_not_audit_and_fails() -> None:
    report = audit(SKIPPED_ALL, fetch=_offline)
    text = "\n".join(report.lines())
    assert "could not audit: no network" in text
    assert "nothing was checked (2 packages)" in text
    assert "no known vulnerabilities" not in text.lower()
    assert report.exit_code == 2


def test_the_latest_releases_advisories_are_used_where_pip_audit_could_not_reach_its_own() -> None:
    pages: dict[str, dict[str, Any]] = {
        "jinja2": {"info": {"version": "3.1.6"}, "vulnerabilities": []},
        "urllib3": {
            "info": {"version": "2.8.0"},
            "vulnerabilities": [
                {"id": "GHSA-xxxx-yyyy-zzzz", "fixed_in": ["2.8.1"], "withdrawn": None},
                {"id": "PYSEC-0000-1", "fixed_in": [], "withdrawn": "2026-01-01T00:00:00Z"},
            ],
        },
    }
    report = audit(SKIPPED_ALL, fetch=lambda name: pages[name])
    assert report.audited == ["jinja2", "urllib3"]
    assert report.by_project_page == 2
    assert report.lines()[0] == "VULNERABLE urllib3 2.8.0: GHSA-xxxx-yyyy-zzzz (fixed in 2.8.1)"
    assert report.exit_code == 1


def test_a_package_left_unchecked_is_named_loudly() -> None:
    pages = {
        "jinja2": {"info": {"version": "3.1.6"}, "vulnerabilities": []},
        "urllib3": {"info": {"version": "2.9.0"}, "vulnerabilities": []},  # installed 2.8.0 is not the latest
    }
    report = audit(SKIPPED_ALL, fetch=lambda name: pages[name])
    lines = report.lines()
    assert lines[0] == "audited 1 packages (1 through PyPI's project pages): no known vulnerabilities"
    assert lines[1].startswith(
        "could not audit 1 packages: urllib3 (2.8.0: advisories reachable for the latest"
    )
    assert report.exit_code == 0


@pytest.mark.parametrize("vulns", [[], [{"id": "GHSA-1", "fix_versions": ["9.9"]}]])
def test_pip_audits_own_findings_pass_through(vulns: list[dict[str, Any]]) -> None:
    data = {"dependencies": [{"name": "fastapi", "version": "0.1", "vulns": vulns}], "fixes": []}
    report = audit(data, fetch=_offline)
    assert report.audited == ["fastapi"]
    assert report.exit_code == (1 if vulns else 0)
    assert not report.not_audited
