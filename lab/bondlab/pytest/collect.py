"""pytest collects every scenarios/**/*.yaml file (not scenarios/lib/) as one test item, id = the file.

Each item is marked `kernel` (plus the capabilities its `requires` names), so on a host that cannot bond
the lab's pytest plugin runs all of them in one session inside the lab VM. A failed scenario reports the
same table `bondlab run` prints; a scenario with `expectFailure` that fails as expected is an xfail, and
one that passes is a failure (the weakness it documents went away: look at it). The bond binary under
test is $BONDLAB_PLUGIN (default bin/bond).
"""

from __future__ import annotations

import os

import pytest


def pytest_collect_file(file_path, parent):
    root = parent.config.rootpath / "scenarios"
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    try:
        rel = file_path.relative_to(root)
    except ValueError:
        return None
    if "lib" in rel.parts[:-1]:
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    def collect(self):
        item = ScenarioItem.from_parent(self, name=self.path.stem)
        item.add_marker(pytest.mark.kernel)
        try:
            from bondlab.model import scenario

            for need in scenario.load(str(self.path)).requires:
                item.add_marker(getattr(pytest.mark, need))
        except Exception:  # a malformed file still collects; running it reports the error
            pass
        yield item


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def runtest(self):
        from bondlab.report import render as report
        from bondlab.run import runner

        rel = os.path.relpath(self.path, self.config.rootpath)
        result = runner.run_scenario(rel, plugin=os.environ.get("BONDLAB_PLUGIN"))
        self.user_properties.append(("status", result.status))
        self.user_properties.append(("seconds", result.seconds))
        if result.status == "xfailed":
            pytest.xfail(result.expect_failure or "expected failure")
        if not result.ok:
            raise ScenarioFailed(report.console([result]))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"scenario {os.path.relpath(self.path, self.config.rootpath)}"
