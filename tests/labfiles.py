"""Lab input shared by tests (no root): a small BondLab topology, one VF on each of two PFs named for
seed 000's resource pools."""

SMALL_LAB = """
apiVersion: bondlab/v1
kind: BondLab
metadata: {name: small}
spec:
  nodes:
    - name: node1
      pfs:
        - {name: ens1f0, vfs: 1, resourceName: intel.com/intel_sriov_PF_1}
        - {name: ens2f0, vfs: 1, resourceName: intel.com/intel_sriov_PF_2}
"""


def swapped(path, old: str, new: str, out):
    """A copy of the scenario file `path` written to `out` with `old` (which must be there) replaced by
    `new`, its `../lib/` files named by absolute path so the copy loads from anywhere; returns `out`."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    lib = str(path.parent.parent / "lib") + "/"
    out.write_text(text.replace(old, new).replace("../lib/", lib))
    return out


def run_file(path, **options):
    """Run the scenario file `path` as `bondlab run` does: loaded once, then run (runner.run_scenario);
    a file that does not load gives the error result the run reports."""
    from bondlab.model import scenario
    from bondlab.model.yamlsrc import SourceError
    from bondlab.run import runner

    try:
        scen = scenario.load(str(path))
    except SourceError as error:
        return runner.unloadable(str(path), error)
    return runner.run_scenario(scen, **options)
