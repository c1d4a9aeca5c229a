"""pytest collects every scenarios/**/*.yaml file (not scenarios/lib/) as one test item, id = the file,
read once: the item runs the Scenario its collection loaded (or reports the file's load error).

Each item is marked `kernel` (and `netdevsim` when its `requires` says so), so on a host that cannot bond
the lab's pytest plugin runs all of them in one session inside the lab VM. A failed scenario reports the
same table `bondlab run` prints; a scenario with `expectFailure` that fails as expected is an xfail, and
one that passes is a failure (the weakness it documents went away: look at it). A scenario whose `requires`
the running kernel lacks is a skip with the reason. The bond binary under test is $BONDLAB_PLUGIN
(default bin/bond).
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
        from bondlab.model import scenario
        from bondlab.model.yamlsrc import SourceError

        item = ScenarioItem.from_parent(self, name=self.path.stem)
        item.add_marker(pytest.mark.kernel)
        try:  # by its relative path, as its messages name it
            item.loaded = scenario.load(os.path.relpath(self.path))
        except SourceError as error:  # a malformed file still collects; running it reports the error
            item.loaded = error
        if getattr(item.loaded, "requires", None) and item.loaded.requires.netdevsim:
            item.add_marker(pytest.mark.netdevsim)  # so a lab VM with netdevsim runs it
        yield item


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    loaded = None  # model.scenario.Scenario, or the SourceError of a file that did not load

    def runtest(self):
        from bondlab.model.yamlsrc import SourceError
        from bondlab.report import render
        from bondlab.run import runner

        plugin = os.environ.get("BONDLAB_PLUGIN")
        if isinstance(self.loaded, SourceError):
            result = runner.unloadable(os.path.relpath(self.path), self.loaded, plugin)
        else:
            result = runner.run_scenario(self.loaded, plugin=plugin)
        self.user_properties.append(("status", result.status))
        self.user_properties.append(("seconds", result.seconds))
        if result.status == "xfailed":
            pytest.xfail(result.expect_failure or "expected failure")
        if result.status == "skipped":  # the running kernel lacks what spec.requires names
            pytest.skip(result.message)
        if not result.ok:
            raise ScenarioFailed(render.console([result]))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"scenario {os.path.relpath(self.path, self.config.rootpath)}"
