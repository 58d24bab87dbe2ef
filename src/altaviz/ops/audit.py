"""`make audit`: pip-audit, made to say when it could not audit (issue 18 item 22).

pip-audit asks PyPI's JSON API for each installed release's advisories. When that answer cannot be
had (no network, or an index mirror without per-release pages) it skips the package and still prints
"No known vulnerabilities found" — an audit that checked nothing reads as a clean one. This wrapper
runs pip-audit (JSON output) and then:

- for each skipped package, asks PyPI's project page, whose `vulnerabilities` are those of the latest
  release: when the installed version is the latest, that is the real advisory list for it;
- reports what was audited, every vulnerability found, and every package it could NOT audit, by name;
- exits 1 when a vulnerability is found, 2 when nothing at all could be audited (no network: the step
  failed, it did not pass), and 0 otherwise — with a loud "could not audit" line for any package left
  unchecked, never "No known vulnerabilities found" over them.
"""

import json
import ssl
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"
EDITABLE = "distribution marked as editable"
TIMEOUT_SECONDS = 15.0


class Unreachable(Exception):
    """PyPI's advisory data could not be fetched (no network, refused, timed out)."""


@dataclass
class Vulnerability:
    package: str
    version: str
    id: str
    fixed_in: list[str]


@dataclass
class AuditReport:
    audited: list[str] = field(default_factory=list)
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    # package -> why it could not be audited
    not_audited: dict[str, str] = field(default_factory=dict)
    # how many packages were audited through the project page (latest release) instead of pip-audit
    by_project_page: int = 0
    offline: bool = False

    @property
    def exit_code(self) -> int:
        if self.vulnerabilities:
            return 1
        if not self.audited:
            return 2
        return 0

    def lines(self) -> list[str]:
        out = [
            f"VULNERABLE {v.package} {v.version}: {v.id}"
            + (f" (fixed in {', '.join(v.fixed_in)})" if v.fixed_in else " (no fixed release yet)")
            for v in self.vulnerabilities
        ]
        if self.audited:
            via = f" ({self.by_project_page} through PyPI's project pages)" if self.by_project_page else ""
            found = len(self.vulnerabilities)
            verdict = (
                f"{found} known vulnerabilit{'y' if found == 1 else 'ies'}"
                if found
                else "no known vulnerabilities"
            )
            out.append(f"audited {len(self.audited)} packages{via}: {verdict}")
        if not self.audited:
            cause = "no network (PyPI's advisory data is unreachable)" if self.offline else "no advisory data"
            out.append(f"could not audit: {cause}; nothing was checked ({len(self.not_audited)} packages)")
        elif self.not_audited:
            names = ", ".join(f"{name} ({why})" for name, why in sorted(self.not_audited.items()))
            out.append(f"could not audit {len(self.not_audited)} packages: {names}")
        return out


Fetch = Callable[[str], dict[str, Any] | None]


def fetch_project(name: str) -> dict[str, Any] | None:
    """PyPI's JSON page of a project; None when PyPI does not know it; Unreachable without network."""
    try:
        answer = httpx.get(
            PYPI_PROJECT.format(name=name),
            timeout=TIMEOUT_SECONDS,
            verify=ssl.create_default_context(),
            follow_redirects=True,
        )
    except httpx.HTTPError as exc:
        raise Unreachable(str(exc)) from None
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise Unreachable(f"PyPI answered {answer.status_code}")
    data: dict[str, Any] = answer.json()
    return data


def _installed_version(skip_reason: str) -> str | None:
    # pip-audit: "Dependency not found on PyPI and could not be audited: NAME (VERSION)"
    if skip_reason.endswith(")") and "(" in skip_reason:
        return skip_reason.rsplit("(", 1)[1][:-1]
    return None


def audit(pip_audit_json: dict[str, Any], fetch: Fetch = fetch_project) -> AuditReport:
    report = AuditReport()
    skipped: dict[str, str] = {}
    for dep in pip_audit_json.get("dependencies", []):
        name = str(dep["name"])
        reason = dep.get("skip_reason")
        if reason == EDITABLE:
            continue
        if reason:
            skipped[name] = str(reason)
            continue
        report.audited.append(name)
        for vuln in dep.get("vulns", []):
            report.vulnerabilities.append(
                Vulnerability(
                    name, str(dep.get("version", "")), str(vuln["id"]), list(vuln.get("fix_versions", []))
                )
            )

    def check(name: str) -> tuple[str, dict[str, Any] | Exception | None]:
        try:
            return name, fetch(name)
        except Unreachable as exc:
            return name, exc

    unreachable = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for name, page in pool.map(check, sorted(skipped)):
            version = _installed_version(skipped[name])
            if isinstance(page, Exception):
                unreachable += 1
                report.not_audited[name] = f"{version}: PyPI unreachable"
            elif page is None:
                report.not_audited[name] = f"{version}: not on PyPI"
            elif version is not None and page.get("info", {}).get("version") == version:
                report.audited.append(name)
                report.by_project_page += 1
                for vuln in page.get("vulnerabilities") or []:
                    if vuln.get("withdrawn"):
                        continue
                    report.vulnerabilities.append(
                        Vulnerability(name, version, str(vuln.get("id")), list(vuln.get("fixed_in") or []))
                    )
            else:
                latest = page.get("info", {}).get("version")
                report.not_audited[name] = (
                    f"{version}: advisories reachable for the latest release {latest} only"
                )
    report.offline = bool(skipped) and unreachable == len(skipped)
    report.audited.sort()
    return report


def run_pip_audit(args: Sequence[str]) -> dict[str, Any] | None:
    done = subprocess.run(  # noqa: S603 — this interpreter's pip-audit, with the make target's arguments
        [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--format", "json", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        data: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        sys.stderr.write(done.stderr)
        return None
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    data = run_pip_audit(args)
    if data is None:
        print("could not audit: pip-audit failed (its messages are above)")
        return 2
    report = audit(data)
    for line in report.lines():
        print(line)
    return report.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
